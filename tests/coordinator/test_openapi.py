"""The OpenAPI document lists, per operation, the statuses it can answer (not every status on every
operation), the bearer scheme where the keystore signs, and the headers: X-Request-ID on every
response, Retry-After on 429, Idempotency-Key on every POST. (What the app really answers is held
against this by the Schemathesis test.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from coordinator.api import create_app
from coordinator.db.engine import make_engine, migrate, session_factory
from decentralml_bindings import DecentralMl

EVERY = {"400", "429", "431", "500"}  # the Host check, rate limits, header size, a fault
WRITE = EVERY | {"200", "202", "401", "402", "403", "404", "409", "413", "422", "503", "504"}


@pytest.fixture
def document(chain: DecentralMl, tmp_path: Path) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.sqlite'}")
    migrate(engine)
    with TestClient(create_app(chain, session_factory(engine), [])) as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def statuses(document: dict[str, Any], method: str, path: str) -> set[str]:
    return set(document["paths"][path][method]["responses"])


@pytest.mark.devnet
def test_each_operation_lists_the_statuses_it_can_answer(document: dict[str, Any]) -> None:
    # Reads of nothing in particular: only what any request can meet.
    assert statuses(document, "get", "/health") == {"200"} | EVERY
    assert statuses(document, "get", "/accounts/{address}/tasks") == {"200", "422"} | EVERY
    # A row by id can be missing; a write can meet the chain's refusals and its deadline.
    assert statuses(document, "get", "/tasks/{task_id}") == {"200", "404", "422"} | EVERY
    assert statuses(document, "post", "/tasks/{task_id}/assign") == WRITE
    assert statuses(document, "post", "/tasks") == (WRITE - {"200"}) | {"201"}
    weights = statuses(document, "get", "/models/{model_id}/weights")
    assert {"403", "409", "410", "502", "503"} <= weights
    assert not weights & {"401", "402", "413", "504"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "405" not in operation["responses"], (method, path)
            for status, answer in operation["responses"].items():
                assert "X-Request-ID" in answer["headers"], (method, path, status)
                if status.startswith(("4", "5")):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (method, path, status)
            assert "Retry-After" in operation["responses"]["429"]["headers"], (method, path)


@pytest.mark.devnet
def test_writes_declare_the_bearer_scheme_and_idempotency_key(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assign = document["paths"]["/tasks/{task_id}/assign"]["post"]
    verify = document["paths"]["/models/{model_id}/verify"]["post"]
    assert assign["security"] == [{}, {"bearer": []}]  # relayed needs none; keystore signing does
    assert verify["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/tasks"]["get"]
    for path, operations in document["paths"].items():
        headers = {p["name"] for p in operations.get("post", {}).get("parameters", []) if p["in"] == "header"}
        if "post" in operations:
            assert "Idempotency-Key" in headers, path
        for method in set(operations) - {"post"}:
            names = {p["name"] for p in operations[method].get("parameters", []) if p["in"] == "header"}
            assert "Idempotency-Key" not in names, (method, path)
