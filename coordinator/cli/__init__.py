"""`dml`: the command line for organisations and operators.

Writes are signed here, with a key you supply (`--key //Alice`, a mnemonic, or `--keystore FILE`
exported from Polkadot-JS), and relayed through the coordinator: keys never leave this machine.
Reads come from the coordinator's mirror. `--json` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import httpx
from pydantic import ValidationError

from coordinator.cli import coordinator, model, result, task, worker
from coordinator.cli.common import CliError
from coordinator.cli.coordinator import cmd_serve
from coordinator.cli.worker import cmd_worker_run
from coordinator.settings import Settings
from decentralml.messages import invalid_fields

__all__ = ["cmd_serve", "cmd_worker_run", "main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The whole `dml` command tree; building it reads no settings, so it cannot fail on them."""
    root = argparse.ArgumentParser(
        prog="dml", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    root.add_argument("--coordinator", default="http://127.0.0.1:8000", help="coordinator REST URL")
    root.add_argument(
        "--chain-url",
        help="chain JSON-RPC URL (for signing; default $DML_CHAIN_URL, else ws://127.0.0.1:9944)",
    )
    root.add_argument("--json", action="store_true", help="print JSON for scripts")
    root.add_argument("--key", help="signing key: a //Dev derivation URI or a mnemonic")
    root.add_argument(
        "--keystore",
        help="a Polkadot-JS keystore JSON file to sign with (password asked, or DML_KEYSTORE_PASSWORD)",
    )
    groups = root.add_subparsers(dest="group", required=True)
    for group in (coordinator, task, worker, model, result):
        group.register(groups)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except ValidationError as invalid:  # one a command did not turn into a CliError itself
        prefix = "DML_" if invalid.title == Settings.__name__ else None
        print(f"dml: {invalid_fields(invalid, prefix)}", file=sys.stderr)
        return 1
    except (CliError, ValueError) as problem:
        print(f"dml: {problem}", file=sys.stderr)
        return 1
    except httpx.ConnectError:
        print(
            f"dml: no coordinator answers at {args.coordinator}: start one with `dml coordinator serve`",
            file=sys.stderr,
        )
        return 1
    return 0
