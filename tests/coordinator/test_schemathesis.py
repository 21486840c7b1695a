"""Every operation of the coordinator's OpenAPI, fuzzed by Schemathesis against the real app.

The app is built as `dml coordinator serve` builds it (keystore and a client token, body limit, a
live content store, the federation directory) and served by uvicorn on a loopback port, over a
mirror of a devnet seeded with finished tasks, an open task and a council motion. Each operation
gets schema-valid cases and cases that break the schema. Half of the valid ones are aimed at rows
that exist and at keystore accounts, sent with the client's token, so that reads find something and
writes reach the chain (a devnet: its funds are dev funds); the rest go as generated, without one.

Checks: no 5xx, only documented status codes, documented content types, responses that match their
schema. Every failure is collected, and the assertion lists them grouped by operation, status and
the error named, each with its smallest request. Generation is derandomized: the same code sends
the same requests. The budget (about 1,700 cases) takes under a minute on 2 cores.

    pytest -m devnet tests/coordinator/test_schemathesis.py
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode, openapi
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from coordinator.api import create_app
from coordinator.api.auth import ApiToken, new_token
from coordinator.db import models
from coordinator.db.engine import make_engine, migrate, session_factory
from coordinator.indexer import Indexer
from coordinator.settings import Settings
from decentralml.content import ContentStore
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE
from support.devnet import free_port
from support.factories import create_task, run_task

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
KEYSTORE = [ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE]
KEYSTORE_URIS = ["//Alice", "//Bob", "//Charlie", "//Dave", "//Eve", "//Ferdie"]
EXAMPLES = {GenerationMode.POSITIVE: 60, GenerationMode.NEGATIVE: 25}
MIN_CASES = 1_000
BUDGET_SECONDS = 210.0
REQUEST_TIMEOUT = 30.0


@dataclass
class Seeded:
    """Ids that exist in the mirror, for cases aimed at real rows."""

    path_values: dict[str, list[Any]]


@dataclass
class Found:
    """One kind of failure of one operation (its status and the error it names): the checks it
    failed, how often, and its smallest request."""

    operation: str
    kind: str
    checks: dict[str, str] = field(default_factory=dict)
    count: int = 0
    smallest: str = ""
    response: str = ""
    raised: str = ""

    def add(self, failures: list[Failure], curl: str, response: str, raised: str) -> None:
        self.count += 1
        for failure in failures:
            self.checks.setdefault(failure.title, failure.message.strip()[:400])
        if not self.smallest or len(curl) < len(self.smallest):
            self.smallest, self.response, self.raised = curl, response[:400], raised


@dataclass
class Run:
    url: str
    seeded: Seeded
    token: str
    cases: int = 0
    started: float = field(default_factory=time.monotonic)
    found: dict[tuple[str, str], Found] = field(default_factory=dict)
    per_operation: dict[str, int] = field(default_factory=dict)
    observed: dict[str, set[int]] = field(default_factory=dict)  # operation -> statuses answered
    raised: list[str] = field(default_factory=list)

    def over_budget(self) -> bool:
        return time.monotonic() - self.started > BUDGET_SECONDS

    def report(self) -> str:
        lines = [f"{len(self.found)} distinct failures in {self.cases} cases:"]
        for (operation, kind), f in sorted(self.found.items()):
            lines.append(f"\n[{operation}] {kind} (x{f.count})")
            for title, message in sorted(f.checks.items()):
                lines.append(f"  {title}: {message}".replace("\n", "\n    "))
            lines += [f"  smallest request: {f.smallest}", f"  response: {f.response}"]
            if f.raised:
                lines.append(f"  server raised: {f.raised}")
        return "\n".join(lines)


@pytest.fixture
def served(chain: DecentralMl, devnet_url: str, store: ContentStore, tmp_path: Path) -> Iterator[Run]:
    """The coordinator's app on a free loopback port, over a freshly indexed, seeded mirror."""
    run_task(chain, rounds=2, label="bafy-schemathesis")
    finished = run_task(chain, rounds=1, label="bafy-schemathesis-approved")
    create_task(chain, label="bafy-schemathesis-open")
    model_id = chain.next_ids()[2] - 1
    chain.council_motion(calls.approve_model(model_id), ALICE, [BOB])
    assert chain.task(finished) is not None

    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    Indexer(chain, sessions).sync_once()
    with sessions() as session:
        seeded = Seeded(
            path_values={
                "task_id": list(session.scalars(select(models.Task.id).order_by(models.Task.id))),
                "result_id": list(session.scalars(select(models.Result.id).order_by(models.Result.id))),
                "model_id": list(session.scalars(select(models.Model.id).order_by(models.Model.id))),
                "index": list(
                    session.scalars(select(models.CouncilMotion.index).order_by(models.CouncilMotion.index))
                ),
                "account": [k.ss58_address for k in (ALICE, BOB, EVE)],
            }
        )
    # As `coordinator.serve.serve` builds it, with one client token for every keystore account and
    # rate limits a fuzzer from one address stays under, and a live content store (the mirror's CIDs
    # are made up: none of them is in it).
    token, digest = new_token()
    settings_ = Settings(
        keystore_uris=KEYSTORE_URIS,
        api_tokens=[
            ApiToken(client="schemathesis", token_sha256=digest, accounts=[k.ss58_address for k in KEYSTORE])
        ],
        read_rate_per_minute=1_000_000,
        write_rate_per_minute=1_000_000,
        account_rate_per_minute=1_000_000,
    )
    app = create_app(
        DecentralMl.connect(devnet_url),
        sessions,
        settings_.keystore_uris,
        settings_.max_body_bytes,
        ContentStore(store.api),
        settings_.api_config(),
    )
    app.state.federation = {
        "validator": None,
        "sealing": None,
        "superlink": None,
        "directory": str(tmp_path / "federation"),
    }
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    run = Run(url=f"http://127.0.0.1:{port}", seeded=seeded, token=token)
    errors = ServerErrors(run.raised)
    logging.getLogger("uvicorn.error").addHandler(errors)
    yield run
    logging.getLogger("uvicorn.error").removeHandler(errors)
    server.should_exit = True
    thread.join(timeout=30)
    app.state.submissions.shutdown()
    engine.dispose()


def _pick(case: Case[Any], salt: str, n: int) -> int:
    """A choice among n that depends only on the case's content (derandomized, like the cases)."""
    seen = json.dumps([case.path_parameters, case.query, case.body, salt], sort_keys=True, default=str)
    return zlib.crc32(seen.encode()) % n


def aim_at_real_rows(case: Case[Any], seeded: Seeded) -> bool:
    """Half of the valid cases: path ids that exist, and a signer from the keystore (sent with the
    client's token); False for the rest, which go as generated and without a token."""
    if _pick(case, "aim", 2):
        return False
    for name in list(case.path_parameters or {}):
        values = seeded.path_values.get(name)
        if values:
            case.path_parameters[name] = values[_pick(case, name, len(values))]
    if isinstance(case.body, dict) and {"signer", "signed_extrinsic"} & set(case.body):
        case.body.pop("signed_extrinsic", None)
        case.body["signer"] = KEYSTORE[_pick(case, "signer", len(KEYSTORE))].ss58_address
    return True


def kind_of(status: int, text: str, raised: str) -> str:
    """What tells failures apart: the status, and the error the body names or the server raised."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    named = body.get("error") if isinstance(body, dict) else None
    cause = named or (raised.split(":")[0] if raised else "")
    return f"{status}{' ' + cause if cause else ''}"


class ServerErrors(logging.Handler):
    """Keeps `Type: message` of every exception the server logged, to put beside its 500."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            self.into.append(f"{type(error).__module__}.{type(error).__name__}: {error}"[:300])


def fuzz(run: Run, operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode) -> None:
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: Case[Any]) -> None:
        if run.over_budget():
            return
        aimed = mode is GenerationMode.POSITIVE and aim_at_real_rows(case, run.seeded)
        headers = {"Authorization": f"Bearer {run.token}"} if aimed else None
        run.cases += 1
        run.per_operation[operation.label] = run.per_operation.get(operation.label, 0) + 1
        logged = len(run.raised)
        response = case.call(base_url=run.url, headers=headers, timeout=REQUEST_TIMEOUT)
        raised = run.raised[-1] if len(run.raised) > logged else ""
        run.observed.setdefault(operation.label, set()).add(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            key = (operation.label, kind_of(response.status_code, response.text, raised))
            found = run.found.setdefault(key, Found(*key))
            curl = case.as_curl_command(headers=headers, base_url=run.url).replace(run.token, "TOKEN")
            found.add(list(group.exceptions), curl, response.text, raised)

    # Unsatisfiable: nothing of this mode to generate for the operation (e.g. no parameters to break)
    with contextlib.suppress(Unsatisfiable):
        one()


@pytest.mark.devnet
@pytest.mark.timeout(420)
def test_every_operation_conforms_to_its_openapi(served: Run) -> None:
    schema = openapi.from_url(f"{served.url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"an operation schemathesis cannot read: {result.err()}"
        operations.append(result.ok())

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(served, operation, mode)

    untested = sorted({o.label for o in operations} - set(served.per_operation))
    assert not untested, f"operations that got no case: {untested}"
    # What the fuzzer can provoke of each operation's documented refusals, it did: 422 where the
    # schema has something to break, 404 where a read's path names a row. (A write's 404 is the
    # chain's, for a row that does not exist; its fuzzed cases are refused before they reach the
    # chain or aimed at rows that do. That nothing undocumented was answered is
    # `status_code_conformance`'s check, above.)
    unseen = []
    for operation in operations:
        documented = {int(s) for s in operation.definition.raw["responses"] if s.isdigit()}
        provoked = {404, 422} if operation.method.upper() == "GET" else {422}
        for status in sorted(documented & provoked):
            if status not in served.observed.get(operation.label, set()):
                unseen.append(f"{operation.label}: {status}")
    assert not unseen, f"documented, never answered to the fuzzer: {unseen}"
    assert served.cases >= MIN_CASES, (
        f"{served.cases} cases in {BUDGET_SECONDS} s (budget hit: {served.over_budget()}), want {MIN_CASES}"
    )
    if served.found:
        pytest.fail(served.report(), pytrace=False)
