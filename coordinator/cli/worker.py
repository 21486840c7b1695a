"""`dml worker`: run a worker daemon on this machine (the same command as `dml-worker`, which an
edge install that has only the worker provides)."""

from __future__ import annotations

import argparse

from coordinator.cli.common import Subparsers, show


def cmd_worker_run(args: argparse.Namespace) -> None:
    from worker import cli

    served = cli.run(args)
    show(args, served, "worker stopped")


def register(groups: Subparsers) -> None:
    from worker.cli import add_run_arguments

    worker = groups.add_parser("worker", help="run a worker on this machine").add_subparsers(
        dest="cmd", required=True
    )
    work = worker.add_parser("run", help="find tasks, claim a slot, train in their Flower rounds")
    add_run_arguments(work)
    work.set_defaults(run=cmd_worker_run)
