"""A committee of three validators judges a task on the real devnet with a real Kubo (t = 2).

The round's carrier (Ferdie) judges the updates that reached it; the other members (Dave, Eve)
never see a worker: each fetches the round's results from the chain and the sealed updates from
IPFS and judges them itself. The chain commits when two attestations agree (the same plaintext
hash and accepted set); a member that attests something else is recorded and flagged; when no two
agree the round is disputed and the council settles it; the creator cannot commit.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from coordinator.api import create_app
from coordinator.api.app import ApiConfig
from coordinator.api.auth import ApiToken
from coordinator.cli.task import committee_lines
from coordinator.committee.member import Member
from coordinator.committee.verify import verify_model
from coordinator.db.engine import make_engine, migrate, session_factory
from coordinator.federation.referee import Received, Referee
from coordinator.federation.runner import current_weights, run_task
from coordinator.federation.tasks import (
    PublishedTask,
    initial_manifest,
    initial_weights,
    load_task,
)
from coordinator.indexer import Indexer
from decentralml import codec
from decentralml.content import ContentError, ContentStore, sha256_hex
from decentralml.data import DataSpec, digits
from decentralml.models import ModelSpec
from decentralml.privacy.models import model_bytes
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE
from decentralml_bindings.errors import DispatchFailed
from decentralml_bindings.events import AttestationDisagreed, ModelCommitted, RoundDisputed
from decentralml_bindings.types import ResultSubmissionStatus
from support.devnet import Devnet
from support.factories import InProcess, enlist, publish
from support.liar import NudgingReferee, nudged
from worker.trainer import Behaviour


@pytest.fixture
def devnet(fresh_devnet: Devnet) -> Devnet:
    """A devnet of this module's tests' own: the mirror indexes it from genesis, which on the
    session devnet late in the suite (thousands of blocks) keeps it busy for a minute."""
    return fresh_devnet


def task_view(chain: DecentralMl, task_id: int, tmp_path: Path) -> dict[str, Any]:
    """`GET /tasks/{id}` from a mirror the indexer built from the chain."""
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    Indexer(chain, sessions).sync_once()
    with TestClient(create_app(chain, sessions, [])) as client:
        response = client.get(f"/tasks/{task_id}")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def rest_verify(chain: DecentralMl, store: ContentStore, model_id: int, tmp_path: Path) -> None:
    """`POST /models/{id}/verify` on Eve's coordinator: a match for her key; refused, changing
    nothing, without a token, for a key outside the committee, and for a model not on chain."""
    engine = make_engine(f"sqlite:///{tmp_path / 'verify.sqlite'}")
    migrate(engine)
    token = "dml_verify-test-token"
    operator = ApiToken(
        client="eve-ops",
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        accounts=[EVE.ss58_address, ALICE.ss58_address],
    )
    app = create_app(
        chain, session_factory(engine), ["//Eve", "//Alice"], store=store, config=ApiConfig(tokens=[operator])
    )
    blocks = chain.block_number()
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        url = f"/models/{model_id}/verify"
        found = client.post(url, json={"member": EVE.ss58_address}, headers=auth)
        anonymous = client.post(url, json={"member": EVE.ss58_address})
        outsider = client.post(url, json={"member": ALICE.ss58_address}, headers=auth)
        unknown = client.post("/models/999999/verify", json={"member": EVE.ss58_address}, headers=auth)
        spec = client.get("/openapi.json").json()["paths"]["/models/{model_id}/verify"]["post"]
    assert found.status_code == 200, found.text
    report = found.json()
    assert [report["match"], report["stored_match"], report["recomputed_match"]] == [True] * 3, report
    model = chain.model(model_id)
    assert model is not None
    assert report["on_chain"] == report["recomputed"] == model.hash
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "NotAuthenticated")
    assert (outsider.status_code, outsider.json()["error"]) == (403, "NotAMember")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "ModelNotFound")
    assert {"401", "403", "404", "409", "503"} <= set(spec["responses"])
    assert chain.block_number() == blocks, "verifying wrote to the chain"


MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])
MEMBERS = (FERDIE, DAVE, EVE)
UNIT = 10**12


def committee_task(
    chain: DecentralMl, store: ContentStore, name: str, model_encoding: str = "float32"
) -> PublishedTask:
    """Alice's 2-round digits task for two workers, judged by the three members (t = 2), its
    updates and models sealed to all three."""
    manifest = initial_manifest(store, name, MODEL, data=DataSpec(parts=2), model_encoding=model_encoding)
    return publish(chain, store, manifest, rounds=2, workers=2, committee=MEMBERS)


@pytest.mark.devnet
def test_a_committee_commits_what_two_of_three_attest_and_the_council_settles_a_dispute(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: a 2-round task judged by three members (t = 2), updates sealed to all three.
    task = committee_task(chain, store, "committee-test")
    trainers = enlist(chain, store, task, {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}, tmp_path)
    validation = digits().validation
    weights = initial_weights(store, task.manifest)
    task_id = task.task_id

    def status(result_id: int) -> ResultSubmissionStatus | None:
        result = chain.result(result_id)
        return result.status if result is not None else None

    def judge(referee: Referee, round_: int, received: list[Received]) -> Any:
        spool = tmp_path / f"{referee.validator.ss58_address[:8]}-{round_}"
        spool.mkdir()
        return referee.judge(task_id, round_, task.manifest, weights, received, spool)

    # Round 1: the carrier attests first (nothing committed), Dave agrees (committed, results
    # paid), and Eve, lying, attests a changed hash after the commit: recorded and flagged.
    updates = [t.train_round(task_id, 1, task.manifest, weights) for t in trainers]
    pairs = zip(trainers, updates, strict=True)
    received = [Received.spool(tmp_path, t.address, u.data, u.examples) for t, u in pairs]
    first, _ = judge(Referee(chain, store, FERDIE, validation), 1, received)
    assert first.model_id is None
    assert [status(u.result_id) for u in updates] == [ResultSubmissionStatus.VALIDATED] * 2
    attempt = calls.commit_model(task_id, 1, first.model_cid, first.model_hash, first.accepted)
    with pytest.raises(DispatchFailed) as refused:  # the creator may not commit any more
        chain.submit(attempt, ALICE)
    assert refused.value.name == "NotCommitter"

    second, weights_dave = judge(Referee(chain, store, DAVE, validation), 1, [])  # from IPFS alone
    assert second.model_id is not None
    assert (second.model_hash, second.accepted) == (first.model_hash, first.accepted)
    assert second.fetched == sorted(u.result_id for u in updates)
    model = chain.model(second.model_id)
    assert model is not None
    assert model.attestations == 2
    assert [status(u.result_id) for u in updates] == [ResultSubmissionStatus.ACCEPTED] * 2

    blocks = chain.block_number()
    late, _ = judge(nudged(1e-3, NudgingReferee)(chain, store, EVE, validation), 1, [])
    assert late.model_hash != first.model_hash
    assert chain.block_number() == blocks + 1  # one extrinsic: no verdicts on settled results
    flagged = [name for _, name, _ in chain.pallet_events(str(chain.block_hash(late.block)))]
    assert AttestationDisagreed.name in flagged
    assert verify_model(chain, store, EVE, second.model_id).match  # any member can check it
    rest_verify(chain, store, second.model_id, tmp_path)
    weights = weights_dave

    # Round 2: two members lie, each its own way: no two attestations agree, nothing is committed;
    # the round is disputed and the council picks the honest member's attestation.
    updates = [t.train_round(task_id, 2, task.manifest, weights) for t in trainers]
    honest, _ = judge(Referee(chain, store, FERDIE, validation), 2, [])
    for member, nudge in ((DAVE, 1e-3), (EVE, -1e-3)):
        lied, _ = judge(nudged(nudge, NudgingReferee)(chain, store, member, validation), 2, [])
        assert lied.model_id is None
        assert lied.model_hash != honest.model_hash
    assert chain.round_model(task_id, 2) is None
    disputed = chain.submit(calls.dispute_round(task_id, 2), FERDIE)
    assert disputed.one(RoundDisputed).raised_by == FERDIE.ss58_address
    resolved = chain.council_motion(calls.resolve_dispute(task_id, 2, FERDIE.ss58_address), ALICE, [BOB])
    committed = resolved.one(ModelCommitted)
    final = chain.model(committed.model_id)
    assert final is not None
    assert final.hash == honest.model_hash
    assert verify_model(chain, store, DAVE, committed.model_id).match
    assert codec.decode(model_bytes(store, final, FERDIE))
    finished = chain.task(task_id)
    assert finished is not None
    assert finished.status.value == "Completed"
    assert finished.paid + finished.refunded + finished.escrowed == finished.deposited
    # A member judging a round late starts where the round did, not from a model committed since.
    first_model = chain.model(second.model_id)
    assert first_model is not None
    for before, expected in (
        (1, initial_weights(store, task.manifest)),
        (2, codec.decode(model_bytes(store, first_model, EVE))),
    ):
        done, started = current_weights(chain, store, task_id, EVE, before=before)
        assert done == before - 1
        assert all(np.array_equal(started[k], expected[k]) for k in expected)
    assert current_weights(chain, store, task_id, EVE)[0] == 2  # without `before`: the last commit

    # The mirror, REST and the CLI show every attestation, flag the disagreeing members, and
    # show the dispute and the council's choice.
    view = task_view(chain, task_id, tmp_path)
    marks = {(a["round"], a["validator"]): a["agrees"] for a in view["attestations"]}
    assert marks == {
        (1, FERDIE.ss58_address): True,
        (1, DAVE.ss58_address): True,
        (1, EVE.ss58_address): False,
        (2, FERDIE.ss58_address): True,
        (2, DAVE.ss58_address): False,
        (2, EVE.ss58_address): False,
    }
    assert [(d["round"], d["resolved"], d["chosen"], d["model_id"]) for d in view["disputes"]] == [
        (2, True, FERDIE.ss58_address, committed.model_id)
    ]
    shown = committee_lines(view)
    assert f"round 1: {EVE.ss58_address} attested {late.model_hash} (DISAGREES with the commit)" in shown
    assert (
        f"round 2: disputed by {FERDIE.ss58_address}, resolved: {FERDIE.ss58_address}'s attestation" in shown
    )


class Flaky(ContentStore):
    """A member's Kubo that cannot reach the first worker update it is asked for (its worker's
    Kubo not peered yet, say): that one fetch fails, then everything is found."""

    def __init__(self, api: str, chain: DecentralMl, task_id: int) -> None:
        super().__init__(api)
        self.chain, self.task_id, self.missed = chain, task_id, 0

    def get(self, cid: str, expected_sha256: str, max_bytes: int | None = None) -> bytes:
        updates = {
            found.cid
            for round_ in (1, 2)
            for result_id in self.chain.round_results(self.task_id, round_).values()
            if (found := self.chain.result(result_id)) is not None
        }
        if self.missed == 0 and cid in updates:
            self.missed += 1
            raise ContentError(f"{cid} is not reachable from this Kubo (yet)")
        return super().get(cid, expected_sha256, max_bytes)


@pytest.mark.devnet
@pytest.mark.parametrize("model_encoding", ["float32", "sign1"])
def test_members_follow_the_carriers_rounds_and_one_that_was_down_attests_the_next(
    chain: DecentralMl, store: ContentStore, devnet_url: str, tmp_path: Path, model_encoding: str
) -> None:
    # Prepare: the carrier (Ferdie) runs the task's rounds as its launcher does (`run_task`),
    # waiting after each attestation for the committee; Dave follows every round (his Kubo misses
    # one update at first), Eve is down for round 1 and back for round 2. With the model sent
    # down as 1-bit deltas, round 2's workers train from a base each member replays from the chain.
    task = committee_task(chain, store, f"committee-follow-{model_encoding}", model_encoding)
    task_id = task.task_id
    carrier_chain = DecentralMl.connect(devnet_url)
    honest = {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}
    trainers = enlist(carrier_chain, store, task, honest, tmp_path / "workers")
    outcomes: list[Any] = []
    failures: list[BaseException] = []

    def carry() -> None:
        try:
            outcomes.extend(
                run_task(carrier_chain, store, FERDIE, InProcess(trainers), task_id, tmp_path / "ferdie", 300)
            )
        except BaseException as failed:
            failures.append(failed)

    carrier_thread = threading.Thread(target=carry, daemon=True)
    # Dave's Kubo misses one update at first: he waits for it rather than judging without it.
    flaky = Flaky(store.api, chain, task_id)
    members = {
        DAVE: Member(chain, flaky, DAVE, tmp_path / "dave"),
        EVE: Member(chain, store, EVE, tmp_path / EVE.ss58_address[:8]),
    }
    loaded = load_task(chain, store, task_id)

    # Execute: each member's launcher tick, until the task ends.
    carrier_thread.start()
    deadline = time.monotonic() + 600
    while carrier_thread.is_alive() and time.monotonic() < deadline:
        now = chain.task(task_id)
        assert now is not None
        for key, member in members.items():
            if key is EVE and now.committed_rounds == 0:
                continue  # Eve is down for round 1
            member.follow(task_id, now, loaded)
        time.sleep(0.5)
    carrier_thread.join(timeout=5)
    carrier_chain.close()

    # Assert: both rounds committed by two agreeing members, with the carrier waiting between.
    assert not failures, failures
    assert [o.round for o in outcomes] == [1, 2]
    finished = chain.task(task_id)
    assert finished is not None
    assert finished.status.value == "Completed"
    for round_ in (1, 2):
        model_id = chain.round_model(task_id, round_)
        assert model_id is not None
        model = chain.model(model_id)
        assert model is not None
        assert model.hash == outcomes[round_ - 1].model_hash
        assert model.attestations >= 2  # never the carrier alone
        assert verify_model(chain, store, EVE, model_id).match
    # Eve was down in round 1 and attested round 2 after catching up from the chain: her loss
    # floor counts the model the committee committed in round 1, which she never judged.
    assert chain.attestation(task_id, 1, EVE.ss58_address) is None
    assert chain.attestation(task_id, 2, EVE.ss58_address) is not None
    first_model = chain.model(chain.round_model(task_id, 1) or 0)
    assert first_model is not None
    scored = json.loads((tmp_path / EVE.ss58_address[:8] / f"task-{task_id}" / "losses.json").read_text())
    assert first_model.hash in scored
    dave = chain.attestation(task_id, 1, DAVE.ss58_address)
    assert dave is not None
    assert flaky.missed == 1, "the flaky store never missed an update"
    assert dave.hash == first_model.hash, "Dave judged round 1 without the update he missed"
    assert list(dave.accepted) == list(first_model.accepted)
    # What round 2's workers trained from: the committed model itself, or the base its delta rebuilt.
    held = sha256_hex(trainers[0]._held(task_id).read_bytes())
    assert (held != first_model.hash) == (model_encoding == "sign1")


def test_a_judgement_reads_the_model_history_once_for_the_base_and_the_momentum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from coordinator.federation import runner

    reads: list[tuple[int, int]] = []

    def history(chain: Any, store: Any, reader: Any, task_id: int, round_: int) -> list[tuple[Any, bool]]:
        reads.append((task_id, round_))
        return [({"w": np.full(3, float(round_), np.float32)}, True)]

    monkeypatch.setattr(runner, "model_history", history)
    read = runner.read_once(None, None, None)  # type: ignore[arg-type]
    manifest = type("Manifest", (), {"model_encoding": "sign1"})()

    base = runner.training_base(None, None, None, 7, manifest, 3, read)  # type: ignore[arg-type]
    again = read(7, 3)  # the outer optimizer's momentum, the same round

    assert base is not None
    assert reads == [(7, 3)]
    assert again[0][0]["w"].tolist() == [3.0, 3.0, 3.0]
    read(7, 4)  # another round is read afresh
    assert reads == [(7, 3), (7, 4)]
