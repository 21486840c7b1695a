"""A manifest's data section: own data must declare its schema and a sealed validation set, the model
must fit the data, demo sources stay demo sources, and every refusal is one line saying what to fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from decentralml import crypto
from decentralml.data import demo_inputs
from decentralml.manifest import ManifestError, TaskManifest
from decentralml_bindings.dev import ALICE, BOB, FERDIE

HEX = "0x" + "ab" * 32
SEALED = {"cid": "bafy-validation", "sha256": HEX, "recipient": HEX}
TABULAR = demo_inputs("sklearn-breast-cancer").model_dump(mode="json")


def manifest(**data: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "model": {"architecture": "mlp", "input_shape": [30], "classes": 2},
        "initial_weights": {"cid": "bafy-weights", "sha256": HEX},
        "data": data,
    }


def refusal(spec: dict[str, Any]) -> str:
    with pytest.raises(ManifestError) as refused:
        TaskManifest.from_bytes(json.dumps(spec).encode())
    message = str(refused.value)
    assert "\n" not in message
    assert "https://" not in message
    return message


def test_own_data_needs_its_schema_and_a_sealed_validation_set() -> None:
    assert "declare its inputs" in refusal(manifest(dataset="cancer", validation=SEALED))
    assert "sealed to the validator" in refusal(manifest(dataset="cancer", inputs=TABULAR))
    ok = TaskManifest.model_validate(manifest(dataset="cancer", inputs=TABULAR, validation=SEALED))
    assert not ok.data.is_demo
    assert ok.data.schema_of().objective == "classification"


def test_a_demo_source_is_never_mixed_with_own_sets_and_the_model_must_fit() -> None:
    assert "demo source" in refusal(manifest(dataset="sklearn-breast-cancer", validation=SEALED))
    wrong_width = manifest(dataset="sklearn-digits")
    assert "takes [30] inputs, the data gives [1, 8, 8]" in refusal(wrong_width)
    regression = {**TABULAR, "classes": None}
    assert "a regression target (1 output)" in refusal(
        manifest(dataset="prices", inputs=regression, validation=SEALED)
    )
    assert "dataset" in refusal(manifest(dataset="../etc/passwd"))


def test_schemas_refuse_inconsistent_preprocessing() -> None:
    for broken in (
        {**TABULAR, "mean": [0.0]},
        {**TABULAR, "std": [0.0] * 30},
        {**TABULAR, "label": TABULAR["features"][0]},
        {**TABULAR, "categories": {"not a feature": ["a"]}},
    ):
        with pytest.raises(ValidationError):
            TaskManifest.model_validate(manifest(dataset="cancer", inputs=broken, validation=SEALED))


def test_only_the_validators_own_signed_sealing_key_is_accepted() -> None:
    statement = crypto.sealing_statement(FERDIE)

    assert crypto.verify_sealing_key(statement, FERDIE.ss58_address) == crypto.sealing_key_hex(FERDIE)
    with pytest.raises(crypto.SealError, match="published by"):
        crypto.verify_sealing_key(statement, BOB.ss58_address)
    swapped = statement | {"sealing_key": crypto.sealing_key_hex(ALICE)}  # an impostor's key
    with pytest.raises(crypto.SealError, match="does not verify"):
        crypto.verify_sealing_key(swapped, FERDIE.ss58_address)
    with pytest.raises(crypto.SealError):
        crypto.seal(b"x", "0x1234")
    assert crypto.sealing_key_hex(FERDIE) != crypto.sealing_key_hex(BOB)
