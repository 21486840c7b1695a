"""`Referee`: what the coordinator does with one round's updates, whatever carried them.

For each update received it finds the worker's on-chain result for the round and compares the
sha256 of the bytes received with the hash on chain (a mismatch is rejected, never aggregated).
A result on chain whose update never arrived (its worker died after sending the hash) is fetched
from IPFS by the CID on chain, checked against the hash, and judged like the others: every result
sent for a round gets a verdict in that round.
The matching updates are checked with the task's validation policy, the approved ones aggregated
(streamed from spool files) and the aggregate stored in IPFS. Then one `Utility.batch_all`
records every verdict and commits the model: one extrinsic per round, however many workers.
Where the task seals, every update must arrive sealed to this validator, for this task, round and
the worker whose result it is: one that does not open so (another worker's ciphertext sent as one's
own, or plaintext) is rejected as Unsealable. Updates are opened streamed, file to file. The
aggregate is sealed to the validators and the creator before it is stored; the chain records the
sha256 of its plaintext and the CID of the sealed bytes.
Under AutoAccept a verdict settles its result at once, so approval pays the worker: its score (its
contribution to the round's validation-loss gain, `decentralml.judging.contribution`) is the share
of the reward it is paid, and a rejection carries its reason code on chain (Outlier, HashMismatch,
Malformed, FailedValidation, Duplicate, NoContribution, Unsealable, or LowTrust for an update the
rule gave no weight).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
from substrateinterface import Keypair
from torch import nn

from decentralml import codec, compact, downlink
from decentralml.content import ContentError, Stored, sha256_hex
from decentralml.data import Split
from decentralml.judging import outer, rules
from decentralml.judging.aggregation import UpdateFile
from decentralml.judging.checks import Check, Origin, check_updates, origin_of
from decentralml.judging.determinism import JUDGING_THREADS, deterministic
from decentralml.judging.evaluation import PASSES_AT_ONCE
from decentralml.judging.outer import OuterSpec
from decentralml.judging.rules import RULES, RuleError, RuleParams, RuleState
from decentralml.judging.unlearning import unlearned
from decentralml.kinds.schema import Objective
from decentralml.manifest import TaskManifest
from decentralml.models import blank, build, load_weights, weights_of
from decentralml.privacy import sealing
from decentralml.privacy.recipients import model_recipients
from decentralml.timing import Phases
from decentralml.training import Scored, scored, train
from decentralml_bindings import DispatchFailed, calls
from decentralml_bindings.calls import Call
from decentralml_bindings.client import Receipt
from decentralml_bindings.events import ModelCommitted
from decentralml_bindings.types import RejectionReason, ResultSubmissionStatus, TaskInfo, TaskResult

log = logging.getLogger(__name__)
SETTLED = (ResultSubmissionStatus.ACCEPTED, ResultSubmissionStatus.REJECTED)


@dataclass(frozen=True)
class Prepared:
    """What a round's judging needs before any update arrives (`Referee.prepare`): the global
    model's validation metrics and, where the task checks updates against it, the referee's own
    update (None otherwise)."""

    global_scores: Scored
    reference: UpdateFile | None
    origin: Origin | None = None  # the model the workers train from, loaded and flattened


class RefereeChain(Protocol):
    """What the referee reads from and writes to the chain (`DecentralMl`, or the benchmarks' twin
    in `support.twins`)."""

    def result(self, result_id: int) -> TaskResult | None: ...

    def task(self, task_id: int) -> TaskInfo | None: ...

    def result_of(self, task_id: int, round_: int, worker: str) -> int | None: ...

    def round_results(self, task_id: int, round_: int) -> dict[str, int]: ...

    def round_model(self, task_id: int, round_: int) -> int | None: ...

    def batch(self, calls: Sequence[Call], signer: Keypair) -> Receipt: ...


class RefereeStore(Protocol):
    """Where the referee fetches orphaned updates and stores aggregates (`ContentStore`, or a twin)."""

    def put(self, data: bytes) -> Stored: ...

    def get(self, cid: str, expected_sha256: str) -> bytes: ...


@dataclass(frozen=True)
class WorkerFailure:
    """A worker that could not train this round, and the reason it gave."""

    worker: str
    reason: str


@dataclass(frozen=True)
class Received:
    """One worker's update as it arrived, spooled to `path`: who says they sent it, its example count."""

    worker: str
    path: Path
    examples: int
    epsilon: float | None = None  # the privacy the worker reports having spent (tasks with DP)

    @classmethod
    def spool(
        cls, directory: Path, worker: str, data: bytes, examples: int, epsilon: float | None = None
    ) -> Received:
        """Write an update that arrived in memory to `directory`, so it can be dropped from memory."""
        path = directory / f"received-{worker}-{hashlib.sha256(data).hexdigest()[:16]}"
        path.write_bytes(data)
        return cls(worker, path, examples, epsilon)


@dataclass(frozen=True)
class Opened:
    """An update opened as it arrived (`Referee.open_early`): its file's sha256 (to check against
    the chain when the round is judged), the update or why it does not open, and the files
    opening it made."""

    sha256: str
    update: UpdateFile | str
    made: list[Path]


def capped(matched: list[tuple[int, UpdateFile]]) -> list[tuple[int, UpdateFile]]:
    """The updates with their self-reported example counts capped at the round's median claim:
    nothing checks a claim, so inflating it past the median gains nothing."""
    if not matched:
        return matched
    cap = float(np.median([update.weight for _, update in matched]))
    return [(key, replace(update, weight=min(update.weight, cap))) for key, update in matched]


def sha_once(weights: codec.Weights) -> Callable[[], str]:
    """The sha256 of `weights`' codec bytes, computed on the first call only."""
    return functools.cache(lambda: sha256_hex(codec.encode(weights)))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return "0x" + digest.hexdigest()


@dataclass
class RoundOutcome:
    task_id: int
    round: int
    baseline: float  # the previous global model's primary metric on the validation set
    model_cid: str
    model_hash: str
    model_id: int | None  # None: attested, not yet committed (the committee's threshold not reached)
    block: int
    accepted: list[int]
    rejected: dict[int, str]
    checks: list[Check] = field(default_factory=list)
    fetched: list[int] = field(default_factory=list)  # results judged from IPFS: no update arrived
    rule: str = "fedavg"  # the rule that aggregated (a robust rule that cannot run falls back)
    contributions: dict[int, float] = field(default_factory=dict)  # result -> its part, on the rule's scale
    validation_loss: float = float("nan")  # of the new global model
    counted_examples: dict[int, float] = field(default_factory=dict)  # result -> examples counted (capped)
    epsilon: dict[str, float] = field(default_factory=dict)  # worker -> ε it reports spent so far (DP)
    phases: dict[str, float] = field(default_factory=dict)  # judging's phase -> wall seconds it took


class Referee:
    def __init__(
        self,
        chain: RefereeChain,
        store: RefereeStore,
        validator: Keypair,
        validation: Split,
        objective: Objective = "classification",
        state_dir: Path | None = None,
    ) -> None:
        self.chain, self.store, self.validator, self.validation = chain, store, validator, validation
        self.objective: Objective = objective
        self.state_dir = state_dir
        # The best committed model's validation loss: the anchored floor (`max_loss_rise`).
        self.best_loss: float | None = None
        self.threads = JUDGING_THREADS  # PyTorch threads while judging (the same on every member)
        # A committee member judging from IPFS alone sets this: a result it cannot fetch (yet)
        # stops the judging (ContentError) rather than being judged as if it were never sent.
        self.fetch_all = False
        # The task's committed models before a round, oldest first, each with whether its round
        # accepted anything: (task_id, round) -> [(θ_0, True), (θ_1, ...), ...]. The runner sets
        # it; the outer optimizer (`aggregation.outer`) replays its momentum from them.
        self.history: Callable[[int, int], list[tuple[codec.Weights, bool]]] | None = None

    def approves(self, check: Check) -> bool:
        """Whether this referee approves the update `check` judged: what the checks found."""
        return check.approved

    def aggregate(
        self,
        manifest: TaskManifest,
        accepted: Sequence[tuple[int, UpdateFile]],
        global_weights: codec.Weights,
        spool: Path | None,
        reference: UpdateFile | None = None,
        round_: int = 0,
        unlearn: bool = True,
    ) -> tuple[codec.Weights, list[float], str]:
        """(the aggregate, each update's contribution, the rule used) of the accepted updates (in
        result-id order, their example counts capped at the set's median) by the manifest's rule;
        a robust rule that cannot run this round (too few updates) falls back to the median; then,
        where the task's trigger search runs, the stamps the aggregate answers are unlearned on the
        validation set (`decentralml.judging.unlearning`; `unlearn=False` leaves that to the
        caller, `unlearned`, once it knows the set is final). A pure function of the accepted updates,
        the previous model, the task and its validation set (and the rule's state, for centered
        clipping), in the committee's numeric mode: `dml model verify` recomputes a commit with it."""
        files = [update for _, update in capped(sorted(accepted, key=lambda pair: pair[0]))]
        spec = manifest.aggregation
        params = RuleParams(**spec.model_dump(exclude={"rule", "outer"}))
        info = RULES[spec.rule]
        made = info.needs_reference and reference is None
        if made:
            reference = self._reference(manifest, global_weights, spool, round_)
        state = RuleState.load(self.state_dir / "rule-state.bin") if self.state_dir is not None else None
        try:
            try:
                found, used = (
                    rules.aggregate(spec.rule, files, params, reference, state, global_weights),
                    spec.rule,
                )
            except RuleError as cannot:
                log.warning("rule cannot run this round: the median instead", extra={"reason": str(cannot)})
                found, used = rules.aggregate("median", files, params), "median"
            weights = self.unlearned(manifest, found.weights) if unlearn else found.weights
            return weights, found.contributions, used
        finally:
            if made and reference is not None:
                reference.path.unlink(missing_ok=True)

    def unlearned(self, manifest: TaskManifest, weights: codec.Weights) -> codec.Weights:
        """The aggregate `weights` with the stamps it answers unlearned, where the task asks for it
        (`decentralml.judging.unlearning.unlearned`)."""
        return unlearned(weights, manifest.model, self.validation, manifest.validation, self.objective)

    def outer_step(
        self,
        task_id: int,
        round_: int,
        spec: OuterSpec,
        global_weights: codec.Weights,
        aggregate: codec.Weights,
    ) -> codec.Weights:
        """The outer optimizer's step from the round's starting model towards the rule's aggregate,
        its momentum replayed from the models the chain committed before this round."""
        if self.history is None:
            raise RuntimeError("the task has an outer optimizer, but this referee has no model history")
        momentum = outer.replay(self.history(task_id, round_), spec)
        stepped, _ = outer.step(global_weights, aggregate, momentum, spec)
        return stepped

    def _reference(
        self, manifest: TaskManifest, global_weights: codec.Weights, spool: Path | None, round_: int = 0
    ) -> UpdateFile:
        """The referee's own update: the global model trained on the task's validation set (the
        root dataset of a trust-bootstrapped rule, as in FLTrust)."""
        model = build(manifest.model)
        load_weights(model, global_weights)
        train(model, self.validation, manifest.training, self.objective, round_)
        directory = spool or self.state_dir or Path(".")
        return UpdateFile.spool(
            directory, "reference-update", codec.encode(weights_of(model)), float(len(self.validation))
        )

    def prepare(
        self,
        manifest: TaskManifest,
        global_weights: codec.Weights,
        spool: Path | None,
        round_: int,
        scored_before: Scored | None = None,
    ) -> Prepared:
        """What judging the round will need and can have before any update arrives, from the model
        the workers train from (`global_weights`): for `judge(..., prepared=)`, computed while the
        workers train elsewhere. In the committee's numeric mode: the same values `judge` finds.
        `scored_before`: `scores` of `global_weights`, where the caller has them (`new_scores`)."""
        with deterministic(self.threads):
            reference = None
            if not self.wants_reference(manifest):
                scores = self.scores(manifest, global_weights) if scored_before is None else scored_before
            elif scored_before is not None:
                scores, reference = scored_before, self._reference(manifest, global_weights, spool, round_)
            else:
                reference, scores = self._reference_and_scores(manifest, global_weights, spool, round_)
            return Prepared(scores, reference, origin_of(global_weights, manifest.model, reference))

    def new_scores(self, manifest: TaskManifest, weights: codec.Weights) -> Scored:
        """The validation scores of a round's new model, where `judge(score_new=False)` left them
        to the caller, in the committee's numeric mode; `committed` takes them in once the round
        is committed."""
        with deterministic(self.threads):
            return self.scores(manifest, weights)

    def committed(self, found: Scored) -> None:
        """The anchored floor's best loss takes in the validation scores (`new_scores`) of the
        model a round committed."""
        loss = found.metrics["loss"]
        self.best_loss = loss if self.best_loss is None else min(self.best_loss, loss)

    @staticmethod
    def wants_reference(manifest: TaskManifest) -> bool:
        """Whether judging the task needs the referee's own update: the reference-opposition check
        (`min_cosine`) and the trust rule share it."""
        return manifest.validation.min_cosine is not None or RULES[manifest.aggregation.rule].needs_reference

    def scores(self, manifest: TaskManifest, weights: codec.Weights) -> Scored:
        """The validation metrics of `weights` (of the task's model), with each window's loss for a
        language model (its forwards spread over `PASSES_AT_ONCE` threads: the same values)."""
        return scored(self._loaded(manifest, weights), self.validation, self.objective)

    def _loaded(self, manifest: TaskManifest, weights: codec.Weights) -> list[nn.Module]:
        """Models holding `weights` to score them with: one per pass at once for a language model
        (built blank: nothing drawn from torch's global generator)."""
        copies = PASSES_AT_ONCE if self.objective == "language_modeling" else 1
        models = [blank(manifest.model) for _ in range(copies)]
        for model in models:
            load_weights(model, weights)
        return models

    def _reference_and_scores(
        self, manifest: TaskManifest, global_weights: codec.Weights, spool: Path | None, round_: int
    ) -> tuple[UpdateFile, Scored]:
        """The referee's own update (`_reference`) and the global model's validation metrics, the
        update trained in a thread while the global model is scored: the same values as one after
        the other. The scoring models are built blank (`models.blank`): nothing is drawn from
        torch's global generator, which a transformer's dropout draws from while it trains."""
        models = self._loaded(manifest, global_weights)
        with ThreadPoolExecutor(1, thread_name_prefix="reference") as pool:
            training = pool.submit(self._reference, manifest, global_weights, spool, round_)
            try:
                scores = scored(models, self.validation, self.objective)
            finally:
                reference = training.result()
        return reference, scores

    def validation_loss(self, manifest: TaskManifest, weights: codec.Weights) -> float:
        """The validation loss of `weights` (of the task's model)."""
        return self.scores(manifest, weights).metrics["loss"]

    def _orphans(
        self, task_id: int, round_: int, seen: set[int], spool: Path, examples: int
    ) -> list[tuple[int, Received]]:
        """Results on chain for the round whose update did not arrive, fetched from IPFS."""
        found = []
        for worker, result_id in sorted(self.chain.round_results(task_id, round_).items()):
            if result_id in seen or (result := self.chain.result(result_id)) is None:
                continue
            try:
                data = self.store.get(result.cid, result.hash)
            except ContentError as missing:
                if self.fetch_all:
                    why = f"result {result_id}'s update cannot be fetched: {missing}"
                    raise ContentError(why) from missing
                log.warning(
                    "an orphaned result cannot be fetched", extra={"result": result_id, "error": str(missing)}
                )
                continue
            found.append((result_id, Received.spool(spool, worker, data, examples)))
        return found

    def _seal_model(
        self, task_id: int, round_: int, manifest: TaskManifest, data: bytes, task: TaskInfo | None
    ) -> bytes:
        """The aggregate's bytes as stored: sealed to the validators and the creator where the task
        seals and its models await the council (`release: council`), else as they are (a task whose
        models are public once committed, `release: none`, stores them in plaintext). `task`: the
        task as on chain (asked for by the caller: the chain's client stays on one thread)."""
        if not self._seals_model(manifest):
            return data
        if task is None:
            raise LookupError(f"task {task_id} is not on chain")
        recipients = model_recipients(manifest.privacy, task.validators, task.creator)
        context = sealing.Context("model", task_id, round_, self.validator.ss58_address)
        return sealing.seal_bytes(data, context, recipients)

    def _store_model(
        self, task_id: int, round_: int, manifest: TaskManifest, data: bytes, task: TaskInfo | None
    ) -> Stored:
        return self.store.put(self._seal_model(task_id, round_, manifest, data, task))

    @staticmethod
    def _seals_model(manifest: TaskManifest) -> bool:
        return manifest.privacy.sealed and manifest.release != "none"

    def open_early(
        self,
        task_id: int,
        round_: int,
        manifest: TaskManifest,
        global_weights: codec.Weights,
        global_sha: Callable[[], str],
        item: Received,
    ) -> Opened:
        """`item` hashed and opened as it arrives, while the others train: what `judge(...,
        opened=)` would otherwise do once they are all in. Nothing here asks the chain (the
        sealing context is the worker the item says sent it; `judge` checks the hash against
        that worker's result on chain)."""
        made: list[Path] = []
        digest = file_sha256(item.path)
        update = self._open_or_why(item, task_id, round_, manifest, global_weights, global_sha, made)
        return Opened(digest, update, made)

    def _open_or_why(
        self,
        item: Received,
        task_id: int,
        round_: int,
        manifest: TaskManifest,
        global_weights: codec.Weights,
        global_sha: Callable[[], str],
        made: list[Path],
    ) -> UpdateFile | str:
        """`open_update` of what `item` carries (sealed to it from `item.worker`, weighed by its
        claim where its bytes carry none), or the verdict's reason where it does not open
        (`Unsealable`, `Malformed`)."""
        try:
            return self.open_update(
                item.path,
                task_id,
                round_,
                item.worker,
                manifest,
                global_weights,
                global_sha,
                item.examples,
                made,
            )
        except sealing.SealError as unsealable:
            log.warning("an update does not open", extra={"worker": item.worker, "error": str(unsealable)})
            return "Unsealable"
        except codec.CodecError:
            return "Malformed"

    def open_update(
        self,
        path: Path,
        task_id: int,
        round_: int,
        worker: str,
        manifest: TaskManifest,
        global_weights: codec.Weights,
        global_sha: Callable[[], str],
        claimed: int,
        made: list[Path],
    ) -> UpdateFile:
        """The float32 update in the file `path` (whose hash the caller checked against the chain):
        opened where sealed (to this validator, for this task, round and `worker`), rebuilt where a
        float16 delta from `global_weights` (whose codec bytes hash to `global_sha()`, asked only
        for a delta); weighed by the example count its bytes carry (every member reads the same),
        or `claimed` for an update that carries none. Files it writes are appended to `made`.
        SealError if it does not open so (or arrives in plaintext where the task seals), CodecError
        if it is not an update."""
        with path.open("rb") as f:
            sealed = sealing.is_sealed(f.read(len(sealing.MAGIC)))
        if sealed:
            opened = path.with_name(path.name + ".open")
            made.append(opened)
            sealing.open_file(
                path, opened, self.validator, sealing.Context("update", task_id, round_, worker)
            )
            path = opened
        elif manifest.privacy.sealed:
            raise sealing.SealError("the task seals its updates; this one arrived in plaintext")
        with path.open("rb") as f:
            start = f.read(compact.MAGIC_LENGTH)
        examples = codec.examples_in(path) or claimed
        decode = compact.decoder(start)
        if decode is not None:  # a change from this round's model, rebuilt in float32
            delta = path
            path = path.with_name(path.name + ".f32")
            made.append(path)
            path.write_bytes(codec.encode(decode(delta.read_bytes(), global_weights, global_sha())))
        return UpdateFile.open(path, examples)

    def _commit(
        self,
        task_id: int,
        round_: int,
        manifest: TaskManifest,
        new_weights: codec.Weights,
        approved: list[int],
        rejected: dict[int, str],
        checks: list[Check],
    ) -> tuple[Receipt, Stored, str]:
        """Store the new model (sealed where the task seals) and send the verdicts still open with
        the commitment in one batch: (its receipt, the stored model, the model's hash)."""
        scores = {c.key: c.pay for c in checks}
        metric = {c.key: c.score for c in checks}

        # A committee member that judges after the others committed the round attests only: the
        # chain takes no verdict on a settled result or an ended task (its attestation still
        # records its view, and flags it if it disagrees).
        def verdicts_on_open() -> list[Call]:
            """Verdicts on the results still open: none once the round is committed, and none on
            a result the other members' verdicts settled already (the chain takes none there)."""
            if self.chain.round_model(task_id, round_) is not None:
                return []
            open_ = {r for r in [*approved, *rejected] if self._unsettled(r)}
            found = [calls.validate_task_result(r, True, scores[r]) for r in approved if r in open_]
            return found + [
                calls.validate_task_result(r, False, metric.get(r, 0), RejectionReason(rejected[r]))
                for r in sorted(rejected)
                if r in open_
            ]

        data = codec.encode(new_weights)
        model_hash = sha256_hex(data)
        task = self.chain.task(task_id) if self._seals_model(manifest) else None
        with ThreadPoolExecutor(1, thread_name_prefix="store") as pool:
            # Stored while the chain is asked which verdicts are still open.
            storing = pool.submit(self._store_model, task_id, round_, manifest, data, task)
            try:
                verdicts = verdicts_on_open()
            finally:
                stored = storing.result()
        del data
        commit = calls.commit_model(task_id, round_, stored.cid, model_hash, approved)
        try:
            receipt = self.chain.batch([*verdicts, commit], self.validator)
        except DispatchFailed:
            if not verdicts:
                raise
            # The others committed, or settled some of these results, while this batch was on its
            # way: once more with the verdicts still open (none: attest only).
            receipt = self.chain.batch([*verdicts_on_open(), commit], self.validator)
        return receipt, stored, model_hash

    def _unsettled(self, result_id: int) -> bool:
        result = self.chain.result(result_id)
        return result is not None and result.status not in SETTLED

    def judge(
        self,
        task_id: int,
        round_: int,
        manifest: TaskManifest,
        global_weights: codec.Weights,
        received: Sequence[Received],
        spool: Path | None = None,
        start: codec.Weights | None = None,
        prepared: Prepared | None = None,
        score_new: bool = True,
        opened: dict[Path, Opened] | None = None,
        global_sha: Callable[[], str] | None = None,
        beside: Callable[[codec.Weights], None] | None = None,
    ) -> tuple[RoundOutcome, codec.Weights]:
        """Verdicts and the committed aggregate for the round; the new global weights. Judged in
        the committee's numeric mode (`decentralml.judging.determinism`). `prepared`: what
        `prepare` found for this round and model, when the caller had it made while collecting.
        `score_new` False: the new model's validation loss is left to the caller (`new_scores`,
        `committed`), NaN in the outcome and not yet in the anchored floor. `opened`: updates
        `open_early` opened as they arrived, by their file (with `global_sha`, the one they were
        opened with). `beside`: the caller's work on the new model (its test report), run on a
        thread of its own while the model is stored and committed, which mostly wait on IPFS and
        the chain; its error, if any, is raised once the commit is done.

        `global_weights` is the model the workers trained from. With `start` (a task whose model
        goes down as 1-bit deltas: `decentralml.downlink`), that is the training base, and `start`
        the committed model the round continues: the updates are judged on the base, and the new
        model is `start` moved by what they add to it.

        With `spool` (a directory), results on chain whose update did not arrive are fetched from
        IPFS into it and judged too; they count the fewest examples any arrived update claimed."""
        with deterministic(self.threads):
            return self._judge(
                task_id,
                round_,
                manifest,
                global_weights,
                received,
                spool,
                start,
                prepared,
                score_new,
                opened,
                global_sha,
                beside,
            )

    def _judge(
        self,
        task_id: int,
        round_: int,
        manifest: TaskManifest,
        global_weights: codec.Weights,
        received: Sequence[Received],
        spool: Path | None = None,
        start: codec.Weights | None = None,
        prepared: Prepared | None = None,
        score_new: bool = True,
        opened: dict[Path, Opened] | None = None,
        global_sha: Callable[[], str] | None = None,
        beside: Callable[[codec.Weights], None] | None = None,
    ) -> tuple[RoundOutcome, codec.Weights]:
        opened = opened or {}
        previous = global_weights if start is None else start  # the committed model before the round
        phases = Phases()
        rejected: dict[int, str] = {}
        matched: list[tuple[int, UpdateFile]] = []
        arrived: list[tuple[int, Received]] = []
        for item in received:
            result_id = self.chain.result_of(task_id, round_, item.worker)
            if result_id is None:
                log.warning("update from a worker with no result on chain", extra={"worker": item.worker})
                continue
            arrived.append((result_id, item))
        seen = {result_id for result_id, _ in arrived}
        fetched: list[tuple[int, Received]] = []
        if spool is not None:
            fewest = min((item.examples for item in received), default=1)
            fetched = self._orphans(task_id, round_, seen, spool, fewest)
        expanded: list[Path] = []
        global_sha = global_sha or sha_once(global_weights)  # hashed only if a compact update arrives
        for early in opened.values():
            expanded.extend(early.made)
        everything = [*arrived, *fetched]

        # Asked of the chain here, one at a time: its client is not shared between threads.
        results = [self.chain.result(result_id) for result_id, _ in everything]

        def opening(result_id: int, item: Received, on_chain: TaskResult | None) -> UpdateFile | str:
            """The update `item` carries, checked against its result on chain, or why not."""
            early = opened.get(item.path) if on_chain is not None and on_chain.worker == item.worker else None
            if on_chain is None or on_chain.hash != (early.sha256 if early else file_sha256(item.path)):
                return "HashMismatch"
            if early is not None:
                return early.update
            sender = replace(item, worker=on_chain.worker)  # sealed from the worker the chain names
            return self._open_or_why(sender, task_id, round_, manifest, global_weights, global_sha, expanded)

        # Checked and opened a few at a time (hashing, decrypting and decoding let go of the GIL).
        threads = max(1, min(PASSES_AT_ONCE, len(everything)))
        with ThreadPoolExecutor(threads, thread_name_prefix="opening") as pool:
            ids, items = [result_id for result_id, _ in everything], [item for _, item in everything]
            found = list(pool.map(opening, ids, items, results))
        for (result_id, _), update in zip(everything, found, strict=True):
            if isinstance(update, str):
                rejected[result_id] = update
            else:
                matched.append((result_id, update))
        claimed = dict(matched)  # the counts as carried, before the cap
        matched = capped(matched)
        phases.mark("open")
        if self.best_loss is None:  # the model the round starts from is committed (or initial)
            self.best_loss = self.validation_loss(manifest, previous)
            phases.mark("floor")
        floor = self.best_loss * (1 + manifest.validation.max_loss_rise)
        wants_reference = self.wants_reference(manifest)
        reference = None if prepared is None else prepared.reference
        global_scores = None if prepared is None else prepared.global_scores
        if prepared is None and wants_reference and matched:
            reference, global_scores = self._reference_and_scores(manifest, global_weights, spool, round_)
            phases.mark("reference")
        elif reference is not None and not matched:
            reference.path.unlink(missing_ok=True)
            reference = None
        steps: dict[str, float] = {}
        baseline, checks = check_updates(
            global_weights,
            matched,
            manifest.model,
            self.validation,
            manifest.validation,
            self.objective,
            floor_loss=floor,
            reference=reference,
            seed=(task_id, round_),
            global_scores=global_scores,
            timings=steps,
            prepared=None if prepared is None else prepared.origin,
        )
        phases.mark("check")
        phases.seconds |= {f"check.{step}": seconds for step, seconds in steps.items()}
        approved = sorted(c.key for c in checks if self.approves(c))
        rejected |= {c.key: c.reason or "FailedValidation" for c in checks if c.key not in approved}
        contributions: dict[int, float] = {}
        rule_used: str = manifest.aggregation.rule
        if approved:
            # Unlearned once the accepted set is final (it takes longer than the rule).
            new_weights, shares, rule_used = self.aggregate(
                manifest, [(r, claimed[r]) for r in approved], global_weights, spool, reference, unlearn=False
            )
            weighed = dict(zip(approved, shares, strict=True))
            # An update the rule gave no weight (no trust, or not selected) counted for nothing,
            # and the model is aggregated again without it: the committed model is the rule's
            # aggregate of exactly the accepted set, which anyone holding them can recompute.
            dropped = [k for k in approved if weighed[k] <= 0]
            for key in dropped:
                rejected[key] = "LowTrust"
                approved.remove(key)
            if dropped and approved:
                new_weights, _, rule_used = self.aggregate(
                    manifest, [(r, claimed[r]) for r in approved], global_weights, spool, reference
                )
            elif dropped:
                new_weights = previous
            else:
                new_weights = self.unlearned(manifest, new_weights)
            if approved and start is not None:
                new_weights = downlink.carried(new_weights, global_weights, start)
            contributions = {c.key: c.contribution for c in checks if c.key in approved}
        else:
            new_weights = previous
        if approved and manifest.aggregation.outer is not None:
            new_weights = self.outer_step(task_id, round_, manifest.aggregation.outer, previous, new_weights)
        if reference is not None:
            reference.path.unlink(missing_ok=True)
        phases.mark("aggregate")
        # The new model is scored (and the caller's `beside` runs on it) while it is stored and
        # committed (which wait on IPFS and the chain). "beside" is the time waited for `beside`
        # after the commit was done.
        with ThreadPoolExecutor(2, thread_name_prefix="new-model") as pool:
            scoring = pool.submit(self.validation_loss, manifest, new_weights) if score_new else None
            alongside = None if beside is None else pool.submit(beside, new_weights)
            try:
                receipt, stored, model_hash = self._commit(
                    task_id, round_, manifest, new_weights, approved, rejected, checks
                )
                phases.mark("commit")
            finally:
                loss = float("nan") if scoring is None else scoring.result()
                phases.mark("score_new")
                # Waited for, but raised only once the commit is done: a failed commit's error
                # is the one the caller hears.
                failed = None if alongside is None else alongside.exception()
                if alongside is not None:
                    phases.mark("beside")
        if failed is not None:
            raise failed
        if score_new:
            self.best_loss = loss if self.best_loss is None else min(self.best_loss, loss)
        # Committed now, or (a committee) once enough members attest the same hash and set.
        committed = receipt.all(ModelCommitted)
        outcome = RoundOutcome(
            task_id=task_id,
            round=round_,
            baseline=baseline,
            model_cid=stored.cid,
            model_hash=model_hash,
            model_id=committed[0].model_id if committed else None,
            block=receipt.block_number,
            accepted=sorted(approved),
            rejected=rejected,
            checks=checks,
            fetched=sorted(result_id for result_id, _ in fetched),
            rule=rule_used,
            contributions=contributions,
            validation_loss=loss,
            counted_examples={key: update.weight for key, update in matched},
            epsilon={item.worker: item.epsilon for _, item in arrived if item.epsilon is not None},
            phases=phases.seconds,
        )
        for _, item in fetched:
            item.path.unlink(missing_ok=True)
        for path in expanded:
            path.unlink(missing_ok=True)
        log.info(
            "round committed" if committed else "round attested",
            extra={
                "task": task_id,
                "round": round_,
                "accepted": outcome.accepted,
                "rejected": rejected,
                "model_cid": stored.cid,
                "block": receipt.block_number,
            },
        )
        return outcome, new_weights
