"""The referee at 10, 100 and 300 workers: what a round costs and how it grows.

Simulated workers (`support.simulation`) train their shares in this process and send their
updates as real workers do: each worker is its own funded account on the devnet (Batch mode:
many extrinsics a block), holds a slot of one task (the runtime's `MaxAssignments` is 512), and
signs its own `send_task_result`; the update goes to the content store and the referee's spool.
The real `Referee.judge` checks them (distance, reference cosine, copies, the leave-out harm
search, the trigger search), scores their contributions, aggregates and commits: one batch of
verdicts and `commit_model` on the devnet, which pays every accepted worker. The content store
is the in-process twin (`support.twins`): Kubo's cost is not what grows with the workers here.

Data: scikit-learn's digits (shipped with it): each worker holds 40 examples of a label mix drawn
from Dirichlet(0.5), sampled from the training pool with replacement; the same validation split
at every size (so only the workers grow). 10% of the workers
train on flipped labels and 5% send the global model back (free riders).

Baseline, side by side: unfiltered FedAvg of the same spooled updates (what a coordinator that
judges nothing pays per round); reported as the referee's multiple of it.

Flower's processes while no round runs: the CPU a SuperLink and one SuperNode (with their
SuperExecs) spend per second, the SuperExecs polling every 0.1 s (the baseline: what the demo
did) and every 1 s (Flower's default, what it does now).

Reported per size: the seconds to fund the accounts and take every slot; then for each round:
the workers' training seconds, the seconds after the last one trained until every result was
on chain, the referee's wall and CPU seconds (the wall includes its chain reads and the batch's
inclusion), its peak resident memory above the process's before it judged, the FedAvg
baseline's seconds, extrinsics (one `send_task_result` per worker and the referee's batch),
blocks, calls in the batch, the updates' bytes, the verdicts (flippers and free riders rejected,
honest workers rejected; accepted results found paid on chain), and what the round's
extrinsics cost the chain: each signed extrinsic's length and its weight as the runtime itself
reports them, against the runtime's limits for one extrinsic and one block. Then the growth
exponents of the referee's CPU seconds and of the round's bytes on chain between sizes (1.0 is
linear).

Real workers: the digits demo (`scripts/demo.py`: devnet in Batch mode, Kubo, the coordinator,
Flower's deployment engine with TLS and node keys) at 6 and 12 workers, 3 rounds: seconds per
round (mean of rounds 2..) and their ratio (target: 12 workers' round at most 2.1 times 6
workers'), and the proportional memory (PSS, from /proc/PID/smaps_rollup) of every role, sampled
every second: per worker, its daemon, SuperNode, SuperExec and ClientApp together; and the CPU
seconds of every role over the run: Flower's processes (SuperLink, SuperNodes, SuperExecs,
ClientApps, key registration) against the daemons' training and the ServerApp's judging (target:
Flower's below training). `--real-task lm` runs the LM demo instead (4 workers), with the judging
share of each round (target: at most 15%): what the round waited on the referee (`judge_seconds`:
the commit runs beside the new model's test report, and counts where it outlasts it), and
`referee_share`, the referee's whole wall time after collecting, the commit counted in full.

    python -m bench.scale [--sizes 10 100 300] [--rounds 3] [--no-flower] [--real 6 12] [--real-task lm]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coordinator.federation.referee import Referee
from coordinator.federation.status import committed, read_rounds
from decentralml import codec
from decentralml.data import Split, digits
from decentralml.judging.aggregation import UpdateFile
from decentralml.judging.rules import RuleParams, aggregate
from decentralml.manifest import ContentRef, TaskManifest
from decentralml.models import ModelSpec, build, weights_of
from decentralml.training import TrainSpec
from decentralml_bindings import DecentralMl
from decentralml_bindings.calls import Call
from decentralml_bindings.client import Cost
from decentralml_bindings.dev import FERDIE
from decentralml_bindings.types import ResultSubmissionStatus
from support.devnet import Devnet, free_port
from support.simulation import DevnetCrowd, RecordingChain, Role, SimulatedWorker, simulate_round
from support.twins import StoreTwin
from worker.executor import THREAD_NAME

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])
TRAINING = TrainSpec(epochs=10, batch_size=32, learning_rate=0.1)
PER_WORKER = 40
ALPHA = 0.5
FLIPPERS, FREE_RIDERS = 0.10, 0.05


def problem(workers: int, seed: int) -> tuple[list[Split], Split]:
    """The workers' shares and the validation split: each worker draws its label mix from
    Dirichlet(ALPHA) and PER_WORKER examples of those labels from the digits training pool (with
    replacement: 300 workers hold more examples than the pool, so shares overlap)."""
    splits = digits(seed)
    pool_x, pool_y = np.asarray(splits.train.x), np.asarray(splits.train.y)
    by_label = [np.flatnonzero(pool_y == label) for label in range(MODEL.classes)]
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(workers):
        labels = rng.choice(MODEL.classes, size=PER_WORKER, p=rng.dirichlet([ALPHA] * MODEL.classes))
        picked = np.array([rng.choice(by_label[label]) for label in labels])
        parts.append(Split(pool_x[picked], pool_y[picked]))
    return parts, splits.validation


def roles(workers: int) -> list[Role]:
    flippers, riders = round(FLIPPERS * workers), round(FREE_RIDERS * workers)
    counts: tuple[tuple[Role, int], ...] = (
        ("label_flip", flippers),
        ("free_rider", riders),
        ("honest", workers - flippers - riders),
    )
    return [role for role, count in counts for _ in range(count)]


class Coster:
    """Each extrinsic's signed length, weight and fee from the devnet's runtime (`DecentralMl.cost`).
    Calls of one function and one encoded length weigh the same, so each is asked once."""

    def __init__(self, chain: DecentralMl) -> None:
        self.chain = chain
        self.known: dict[tuple[str, int], Cost] = {}

    def __call__(self, call: Call) -> Cost:
        key = (call.function, len(self.chain.encoded(call)))
        if key not in self.known:
            self.known[key] = self.chain.cost(call, FERDIE)
        return self.known[key]


def measure(workers: int, rounds: int, seed: int, chain_url: str) -> dict[str, Any]:
    """Rounds of `workers` simulated workers on the devnet at `chain_url`, each its own funded
    account holding a slot of one task, judged and committed by the referee (run in a fresh
    process); every extrinsic of a round sized and weighed by the devnet's runtime."""
    torch.set_num_threads(1)
    chain = DecentralMl.connect(chain_url)
    coster = Coster(chain)
    parts, validation = problem(workers, seed)
    who = roles(workers)
    crowd = DevnetCrowd(chain, f"scale-{workers}", workers)
    crowd.fund()
    # The misbehaving ones send last in each round (higher result ids), as a copier must.
    simulated = [
        SimulatedWorker(name, part, who[workers - 1 - i])
        for i, (name, part) in enumerate(zip(crowd.names, parts, strict=True))
    ]
    weights = weights_of(build(MODEL, seed))
    store = StoreTwin()
    initial = store.put(codec.encode(weights))
    manifest = TaskManifest(
        name=f"scale-{workers}",
        model=MODEL,
        initial_weights=ContentRef(cid=initial.cid, sha256=initial.sha256),
        training=TRAINING,
        min_workers=workers,
    )
    described = store.put(manifest.model_dump_json().encode())
    began = time.perf_counter()
    task_id = crowd.open_task(described.cid, described.sha256, rounds, [FERDIE.ss58_address])
    setup = {"task_id": task_id, "assign_seconds": time.perf_counter() - began}
    recorded = RecordingChain(chain)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            spool = Path(tmp)
            referee = Referee(recorded, store, FERDIE, validation, state_dir=spool)
            for round_ in range(1, rounds + 1):
                block_before = chain.block_number()
                sent_before, batches_before = len(crowd.calls), len(recorded.batches)
                done = simulate_round(
                    crowd, store, referee, manifest, weights, simulated, task_id, round_, spool
                )
                outcome = done.outcome
                # The baseline: unfiltered FedAvg of the same updates, from the store.
                on_chain = chain.round_results(task_id, round_)
                owner = {result_id: worker for worker, result_id in on_chain.items()}
                files = []
                for i, result_id in enumerate(sorted(on_chain.values())):
                    result = chain.result(result_id)
                    assert result is not None
                    files.append(UpdateFile.spool(spool, f"b{i}", store.get(result.cid, result.hash), 1.0))
                started = time.perf_counter()
                aggregate("fedavg", files, RuleParams())
                fedavg = time.perf_counter() - started
                for f in files:
                    f.path.unlink(missing_ok=True)
                role_of = {w.name: w.role for w in simulated}
                rejected = {role: 0 for role in ("honest", "label_flip", "free_rider")}
                for result_id in outcome.rejected:
                    rejected[role_of[owner[result_id]]] += 1
                settled = [chain.result(result_id) for result_id in outcome.accepted]
                paid = sum(1 for r in settled if r and r.status is ResultSubmissionStatus.ACCEPTED)
                sent = crowd.calls[sent_before:]
                batches = recorded.batches[batches_before:]
                costs = [coster(call) for call in [*sent, *batches]]
                batch_costs = costs[len(sent) :]
                rows.append(
                    {
                        "round": round_,
                        "training_s": done.training,
                        "sending_s": done.sending,
                        "judging_s": done.judging,
                        "judging_cpu_s": done.judging_cpu,
                        "referee_peak_mb": done.referee_peak / 2**20,
                        "fedavg_s": fedavg,
                        "extrinsics": len(sent) + len(batches),
                        "blocks": chain.block_number() - block_before,
                        "batch_calls": sum(len(b.params["calls"]) for b in batches),
                        "update_bytes": done.update_bytes,
                        "accepted": len(outcome.accepted),
                        "accepted_paid_on_chain": paid,
                        "committed_model": chain.round_model(task_id, round_),
                        "rejected": rejected,
                        "reasons": sorted(set(outcome.rejected.values())),
                        "validation_loss": outcome.validation_loss,
                        "chain_bytes": sum(cost.length for cost in costs),
                        "chain_ref_time_ms": sum(cost.ref_time for cost in costs) / 1e9,
                        "batch_bytes": sum(cost.length for cost in batch_costs),
                        "batch_ref_time_ms": sum(cost.ref_time for cost in batch_costs) / 1e9,
                    }
                )
                weights = done.weights
    finally:
        chain.close()
    return {"workers": workers, "roles": {r: who.count(r) for r in set(who)}, "setup": setup, "rounds": rows}


def block_limits(url: str) -> dict[str, float]:
    """The runtime's limits a round's extrinsics must fit: one normal extrinsic's and a block's
    normal weight (ms of reference time) and a block's normal length (bytes)."""
    chain = DecentralMl.connect(url)
    try:
        weights = chain.constant("System", "BlockWeights")["per_class"]["normal"]
        length = chain.constant("System", "BlockLength")["max"]["normal"]
    finally:
        chain.close()
    return {
        "max_extrinsic_ref_time_ms": int(weights["max_extrinsic"]["ref_time"]) / 1e9,
        "max_block_ref_time_ms": int(weights["max_total"]["ref_time"]) / 1e9,
        "max_block_bytes": int(length),
    }


def growth(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    """The exponent b of cost ~ n^b between consecutive sizes, from the last round's `key`."""
    found = {}
    for small, large in itertools.pairwise(rows):
        a, b = small["rounds"][-1][key], large["rounds"][-1][key]
        if a > 0 and b > 0:
            found[f"{small['workers']}->{large['workers']}"] = math.log(b / a) / math.log(
                large["workers"] / small["workers"]
            )
    return found


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'workers':>7} {'round':>5} {'send s':>6} {'blocks':>6} {'judge s':>8} {'cpu s':>7} "
        f"{'fedavg s':>8} {'x fedavg':>8} "
        f"{'peak MB':>8} {'extr.':>6} {'calls':>6} {'MB sent':>7} {'flip rej':>8} {'ride rej':>8} "
        f"{'honest rej':>10} {'chain KB':>8} {'chain ms':>8} {'batch ms':>8}"
    )
    lines = [head]
    for size in rows:
        flips, rides = size["roles"].get("label_flip", 0), size["roles"].get("free_rider", 0)
        for r in size["rounds"]:
            lines.append(
                f"{size['workers']:>7} {r['round']:>5} {r['sending_s']:>6.1f} {r['blocks']:>6} "
                f"{r['judging_s']:>8.1f} {r['judging_cpu_s']:>7.1f} "
                f"{r['fedavg_s']:>8.3f} {r['judging_s'] / max(r['fedavg_s'], 1e-9):>8.0f} "
                f"{r['referee_peak_mb']:>8.1f} {r['extrinsics']:>6} {r['batch_calls']:>6} "
                f"{r['update_bytes'] / 1e6:>7.2f} {r['rejected']['label_flip']:>4}/{flips:<3} "
                f"{r['rejected']['free_rider']:>4}/{rides:<3} {r['rejected']['honest']:>10} "
                f"{r.get('chain_bytes', 0) / 1e3:>8.1f} {r.get('chain_ref_time_ms', 0):>8.1f} "
                f"{r.get('batch_ref_time_ms', 0):>8.1f}"
            )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["workers"] for r in rows]
    cpu = [r["rounds"][-1]["judging_cpu_s"] for r in rows]
    fedavg = [r["rounds"][-1]["fedavg_s"] for r in rows]
    fig, axis = plt.subplots(figsize=(6, 4))
    axis.loglog(sizes, cpu, "o-", label="referee CPU s per round")
    axis.loglog(sizes, fedavg, "s-", label="unfiltered FedAvg s per round")
    axis.loglog(sizes, [cpu[0] * s / sizes[0] for s in sizes], ":", color="grey", label="linear from 10")
    axis.set_xlabel("workers")
    axis.set_ylabel("seconds")
    axis.legend()
    axis.set_title("judging a round, simulated workers (last round)")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in process group `pgid`."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def flower_idle(interval: float, seconds: float = 40.0) -> float:
    """CPU seconds per second that a SuperLink and one SuperNode (with their SuperExecs) spend
    waiting, no run under way, with the SuperExecs polling every `interval` seconds."""
    from coordinator.federation.flower import SuperLink
    from decentralml.flower import Process, flower_env, supernode_command
    from support.devnet import free_port

    extra = {"PYTHONPATH": str(ROOT), "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": str(interval)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        superlink = SuperLink(work, free_port(), extra)
        superlink.start()
        env = flower_env(work / "home", extra)
        node = Process.start(
            "supernode", supernode_command(superlink.address, free_port(), {}), env, work / "n.log"
        )
        try:
            time.sleep(20)  # started and settled
            assert superlink.process is not None
            groups = (superlink.process.pid, node.pid)
            before, began = sum(map(group_cpu, groups)), time.monotonic()
            time.sleep(seconds)
            return (sum(map(group_cpu, groups)) - before) / (time.monotonic() - began)
        finally:
            node.stop()
            superlink.stop()


ROLES = (
    ("flower-superlink", "superlink"),
    ("flower-supernode", "supernode"),
    ("flwr-clientapp", "clientapp"),
    ("flwr-serverapp", "serverapp"),
    ("supernode register", "key registration"),  # one short flwr process per node key bound
    ("flwr run", "flwr run"),  # the CLI streaming a task's run
    ("worker.cli", "worker daemon"),
    ("chopsticks", "devnet"),
    ("ipfs", "kubo"),
)
EDGE = ("worker daemon", "supernode", "superexec (node)", "clientapp")


def command_of(pid: str) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def role_of(pid: str, command: str) -> str:
    if "flower-superexec" in command:  # the SuperLink's launches the ServerApp, a node's its ClientApps
        parent = next(
            line.split()[1]
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("PPid:")
        )
        return "superexec (link)" if "flower-superlink" in command_of(parent) else "superexec (node)"
    if "coordinator.cli" in command:
        return "coordinator REST" if " serve" in command else "dml command"
    return next((role for needle, role in ROLES if needle in command), "other")


def cpu_seconds(pid: str) -> float:
    """User and system CPU seconds process `pid` has used (/proc/PID/stat, clock ticks)."""
    return _ticks(Path(f"/proc/{pid}/stat")) / os.sysconf("SC_CLK_TCK")


def _ticks(stat: Path) -> int:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def executor_cpu_seconds(pid: str) -> float:
    """CPU seconds of process `pid`'s live threads named as the worker's ClientApp executor's
    (`worker.executor.THREAD_NAME`): Flower's work done inside the worker daemon."""
    ticks = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            if (task / "comm").read_bytes().strip() == THREAD_NAME:
                ticks += _ticks(task / "stat")
    return ticks / os.sysconf("SC_CLK_TCK")


TORCH_FLOOR = """
import torch
CUDA = ("nvidia", "cuda", "cudnn", "nccl", "cublas")
totals, key, cuda_before = {}, "other", False
for line in open("/proc/self/smaps"):
    head = line.split()
    if not head[0].endswith(":"):  # a mapping: anonymous memory right after a CUDA library is its
        path = head[5] if len(head) > 5 else ""  # .bss and what its initialisers fill
        cuda = any(k in path for k in CUDA) or (not path and cuda_before)
        key, cuda_before = ("cuda" if cuda else "other"), cuda
    elif head[0] in ("Pss:", "Private_Dirty:", "Private_Clean:"):
        totals[key + head[0]] = totals.get(key + head[0], 0) + int(head[1]) / 1024
print(totals)
"""


def torch_floor() -> dict[str, Any]:
    """What `import torch` alone costs a process (a fresh interpreter, sharing nothing): its PSS
    and private memory, and how much of each the CUDA libraries the wheel links hold (with the
    anonymous memory right after libcublasLt, which its initialisers fill). The floor under any
    worker that trains with PyTorch."""
    import ast
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", TORCH_FLOOR], capture_output=True, text=True, check=True)
    found: dict[str, float] = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    private = ("Private_Dirty:", "Private_Clean:")
    return {
        "torch": torch.__version__,
        "pss_mb": sum(v for k, v in found.items() if k.endswith("Pss:")),
        "private_mb": sum(v for k, v in found.items() if k.endswith(private)),
        "cuda_pss_mb": sum(v for k, v in found.items() if k.startswith("cuda") and k.endswith("Pss:")),
        "cuda_private_mb": sum(v for k, v in found.items() if k.startswith("cuda") and k.endswith(private)),
    }


class PssSampler:
    """Every `every` seconds, the PSS of each process whose environment holds `marker`, summed
    per role; keeps each role's largest sum, and the edge roles' largest sum together. Also each
    such process's CPU seconds as last seen, summed per role in `cpu_by_role` (a process's last
    `every` seconds before it exits are not seen: short ClientApps are undercounted a little)."""

    def __init__(self, marker: str, every: float = 2.0) -> None:
        self.marker, self.every = marker.encode(), every
        self.peak: dict[str, int] = {}
        self.count: dict[str, int] = {}
        self.edge = 0
        self.cpu: dict[str, tuple[str, float]] = {}  # pid -> (role, CPU seconds when last seen)
        self.unclassified: set[str] = set()  # the commands of processes of no known role
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def cpu_by_role(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for role, seconds in self.cpu.values():
            totals[role] = totals.get(role, 0.0) + seconds
        return dict(sorted(totals.items()))

    def _loop(self) -> None:
        while not self.stopped.wait(self.every):
            sums: dict[str, int] = {}
            counts: dict[str, int] = {}
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    if self.marker not in (entry / "environ").read_bytes():
                        continue
                    command = command_of(entry.name)
                    role = role_of(entry.name, command)
                    pss = next(
                        int(line.split()[1]) * 1024
                        for line in (entry / "smaps_rollup").read_text().splitlines()
                        if line.startswith("Pss:")
                    )
                    used = cpu_seconds(entry.name)
                    if role == "worker daemon":  # its ClientApp tasks are Flower's work, not training
                        # A thread's CPU is gone from /proc once it ends (the task's SuperNode
                        # stopped) but stays in its process's: keep the most seen.
                        key = f"{entry.name}:executor"
                        flower = max(executor_cpu_seconds(entry.name), self.cpu.get(key, ("", 0.0))[1])
                        self.cpu[key] = ("clientapp (daemon thread)", flower)
                        used -= flower
                    self.cpu[f"{entry.name}:{command}"] = (role, used)
                    if role == "other":
                        self.unclassified.add(command[:160])
                except (OSError, StopIteration, IndexError, ValueError):
                    continue
                sums[role] = sums.get(role, 0) + pss
                counts[role] = counts.get(role, 0) + 1
            for role, total in sums.items():
                if total > self.peak.get(role, 0):
                    self.peak[role], self.count[role] = total, counts[role]
            self.edge = max(self.edge, sum(sums.get(role, 0) for role in EDGE))

    def __enter__(self) -> PssSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()


FLOWER_ROLES = (
    "superlink",
    "supernode",
    "superexec (link)",
    "superexec (node)",
    "clientapp",
    "clientapp (daemon thread)",
    "key registration",
)


def real(workers: int, rounds: int, task: str = "digits") -> dict[str, Any]:
    """The demo (`task`: the bundled digits, or the LM demo) with `workers` real workers (each a
    daemon, a SuperNode and its SuperExec, a ClientApp per round) on Flower's deployment engine,
    the devnet in Batch mode: seconds per round, the PSS of every role, sampled while it runs, and
    the CPU seconds of every role: Flower's processes against the daemons' training and the
    ServerApp's judging."""
    from scripts import demo

    marker = f"dml-bench-scale-{os.getpid()}-{workers}"
    os.environ["DML_BENCH_SCALE"] = marker
    try:
        with (
            tempfile.TemporaryDirectory(prefix="dml-bench-scale-") as tmp,
            PssSampler(marker, 1.0) as sampler,
        ):
            work = Path(tmp)
            args = demo.parse(
                [
                    "--free-ports", "--workers", str(workers), "--poisoned", "0", "--rounds", str(rounds),
                    "--task", task, "--summary", str(work / "summary.json"),
                ]
            )  # fmt: skip
            summary = demo.run(args, work)
            logged = committed(read_rounds(work / "federation", int(summary["task_id"])))
    finally:
        del os.environ["DML_BENCH_SCALE"]
    seconds = [float(r["seconds"]) for r in summary["rounds"]]
    cpu = sampler.cpu_by_role
    return {
        "workers": workers,
        "task": task,
        "status": summary["status"],
        "seconds_per_round": seconds,
        "steady_seconds": sum(seconds[1:]) / len(seconds[1:]) if len(seconds) > 1 else seconds[0],
        "collect_seconds": [t.get("collect_seconds") for t in logged],
        "judge_seconds": [t.get("judge_seconds") for t in logged],
        "report_seconds": [t.get("report_seconds") for t in logged],
        "judge_phases": [
            {"prepare_wait": t.get("prepare_wait_seconds"), **(t.get("phases") or {})} for t in logged
        ],
        "judging_share": sum(t["judge_seconds"] for t in logged) / sum(t["seconds"] for t in logged)
        if logged
        else None,
        # The referee's whole wall time after collecting, the commit counted even where the new
        # model's report, made beside it, hid it from the round.
        "referee_share": sum(_referee_seconds(t) for t in logged) / sum(t["seconds"] for t in logged)
        if logged
        else None,
        "pss_mb_by_role": {role: total / 2**20 for role, total in sorted(sampler.peak.items())},
        "processes_by_role": dict(sorted(sampler.count.items())),
        "pss_mb_per_worker": sampler.edge / workers / 2**20,
        "cpu_s_by_role": cpu,
        "unclassified_commands": sorted(sampler.unclassified),
        "flower_cpu_s": sum(cpu.get(role, 0.0) for role in FLOWER_ROLES),
        "training_cpu_s": cpu.get("worker daemon", 0.0),
        "judging_cpu_s": cpu.get("serverapp", 0.0),
    }


def _referee_seconds(logged: dict[str, Any]) -> float:
    """A round's referee wall seconds after collecting: the wait for what was prepared, opening,
    checking, aggregating and committing (`phases`)."""
    phases = logged.get("phases") or {}
    steps = ("open", "check", "aggregate", "commit")
    return float(logged.get("prepare_wait_seconds") or 0.0) + sum(float(phases.get(s, 0.0)) for s in steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 100, 300])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    parser.add_argument("--no-flower", action="store_true", help="skip Flower's idle CPU")
    parser.add_argument("--real", type=int, nargs="*", default=[6, 12], help="real workers' demo runs")
    parser.add_argument("--real-rounds", type=int, default=3)
    parser.add_argument(
        "--real-task", choices=("digits", "lm"), default="digits", help="the demo the real workers run"
    )
    args = parser.parse_args()
    if any(size < 2 for size in args.sizes) or args.rounds < 1:
        parser.error("sizes must be at least 2 workers, and rounds at least 1")
    began = time.perf_counter()
    rows = []
    context = multiprocessing.get_context("spawn")
    limits: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dml-bench-scale-") as tmp:
        # Batch mode: the devnet packs what arrives together into one block, as a real chain does.
        net = Devnet(state_dir=Path(tmp) / "devnet", port=free_port(), block_mode="Batch")
        net.start()  # every round's results, verdicts and commits go on it
        try:
            for size in sorted(args.sizes):
                with context.Pool(1) as pool:  # a fresh process per size: its memory is its own
                    rows.append(pool.apply(measure, (size, args.rounds, 0, net.url)))
                print(table(rows[-1:]), flush=True)
            limits = block_limits(net.url)
        finally:
            net.stop()
    idle = {}
    if not args.no_flower:
        # Baseline side by side: the SuperExecs polling every 0.1 s (what the demo did) and
        # every 1 s (Flower's default, what it does now).
        idle = {str(interval): flower_idle(interval) for interval in (0.1, 1.0)}
        print("Flower idle CPU s per s (a SuperLink and a SuperNode), by poll interval:", idle)
    runs = [real(n, args.real_rounds, args.real_task) for n in args.real]
    for run in runs:
        print(json.dumps(run))
    floor = torch_floor() if runs else None
    if floor:
        print("what `import torch` alone costs a process (MB):", floor)
    ratio = None
    if len(runs) >= 2 and runs[0]["steady_seconds"] > 0:
        ratio = runs[-1]["steady_seconds"] / runs[0]["steady_seconds"]
        print(f"round time at {runs[-1]['workers']} workers / at {runs[0]['workers']}: {ratio:.2f}")
    report = {
        "real_workers": runs,
        "real_round_ratio": ratio,
        "torch_floor": floor,
        "flower_idle_cpu_per_s": idle,
        "model": MODEL.model_dump(),
        "training": TRAINING.model_dump(),
        "per_worker": PER_WORKER,
        "alpha": ALPHA,
        "seconds": time.perf_counter() - began,
        "block_limits": limits,
        "growth_judging_cpu": growth(rows, "judging_cpu_s"),
        "growth_chain_bytes": growth(rows, "chain_bytes"),
        "growth_fedavg": growth(rows, "fedavg_s"),
        "sizes": rows,
    }
    print(table(rows))
    print("growth of the referee's CPU seconds (1.0 is linear):", report["growth_judging_cpu"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    if rows:
        plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
