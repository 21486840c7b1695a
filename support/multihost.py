"""Steps of the multi-host test that run on host A itself (its Kubo API answers on A's loopback
only): `python -m support.multihost publish ...` publishes the digits task as a creator would,
with the SuperLink's CA from the coordinator's `GET /federation` in the signed manifest, and
prints the task id as JSON. With `--member URI` (repeatable) the task is judged by a committee:
Ferdie (whose SuperLink carries the rounds) and each member, a majority of them to agree, updates
sealed to all of them."""

from __future__ import annotations

import argparse
import json

import httpx
from substrateinterface import Keypair

from coordinator.federation.tasks import initial_manifest
from decentralml.content import ContentStore
from decentralml.data import DataSpec
from decentralml.manifest import FederationSpec
from decentralml.models import ModelSpec
from decentralml.training import TrainSpec
from decentralml_bindings import DecentralMl
from decentralml_bindings.dev import FERDIE
from support import factories


def publish(
    chain_url: str, ipfs_api: str, coordinator: str, rounds: int, workers: int, members: list[str]
) -> int:
    chain, store = DecentralMl.connect(chain_url), ContentStore(ipfs_api)
    federation = FederationSpec.of_coordinator(httpx.get(f"{coordinator}/federation", timeout=10).json())
    if federation is None:
        raise RuntimeError("the coordinator's SuperLink has no TLS: the multi-host test needs it")
    manifest = initial_manifest(
        store,
        "multihost-digits",
        ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[64]),
        training=TrainSpec(epochs=3, learning_rate=0.05),
        data=DataSpec(parts=workers, alpha=1.0),
        min_workers=workers,
        federation=federation,
    )
    committee = [FERDIE, *(Keypair.create_from_uri(uri) for uri in members)]
    task = factories.publish(chain, store, manifest, rounds=rounds, workers=workers, committee=committee)
    return task.task_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    step = commands.add_parser("publish")
    step.add_argument("--chain", required=True)
    step.add_argument("--ipfs", required=True)
    step.add_argument("--coordinator", required=True)
    step.add_argument("--rounds", type=int, default=3)
    step.add_argument("--workers", type=int, default=3)
    step.add_argument("--member", action="append", default=[], help="a committee member's key URI")
    args = parser.parse_args()
    found = publish(args.chain, args.ipfs, args.coordinator, args.rounds, args.workers, args.member)
    print(json.dumps({"task_id": found}))


if __name__ == "__main__":
    main()
