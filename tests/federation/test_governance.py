"""Council governance end to end: a model committed on the devnet is refused to a client that
requires release until a council motion passes with two of three votes, cast with @polkadot/api
(`chain/devnet/council.mjs`, the steps a member takes in Polkadot-JS Apps); after a revocation the
coordinator reports it withdrawn, and workers refuse a task that would start from it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coordinator.api import create_app
from coordinator.db.engine import make_engine, migrate, session_factory
from coordinator.federation.publisher import Publisher
from coordinator.federation.tasks import initial_manifest
from coordinator.indexer import Indexer
from decentralml import codec
from decentralml.content import ContentStore, sha256_hex
from decentralml.crypto import SealError, sealing_key_hex
from decentralml.models import ModelSpec, build, weights_of
from decentralml.privacy import sealing
from decentralml_bindings import DecentralMl, calls, errors
from decentralml_bindings.dev import ALICE, BOB, FERDIE
from decentralml_bindings.events import ModelCommitted
from support.devnet import ROOT, Devnet, Ipfs
from support.factories import publish
from worker.daemon import WorkerDaemon, WorkerSettings

COUNCIL_JS = ROOT / "chain" / "devnet" / "council.mjs"
MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[8])


def council(devnet: Devnet, action: str, model_id: int, proposer: str, ayes: str) -> dict[str, object]:
    """A motion through @polkadot/api: propose, everyone named votes aye, close."""
    done = subprocess.run(
        [
            "node",
            str(COUNCIL_JS),
            "--url",
            devnet.url,
            action,
            str(model_id),
            "--proposer",
            proposer,
            "--ayes",
            ayes,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def client(chain: DecentralMl, store: ContentStore, tmp_path: Path) -> Iterator[tuple[TestClient, Indexer]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.sqlite'}")
    migrate(engine)
    sessions = session_factory(engine)
    indexer = Indexer(chain, sessions)
    with TestClient(create_app(chain, sessions, [], store=store)) as http:
        yield http, indexer


@pytest.mark.devnet
def test_release_is_gated_by_two_of_three_council_votes_and_revocation_withdraws(
    chain: DecentralMl,
    store: ContentStore,
    devnet: Devnet,
    ipfs_daemon: Ipfs,
    client: tuple[TestClient, Indexer],
    tmp_path: Path,
) -> None:
    http, indexer = client
    manifest = initial_manifest(store, "gated", MODEL)
    task = publish(chain, store, manifest, rounds=2, workers=1)
    # Ferdie (the task's validator) commits a model sealed to himself and Alice (the creator).
    data = codec.encode(weights_of(build(MODEL, seed=3)))
    context = sealing.Context("model", task.task_id, 1, FERDIE.ss58_address)
    stored = store.put(sealing.seal_bytes(data, context, [sealing_key_hex(FERDIE), sealing_key_hex(ALICE)]))
    commit = calls.commit_model(task.task_id, 1, stored.cid, sha256_hex(data), [])
    with pytest.raises(errors.NotCommitter):
        chain.submit(commit, ALICE)
    model_id = chain.submit(commit, FERDIE).one(ModelCommitted).model_id
    indexer.sync_once()
    in_ipfs = store.fetch(stored.cid)  # what anyone reading chain storage and IPFS gets
    publisher = Publisher(chain, store, FERDIE)

    refused = http.get(f"/models/{model_id}/weights")
    nothing_to_publish = publisher.tick()
    lone = council(devnet, "approve", model_id, "//Charlie", "")  # threshold 1: one voice, not a majority
    still_refused = http.get(f"/models/{model_id}/weights")
    passed = council(devnet, "approve", model_id, "//Alice", "//Bob")
    unpublished = http.get(f"/models/{model_id}/weights")
    published_ids = publisher.tick()
    on_chain = chain.model(model_id)
    assert on_chain is not None
    assert on_chain.published is not None
    straight_from_ipfs = store.get(on_chain.published, on_chain.hash)  # no coordinator involved
    served = http.get(f"/models/{model_id}/weights")
    indexer.sync_once()
    released_view = http.get(f"/models/{model_id}").json()
    based = publish(chain, store, manifest, rounds=1, workers=1, base_model=model_id)

    def worker(key: str) -> WorkerDaemon:
        settings = WorkerSettings(
            key=key, chain_url=devnet.url, ipfs_api=ipfs_daemon.api, state_dir=str(tmp_path), data_part=0
        )
        return WorkerDaemon(settings)

    before_revocation = worker("//Dave").suitable(based.task_id)
    revoked = council(devnet, "revoke", model_id, "//Bob", "//Charlie")
    indexer.sync_once()
    withdrawn = http.get(f"/models/{model_id}/weights")

    assert sealing.is_sealed(in_ipfs)
    assert data[200:264] not in in_ipfs
    with pytest.raises(SealError):
        sealing.open_bytes(in_ipfs, BOB, context)
    assert sealing.open_bytes(in_ipfs, ALICE, context) == data  # the creator can read her model
    assert on_chain.hash == sha256_hex(data)
    assert on_chain.cid == stored.cid
    assert nothing_to_publish == []
    assert unpublished.status_code == 409
    assert unpublished.json()["error"] == "NotPublished"
    assert published_ids == [model_id]
    assert straight_from_ipfs == data
    assert refused.status_code == 403
    assert "requires a council approval" in refused.json()["detail"]
    assert lone["executed"] == "BadOrigin"
    assert still_refused.status_code == 403
    assert (passed["yes"], passed["no"], passed["executed"]) == (2, 0, "ok")
    assert served.status_code == 200
    assert sha256_hex(served.content) == sha256_hex(data) == served.headers["x-dml-sha256"]
    assert released_view["status"] == "Approved"
    assert before_revocation == based.manifest
    assert revoked["executed"] == "ok"
    assert withdrawn.status_code == 410
    assert "withdrawn by the council" in withdrawn.json()["detail"]
    assert http.get(f"/models/{model_id}").json()["status"] == "Revoked"
    # The lone member's call ran at once (threshold 1: no motion to vote on) and failed; the two
    # majority motions are mirrored with their votes.
    motions = http.get("/council/motions?limit=2").json()
    assert [(m["status"], m["ayes"], m["call"]["call_function"]) for m in motions] == [
        ("Executed", 2, "revoke_model"),
        ("Executed", 2, "approve_model"),
    ]
    fresh = WorkerDaemon(
        WorkerSettings(
            key="//Eve", chain_url=devnet.url, ipfs_api=ipfs_daemon.api, data_part=0, state_dir=str(tmp_path)
        )
    )
    assert fresh.suitable(based.task_id) is None, "a worker took a task whose base model was revoked"
