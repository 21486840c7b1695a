"""`dml coordinator`: run the coordinator, or rebuild its mirror."""

from __future__ import annotations

import argparse

from coordinator.cli.common import Subparsers, load, show
from coordinator.settings import Settings


def cmd_serve(args: argparse.Namespace) -> None:
    settings = load(Settings)  # before the heavy imports: a mistake in them shows at once
    from coordinator.serve import serve

    serve(settings, args.host, args.port)


def cmd_reindex(args: argparse.Namespace) -> None:
    settings = load(Settings)
    from coordinator.serve import reindex

    show(args, {"blocks": reindex(settings)}, "mirror rebuilt")


def register(groups: Subparsers) -> None:
    coordinator = groups.add_parser("coordinator", help="run the coordinator").add_subparsers(
        dest="cmd", required=True
    )
    serve = coordinator.add_parser("serve", help="serve the REST API and follow the chain")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=cmd_serve)
    coordinator.add_parser("reindex", help="rebuild the SQL mirror from the chain").set_defaults(
        run=cmd_reindex
    )
