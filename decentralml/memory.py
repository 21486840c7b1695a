"""How a long-lived process hands memory back to glibc's allocator, and how it keeps it.

Two opposite needs, both measured with `bench/scale.py` on these 2-core VMs, where a page fault
costs about 10 µs:

- `give_back()`: a worker daemon's ClientApp thread (`worker.executor`) copies a round's model
  several times and lives as long as its SuperNode. glibc keeps what a thread frees in that
  thread's arena, so an LM daemon's PSS peaked at 1.24 GB; returning it after each message
  (`malloc_trim`) brought it to 0.91 GB.
- `keep_freed()`: the judging process allocates a fresh float64 copy of the model (40 MB for the
  LM demo's 5M parameters) for every update's delta and every point it measures. Above glibc's
  mmap threshold (at most 32 MB) each one is a new mapping whose 10,000 pages fault in one by one:
  0.1-0.2 s each (4 deltas, 0.04 s once the memory is reused). Raising the thresholds keeps freed
  memory in the heap for the next allocation; the process stays at its peak instead of returning
  to the OS between rounds.

Both do nothing where the C library is not glibc.
"""

from __future__ import annotations

import contextlib
import ctypes

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
KEPT_BYTES = 1 << 30  # allocations below this come from the heap, freed memory is kept up to 2 GiB


def give_back() -> None:
    """Return the memory this process has freed to the OS (every arena's)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def keep_freed() -> None:
    """Serve allocations below `KEPT_BYTES` from the heap and keep what is freed for reuse."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, KEPT_BYTES)
        libc.mallopt(M_TRIM_THRESHOLD, 2 * KEPT_BYTES)
