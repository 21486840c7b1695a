"""The API as a hostile client meets it, on the real devnet: keystore signing needs a token bound
to the account (and is logged), rate limits answer 429, a chunked oversize body gets 413, a repeated
Idempotency-Key makes one transaction, a statically invalid create costs no fee, a foreign Host is
refused, every answer has a request id and one error shape, a future-nonce relay fails by its
deadline while the API keeps answering, and the API recovers from a devnet restart by itself."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from coordinator.api import create_app
from coordinator.api.app import ApiConfig
from coordinator.api.auth import ApiToken
from coordinator.db.engine import make_engine, migrate, session_factory
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, UNIT
from support.devnet import Devnet

TOKEN = "dml_alice-operator"
OTHER = "dml_charlie-operator"


def token(secret: str, client: str, *accounts: str) -> ApiToken:
    return ApiToken(
        client=client, token_sha256=hashlib.sha256(secret.encode()).hexdigest(), accounts=list(accounts)
    )


def app_for(chain: DecentralMl, tmp_path: Path, **config: Any) -> TestClient:
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.sqlite'}")
    migrate(engine)
    tokens = [
        token(TOKEN, "alice-ops", ALICE.ss58_address),
        token(OTHER, "charlie-ops", CHARLIE.ss58_address),
    ]
    settings = ApiConfig(tokens=tokens, **config)
    app = create_app(
        chain, session_factory(engine), ["//Alice", "//Charlie"], max_body_bytes=4096, config=settings
    )
    return TestClient(app)


@pytest.fixture
def http(chain: DecentralMl, tmp_path: Path) -> Iterator[TestClient]:
    with app_for(chain, tmp_path) as client:
        yield client


def create_body(chain: DecentralMl, **overrides: Any) -> dict[str, Any]:
    return {
        "signer": ALICE.ss58_address,
        "max_assignments": 1,
        "expires_at": chain.block_number() + 1_000,
        "reward_per_result": str(UNIT),
        "manifest_cid": "bafy-security",
        "manifest_hash": "0x" + "cd" * 32,
        **overrides,
    }


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.devnet
def test_keystore_signing_needs_a_token_bound_to_the_account_and_is_logged(
    http: TestClient, chain: DecentralMl, caplog: pytest.LogCaptureFixture
) -> None:
    before = chain.next_ids()
    nonce = chain.substrate.get_account_nonce(ALICE.ss58_address)

    anonymous = http.post("/tasks", json=create_body(chain))
    wrong = http.post("/tasks", json=create_body(chain), headers=bearer("dml_guessed"))
    other_account = http.post("/tasks", json=create_body(chain), headers=bearer(OTHER))
    basic = http.post("/tasks", json=create_body(chain), headers={"Authorization": f"Basic {TOKEN}"})
    refused_at_once = chain.next_ids(), chain.substrate.get_account_nonce(ALICE.ss58_address)
    with caplog.at_level(logging.INFO, logger="coordinator.api.auth"):
        # The scheme is case-insensitive (RFC 9110).
        allowed = http.post("/tasks", json=create_body(chain), headers={"Authorization": f"bearer  {TOKEN}"})

    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "NotAuthenticated")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert (wrong.status_code, wrong.json()["error"]) == (401, "NotAuthenticated")
    assert (other_account.status_code, other_account.json()["error"]) == (403, "NotAuthorized")
    assert (basic.status_code, basic.json()["error"]) == (401, "NotAuthenticated")
    assert refused_at_once == (before, nonce), "a refused keystore request reached the chain"
    assert allowed.status_code == 201, allowed.text
    assert chain.next_ids()[0] == before[0] + 1
    used = [r for r in caplog.records if r.getMessage() == "keystore signing"]
    assert [(r.__dict__["client"], r.__dict__["account"], r.__dict__["call"]) for r in used] == [
        ("alice-ops", ALICE.ss58_address, "DecentralMl.create_task")
    ]


@pytest.mark.devnet
def test_bursts_get_429_with_retry_after(chain: DecentralMl, tmp_path: Path) -> None:
    with app_for(chain, tmp_path, write_rate_per_minute=4, account_rate_per_minute=60) as client:
        answers = [client.post("/tasks/0/assign", json={"signer": BOB.ss58_address}) for _ in range(4)]
    with app_for(chain, tmp_path, account_rate_per_minute=1) as client:
        first = client.post("/tasks", json=create_body(chain), headers=bearer(TOKEN))
        second = client.post("/tasks", json=create_body(chain), headers=bearer(TOKEN))

    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) >= 1, [a.status_code for a in answers]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["error"] == "TooManyRequests"
    assert first.status_code == 201, first.text
    assert (second.status_code, second.json()["error"]) == (429, "TooManyRequests")
    assert "key is used at most once a minute here (signing and verifying alike)" in second.json()["detail"]


@pytest.mark.devnet
def test_a_chunked_oversize_body_gets_413_and_is_not_echoed(http: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"padding": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}'

    refused = http.post("/tasks", content=chunks(), headers={"Content-Type": "application/json"})
    declared = http.post(
        "/tasks", content=b"{" + b" " * 5000 + b"}", headers={"Content-Type": "application/json"}
    )

    assert "content-length" not in refused.request.headers  # it really was chunked
    assert (refused.status_code, refused.json()["error"]) == (413, "BodyTooLarge")
    assert len(refused.content) < 200
    assert (declared.status_code, declared.json()["error"]) == (413, "BodyTooLarge")


@pytest.mark.devnet
def test_a_repeated_idempotency_key_makes_one_transaction(http: TestClient, chain: DecentralMl) -> None:
    body = create_body(chain, manifest_cid="bafy-once")
    headers = {**bearer(TOKEN), "Idempotency-Key": "create-once-1"}
    before = chain.next_ids()[0]

    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda _: http.post("/tasks", json=body, headers=headers), range(3)))
    later = http.post("/tasks", json=body, headers=headers)
    reused = http.post("/tasks", json={**body, "manifest_cid": "bafy-other"}, headers=headers)

    assert chain.next_ids()[0] == before + 1, "one key made more than one task"
    assert {a.status_code for a in [*answers, later]} == {201}
    assert len({a.json()["extrinsic_hash"] for a in [*answers, later]}) == 1
    assert later.headers["idempotent-replayed"] == "true"
    assert (reused.status_code, reused.json()["error"]) == (422, "IdempotencyKeyReused")


@pytest.mark.devnet
def test_statically_invalid_creates_are_refused_before_the_chain_and_cost_no_fee(
    http: TestClient, chain: DecentralMl
) -> None:
    limits = http.get("/limits").json()
    too_many = [k.ss58_address for k in (ALICE, BOB, CHARLIE)] * 6
    cases = {
        "ZeroReward": {"reward_per_result": "0"},
        "RewardBelowExistentialDeposit": {"reward_per_result": str(int(limits["existential_deposit"]) - 1)},
        "InvalidRounds": {"rounds": limits["max_rounds"] + 1},
        "InvalidMaxAssignments": {"max_assignments": limits["max_assignments"] + 1},
        "TooManyValidators": {"validators": too_many[: limits["max_validators"] + 1]},
        "DuplicateValidator": {"validators": [BOB.ss58_address, BOB.ss58_address]},
        "ExpiryInPast": {"expires_at": 1},
        "ExpiryTooFar": {"expires_at": chain.block_number() + limits["max_task_duration"] + 10},
    }
    balance = chain.free_and_reserved(ALICE.ss58_address)[0]

    answers = {}
    for error, change in cases.items():
        body = create_body(chain, **change) | {"signer": None}
        args = {k: v for k, v in body.items() if k not in ("signer", "wait")}
        signed = chain.sign(_create_call(chain, args), ALICE)
        answers[error] = http.post("/tasks", json={**args, "signed_extrinsic": signed})

    for error, answer in answers.items():
        assert (answer.status_code, answer.json()["error"]) == (400, error), answer.text
    assert chain.free_and_reserved(ALICE.ss58_address)[0] == balance, "a refused create paid a fee"


def _create_call(chain: DecentralMl, args: dict[str, Any]) -> calls.Call:
    from decentralml_bindings.types import TaskType, ValidationStrategy

    return calls.create_task(
        task_type=TaskType.MODEL_CONTRIBUTOR,
        rounds=args.get("rounds", 1),
        max_assignments=args["max_assignments"],
        expires_at=args["expires_at"],
        validation=ValidationStrategy.manual_accept(),
        validators=args.get("validators", []),
        reward_per_result=int(args["reward_per_result"]),
        manifest_cid=args["manifest_cid"],
        manifest_hash=args["manifest_hash"],
    )


@pytest.mark.devnet
def test_hosts_request_ids_bounds_and_one_error_shape(chain: DecentralMl, tmp_path: Path) -> None:
    with app_for(chain, tmp_path, allowed_hosts=["127.0.0.1", "localhost", "testserver"]) as client:
        foreign = client.get("/health", headers={"Host": "coordinator.evil.example"})
        local = client.get("/health", headers={"Host": "localhost:8000", "X-Request-ID": "trace-42"})
        answers = [
            client.get("/tasks/999999"),
            client.get(f"/tasks/{2**63}"),
            client.get("/tasks?offset=9223372036854775808"),
            client.get("/accounts/5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ/tasks"),
            client.post("/tasks", json=create_body(chain, reward_per_result=str(2**128))),
            client.get("/submissions/%ED%A0%80"),
            client.post("/tasks/18446744073709551616/assign", json={"signer": ALICE.ss58_address}),
        ]

    assert (foreign.status_code, foreign.json()["error"]) == (400, "UnknownHost")
    assert local.status_code == 200
    assert local.headers["x-request-id"] == "trace-42"
    assert len(foreign.headers["x-request-id"]) == 32
    assert [a.status_code for a in answers] == [404, 422, 422, 422, 422, 422, 422]
    for answer in answers:
        assert set(answer.json()) == {"error", "detail"}, answer.text
        assert answer.headers["x-request-id"]
    assert "checksum" in answers[3].json()["detail"]


@pytest.mark.devnet
def test_a_relay_that_is_not_included_fails_by_its_deadline_while_the_api_keeps_answering(
    fresh_devnet: Devnet, tmp_path: Path
) -> None:
    chain = DecentralMl.connect(fresh_devnet.url)
    nonce = chain.substrate.get_account_nonce(BOB.ss58_address)
    future = chain.sign(calls.assign_task(0), BOB, nonce=nonce + 5)
    pending = chain.sign(calls.cancel_task(0), BOB)
    with app_for(chain, tmp_path, inclusion_deadline_seconds=4.0) as client:
        refused = client.post("/tasks/0/assign", json={"signed_extrinsic": future})
        # Blocks are built only on demand from now: the next relay sits in the pool, not included.
        chain.substrate.rpc_request("dev_setBlockBuildMode", ["Manual"])
        relayed: dict[str, Any] = {}

        def relay() -> None:
            started = time.monotonic()
            relayed["answer"] = client.post("/tasks/0/cancel", json={"signed_extrinsic": pending})
            relayed["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=relay)
        thread.start()
        time.sleep(0.5)
        answered = [client.get("/health"), client.get("/tasks"), client.get("/limits")]
        still_waiting = thread.is_alive()
        thread.join(timeout=60)
        chain.substrate.rpc_request("dev_setBlockBuildMode", ["Instant"])

    assert (refused.status_code, refused.json()["error"]) == (400, "ExtrinsicDropped")
    assert "future" in refused.json()["detail"]
    assert [a.status_code for a in answered] == [200, 200, 200]
    assert answered[0].json()["chain"] == "ok"
    assert still_waiting, "the stuck relay returned before the reads were answered"
    answer = relayed["answer"]
    assert (answer.status_code, answer.json()["error"]) == (504, "InclusionTimeout"), answer.text
    assert 4.0 <= relayed["seconds"] < 30


@pytest.mark.devnet
def test_after_a_devnet_restart_writes_and_health_recover_by_themselves(
    fresh_devnet: Devnet, tmp_path: Path
) -> None:
    chain = DecentralMl.connect(fresh_devnet.url)
    with app_for(chain, tmp_path, head_poll_seconds=0.5) as client:
        assert client.get("/health").json()["chain"] == "ok"
        fresh_devnet.stop()
        time.sleep(1.5)
        down = client.get("/health").json()["chain"]
        fresh_devnet.start()
        deadline = time.monotonic() + 30
        while client.get("/health").json()["chain"] != "ok" and time.monotonic() < deadline:
            time.sleep(0.5)
        healthy = client.get("/health").json()
        created = client.post("/tasks", json=create_body(chain), headers=bearer(TOKEN))

    assert down == "unreachable"
    assert healthy["chain"] == "ok"
    assert created.status_code == 201, created.text
