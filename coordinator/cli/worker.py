"""`dml worker`: run a worker daemon on this machine."""

from __future__ import annotations

import argparse
import sys

from coordinator.cli.common import Subparsers, load, show


def cmd_worker_run(args: argparse.Namespace) -> None:
    from worker.daemon import WorkerDaemon, WorkerSettings

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
    settings = load(WorkerSettings, **overrides)
    from coordinator import logs

    logs.configure("INFO", "text" if sys.stderr.isatty() else "json")
    daemon = WorkerDaemon(settings)
    daemon.install_signal_handlers()
    served = daemon.run(once=args.once)
    show(args, {"tasks_served": served, "worker": daemon.address}, "worker stopped")


def register(groups: Subparsers) -> None:
    worker = groups.add_parser("worker", help="run a worker on this machine").add_subparsers(
        dest="cmd", required=True
    )
    work = worker.add_parser("run", help="find tasks, claim a slot, train in their Flower rounds")
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
    work.set_defaults(run=cmd_worker_run)
