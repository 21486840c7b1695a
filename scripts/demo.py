"""`make demo`: the whole system on one machine, a federated task from creation to its last round.

Starts, each from nothing and each stopped at the end by its PID: the devnet (our committed
runtime in Chopsticks), a Kubo IPFS daemon, the coordinator (REST API, indexer, Flower SuperLink,
judging with //Ferdie), and one `dml-worker run` daemon per worker (the edge entry point), each
holding a different non-IID share of scikit-learn's bundled digits. Alice publishes a task
(manifest and initial weights in IPFS, rewards escrowed on chain); the workers claim slots and
train in Flower rounds; the poisoned workers send sign-flipped, scaled updates. Every round the
coordinator checks each update, commits the aggregate by hash and settles the verdicts on chain.

Prints a table per round, writes the JSON summary (`--summary`), an accuracy plot (PNG) and the last
model's card (`dml model card`, beside the summary: `.card.md`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from substrateinterface import Keypair  # noqa: E402

from coordinator.federation.tasks import initial_manifest, publish_task  # noqa: E402
from decentralml import samples  # noqa: E402
from decentralml.content import ContentStore  # noqa: E402
from decentralml.crypto import sealing_statement  # noqa: E402
from decentralml.data import DataSpec  # noqa: E402
from decentralml.flower import Process, stop_all  # noqa: E402
from decentralml.lm.transformer import TransformerSpec  # noqa: E402
from decentralml.manifest import FederationSpec, TaskManifest  # noqa: E402
from decentralml.models import ModelSpec  # noqa: E402
from decentralml.training import TrainSpec  # noqa: E402
from decentralml_bindings import DecentralMl, calls  # noqa: E402
from decentralml_bindings.dev import ALICE, BOB, FERDIE, UNIT  # noqa: E402
from decentralml_bindings.types import TaskStatus  # noqa: E402
from support.devnet import Devnet, Ipfs, free_port  # noqa: E402

DML = [sys.executable, "-m", "coordinator.cli"]
VALIDATOR_URI = "//Ferdie"
JUDGED = ("committed", "attested")  # a carrier's round log: committed, or attested and then committed


class Processes:
    """Background processes started here, each in its own session, stopped by PID in reverse."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Process] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process = Process.start(name, command, os.environ | env, self.logs / f"{name}.log", cwd=ROOT)
        self.started.append(process)
        return process.popen

    def stop(self) -> None:
        stop_all(self.started)


def wait_for(
    what: str,
    check: Any,
    timeout: float,
    alive: list[subprocess.Popen[bytes]],
    succeed: list[subprocess.Popen[bytes]] | None = None,
) -> Any:
    """Poll `check` until it returns something true. Raises if a process of `alive` exits, or one
    of `succeed` exits with a failure (it may end by itself: a worker run `--once`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
            if found:
                return found
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            pass
        for process in alive:
            if process.poll() is not None:
                raise RuntimeError(f"a process exited while waiting for {what}: {process.args!r}")
        for process in succeed or []:
            if process.poll() not in (None, 0):
                raise RuntimeError(
                    f"a process failed (exit {process.returncode}) while waiting for {what}: {process.args!r}"
                )
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def fund(chain: DecentralMl, keys: list[Keypair], amount: int) -> None:
    chain.batch([calls.transfer_keep_alive(k.ss58_address, amount) for k in keys], ALICE)


Inspect = Callable[[DecentralMl, ContentStore, int], None]


def coordinator_federation(api: str) -> FederationSpec | None:
    """The coordinator's SuperLink CA and node authentication, as a creator puts them in a manifest."""
    return FederationSpec.of_coordinator(httpx.get(f"{api}/federation", timeout=10).json())


def publish_demo_source(
    args: argparse.Namespace, chain: DecentralMl, store: ContentStore, manifest: TaskManifest, total: int
) -> tuple[int, list[list[str]]]:
    """Alice publishes a demo-source task Ferdie judges; each worker trains on its part."""
    task = publish_task(
        chain,
        store,
        ALICE,
        manifest,
        rounds=args.rounds,
        workers=total,
        reward_per_result=int(args.reward * UNIT),
        validator=[m.ss58_address for m in args.members],
        sealing=None if args.unsealed else [sealing_statement(m) for m in args.members],
        threshold=threshold(args),
    )
    return task.task_id, [["--data-part", str(i)] for i in range(total)]


def members(count: int) -> list[Keypair]:
    """The committee: Ferdie (the coordinator the workers connect to) and `count - 1` others."""
    return [FERDIE, *(Keypair.create_from_uri(f"//DemoValidator{i}") for i in range(1, count))]


def threshold(args: argparse.Namespace) -> int | None:
    """A majority of the committee must agree (None: a single validator, AutoAccept)."""
    count = len(args.members)
    return None if count == 1 else count // 2 + 1


def publish_digits(
    args: argparse.Namespace, chain: DecentralMl, store: ContentStore, total: int, api: str
) -> tuple[int, list[list[str]]]:
    """Alice publishes the digits demo source; each worker trains on its part. The manifest
    carries the coordinator's SuperLink CA (from `GET /federation`), as `dml task init` does."""
    model = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[128])
    federation = coordinator_federation(api)
    manifest = initial_manifest(
        store,
        "digits-mlp",
        model,
        training=TrainSpec(epochs=5, learning_rate=0.05),
        data=DataSpec(parts=total, alpha=1.0),
        min_workers=total,
        federation=federation,
    )
    return publish_demo_source(args, chain, store, manifest, total)


# The LM demo's model through `dml task init --kind text`: the creator's byte-level BPE tokenizer
# (4,096 ids, trained on her own share), 128-token windows, 5 blocks of width 256: 5.0M parameters.
LM_MODEL = [
    "--vocab-size", "4096", "--context", "128", "--layers", "5", "--heads", "4", "--model-width", "256",
]  # fmt: skip


def lm_model(manifest_path: Path) -> dict[str, Any]:
    """What `dml task init --kind text` chose: the transformer's sizes, parameters, tokenizer."""
    manifest = json.loads(manifest_path.read_text())
    sizes = TransformerSpec.model_validate(manifest["model"]["transformer"])
    found = {
        **sizes.model_dump(),
        "parameters": sizes.parameters_count(),
        "tokenizer": manifest["data"]["inputs"]["tokenizer"],
    }
    print(
        f"model: {found['parameters']:,} parameters, a {sizes.vocab_size:,}-id tokenizer, "
        f"{sizes.context}-token windows"
    )
    return found


def cli(*command: str) -> dict[str, Any]:
    """Run `dml --json ...` as a user would, and its JSON answer."""
    done = subprocess.run([*DML, "--json", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"dml {' '.join(command[:6])} failed: {done.stderr.strip()[-1500:]}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def publish_own(
    args: argparse.Namespace, work: Path, api: str, chain_url: str, ipfs_api: str, total: int
) -> tuple[int, list[list[str]]]:
    """An organisation's own task, by the commands a user types: Alice keeps a holdout, `dml task
    init` infers the schema and seals her validation set to the coordinator, `pack` signs the
    bundle, `create` escrows the rewards; each worker holds its own share (tabular: CSV, one
    Parquet; image: a folder of PNG files; lm: a folder of whole standard-library modules)."""
    data = work / "data"
    source = {"tabular": "sklearn-breast-cancer", "image": "sklearn-digits", "lm": "python-stdlib"}[args.task]
    if args.task == "lm":
        files = samples.text_folders(data, total, seed=args.seed)
        kind = ["--kind", "text", *LM_MODEL]
        # Short rounds: 8 steps of 8 windows at the default 8,192 tokens, the default rate of 1e-3
        # (3e-3 raised the validation loss in round 2: each round restarts AdamW, whose first steps
        # move every weight by about the rate), and the default warmup of a quarter of a round.
        # Compact both ways: each update the sign of every value of its delta, and the model
        # sent down as the same 1-bit delta from the last round's (after round 1), about 1/28 of
        # float32 each way (docs/lm.md: 1.2% validation loss against uncompressed, in bench/lm.py).
        training = [
            "--tokens-per-round",
            str(args.lm_tokens),
            "--batch-size",
            "8",
            "--update-encoding",
            "sign1",
            "--model-encoding",
            "sign1",
        ]
    elif args.task == "tabular":
        formats: list[samples.TabularFormat] = ["parquet" if i == 1 else "csv" for i in range(total)]
        files = samples.tabular_files(data, formats, seed=args.seed)
        kind = ["--kind", "tabular", "--label", samples.LABEL, "--hidden", "32"]
        training = ["--epochs", "5", "--learning-rate", "0.01"]
    else:
        files = samples.image_folders(data, total, seed=args.seed)
        kind = ["--kind", "image", "--hidden", "64"]
        training = ["--epochs", "3", "--learning-rate", "0.05"]
    samples.write_cards(files, source)
    folder = work / "task"
    dataset = f"{args.task}-demo"
    common = ["--coordinator", api, "--chain-url", chain_url, "--key", "//Alice"]
    committee: list[str] = []  # Ferdie's statement from his coordinator, the others' from files
    for member in args.members:
        committee += ["--validator", member.ss58_address]
        if member is not FERDIE:
            statement = work / f"{member.ss58_address}.json"
            statement.write_text(json.dumps(sealing_statement(member)))
            committee += ["--sealing-statement", str(statement)]
    cli(
        *common, "task", "init", str(folder), *kind, *training,
        "--data", str(files.shares[0]), "--validation", str(files.validation), "--test", str(files.test),
        *committee, "--dataset", dataset, "--min-workers", str(total), "--release", "none",
    )  # fmt: skip
    packed = cli(*common, "task", "pack", str(folder), "--ipfs-api", ipfs_api)
    t = threshold(args)
    strategy = ["AutoAccept"] if t is None else ["CustomAccept", "--threshold", str(t)]
    validators = [a for m in args.members for a in ("--validator", m.ss58_address)]
    created = cli(
        *common, "task", "create", "--validation", *strategy, "--rounds", str(args.rounds),
        "--max-assignments", str(total), *validators, "--reward", str(args.reward),
        "--manifest-cid", packed["bundle_cid"], "--manifest-hash", packed["bundle_sha256"],
    )  # fmt: skip
    task_id = next(int(e["task_id"]) for e in created["events"] if e["event"] == "TaskCreated")
    return task_id, [["--data", f"{dataset}={share}"] for share in files.shares]


def run(args: argparse.Namespace, work: Path, inspect: Inspect | None = None) -> dict[str, Any]:
    """The whole system for one task; `inspect(chain, store, task_id)` runs before teardown."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes = Processes(logs)
    devnet = Devnet(state_dir=work / "devnet", port=args.chain_port, block_mode=args.block_mode)
    ipfs = Ipfs(repo_dir=work / "ipfs", port=args.ipfs_port)
    api = f"http://127.0.0.1:{args.api_port}"
    try:
        devnet.start()
        ipfs.start()
        chain, store = DecentralMl.connect(devnet.url), ContentStore(ipfs.api)
        env = {
            "DML_CHAIN_URL": devnet.url,
            "DML_IPFS_API": ipfs.api,
            "DML_DATABASE_URL": f"sqlite:///{work / 'coordinator.sqlite'}",
            "DML_VALIDATOR_URI": VALIDATOR_URI,
            "DML_FEDERATION_DIR": str(work / "federation"),
            "DML_SUPERLINK_PORT": str(args.superlink_port),
            "DML_INDEXER_POLL_SECONDS": "0.5",
            # TLS with the coordinator's own CA, and only bound node keys admitted.
            "DML_SUPERLINK_TLS": "0" if args.insecure_superlink else "1",
            "DML_SUPERLINK_NODE_AUTH": "0" if args.insecure_superlink else "1",
        }
        coordinator = processes.start(
            "coordinator", [*DML, "coordinator", "serve", "--port", str(args.api_port)], env
        )
        wait_for(
            "the coordinator",
            lambda: httpx.get(f"{api}/health", timeout=2).json()["chain"] == "ok",
            120,
            [coordinator],
        )
        # The other committee members: a coordinator each, with its own key, database and
        # directory (sharing this machine's IPFS); they judge every round from the chain and IPFS.
        fund(chain, [m for m in args.members if m is not FERDIE], 100 * UNIT)
        watched = [coordinator]
        for index in range(1, len(args.members)):
            port = free_port()
            member_env = env | {
                "DML_DATABASE_URL": f"sqlite:///{work / f'member{index}.sqlite'}",
                "DML_VALIDATOR_URI": f"//DemoValidator{index}",
                "DML_FEDERATION_DIR": str(work / f"member{index}"),
                "DML_SUPERLINK_PORT": str(free_port()),
            }
            # The last `--liars` members run the lying twin (support/liar.py) in place of serve;
            # with `--dispute-round`, the others but the carrier do from that round, each with a
            # nudge of its own (liars that lie alike would outvote the carrier).
            lies = index >= len(args.members) - args.liars
            command = [*DML, "coordinator", "serve"]
            if lies:
                command = [sys.executable, "-m", "support.liar"]
            elif args.dispute_round:
                command = [
                    sys.executable, "-m", "support.liar",
                    "--nudge", str(-1e-3 * index), "--from-round", str(args.dispute_round),
                ]  # fmt: skip
            started = processes.start(
                f"{'liar' if lies else 'member'}{index}", [*command, "--port", str(port)], member_env
            )
            member_api = f"http://127.0.0.1:{port}"
            wait_for(
                f"committee member {index}",
                lambda url=member_api: httpx.get(f"{url}/health", timeout=2).json()["chain"] == "ok",
                120,
                [started],
            )
            watched.append(started)

        total = args.workers + args.poisoned
        workers = [Keypair.create_from_uri(f"//DemoWorker{i}") for i in range(total)]
        fund(chain, workers, 100 * UNIT)
        start_balances = {
            k.ss58_address: chain.free_and_reserved(k.ss58_address)[0] for k in [ALICE, *workers]
        }
        if args.task == "digits":
            task_id, data_args = publish_digits(args, chain, store, total, api)
        else:
            task_id, data_args = publish_own(args, work, api, devnet.url, ipfs.api, total)
        print(f"task {task_id}: {args.task}, {args.rounds} rounds, {total} workers")
        poisoned = {w.ss58_address for w in workers[args.workers :]}
        daemons = []
        for i, key in enumerate(workers):
            behaviour = "poison" if key.ss58_address in poisoned else "honest"
            command = [  # the edge entry point: a worker loads nothing of the coordinator
                sys.executable, "-m", "worker.cli",
                "--coordinator", api,
                "--chain-url", devnet.url,
                "--key", f"//DemoWorker{i}",
                "run", "--once",
                "--ipfs-api", ipfs.api,
                "--superlink", f"127.0.0.1:{args.superlink_port}",
                "--state-dir", str(work / "workers"),
                *data_args[i],
                "--behaviour", behaviour,
            ]  # fmt: skip
            # Every worker shares this machine's cores: one PyTorch thread each.
            daemons.append(processes.start(f"worker{i}", command, {"DML_WORKER_TORCH_THREADS": "1"}))

        printed = 0
        header = f"{'round':>5} {'metric':>8} {'value':>7} {'accepted':>8} {'rejected':>8}"
        lm = args.task == "lm"  # and the validation perplexity the referee measured
        perplexity_column = f"{'val ppl':>8} {'down MB':>7} {'up MB':>6}  " if lm else ""
        print(f"{header}  {perplexity_column}{'model CID':<59} {'block':>5}")

        resolved: list[dict[str, Any]] = []

        def settle_dispute(on_chain: Any) -> None:
            """The council's part: the open round is disputed, so Alice proposes and Bob seconds
            resolving it with the carrier's attestation (the member the demo knows is honest)."""
            round_ = on_chain.committed_rounds + 1
            if round_ > args.rounds or not chain.disputed(task_id, round_):
                return
            if any(d["round"] == round_ for d in resolved):
                return
            motion = chain.council_motion(
                calls.resolve_dispute(task_id, round_, FERDIE.ss58_address), ALICE, [BOB]
            )
            resolved.append({"round": round_, "chosen": FERDIE.ss58_address, "block": motion.block_number})
            print(f"round {round_} disputed: the council chose the carrier's attestation", flush=True)

        def progress() -> bool:
            nonlocal printed
            rounds = httpx.get(f"{api}/tasks/{task_id}/rounds", timeout=5)
            for r in rounds.json()[printed:] if rounds.status_code == 200 else []:
                if r["status"] == "attested":  # judged by the carrier; committed by the committee
                    r["model_id"] = chain.round_model(task_id, r["round"])
                printed += 1
                if r["status"] == "failed":
                    print(f"{r['round']:>5} failed: {r['reason']}", flush=True)
                    continue
                loss = r.get("validation_loss")
                perplexity = ""
                if lm and loss is not None:  # and the bytes the round moved each way (all workers)
                    down, up = (r.get(k) or 0 for k in ("down_bytes", "up_bytes"))
                    perplexity = f"{math.exp(min(loss, 50.0)):>8.2f} {down / 1e6:>7.2f} {up / 1e6:>6.2f}  "
                print(
                    f"{r['round']:>5} {r['metric']:>8} {r['test_metrics'][r['metric']]:>7.3f} "
                    f"{len(r['accepted']):>8} {len(r['rejected']):>8}  {perplexity}{r['model_cid']:<59} "
                    f"{r.get('block', '-')!s:>5}",
                    flush=True,
                )
            on_chain = chain.task(task_id)
            if on_chain is not None and args.dispute_round:
                settle_dispute(on_chain)
            logged = rounds.json() if rounds.status_code == 200 else []
            # A round may be logged twice (attested, then rebuilt as committed after a restart).
            done = len({r["round"] for r in logged if r["status"] in JUDGED})
            return on_chain is not None and on_chain.status == TaskStatus.COMPLETED and done == args.rounds

        wait_for("the task to complete", progress, args.timeout, watched, succeed=daemons)
        logged = httpx.get(f"{api}/tasks/{task_id}/rounds", timeout=5).json()
        last = {r["round"]: r for r in logged if r["status"] in JUDGED}  # the latest line per round
        rounds = [last[n] for n in sorted(last)]
        for r in rounds:  # the model the committee committed for the round
            r["model_id"] = chain.round_model(task_id, r["round"])
            committed = chain.model(r["model_id"]) if r["model_id"] is not None else None
            r["attestations"] = committed.attestations if committed is not None else 0
        finished = chain.task(task_id)
        assert finished is not None
        balances = {
            k.ss58_address: chain.free_and_reserved(k.ss58_address)[0] - start_balances[k.ss58_address]
            for k in [ALICE, *workers]
        }
        summary = summarise(task_id, finished.status.value, rounds, chain, workers, poisoned, balances)
        summary["task"] = args.task
        summary["disputes"] = resolved
        if args.task == "lm":  # the model task init made, and a sample of the last committed one
            summary["model"] = lm_model(work / "task" / "manifest.json")
            sample = cli(
                "--coordinator", api, "model", "generate", str(rounds[-1]["model_id"]),
                "--prompt", "def ", "--tokens", "200", "--ipfs-api", ipfs.api,
            )  # fmt: skip
            summary["sample"] = sample["text"]
            print(
                f"sample of model {rounds[-1]['model_id']} (--prompt 'def '):\n"
                f"{sample['prompt']}{sample['text']}"
            )
        made = [r["model_id"] for r in rounds if r["model_id"] is not None]
        if made:  # the model card of the last model: its contributors' datasets and licences
            card_path = args.summary.with_suffix(".card.md")
            card = cli(
                "--coordinator", api, "model", "card", str(made[-1]),
                "--ipfs-api", ipfs.api, "--output", str(card_path),
            )  # fmt: skip
            summary["card"] = {
                "path": str(card_path),
                "model": made[-1],
                "contributors": [c["worker"] for c in card["contributors"]],
                "declared": [c["worker"] for c in card["contributors"] if c["card"] is not None],
                "licences": sorted({c["card"]["license"] for c in card["contributors"] if c["card"]}),
            }
            print(f"model card of model {made[-1]}: {card_path}")
        if inspect is not None:
            inspect(chain, store, task_id)
        for daemon in daemons:
            daemon.wait(timeout=60)
        return summary
    finally:
        processes.stop()
        for service in (ipfs, devnet):
            try:
                service.stop()
            except subprocess.CalledProcessError as failed:
                print(f"could not stop {service}: {failed}", file=sys.stderr)


def summarise(
    task_id: int,
    status: str,
    rounds: list[dict[str, Any]],
    chain: DecentralMl,
    workers: list[Keypair],
    poisoned: set[str],
    balances: dict[str, int],
) -> dict[str, Any]:
    worker_of = {}
    for r in rounds:
        for key in workers:
            result_id = chain.result_of(task_id, r["round"], key.ss58_address)
            if result_id is not None:
                worker_of[result_id] = key.ss58_address
    table = []
    for r in rounds:
        rejected_workers = sorted(worker_of.get(int(k), "?") for k in r["rejected"])
        table.append(
            {
                "round": r["round"],
                "test_accuracy": round(r["test_accuracy"], 4),
                "validation_loss": r.get("validation_loss"),
                "test_metrics": r["test_metrics"],
                "accepted": len(r["accepted"]),
                "rejected": len(r["rejected"]),
                "accepted_results": r["accepted"],
                "rejected_results": r["rejected"],
                "rejected_workers": rejected_workers,
                "poisoned_rejected": sorted(poisoned) == sorted(w for w in rejected_workers if w in poisoned),
                "model_id": r["model_id"],
                "attestations": r.get("attestations", 1),
                "model_cid": r["model_cid"],
                "model_hash": r["model_hash"],
                "block": r["block"],
                "seconds": r["seconds"],
                "down_bytes": r.get("down_bytes"),  # the model sent down, whole or as deltas
                "up_bytes": r.get("up_bytes"),  # the updates that arrived, as sent
            }
        )
    return {
        "task_id": task_id,
        "status": status,
        "rounds": table,
        "final_accuracy": table[-1]["test_accuracy"] if table else None,
        "poisoned_workers": sorted(poisoned),
        "honest_workers": sorted(k.ss58_address for k in workers if k.ss58_address not in poisoned),
        "balance_changes": {k: v for k, v in balances.items()},
        "creator": ALICE.ss58_address,
    }


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r["round"] for r in summary["rounds"]]
    accuracy = [r["test_accuracy"] for r in summary["rounds"]]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(rounds, accuracy, marker="o")
    axes.set(xlabel="round", ylabel="test accuracy (held-out digits)", ylim=(0, 1), xticks=rounds)
    axes.set_title(f"DecentralML task {summary['task_id']}: global model per round")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--task",
        choices=["digits", "tabular", "image", "lm"],
        default="digits",
        help="digits: the bundled demo source; tabular: breast-cancer CSV/Parquet shares and a sealed "
        "holdout, made with dml task init; image: digits as PNG image folders, likewise; lm: a 5M-parameter "
        "transformer language model on the Python standard library's source, likewise, with the "
        "creator's own BPE tokenizer (4 workers, whole modules each)",
    )
    parser.add_argument(
        "--lm-tokens", type=int, default=8192, help="lm: tokens per worker per round (default 8192)"
    )
    parser.add_argument("--seed", type=int, default=0, help="how own-data shares are drawn")
    parser.add_argument("--workers", type=int, default=4, help="honest workers (default 4)")
    parser.add_argument(
        "--poisoned", type=int, default=None, help="workers sending poisoned updates (default 1; lm: 0)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="federated rounds (default 5)")
    parser.add_argument(
        "--validators",
        type=int,
        default=1,
        help="committee members, each a coordinator of its own; a majority must agree (default 1)",
    )
    parser.add_argument(
        "--liars",
        type=int,
        default=0,
        help="of the committee, members that approve every update and attest a changed model "
        "(support/liar.py; at most as many as a majority can outvote)",
    )
    parser.add_argument(
        "--dispute-round",
        type=int,
        default=0,
        help="from this round on, every other member but the carrier lies too, each its own way: no "
        "majority agrees, the members dispute the round and the council (Alice, Bob) resolves it "
        "with the carrier's attestation (default 0: never)",
    )
    parser.add_argument("--reward", type=float, default=10.0, help="reward per accepted update, in DML")
    parser.add_argument("--summary", type=Path, required=True, help="where to write the JSON summary")
    parser.add_argument("--plot", type=Path, help="accuracy plot (PNG); default: beside the summary")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the task")
    parser.add_argument("--chain-port", type=int, default=9944)
    parser.add_argument("--ipfs-port", type=int, default=5001)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--superlink-port", type=int, default=9091)
    parser.add_argument("--free-ports", action="store_true", help="pick free loopback ports instead")
    parser.add_argument(
        "--block-mode",
        choices=("Batch", "Instant"),
        default="Batch",
        help="Batch (default): the devnet packs what arrives together into one block, as a real "
        "chain does; Instant: a block per extrinsic",
    )
    parser.add_argument(
        "--unsealed",
        action="store_true",
        help="digits and lm: publish the task without sealing (only to measure what sealing costs)",
    )
    parser.add_argument(
        "--insecure-superlink", action="store_true", help="no TLS and no node authentication (loopback only)"
    )
    args = parser.parse_args(argv)
    if args.poisoned is None:
        args.poisoned = 0 if args.task == "lm" else 1
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.lm_tokens < 1:
        parser.error("--lm-tokens must be at least 1 (tokens per worker per round)")
    if args.workers < 1 or args.poisoned < 0:
        parser.error("--workers must be at least 1 and --poisoned at least 0")
    if not 1 <= args.validators <= 5:
        parser.error("--validators must be 1 to 5")
    args.members = members(args.validators)
    outvoted = args.validators - (threshold(args) or 1)
    if not 0 <= args.liars <= outvoted:
        parser.error(f"--liars must be 0 to {outvoted} with {args.validators} validators (the rest outvote)")
    if args.dispute_round and (args.validators < 2 or not 1 <= args.dispute_round <= args.rounds):
        parser.error("--dispute-round needs --validators 2 or more and a round from 1 to --rounds")
    if args.free_ports:
        args.chain_port, args.ipfs_port, args.api_port, args.superlink_port = (free_port() for _ in range(4))
    return args


def main() -> int:
    args = parse()
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dml-demo-") as tmp:
        try:
            summary = run(args, Path(tmp))
        except (RuntimeError, TimeoutError) as failed:
            print(f"demo failed: {failed}; logs were in {tmp}/logs:", file=sys.stderr)
            for log in sorted((Path(tmp) / "logs").glob("*.log")):
                print(
                    f"--- {log.name} (last lines)\n" + "\n".join(log.read_text().splitlines()[-15:]),
                    file=sys.stderr,
                )
            return 1
    plot_path = args.plot or args.summary.with_suffix(".png")
    plot(summary, plot_path)
    summary["plot"] = str(plot_path)
    args.summary.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"final accuracy {summary['final_accuracy']}; summary {args.summary}; plot {plot_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
