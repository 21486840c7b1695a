"""`dml coordinator`: run the coordinator, or rebuild its mirror."""

from __future__ import annotations

import argparse

from coordinator.cli.common import CliError, Subparsers, load, show
from coordinator.settings import Settings


def cmd_serve(args: argparse.Namespace) -> None:
    settings = load(Settings)  # before the heavy imports: a mistake in them shows at once
    from coordinator.serve import serve

    serve(settings, args.host, args.port)


def cmd_reindex(args: argparse.Namespace) -> None:
    settings = load(Settings)
    from coordinator.serve import reindex

    show(args, {"blocks": reindex(settings)}, "mirror rebuilt")


def cmd_token(args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from coordinator.api.auth import ApiToken, new_token
    from decentralml.messages import invalid_fields

    token, digest = new_token()
    try:
        entry = ApiToken(client=args.client, token_sha256=digest, accounts=args.account)
    except ValidationError as invalid:  # a typo in an account or the client's name
        raise CliError(f"{invalid_fields(invalid)}; nothing was made") from invalid
    show(
        args,
        {"token": token, "setting": entry.model_dump()},
        f"token for {args.client} (shown once; give it to the client, keep it secret):\n  {token}\n"
        f"add to DML_API_TOKENS (a JSON list) on the coordinator:\n  {entry.model_dump_json()}",
    )


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
    token = coordinator.add_parser(
        "token", help="a new API token that lets a client make the coordinator sign as named accounts"
    )
    token.add_argument("--client", required=True, help="the client's name, as logged")
    token.add_argument(
        "--account", action="append", required=True, help="a keystore account (SS58) it may sign as"
    )
    token.set_defaults(run=cmd_token)
