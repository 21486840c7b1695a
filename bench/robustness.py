"""Colluding attackers against every aggregation rule, through the real referee.

10 workers hold Dirichlet(alpha) shares of the digits training pool; 4 of them (40%) attack. Each
round every honest worker trains the global model on its share (DecentralML's own `train`), the
attackers build their updates (they see the honest updates: the omniscient setting ALIE, IPM and
Min-Max assume), every update goes "on chain" and to the store, and the real `Referee.judge`
checks, aggregates and commits, with the chain and the content store as in-process twins
(`support.twins`). Unfiltered FedAvg (no checks, no caps: what a coordinator without a referee
does) is the baseline. The global model is scored on the digits test set after every round.

Attacks (delta = update - global model; mu and sigma the honest deltas' mean and per-coordinate
standard deviation):

    none             every worker honest (the clean run)
    absent           the attackers send nothing: the honest workers alone, what a perfect referee
                     can reach (at alpha=0.1 the attackers' 40% of the data holds whole classes)
    sign_flip        -delta of its own training
    scaling          10 x delta
    gaussian         N(0, sigma) per coordinate
    label_flip       trains on labels y -> 9 - y
    alie             mu - z sigma, z from n and f (Baruch et al. 2019)
    ipm_0.5, ipm_10  -eps mu (Xie et al. 2020)
    min_max          mu + gamma p, p = -sigma/|sigma|, gamma the largest keeping it within the honest
                     updates' largest pairwise distance (Shejwalkar and Houmansadr 2021)
    adaptive         knows the rule and its thresholds: against the checks, -mu at 0.95 of the
                     distance limit, shrunk until (on its own data) leaving one attacker out gains
                     less than the harm margin and the mean stays under the anchored floor; against
                     the trust rule, the sign-flip of its own delta orthogonal to mu plus just enough
                     mu for a cosine of +0.05 with mu
    count_inflation  claims 100x its examples and sends Gaussian noise
    threshold_aware  reads the policy and stays at 0.9x of every threshold: -mu at 0.9 of the
                     distance limit (shrunk as `adaptive` against the harm margin and the floor),
                     and its colluders' copies noised down to 0.9 x `copy_cosine` with each other

Gaming workers (they attack the payout, not the model):

    free_rider       sends the global model back with a little noise (no training)
    lazy             one SGD step on one batch of its share
    lazy_scaled      the same step stretched to the honest updates' median length, so it looks
                     like as much work as theirs (what a lazy worker that knows the pay rule does)
    copycat          copies an honest worker's update, with a little noise
    sybil            one trainer behind the 4 accounts: the first trains honestly, the other three
                     send its update with a little noise

A targeted attack (a hidden behaviour, not lower accuracy):

    backdoor         trains on its share plus a copy of it with the trigger (the bottom-right 2x2
                     pixels set to white) labelled 0; the run reports the share of triggered test
                     digits that are not 0 and are classified 0 (its success rate)
    backdoor_wide    the same with a trigger made for the referee's search: 8 pixels (the bottom
                     two rows' right half) at half intensity, so no 4 of them at the data's own
                     values need answer it alone

Reported per (alpha, rule, attack), over seeds: the final test accuracy, its gap to the same
rule's clean run, the share of attacker updates accepted, the share of honest updates rejected,
the attackers' pay per update as a share of the honest workers' (each paid the verdict's score;
for the sybil ring, the three accounts beyond the first), and the backdoor's success rate.

    python -m bench.robustness [--seeds 3] [--rounds 20] [--jobs 2] [--rules trust fedavg | all] [--quick]

By default it runs the default policy's rule (fedavg behind the checks) and unfiltered FedAvg on
every attack: 240 runs, about an hour on 2 cores (a judged run of 20 rounds takes about a minute).
`--rules all` runs every rule: about 7 hours.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from coordinator.federation.referee import Received, Referee
from decentralml import codec
from decentralml.content import sha256_hex
from decentralml.data import DataSpec, Split, demo_splits, partition
from decentralml.judging import rules
from decentralml.judging.aggregation import UpdateFile
from decentralml.judging.rules import RULES, RuleParams
from decentralml.manifest import AggregationSpec, ContentRef, TaskManifest, ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, score, train
from decentralml_bindings.dev import FERDIE
from support.backdoor import TARGET, TRIGGER  # the bottom-right 2x2 pixels of the 8x8 digit, to class 0
from support.twins import ChainTwin, StoreTwin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORKERS = 10
ATTACKERS = 4
MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])
TRAINING = TrainSpec(epochs=5, batch_size=32, learning_rate=0.05)
ATTACKS = (
    "none",
    "absent",
    "sign_flip",
    "scaling",
    "gaussian",
    "label_flip",
    "alie",
    "ipm_0.5",
    "ipm_10",
    "min_max",
    "adaptive",
    "count_inflation",
    "threshold_aware",
    "free_rider",
    "lazy",
    "lazy_scaled",
    "copycat",
    "sybil",
    "backdoor",
    "backdoor_wide",
)
BACKDOORS = ("backdoor", "backdoor_wide")
WIDE_TRIGGER = ([52, 53, 54, 55, 60, 61, 62, 63], 0.5)  # the bottom two rows' right half, half grey
UNFILTERED = "fedavg_unfiltered"
DEFAULT_RULE = AggregationSpec().rule
Flat = NDArray[np.float64]


def flatten(weights: codec.Weights) -> Flat:
    return np.concatenate([weights[name].astype(np.float64).ravel() for name in weights])


def unflatten_like(flat: Flat, like: codec.Weights) -> codec.Weights:
    out, at = {}, 0
    for name, array in like.items():
        out[name] = flat[at : at + array.size].reshape(array.shape).astype(np.float32)
        at += array.size
    return out


@dataclass(frozen=True)
class Scene:
    """What an attacker sees in a round: the global model, the honest deltas, its own share."""

    rule: str
    policy: ValidationPolicy
    start: codec.Weights
    honest: list[Flat]
    own_delta: Flat
    share: Split
    rng: np.random.Generator


def _mu_sigma(scene: Scene) -> tuple[Flat, Flat]:
    stack = np.stack(scene.honest)
    return stack.mean(axis=0), stack.std(axis=0)


def _own_metrics(scene: Scene, delta: Flat) -> tuple[float, float]:
    model = build(MODEL)
    load_weights(model, unflatten_like(flatten(scene.start) + delta, scene.start))
    found = score(model, scene.share)
    return found["accuracy"], found["loss"]


def _alie(scene: Scene) -> Flat:
    mu, sigma = _mu_sigma(scene)
    s = WORKERS // 2 + 1 - ATTACKERS
    z = NormalDist().inv_cdf((WORKERS - s) / WORKERS)
    return mu - z * sigma


def _min_max(scene: Scene) -> Flat:
    mu, sigma = _mu_sigma(scene)
    p = -sigma / max(float(np.linalg.norm(sigma)), 1e-12)
    stack = np.stack(scene.honest)
    bound = max(float(np.linalg.norm(a - b)) for a in stack for b in stack)
    low, high = 0.0, 10.0 * max(bound, 1e-6)
    for _ in range(30):
        gamma = (low + high) / 2
        if float(np.max(np.linalg.norm(stack - (mu + gamma * p), axis=1))) <= bound:
            low = gamma
        else:
            high = gamma
    return mu + low * p


def _adaptive(scene: Scene) -> Flat:
    mu, _ = _mu_sigma(scene)
    if RULES[scene.rule].needs_reference if scene.rule in RULES else False:
        # Against trust: the harmful part orthogonal to mu, plus just enough mu for cos = +0.05.
        unit = mu / max(float(np.linalg.norm(mu)), 1e-12)
        harm = -scene.own_delta
        orthogonal = harm - float(harm @ unit) * unit
        c = 0.05
        along = c * float(np.linalg.norm(orthogonal)) / np.sqrt(1 - c * c)
        delta = orthogonal + along * unit
        size = float(np.median([np.linalg.norm(h) for h in scene.honest]))
        scaled: Flat = delta * size / max(float(np.linalg.norm(delta)), 1e-12)
        return scaled
    # Against the distance and contribution checks: -mu at 0.95 of the distance limit, shrunk until
    # the attacker's own data says leaving the attackers out would gain less than 0.9 max_harm and
    # the round's mean stays under the anchored floor (its own data standing in for validation).
    honest_distances = sorted(float(np.linalg.norm(h)) for h in scene.honest)
    limit = scene.policy.norm_factor * float(np.median(honest_distances))
    direction = -mu / max(float(np.linalg.norm(mu)), 1e-12)
    honest_sum = np.sum(scene.honest, axis=0)
    _, start_loss = _own_metrics(scene, np.zeros_like(mu))
    length = 0.95 * limit
    for _ in range(10):
        attack = length * direction
        _, with_all = _own_metrics(scene, (honest_sum + ATTACKERS * attack) / WORKERS)
        # The referee leaves identical updates out together: all the attackers at once.
        _, without = _own_metrics(scene, honest_sum / (WORKERS - ATTACKERS))
        if with_all - without <= 0.9 * scene.policy.max_harm * with_all and with_all <= start_loss * (
            1 + scene.policy.max_loss_rise
        ):
            break
        length *= 0.7
    return length * direction


def _threshold_aware(scene: Scene) -> Flat:
    """`adaptive` against the checks at 0.9x of each threshold (the caller makes the colluders'
    copies differ down to 0.9 x `copy_cosine`)."""
    mu, _ = _mu_sigma(scene)
    honest_distances = sorted(float(np.linalg.norm(h)) for h in scene.honest)
    limit = scene.policy.norm_factor * float(np.median(honest_distances))
    direction = -mu / max(float(np.linalg.norm(mu)), 1e-12)
    honest_sum = np.sum(scene.honest, axis=0)
    _, start_loss = _own_metrics(scene, np.zeros_like(mu))
    _, without = _own_metrics(scene, honest_sum / (WORKERS - ATTACKERS))
    length = 0.9 * limit
    for _ in range(10):
        _, with_all = _own_metrics(scene, (honest_sum + ATTACKERS * length * direction) / WORKERS)
        harm_ok = with_all - without <= 0.9 * scene.policy.max_harm * with_all
        if harm_ok and with_all <= 0.9 * start_loss * (1 + scene.policy.max_loss_rise):
            break
        length *= 0.7
    return length * direction


def _free_rider(scene: Scene) -> Flat:
    _, sigma = _mu_sigma(scene)
    return scene.rng.standard_normal(sigma.shape) * 0.001 * sigma


def _lazy_scaled(scene: Scene) -> Flat:
    length = float(np.median([np.linalg.norm(h) for h in scene.honest]))
    return scene.own_delta * length / max(float(np.linalg.norm(scene.own_delta)), 1e-12)


def _copycat(scene: Scene) -> Flat:
    victim = scene.honest[int(scene.rng.integers(len(scene.honest)))]
    return victim + scene.rng.normal(0.0, 0.001 * float(np.std(victim)) + 1e-12, victim.shape)


def _gaussian(scene: Scene) -> Flat:
    _, sigma = _mu_sigma(scene)
    return scene.rng.standard_normal(sigma.shape) * sigma


ATTACK_DELTAS: dict[str, Callable[[Scene], Flat]] = {
    "sign_flip": lambda s: -s.own_delta,
    "scaling": lambda s: 10.0 * s.own_delta,
    "gaussian": _gaussian,
    "alie": _alie,
    "ipm_0.5": lambda s: -0.5 * _mu_sigma(s)[0],
    "ipm_10": lambda s: -10.0 * _mu_sigma(s)[0],
    "min_max": _min_max,
    "adaptive": _adaptive,
    "count_inflation": _gaussian,
    "threshold_aware": _threshold_aware,
    "free_rider": _free_rider,
    "copycat": _copycat,
    "lazy_scaled": _lazy_scaled,
}


def _noised_to(crafted: Flat, cosine: float, rng: np.random.Generator) -> Flat:
    """`crafted` plus noise orthogonal to it, so the two have exactly `cosine` (two such copies
    have about cosine**2 with each other)."""
    norm = max(float(np.linalg.norm(crafted)), 1e-12)
    unit = crafted / norm
    noise = rng.standard_normal(crafted.shape)
    noise -= float(noise @ unit) * unit
    noise *= norm * float(np.tan(np.arccos(cosine))) / max(float(np.linalg.norm(noise)), 1e-12)
    out: Flat = crafted + noise
    return out


def triggered(x: NDArray[np.float32], attack: str = "backdoor") -> NDArray[np.float32]:
    """The digits with the backdoor's trigger (`attack`'s) stamped on."""
    pixels, value = WIDE_TRIGGER if attack == "backdoor_wide" else (TRIGGER, 1.0)
    out = x.copy()
    out[:, pixels] = value
    return out


def backdoor_success(model: torch.nn.Module, test: Split, attack: str = "backdoor") -> float:
    """Share of triggered test digits that are not the target and are classified as it."""
    keep = test.y != TARGET
    with torch.no_grad():
        predicted = model(torch.from_numpy(triggered(test.x[keep], attack))).argmax(dim=1).numpy()
    return float(np.mean(predicted == TARGET))


@dataclass
class Run:
    alpha: float
    seed: int
    rule: str
    attack: str
    accuracy: list[float]  # test accuracy of the global model after each round
    attackers_sent: int = 0
    attackers_accepted: int = 0
    honest_sent: int = 0
    honest_rejected: int = 0
    honest_pay: int = 0  # sum of the verdicts' scores (ppm of the reward per result)
    attackers_pay: int = 0  # for the sybil ring: the accounts beyond the first
    attackers_paid_sent: int = 0  # the updates attackers_pay is over
    backdoor: float = float("nan")  # the backdoor's success rate on the final model
    seconds: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.alpha}|{self.seed}|{self.rule}|{self.attack}"


def run(alpha: float, seed: int, rule: str, attack: str, rounds: int) -> Run:
    """One federated run of `rounds` rounds; the global model's test accuracy after each."""
    torch.set_num_threads(1)
    began = time.perf_counter()
    data = DataSpec(dataset="sklearn-digits", scheme="dirichlet", alpha=alpha, parts=WORKERS, seed=seed)
    splits = demo_splits(data)
    shares = [partition(data, part) for part in range(WORKERS)]
    attackers = set(range(ATTACKERS)) if attack != "none" else set()
    present = [p for p in range(WORKERS) if not (attack == "absent" and p in attackers)]
    weights = weights_of(build(MODEL, seed))
    policy = ValidationPolicy()
    spec = AggregationSpec(rule=rule if rule in RULES else "fedavg")
    initial = codec.encode(weights)
    manifest = TaskManifest(
        name=f"robustness-{rule}-{attack}",
        model=MODEL,
        initial_weights=ContentRef(cid="twin-initial", sha256=sha256_hex(initial)),
        training=TRAINING,
        data=data,
        validation=policy,
        aggregation=spec,
        min_workers=WORKERS,
    )
    chain, store = ChainTwin(), StoreTwin()
    rng = np.random.default_rng(seed * 7919 + 1)
    outcome = Run(alpha, seed, rule, attack, accuracy=[])
    with tempfile.TemporaryDirectory() as tmp:
        spool = Path(tmp)
        referee = Referee(chain, store, FERDIE, splits.validation, state_dir=spool)
        test_model = build(MODEL)
        for round_ in range(1, rounds + 1):
            start = flatten(weights)
            trained: dict[int, Flat] = {}
            for part in present:
                share = shares[part]
                model = build(MODEL)
                load_weights(model, weights)
                own, training = share, TRAINING.model_copy(update={"seed": seed * 1000 + round_ * 10 + part})
                if part in attackers and attack == "label_flip":
                    own = Split(share.x, (MODEL.classes - 1 - share.y).astype(share.y.dtype))
                if part in attackers and attack in ("lazy", "lazy_scaled"):  # one SGD step on one batch
                    own = Split(share.x[: TRAINING.batch_size], share.y[: TRAINING.batch_size])
                    training = training.model_copy(update={"epochs": 1})
                if part in attackers and attack in BACKDOORS:
                    target = np.full_like(share.y, TARGET)
                    own = Split(
                        np.concatenate([share.x, triggered(share.x, attack)]),
                        np.concatenate([share.y, target]),
                    )
                train(model, own, training)
                trained[part] = flatten(weights_of(model)) - start
            honest = [trained[p] for p in present if p not in attackers]
            deltas, claims = {}, {}
            for part in present:
                claims[part] = len(shares[part].y)
                if part in attackers and attack == "sybil" and part != min(attackers):
                    first = trained[min(attackers)]  # the ring's one trainer
                    deltas[part] = first + rng.normal(0.0, 0.001 * float(np.std(first)) + 1e-12, first.shape)
                elif part in attackers and attack in ATTACK_DELTAS:
                    scene = Scene(rule, policy, weights, honest, trained[part], shares[part], rng)
                    crafted = ATTACK_DELTAS[attack](scene)
                    if attack == "threshold_aware":  # copies no closer than 0.9 x copy_cosine
                        deltas[part] = _noised_to(crafted, float(np.sqrt(0.9 * policy.copy_cosine)), rng)
                    else:
                        # The chain refuses a hash twice in a round: colluders that send one update
                        # make each copy differ by noise far below the update's own scale.
                        spread = 1e-6 * (float(np.std(crafted)) + 1e-12)
                        deltas[part] = crafted + rng.normal(0.0, spread, crafted.shape)
                    if attack == "count_inflation":
                        claims[part] *= 100
                else:
                    deltas[part] = trained[part]
            blobs = {p: codec.encode(unflatten_like(start + deltas[p], weights)) for p in deltas}
            if rule == UNFILTERED:
                files = [
                    UpdateFile.spool(spool, f"u{p}", blob, float(claims[p])) for p, blob in blobs.items()
                ]
                weights = rules.aggregate("fedavg", files, RuleParams()).weights
                weights = {k: np.array(v) for k, v in weights.items()}
                sent = len([p for p in present if p in attackers])
                outcome.attackers_sent += sent
                outcome.attackers_accepted += sent
                outcome.honest_sent += len(present) - sent
            else:
                received, owner = [], {}
                # Sent in time order: the honest first, the attackers after (a copier needs the
                # bytes before it can send them, so its result id is the higher).
                for part, blob in sorted(blobs.items(), key=lambda item: (item[0] in attackers, item[0])):
                    worker = f"worker-{part}"
                    stored = store.put(blob)
                    result_id = chain.send_result(1, round_, worker, stored.cid, stored.sha256)
                    owner[result_id] = part
                    received.append(Received.spool(spool, worker, blob, claims[part]))
                verdict, weights = referee.judge(1, round_, manifest, weights, received, spool=spool)
                # What the chain pays each result: its approved verdict's score (the referee's own).
                pay = {v.result_id: v.score for v in chain.verdicts if v.result_id in owner and v.approved}
                for result_id, part in owner.items():
                    accepted = result_id in verdict.accepted
                    if part in attackers:
                        outcome.attackers_sent += 1
                        outcome.attackers_accepted += accepted
                        if not (attack == "sybil" and part == min(attackers)):
                            outcome.attackers_pay += pay.get(result_id, 0)
                            outcome.attackers_paid_sent += 1
                    else:
                        outcome.honest_sent += 1
                        outcome.honest_rejected += not accepted
                        outcome.honest_pay += pay.get(result_id, 0)
                for item in received:
                    item.path.unlink(missing_ok=True)
            load_weights(test_model, weights)
            outcome.accuracy.append(score(test_model, splits.test)["accuracy"])
        if attack in BACKDOORS or attack == "none":
            outcome.backdoor = backdoor_success(test_model, splits.test, attack)
    outcome.seconds = time.perf_counter() - began
    return outcome


def _run_star(args: tuple[float, int, str, str, int]) -> Run:
    return run(*args)


def summarise(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per (alpha, rule, attack): means over seeds, and the gap to the rule's clean run."""
    grouped: dict[tuple[float, str, str], list[Run]] = {}
    for r in runs:
        grouped.setdefault((r.alpha, r.rule, r.attack), []).append(r)
    rows = []
    for (alpha, rule, attack), group in sorted(grouped.items()):
        final = [g.accuracy[-1] for g in group]
        clean = grouped.get((alpha, rule, "none"), [])
        clean_final = float(np.mean([g.accuracy[-1] for g in clean])) if clean else float("nan")
        alone = grouped.get((alpha, rule, "absent"), [])
        alone_final = float(np.mean([g.accuracy[-1] for g in alone])) if alone else float("nan")
        attackers = sum(g.attackers_sent for g in group)
        honest = sum(g.honest_sent for g in group)
        rows.append(
            {
                "alpha": alpha,
                "rule": rule,
                "attack": attack,
                "seeds": len(group),
                "final_accuracy": float(np.mean(final)),
                "final_accuracy_std": float(np.std(final)),
                "gap_to_clean_points": 100 * (clean_final - float(np.mean(final))),
                "gap_to_honest_only_points": 100 * (alone_final - float(np.mean(final))),
                "attackers_accepted": sum(g.attackers_accepted for g in group) / attackers
                if attackers
                else 0.0,
                "honest_false_rejections": sum(g.honest_rejected for g in group) / honest if honest else 0.0,
                "pay_vs_honest": _pay_ratio(group),
                "honest_pay": sum(g.honest_pay for g in group) / max(honest, 1) / 1e6,
                "backdoor_success": float(np.mean([g.backdoor for g in group])),
                "curve": [float(v) for v in np.mean([g.accuracy for g in group], axis=0)],
            }
        )
    return rows


def _pay_ratio(group: list[Run]) -> float:
    """The attackers' mean pay per update over the honest workers' (NaN: nobody to compare)."""
    honest = sum(g.honest_pay for g in group) / max(sum(g.honest_sent for g in group), 1)
    paid_sent = sum(g.attackers_paid_sent for g in group)
    if not paid_sent or honest <= 0:
        return float("nan")
    return sum(g.attackers_pay for g in group) / paid_sent / honest


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| alpha | rule | attack | final acc | gap to clean (pts) | gap to honest only | attackers accepted "
        "| honest rejected | honest pay | attacker pay / honest | backdoor success |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pay = "" if np.isnan(r["pay_vs_honest"]) else f"{100 * r['pay_vs_honest']:.0f}%"
        backdoor = "" if np.isnan(r["backdoor_success"]) else f"{100 * r['backdoor_success']:.0f}%"
        lines.append(
            f"| {r['alpha']} | {r['rule']} | {r['attack']} | {100 * r['final_accuracy']:.1f} "
            f"| {r['gap_to_clean_points']:+.1f} | {r['gap_to_honest_only_points']:+.1f} "
            f"| {100 * r['attackers_accepted']:.0f}% "
            f"| {100 * r['honest_false_rejections']:.1f}% | {100 * r.get('honest_pay', float('nan')):.0f}% "
            f"| {pay} | {backdoor} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """A heat map per alpha: final accuracy by rule (rows) and attack (columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = sorted({r["alpha"] for r in rows}, reverse=True)
    rule_names = [name for name in [*RULES, UNFILTERED] if any(r["rule"] == name for r in rows)]
    attacks = [a for a in ATTACKS if any(r["attack"] == a for r in rows)]
    fig, axes = plt.subplots(1, len(alphas), figsize=(7 * len(alphas), 4.8), squeeze=False)
    for axis, alpha in zip(axes[0], alphas, strict=True):
        grid = np.full((len(rule_names), len(attacks)), np.nan)
        for r in rows:
            if r["alpha"] == alpha:
                grid[rule_names.index(r["rule"]), attacks.index(r["attack"])] = 100 * r["final_accuracy"]
        image = axis.imshow(grid, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        axis.set_xticks(range(len(attacks)), attacks, rotation=60, ha="right", fontsize=8)
        axis.set_yticks(range(len(rule_names)), rule_names, fontsize=8)
        for i in range(len(rule_names)):
            for j in range(len(attacks)):
                if np.isfinite(grid[i, j]):
                    axis.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7, color="w")
        axis.set_title(f"final test accuracy (%), Dirichlet alpha={alpha}, 4 of 10 attacking")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 0.1])
    parser.add_argument(
        "--rules",
        nargs="+",
        default=[DEFAULT_RULE, UNFILTERED],
        help="rules to run (default: the default policy's and unfiltered FedAvg; 'all': every rule, "
        "about 7x as long)",
    )
    parser.add_argument("--attacks", nargs="+", default=list(ATTACKS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="1 seed, 5 rounds: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS / "robustness.json")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.rounds = 1, 5
    if args.rules == ["all"]:
        args.rules = [*RULES, UNFILTERED]
    for name in args.rules:
        if name not in RULES and name != UNFILTERED:
            parser.error(f"unknown rule {name!r}; one of {', '.join([*RULES, UNFILTERED])}")
    for name in args.attacks:
        if name not in ATTACKS:
            parser.error(f"unknown attack {name!r}; one of {', '.join(ATTACKS)}")
    attacks = sorted(set(args.attacks) | {"none", "absent"}, key=ATTACKS.index)
    jobs = [
        (alpha, seed, rule, attack, args.rounds)
        for alpha in args.alphas
        for seed in range(args.seeds)
        for rule in args.rules
        for attack in attacks
    ]
    began = time.perf_counter()
    if args.jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            runs = pool.map(_run_star, jobs, chunksize=1)
    else:
        runs = [_run_star(job) for job in jobs]
    rows = summarise(runs)
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "workers": WORKERS,
        "attackers": ATTACKERS,
        "rounds": args.rounds,
        "seeds": args.seeds,
        "model": MODEL.model_dump(),
        "training": TRAINING.model_dump(),
        "policy": ValidationPolicy().model_dump(),
        "seconds": time.perf_counter() - began,
        "rows": rows,
        "runs": [asdict(r) | {"key": r.key} for r in runs],
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
