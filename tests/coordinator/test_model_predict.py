"""`dml model predict`: a creator scores its own labelled holdout with a released model, through the
task's preprocessing, on the devnet with real Kubo and a served coordinator; refused, one line and
nothing written, for an unreleased model, a file of the wrong shape and a language model."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from coordinator.federation.publisher import Publisher
from coordinator.federation.runner import run_task
from coordinator.federation.tasks import initial_manifest
from decentralml import codec
from decentralml.content import ContentStore
from decentralml.data import DataSpec
from decentralml.models import ModelSpec, build, load_weights
from decentralml.privacy.models import model_bytes
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, FERDIE
from support.devnet import Devnet
from support.factories import InProcess, enlist, publish
from tests.coordinator.conftest import dml
from tests.coordinator.test_model_generate import _wait_for_model, _wait_released
from worker.trainer import Behaviour

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])


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
