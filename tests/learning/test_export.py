"""`decentralml.export`: a model as safetensors and ONNX, each carrying its spec, schema and
origin; an ONNX file whose onnxruntime outputs differ from PyTorch's is refused, not written."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load as load_safetensors
from torch import nn

from decentralml import export
from decentralml.models import build
from decentralml.specs import ModelSpec, TransformerSpec

SPECS = {
    "mlp": ModelSpec(architecture="mlp", input_shape=[30], classes=2, hidden=[16]),
    "cnn": ModelSpec(architecture="cnn", input_shape=[1, 8, 8], classes=10, channels=[4, 8]),
    "transformer": ModelSpec(
        architecture="transformer",
        input_shape=[32],
        classes=64,
        transformer=TransformerSpec(vocab_size=64, context=32, layers=1, heads=2, width=16),
    ),
}
META = export.metadata(SPECS["mlp"], {"kind": "tabular", "columns": ["a"]}, {"model": 3, "task": 1})


@pytest.mark.parametrize("name", sorted(SPECS))
def test_onnx_matches_pytorch_and_carries_the_metadata(name: str) -> None:
    spec = SPECS[name]
    network = build(spec, seed=4)
    data, difference = export.to_onnx(network, spec, META)

    assert difference <= export.TOLERANCE
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model)
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["decentralml.origin"]) == {"model": 3, "task": 1}
    assert ModelSpec.model_validate_json(props["decentralml.model_spec"]) == SPECS["mlp"]
    # A batch of another size than the traced one runs: the batch axis is dynamic.
    assert export.onnx_difference(data, network, spec, seed=9) <= export.TOLERANCE


def test_safetensors_holds_every_weight_bit_for_bit_and_the_metadata() -> None:
    network = build(SPECS["cnn"], seed=2)
    data = export.to_safetensors(network, META)
    loaded = load_safetensors(data)
    assert set(loaded) == set(network.state_dict())
    for key, tensor in network.state_dict().items():
        assert torch.equal(loaded[key], tensor)
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_size])
    assert header["__metadata__"] == META


class Traced(nn.Module):
    """Python control flow on the batch size: tracing bakes in the example's branch."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(30, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(x)
        return out * 2 if x.shape[0] == 2 else out * 3


def test_an_export_that_does_not_match_pytorch_is_refused() -> None:
    with pytest.raises(export.ExportError, match="differ from PyTorch's"):
        export.to_onnx(Traced(), SPECS["mlp"], META)


def test_an_image_task_exports_for_the_images_its_preprocessing_makes() -> None:
    # An MLP over 8x8 digits reads [n, 1, 8, 8] from the image preprocessing and flattens it.
    spec = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[8])
    shape = export.input_shape(spec, {"kind": "image", "channels": 1, "height": 8, "width": 8})
    assert shape == [1, 8, 8]
    assert export.input_shape(spec, {"kind": "tabular"}) == [64]
    data, difference = export.to_onnx(build(spec), spec, META, shape)
    assert difference <= export.TOLERANCE
    dims = onnx.load_from_string(data).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, 8, 8]


def test_sample_inputs_are_seeded_and_shaped_for_the_network() -> None:
    tokens = export.sample_inputs(SPECS["transformer"], n=3, seed=5)
    assert tokens.dtype == np.int64
    assert tokens.shape == (3, 32)
    assert int(tokens.max()) < 64
    assert export.sample_inputs(SPECS["cnn"], n=4).shape == (4, 1, 8, 8)
    assert np.array_equal(
        export.sample_inputs(SPECS["mlp"], seed=1), export.sample_inputs(SPECS["mlp"], seed=1)
    )
