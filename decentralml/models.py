"""The model definitions DecentralML ships. A manifest chooses one by name and configures it;
nothing from a manifest is ever executed. Inputs are flat feature vectors (images are reshaped);
the transformer (`decentralml.lm.transformer`) takes token windows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from decentralml.codec import Weights
from decentralml.lm.transformer import TinyGpt
from decentralml.specs import ModelSpec as ModelSpec


class Mlp(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        width = int(np.prod(spec.input_shape))
        layers: list[nn.Module] = [nn.Flatten()]
        for hidden in spec.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, spec.classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class SmallCnn(nn.Module):
    """3x3 convolutions with padding, then global average pooling: fits 8x8 digits and larger."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if len(spec.input_shape) != 3:
            raise ValueError("cnn needs input_shape [channels, height, width]")
        self.shape = tuple(spec.input_shape)
        layers: list[nn.Module] = []
        channels = spec.input_shape[0]
        for out in spec.channels:
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
            channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, spec.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x.reshape(-1, *self.shape)))
        return out


def _transformer(spec: ModelSpec) -> nn.Module:
    assert spec.transformer is not None  # checked by ModelSpec
    return TinyGpt(spec.transformer)


ARCHITECTURES: dict[str, Callable[[ModelSpec], nn.Module]] = {
    "mlp": Mlp,
    "cnn": SmallCnn,
    "transformer": _transformer,
}


def build(spec: ModelSpec, seed: int = 0) -> nn.Module:
    """The architecture `spec` names, with weights initialised from `seed`."""
    torch.manual_seed(seed)
    return ARCHITECTURES[spec.architecture](spec)


def blank(spec: ModelSpec) -> nn.Module:
    """The architecture `spec` names with its weights left unset, for a caller that loads them:
    nothing is initialised and nothing is drawn from torch's global generator (which `build`
    seeds, and a transformer's dropout draws from while another thread trains)."""
    with torch.device("meta"):
        model = ARCHITECTURES[spec.architecture](spec)
    return model.to_empty(device="cpu")


def weights_of(model: nn.Module) -> Weights:
    return {
        name: tensor.detach().cpu().numpy().astype(np.float32) for name, tensor in model.state_dict().items()
    }


def load_weights(model: nn.Module, weights: Weights) -> None:
    """Load `weights` into `model`; refuses names or shapes that do not fit it."""
    own = model.state_dict()
    if set(own) != set(weights):
        raise ValueError(f"the weights name {sorted(set(weights) ^ set(own))[:3]}... unlike the model")
    for name, tensor in own.items():
        if tuple(tensor.shape) != tuple(weights[name].shape):
            raise ValueError(f"{name}: weights {weights[name].shape}, model {tuple(tensor.shape)}")
    model.load_state_dict({name: torch.from_numpy(np.array(array)) for name, array in weights.items()})
