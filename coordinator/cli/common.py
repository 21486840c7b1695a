"""What every `dml` command shares: signing, talking to the coordinator, printing, amounts, settings."""

from __future__ import annotations

import argparse
import getpass
import json
import os
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import httpx
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from substrateinterface import Keypair

from coordinator.settings import Settings
from decentralml.messages import invalid_fields
from decentralml_bindings import Call, DecentralMl
from decentralml_bindings.dev import UNIT

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class CliError(Exception):
    """A mistake the user can fix; printed without a traceback."""


def load(settings_class: type[SettingsT], **overrides: Any) -> SettingsT:
    """`settings_class` from its environment variables and `overrides`, or a one-line CliError."""
    try:
        return settings_class(**overrides)
    except ValidationError as invalid:
        prefix = str(settings_class.model_config.get("env_prefix", ""))
        raise CliError(invalid_fields(invalid, prefix)) from invalid


def chain_url(args: argparse.Namespace) -> str:
    """`--chain-url`, else the coordinator's `DML_CHAIN_URL` (read only when a command needs it)."""
    return str(args.chain_url) if args.chain_url else load(Settings).chain_url


def format_dml(plancks: int | str) -> str:
    """An on-chain amount (an int, or the decimal string the API sends) as DML: `12.5 DML`."""
    with localcontext(prec=80):  # u128 has 39 digits: the default 28 would round
        whole = (Decimal(int(plancks)) / UNIT).normalize()
    return f"{whole:f} DML"


def parse_dml(text: str) -> int:
    """An amount typed in DML (`1.5`) as plancks, exactly: no float rounding."""
    try:
        with localcontext(prec=80):
            plancks = Decimal(text) * UNIT
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount of DML: {text!r}") from None
    if not plancks.is_finite() or plancks < 0 or plancks != plancks.to_integral_value():
        raise argparse.ArgumentTypeError(f"not an amount of DML (at most 12 decimals, not negative): {text}")
    return int(plancks)


def keypair(args: argparse.Namespace) -> Keypair:
    if args.keystore:
        try:
            data = Path(args.keystore).read_text()
        except OSError as unreadable:
            raise CliError(f"cannot read the keystore file: {unreadable}") from unreadable
        password = os.environ.get("DML_KEYSTORE_PASSWORD")
        if password is None:
            password = getpass.getpass(f"password for {args.keystore}: ")
        try:
            return Keypair.create_from_encrypted_json(data, password)
        except Exception as locked:  # wrong password, or not a Polkadot-JS keystore file
            raise CliError(
                f"cannot unlock {args.keystore}: wrong password or not a Polkadot-JS keystore file ({locked})"
            ) from locked
    if not args.key:
        raise CliError("this command signs: give --key (a //Dev URI or a mnemonic) or --keystore FILE")
    try:
        return Keypair.create_from_uri(args.key)
    except Exception as bad:  # substrate-interface raises several kinds for a malformed key
        raise CliError(f"--key is neither a derivation URI nor a mnemonic: {bad}") from bad


def post(args: argparse.Namespace, path: str, body: dict[str, Any], call: Call) -> dict[str, Any]:
    """Sign `call` locally and have the coordinator relay it with the request `body`."""
    signer = keypair(args)
    chain = DecentralMl.connect(chain_url(args))
    try:
        signed = chain.sign(call, signer)
    finally:
        chain.close()
    response = httpx.post(f"{args.coordinator}{path}", json={**body, "signed_extrinsic": signed}, timeout=120)
    submitted: dict[str, Any] = answer(response)
    return submitted


def get(args: argparse.Namespace, path: str) -> Any:
    return answer(httpx.get(f"{args.coordinator}{path}", timeout=30))


def answer(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        body = response.json()
        detail = body.get("detail")
        message = f"{body.get('error', response.status_code)}: {detail}" if "error" in body else str(detail)
    except ValueError:
        message = response.text
    raise CliError(f"the coordinator refused ({response.status_code}): {message}")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def show(args: argparse.Namespace, value: Any, human: str) -> None:
    print(json.dumps(value, indent=2) if args.json else human)


def events_line(submitted: dict[str, Any]) -> str:
    names = ", ".join(e["event"] for e in submitted["events"]) or "no pallet events"
    return f"included in block #{submitted['block_number']} (fee {format_dml(submitted['fee'])}): {names}"
