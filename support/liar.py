"""A lying committee member, as a process of its own: the twin the committee tests outvote.

`python -m support.liar --port PORT` serves a coordinator exactly as `dml coordinator serve` does
(the same settings from the environment, REST, indexer, SuperLink and launcher), except for what
judges the rounds of committees it is on: a `LyingMember`, whose referee approves every update
(a poisoned one too) and attests an aggregate it nudged. Its hash therefore never equals an
honest member's, and its accepted set names every result of the round.

So that a test can count on seeing its attestation, the liar does not give the carrier time to
attest first (it judges as soon as every worker sent), and it attests rounds the others committed
before it judged (late: attestation only, as the chain takes no verdict on settled results).

`--nudge X` sets what it adds (two liars with different nudges attest different hashes, so they
cannot outvote the honest member together), and `--from-round R` makes it judge honestly before
round R (a member that turns: the demo's `--dispute-round`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, ClassVar

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


class NudgingReferee(Referee):
    """Judges honestly, then attests (or commits) the aggregate plus `nudge` in its first tensor."""

    nudge: ClassVar[float] = NUDGE

    def aggregate(self, *args: Any, **kwargs: Any) -> tuple[codec.Weights, list[float], str]:
        weights, shares, rule = super().aggregate(*args, **kwargs)
        first = next(iter(weights))
        return {**weights, first: weights[first] + np.float32(self.nudge)}, shares, rule


class LyingReferee(NudgingReferee):
    """Approves every update (a poisoned one too) and attests its aggregate plus `nudge`."""

    def approves(self, check: Check) -> bool:
        return True


def nudged(nudge: float, base: type[NudgingReferee] = LyingReferee) -> type[NudgingReferee]:
    """`base` adding `nudge`."""
    return type(base.__name__, (base,), {"nudge": nudge})


class LyingMember(Member):
    """A member that judges at once, and every round it has not attested: with `LyingReferee`
    (adding `nudge`) from round `from_round` on, with the honest referee before."""

    def __init__(
        self,
        chain: DecentralMl,
        store: ContentStore,
        key: Keypair,
        root: Path,
        nudge: float = NUDGE,
        from_round: int = 1,
    ) -> None:
        super().__init__(chain, store, key, root, carrier_grace_seconds=0.0)
        self.liar, self.from_round = nudged(nudge), from_round

    def judge(
        self, task_id: int, round_: int, manifest: TaskManifest, fetch_all: bool = True
    ) -> RoundOutcome:
        self.referee = self.liar if round_ >= self.from_round else Referee
        return super().judge(task_id, round_, manifest, fetch_all)

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
    parser.add_argument("--nudge", type=float, default=NUDGE, help="added to the attested aggregate")
    parser.add_argument("--from-round", type=int, default=1, help="judge honestly before this round")
    args = parser.parse_args(argv)
    if args.nudge == 0 or args.from_round < 1:
        parser.error("--nudge must not be 0 and --from-round must be 1 or more")
    from coordinator.cli.common import load
    from coordinator.serve import serve
    from coordinator.settings import Settings

    def member(chain: DecentralMl, store: ContentStore, key: Keypair, root: Path) -> Member:
        return LyingMember(chain, store, key, root, nudge=args.nudge, from_round=args.from_round)

    serve(load(Settings), args.host, args.port, member=member)


if __name__ == "__main__":
    main()
