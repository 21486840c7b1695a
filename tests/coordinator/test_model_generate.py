"""`dml model generate` on a language-model task trained on the devnet with real Kubo: refereed by
its validation loss round over round, and sampled only once the task's release rule allows it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from coordinator.federation.publisher import Publisher
from coordinator.federation.runner import run_task
from coordinator.federation.tasks import initial_manifest
from decentralml.content import ContentStore
from decentralml.data import DataSpec
from decentralml.lm.transformer import TransformerSpec
from decentralml.models import ModelSpec
from decentralml.training import TrainSpec
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, FERDIE
from support.devnet import Devnet
from support.factories import InProcess, enlist, publish
from tests.coordinator.conftest import dml
from worker.trainer import Behaviour

SMALL = TransformerSpec(vocab_size=257, context=64, layers=2, heads=2, width=64)
MODEL = ModelSpec(architecture="transformer", input_shape=[64], classes=257, transformer=SMALL)
TRAINING = TrainSpec(learning_rate=3e-3, batch_size=16, tokens_per_round=8_192, warmup_steps=2)


@pytest.mark.devnet
def test_an_lm_task_trains_and_generates_only_from_a_released_model(
    devnet: Devnet, coordinator: str, chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: a 2-worker task on whole stdlib modules, its models released only by the council.
    manifest = initial_manifest(
        store,
        "stdlib-lm",
        MODEL,
        training=TRAINING,
        data=DataSpec(dataset="python-stdlib", parts=2),
        update_encoding="float16_delta",
    )
    task = publish(chain, store, manifest, rounds=3, workers=2)
    trainers = enlist(chain, store, task, {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}, tmp_path)

    # Execute: three rounds refereed and committed by hash.
    outcomes = run_task(chain, store, FERDIE, InProcess(trainers), task.task_id, tmp_path / "fed")
    last = outcomes[-1].model_id
    assert last is not None
    _wait_for_model(coordinator, last)
    refused = dml(devnet, coordinator, store, "model", "generate", str(last), "--tokens", "50")
    rest_refused = httpx.post(f"{coordinator}/models/{last}/generate", json={"tokens": 50}, timeout=60)
    chain.council_motion(calls.approve_model(last), ALICE, [BOB])
    _wait_released(coordinator, last)
    # The validator's coordinator publishes a released model's plaintext (its launcher does this on
    # every tick; this coordinator serves REST only), then anyone may use it.
    assert last in Publisher(chain, store, FERDIE).tick()
    first = dml(devnet, coordinator, store, "--json", "model", "generate", str(last), "--tokens", "80")
    again = dml(devnet, coordinator, store, "--json", "model", "generate", str(last), "--tokens", "80")

    # Assert: validation loss fell round over round; every round committed on chain; generation was
    # refused while unreleased, then gives the same text for the same seed.
    losses = [o.validation_loss for o in outcomes]
    assert losses[0] > losses[1] > losses[2], losses
    assert all(len(o.accepted) == 2 for o in outcomes)
    assert chain.task(task.task_id).committed_rounds == 3  # type: ignore[union-attr]
    assert refused.returncode == 1
    assert "NotReleased" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert first.returncode == 0, first.stderr
    sample = json.loads(first.stdout)["text"]
    assert len(sample) > 20
    assert json.loads(again.stdout)["text"] == sample

    # REST: the same sampler, the same text for the same parameters (the CLI's defaults); refused
    # while unreleased and for parameters out of range; predict is not for a language model.
    assert (rest_refused.status_code, rest_refused.json()["error"]) == (403, "NotReleased")
    body = {"prompt": "def ", "tokens": 80, "temperature": 0.8, "seed": 0}
    rest = httpx.post(f"{coordinator}/models/{last}/generate", json=body, timeout=120)
    assert rest.status_code == 200, rest.text
    assert rest.json()["text"] == sample
    assert rest.json()["task_id"] == task.task_id
    greedy = httpx.post(
        f"{coordinator}/models/{last}/generate", json=dict(body, temperature=0, seed=5), timeout=120
    )
    assert (
        greedy.json()["text"]
        == httpx.post(
            f"{coordinator}/models/{last}/generate", json=dict(body, temperature=0, seed=9), timeout=120
        ).json()["text"]
    )  # greedy ignores the seed
    for bad in ({"tokens": 0}, {"tokens": 100_000}, {"temperature": -1}, {"prompt": "x" * 5000}, {"nope": 1}):
        answer = httpx.post(f"{coordinator}/models/{last}/generate", json=bad, timeout=60)
        assert answer.status_code == 422, (bad, answer.text)
    surrogate = httpx.post(  # JSON may escape a lone surrogate; no UTF-8 encoder would send one
        f"{coordinator}/models/{last}/generate",
        content=b'{"prompt": "\\ud800"}',
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert surrogate.status_code == 422, surrogate.text  # refused as input, never a 500
    wrong = httpx.post(f"{coordinator}/models/{last}/predict", json={"rows": [{"a": 1.0}]}, timeout=60)
    assert (wrong.status_code, wrong.json()["error"]) == (400, "WrongKind")


def _wait_for_model(coordinator: str, model_id: int) -> None:

    deadline = time.monotonic() + 60
    while httpx.get(f"{coordinator}/models/{model_id}", timeout=5).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the mirror never showed model {model_id}")
        time.sleep(0.5)


def _wait_released(coordinator: str, model_id: int) -> None:

    deadline = time.monotonic() + 60
    while httpx.get(f"{coordinator}/models/{model_id}", timeout=5).json()["status"] != "Approved":
        if time.monotonic() > deadline:
            raise TimeoutError(f"the mirror never showed model {model_id} approved")
        time.sleep(0.5)
