"""`deterministic()`: the numeric mode every committee member judges in.

Members that judge the same inputs must reach the same verdicts, and members that agree on the
verdicts must commit the bit-identical aggregate. The aggregate is numpy over the accepted
updates in result-id order (independent of threads); what PyTorch computes (the referee's own
update, validation losses, contribution scores) depends on how many threads split each
reduction, so judging runs with PyTorch's deterministic algorithms and a fixed thread count,
whatever the machine has, and restores the process's settings afterwards. One thread: the
order a single core sums in is the same on every machine (`bench/agreement.py` measures how
often members with other thread counts disagree).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

JUDGING_THREADS = 1


@contextmanager
def deterministic(threads: int = JUDGING_THREADS) -> Iterator[None]:
    import torch

    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])
