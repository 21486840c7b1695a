"""A lying committee member, as a process of its own: the twin the committee tests outvote.

`python -m support.liar --port PORT` serves a coordinator exactly as `dml coordinator serve` does
(the same settings from the environment, REST, indexer, SuperLink and launcher), except for what
judges the rounds of committees it is on: a `LyingMember`, whose referee approves every update
(a poisoned one too) and attests an aggregate it nudged. Its hash therefore never equals an
honest member's, and its accepted set names every result of the round.

So that a test can count on seeing its attestation, the liar does not give the carrier time to
attest first (it judges as soon as every worker sent), and it attests rounds the others committed
before it judged (late: attestation only, as the chain takes no verdict on settled results).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from substrateinterface import Keypair

from coordinator.committee.member import Member
from coordinator.federation.referee import Referee, RoundOutcome
from decentralml import codec
from decentralml.content import ContentStore
from decentralml.judging.checks import Check
from decentralml.manifest import TaskManifest
from decentralml_bindings import DecentralMl
from decentralml_bindings.types import TaskInfo

NUDGE = 1e-3  # added to the first tensor of the aggregate the liar attests


class LyingReferee(Referee):
    """Approves every update and attests the aggregate plus `NUDGE` in its first tensor."""

    def approves(self, check: Check) -> bool:
        return True

    def aggregate(self, *args: Any, **kwargs: Any) -> tuple[codec.Weights, list[float], str]:
        weights, shares, rule = super().aggregate(*args, **kwargs)
        first = next(iter(weights))
        return {**weights, first: weights[first] + np.float32(NUDGE)}, shares, rule


class LyingMember(Member):
    """A member that judges with `LyingReferee`, at once, and every round it has not attested."""

    def __init__(self, chain: DecentralMl, store: ContentStore, key: Keypair, root: Path) -> None:
        super().__init__(chain, store, key, root, carrier_grace_seconds=0.0, referee=LyingReferee)

    def follow(self, task_id: int, task: TaskInfo, manifest: TaskManifest) -> RoundOutcome | None:
        if self.address in task.validators:
            for round_ in range(1, task.committed_rounds + 1):
                if self.chain.attestation(task_id, round_, self.address) is None:
                    return self.judge(task_id, round_, manifest)
        return super().follow(task_id, task, manifest)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m support.liar", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    from coordinator.cli.common import load
    from coordinator.serve import serve
    from coordinator.settings import Settings

    serve(load(Settings), args.host, args.port, member=LyingMember)


if __name__ == "__main__":
    main()
