"""docs/settings.md, written from the settings models themselves: `python -m scripts.settings_doc`.

The coordinator's `Settings` and the worker's `WorkerSettings` are the one table of what can be
configured; this renders them (variable, default, description), with the variables the start
scripts read. `tests/test_settings_doc.py` fails when docs/settings.md differs from what it renders.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from coordinator.settings import Settings
from worker.settings import WorkerSettings

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"

# The start scripts' variables (each script's header says the same).
DEVNET, IPFS, POSTGRES = (
    "chain/devnet/devnet.sh (`make devnet`)",
    "scripts/ipfs.sh (`make ipfs`)",
    "scripts/postgres.sh (`make postgres`)",
)
WASM = "chain/artifacts/decentralml_runtime.compact.compressed.wasm"
SCRIPTS: list[tuple[str, str, str, str]] = [
    (DEVNET, "DML_CHAIN_PORT", "9944", "JSON-RPC port (WebSocket and HTTP)"),
    (DEVNET, "DML_CHAIN_HOST", "127.0.0.1", "address it listens on"),
    (DEVNET, "DML_DEVNET_DIR", ".devnet", "state: chain.sqlite, chopsticks.log and .pid"),
    (DEVNET, "DML_CHAIN_SPEC", "chain/artifacts/dev-spec.raw.json", "raw chain spec"),
    (DEVNET, "DML_CHAIN_WASM", WASM, "runtime wasm, for a missing spec"),
    (DEVNET, "DML_RUNTIME_LOG_LEVEL", "0", "runtime log level, 0 off to 5 trace"),
    (DEVNET, "DML_START_TIMEOUT", "180", "seconds to wait for the RPC on start"),
    (DEVNET, "DML_NPM_CACHE", "~/.cache/decentralml/npm", "npm cache when node_modules is missing"),
    (IPFS, "DML_IPFS_DIR", ".dml/ipfs", "the Kubo repository"),
    (IPFS, "DML_IPFS_PORT", "5001", "the RPC API port"),
    (IPFS, "DML_IPFS_SWARM", "/ip4/127.0.0.1/tcp/0", "where it listens for peers"),
    (IPFS, "DML_IPFS_PEERS", "[]", "peers to stay connected to (JSON list; a private network has no DHT)"),
    (POSTGRES, "DML_PG_PORT", "5432", "PostgreSQL's port"),
    (POSTGRES, "DML_PG_DIR", "/tmp/decentralml-postgres-$DML_PG_PORT", "the cluster's directory"),
]


def _default(field: Any) -> str:
    if field.is_required():
        return "(required)"
    value = field.default_factory() if field.default_factory is not None else field.default
    return "(none)" if value is None else f"`{value!r}`".replace("|", "\\|")


def _table(model: type[BaseSettings]) -> list[str]:
    prefix = str(model.model_config.get("env_prefix", ""))
    lines = ["| Variable | Default | What it sets |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{prefix}{name.upper()}` | {_default(field)} | {description} |")
    return lines


def render() -> str:
    lines = [
        "# Settings",
        "",
        "Written by `python -m scripts.settings_doc` from the settings models (do not edit by hand).",
        "Lists are JSON (`DML_ALLOWED_HOSTS='[\"api.example.org\"]'`). `dml` and `dml-worker` options",
        "override the variables of the same name.",
        "",
        "## The coordinator (`dml coordinator serve`, and `dml` commands that read them)",
        "",
        *_table(Settings),
        "",
        "## A worker (`dml-worker run`, `dml worker run`)",
        "",
        *_table(WorkerSettings),
        "",
        "## The start scripts",
        "",
        "| Script | Variable | Default | What it sets |",
        "|---|---|---|---|",
        *[f"| {script} | `{name}` | `{default}` | {text} |" for script, name, default, text in SCRIPTS],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    DOC.write_text(render())
    sys.stdout.write(f"wrote {DOC}\n")
