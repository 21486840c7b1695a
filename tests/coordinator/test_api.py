"""The REST API against the real devnet: a whole task through REST only, both ways of signing,
reads equal to the chain at every step, and hostile input refused with a 4xx that changes nothing."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.api import create_app
from coordinator.api.app import ApiConfig
from coordinator.api.auth import ApiToken
from coordinator.api.schemas import TaskOut
from coordinator.db import models
from coordinator.db.engine import make_engine, migrate, session_factory
from coordinator.federation.status import RunStatus, write_status
from coordinator.indexer import Indexer
from decentralml_bindings import DecentralMl, calls, council, errors
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, EVE, UNIT
from support.factories import run_task
from tests.coordinator.conftest import NewDatabase
from tests.coordinator.mirror_checks import assert_mirror_matches_chain, snapshot

TOKEN = "dml_test-operator-token"


class Api:
    """A TestClient over the app, with the indexer synced after every call."""

    def __init__(self, client: TestClient, indexer: Indexer, sessions: sessionmaker[Session]) -> None:
        self.client, self.indexer, self.sessions = client, indexer, sessions

    def post(self, path: str, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
        response = self.client.post(path, json=body)
        assert response.status_code == expect, response.text
        self.indexer.sync_once()
        return dict(response.json())

    def get(self, path: str, expect: int = 200) -> Any:
        response = self.client.get(path)
        assert response.status_code == expect, response.text
        return response.json()


@pytest.fixture
def api(chain: DecentralMl, new_database: NewDatabase) -> Iterator[Api]:
    engine = make_engine(new_database("mirror"))
    migrate(engine)
    sessions = session_factory(engine)
    indexer = Indexer(chain, sessions)
    indexer.sync_once()
    operator = ApiToken(
        client="tests",
        token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(),
        accounts=[k.ss58_address for k in (ALICE, CHARLIE, EVE)],
    )
    config = ApiConfig(tokens=[operator])
    app = create_app(
        chain, sessions, ["//Alice", "//Charlie", "//Eve"], max_body_bytes=64 * 1024, config=config
    )
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield Api(client, indexer, sessions)


def event(submitted: dict[str, Any], name: str) -> dict[str, Any]:
    found = [e for e in submitted["events"] if e["event"] == name]
    assert len(found) == 1, submitted
    only: dict[str, Any] = found[0]
    return only


def signed_by(chain: DecentralMl, who: Any, call: calls.Call) -> dict[str, str]:
    return {"signed_extrinsic": chain.sign(call, who)}


def assert_task_view_matches_chain(api: Api, chain: DecentralMl, task_id: int) -> None:
    view = api.get(f"/tasks/{task_id}")
    task = chain.task(task_id)
    assert task is not None
    assert (view["status"], view["assigned"], view["committed_rounds"]) == (
        task.status.value,
        task.assigned,
        task.committed_rounds,
    )
    assert (int(view["paid"]), int(view["escrowed"]), int(view["refunded"])) == (
        task.paid,
        task.escrowed,
        task.refunded,
    )
    for result in view["results"]:
        on_chain = chain.result(result["id"])
        assert on_chain is not None
        assert (result["status"], result["approvals"], result["disapprovals"]) == (
            on_chain.status.value,
            on_chain.approvals,
            on_chain.disapprovals,
        )
    with api.sessions() as session:
        assert_mirror_matches_chain(session, chain)


@pytest.mark.devnet
def test_a_whole_task_through_rest_with_both_ways_of_signing(
    api: Api, chain: DecentralMl, tmp_path: Path
) -> None:
    created = api.post(
        "/tasks",
        {
            "signer": ALICE.ss58_address,
            "rounds": 1,
            "max_assignments": 2,
            "expires_at": chain.block_number() + 1_000,
            "validators": [EVE.ss58_address],
            "reward_per_result": str(3 * UNIT),
            "manifest_cid": "bafy-rest-manifest",
            "manifest_hash": "0x" + "aa" * 32,
        },
        expect=201,
    )
    task_id = event(created, "TaskCreated")["task_id"]
    assert_task_view_matches_chain(api, chain, task_id)

    api.post(f"/tasks/{task_id}/assign", signed_by(chain, BOB, calls.assign_task(task_id)))
    api.post(f"/tasks/{task_id}/assign", {"signer": CHARLIE.ss58_address})
    assert_task_view_matches_chain(api, chain, task_id)

    bob_call = calls.send_task_result(task_id, 1, "bafy-bob", "0x" + "0b" * 32)
    bob = api.post(
        f"/tasks/{task_id}/results",
        {"round": 1, "cid": "bafy-bob", "hash": "0x" + "0b" * 32, **signed_by(chain, BOB, bob_call)},
        expect=201,
    )
    charlie = api.post(
        f"/tasks/{task_id}/results",
        {"signer": CHARLIE.ss58_address, "round": 1, "cid": "bafy-charlie", "hash": "0x" + "0c" * 32},
        expect=201,
    )
    bob_result = event(bob, "ResultSubmitted")["result_id"]
    charlie_result = event(charlie, "ResultSubmitted")["result_id"]
    api.post(
        f"/results/{bob_result}/validate", {"signer": EVE.ss58_address, "approved": True, "score": 910_000}
    )
    api.post(
        f"/results/{charlie_result}/validate", {"signer": EVE.ss58_address, "approved": False, "score": 10}
    )
    assert_task_view_matches_chain(api, chain, task_id)

    accepted = api.post(f"/results/{bob_result}/accept", {"signer": ALICE.ss58_address})
    paid = event(accepted, "ResultAccepted")  # Eve scored it 91%: that share of the reward
    assert (int(paid["reward"]), int(paid["refunded"])) == (3 * UNIT * 91 // 100, 3 * UNIT * 9 // 100)
    api.post(f"/results/{charlie_result}/reject", {"signer": ALICE.ss58_address, "reason": "Outlier"})
    # This coordinator ran the task's rounds (its run status file says running): shown as is while
    # the task is open, and as ended once the chain says it completed.
    (tmp_path / f"task-{task_id}").mkdir()
    write_status(tmp_path / f"task-{task_id}", RunStatus("running", attempts=1))
    app = api.client.app
    assert isinstance(app, FastAPI)
    app.state.federation = {"directory": str(tmp_path)}
    assert api.get(f"/tasks/{task_id}")["run"]["state"] == "running"
    committed = api.post(
        f"/tasks/{task_id}/models",
        {
            "signer": EVE.ss58_address,
            "round": 1,
            "cid": "bafy-model",
            "hash": "0x" + "ee" * 32,
            "accepted": [bob_result],
        },
        expect=201,
    )
    model_id = event(committed, "ModelCommitted")["model_id"]
    event(committed, "TaskCompleted")

    assert_task_view_matches_chain(api, chain, task_id)
    run = api.get(f"/tasks/{task_id}")["run"]
    assert (run["state"], run["reason"]) == ("ended", "the task is Completed on chain")
    assert api.get(f"/models/{model_id}")["accepted"] == [bob_result]
    assert api.get(f"/results/{bob_result}")["verdicts"][0]["validator"] == EVE.ss58_address
    earnings = api.get(f"/accounts/{BOB.ss58_address}/earnings")
    assert task_id in earnings["tasks"]
    listed = api.get(f"/tasks?status=Completed&creator={ALICE.ss58_address}&limit=500")
    assert task_id in [t["id"] for t in listed["items"]]
    # The lists are read without the ORM: each item must be exactly what TaskOut makes of the row.
    with api.sessions() as session:
        rows = {t.id: t for t in session.scalars(select(models.Task))}
        expected = {i: TaskOut.model_validate(t).model_dump(mode="json") for i, t in rows.items()}
    matching = sorted(
        (i for i, t in rows.items() if t.status == "Completed" and t.creator == ALICE.ss58_address),
        reverse=True,
    )
    assert [t["id"] for t in listed["items"]] == matching[:500]  # the page: newest first
    assert listed["total"] == len(matching)
    for item in [*listed["items"], *api.get(f"/accounts/{BOB.ss58_address}/tasks")]:
        assert item == expected[item["id"]]
    past_the_end = api.get(f"/tasks?creator={ALICE.ss58_address}&offset=100000")
    assert (past_the_end["total"], past_the_end["items"]) == (
        sum(t.creator == ALICE.ss58_address for t in rows.values()),
        [],
    )
    assert api.get("/health")["indexer_lag"] == 0


@pytest.mark.devnet
def test_hostile_input_gets_a_clear_4xx_and_changes_nothing(api: Api, chain: DecentralMl) -> None:
    task_id = event(
        api.post(
            "/tasks",
            {
                "signer": ALICE.ss58_address,
                "max_assignments": 1,
                "expires_at": chain.block_number() + 1_000,
                "reward_per_result": str(UNIT),
                "manifest_cid": "bafy-hostile",
                "manifest_hash": "0x" + "ab" * 32,
            },
            expect=201,
        ),
        "TaskCreated",
    )["task_id"]
    replayed = signed_by(chain, BOB, calls.assign_task(task_id))
    api.post(f"/tasks/{task_id}/assign", replayed)
    bad_signature = bytearray.fromhex(chain.sign(calls.cancel_task(task_id), ALICE)[2:])
    bad_signature[2 + 1 + 33 + 1 + 5] ^= 0xFF
    before_ids = chain.next_ids()
    with api.sessions() as session:
        before_mirror = snapshot(session)

    cases: list[tuple[str, str, Any, int, str]] = [
        ("post", "/tasks", {"signer": ALICE.ss58_address, "max_assignments": "many"}, 422, "max_assignments"),
        ("post", f"/tasks/{task_id}/assign", {}, 422, "exactly one"),
        ("post", f"/tasks/{task_id}/assign", {"signer": BOB.ss58_address}, 403, "keystore"),
        ("post", "/tasks/999999/assign", {"signer": CHARLIE.ss58_address}, 404, "No task has this id"),
        ("get", "/tasks/999999", None, 404, "no task"),
        ("get", "/results/999999", None, 404, "no result"),
        ("post", f"/tasks/{task_id}/assign", replayed, 400, "1010"),
        ("post", f"/tasks/{task_id}/cancel", {"signed_extrinsic": "0x" + bad_signature.hex()}, 400, "1010"),
        (
            "post",
            f"/tasks/{task_id}/cancel",
            signed_by(chain, ALICE, calls.assign_task(task_id)),
            400,
            "not the DecentralMl.cancel_task",
        ),
        ("post", f"/tasks/{task_id}/cancel", {"signed_extrinsic": "0x1234"}, 400, "not an extrinsic"),
        ("post", f"/tasks/{task_id}/cancel", {"signer": CHARLIE.ss58_address}, 403, "creator"),
        ("post", f"/tasks/{task_id}/assign", {"signer": ALICE.ss58_address}, 403, "own task"),
        (
            "post",
            "/results/0/validate",
            {"signer": EVE.ss58_address, "approved": True, "score": 2_000_000},
            422,
            "score",
        ),
        ("post", "/tasks", {"padding": "x" * 100_000}, 413, "limited"),
    ]
    for method, path, body, status, message in cases:
        response = api.client.request(method, path, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert message in response.text, (path, response.text)

    # Refused pallet calls are still included (their fee is paid), so blocks move on; nothing in
    # the pallet's state or the mirror's rows does.
    api.indexer.sync_once()
    assert chain.next_ids() == before_ids
    with api.sessions() as session:
        after_mirror = snapshot(session)
        assert_mirror_matches_chain(session, chain)
    del before_mirror["indexer_cursor"], after_mirror["indexer_cursor"]
    assert after_mirror == before_mirror


def poll(api: Api, status_url: str) -> dict[str, Any]:
    """The queued write at status_url once it is no longer pending."""
    deadline = time.monotonic() + 60
    while (state := api.get(status_url))["state"] == "pending":
        assert time.monotonic() < deadline, f"{status_url} still pending after 60 s"
        time.sleep(0.1)
    return dict(state)


@pytest.mark.devnet
def test_writes_can_return_a_status_url_instead_of_waiting(api: Api, chain: DecentralMl) -> None:
    body = {
        "signer": ALICE.ss58_address,
        "wait": False,
        "max_assignments": 1,
        "expires_at": chain.block_number() + 1_000,
        "reward_per_result": str(UNIT),
        "manifest_cid": "bafy-queued",
        "manifest_hash": "0x" + "ac" * 32,
    }
    missing_ids = chain.next_ids()[0] + 10_000

    queued = api.client.post("/tasks", json=body)
    refused_now = api.client.post(
        f"/tasks/{missing_ids}/assign", json={"signer": BOB.ss58_address, "wait": False}
    )
    fails_later = api.client.post(
        f"/tasks/{missing_ids}/assign", json={"signer": CHARLIE.ss58_address, "wait": False}
    )

    assert queued.status_code == 202, queued.text
    assert queued.headers["location"] == queued.json()["status_url"]
    included = poll(api, queued.json()["status_url"])
    assert (included["state"], included["call"]) == ("included", "DecentralMl.create_task")
    task_id = event(included["result"], "TaskCreated")["task_id"]
    task = chain.task(task_id)
    assert task is not None
    assert task.manifest_cid == "bafy-queued"
    # Checks that need no chain answer at once; a pallet error shows on the status.
    assert refused_now.status_code == 403
    assert "keystore" in refused_now.text
    assert fails_later.status_code == 202
    failed = poll(api, fails_later.json()["status_url"])
    assert (failed["state"], failed["status"], failed["error"]["error"]) == ("failed", 404, "TaskNotFound")
    assert api.get("/submissions/not-an-id", expect=404)["detail"].startswith("no submission")


@pytest.mark.devnet
def test_council_motions_and_votes_are_mirrored(api: Api, chain: DecentralMl) -> None:
    run_task(chain, rounds=1, label="bafy-council")
    model_id = chain.next_ids()[2] - 1
    approve = calls.approve_model(model_id)
    revoke = calls.revoke_model(model_id)

    # Execute: one motion passes, one fails inside its call, one is voted down.
    chain.council_motion(approve, ALICE, [BOB])
    with pytest.raises(errors.ModelNotFound):
        chain.council_motion(calls.approve_model(model_id + 1_000), BOB, [CHARLIE])
    length = len(chain.encoded(revoke))
    proposed = chain.submit(council.propose(revoke, 2, length), CHARLIE)
    motion = next(a for m, n, a in proposed.other_events if n == "Proposed")
    for member in (ALICE, BOB):
        chain.submit(council.vote(motion["proposal_hash"], motion["proposal_index"], False), member)
    chain.submit(council.close(motion["proposal_hash"], motion["proposal_index"], length), CHARLIE)
    api.indexer.sync_once()

    # Assert: newest first.
    passed, failed, rejected = reversed(api.get("/council/motions?limit=3"))
    assert (passed["status"], passed["ayes"], passed["nays"]) == ("Executed", 2, 0)
    assert passed["call"]["call_function"] == "approve_model"
    assert (failed["status"], failed["proposer"]) == ("ExecutionFailed", BOB.ss58_address)
    assert (rejected["status"], rejected["ayes"], rejected["nays"]) == ("Disapproved", 0, 2)
    shown = api.get(f"/council/motions/{rejected['index']}")
    assert {(v["voter"], v["aye"]) for v in shown["votes"]} == {
        (ALICE.ss58_address, False),
        (BOB.ss58_address, False),
    }
    assert api.get(f"/models/{model_id}")["status"] == "Approved"
    assert api.get("/council/motions?status=Disapproved")[0]["index"] == rejected["index"]
