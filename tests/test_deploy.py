"""docker-compose.yml against the project's real CLI and settings (there is no Docker engine here).

Every service that runs `dml` (or the workers' `dml-worker`) must parse with the real parser and
reach the intended command; the coordinator must answer the Host the workers call it by, and the
workers must take their data from a catalogue;
every `DML_*` variable it sets must be a setting that command reads, with values the settings
accept; secrets must come from the environment; published ports must be loopback-only; the node's
chain spec must be the committed one. `docker compose config` runs too where the client has it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from coordinator.cli import cmd_serve, parser
from coordinator.settings import Settings
from support.devnet import ROOT
from worker import cli as worker_cli
from worker.settings import WorkerSettings

COMPOSE = ROOT / "docker-compose.yml"
SECRET = re.compile(r"(KEY|URI|PASSWORD)$")
REFERENCE = re.compile(r"\$\{([A-Z0-9_]+)(:\?[^}]*)?\}")
DUMMY = {
    "POSTGRES_PASSWORD": "not-a-real-password",
    "DML_VALIDATOR_URI": "bottom drive obey lake curtain smoke basket hold race lonely fit walk//judge",
    **{
        f"DML_WORKER{i}_KEY": f"bottom drive obey lake curtain smoke basket hold race lonely fit walk//w{i}"
        for i in (1, 2, 3)
    },
    **{f"DML_WORKER{i}_DATA": f'["cases=/data/datasets/cases-{i}.parquet"]' for i in (1, 2, 3)},
}


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    return found


def substituted(value: str) -> str:
    return REFERENCE.sub(lambda m: DUMMY[m.group(1)], value)


def test_every_dml_command_parses_with_the_real_cli_and_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    programs = {name: s.get("command", [None])[0] for name, s in services().items()}
    assert {n for n, p in programs.items() if p == "dml"} == {"coordinator"}
    workers = {n for n, p in programs.items() if p == "dml-worker"}  # the edge entry point
    assert workers == {"worker1", "worker2", "worker3"}

    coordinator = services()["coordinator"]
    args = parser().parse_args(coordinator["command"][1:])
    assert args.run is cmd_serve
    environment = {k: substituted(str(v)) for k, v in coordinator.get("environment", {}).items()}
    fields = {f"DML_{f.upper()}" for f in Settings.model_fields}
    assert set(environment) <= fields, set(environment) - fields
    for key, value in environment.items():  # read as the process would: from its environment
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.environment == "production"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.superlink_host == "0.0.0.0"
    assert settings.superlink_tls
    assert settings.superlink_node_auth
    assert settings.superlink_address == "coordinator:9091"
    assert (args.host, args.port) == ("0.0.0.0", 8000)
    assert "127.0.0.1" in settings.allowed_hosts  # the healthcheck's Host

    for name in sorted(workers):
        service = services()[name]
        run = worker_cli.parser().parse_args(service["command"][1:])
        environment = {k: substituted(str(v)) for k, v in service.get("environment", {}).items()}
        fields = {f"DML_WORKER_{f.upper()}" for f in WorkerSettings.model_fields}
        assert set(environment) <= fields, set(environment) - fields
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        worker = worker_cli.settings_of(run)
        assert run.cmd == "run"
        assert worker.superlink == "coordinator:9091"
        # The coordinator answers the Host this worker calls it by (else every call is a 400).
        assert urlsplit(worker.coordinator_url).hostname in settings.allowed_hosts, name
        assert worker.data == [f"cases=/data/datasets/cases-{name[-1]}.parquet"]  # its catalogue
        assert worker.data_file is None


def test_secrets_come_from_the_environment_and_ports_stay_on_loopback() -> None:
    text = COMPOSE.read_text()
    assert not re.search(r"//(Alice|Bob|Charlie|Dave|Eve|Ferdie)\b", text), "a dev key is in the file"
    for name, service in services().items():
        for key, value in service.get("environment", {}).items():
            if SECRET.search(key) or "PASSWORD" in str(value).upper():
                assert REFERENCE.search(str(value)), f"{name}: {key} is written in the file"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        if name not in ("node", "ipfs", "postgres") or service.get("volumes"):
            assert service.get("volumes"), f"{name} keeps no state across restarts"
        assert "healthcheck" in service or "depends_on" in service, name


def test_the_node_runs_the_committed_runtime_spec() -> None:
    node = services()["node"]
    spec_arg = next(a for a in node["command"] if a.startswith("--chain="))
    mount = next(v for v in node["volumes"] if v.endswith(":/spec:ro"))
    local = ROOT / mount.split(":")[0] / spec_arg.removeprefix("--chain=/spec/")
    spec = yaml.safe_load(local.read_text())
    assert (spec["relay_chain"], spec["para_id"]) == ("rococo-local", 1000)  # what omni-node requires


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="no `docker compose` client on this machine",
)
def test_docker_compose_accepts_the_file() -> None:
    checked = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        env=os.environ | DUMMY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
