"""The aggregation rules: each against a plain numpy version on small inputs read in many slices,
their refusals, their robustness to the attacks they are meant for, and their memory bound."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import ValidationError

from decentralml import codec
from decentralml.judging import aggregation, rules
from decentralml.judging.aggregation import UpdateFile, slice_length
from decentralml.judging.rules import RULES, Aggregate, RuleError, RuleName, RuleParams, RuleState, aggregate

Vector = NDArray[np.float64]
LAYOUT: tuple[tuple[str, tuple[int, ...]], ...] = (("w1", (10, 12)), ("b1", (30,)), ("w2", (5, 30)))
SIZE = 300
BUDGET = 256  # bytes: with MIN_SLICE lowered, every rule reads a few parameters at a time


@pytest.fixture(autouse=True)
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregation, "MIN_SLICE", 4)


def as_weights(
    flat: NDArray[np.floating[Any]], layout: tuple[tuple[str, tuple[int, ...]], ...] = LAYOUT
) -> codec.Weights:
    out: codec.Weights = {}
    at = 0
    for name, shape in layout:
        count = int(np.prod(shape))
        out[name] = flat[at : at + count].astype(np.float32).reshape(shape)
        at += count
    return out


def flat(weights: codec.Weights) -> Vector:
    return np.concatenate([array.ravel() for array in weights.values()]).astype(np.float64)


def spool(directory: Path, vectors: list[Vector], counts: list[float] | None = None) -> list[UpdateFile]:
    counts = counts or [1.0] * len(vectors)
    return [
        UpdateFile.spool(directory, f"u{i}", codec.encode(as_weights(v)), n)
        for i, (v, n) in enumerate(zip(vectors, counts, strict=True))
    ]


def spool_reference(directory: Path, vector: Vector) -> UpdateFile:
    return UpdateFile.spool(directory, "reference", codec.encode(as_weights(vector)), 1.0)


def honest(n: int, seed: int = 0, spread: float = 0.1) -> tuple[Vector, list[Vector]]:
    """A global model and n updates near it that share a direction."""
    rng = np.random.default_rng(seed)
    origin = rng.normal(size=SIZE)
    direction = rng.normal(size=SIZE)
    return origin, [origin + direction * 0.1 + rng.normal(scale=spread * 0.1, size=SIZE) for _ in range(n)]


def stored(vectors: list[Vector]) -> NDArray[np.float64]:
    """The vectors as the spool files hold them (float32)."""
    return np.array([v.astype(np.float32) for v in vectors], dtype=np.float64)


# Plain numpy versions, each holding every update at once.


def ref_fedavg(x: NDArray[np.float64], counts: list[float]) -> Vector:
    c = np.array(counts)
    return np.asarray((c[:, None] * x).sum(axis=0) / c.sum())


def ref_trimmed_mean(x: NDArray[np.float64], trim: float) -> Vector:
    cut = int(trim * len(x))
    return np.asarray(np.sort(x, axis=0)[cut : len(x) - cut].mean(axis=0))


def ref_scores(x: NDArray[np.float64], f: int) -> Vector:
    n = len(x)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    k = min(max(n - f - 2, 1), n - 1)
    if k <= 0:
        return np.zeros(n)
    return np.array([np.sort(np.delete(d[i], i))[:k].sum() for i in range(n)])


def ref_multikrum(x: NDArray[np.float64], f: int, m: int) -> tuple[Vector, list[int]]:
    chosen = sorted(np.argsort(ref_scores(x, f), kind="stable")[:m].tolist())
    return np.asarray(x[chosen].mean(axis=0)), chosen


def ref_bulyan(x: NDArray[np.float64], f: int) -> Vector:
    n = len(x)
    remaining = list(range(n))
    chosen: list[int] = []
    while len(chosen) < n - 2 * f:
        best = remaining[int(np.argmin(ref_scores(x[remaining], f)))]
        chosen.append(best)
        remaining.remove(best)
    s = x[sorted(chosen)]
    beta = len(s) - 2 * f
    med = np.median(s, axis=0)
    out = np.empty(s.shape[1])
    for j in range(s.shape[1]):
        nearest = np.argsort(np.abs(s[:, j] - med[j]), kind="stable")[:beta]
        out[j] = s[nearest, j].mean()
    return out


def clip(z: Vector, tau: float) -> Vector:
    norm = float(np.linalg.norm(z))
    return z * min(1.0, tau / norm) if norm > 0 else z


def ref_centered_clipping(
    x: NDArray[np.float64], origin: Vector, centre: Vector, tau: float, rounds: int
) -> Vector:
    deltas = x - origin
    v = centre.copy()
    for _ in range(rounds):
        v = v + np.mean([clip(d - v, tau) for d in deltas], axis=0)
    return origin + v


def ref_trust(x: NDArray[np.float64], origin: Vector, reference: Vector) -> tuple[Vector, Vector]:
    deltas = x - origin
    own = reference - origin
    cos = deltas @ own / (np.linalg.norm(deltas, axis=1) * np.linalg.norm(own))
    trust = np.maximum(cos, 0.0)
    rescaled = deltas * (np.linalg.norm(own) / np.linalg.norm(deltas, axis=1))[:, None]
    return origin + (trust[:, None] * rescaled).sum(axis=0) / trust.sum(), trust


def test_the_table_has_every_rule_and_params_refuse_unknown_fields() -> None:
    assert set(RULES) == set(get_args(RuleName))
    assert set(RULES) >= {
        "fedavg",
        "trimmed_mean",
        "median",
        "multikrum",
        "bulyan",
        "centered_clipping",
        "trust",
    }
    assert all(info.name == name and info.summary for name, info in RULES.items())
    assert RULES["bulyan"].min_updates(2) == 11
    assert RULES["multikrum"].min_updates(2) == 7
    assert RULES["trust"].needs_reference
    assert not RULES["fedavg"].needs_reference
    with pytest.raises(ValidationError, match="extra"):
        RuleParams(trimm=0.1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        RuleParams(trim=0.5)


def test_the_package_exports_what_callers_need() -> None:
    assert set(rules.__all__) == {
        "RULES",
        "Aggregate",
        "RuleError",
        "RuleInfo",
        "RuleName",
        "RuleParams",
        "RuleState",
        "aggregate",
    }
    assert all(hasattr(rules, name) for name in rules.__all__)


def test_small_inputs_are_read_in_many_slices() -> None:
    assert slice_length(7, SIZE, BUDGET) < SIZE // 8
    assert slice_length(5, SIZE, BUDGET, share=8) < SIZE // 8


@pytest.mark.parametrize("trim", [0.0, 0.2, 0.34])
def test_coordinate_rules_match_numpy(tmp_path: Path, trim: float) -> None:
    rng = np.random.default_rng(3)
    vectors = [rng.normal(size=SIZE) for _ in range(7)]
    counts = [3.0, 1.0, 7.0, 2.0, 5.0, 1.0, 4.0]
    files = spool(tmp_path, vectors, counts)
    x = stored(vectors)

    averaged = aggregate("fedavg", files, RuleParams(), budget=BUDGET)
    trimmed = aggregate("trimmed_mean", files, RuleParams(trim=trim), budget=BUDGET)
    median = aggregate("median", files, RuleParams(), budget=BUDGET)

    np.testing.assert_allclose(flat(averaged.weights), ref_fedavg(x, counts), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(averaged.contributions, np.array(counts) / sum(counts))
    np.testing.assert_allclose(flat(trimmed.weights), ref_trimmed_mean(x, trim), rtol=1e-5, atol=1e-6)
    cut = int(trim * 7)
    ranks = np.argsort(np.argsort(x, axis=0), axis=0)
    kept = ((ranks >= cut) & (ranks < 7 - cut)).mean(axis=1)
    np.testing.assert_allclose(trimmed.contributions, kept, rtol=1e-9)
    np.testing.assert_allclose(flat(median.weights), np.median(x, axis=0), rtol=1e-6)
    np.testing.assert_allclose(median.contributions, (ranks == 3).mean(axis=1), rtol=1e-9)


@pytest.mark.parametrize(("n", "f", "m"), [(7, None, None), (9, 2, 3), (5, 1, 5)])
def test_multikrum_matches_numpy(tmp_path: Path, n: int, f: int | None, m: int | None) -> None:
    _, vectors = honest(n, seed=n, spread=1.0)
    files = spool(tmp_path, vectors)
    x = stored(vectors)
    used_f = (n - 3) // 2 if f is None else f

    result = aggregate("multikrum", files, RuleParams(f=f, multikrum_m=m), budget=BUDGET)

    expected, chosen = ref_multikrum(x, used_f, n - used_f if m is None else m)
    np.testing.assert_allclose(flat(result.weights), expected, rtol=1e-5, atol=1e-6)
    assert result.contributions == [1.0 if i in chosen else 0.0 for i in range(n)]


@pytest.mark.parametrize(("n", "f"), [(7, None), (11, 2), (5, 0)])
def test_bulyan_matches_numpy(tmp_path: Path, n: int, f: int | None) -> None:
    _, vectors = honest(n, seed=10 + n, spread=1.0)
    files = spool(tmp_path, vectors)
    x = stored(vectors)

    result = aggregate("bulyan", files, RuleParams(f=f), budget=BUDGET)

    used_f = (n - 3) // 4 if f is None else f
    np.testing.assert_allclose(flat(result.weights), ref_bulyan(x, used_f), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sum(result.contributions), n - 4 * used_f, rtol=1e-6)


def test_bulyan_refuses_fewer_than_4f_plus_3_updates(tmp_path: Path) -> None:
    _, vectors = honest(7)
    files = spool(tmp_path, vectors)

    with pytest.raises(RuleError, match=r"^bulyan needs at least 4f\+3 = 11 updates for f=2; got 7$"):
        aggregate("bulyan", files, RuleParams(f=2), budget=BUDGET)
    with pytest.raises(RuleError, match=r"multikrum needs at least 2f\+3 = 9 updates for f=3; got 7"):
        aggregate("multikrum", files, RuleParams(f=3), budget=BUDGET)


def test_multikrum_drops_an_obvious_outlier(tmp_path: Path) -> None:
    origin, vectors = honest(6)
    attacker = origin - 20.0 * (vectors[0] - origin)
    files = spool(tmp_path, [*vectors, attacker])

    result = aggregate("multikrum", files, RuleParams(f=1), budget=BUDGET)

    assert result.contributions[-1] == 0.0
    assert sum(result.contributions) == 6
    np.testing.assert_allclose(flat(result.weights), stored(vectors).mean(axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("iterations", [1, 3])
def test_centered_clipping_matches_numpy(tmp_path: Path, iterations: int) -> None:
    origin, vectors = honest(6, spread=2.0)
    files = spool(tmp_path, vectors)
    x = stored(vectors)
    g = stored([origin])[0]
    tau = float(np.median(np.linalg.norm(x - g, axis=1)))

    result = aggregate(
        "centered_clipping",
        files,
        RuleParams(iterations=iterations),
        global_weights=as_weights(origin),
        budget=BUDGET,
    )

    expected = ref_centered_clipping(x, g, np.zeros(SIZE), tau, iterations)
    np.testing.assert_allclose(flat(result.weights), expected, rtol=1e-5, atol=1e-5)


def test_centered_clipping_bounds_a_scaled_update_by_tau(tmp_path: Path) -> None:
    origin, vectors = honest(5)
    attacker = origin + 100.0 * (vectors[0] - origin)
    files = spool(tmp_path, [*vectors, attacker])
    g = stored([origin])[0]
    x = stored(vectors)
    tau = 0.5 * float(np.median(np.linalg.norm(x - g, axis=1)))

    result = aggregate(
        "centered_clipping", files, RuleParams(clip_tau=tau), global_weights=as_weights(origin), budget=BUDGET
    )

    honest_part = np.sum([clip(d, tau) for d in x - g], axis=0) / 6
    drift = float(np.linalg.norm(flat(result.weights) - g - honest_part))
    assert drift <= tau / 6 * (1 + 1e-4)
    assert drift > 0.9 * tau / 6, "the attacker still counts, clipped to tau"
    assert result.contributions[-1] < 0.01
    assert float(np.linalg.norm(flat(result.weights) - g)) < tau * (1 + 1e-4)


def test_centered_clipping_keeps_its_momentum_between_rounds(tmp_path: Path) -> None:
    origin, vectors = honest(5, spread=2.0)
    files = spool(tmp_path, vectors)
    x = stored(vectors)
    g = stored([origin])[0]
    state = RuleState.load(tmp_path / "task.state")
    params = RuleParams(clip_tau=0.05, momentum=0.5)
    assert state.momentum() is None

    first = aggregate(
        "centered_clipping", files, params, state=state, global_weights=as_weights(origin), budget=BUDGET
    )
    kept = state.momentum_weights()
    copy = state.save(tmp_path / "copy.state")
    second = aggregate(
        "centered_clipping", files, params, state=state, global_weights=as_weights(origin), budget=BUDGET
    )

    v1 = ref_centered_clipping(x, g, np.zeros(SIZE), 0.05, 1) - g
    assert kept is not None
    np.testing.assert_allclose(flat(kept), 0.5 * v1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(flat(first.weights), g + v1, rtol=1e-5, atol=1e-6)
    v2 = ref_centered_clipping(x, g, 0.5 * v1, 0.05, 1) - g
    np.testing.assert_allclose(flat(second.weights), g + v2, rtol=1e-5, atol=1e-5)
    after = state.momentum_weights()
    assert after is not None
    np.testing.assert_allclose(flat(after), 0.5 * (0.5 * v1) + 0.5 * v2, rtol=1e-5, atol=1e-6)
    copied = RuleState.load(copy.path).momentum_weights()
    assert copied is not None
    np.testing.assert_allclose(flat(copied), flat(kept))
    with pytest.raises(RuleError, match="global model"):
        aggregate("centered_clipping", files, params, state=state, budget=BUDGET)


def test_trust_matches_numpy(tmp_path: Path) -> None:
    origin, vectors = honest(5, spread=5.0)
    reference = vectors.pop()
    files = spool(tmp_path, vectors)
    ref_file = spool_reference(tmp_path, reference)

    result = aggregate(
        "trust", files, RuleParams(), reference=ref_file, global_weights=as_weights(origin), budget=BUDGET
    )

    expected, trust = ref_trust(stored(vectors), stored([origin])[0], stored([reference])[0])
    np.testing.assert_allclose(flat(result.weights), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.contributions, trust, rtol=1e-5, atol=1e-6)


def test_trust_ignores_opposed_updates_and_rescales_norms(tmp_path: Path) -> None:
    origin, vectors = honest(4)
    reference = vectors.pop()
    flipped = origin - (vectors[0] - origin)
    opposed_and_scaled = origin - 50.0 * (reference - origin) + 0.1 * (vectors[1] - origin)
    scaled_honest = origin + 10.0 * (vectors[1] - origin)
    ref_file = spool_reference(tmp_path, reference)
    g = as_weights(origin)

    attacked = aggregate(
        "trust",
        spool(tmp_path, [*vectors, flipped, opposed_and_scaled]),
        RuleParams(),
        ref_file,
        None,
        g,
        budget=BUDGET,
    )
    clean = aggregate("trust", spool(tmp_path, vectors), RuleParams(), ref_file, None, g, budget=BUDGET)
    scaled = aggregate(
        "trust",
        spool(tmp_path, [vectors[0], scaled_honest, vectors[2]]),
        RuleParams(),
        ref_file,
        None,
        g,
        budget=BUDGET,
    )

    assert attacked.contributions[3:] == [0.0, 0.0]
    assert all(c > 0.5 for c in attacked.contributions[:3])
    np.testing.assert_allclose(flat(attacked.weights), flat(clean.weights), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(flat(scaled.weights), flat(clean.weights), rtol=1e-5, atol=1e-6)
    o = stored([origin])[0]
    norm = float(np.linalg.norm(flat(clean.weights) - o))
    assert norm <= float(np.linalg.norm(stored([reference])[0] - o)) * (1 + 1e-5)


def test_trust_with_no_positive_trust_leaves_the_global_model(tmp_path: Path) -> None:
    origin, vectors = honest(3)
    reference = vectors.pop()
    flipped = [origin - (v - origin) for v in vectors]
    ref_file = spool_reference(tmp_path, reference)

    result = aggregate(
        "trust",
        spool(tmp_path, flipped),
        RuleParams(),
        ref_file,
        global_weights=as_weights(origin),
        budget=BUDGET,
    )

    assert result.contributions == [0.0, 0.0]
    np.testing.assert_array_equal(flat(result.weights), stored([origin])[0])
    with pytest.raises(RuleError, match="reference update"):
        aggregate("trust", spool(tmp_path, flipped), RuleParams(), global_weights=as_weights(origin))


def test_nothing_to_aggregate_and_unknown_rules_are_refused(tmp_path: Path) -> None:
    _, vectors = honest(3)
    files = spool(tmp_path, vectors)
    other = UpdateFile.spool(tmp_path, "other", codec.encode({"x": np.zeros(3, dtype=np.float32)}), 1.0)

    for name in RULES:
        with pytest.raises(RuleError, match="nothing to aggregate"):
            aggregate(name, [], RuleParams())
    with pytest.raises(RuleError, match="unknown aggregation rule 'krum'"):
        aggregate("krum", files, RuleParams())
    with pytest.raises(RuleError, match="different layouts"):
        aggregate("fedavg", [*files, other], RuleParams())


def run_rule(
    name: str, files: list[UpdateFile], origin: Vector, reference: UpdateFile, state: RuleState, budget: int
) -> Aggregate:
    return aggregate(
        name, files, RuleParams(iterations=3), reference, state, as_weights(origin), budget=budget
    )


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_gives_a_contribution_in_unit_interval_per_update(tmp_path: Path, name: str) -> None:
    origin, vectors = honest(12, spread=3.0)
    files = spool(tmp_path, vectors[:-1], [float(i + 1) for i in range(11)])
    ref_file = spool_reference(tmp_path, vectors[-1])

    result = run_rule(name, files, origin, ref_file, RuleState(tmp_path / "state"), BUDGET)

    assert len(result.contributions) == 11
    assert all(isinstance(c, float) and 0.0 <= c <= 1.0 for c in result.contributions)
    assert [(n, a.shape) for n, a in result.weights.items()] == list(LAYOUT)
    assert all(np.isfinite(a).all() for a in result.weights.values())


def old_aggregate(files: list[UpdateFile], rule: str, trim: float) -> codec.Weights:
    """What `decentralml.judging.aggregation.aggregate` computed before the rules moved out of it."""
    x = np.array([f.read(0, f.size) for f in files])
    if rule == "fedavg":
        w = np.array([f.weight for f in files])
        merged = (w / w.sum()).astype(np.float32) @ x
    elif rule == "median":
        merged = np.median(x, axis=0).astype(np.float32)
    else:
        cut = int(trim * len(x))
        merged = np.sort(x, axis=0)[cut : len(x) - cut].mean(axis=0)
    return as_weights(merged.astype(np.float64))


@pytest.mark.parametrize("rule", ["fedavg", "trimmed_mean", "median"])
def test_the_old_entry_point_gives_the_same_results(
    tmp_path: Path, rule: aggregation.Rule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregation, "MIN_SLICE", 1024)  # as it was: one slice here, as in old_aggregate
    rng = np.random.default_rng(9)
    vectors = [rng.normal(size=SIZE) for _ in range(6)]
    files = spool(tmp_path, vectors, [2.0, 1.0, 3.0, 1.0, 8.0, 1.0])

    merged = aggregation.aggregate(files, rule, 0.2)

    expected = old_aggregate(files, rule, 0.2)
    for name, array in expected.items():
        np.testing.assert_array_equal(merged[name], array)


MEMORY_PARAMS = 200_000
MEMORY_UPDATES = 40


@pytest.fixture(scope="module")
def memory_inputs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[UpdateFile], Vector, UpdateFile, Path]:
    directory = tmp_path_factory.mktemp("memory")
    rng = np.random.default_rng(0)
    layout = (("a", (400, 250)), ("b", (1000,)), ("c", (99_000,)))
    origin = rng.normal(size=MEMORY_PARAMS).astype(np.float32)
    files = []
    for i in range(MEMORY_UPDATES + 1):
        update = origin + rng.normal(scale=0.01, size=MEMORY_PARAMS).astype(np.float32)
        files.append(
            UpdateFile.spool(directory, f"u{i}", codec.encode(as_weights(update, layout)), 1.0 + i % 5)
        )
    return files[:-1], origin.astype(np.float64), files[-1], directory


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_stays_under_twice_one_model(
    memory_inputs: tuple[list[UpdateFile], Vector, UpdateFile, Path],
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(aggregation, "MIN_SLICE", 1024)
    files, origin, reference, directory = memory_inputs
    layout = files[0].layout
    global_weights = as_weights(origin, layout)
    state = RuleState(directory / f"{name}.state")
    model_bytes = MEMORY_PARAMS * codec.DTYPE.itemsize
    # Untraced first: numpy imports some modules on first use (np.median loads numpy.ma).
    aggregate(name, files, RuleParams(), reference, RuleState(directory / f"{name}.warm"), global_weights)
    peaks = []
    for _ in range(2):  # the first round with a fresh state, then one that reads the kept momentum
        tracemalloc.start()
        tracemalloc.reset_peak()
        result = aggregate(name, files, RuleParams(iterations=3), reference, state, global_weights)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        del result
    peak = max(peaks)

    with capsys.disabled():
        print(f"\n{name}: peak {peak / model_bytes:.2f}x one model")
    assert peak < 2 * model_bytes, f"{name} peaked at {peak / model_bytes:.2f}x one model"
