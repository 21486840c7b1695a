"""What a released model answers: predictions in the task's own terms.

`answers` runs prepared inputs (the task's preprocessing applied: `kinds.load`, or
`kinds.tabular.from_rows` / `kinds.image.from_blobs` then `prepare`) through the network and
names each prediction as the task does: a class name with the class probabilities, or a number in
the regression target's own units. `dml model predict` and the REST predict route both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from decentralml.kinds.schema import ImageSchema, Split, TabularSchema
from decentralml.training import outputs


@dataclass(frozen=True)
class Answers:
    """`predictions`: a class name, or a number in the target's units, per input; `probabilities`:
    per input, one per class in the schema's order (None for a regression); `raw`: the outputs."""

    predictions: list[str | float]
    probabilities: list[list[float]] | None
    raw: np.ndarray


def answers(network: nn.Module, schema: TabularSchema | ImageSchema, x: np.ndarray) -> Answers:
    """The network's answers on prepared inputs `x`."""
    out = outputs(network, Split(x, np.zeros(len(x), dtype=np.int64)))
    if schema.classes is None:
        assert isinstance(schema, TabularSchema)
        values = schema.to_target(out[:, 0])
        return Answers([float(v) for v in values], None, out)
    probabilities = torch.softmax(torch.from_numpy(out.astype(np.float64)), dim=1).numpy()
    predicted: list[str | float] = [schema.classes[int(i)] for i in out.argmax(axis=1)]
    return Answers(predicted, [[float(p) for p in row] for row in probabilities], out)
