"""Using a released model over REST: predictions and generated text, behind the release rule.

Every request asks the chain whether the model may be handed out (`release_check`, as the
weights route does): a model revoked a moment ago answers 410 at once. The network built from the
hash-checked weights is kept for the few models used last (`NETWORKS`), so a second request skips
IPFS. Torch loads on the first use of these routes, never at the REST process's start.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from coordinator.api.errors import ApiError, InvalidRequestError
from coordinator.api.schemas import GeneratedOut, GenerateIn, PredictIn, PredictionsOut
from coordinator.api.services.models import release_check, weights_of_checked
from decentralml.admission import Admission
from decentralml.content import ContentError
from decentralml.manifest import ManifestError, TaskManifest
from decentralml_bindings import DecentralMl

if TYPE_CHECKING:
    from torch import nn

NETWORKS = 4
_cache: OrderedDict[int, tuple[Any, TaskManifest, int]] = OrderedDict()
_lock = threading.Lock()


def _network(
    chain: DecentralMl, admission: Admission | None, model_id: int
) -> tuple[nn.Module, TaskManifest, int]:
    """The released model as a network, with its task's manifest and id (cached; whether it is
    released is asked of the chain every time)."""
    from decentralml import codec
    from decentralml.models import build, load_weights

    model = release_check(chain, admission, model_id)
    assert admission is not None  # release_check refused otherwise
    with _lock:
        if model_id in _cache:
            _cache.move_to_end(model_id)
            return _cache[model_id]
    data = weights_of_checked(admission, model_id, model)  # released: checked just above
    try:
        manifest = admission.manifest(model.task_id)
    except (ManifestError, ContentError, LookupError) as bad:
        raise ApiError(
            "BundleUnusable", f"task {model.task_id}'s bundle cannot be used: {bad}", status=409
        ) from bad
    network = build(manifest.model)
    try:
        load_weights(network, codec.decode(data))
    except (codec.CodecError, ValueError) as bad:
        raise ApiError(
            "WeightsUnusable", f"model {model_id}'s weights do not fit its task's model: {bad}", status=409
        ) from bad
    network.eval()
    with _lock:
        _cache[model_id] = (network, manifest, model.task_id)
        while len(_cache) > NETWORKS:
            _cache.popitem(last=False)
    return network, manifest, model.task_id


def predict(
    chain: DecentralMl, admission: Admission | None, model_id: int, body: PredictIn
) -> PredictionsOut:
    """The model's answers on the body's rows or images, through the task's preprocessing."""
    from decentralml.inference import answers
    from decentralml.kinds import image, tabular
    from decentralml.kinds.schema import DataMismatch, ImageSchema, Raw, TabularSchema

    if (body.rows is None) == (body.images is None):
        raise InvalidRequestError("BadInputs", "give either rows (a tabular task) or images (an image task)")
    network, manifest, task_id = _network(chain, admission, model_id)
    schema = manifest.data.schema_of()
    try:
        if isinstance(schema, TabularSchema) and body.rows is not None:
            x = tabular.prepare(
                schema, Raw(tabular.from_rows(schema, body.rows, "rows"), _none(len(body.rows)))
            ).x
        elif isinstance(schema, ImageSchema) and body.images is not None:
            blobs = [_decoded(i, text) for i, text in enumerate(body.images)]
            x = image.prepare(schema, Raw(image.from_blobs(schema, blobs, "images"), _none(len(blobs)))).x
        else:
            wants = {"tabular": "rows", "image": "images"}.get(schema.kind)
            how = f"send {wants}" if wants else "sample it with POST /models/{id}/generate"
            raise InvalidRequestError("WrongKind", f"model {model_id} is a {schema.kind} model: {how}")
    except DataMismatch as bad:
        raise InvalidRequestError("BadInputs", str(bad)) from bad
    found = answers(network, schema, x)
    return PredictionsOut(
        model_id=model_id,
        task_id=task_id,
        predictions=found.predictions,
        probabilities=found.probabilities,
        classes=schema.classes,
    )


def generate(
    chain: DecentralMl, admission: Admission | None, model_id: int, body: GenerateIn
) -> GeneratedOut:
    """A continuation of the body's prompt by a released language model."""
    from decentralml.kinds import text
    from decentralml.kinds.schema import TextSchema
    from decentralml.lm.generate import generate as sample
    from decentralml.lm.transformer import TinyGpt

    network, manifest, task_id = _network(chain, admission, model_id)
    schema = manifest.data.schema_of()
    if not isinstance(schema, TextSchema) or not isinstance(network, TinyGpt):
        raise InvalidRequestError(
            "WrongKind", f"model {model_id} is a {schema.kind} model: use POST /models/{{id}}/predict"
        )
    try:
        continuation = sample(
            network, text.tokenizer_for(schema), body.prompt, body.tokens,
            temperature=body.temperature, top_k=body.top_k, seed=body.seed,
        )  # fmt: skip
    except ValueError as bad:  # a prompt the tokenizer refuses (a lone surrogate, say)
        raise InvalidRequestError("BadInputs", f"cannot sample from this prompt: {bad}") from bad
    return GeneratedOut(model_id=model_id, task_id=task_id, prompt=body.prompt, text=continuation)


def _none(n: int) -> Any:
    import numpy as np

    return np.zeros(n, dtype=np.int64)


def _decoded(index: int, text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as bad:
        raise InvalidRequestError("BadInputs", f"images[{index}] is not base64: {bad}") from bad
