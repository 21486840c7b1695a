"""`dml model`: committed models and their lineage."""

from __future__ import annotations

import argparse

from coordinator.cli.common import Subparsers, get, show


def cmd_model_log(args: argparse.Namespace) -> None:
    tree = get(args, f"/models/{args.model_id}/lineage")
    lines = []
    for node in tree["nodes"]:
        accuracy = "" if node["accuracy"] is None else f"  accuracy {node['accuracy']:.3f}"
        marker = "*" if node["id"] == tree["model"] else "o"
        indent = "  " * (node["iteration"] - 1)
        lines.append(
            f"{indent}{marker} model {node['id']}  task {node['task_id']} round "
            f"{node['round']}  {node['status']}  block #{node['committed_at']}{accuracy}\n"
            f"{indent}  {node['hash']}"
        )
    show(args, tree, "\n".join(lines))


def register(groups: Subparsers) -> None:
    model = groups.add_parser("model", help="committed models").add_subparsers(dest="cmd", required=True)
    model_log = model.add_parser("log", help="a model's lineage tree, like a version-control log")
    model_log.add_argument("model_id", type=int)
    model_log.set_defaults(run=cmd_model_log)
