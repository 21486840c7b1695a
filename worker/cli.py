"""`dml-worker run` (also `dml worker run`): the worker daemon's command line, on an edge install
that has only the worker (`pip install 'decentralml[worker]'`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from decentralml import logs
from decentralml.messages import invalid_fields
from worker.settings import WorkerSettings


def add_run_arguments(work: argparse.ArgumentParser) -> None:
    work.add_argument("--once", action="store_true", help="serve one task to its end, then exit")
    work.add_argument("--ipfs-api", help="Kubo RPC API (default http://127.0.0.1:5001)")
    work.add_argument("--superlink", help="the coordinator's Flower SuperLink (default 127.0.0.1:9091)")
    work.add_argument("--state-dir", help="where updates are kept across restarts (default .dml/worker)")
    work.add_argument(
        "--data",
        action="append",
        metavar="[NAME=]PATH",
        help="local data for a dataset the task names: NAME=PATH, or PATH (named after the file); "
        "CSV, Parquet, .npz or an image folder",
    )
    work.add_argument("--data-file", help="local training data: .npz with arrays x and y")
    work.add_argument("--data-part", type=int, help="demo: train on this part of the task's bundled data")
    work.add_argument("--supernode-port", type=int, help="port of this worker's Flower SuperNode")
    work.add_argument("--trainer-port", type=int, help="port of this worker's trainer service")
    work.add_argument("--behaviour", choices=["honest", "poison", "tamper"], help="demo: play a cheat")


def settings_of(args: argparse.Namespace) -> WorkerSettings:
    """The worker's settings: DML_WORKER_* variables, overridden by the options given.
    Raises ValueError with one line naming what to set."""
    overrides = {
        k: v
        for k, v in {
            "key": args.key,
            "chain_url": args.chain_url,
            "coordinator_url": args.coordinator,
            "ipfs_api": args.ipfs_api,
            "superlink": args.superlink,
            "state_dir": args.state_dir,
            "data": args.data,
            "data_part": args.data_part,
            "data_file": args.data_file,
            "supernode_port": args.supernode_port,
            "trainer_port": args.trainer_port,
            "behaviour": args.behaviour,
        }.items()
        if v is not None
    }
    try:
        return WorkerSettings(**overrides)
    except ValidationError as invalid:
        raise ValueError(invalid_fields(invalid, "DML_WORKER_")) from invalid


def run(args: argparse.Namespace) -> dict[str, object]:
    """Run the daemon until it stops; what it served."""
    from worker.daemon import WorkerDaemon  # PyTorch and the chain client: only when it runs

    settings = settings_of(args)
    logs.configure("INFO", "text" if sys.stderr.isatty() else "json")
    daemon = WorkerDaemon(settings)
    daemon.install_signal_handlers()
    served = daemon.run(once=args.once)
    return {"tasks_served": served, "worker": daemon.address}


def parser() -> argparse.ArgumentParser:
    """The `dml-worker` command line."""
    root = argparse.ArgumentParser(prog="dml-worker", description=__doc__)
    root.add_argument("--coordinator", help="coordinator REST URL (default http://127.0.0.1:8000)")
    root.add_argument("--chain-url", help="chain JSON-RPC URL (default ws://127.0.0.1:9944)")
    root.add_argument("--key", help="the worker's key: a //Dev derivation URI or a mnemonic")
    root.add_argument("--json", action="store_true", help="print JSON for scripts")
    commands = root.add_subparsers(dest="cmd", required=True)
    add_run_arguments(commands.add_parser("run", help="find tasks, claim a slot, train in their rounds"))
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        served = run(args)
    except ValueError as problem:
        print(f"dml-worker: {problem}", file=sys.stderr)
        return 1
    print(json.dumps(served) if args.json else f"worker stopped: {served['tasks_served']} task(s) served")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
