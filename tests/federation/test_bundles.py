"""Signed task bundles: workers check the hash on chain, the creator's signature and every asset's
hash before any work, refuse with a message naming the problem, and send nothing on chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from substrateinterface import Keypair

from coordinator.federation.tasks import initial_manifest, load_task
from decentralml import bundle, codec
from decentralml.content import ContentStore
from decentralml.manifest import ContentRef, TaskManifest
from decentralml.models import ModelSpec, build, weights_of
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, DAVE, EVE, FERDIE, UNIT
from decentralml_bindings.events import TaskCreated
from decentralml_bindings.types import TaskType, ValidationStrategy
from support.devnet import ROOT, Devnet, Ipfs
from support.factories import publish
from worker.daemon import WorkerDaemon, WorkerSettings

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[8])


def task_with_bundle(chain: DecentralMl, store: ContentStore, creator: Keypair, data: bytes) -> int:
    """A task whose chain record names exactly `data` (whatever it holds) as its bundle."""
    stored = store.put(data)
    call = calls.create_task(
        task_type=TaskType.MODEL_CONTRIBUTOR,
        rounds=1,
        max_assignments=2,
        expires_at=chain.block_number() + 1_000,
        validation=ValidationStrategy.auto_accept(),
        validators=[FERDIE.ss58_address],
        reward_per_result=UNIT,
        manifest_cid=stored.cid,
        manifest_hash=stored.sha256,
    )
    return chain.submit(call, creator).one(TaskCreated).task_id


@pytest.fixture
def daemon(devnet: Devnet, ipfs_daemon: Ipfs, tmp_path: Path) -> WorkerDaemon:
    settings = WorkerSettings(
        key="//Dave", chain_url=devnet.url, ipfs_api=ipfs_daemon.api, data_part=0, state_dir=str(tmp_path)
    )
    return WorkerDaemon(settings)


@pytest.mark.devnet
def test_a_signed_bundle_round_trips_and_bad_ones_are_refused_before_any_work(
    chain: DecentralMl, store: ContentStore, daemon: WorkerDaemon
) -> None:
    manifest = initial_manifest(store, "signed", MODEL)
    honest = publish(chain, store, manifest, rounds=1, workers=2)
    signed = bundle.sign(manifest, ALICE)
    changed = signed.replace(b'"name":"signed"', b'"name":"signee"')
    assert len(changed) == len(signed)
    swapped_weights = store.put(b"DMLW1\n not the weights the creator signed")
    other_asset = manifest.model_copy(
        update={
            "initial_weights": ContentRef(cid=swapped_weights.cid, sha256=manifest.initial_weights.sha256)
        }
    )
    # Signed by the creator, but asking for an architecture no worker ships: never executed.
    unshipped = manifest.model_copy(
        update={"model": MODEL.model_copy(update={"architecture": "transformer"})}
    )
    cases = {
        task_with_bundle(chain, store, ALICE, changed): "does not verify",
        task_with_bundle(chain, store, ALICE, bundle.sign(unshipped, ALICE)): "not usable",
        task_with_bundle(
            chain, store, EVE, signed
        ): f"signed by {ALICE.ss58_address}, but the task's creator is {EVE.ss58_address}",
        task_with_bundle(chain, store, ALICE, manifest.to_bytes()): "unsigned manifest is not run",
        task_with_bundle(chain, store, ALICE, bundle.sign(other_asset, ALICE)): "asset initial_weights",
    }
    blocks = chain.block_number()

    assert load_task(chain, store, honest.task_id) == honest.manifest
    assert daemon.suitable(honest.task_id) == honest.manifest
    for task_id, message in cases.items():
        with pytest.raises(bundle.BundleError, match=message.replace("(", r"\(")):
            load_task(chain, store, task_id)
        assert daemon.suitable(task_id) is None
        assert task_id in daemon.refused
    assert chain.block_number() == blocks, "a refused bundle led to an extrinsic"
    for task_id in cases:
        assert chain.assignment(task_id, DAVE.ss58_address) is None


def test_verify_needs_the_creator_signature_over_every_byte() -> None:
    manifest = TaskManifest(
        name="offline", model=MODEL, initial_weights=ContentRef(cid="bafy-w", sha256="0x" + "ab" * 32)
    )
    signed = bundle.sign(manifest, ALICE)

    assert bundle.verify(signed, ALICE.ss58_address) == manifest
    for position in range(0, len(signed), 97):
        flipped = bytearray(signed)
        flipped[position] ^= 0x01
        with pytest.raises(bundle.BundleError):
            bundle.verify(bytes(flipped), ALICE.ss58_address)


def test_dml_task_pack_signs_a_folder_and_verify_checks_it(ipfs_daemon: Ipfs, tmp_path: Path) -> None:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "weights.dmlw").write_bytes(codec.encode(weights_of(build(MODEL))))
    spec = {"name": "packed", "model": MODEL.model_dump(), "initial_weights": "weights.dmlw"}
    (folder / "manifest.json").write_text(json.dumps(spec))

    def dml(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "coordinator.cli", *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)

    packed = dml("--key", "//Alice", "--json", "task", "pack", str(folder), "--ipfs-api", ipfs_daemon.api)
    assert packed.returncode == 0, packed.stderr
    out = json.loads(packed.stdout)
    where = ["--cid", out["bundle_cid"], "--hash", out["bundle_sha256"], "--ipfs-api", ipfs_daemon.api]
    good = dml("task", "verify", *where, "--creator", ALICE.ss58_address)
    wrong_creator = dml("task", "verify", *where, "--creator", EVE.ss58_address)
    where[3] = "0x" + "00" * 32
    wrong_hash = dml("task", "verify", *where, "--creator", ALICE.ss58_address)

    assert out["creator"] == ALICE.ss58_address
    assert (folder / "bundle.json").exists()
    assert good.returncode == 0, good.stderr
    assert "ok: packed" in good.stdout
    assert wrong_creator.returncode == 1
    assert "but the task's creator is" in wrong_creator.stderr
    assert wrong_hash.returncode == 1
    assert "refusing task bundle" in wrong_hash.stderr
