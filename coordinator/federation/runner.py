"""Running a federated task round by round, whatever carries the updates (`Transport`).

The run resumes where the chain says it stands: it starts at the round after the last committed
one, from that round's committed model (fetched from IPFS and checked against its hash on chain),
so a coordinator that crashed mid-task picks up without redoing or losing a round. Each round is
judged on the task's own validation set (`datasets.judging_sets`: the creator's sealed set, or a
demo source's split) and its outcome, with the new global model's metrics on the test set, is
appended to `rounds.jsonl` in the task's directory with `"status": "committed"`.

A round that cannot be judged is appended with `"status": "failed"` and its reason, then the run
stops (the launcher retries it a bounded number of times): the task's data cannot be had, the
referee or the chain failed, or no worker could train (their own error messages are the
reason). Such a round is never committed as if it had succeeded.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from substrateinterface import Keypair

from coordinator.federation.datasets import JudgingSets, judging_sets
from coordinator.federation.referee import Opened, Received, Referee, RoundOutcome, WorkerFailure, sha_once
from coordinator.federation.status import append_record, committed, read_rounds, task_dir
from coordinator.federation.tasks import initial_weights, load_task
from decentralml import codec, downlink
from decentralml.admission import unreleased_base
from decentralml.content import ContentError, ContentStore
from decentralml.judging.determinism import deterministic
from decentralml.manifest import TaskManifest
from decentralml.metrics import PRIMARY, in_target_units
from decentralml.models import blank, load_weights
from decentralml.privacy.models import model_bytes
from decentralml.training import Scored, score
from decentralml_bindings import DecentralMl
from decentralml_bindings.types import ModelCommit

log = logging.getLogger(__name__)
# A round that received no update at all is asked again this many times before it fails (workers
# that crashed get the chance to come back).
EMPTY_ROUND_ATTEMPTS = 3


COMMIT_WAIT_SECONDS = 3600.0  # how long a validator waits for its committee to commit a round


class RoundFailedError(RuntimeError):
    """A round that cannot be judged, and why."""


class Transport(Protocol):
    """Sends the global model to the task's workers and yields their updates as they arrive.
    With `delta` (`model_encoding: sign1`), a worker that holds the last round's model may be sent
    the delta that rebuilds `weights` from it instead (`decentralml.downlink`)."""

    def train_round(
        self,
        task_id: int,
        round_: int,
        weights: codec.Weights,
        spool: Path,
        delta: downlink.Delta | None = None,
    ) -> Iterator[Received | WorkerFailure]: ...


@runtime_checkable
class Elsewhere(Protocol):
    """A transport whose workers train in processes of their own (`trains_elsewhere`): the referee
    prepares the round's judging (`Referee.prepare`) while they train. A transport that trains in
    this process must not say so: preparing trains the referee's own update, and building a model
    seeds torch's global generator."""

    trains_elsewhere: bool


@runtime_checkable
class Metered(Protocol):
    """A transport that counts what it sends: round -> bytes of model (whole or delta) sent down."""

    sent: dict[int, int]


def _collect(
    transport: Transport,
    task_id: int,
    round_: int,
    weights: codec.Weights,
    spool: Path,
    delta: downlink.Delta | None = None,
    arrived: Callable[[Received], None] | None = None,
) -> tuple[list[Received], list[WorkerFailure]]:
    """The updates that arrived (each handed to `arrived` as it does) and the workers that failed."""
    received: list[Received] = []
    failures: list[WorkerFailure] = []
    for attempt in range(1, EMPTY_ROUND_ATTEMPTS + 1):
        if attempt > 1:
            log.warning(
                "no update arrived: asking again",
                extra={"task": task_id, "round": round_, "attempt": attempt},
            )
        for item in transport.train_round(task_id, round_, weights, spool, delta):
            if isinstance(item, Received):
                received.append(item)
                if arrived is not None:
                    arrived(item)
            else:
                failures.append(item)
        if received:
            break
    return received, failures


def committed_bytes(
    chain: DecentralMl, store: ContentStore, model: ModelCommit, reader: Keypair | None
) -> bytes:
    """A committed model's plaintext (`model_bytes`). Each committee member stores its own sealed
    copy of the aggregate, and the chain records the copy of the member whose attestation
    committed it: if that copy cannot be fetched (its member's Kubo is gone), the copies of the
    members whose attestations agree are tried, `reader`'s own first. A reader that attested the
    same model reads its own copy before any other (its own Kubo holds it: no wait on a member's
    Kubo that is gone). Every copy is checked against the committed plaintext hash."""
    if reader is None or model.published is not None:
        return model_bytes(store, model, reader)
    mine = str(reader.ss58_address)

    def copies() -> Iterator[ModelCommit]:
        """The copies to try, in order: the reader's own, the committed one, the other members'."""
        own = chain.attestation(model.task_id, model.round, mine)
        if own is not None and own.hash == model.hash and own.cid != model.cid:
            yield replace(model, cid=own.cid, committed_by=mine)
        yield model
        task = chain.task(model.task_id)
        for member in task.validators if task is not None else ():
            attested = chain.attestation(model.task_id, model.round, member) if member != mine else None
            if attested is not None and attested.hash == model.hash and attested.cid != model.cid:
                yield replace(model, cid=attested.cid, committed_by=member)

    unreachable: ContentError | None = None
    for copy in copies():
        try:
            return model_bytes(store, copy, reader)
        except ContentError as error:
            if copy is model:
                unreachable = error
    assert unreachable is not None  # the committed copy is always tried
    raise unreachable


def current_weights(
    chain: DecentralMl,
    store: ContentStore,
    task_id: int,
    reader: Keypair | None = None,
    before: int | None = None,
) -> tuple[int, codec.Weights]:
    """(rounds committed so far, the global weights to continue from): the last committed round's
    model (opened with `reader`'s key when sealed), else the task's base model (its published
    plaintext), else the manifest's initial weights. With `before`, the weights round `before`
    started from (round `before - 1`'s model), even when later rounds are committed: a member
    judging a round late must start where the round did."""
    task = chain.task(task_id)
    if task is None:
        raise LookupError(f"no task {task_id} on chain")
    done = task.committed_rounds if before is None else min(task.committed_rounds, before - 1)
    if done == 0 and task.base_model is None:
        return 0, initial_weights(store, load_task(chain, store, task_id))
    # A task started from a released model continues that model's lineage as a new branch; a
    # model the council revoked is never a starting point.
    if (base := unreleased_base(chain, task)) is not None:
        raise PermissionError(f"task {task_id} starts from model {base}, which the council has not released")
    model_id = chain.round_model(task_id, done) if done else task.base_model
    model = chain.model(model_id) if model_id is not None else None
    if model is None:
        raise LookupError(f"task {task_id} has {done} rounds but no model for the last")
    return done, codec.decode(committed_bytes(chain, store, model, reader))


def model_history(
    chain: DecentralMl, store: ContentStore, reader: Keypair | None, task_id: int, round_: int
) -> list[tuple[codec.Weights, bool]]:
    """The models round `round_` of `task_id` follows, oldest first: the starting model, then each
    committed round's, with whether that round accepted any update (`outer.replay`'s input)."""
    history: list[tuple[codec.Weights, bool]] = []
    for done in range(round_):
        _, weights = current_weights(chain, store, task_id, reader, before=done + 1)
        model_id = chain.round_model(task_id, done) if done else None
        model = chain.model(model_id) if model_id is not None else None
        history.append((weights, done == 0 or (model is not None and bool(model.accepted))))
    return history


History = Callable[[int, int], list[tuple[codec.Weights, bool]]]
"""`model_history` bound to a chain, a store and a reader: (task id, round) -> the models."""


def read_once(chain: DecentralMl, store: ContentStore, reader: Keypair | None) -> History:
    """`model_history` that reads the chain and IPFS once for the last (task, round) asked, for a
    judgement that needs the history twice (the sign1 base and the outer optimizer's momentum).
    It holds that history until asked for another: keep it only as long as the judgement."""
    return functools.lru_cache(maxsize=1)(functools.partial(model_history, chain, store, reader))


def training_base(
    chain: DecentralMl,
    store: ContentStore,
    reader: Keypair | None,
    task_id: int,
    manifest: TaskManifest,
    round_: int,
    history: History | None = None,
) -> codec.Weights | None:
    """The model round `round_`'s workers train from when it is not the committed one: with
    `model_encoding: sign1`, the training base b_{round-1} replayed from the committed models
    (`decentralml.downlink`), read through `history` if given; None when the workers train from
    the committed model itself."""
    if manifest.model_encoding != "sign1":
        return None
    read = history or functools.partial(model_history, chain, store, reader)
    return downlink.replay(weights for weights, _ in read(task_id, round_))


def run_task(
    chain: DecentralMl,
    store: ContentStore,
    validator: Keypair,
    transport: Transport,
    task_id: int,
    root: Path,
    commit_wait_seconds: float = COMMIT_WAIT_SECONDS,
) -> list[RoundOutcome]:
    """Every remaining round of `task_id`; returns their outcomes. A round that cannot be judged is
    logged as failed with its reason, and its error raised. Where a committee judges the task,
    each round waits, after this validator's attestation, for the chain to commit it."""
    directory = task_dir(root, task_id)
    round_ = 0
    try:
        manifest = load_task(chain, store, task_id)
        task = chain.task(task_id)
        if task is None:
            raise LookupError(f"no task {task_id} on chain")
        done, weights = current_weights(chain, store, task_id, validator)
        round_ = done + 1
        # The model goes down whole in the run's first round (no node is known to hold the last),
        # then, with `model_encoding: sign1`, as the delta from the base before.
        base = training_base(chain, store, validator, task_id, manifest, round_)
        delta: downlink.Delta | None = None
        sets = judging_sets(manifest, store, validator)
        rebuild_round_log(chain, store, validator, task_id, done, directory, manifest, sets)
        referee = Referee(chain, store, validator, sets.validation, sets.objective, state_dir=directory)
        referee.history = functools.partial(model_history, chain, store, validator)
        referee.best_loss = best_loss_of(chain, store, validator, task_id, referee, manifest, directory)
        outcomes = []
        scored: Scored | None = None  # the validation scores of the model the next round starts from
        for round_ in range(done + 1, task.rounds + 1):
            committed_here = False
            if chain.attestation(task_id, round_, validator.ss58_address) is None:
                outcome, weights, scored = _round(
                    transport,
                    referee,
                    manifest,
                    sets,
                    task_id,
                    round_,
                    weights,
                    directory,
                    base,
                    delta,
                    scored,
                )
                outcomes.append(outcome)
                committed_here = outcome.model_id is not None
            if not committed_here:
                # Attested, not committed: the committee's other members judge the round from the
                # chain and IPFS; the next round opens once t of them agree (or the council decides).
                if not wait_for_commit(chain, task_id, round_, commit_wait_seconds):
                    return outcomes  # the council voided the round: the task ended
                _, weights = current_weights(chain, store, task_id, validator)
                scored = None
                # The floor from what the committee committed (this member may have been outvoted).
                referee.best_loss = best_loss_of(
                    chain, store, validator, task_id, referee, manifest, directory
                )
            if base is not None and round_ < task.rounds:  # the next round's base, and its delta
                delta, base = downlink.advance(base, weights)
                scored = None  # the workers train from the base: its scores are not the model's
        return outcomes
    except Exception as failed:
        reason = (
            f"{type(failed).__name__}: {failed}" if not isinstance(failed, RoundFailedError) else str(failed)
        )
        append_record(
            directory, {"status": "failed", "task_id": task_id, "round": round_, "reason": reason[:2000]}
        )
        log.error("round failed", extra={"task": task_id, "round": round_, "reason": reason[:500]})
        raise


def wait_for_commit(
    chain: DecentralMl, task_id: int, round_: int, timeout: float, poll_seconds: float = 2.0
) -> bool:
    """Whether round `round_` was committed (True) or the task ended without it (False, a round
    the council voided); RoundFailedError after `timeout` seconds of neither."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if chain.round_model(task_id, round_) is not None:
            return True
        task = chain.task(task_id)
        if task is None or not task.status.is_open:
            return False
        time.sleep(poll_seconds)
    raise RoundFailedError(
        f"round {round_} was attested but the committee did not commit it in {timeout:.0f} s"
    )


def test_report(manifest: TaskManifest, sets: JudgingSets, weights: codec.Weights) -> dict[str, Any]:
    """What a round log line says of a model: the task's primary metric's name, which set it is
    measured on, and every metric there (a regression's squared error in the target's units)."""
    model = blank(manifest.model)
    load_weights(model, weights)
    metrics = in_target_units(score(model, sets.test, sets.objective), sets.target_std)
    report: dict[str, Any] = {
        "metric": PRIMARY[sets.objective],
        "test_set": sets.test_name,
        "test_metrics": metrics,
        "test_loss": metrics["loss"],
    }
    if "accuracy" in metrics:
        report["test_accuracy"] = metrics["accuracy"]
    return report


def rebuild_round_log(
    chain: DecentralMl,
    store: ContentStore,
    key: Keypair,
    task_id: int,
    done: int,
    directory: Path,
    manifest: TaskManifest,
    sets: JudgingSets,
) -> list[int]:
    """Append to the round log every committed round it lacks, rebuilt from the chain (the model,
    every result of the round and this validator's verdict on it) and the committed model's test
    metrics, recomputed: a coordinator killed between `commit_model` and writing the log loses no
    round, and its reports none of their figures. Returns the rounds rebuilt."""
    validator = str(key.ss58_address)
    logged = {int(r["round"]) for r in committed(read_rounds(directory.parent, task_id))}
    rebuilt = []
    for round_ in range(1, done + 1):
        if round_ in logged:
            continue
        model_id = chain.round_model(task_id, round_)
        model = chain.model(model_id) if model_id is not None else None
        if model is None:
            continue
        accepted: list[int] = []
        rejected: dict[int, str] = {}
        scores: dict[int, int] = {}
        for result_id in sorted(chain.round_results(task_id, round_).values()):
            verdict = chain.verdict(result_id, validator)
            if verdict is None:
                continue
            scores[result_id] = verdict.score
            if verdict.approved:
                accepted.append(result_id)
            else:
                rejected[result_id] = verdict.reason.kind if verdict.reason else "FailedValidation"
        append_record(
            directory,
            {
                "status": "committed",
                "task_id": task_id,
                "round": round_,
                "model_id": model_id,
                "model_cid": model.cid,
                "model_hash": model.hash,
                "accepted": accepted,
                "rejected": rejected,
                "scores": scores,
                "rebuilt_from_chain": True,
                **test_report(manifest, sets, codec.decode(committed_bytes(chain, store, model, key))),
            },
        )
        rebuilt.append(round_)
        log.warning("round log rebuilt from the chain", extra={"task": task_id, "round": round_})
    return rebuilt


def best_loss_of(
    chain: DecentralMl,
    store: ContentStore,
    reader: Keypair,
    task_id: int,
    referee: Referee,
    manifest: TaskManifest,
    directory: Path,
    before: int | None = None,
) -> float:
    """The anchored floor's reference: the lowest validation loss of the model the task started
    from and of every model the chain committed for it. A function of the chain, not of what this
    validator judged, so every committee member (one that joined late, or was outvoted) uses the
    same floor. Each model is scored once, in the committee's numeric mode, and its loss kept by
    hash in `losses.json` beside the round log."""
    task = chain.task(task_id)
    if task is None:
        raise LookupError(f"no task {task_id} on chain")
    cache = directory / "losses.json"
    losses: dict[str, float] = json.loads(cache.read_text()) if cache.exists() else {}
    done = task.committed_rounds if before is None else min(task.committed_rounds, before - 1)
    models = [chain.round_model(task_id, r) for r in range(1, done + 1)]
    if task.base_model is not None:
        models.append(task.base_model)
    wanted: list[str] = []
    for model_id in models:
        model = chain.model(model_id) if model_id is not None else None
        if model is None:
            continue
        wanted.append(model.hash)
        if model.hash not in losses:
            with deterministic():
                weights = codec.decode(committed_bytes(chain, store, model, reader))
                losses[model.hash] = referee.validation_loss(manifest, weights)
    if task.base_model is None:
        start = manifest.initial_weights.sha256
        wanted.append(start)
        if start not in losses:
            with deterministic():
                losses[start] = referee.validation_loss(manifest, initial_weights(store, manifest))
    directory.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(losses))
    return min(losses[h] for h in wanted)


def _opened(opening: dict[Path, Future[Opened]]) -> dict[Path, Opened]:
    """What opening the updates as they arrived found, by file; one that failed to open is left
    out (the referee opens it again while judging, and says why)."""
    found: dict[Path, Opened] = {}
    for path, future in opening.items():
        try:
            found[path] = future.result()
        except Exception as failed:  # the referee opens it again while judging, and says why
            log.warning(
                "an update could not be opened early", extra={"path": str(path), "error": str(failed)}
            )
    return found


def _round(
    transport: Transport,
    referee: Referee,
    manifest: TaskManifest,
    sets: JudgingSets,
    task_id: int,
    round_: int,
    weights: codec.Weights,
    directory: Path,
    base: codec.Weights | None = None,
    delta: downlink.Delta | None = None,
    scored: Scored | None = None,
) -> tuple[RoundOutcome, codec.Weights, Scored]:
    """One round from the committed `weights` (the workers train from `base` where it is given,
    sent as `delta` to those that hold the base before): collected, judged, logged. `scored`: the
    validation scores of the model the workers train from, where the last round found them. Returns
    the outcome, the new model and its validation scores (found beside its test report)."""
    started = time.monotonic()
    spool = directory / f"round-{round_}"
    spool.mkdir(exist_ok=True)
    down = weights if base is None else base
    early = isinstance(transport, Elsewhere) and transport.trains_elsewhere
    global_sha = sha_once(down)
    opening: dict[Path, Future[Opened]] = {}
    with (
        ThreadPoolExecutor(1, thread_name_prefix="prepare") as pool,
        ThreadPoolExecutor(1, thread_name_prefix="opening") as opener,
    ):
        # What judging needs before any update arrives is made while the workers train, and each
        # update is hashed and opened as it arrives.
        preparing = pool.submit(referee.prepare, manifest, down, spool, round_, scored) if early else None

        def arrived(item: Received) -> None:
            opening[item.path] = opener.submit(
                referee.open_early, task_id, round_, manifest, down, global_sha, item
            )

        try:
            received, failures = _collect(transport, task_id, round_, down, spool, delta, arrived)
        finally:
            collected = time.monotonic()
            prepared = None if preparing is None else preparing.result()
            opened = _opened(opening)
            waited = time.monotonic() - collected
    if not received and not referee.chain.round_results(task_id, round_):
        if prepared is not None and prepared.reference is not None:
            prepared.reference.path.unlink(missing_ok=True)
        for early_opened in opened.values():
            for path in early_opened.made:
                path.unlink(missing_ok=True)
        why = "; ".join(f"{f.worker}: {f.reason}" for f in failures[:5]) or "no worker replied in time"
        raise RoundFailedError(f"round {round_} failed: no worker could train ({why})")
    start = None if base is None else weights
    after: dict[str, Any] = {}

    def reported(new: codec.Weights) -> None:
        """The new model's test report and validation scores (the anchored floor's, and the next
        round's starting scores), side by side, while the referee commits the round."""
        began = time.monotonic()
        with ThreadPoolExecutor(1, thread_name_prefix="validation") as pool:
            scoring = pool.submit(referee.new_scores, manifest, new)
            try:
                after["report"] = test_report(manifest, sets, new)
            finally:
                after["scores"] = scoring.result()
        after["seconds"] = time.monotonic() - began

    outcome, weights = referee.judge(
        task_id,
        round_,
        manifest,
        down,
        received,
        spool,
        start,
        prepared,
        score_new=False,
        opened=opened,
        global_sha=global_sha,
        beside=reported,
    )
    judged = time.monotonic()
    report, new_scores = after["report"], after["scores"]
    referee.committed(new_scores)
    outcome = replace(outcome, validation_loss=new_scores.metrics["loss"])
    up_bytes = sum(item.path.stat().st_size for item in received if item.path.exists())
    for item in received:
        item.path.unlink(missing_ok=True)
    record = asdict(outcome) | {
        "status": "committed" if outcome.model_id is not None else "attested",
        **report,
        "seconds": round(time.monotonic() - started, 3),
        "collect_seconds": round(collected - started, 3),
        # What the round waited on the referee: judging, and the commit where it outlasted the
        # report made beside it (`report_seconds`).
        "judge_seconds": round(judged - collected - after["seconds"], 3),
        "report_seconds": round(after["seconds"], 3),
        "prepare_wait_seconds": round(waited, 3),  # of judging: the preparation still running
        "workers_replied": len(received),
        "up_bytes": up_bytes,  # the updates that arrived, as sent (sealed, compact)
        "down_bytes": transport.sent.get(round_) if isinstance(transport, Metered) else None,
        "worker_failures": [asdict(f) for f in failures],
    }
    record["checks"] = [asdict(c) for c in outcome.checks]
    if not outcome.accepted:  # committed all the same (the round is over), but the creator is told
        reasons = ", ".join(sorted(set(outcome.rejected.values()))) or "none arrived"
        record["warning"] = (
            f"round {round_}: no update was accepted ({reasons}); "
            "the committed model is the previous one, unchanged"
        )
        log.warning(record["warning"], extra={"task": task_id, "round": round_})
    append_record(directory, record)
    log.info("round done", extra={"task": task_id, "round": round_, "test_metrics": report["test_metrics"]})
    return outcome, weights, new_scores
