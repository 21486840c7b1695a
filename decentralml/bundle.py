"""Signed task bundles: like a code-signed package, a task's manifest and every asset it lists,
signed by the creator's chain account (sr25519) and addressed by hash.

A bundle is canonical JSON: `{"format", "creator", "manifest", "signature"}`. The signature covers
the canonical bytes of everything but itself, and the manifest addresses each asset (the initial
weights) by CID and sha256. The bundle's own CID and sha256 are what `create_task` puts on chain.

`open_bundle` checks, in order, before any work: the bytes are the ones the chain names (hash);
they are a bundle; it claims the task's on-chain creator; the creator's signature is valid; and
every asset's bytes have their listed hash. Each refusal says which check failed.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from substrateinterface import Keypair

from decentralml.content import ContentStore, HashMismatchError
from decentralml.kinds.schema import ContentRef, TextSchema
from decentralml.manifest import ManifestError, TaskManifest, describe

FORMAT = "decentralml-bundle/1"


class BundleError(ManifestError):
    """A bundle a worker must not run, and why."""


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sign(manifest: TaskManifest, creator: Keypair) -> bytes:
    """The signed bundle of `manifest` (whose assets are already in the content store)."""
    body = {"format": FORMAT, "creator": creator.ss58_address, "manifest": manifest.model_dump(mode="json")}
    signature = "0x" + bytes(creator.sign(_canonical(body))).hex()
    return _canonical(body | {"signature": signature})


def assets(manifest: TaskManifest, sealed: bool = True) -> dict[str, tuple[str, str]]:
    """Every asset the manifest lists: name -> (CID, sha256); with `sealed`, also the data sets
    sealed to the validator (workers, who cannot open them, skip those)."""
    found = {"initial_weights": (manifest.initial_weights.cid, manifest.initial_weights.sha256)}
    inputs = manifest.data.inputs
    if isinstance(inputs, TextSchema) and isinstance(inputs.tokenizer, ContentRef):
        found["tokenizer"] = (inputs.tokenizer.cid, inputs.tokenizer.sha256)
    for name in ("validation", "test"):
        if sealed and (asset := getattr(manifest.data, name)) is not None:
            found[name] = (asset.cid, asset.sha256)
            for index, copy in enumerate(asset.copies, start=2):  # sealed to the other members
                found[f"{name}-{index}"] = (copy.cid, copy.sha256)
    return found


def verify(data: bytes, creator: str) -> TaskManifest:
    """The manifest of a bundle signed by `creator`; raises BundleError naming what is wrong."""
    try:
        value = json.loads(data)
    except ValueError as bad:
        raise BundleError(f"not a task bundle (not JSON: {bad})") from bad
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise BundleError(f"not a signed task bundle ({FORMAT}): an unsigned manifest is not run")
    signature = value.pop("signature", None)
    if value.get("creator") != creator:
        raise BundleError(
            f"the bundle is signed by {value.get('creator')}, but the task's creator is {creator}"
        )
    try:
        valid = Keypair(ss58_address=creator).verify(_canonical(value), str(signature))
    except (TypeError, ValueError) as bad:
        raise BundleError(f"the bundle's signature is malformed: {bad}") from bad
    if not valid:
        raise BundleError(
            f"the bundle's signature does not verify against the creator {creator}: it was altered"
        )
    try:
        return TaskManifest.model_validate(value.get("manifest"))
    except ValidationError as unusable:
        raise BundleError(f"the signed manifest is not usable: {describe(unusable)}") from unusable


def open_bundle(
    store: ContentStore, cid: str, sha256: str, creator: str, *, sealed: bool = True
) -> TaskManifest:
    """Fetch, check and return a task's manifest: hash, signature, then every asset's hash
    (without `sealed`, not the data sets sealed to the validator)."""
    try:
        data = store.get(cid, sha256)
    except HashMismatchError as tampered:
        raise BundleError(
            f"refusing task bundle {cid}: its bytes hash to {tampered.actual}, but the task on chain "
            f"says {tampered.expected}"
        ) from tampered
    manifest = verify(data, creator)
    for name, (asset_cid, asset_sha) in assets(manifest, sealed).items():
        try:
            asset = store.get(asset_cid, asset_sha)
        except HashMismatchError as tampered:
            raise BundleError(
                f"asset {name} ({asset_cid}) hashes to {tampered.actual}, "
                f"but the signed bundle says {asset_sha}"
            ) from tampered
        if name == "tokenizer":  # every worker and the referee tokenise with exactly these bytes
            try:
                from decentralml.kinds import text  # only a text task's bundle has one

                text.register_tokenizer(asset_sha, asset)
            except ValueError as bad:
                raise BundleError(f"asset tokenizer ({asset_cid}) is not a tokenizer: {bad}") from bad
    return manifest
