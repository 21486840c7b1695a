"""A regression task trains: its target is standardised from the creator's data, `dml task init`'s
regression defaults learn scikit-learn's diabetes data centrally, predictions come back in the
target's units, and a worker whose training diverges sends nothing."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

from coordinator.cli.task_folder import TRAINING_DEFAULTS, _training
from decentralml import codec, kinds
from decentralml.content import ContentStore
from decentralml.data import DataSpec, Split
from decentralml.kinds import tabular
from decentralml.kinds.schema import ContentRef, TabularSchema
from decentralml.manifest import TaskManifest
from decentralml.metrics import in_target_units, scores
from decentralml.models import build, weights_of
from decentralml.specs import ModelSpec, TrainSpec
from decentralml.training import outputs, train
from decentralml_bindings import DecentralMl
from decentralml_bindings.dev import BOB
from decentralml_bindings.types import TaskInfo
from support.twins import ChainTwin, StoreTwin
from worker.trainer import Trainer, TrainingDivergedError

HEX = "0x" + "11" * 32


def diabetes(tmp_path: Path) -> tuple[TabularSchema, Split, Split]:
    """The diabetes data (raw units: the target runs 25 to 346) as a creator's 80/20 CSV files."""
    bunch = load_diabetes(scaled=False)
    order = np.random.default_rng(0).permutation(len(bunch.target))
    cut = int(0.8 * len(order))
    paths = []
    for name, rows in (("train", order[:cut]), ("test", order[cut:])):
        columns = {f: bunch.data[rows, j] for j, f in enumerate(bunch.feature_names)}
        pcsv.write_csv(pa.table({**columns, "target": bunch.target[rows]}), tmp_path / f"{name}.csv")
        paths.append(tmp_path / f"{name}.csv")
    schema = tabular.infer(paths[0], "csv", label="target", regression=True)
    return schema, kinds.load(schema, paths[0]), kinds.load(schema, paths[1])


def test_the_regression_defaults_learn_diabetes_as_well_as_a_linear_fit(tmp_path: Path) -> None:
    schema, train_set, test_set = diabetes(tmp_path)
    defaults = _training(
        argparse.Namespace(
            kind="tabular",
            regression=True,
            epochs=None,
            learning_rate=None,
            batch_size=None,
            tokens_per_round=None,
            warmup_steps=None,
        )
    )
    linear = LinearRegression().fit(train_set.x, train_set.y).predict(test_set.x)
    model = build(ModelSpec(architecture="mlp", input_shape=schema.input_shape, classes=1))

    loss = train(model, train_set, TrainSpec(**defaults), "regression")
    predicted = schema.to_target(outputs(model, test_set)[:, 0])
    truth = schema.to_target(test_set.y)
    found = scores("regression", predicted, truth)

    assert defaults == TRAINING_DEFAULTS["regression"]
    assert np.isfinite(loss)
    assert 100 < truth.mean() < 200, "predictions and labels come back in the target's own units"
    assert found["r2"] > scores("regression", schema.to_target(linear), truth)["r2"] - 0.05
    # A round's report says the squared error in the target's units, as the prediction does.
    standardised = scores("regression", outputs(model, test_set), test_set.y)
    reported = in_target_units(standardised, schema.target_std)
    assert reported["mse"] == pytest.approx(found["mse"], rel=1e-4)
    assert reported["r2"] == pytest.approx(found["r2"], abs=1e-6)


def test_a_worker_whose_training_diverges_stores_and_sends_nothing(tmp_path: Path) -> None:
    schema, train_set, _ = diabetes(tmp_path)
    spec = ModelSpec(architecture="mlp", input_shape=schema.input_shape, classes=1)
    start = weights_of(build(spec))
    store, chain = StoreTwin(), ChainTwin()
    stored = store.put(codec.encode(start))
    manifest = TaskManifest(
        name="diverges",
        model=spec,
        initial_weights=ContentRef(cid=stored.cid, sha256=stored.sha256),
        data=DataSpec(
            dataset="diabetes", inputs=schema, validation={"cid": "bafy-v", "sha256": HEX, "recipient": HEX}
        ),
        training=TrainSpec(epochs=3, learning_rate=10.0, optimizer="sgd"),
    )
    chain.open_task(1, "creator", ["validator"], rounds=1)
    before = dict(store.blobs)
    trainer = Trainer(cast(DecentralMl, chain), cast(ContentStore, store), BOB, train_set, tmp_path / "bob")

    with pytest.raises(
        TrainingDivergedError, match=r"training diverged in round 1 of task 1.*learning rate 10\.0"
    ):
        trainer.train_round(1, 1, manifest, start)

    assert store.blobs == before, "nothing was stored"
    assert chain.result_of(1, 1, BOB.ss58_address) is None, "nothing was sent"
    assert isinstance(chain.task(1), TaskInfo)
