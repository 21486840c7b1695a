"""`decentralml.memory`: a judging process keeps what it frees for the next model-sized array, and
`give_back` returns it to the OS. Each case runs in a fresh interpreter (allocator settings are
per process) and reads the process's resident memory around a 64 MB array freed."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import numpy as np
from decentralml import memory
def rss():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) * 1024
{setup}
before = rss()
block = np.ones(8_000_000)  # 64 MB, touched
del block
{after}
print(rss() - before)
"""


def _kept(setup: str = "", after: str = "") -> int:
    """Bytes of resident memory the process holds after the array is freed."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup, after=after)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_freed_memory_is_kept_for_reuse_only_when_asked_and_given_back_on_demand() -> None:
    megabytes = 1 << 20
    assert _kept() < 16 * megabytes, "glibc's default already keeps a freed 64 MB array"
    assert _kept("memory.keep_freed()") > 48 * megabytes, "keep_freed did not keep the array"
    assert _kept("memory.keep_freed()", "memory.give_back()") < 16 * megabytes, "give_back kept it"
