"""`dml` against a real coordinator (`dml coordinator serve`) on the devnet: create, list, show,
cancel with a user-supplied key, and clear messages for mistakes."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from coordinator.api.auth import ApiToken
from coordinator.cli import main, parser
from coordinator.cli.common import format_dml, parse_dml
from coordinator.cli.task import task_table
from coordinator.federation.runner import run_task
from coordinator.federation.tasks import initial_manifest
from coordinator.settings import Settings
from decentralml.content import ContentStore
from decentralml.data import DataSpec
from decentralml.models import ModelSpec
from decentralml_bindings import DecentralMl, calls, events
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, EVE, FERDIE, UNIT
from support.devnet import ROOT, Devnet
from support.factories import InProcess, create_task, enlist, publish
from tests.coordinator.conftest import NewDatabase, serving
from worker.trainer import Behaviour

DML = [sys.executable, "-m", "coordinator.cli"]


@pytest.fixture
def coordinator(devnet: Devnet, new_database: NewDatabase, tmp_path: Path) -> Iterator[str]:
    """`dml coordinator serve` on a free port, its structured log in tmp_path/coordinator.log."""
    environment = {
        "DML_CHAIN_URL": devnet.url,
        "DML_DATABASE_URL": new_database("cli"),
        "DML_INDEXER_POLL_SECONDS": "0.2",
    }
    with serving(environment, tmp_path / "coordinator.log") as url:
        yield url


def dml(
    devnet: Devnet, coordinator: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DML, "--coordinator", coordinator, "--chain-url", devnet.url, *args],
        cwd=ROOT,
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_indexed(coordinator: str, block: int) -> None:
    """Until the coordinator's mirror holds `block` (its /health follows the head once a second)."""
    deadline = time.monotonic() + 30
    while (httpx.get(f"{coordinator}/health", timeout=5).json()["indexed_block"] or 0) < block:
        assert time.monotonic() < deadline, "the indexer did not catch up"
        time.sleep(0.2)


@pytest.mark.devnet
def test_a_task_from_the_command_line(devnet: Devnet, coordinator: str) -> None:
    created = dml(
        devnet,
        coordinator,
        "--key",
        "//Alice",
        "--json",
        "task",
        "create",
        "--max-assignments",
        "2",
        "--reward",
        "1.5",
        "--manifest-cid",
        "bafy-cli",
        "--manifest-hash",
        "0x" + "cc" * 32,
    )
    assert created.returncode == 0, created.stderr
    task_id = next(e for e in json.loads(created.stdout)["events"] if e["event"] == "TaskCreated")["task_id"]
    wait_indexed(coordinator, int(json.loads(created.stdout)["block_number"]))

    listed = dml(
        devnet, coordinator, "--json", "task", "list", "--creator", ALICE.ss58_address, "--limit", "500"
    )
    assert task_id in [t["id"] for t in json.loads(listed.stdout)["items"]]
    shown = dml(devnet, coordinator, "task", "show", str(task_id))
    assert shown.returncode == 0
    assert "Created" in shown.stdout
    assert "escrowed" in shown.stdout
    cancelled = dml(devnet, coordinator, "--key", "//Alice", "task", "cancel", str(task_id))
    assert cancelled.returncode == 0
    assert "TaskCancelled" in cancelled.stdout

    again = dml(devnet, coordinator, "--key", "//Alice", "task", "cancel", str(task_id))
    assert again.returncode == 1
    assert "TaskNotOpen" in again.stderr
    assert "Traceback" not in again.stderr
    unsigned = dml(devnet, coordinator, "task", "cancel", str(task_id))
    assert unsigned.returncode == 1
    assert "give --key" in unsigned.stderr
    nobody = subprocess.run(
        [*DML, "--coordinator", "http://127.0.0.1:9", "task", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nobody.returncode == 1
    assert "dml coordinator serve" in nobody.stderr


def test_production_refuses_the_public_dev_keys() -> None:
    with pytest.raises(ValueError, match="public"):
        Settings(environment="production", keystore_uris=["//Alice"])
    assert Settings(environment="dev", keystore_uris=["//Alice"]).keystore_uris == ["//Alice"]


def test_settings_mistakes_are_one_line_and_only_for_commands_that_read_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: a production environment that names a public dev key, and a port that is no number.
    monkeypatch.setenv("DML_ENVIRONMENT", "production")
    monkeypatch.setenv("DML_VALIDATOR_URI", "//Ferdie")
    monkeypatch.delenv("DML_WORKER_KEY", raising=False)
    create = ["--key", "//Alice", "task", "create", "--max-assignments", "1", "--reward", "1"]
    create += ["--manifest-cid", "bafy-cli", "--manifest-hash", "0x" + "cc" * 32]

    # Execute
    listing = parser().parse_args(["task", "list"])  # reads no settings: cannot fail on them
    refused = main(create)
    across_fields = capsys.readouterr().err
    monkeypatch.setenv("DML_ENVIRONMENT", "dev")
    monkeypatch.setenv("DML_SUPERLINK_PORT", "nine")
    bad_port = main(["coordinator", "reindex"])
    one_field = capsys.readouterr().err
    keyless = main(["--chain-url", "ws://127.0.0.1:9", "worker", "run", "--data-part", "0"])
    no_key = capsys.readouterr().err

    # Assert: exit 1, one line naming what to fix, no traceback, no pydantic URL.
    assert listing.run.__name__ == "cmd_task_list"
    assert (refused, bad_port, keyless) == (1, 1, 1)
    assert across_fields.startswith("dml: ")
    assert "dev keys ['//Ferdie'] are public" in across_fields
    assert one_field.startswith("dml: superlink_port: ")
    assert "(set DML_SUPERLINK_PORT or the matching option)" in one_field
    assert no_key == "dml: key: Field required (set DML_WORKER_KEY or the matching option)\n"
    for err in (across_fields, one_field, no_key):
        assert err.count("\n") == 1
        assert "Traceback" not in err
        assert "http" not in err


def test_a_token_is_made_only_for_real_accounts(capsys: pytest.CaptureFixture[str]) -> None:
    from decentralml_bindings.dev import ALICE

    made = main(["--json", "coordinator", "token", "--client", "ops", "--account", ALICE.ss58_address])
    shown = json.loads(capsys.readouterr().out)
    for account in ("nonsense", ALICE.ss58_address[:-1] + "x", ""):  # no address, a broken checksum
        refused = main(["coordinator", "token", "--client", "ops", "--account", account])
        err = capsys.readouterr()
        assert refused == 1
        assert err.out == ""  # no token printed
        assert err.err.startswith("dml: accounts.0: ")
        assert err.err.endswith("nothing was made\n")
        assert err.err.count("\n") == 1
    twice = main(["coordinator", "token", "--client", "ops", *["--account", ALICE.ss58_address] * 2])
    err = capsys.readouterr()
    assert twice == 1
    assert err.out == ""
    assert f"{ALICE.ss58_address} is named more than once" in err.err
    assert err.err.count("\n") == 1
    assert made == 0
    assert shown["setting"]["accounts"] == [ALICE.ss58_address]
    assert ApiToken.model_validate(shown["setting"]).accounts == [ALICE.ss58_address]


def test_amounts_print_as_dml_and_parse_without_rounding() -> None:
    # Prepare
    task = {"id": 7, "status": "Created", "reward_per_result": str(12 * UNIT + UNIT // 2), "escrowed": "0"}

    # Execute
    shown = task_table([task])

    # Assert: the same form for every amount, exact at both ends of the range.
    assert format_dml(12_500_000_000_000) == "12.5 DML"
    assert format_dml(str(100 * UNIT)) == "100 DML"
    assert format_dml(0) == "0 DML"
    assert format_dml(1) == "0.000000000001 DML"
    assert format_dml(2**128 - 1) == "340282366920938463463374607.431768211455 DML"
    assert "12.5 DML" in shown
    assert "0 DML" in shown
    assert (parse_dml("1.5"), parse_dml("0.3"), parse_dml("2")) == (3 * UNIT // 2, 3 * UNIT // 10, 2 * UNIT)
    for wrong in ("-1", "0.0000000000001", "nan", "lots"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_dml(wrong)


@pytest.mark.devnet
def test_results_from_the_command_line_with_a_keystore(
    devnet: Devnet, coordinator: str, chain: DecentralMl, tmp_path: Path
) -> None:
    # Prepare: Bob and Charlie each send a result; Eve validates from a Polkadot-JS keystore file.
    task_id = create_task(chain, rounds=1, label="bafy-cli-results")
    sent = {}
    for worker in (BOB, CHARLIE):
        chain.submit(calls.assign_task(task_id), worker)
        receipt = chain.submit(calls.send_task_result(task_id, 1, "bafy-r", worker.public_key), worker)
        sent[worker.ss58_address] = receipt.one(events.ResultSubmitted).result_id
    bob, charlie = sent[BOB.ss58_address], sent[CHARLIE.ss58_address]
    keystore = tmp_path / "eve.json"
    keystore.write_text(json.dumps(EVE.export_to_encrypted_json("correct horse", name="eve")))

    def as_eve(password: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"DML_KEYSTORE_PASSWORD": password}
        return dml(devnet, coordinator, "--keystore", str(keystore), *args, env=env)

    def as_alice(*args: str) -> subprocess.CompletedProcess[str]:
        return dml(devnet, coordinator, "--key", "//Alice", "result", *args)

    # Execute
    wrong = as_eve("wrong", "result", "validate", str(bob), "--approve")
    approved = as_eve(
        "correct horse", "--json", "result", "validate", str(bob), "--approve", "--score", "900000"
    )
    disapproved = as_eve("correct horse", "result", "validate", str(charlie), "--disapprove")
    accepted = dml(devnet, coordinator, "--key", "//Alice", "result", "accept", str(bob))
    rejected = dml(
        devnet, coordinator, "--key", "//Alice", "result", "reject", str(charlie), "--reason", "Outlier"
    )
    twice = dml(devnet, coordinator, "--key", "//Alice", "result", "accept", str(bob))

    # Assert: the chain holds what the commands said.
    assert wrong.returncode == 1
    assert "cannot unlock" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert approved.returncode == 0, approved.stderr
    assert [e["event"] for e in json.loads(approved.stdout)["events"]] == ["ResultValidated"]
    assert disapproved.returncode == 0, disapproved.stderr
    assert "ResultAccepted" in accepted.stdout
    assert "ResultRejected" in rejected.stdout
    assert twice.returncode == 1
    assert "ResultAlreadySettled" in twice.stderr
    bob_result, charlie_result = chain.result(bob), chain.result(charlie)
    assert bob_result is not None
    assert charlie_result is not None
    assert (bob_result.status.value, bob_result.approvals) == ("Accepted", 1)
    assert (charlie_result.status.value, charlie_result.disapprovals) == ("Rejected", 1)
    verdict = chain.verdict(bob, EVE.ss58_address)
    assert verdict is not None
    assert verdict.score == 900_000


@pytest.mark.devnet
def test_the_coordinator_logs_one_json_object_per_line(coordinator: str, tmp_path: Path) -> None:
    httpx.get(f"{coordinator}/tasks/424242", timeout=5)
    lines = (tmp_path / "coordinator.log").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries, "the coordinator logged nothing"
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    started = [e for e in entries if e["message"] == "coordinator starting"]
    assert started[0]["port"] == int(coordinator.rsplit(":", 1)[1])
    assert any(e["message"] == "blocks applied" and e["last"] >= 1 for e in entries)


@pytest.mark.devnet
def test_a_task_started_from_a_released_model_continues_its_lineage(
    devnet: Devnet, coordinator: str, chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: task A runs two rounds; the council releases its last model; task B starts from it.
    model = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[16])
    manifest = initial_manifest(store, "lineage", model, data=DataSpec(parts=2))
    first = publish(chain, store, manifest, rounds=2, workers=2)
    trainers = enlist(chain, store, first, {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}, tmp_path)
    run_task(chain, store, FERDIE, InProcess(trainers), first.task_id, tmp_path / "fed")
    released = chain.round_model(first.task_id, 2)
    assert released is not None
    chain.council_motion(calls.approve_model(released), ALICE, [BOB])
    second = publish(chain, store, manifest, rounds=1, workers=2, base_model=released)
    for key in (BOB, CHARLIE):
        chain.submit(calls.assign_task(second.task_id), key)
    run_task(chain, store, FERDIE, InProcess(trainers), second.task_id, tmp_path / "fed")
    branch = chain.round_model(second.task_id, 1)
    a1 = chain.round_model(first.task_id, 1)
    wait_indexed(coordinator, chain.block_number())

    # Execute
    answer = httpx.get(f"{coordinator}/models/{branch}/lineage", timeout=10)
    assert answer.status_code == 200, answer.text
    tree = answer.json()
    logged = dml(devnet, coordinator, "model", "log", str(branch))

    # Assert: A1 -> A2 (released) -> B1, one tree, right parents and iterations.
    nodes = {n["id"]: n for n in tree["nodes"]}
    assert tree["root"] == a1
    assert [(nodes[m]["parent"], nodes[m]["iteration"]) for m in (a1, released, branch)] == [
        (None, 1),
        (a1, 2),
        (released, 3),
    ]
    assert nodes[released]["status"] == "Approved"
    assert (nodes[branch]["task_id"], nodes[branch]["round"]) == (second.task_id, 1)
    assert logged.returncode == 0, logged.stderr
    lines = [line for line in logged.stdout.splitlines() if "model" in line]
    assert [line.split()[2] for line in lines] == [str(a1), str(released), str(branch)]
    assert lines[-1].lstrip().startswith("*")
    assert "Approved" in lines[1]
