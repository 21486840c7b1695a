"""What the referee trusts of an update: not its claimed example count (capped at the round's median),
and not a floor that falls with a poisoned global model (the anchored loss floor)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from coordinator.federation.referee import Received, Referee, capped, sha_once
from decentralml import codec
from decentralml.content import sha256_hex
from decentralml.data import DataSpec, Split, digits, partition
from decentralml.judging.aggregation import UpdateFile, unflatten
from decentralml.judging.checks import check_updates
from decentralml.judging.determinism import deterministic
from decentralml.judging.evaluation import Evaluator
from decentralml.judging.rules import RuleParams, aggregate
from decentralml.manifest import ContentRef, TaskManifest, ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, score, train
from decentralml_bindings.dev import FERDIE
from decentralml_bindings.types import LOW_TRUST, RejectionReason
from support.twins import ChainTwin, StoreTwin

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])


def spooled(tmp_path: Path, name: str, weights: codec.Weights, examples: float) -> UpdateFile:
    return UpdateFile.spool(tmp_path, name, codec.encode(weights), examples)


def test_an_inflated_example_count_gains_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    shapes = {"a": (4, 3), "b": (5,)}
    updates = [{n: rng.normal(size=s).astype(np.float32) for n, s in shapes.items()} for _ in range(5)]
    honest_counts = [120.0, 90.0, 100.0, 110.0]

    def fedavg_with(claim: float) -> codec.Weights:
        files = [
            (i, spooled(tmp_path, f"c{claim}-{i}", w, count))
            for i, (w, count) in enumerate(zip(updates, [*honest_counts, claim], strict=True))
        ]
        return aggregate("fedavg", [f for _, f in capped(files)], RuleParams()).weights

    inflated, modest = fedavg_with(100 * 120.0), fedavg_with(float(np.median([*honest_counts, 110.0])))

    for name in shapes:
        np.testing.assert_allclose(inflated[name], modest[name], rtol=1e-6)
    counted = dict((k, f.weight) for k, f in capped([(0, spooled(tmp_path, "x", updates[0], 1e9))]))
    assert counted == {0: 1e9}, "a lone update keeps its own count (the median of one claim)"


def test_the_anchored_floor_rejects_what_the_relative_floor_lets_through(tmp_path: Path) -> None:
    # Prepare: a good committed model, then a poisoned global model far worse than it.
    validation = digits().validation
    good = build(SPEC)
    train(good, partition(DataSpec(parts=2), 0), TrainSpec(epochs=5))
    best_loss = score(good, validation)["loss"]
    poisoned = {n: np.zeros_like(w) for n, w in weights_of(good).items()}  # chance: loss ln(10)
    bad_update = {n: w + 0.01 for n, w in poisoned.items()}
    model = build(SPEC)
    load_weights(model, poisoned)
    updates = [(1, spooled(tmp_path, "bad", bad_update, 1.0))]
    policy = ValidationPolicy(max_loss_rise=0.5)

    # Execute
    _, relative_only = check_updates(poisoned, updates, SPEC, validation, policy)
    _, anchored = check_updates(poisoned, updates, SPEC, validation, policy, floor_loss=best_loss * 1.5)

    # Assert: judged only against the poisoned model it passes; against the best committed it fails.
    assert best_loss < 1.0  # chance is ln(10) = 2.3
    assert relative_only[0].approved
    assert (anchored[0].approved, anchored[0].reason) == (False, "FailedValidation")


def _skewed_round(
    tmp_path: Path, alpha: float = 0.1, rounds_before: int = 3
) -> tuple[codec.Weights, list[UpdateFile], Split]:
    """A global model trained a few FedAvg rounds on 10 Dirichlet(alpha) shares, then each worker's
    honest update from it (at alpha=0.1 the shares are very skewed: most hold one or two digits)."""
    spec = DataSpec(parts=10, alpha=alpha, seed=3)
    shares = [partition(spec, part) for part in range(10)]
    weights = weights_of(build(SPEC, 3))
    training = TrainSpec(epochs=5)
    for round_ in range(rounds_before + 1):
        files = []
        for part, share in enumerate(shares):
            model = build(SPEC)
            load_weights(model, weights)
            train(model, share, training.model_copy(update={"seed": round_ * 10 + part}))
            files.append(spooled(tmp_path, f"r{round_}-{part}", weights_of(model), float(len(share))))
        if round_ < rounds_before:
            weights = {k: np.array(v) for k, v in aggregate("fedavg", files, RuleParams()).weights.items()}
    return weights, files, digits(3).validation


def test_validation_passes_run_at_once_give_the_same_verdicts_bit_for_bit(tmp_path: Path) -> None:
    # Prepare: a skewed round, two of its updates turned against the round (so the leave-out
    # search takes more than one pass) and one sent twice (a duplicate).
    weights, files, validation = _skewed_round(tmp_path, rounds_before=1)
    for part in (0, 1):
        turned = {n: weights[n] - 4.0 * (files[part].weights()[n] - weights[n]) for n in weights}
        files[part] = spooled(tmp_path, f"turned-{part}", turned, files[part].weight)
    updates = list(enumerate([*files[:6], files[5]]))

    # Execute: one pass at a time, and three.
    one = check_updates(weights, updates, SPEC, validation, ValidationPolicy(), parallel=1)
    three = check_updates(weights, updates, SPEC, validation, ValidationPolicy(), parallel=3)

    # Assert: the same verdicts, values and pay, to the bit (repr: NaN equals NaN).
    assert repr(one) == repr(three)
    assert [c.reason for c in one[1]].count("Duplicate") == 1
    assert sum(not c.approved for c in one[1]) >= 2, [(c.reason, c.harm) for c in one[1]]


def test_honest_skewed_updates_are_accepted(tmp_path: Path) -> None:
    # Prepare: ten honest workers whose shares are Dirichlet(0.1)-skewed.
    weights, files, validation = _skewed_round(tmp_path)
    updates = list(enumerate(files))
    model = build(SPEC)
    alone = []
    for update in files:
        load_weights(model, update.weights())
        alone.append(score(model, validation)["accuracy"])

    # Execute: the default policy judges each by what it adds to the round's mean.
    baseline, checks = check_updates(weights, updates, SPEC, validation, ValidationPolicy())
    _, judged_alone = check_updates(
        weights, updates, SPEC, validation, ValidationPolicy(max_accuracy_drop=0.25)
    )

    # Assert: every honest update is accepted, though some score far below the global model alone
    # (and the optional judged-alone check would have refused those).
    assert [c.approved for c in checks] == [True] * 10, [(c.reason, c.metric) for c in checks]
    assert min(alone) < baseline - 0.25
    assert sum(not c.approved for c in judged_alone) >= 1


def size(delta: dict[str, NDArray[np.float64]]) -> float:
    return float(np.sqrt(sum(np.sum(v**2) for v in delta.values())))


def test_an_adaptive_attack_at_the_threshold_gets_no_weight_by_default(tmp_path: Path) -> None:
    # Prepare: six honest Dirichlet(0.5) workers, and four colluders who know the default policy's
    # distance limit (norm_factor x the median distance) and send the inner-product-manipulation
    # direction (-mu) scaled to sit just inside it. The chain and the store are in-process twins.
    weights, files, validation = _skewed_round(tmp_path, alpha=0.5)
    honest = files[4:]
    origin = {k: v.astype(np.float64) for k, v in weights.items()}
    deltas = [{k: u.weights()[k] - origin[k] for k in origin} for u in honest]
    mean = {k: np.mean([d[k] for d in deltas], axis=0) for k in origin}
    policy = ValidationPolicy()
    limit = policy.norm_factor * float(np.median([size(d) for d in deltas]))
    scale = 0.95 * limit / size(mean)
    poisoned = {k: (origin[k] - scale * mean[k]).astype(np.float32) for k in origin}
    manifest = TaskManifest(
        name="adaptive",
        model=SPEC,
        initial_weights=ContentRef(cid="twin", sha256="0x" + "0" * 64),
        data=DataSpec(parts=10, alpha=0.5, seed=3),
    )
    chain, store = ChainTwin(), StoreTwin()
    received = []
    # The chain refuses a hash twice in a round: each colluder's copy differs in one tiny value.
    copies = [{k: v.copy() for k, v in poisoned.items()} for _ in range(4)]
    first = next(iter(poisoned))
    for i, copy in enumerate(copies):
        copy[first].flat[0] += np.float32(1e-6 * i)
    for i, data in enumerate([codec.encode(c) for c in copies] + [u.path.read_bytes() for u in honest]):
        stored = store.put(data)
        chain.send_result(1, 1, f"w{i}", stored.cid, stored.sha256)
        received.append(Received.spool(tmp_path, f"w{i}", data, 100))
    referee = Referee(chain, store, FERDIE, validation, state_dir=tmp_path)
    without_reference = manifest.model_copy(
        update={"validation": ValidationPolicy(min_cosine=None)}, deep=True
    )
    _, checks = check_updates(
        weights,
        [(i, UpdateFile.open(r.path, 100.0)) for i, r in enumerate(received)],
        SPEC,
        validation,
        without_reference.validation,
    )

    # Execute
    outcome, new_weights = referee.judge(1, 1, manifest, weights, received, spool=tmp_path)

    # Assert: the default (fedavg behind the checks) rejects the first of the four on chain as
    # LowTrust (its delta points away from the referee's own update) and the other three as its
    # copies (Duplicate), and the committed model is the mean of the honest updates alone. Without
    # the reference check, the copies are still refused, and the first, alone now, does too little
    # harm to be left out (one of seven) but is valued below zero and paid nothing.
    assert manifest.aggregation.rule == "fedavg"
    assert size({k: poisoned[k] - origin[k] for k in origin}) == pytest.approx(0.95 * limit, rel=1e-3)
    assert outcome.rejected == {1: "LowTrust", 2: "Duplicate", 3: "Duplicate", 4: "Duplicate"}
    verdicts = {v.result_id: v for v in chain.verdicts}
    assert not verdicts[1].approved
    assert verdicts[1].reason == LOW_TRUST
    assert all(
        not verdicts[r].approved and verdicts[r].reason == RejectionReason("Duplicate") for r in (2, 3, 4)
    )
    # The mean of the honest updates, with the stamps it answers unlearned (step 8), as judged.
    mean = {k: origin[k] + np.mean([deltas[i][k] for i in range(6)], axis=0) for k in origin}
    with deterministic(referee.threads):
        expected = referee.unlearned(manifest, mean)
    for k in origin:
        np.testing.assert_allclose(new_weights[k], expected[k], atol=1e-5)
    assert [(c.approved, c.reason) for c in checks[1:4]] == [(False, "Duplicate")] * 3
    assert checks[0].contribution < 0
    assert checks[0].pay == 0
    assert all(c.approved for c in checks[4:])


def test_free_riders_and_copies_earn_nothing_and_do_not_move_the_model_or_the_honest_verdicts(
    tmp_path: Path,
) -> None:
    # Prepare: six honest Dirichlet(0.1) workers (results 1-6); three free-riders that send the
    # global model back with a little noise (7-9); two copies of worker 0's update, each with a
    # little noise (10, 11): their hashes differ, so the chain takes them.
    weights, files, validation = _skewed_round(tmp_path)
    honest = files[:6]
    rng = np.random.default_rng(11)
    noop = [
        {k: v + rng.normal(0, 1e-5, v.shape).astype(np.float32) for k, v in weights.items()} for _ in range(3)
    ]
    original = honest[0].weights()
    copies = [
        {k: v + rng.normal(0, 1e-5, v.shape).astype(np.float32) for k, v in original.items()}
        for _ in range(2)
    ]
    manifest = TaskManifest(
        name="gaming",
        model=SPEC,
        initial_weights=ContentRef(cid="twin", sha256="0x" + "0" * 64),
        data=DataSpec(parts=10, alpha=0.1, seed=3),
    )
    chain, store = ChainTwin(), StoreTwin()
    received = []
    sent = [u.path.read_bytes() for u in honest] + [codec.encode(w) for w in [*noop, *copies]]
    claims = [u.weight for u in honest] + [float(np.median([u.weight for u in honest]))] * 5
    for i, (data, examples) in enumerate(zip(sent, claims, strict=True)):
        stored = store.put(data)
        chain.send_result(1, 1, f"w{i}", stored.cid, stored.sha256)
        received.append(Received.spool(tmp_path, f"w{i}", data, int(examples)))
    alone = Referee(ChainTwin(), StoreTwin(), FERDIE, validation, state_dir=tmp_path / "alone")
    (tmp_path / "alone").mkdir()
    for i, data in enumerate(sent[:6]):
        stored = alone.store.put(data)
        alone.chain.send_result(1, 1, f"w{i}", stored.cid, stored.sha256)  # type: ignore[attr-defined]

    # Execute: the round as sent, and the honest six alone.
    outcome, new_weights = Referee(chain, store, FERDIE, validation, state_dir=tmp_path).judge(
        1, 1, manifest, weights, received, spool=tmp_path
    )
    honest_only, honest_weights = alone.judge(1, 1, manifest, weights, received[:6], spool=tmp_path / "alone")

    # Assert: the free-riders add nothing (NoContribution) and the copies are refused (Duplicate);
    # the honest workers get the verdicts and pay they get when the gamers are absent, and the
    # committed model is the one the honest six make alone: eleven accounts moved it no more than six.
    gamers = {k: v for k, v in outcome.rejected.items() if k >= 7}
    assert gamers == {
        7: "NoContribution",
        8: "NoContribution",
        9: "NoContribution",
        10: "Duplicate",
        11: "Duplicate",
    }
    assert {k: v for k, v in outcome.rejected.items() if k < 7} == honest_only.rejected
    assert outcome.accepted == honest_only.accepted
    assert len(outcome.accepted) >= 5
    paid = {v.result_id: v.score for v in chain.verdicts if v.approved}  # a rejection is paid nothing
    assert paid == {v.result_id: v.score for v in alone.chain.verdicts if v.approved}  # type: ignore[attr-defined]
    # Pay follows the round's validation-loss gain: an honest update valued below zero this round
    # (its skewed share pulled against the rest) is accepted and paid nothing for it.
    values = {c.key: c.contribution for c in outcome.checks if c.key in outcome.accepted}
    assert all((paid[r] > 0) == (values[r] > 0) for r in outcome.accepted), (paid, values)
    for k in weights:
        np.testing.assert_allclose(new_weights[k], honest_weights[k], atol=1e-6)


def test_a_lazy_worker_is_paid_for_the_work_its_update_shows_and_honest_workers_are_not_cut(
    tmp_path: Path,
) -> None:
    # Prepare: six honest Dirichlet(0.5) workers, and two lazy ones that take one SGD step on one
    # batch of their share but claim the whole share, like the honest.
    weights, files, validation = _skewed_round(tmp_path, alpha=0.5)
    spec = DataSpec(parts=10, alpha=0.5, seed=3)
    lazy = []
    for part in (6, 7):
        share = partition(spec, part)
        model = build(SPEC)
        load_weights(model, weights)
        train(model, Split(share.x[:32], share.y[:32]), TrainSpec(epochs=1, seed=part))
        lazy.append(spooled(tmp_path, f"lazy-{part}", weights_of(model), float(len(share))))
    updates = list(enumerate([*files[:6], *lazy]))

    # Execute
    _, checks = check_updates(weights, updates, SPEC, validation, ValidationPolicy())
    _, honest_only = check_updates(weights, updates[:6], SPEC, validation, ValidationPolicy())

    # Assert: the lazy updates moved the model a small fraction of what the honest ones did, and
    # are paid at most that fraction (twice it: full pay from half the round's typical distance),
    # whatever their Shapley value; the honest workers are paid as without them, within the noise
    # of a round's values.
    honest, idle = checks[:6], checks[6:]
    typical = float(np.median([c.distance for c in checks]))  # the round's, lazy ones included
    for check in idle:
        assert check.distance < 0.2 * typical
        assert check.pay <= round(1_000_000 * check.distance / (0.5 * typical)) + 1
        assert check.pay < 0.4 * 1_000_000
    assert all(c.approved for c in honest)
    assert np.mean([c.pay for c in honest]) >= 0.8 * np.mean([c.pay for c in honest_only])


def test_the_leave_out_search_costs_evaluations_linear_in_the_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Prepare: a 60-update round around a trained model: 48 honest updates (its training step g
    # plus noise) and 12 harmful ones, each pointing against g along its own direction (pairwise
    # cosines below the collusion cosine, so each is a group of one).
    from decentralml.judging import checks as judging

    validation = digits(3).validation
    global_weights = weights_of(build(SPEC, 3))
    trained = build(SPEC, 3)
    train(trained, digits(3).train, TrainSpec(epochs=2))
    layout = tuple((name, tuple(array.shape)) for name, array in global_weights.items())
    origin = np.concatenate([global_weights[n].astype(np.float64).ravel() for n, _ in layout])
    g = np.concatenate([weights_of(trained)[n].astype(np.float64).ravel() for n, _ in layout]) - origin
    rng = np.random.default_rng(5)
    deltas = [g + rng.normal(0, 0.3 * float(np.std(g)), g.shape) for _ in range(48)]
    deltas += [-3 * g + rng.normal(0, 3 * float(np.std(g)), g.shape) for _ in range(12)]
    files = {
        key: UpdateFile.spool(tmp_path, f"u{key}", codec.encode(unflatten(origin + d, layout)), 1.0)
        for key, d in enumerate(deltas)
    }
    evaluations: list[dict[str, float]] = []

    def counted(*args: Any) -> dict[str, float]:
        evaluations.append(score(*args))
        return evaluations[-1]

    monkeypatch.setattr("decentralml.judging.evaluation.score", counted)
    evaluator = Evaluator(build(SPEC), SPEC, layout, validation, "classification", parallel=2)

    # Execute
    read = {key: f.read(0, f.size).astype(np.float64) - origin for key, f in files.items()}
    cosines = judging._cosines(judging._gram(list(read.values())), list(read), list(read))
    harms = judging._contributions(
        evaluator,
        origin,
        np.sum(list(read.values()), axis=0),
        read,
        list(read),
        ValidationPolicy(max_harm=0.01),
        None,
        cosines,
    )

    # Assert: every harmful update and no honest one is rejected, in a few passes of 60
    # evaluations (one at a time would take 13 passes, about 700 evaluations).
    assert sorted(k for k, h in harms.items() if h is None) == list(range(48, 60))
    assert len(evaluations) <= 6 * 60, len(evaluations)


def _honest_lm_updates(held_out: int) -> tuple[ModelSpec, Split, codec.Weights, list[codec.Weights]]:
    """A tiny transformer on standard-library text: its spec, the first `held_out` windows as the
    validation set, its initial weights, and 3 honest workers' models trained from them on 100
    windows each."""
    from decentralml.lm.corpus import stdlib_corpus, windows
    from decentralml.lm.tokenizer import byte_tokenizer, encode_documents
    from decentralml.lm.transformer import TransformerSpec

    spec = ModelSpec(
        architecture="transformer",
        input_shape=[32],
        classes=257,
        transformer=TransformerSpec(vocab_size=257, context=32, layers=2, heads=2, width=32),
    )
    ids = encode_documents(byte_tokenizer(), list(stdlib_corpus(["json", "csv"]).values()))
    found = windows(ids, 32)
    validation = Split(found[:held_out], found[:held_out, -1].copy())
    start = weights_of(build(spec, 0))
    sent = []
    for part in range(3):
        share = found[held_out + 100 * part : held_out + 100 * (part + 1)]
        model = build(spec)
        load_weights(model, start)
        training = TrainSpec(tokens_per_round=4096, batch_size=8, learning_rate=3e-3, seed=part)
        train(model, Split(share, share[:, -1].copy()), training, "language_modeling", 1)
        sent.append(weights_of(model))
    return spec, validation, start, sent


def test_a_language_model_round_scores_an_update_alone_only_when_it_rejects_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three honest updates of a tiny transformer on standard-library text, and one sign-flipped
    # and scaled. Judged as is, and with a no-op `max_accuracy_drop` that needs every update's
    # score alone: the same verdicts, pay and values, and one validation pass fewer per approval.
    spec, validation, start, sent = _honest_lm_updates(40)
    sent.append({n: start[n] - 5.0 * (sent[0][n] - start[n]) for n in start})
    updates = [(key, spooled(tmp_path, f"u{key}", w, 100.0)) for key, w in enumerate(sent, start=1)]
    passes = {"n": 0}

    def counted(*args: Any, **kwargs: Any) -> dict[str, float]:
        passes["n"] += 1
        return score(*args, **kwargs)

    monkeypatch.setattr("decentralml.judging.checks.score", counted)
    _, lazy = check_updates(start, updates, spec, validation, ValidationPolicy(), "language_modeling")
    lazy_passes, passes["n"] = passes["n"], 0
    every = ValidationPolicy(max_accuracy_drop=1.0)  # an accuracy never falls by more than 1
    _, eager = check_updates(start, updates, spec, validation, every, "language_modeling")

    def verdicts(found: list[Any]) -> list[str]:  # repr: NaN (not a member of the mean) equals NaN
        return [repr((c.key, c.approved, c.reason, c.pay, c.contribution, c.harm, c.distance)) for c in found]

    assert verdicts(lazy) == verdicts(eager)
    assert [c.approved for c in lazy] == [True, True, True, False], [(c.reason, c.harm) for c in lazy]
    assert lazy[3].reason == "Outlier"
    assert lazy[3].metric == eager[3].metric  # a rejected update's verdict still records its score
    assert np.isfinite(lazy[3].metric)
    assert all(np.isnan(c.metric) and np.isfinite(e.metric) for c, e in zip(lazy[:3], eager[:3], strict=True))
    assert passes["n"] - lazy_passes == 3


def _lm_round(tmp_path: Path) -> tuple[ModelSpec, Split, codec.Weights, list[tuple[int, UpdateFile]]]:
    """A tiny transformer's round on standard-library text: 3 honest updates, one random step of an
    honest update's length (harmful, yet inside the distance and direction checks), and one
    sign-flipped and scaled (an outlier); 80 validation windows."""
    spec, validation, start, sent = _honest_lm_updates(80)
    length = size({n: (sent[0][n] - start[n]).astype(np.float64) for n in start})
    rng = np.random.default_rng(7)
    noise = {n: rng.normal(0, 1, start[n].shape) for n in start}
    sent.append({n: (start[n] + noise[n] * length / size(noise)).astype(np.float32) for n in start})
    sent.append({n: start[n] - 5.0 * (sent[0][n] - start[n]) for n in start})
    updates = [(key, spooled(tmp_path, f"u{key}", w, 100.0)) for key, w in enumerate(sent, start=1)]
    return spec, validation, start, updates


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the windows a transformer is run on, and the full leave-out searches."""
    from decentralml.judging import checks as judging
    from decentralml.lm.transformer import TinyGpt

    counts = {"windows": 0, "searches": 0}
    forward, search = TinyGpt.forward, judging._contributions

    def counted_forward(self: TinyGpt, tokens: Any) -> Any:
        counts["windows"] += int(tokens.shape[0])
        return forward(self, tokens)

    def counted_search(*args: Any, **kwargs: Any) -> Any:
        counts["searches"] += 1
        return search(*args, **kwargs)

    monkeypatch.setattr(TinyGpt, "forward", counted_forward)
    monkeypatch.setattr(judging, "_contributions", counted_search)
    return counts


@pytest.mark.parametrize("max_harm", [0.1, 0.002])
def test_a_language_model_round_judged_on_a_sample_of_windows_reaches_the_verdicts_of_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_harm: float
) -> None:
    # By default (max_harm 0.1) every update lies far from a rejection for harm: the sample of 8
    # windows clears the round and the full search never runs. At 0.002 the random step's harm is
    # within reach: the sample cannot clear it, the search runs on every window and rejects it,
    # exactly as judging on all the windows does.
    spec, validation, start, updates = _lm_round(tmp_path)
    counts = _counting(monkeypatch)
    policy = ValidationPolicy(max_harm=max_harm)

    steps: dict[str, float] = {}
    _, sampled = check_updates(
        start, updates, spec, validation, policy, "language_modeling", seed=(3, 1), timings=steps
    )
    sampled_counts = dict(counts)
    assert {"model", "read", "distances", "sampled", "scores"} <= set(steps)
    assert ("search" in steps) == (max_harm == 0.002)  # the round handed to every window is timed
    counts |= {"windows": 0, "searches": 0}
    everything = policy.model_copy(update={"sample_windows": None})
    _, full = check_updates(start, updates, spec, validation, everything, "language_modeling", seed=(3, 1))

    def verdicts(found: list[Any]) -> list[tuple[int, bool, str | None]]:
        return [(c.key, c.approved, c.reason) for c in found]

    assert verdicts(sampled) == verdicts(full)
    assert full[4].reason == "Outlier"
    if max_harm == 0.1:
        assert [c.approved for c in full] == [True, True, True, True, False]
        assert sampled_counts["searches"] == 0
        # 1 pass of the global model on all 80 windows; the rest on 8 each.
        assert sampled_counts["windows"] < 0.4 * counts["windows"], (sampled_counts, counts)
        assert all(
            np.sign(s.contribution) == np.sign(f.contribution)
            for s, f in zip(sampled[:3], full[:3], strict=True)
        )
    else:
        assert full[3].reason == "FailedValidation"  # the random step, rejected for its harm
        assert sampled_counts["searches"] == 1
        assert repr([c.harm for c in sampled]) == repr([c.harm for c in full])  # measured on every window


def test_a_sample_whose_mean_may_be_above_the_floor_hands_the_search_to_every_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The anchored floor just above the loss of the round's mean (on every window): the mean is
    # below it, by less than a sample of 8 windows can tell apart from the spread of their losses.
    spec, validation, start, updates = _lm_round(tmp_path)
    counts = _counting(monkeypatch)
    model = build(spec)
    kept = [update.weights() for _, update in updates[:4]]
    load_weights(model, {n: np.mean([w[n] for w in kept], axis=0) for n in start})
    floor = score(model, validation, "language_modeling")["loss"] * 1.001

    _, sampled = check_updates(
        start, updates, spec, validation, ValidationPolicy(), "language_modeling", floor, seed=(3, 1)
    )
    everything = ValidationPolicy(sample_windows=None)
    _, full = check_updates(
        start, updates, spec, validation, everything, "language_modeling", floor, seed=(3, 1)
    )

    assert counts["searches"] == 2
    assert repr([(c.key, c.approved, c.reason, c.harm) for c in sampled]) == repr(
        [(c.key, c.approved, c.reason, c.harm) for c in full]
    )


def test_the_window_sample_is_drawn_per_round_for_language_models_only() -> None:
    from decentralml.judging.checks import window_sample

    first = window_sample(200, "language_modeling", 16, (3, 1))
    assert first is not None
    assert len(first) == 16
    assert len(set(first.tolist())) == 16
    assert list(first) == sorted(first)
    assert first.min() >= 0
    assert first.max() < 200
    same = window_sample(200, "language_modeling", 16, (3, 1))
    assert same is not None
    assert np.array_equal(first, same)  # every member's
    again = window_sample(200, "language_modeling", 16, (3, 2))
    assert again is not None
    assert not np.array_equal(first, again)
    assert window_sample(200, "classification", 16, (3, 1)) is None
    assert window_sample(200, "language_modeling", None, (3, 1)) is None
    assert window_sample(31, "language_modeling", 16, (3, 1)) is None  # too few to sample


def test_the_reference_trained_while_the_global_model_is_scored_is_the_one_trained_alone(
    tmp_path: Path,
) -> None:
    # A transformer with dropout, which draws from torch's global generator while it trains: the
    # referee's own update and the global model's scores, computed at once, are the bytes and
    # values computed one after the other.
    from decentralml.lm.corpus import stdlib_corpus, windows
    from decentralml.lm.tokenizer import byte_tokenizer, encode_documents
    from decentralml.lm.transformer import TransformerSpec

    sizes = TransformerSpec(vocab_size=257, context=64, layers=2, heads=2, width=32, dropout=0.2)
    spec = ModelSpec(architecture="transformer", input_shape=[64], classes=257, transformer=sizes)
    ids = encode_documents(byte_tokenizer(), list(stdlib_corpus(["json"]).values()))
    found = windows(ids, 64)[:60]
    validation = Split(found, found[:, -1].copy())
    manifest = TaskManifest(
        name="lm",
        model=spec,
        initial_weights=ContentRef(cid="twin", sha256="0x" + "0" * 64),
        data=DataSpec(dataset="python-stdlib", parts=2),
        training=TrainSpec(tokens_per_round=16384, batch_size=8, learning_rate=3e-3),
    )
    referee = Referee(ChainTwin(), StoreTwin(), FERDIE, validation, "language_modeling", state_dir=tmp_path)
    start = weights_of(build(spec, 0))

    with deterministic(referee.threads):
        together, scores = referee._reference_and_scores(manifest, start, tmp_path, 2)
        together_bytes = together.path.read_bytes()
        alone = referee._reference(manifest, start, tmp_path, 2)
        model = build(spec)
        load_weights(model, start)
        alone_scores = score(model, validation, "language_modeling")

    assert together_bytes == alone.path.read_bytes()
    assert scores.metrics == alone_scores
    assert together_bytes != codec.encode(start)  # it trained


def _round_on_twins(
    spool: Path, sent: list[bytes], validation: Split, on_chain: list[bytes]
) -> tuple[Referee, list[Received]]:
    """A referee on fresh twins for round 2 of task 1, where worker i put `on_chain[i]` on chain
    and sent `sent[i]` (50 examples each), spooled to `spool`."""
    chain, store = ChainTwin(), StoreTwin()
    spool.mkdir()
    received = []
    for i, (data, claimed) in enumerate(zip(sent, on_chain, strict=True)):
        stored = store.put(claimed)
        chain.send_result(1, 2, f"w{i}", stored.cid, stored.sha256)
        received.append(Received.spool(spool, f"w{i}", data, 50))
    return Referee(chain, store, FERDIE, validation, state_dir=spool), received


@pytest.mark.parametrize("min_cosine", [-0.1, None])
def test_a_round_judged_with_what_was_prepared_while_collecting_is_the_round_judged_without(
    tmp_path: Path, min_cosine: float | None
) -> None:
    # The same skewed round (one update turned against it) judged by two referees on their own
    # twins: one prepared the round (the global model's scores and, with the reference check on,
    # its own update) before the updates arrived, the other found them while judging.
    weights, files, validation = _skewed_round(tmp_path, rounds_before=1)
    turned = {n: weights[n] - 4.0 * (files[0].weights()[n] - weights[n]) for n in weights}
    sent = [codec.encode(turned, 50), *(f.path.read_bytes() for f in files[1:6])]
    manifest = TaskManifest(
        name="prepared",
        model=SPEC,
        initial_weights=ContentRef(cid="twin", sha256="0x" + "0" * 64),
        data=DataSpec(parts=10, alpha=0.1, seed=3),
        validation=ValidationPolicy(min_cosine=min_cosine),
    )
    outcomes = []
    for prepare in (True, False):
        spool = tmp_path / f"spool-{prepare}"
        referee, received = _round_on_twins(spool, sent, validation, sent)
        prepared = referee.prepare(manifest, weights, spool, 2) if prepare else None
        if prepared is not None:
            assert (prepared.reference is None) == (min_cosine is None)
        outcome, new_weights = referee.judge(1, 2, manifest, weights, received, spool, prepared=prepared)
        outcomes.append((outcome, new_weights))
        assert not list(spool.glob("reference-update*"))  # the referee's own update is not left behind

    (prepared_outcome, prepared_weights), (outcome, new_weights) = outcomes
    assert prepared_outcome.model_hash == outcome.model_hash
    assert repr(prepared_outcome.checks) == repr(outcome.checks)
    assert prepared_outcome.baseline == outcome.baseline
    assert prepared_outcome.validation_loss == outcome.validation_loss
    assert 1 in outcome.rejected  # the turned update (result 1) is refused both ways
    assert all(np.array_equal(prepared_weights[n], new_weights[n]) for n in new_weights)


def test_updates_opened_as_they_arrived_are_judged_as_those_opened_while_judging(tmp_path: Path) -> None:
    # The same round judged twice: once with every update hashed and opened as it arrived
    # (`open_early`), once opening them while judging. One worker's result on chain names other
    # bytes than it sent: refused as HashMismatch both ways, though it opened early.
    weights, files, validation = _skewed_round(tmp_path, rounds_before=1)
    base_sha = sha256_hex(codec.encode(weights))
    sent = [codec.encode_delta(f.weights(), weights, base_sha) for f in files[:5]]  # rebuilt on opening
    manifest = TaskManifest(
        name="early",
        model=SPEC,
        initial_weights=ContentRef(cid="twin", sha256="0x" + "0" * 64),
        data=DataSpec(parts=10, alpha=0.1, seed=3),
        update_encoding="float16_delta",
    )
    outcomes = []
    for early in (True, False):
        spool = tmp_path / f"spool-{early}"
        on_chain = [
            data if i != 3 else data + b"!" for i, data in enumerate(sent)
        ]  # worker 3 sends other bytes
        referee, received = _round_on_twins(spool, sent, validation, on_chain)
        global_sha = sha_once(weights)
        opened = (
            {item.path: referee.open_early(1, 2, manifest, weights, global_sha, item) for item in received}
            if early
            else None
        )
        if opened is not None:
            assert all(not isinstance(o.update, str) for o in opened.values())  # all opened early
            assert all(path.exists() for o in opened.values() for path in o.made)
        outcome, new_weights = referee.judge(
            1, 2, manifest, weights, received, spool, opened=opened, global_sha=global_sha
        )
        outcomes.append((outcome, new_weights))
        assert not list(spool.glob("*.f32"))  # the rebuilt updates are not left behind

    (early_outcome, early_weights), (outcome, new_weights) = outcomes
    assert early_outcome.rejected == outcome.rejected == {4: "HashMismatch"}
    assert early_outcome.model_hash == outcome.model_hash
    assert repr(early_outcome.checks) == repr(outcome.checks)
    assert all(np.array_equal(early_weights[n], new_weights[n]) for n in new_weights)


def test_the_sampled_search_holds_a_few_points_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Five updates judged two passes at a time: the mean and its leave-outs, then the contribution
    # scores' coalitions, are measured in one stream, never more than two at once (an LM round of
    # many workers would hold one model copy each), and nothing is measured twice.
    spec, validation, start, updates = _lm_round(tmp_path)
    lock = threading.Lock()
    running, most, measured = [0], [0], [0]
    windows, losses = Evaluator._windows, Evaluator.losses
    later: list[int] = []

    def recorded(self: Evaluator, model: Any, flat: Any) -> Any:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            measured[0] += 1
        try:
            return windows(self, model, flat)
        finally:
            with lock:
                running[0] -= 1

    def afterwards(self: Evaluator, flats: Any) -> Any:
        later.append(len(flats))
        return losses(self, flats)

    monkeypatch.setattr(Evaluator, "_windows", recorded)
    monkeypatch.setattr(Evaluator, "losses", afterwards)
    _, checks = check_updates(
        start, updates, spec, validation, ValidationPolicy(), "language_modeling", seed=(3, 1), parallel=2
    )

    # The mean, 4 leave-outs (the outlier is out before the search) and the 4 players' 15
    # coalitions, the whole one being the mean (they weigh the same): 19 points, at most two at a
    # time; the scores then need no pass of their own.
    assert measured[0] == 19
    assert most[0] == 2
    assert later == []
    assert sum(c.approved for c in checks) == 4
    assert all(np.isfinite(c.contribution) for c in checks if c.approved)


def test_a_sampled_search_that_cannot_clear_stops_measuring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The floor below the mean's loss: the sample cannot clear the round at its first point, and
    # the points queued behind it (the leave-outs and the coalitions) are not measured.
    spec, validation, start, updates = _lm_round(tmp_path)
    sampled: list[int] = []
    windows = Evaluator._windows

    def recorded(self: Evaluator, model: Any, flat: Any) -> Any:
        sampled.append(len(self.validation.x))
        if len(self.validation.x) < len(validation.x):
            time.sleep(0.2)  # a pass as long as the demo model's: the stream's reader keeps up
        return windows(self, model, flat)

    monkeypatch.setattr(Evaluator, "_windows", recorded)
    policy = ValidationPolicy()
    check_updates(
        start, updates, spec, validation, policy, "language_modeling", 1e-3, seed=(3, 1), parallel=2
    )

    before_all = sampled[: sampled.index(len(validation.x))]  # then the search runs on every window
    assert set(before_all) == {policy.sample_windows}
    # The mean and the leave-out started beside it, and at most one more each freed thread took
    # up before the stream was closed: not the other 15 points queued.
    assert 1 <= len(before_all) <= 4


def _noisy_round(tmp_path: Path, chain: ChainTwin, store: StoreTwin) -> tuple[codec.Weights, list[Received]]:
    """A global model and three updates near it, each sent as a result of round 1 of task 1."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    weights = weights_of(build(SPEC, 3))
    rng = np.random.default_rng(5)
    received = []
    for i in range(3):
        update = {k: (v + rng.normal(0, 0.01, v.shape)).astype(np.float32) for k, v in weights.items()}
        data = codec.encode(update)
        stored = store.put(data)
        chain.send_result(1, 1, f"w{i}", stored.cid, stored.sha256)
        received.append(Received.spool(tmp_path, f"w{i}", data, 100))
    return weights, received


BESIDE_MANIFEST = TaskManifest(
    name="beside",
    model=SPEC,
    initial_weights=ContentRef(cid="twin", sha256="0x" + "0" * 64),
    data=DataSpec(parts=3, alpha=1.0, seed=3),
)


def test_the_callers_work_beside_the_commit_runs_while_it_commits_on_the_new_model(tmp_path: Path) -> None:
    # Prepare: the chain twin's batch (the commit) waits until the caller's work has started, and
    # that work waits until the batch is under way: a judge that ran the work before the commit or
    # after it, not beside it, would stall one of them and fail.
    chain, store = ChainTwin(), StoreTwin()
    weights, received = _noisy_round(tmp_path, chain, store)
    started, entered = threading.Event(), threading.Event()
    model: list[codec.Weights] = []
    threads: list[str] = []
    commit = chain.batch

    def batch_once_beside_started(calls: Any, signer: object) -> Any:
        entered.set()
        if not started.wait(20):
            raise TimeoutError("the caller's work did not start while the round was committed")
        return commit(calls, signer)

    chain.batch = batch_once_beside_started  # type: ignore[method-assign]

    def beside(new: codec.Weights) -> None:
        started.set()
        if not entered.wait(20):
            raise TimeoutError("the round was not being committed while the caller's work ran")
        model.append(new)
        threads.append(threading.current_thread().name)

    # Execute
    referee = Referee(chain, store, FERDIE, digits(3).validation, state_dir=tmp_path)
    outcome, new_weights = referee.judge(
        1, 1, BESIDE_MANIFEST, weights, received, tmp_path, score_new=False, beside=beside
    )

    # Assert: it ran once, on another thread, on the model the round committed, and the round
    # committed.
    assert len(model) == 1
    assert model[0] is new_weights
    assert threads[0].startswith("new-model")
    assert outcome.model_id is not None
    assert chain.round_model(1, 1) == outcome.model_id
    assert "beside" in outcome.phases
    assert "commit" in outcome.phases


def test_an_error_beside_the_commit_is_raised_after_the_commit_and_never_hides_a_failed_one(
    tmp_path: Path,
) -> None:
    def broken(_: codec.Weights) -> None:
        raise RuntimeError("the test report failed")

    # The caller's work fails: the round is committed all the same, then its error is raised.
    chain, store = ChainTwin(), StoreTwin()
    weights, received = _noisy_round(tmp_path / "a", chain, store)
    referee = Referee(chain, store, FERDIE, digits(3).validation, state_dir=tmp_path / "a")
    with pytest.raises(RuntimeError, match="the test report failed"):
        referee.judge(
            1, 1, BESIDE_MANIFEST, weights, received, tmp_path / "a", score_new=False, beside=broken
        )
    assert chain.round_model(1, 1) is not None

    # Both fail: the caller hears the commit's error, not the report's.
    chain, store = ChainTwin(), StoreTwin()
    weights, received = _noisy_round(tmp_path / "b", chain, store)

    def refused(calls: Any, signer: object) -> Any:
        raise ConnectionError("the node went away")

    chain.batch = refused  # type: ignore[method-assign]
    referee = Referee(chain, store, FERDIE, digits(3).validation, state_dir=tmp_path / "b")
    with pytest.raises(ConnectionError, match="the node went away"):
        referee.judge(
            1, 1, BESIDE_MANIFEST, weights, received, tmp_path / "b", score_new=False, beside=broken
        )
    assert chain.round_model(1, 1) is None
