"""A released model in the formats other tools read: safetensors and ONNX.

Both carry what a user needs besides the weights: the model's spec (`ModelSpec` as JSON), the
task's data schema (its preprocessing: column order, scaling, classes, a regression target's
scale, a tokenizer's name) and where the model comes from (model id, task, round, the committed
sha256). The network's input is what the task's preprocessing produces (`kinds.load`): features
as float32 (images `[n, channels, height, width]`), or token ids as int64 for a language model;
its output the logits (a regression: the standardised target, to be scaled back by the schema's
`target_mean` and `target_std`).

`to_onnx` exports through PyTorch's TorchScript exporter (opset 17, a dynamic batch axis) and
refuses a file whose outputs differ from PyTorch's by more than `TOLERANCE` on seeded inputs,
run through onnxruntime: a model that exports wrong is never written. Loaded only by
`dml model export`: onnx, onnxruntime and safetensors are the `export` extra.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from decentralml.specs import ModelSpec

TOLERANCE = 1e-5
OPSET = 17
FORMATS = ("safetensors", "onnx")


class ExportError(RuntimeError):
    """The model could not be exported faithfully."""


def input_shape(spec: ModelSpec, schema: Mapping[str, Any] | None = None) -> list[int]:
    """One example's shape as the task's preprocessing hands it to the network: an image task's
    `[channels, height, width]` (an MLP flattens it), else the spec's `input_shape`."""
    if schema is not None and schema.get("kind") == "image":
        return [int(schema["channels"]), int(schema["height"]), int(schema["width"])]
    return list(spec.input_shape)


def sample_inputs(
    spec: ModelSpec, n: int = 16, seed: int = 0, shape: list[int] | None = None
) -> NDArray[Any]:
    """Seeded inputs of the shape the network reads (`shape`, default the spec's): standard-normal
    features, or token ids."""
    rng = np.random.default_rng(seed)
    if spec.transformer is not None:
        length = min(spec.transformer.context, 32)
        return rng.integers(0, spec.transformer.vocab_size, size=(n, length), dtype=np.int64)
    return rng.standard_normal((n, *(shape or spec.input_shape))).astype(np.float32)


def metadata(spec: ModelSpec, schema: Mapping[str, Any], origin: Mapping[str, Any]) -> dict[str, str]:
    """String metadata both formats carry: the spec, the schema and the origin, as JSON."""
    return {
        "decentralml.model_spec": spec.model_dump_json(),
        "decentralml.schema": json.dumps(schema, sort_keys=True, default=str),
        "decentralml.origin": json.dumps(origin, sort_keys=True),
    }


def to_safetensors(network: nn.Module, meta: Mapping[str, str]) -> bytes:
    """The network's weights as safetensors bytes, with `meta` in the header."""
    from safetensors.torch import save

    tensors = {name: t.detach().contiguous().cpu() for name, t in network.state_dict().items()}
    return save(tensors, metadata=dict(meta))


def to_onnx(
    network: nn.Module, spec: ModelSpec, meta: Mapping[str, str], shape: list[int] | None = None
) -> tuple[bytes, float]:
    """The network as ONNX bytes for inputs of one example's `shape` (`input_shape`), and the
    largest difference between onnxruntime's outputs and PyTorch's on `sample_inputs`;
    ExportError if above `TOLERANCE`."""
    import onnx

    network.eval()
    example = torch.from_numpy(sample_inputs(spec, n=2, shape=shape))
    with tempfile.TemporaryDirectory(prefix="dml-onnx-") as scratch, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated, not removed
        path = f"{scratch}/model.onnx"
        try:
            torch.onnx.export(
                network,
                (example,),
                path,
                dynamo=False,
                opset_version=OPSET,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            )
        except Exception as failed:  # the exporter raises many kinds: name it and stop
            raise ExportError(
                f"PyTorch could not export the {spec.architecture} to ONNX: {failed}"
            ) from failed
        model = onnx.load(path)
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    data = model.SerializeToString()
    difference = onnx_difference(data, network, spec, shape=shape)
    if not difference <= TOLERANCE:
        raise ExportError(
            f"onnxruntime's outputs differ from PyTorch's by {difference:.3g} (> {TOLERANCE}): not written"
        )
    return data, difference


def onnx_difference(
    data: bytes, network: nn.Module, spec: ModelSpec, seed: int = 1, shape: list[int] | None = None
) -> float:
    """The largest absolute difference between onnxruntime's and PyTorch's outputs on seeded inputs."""
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    inputs = sample_inputs(spec, n=16, seed=seed, shape=shape)
    (found,) = session.run(["logits"], {"input": inputs})
    with torch.no_grad():
        expected = network(torch.from_numpy(inputs)).numpy()
    if np.shape(found) != expected.shape:
        return float("inf")
    return float(np.max(np.abs(np.asarray(found, dtype=np.float64) - expected.astype(np.float64))))
