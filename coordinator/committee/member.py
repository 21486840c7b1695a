"""`Member`: what a committee member's coordinator does for a task another member carries.

The task's first validator carries its rounds (its SuperLink talks to the workers); every other
member never needs Flower. Each tick, for the open round of a task it judges, a member:

1. judges the round once it is ready: the carrier attested it, or every assigned worker sent its
   result and the carrier has had `carrier_grace_seconds` to attest (so a carrier that is down
   does not stop the committee). It fetches every result's sealed update from IPFS by the CID on
   chain, judges them with the same referee as the carrier (`Referee.judge` with nothing
   received), and attests in one extrinsic;
2. once it attested, declares the round disputed when every member attested and no t agreed
   (`dispute_round`); the council then resolves it.

A member judges a round only on every result's update: one it cannot fetch yet is retried each
tick for `CONTENT_WAIT_SECONDS` before it judges without it (as if never sent). A member that was
down catches up from the chain: it judges the round open when it comes back,
from the model the chain committed last. Rounds committed while it was away are not re-judged.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from substrateinterface import Keypair

from coordinator.federation.datasets import JudgingSets, judging_sets
from coordinator.federation.status import append_record, task_dir
from decentralml.content import ContentError, ContentStore
from decentralml.manifest import TaskManifest
from decentralml_bindings import DecentralMl, DispatchFailed, calls
from decentralml_bindings.types import TaskInfo

if TYPE_CHECKING:  # the referee (PyTorch) is imported when a round is judged, not before
    from coordinator.federation.referee import Referee, RoundOutcome

log = logging.getLogger(__name__)
CARRIER_GRACE_SECONDS = 60.0  # how long members wait for the carrier once every worker has sent
CONTENT_WAIT_SECONDS = 300.0  # how long a member retries updates it cannot fetch before judging without them


def carrier(task: TaskInfo) -> str:
    """The member whose SuperLink carries the task's rounds: the first validator named."""
    return task.validators[0]


class Member:
    def __init__(
        self,
        chain: DecentralMl,
        store: ContentStore,
        key: Keypair,
        root: Path,
        carrier_grace_seconds: float = CARRIER_GRACE_SECONDS,
        referee: type[Referee] | None = None,
        content_wait_seconds: float = CONTENT_WAIT_SECONDS,
    ) -> None:
        self.chain, self.store, self.key, self.root = chain, store, key, root
        self.referee = referee  # the referee it judges with (None: the carrier's, `Referee`)
        self.address = str(key.ss58_address)
        self.grace = carrier_grace_seconds
        self.all_sent_at: dict[tuple[int, int], float] = {}  # (task, round) -> when first seen
        self.unfetched_since: dict[tuple[int, int], float] = {}  # (task, round) -> first failed fetch
        self.content_wait = content_wait_seconds
        self.sets: dict[int, JudgingSets] = {}  # each task's validation set, opened once

    def follow(self, task_id: int, task: TaskInfo, manifest: TaskManifest) -> RoundOutcome | None:
        """One look at the task's open round; the outcome if this member judged it now."""
        if len(task.validators) < 2 or self.address not in task.validators:
            return None
        round_ = task.committed_rounds + 1
        if round_ > task.rounds or self.chain.disputed(task_id, round_):
            return None
        if self.chain.attestation(task_id, round_, self.address) is not None:
            self._dispute_if_split(task_id, task, round_)
            return None
        if self.address == carrier(task):
            return None  # the carrier judges in its Flower run
        if self.chain.attestation(task_id, round_, carrier(task)) is None:
            # Every worker sent, but the carrier has not attested: give it `grace` seconds first
            # (it is still collecting through Flower; judging before it makes it attest late),
            # then judge without it (a carrier that is down does not stop the committee).
            if task.assigned == 0 or self.chain.round_state(task_id, round_).submitted < task.assigned:
                return None
            seen = self.all_sent_at.setdefault((task_id, round_), time.monotonic())
            if time.monotonic() - seen < self.grace:
                return None
        self.all_sent_at.pop((task_id, round_), None)
        # Every result on chain must be judged on its update: one this member cannot fetch yet
        # (its worker's Kubo not reachable from here, say) is retried on the next tick, for
        # `content_wait` seconds, before the member judges without it.
        since = self.unfetched_since.get((task_id, round_))
        patient = since is None or time.monotonic() - since < self.content_wait
        try:
            outcome = self.judge(task_id, round_, manifest, fetch_all=patient)
        except ContentError as missing:
            self.unfetched_since.setdefault((task_id, round_), time.monotonic())
            log.warning("an update is not reachable yet", extra={"task": task_id, "error": str(missing)})
            return None
        self.unfetched_since.pop((task_id, round_), None)
        return outcome

    def judge(
        self, task_id: int, round_: int, manifest: TaskManifest, fetch_all: bool = True
    ) -> RoundOutcome:
        """Judge round `round_` from the chain and IPFS alone, attest, and log it. With
        `fetch_all`, ContentError (and nothing attested) if any result's update cannot be fetched."""
        from coordinator.federation.referee import Referee
        from coordinator.federation.runner import best_loss_of, current_weights, read_once, training_base

        directory = task_dir(self.root, task_id)
        spool = directory / f"round-{round_}"
        spool.mkdir(parents=True, exist_ok=True)
        # From the model the round started from: rounds committed since (a member judging late)
        # must not change what it computes.
        _, weights = current_weights(self.chain, self.store, task_id, self.key, before=round_)
        history = read_once(self.chain, self.store, self.key)  # the base and the momentum share it
        base = training_base(self.chain, self.store, self.key, task_id, manifest, round_, history)
        if task_id not in self.sets:
            self.sets[task_id] = judging_sets(manifest, self.store, self.key)
        sets = self.sets[task_id]
        referee = (self.referee or Referee)(
            self.chain, self.store, self.key, sets.validation, sets.objective, state_dir=directory
        )
        referee.fetch_all = fetch_all
        referee.history = history
        referee.best_loss = best_loss_of(
            self.chain, self.store, self.key, task_id, referee, manifest, directory, before=round_
        )
        if base is None:
            outcome, _ = referee.judge(task_id, round_, manifest, weights, [], spool)
        else:  # the workers trained from the base the model's 1-bit deltas rebuilt
            outcome, _ = referee.judge(task_id, round_, manifest, base, [], spool, start=weights)
        status = "committed" if outcome.model_id is not None else "attested"
        append_record(
            directory,
            {
                "status": status,
                "task_id": task_id,
                "round": round_,
                "model_id": outcome.model_id,
                "model_cid": outcome.model_cid,
                "model_hash": outcome.model_hash,
                "accepted": outcome.accepted,
                "rejected": outcome.rejected,
                "validation_loss": outcome.validation_loss,
                "judged_as": "member",
            },
        )
        log.info(f"round {status} as a committee member", extra={"task": task_id, "round": round_})
        return outcome

    def _dispute_if_split(self, task_id: int, task: TaskInfo, round_: int) -> None:
        """Every member attested and the round is still open: no t of them agreed."""
        attested = [self.chain.attestation(task_id, round_, member) for member in task.validators]
        if all(a is not None for a in attested) and self.chain.round_model(task_id, round_) is None:
            log.warning("the committee did not agree: disputing", extra={"task": task_id, "round": round_})
            try:
                self.chain.submit(calls.dispute_round(task_id, round_), self.key)
            except DispatchFailed as refused:  # another member disputed it first
                log.info("round not disputed here", extra={"task": task_id, "reason": str(refused)})
