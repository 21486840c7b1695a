"""`dml model predict`: a creator scores its own labelled holdout with a released model, through the
task's preprocessing, on the devnet with real Kubo and a served coordinator; refused, one line and
nothing written, for an unreleased model, a file of the wrong shape and a language model."""

from __future__ import annotations

import base64
import csv
import io
import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image
from safetensors.torch import load as load_safetensors
from sklearn.datasets import load_digits

from coordinator.federation.publisher import Publisher
from coordinator.federation.runner import run_task
from coordinator.federation.status import read_rounds
from coordinator.federation.tasks import initial_manifest, load_task
from decentralml import cards, codec, crypto, kinds, samples
from decentralml.content import ContentStore, sha256_hex
from decentralml.data import DataSpec, Split
from decentralml.kinds.schema import TabularSchema
from decentralml.metrics import scores
from decentralml.models import ModelSpec, build, load_weights
from decentralml.privacy.models import model_bytes
from decentralml.training import outputs, train
from decentralml_bindings import DecentralMl, calls, errors
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, FERDIE
from support.devnet import Devnet
from support.factories import InProcess, create_own_task, enlist, init_and_pack, publish
from tests.coordinator.conftest import dml
from tests.coordinator.test_model_generate import _wait_for_model, _wait_released
from worker.catalogue import Catalogue
from worker.daemon import declare_card
from worker.trainer import Behaviour, Trainer

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])


def _png(pixels: np.ndarray) -> str:
    """One 8x8 grey image as base64 of its PNG file."""
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, format="PNG")
    return base64.b64encode(encoded.getvalue()).decode()


def predict(
    devnet: Devnet, coordinator: str, store: ContentStore, *args: str
) -> subprocess.CompletedProcess[str]:
    return dml(devnet, coordinator, store, "--json", "model", "predict", *args)


@pytest.mark.devnet
def test_a_released_model_scores_the_creators_holdout(
    devnet: Devnet, coordinator: str, chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: a 2-round digits task trained by two workers, released only by the council; the
    # creator's holdout as raw 8x8 images (uint8) with their labels, as the task's schema reads them.
    task = publish(chain, store, initial_manifest(store, "predict-digits", MODEL, data=DataSpec(parts=2)),
                   rounds=2, workers=2)  # fmt: skip
    trainers = enlist(chain, store, task, {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}, tmp_path)
    outcomes = run_task(chain, store, FERDIE, InProcess(trainers), task.task_id, tmp_path / "fed")
    last = outcomes[-1].model_id
    assert last is not None
    digits = load_digits()
    pixels = np.round(np.asarray(digits.data[-300:]) * 255 / 16).astype(np.uint8).reshape(-1, 8, 8)
    labels = np.asarray(digits.target[-300:])
    holdout = tmp_path / "holdout.npz"
    np.savez(holdout, x=pixels, y=labels.astype(str))
    _wait_for_model(coordinator, last)

    # Execute: refused while unreleased; then released, published, and used.
    unreleased = predict(devnet, coordinator, store, str(last), "--data", str(holdout))
    onnx_path = tmp_path / "m.onnx"
    export_unreleased = dml(devnet, coordinator, store, "model", "export", str(last), "--format", "onnx",
                            "--output", str(onnx_path))  # fmt: skip
    assert export_unreleased.returncode == 1
    assert "NotReleased" in export_unreleased.stderr
    assert not onnx_path.exists()
    pngs = [_png(p) for p in pixels[:64]]  # a request takes at most 64 images
    rest_unreleased = httpx.post(f"{coordinator}/models/{last}/predict", json={"images": pngs}, timeout=60)
    assert rest_unreleased.status_code == 403
    assert rest_unreleased.json()["error"] == "NotReleased"
    chain.council_motion(calls.approve_model(last), ALICE, [BOB])
    _wait_released(coordinator, last)
    assert last in Publisher(chain, store, FERDIE).tick()
    written = tmp_path / "p.csv"
    scored = predict(devnet, coordinator, store, str(last), "--data", str(holdout), "--output", str(written))
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((5, 7, 7), np.uint8), y=np.zeros(5, np.int64))
    bad_shape = predict(devnet, coordinator, store, str(last), "--data", str(wrong))
    missing = predict(devnet, coordinator, store, str(last), "--data", str(tmp_path / "none.csv"))

    # Assert: the predictions are the committed model's own on the task's preprocessing (pixels
    # / 255 with the schema's mean and std), and its accuracy is the share of them that are right.
    assert unreleased.returncode == 1
    assert "NotReleased" in unreleased.stderr
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    network = build(MODEL)
    committed = chain.model(last)
    assert committed is not None
    load_weights(network, codec.decode(model_bytes(store, committed, FERDIE)))
    with torch.no_grad():
        expected = network(torch.from_numpy(pixels[:, None].astype(np.float32) / 255)).argmax(1).numpy()
    assert report["rows"] == 300
    assert report["predictions"] == [str(c) for c in expected]
    assert report["metrics"]["accuracy"] == pytest.approx(float(np.mean(expected == labels)))
    assert report["metrics"]["accuracy"] > 0.7
    with written.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["prediction"] for r in rows] == report["predictions"]
    assert [r["label"] for r in rows] == [str(y) for y in labels]
    for refused in (bad_shape, missing):
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "Traceback" not in refused.stderr
    assert "shape" in bad_shape.stderr
    assert "none.csv" in missing.stderr

    # Export: ONNX that onnxruntime runs on the holdout's preprocessed pixels with PyTorch's
    # outputs (1e-5), and safetensors with the committed weights bit for bit; neither overwrites
    # a file without --force.
    exported = dml(devnet, coordinator, store, "--json", "model", "export", str(last), "--format", "onnx",
                   "--output", str(onnx_path))  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["max_difference"] <= 1e-5
    session = onnxruntime.InferenceSession(onnx_path.read_bytes(), providers=["CPUExecutionProvider"])
    prepared = kinds.load(load_task(chain, store, task.task_id).data.schema_of(), holdout).x.astype(
        np.float32
    )
    (logits,) = session.run(["logits"], {"input": prepared})
    with torch.no_grad():
        reference = network(torch.from_numpy(prepared)).numpy()
    assert np.max(np.abs(logits - reference)) <= 1e-5
    assert list(logits.argmax(1)) == list(expected)
    again = dml(
        devnet,
        coordinator,
        store,
        "model",
        "export",
        str(last),
        "--format",
        "onnx",
        "--output",
        str(onnx_path),
    )
    assert again.returncode == 1
    assert "--force" in again.stderr
    # REST: the same predictions from the images as PNG files; inputs that do not fit are refused
    # (400, one body shape); a model the council revokes is refused at once (410).
    rest = httpx.post(f"{coordinator}/models/{last}/predict", json={"images": pngs}, timeout=120)
    assert rest.status_code == 200, rest.text
    answered = rest.json()
    assert answered["predictions"] == report["predictions"][:64]
    assert answered["classes"] == [str(c) for c in range(10)]
    assert all(abs(sum(p) - 1) < 1e-6 for p in answered["probabilities"])
    refusals = {
        "rows": {"rows": [{"a": 1.0}]},
        "neither": {},
        "both": {"rows": [], "images": []},
        "not base64": {"images": ["@@@"]},
        "not an image": {"images": [base64.b64encode(b"hello").decode()]},
        "none": {"images": []},
    }
    for what, body in refusals.items():
        answer = httpx.post(f"{coordinator}/models/{last}/predict", json=body, timeout=60)
        assert answer.status_code == 400, (what, answer.text)
        assert set(answer.json()) >= {"error", "detail"}, what
    assert (
        httpx.post(f"{coordinator}/models/{last}/predict", json={"rows": [{"a": 1.0}]}, timeout=60).json()[
            "error"
        ]
        == "WrongKind"
    )
    assert (
        "images[0]"
        in httpx.post(
            f"{coordinator}/models/{last}/predict", json=refusals["not an image"], timeout=60
        ).json()["detail"]
    )
    lm_route = httpx.post(f"{coordinator}/models/{last}/generate", json={"prompt": "x"}, timeout=60)
    assert (lm_route.status_code, lm_route.json()["error"]) == (400, "WrongKind")
    assert (
        httpx.post(f"{coordinator}/models/999/predict", json={"images": pngs}, timeout=60).status_code == 404
    )
    tensors_path = tmp_path / "m.safetensors"
    assert (
        dml(
            devnet, coordinator, store, "model", "export", str(last), "--output", str(tensors_path)
        ).returncode
        == 0
    )
    tensors = load_safetensors(tensors_path.read_bytes())
    assert {k: v.numpy().tobytes() for k, v in tensors.items()} == {
        k: v.numpy().tobytes() for k, v in network.state_dict().items()
    }

    chain.council_motion(calls.revoke_model(last), ALICE, [BOB])
    revoked = httpx.post(f"{coordinator}/models/{last}/predict", json={"images": pngs}, timeout=60)
    assert (revoked.status_code, revoked.json()["error"]) == (410, "Revoked")


@pytest.mark.devnet
def test_a_released_regression_model_predicts_in_the_targets_units(
    devnet: Devnet, coordinator: str, chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    """The diabetes regression (`dml task init --regression`, its defaults) trained by two workers
    on their CSV shares over 3 rounds, released by the council: `dml model predict` scores the
    creator's holdout in the target's units, within 0.05 R² of the same MLP trained centrally on
    both shares for as many epochs."""
    files = samples.regression_files(tmp_path / "data", ["csv", "csv"], seed=1)
    cid, sha256 = init_and_pack(
        store, tmp_path / "task", files, crypto.sealing_key_hex(FERDIE), regression=True
    )
    task_id = create_own_task(chain, cid, sha256, rounds=3, slots=2)
    manifest = load_task(chain, store, task_id)
    schema = manifest.data.schema_of()
    assert isinstance(schema, TabularSchema)
    # Each share has its DATASET.md beside it. Bob declares his as the daemon does; Charlie
    # declares a CID whose bytes do not hash to what he declared (an altered card).
    samples.write_cards(files, "sklearn-diabetes")
    trainers = []
    for key, share in zip((BOB, CHARLIE), files.shares, strict=True):
        chain.submit(calls.assign_task(task_id), key)
        catalogue = Catalogue.parse([f"diabetes={share}"])
        trainers.append(Trainer(chain, store, key, catalogue.data_for(manifest), tmp_path / key.ss58_address))
    bob_card = Catalogue.parse([f"diabetes={files.shares[0]}"]).card_for(manifest)
    assert bob_card is not None
    declare_card(chain, store, BOB, task_id, bob_card)
    with pytest.raises(errors.DatasetAlreadyDeclared):  # provenance cannot be rewritten
        declare_card(chain, store, BOB, task_id, cards.render(cards.DEMO_CARDS["sklearn-wine"]))
    altered = store.put(bob_card.replace(b"BSD-3-Clause", b"CC0-1.0"))
    chain.submit(calls.declare_dataset(task_id, altered.cid, sha256_hex(b"not these bytes")), CHARLIE)

    outcomes = run_task(chain, store, FERDIE, InProcess(trainers), task_id, tmp_path / "fed")
    last = outcomes[-1].model_id
    assert last is not None
    _wait_for_model(coordinator, last)
    chain.council_motion(calls.approve_model(last), ALICE, [BOB])
    _wait_released(coordinator, last)
    assert last in Publisher(chain, store, FERDIE).tick()
    scored = predict(devnet, coordinator, store, str(last), "--data", str(files.test))

    # Every round accepted updates and none was malformed (diverged: the regression had
    # every update of every round rejected so); predictions in the target's units (25-346, not
    # standardised); the round log reports squared error in those units too.
    assert all(o.accepted for o in outcomes), [o.rejected for o in outcomes]
    assert "Malformed" not in [reason for o in outcomes for reason in o.rejected.values()]
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    truth = kinds.read(schema, files.test).y.astype(np.float64)
    assert report["rows"] == len(truth)
    assert 20 < float(np.mean(report["predictions"])) < 350
    assert report["metrics"]["r2"] == pytest.approx(
        scores("regression", np.asarray(report["predictions"]), truth)["r2"]
    )
    logged = read_rounds(tmp_path / "fed", task_id)[-1]["test_metrics"]
    assert logged["mse"] == pytest.approx(report["metrics"]["mse"], rel=1e-3)
    central = build(manifest.model)
    together = [Catalogue.parse([f"diabetes={s}"]).data_for(manifest) for s in files.shares]
    union = Split(np.concatenate([d.x for d in together]), np.concatenate([d.y for d in together]))
    epochs = manifest.training.epochs * len(outcomes)
    train(central, union, manifest.training.model_copy(update={"epochs": epochs}), "regression")
    holdout = kinds.load(schema, files.test)
    baseline = scores("regression", schema.to_target(outputs(central, holdout)[:, 0]), truth)["r2"]
    assert report["metrics"]["r2"] > baseline - 0.05, (report["metrics"], baseline)
    assert report["metrics"]["r2"] > 0.3

    # REST: the same predictions from the holdout's rows as JSON (numbers by column name, the
    # label left out); a row without a column, or with text in a number column, is refused.
    with files.test.open() as handle:
        rows = [
            {k: float(v) for k, v in row.items() if k != samples.REGRESSION_LABEL}
            for row in csv.DictReader(handle)
        ]
    rest = httpx.post(f"{coordinator}/models/{last}/predict", json={"rows": rows[:50]}, timeout=120)
    assert rest.status_code == 200, rest.text
    assert rest.json()["probabilities"] is None
    assert rest.json()["predictions"] == pytest.approx(report["predictions"][:50], rel=1e-5)
    missing_column = httpx.post(
        f"{coordinator}/models/{last}/predict", json={"rows": [{"age": 1.0}]}, timeout=60
    )
    text_in_number = httpx.post(
        f"{coordinator}/models/{last}/predict", json={"rows": [dict(rows[0], age="old")]}, timeout=60
    )
    for refused in (missing_column, text_in_number):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "BadInputs"
    assert "'age'" in text_in_number.json()["detail"]

    # The model card: both accepted contributors, Bob's dataset with its licence, Charlie's card
    # named as unusable (its bytes do not hash to what he declared), the rounds and lineage.
    carded = dml(
        devnet, coordinator, store, "--json", "model", "card", str(last), "--output", str(tmp_path / "c.md")
    )
    assert carded.returncode == 0, carded.stderr
    facts = json.loads(carded.stdout)
    by_worker = {c["worker"]: c for c in facts["contributors"]}
    assert set(by_worker) == {BOB.ss58_address, CHARLIE.ss58_address}
    assert by_worker[BOB.ss58_address]["card"]["license"] == "BSD-3-Clause (as distributed with scikit-learn)"
    assert 1 <= by_worker[BOB.ss58_address]["results"] <= 3
    assert by_worker[CHARLIE.ss58_address]["card"] is None
    assert "expected sha256" in by_worker[CHARLIE.ss58_address]["card_problem"]
    assert [r["round"] for r in facts["rounds"]] == [1, 2, 3]
    assert len(facts["lineage"]) == 3
    text = (tmp_path / "c.md").read_text()
    assert "Diabetes (Efron et al. 2004; scikit-learn load_diabetes), share 1" in text
    assert "CC0-1.0" not in text
    assert "1 of 2 contributors declared no usable card" in text
    detail = httpx.get(f"{coordinator}/tasks/{task_id}", timeout=10).json()
    mirrored = {a["worker"]: a["dataset_cid"] for a in detail["assignments"]}
    assert mirrored == {BOB.ss58_address: mirrored[BOB.ss58_address], CHARLIE.ss58_address: altered.cid}
    assert mirrored[BOB.ss58_address] is not None


@pytest.mark.devnet
def test_a_released_breast_cancer_model_predicts_exports_and_answers_over_rest(
    devnet: Devnet, coordinator: str, chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    """An own breast-cancer task from CSV (`dml task init`, release by the council), two workers,
    2 rounds: refused everywhere until released; then `dml model predict` scores the creator's
    holdout, the ONNX export answers like PyTorch on it, REST predicts the same from JSON rows;
    refused again (410) once the council revokes it."""
    files = samples.tabular_files(tmp_path / "data", ["csv", "csv"], seed=2)
    cid, sha256 = init_and_pack(
        store, tmp_path / "task", files, crypto.sealing_key_hex(FERDIE), release="council"
    )
    task_id = create_own_task(chain, cid, sha256, rounds=2, slots=2)
    manifest = load_task(chain, store, task_id)
    trainers = []
    for key, share in zip((BOB, CHARLIE), files.shares, strict=True):
        chain.submit(calls.assign_task(task_id), key)
        data = Catalogue.parse([f"cancer={share}"]).data_for(manifest)
        trainers.append(Trainer(chain, store, key, data, tmp_path / key.ss58_address))
    outcomes = run_task(chain, store, FERDIE, InProcess(trainers), task_id, tmp_path / "fed")
    last = outcomes[-1].model_id
    assert last is not None
    _wait_for_model(coordinator, last)
    with files.test.open() as handle:
        rows = [{k: float(v) for k, v in r.items() if k != samples.LABEL} for r in csv.DictReader(handle)]
    onnx_path = tmp_path / "cancer.onnx"
    cli_refused = predict(devnet, coordinator, store, str(last), "--data", str(files.test))
    export_refused = dml(
        devnet,
        coordinator,
        store,
        "model",
        "export",
        str(last),
        "--format",
        "onnx",
        "--output",
        str(onnx_path),
    )
    rest_refused = httpx.post(f"{coordinator}/models/{last}/predict", json={"rows": rows}, timeout=60)
    assert not onnx_path.exists()  # a refused export writes nothing

    chain.council_motion(calls.approve_model(last), ALICE, [BOB])
    _wait_released(coordinator, last)
    assert last in Publisher(chain, store, FERDIE).tick()
    scored = predict(devnet, coordinator, store, str(last), "--data", str(files.test))
    exported = dml(
        devnet,
        coordinator,
        store,
        "model",
        "export",
        str(last),
        "--format",
        "onnx",
        "--output",
        str(onnx_path),
    )
    rest = httpx.post(f"{coordinator}/models/{last}/predict", json={"rows": rows}, timeout=120)
    chain.council_motion(calls.revoke_model(last), ALICE, [BOB])
    revoked = httpx.post(f"{coordinator}/models/{last}/predict", json={"rows": rows}, timeout=60)
    cli_revoked = predict(devnet, coordinator, store, str(last), "--data", str(files.test))

    # Assert: before release, nothing; after, the same answers by every path; after revocation,
    # nothing again.
    assert (cli_refused.returncode, export_refused.returncode) == (1, 1)
    assert "NotReleased" in cli_refused.stderr
    assert (rest_refused.status_code, rest_refused.json()["error"]) == (403, "NotReleased")
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    assert report["metrics"]["accuracy"] > 0.9
    assert exported.returncode == 0, exported.stderr
    schema = manifest.data.schema_of()
    prepared = kinds.load(schema, files.test).x.astype(np.float32)
    session = onnxruntime.InferenceSession(onnx_path.read_bytes(), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"input": prepared})
    network = build(manifest.model)
    committed = chain.model(last)
    assert committed is not None
    load_weights(network, codec.decode(model_bytes(store, committed, FERDIE)))
    with torch.no_grad():
        assert np.max(np.abs(logits - network(torch.from_numpy(prepared)).numpy())) <= 1e-5
    assert isinstance(schema, TabularSchema)
    assert schema.classes is not None
    assert [schema.classes[int(i)] for i in logits.argmax(1)] == report["predictions"]
    assert rest.status_code == 200, rest.text
    assert rest.json()["predictions"] == report["predictions"]
    assert (revoked.status_code, revoked.json()["error"]) == (410, "Revoked")
    assert cli_revoked.returncode == 1
    assert "Revoked" in cli_revoked.stderr
