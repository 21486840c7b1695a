"""The worker's Flower ClientApp: one `train` per round, run by the worker's SuperNode.

The SuperNode is started by the worker daemon with a node config naming the chain, IPFS, the
worker's state directory, its data and its behaviour; the account key comes from the
environment (`DML_WORKER_KEY`) and never leaves the machine. For each round it trains with
`Trainer` (update to IPFS, CID and hash on chain) and replies with the update's exact bytes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import numpy as np
import torch
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp
from substrateinterface import Keypair

from decentralml.content import ContentStore
from decentralml.data import Split, partition
from decentralml.manifest import TaskManifest, fetch
from decentralml_bindings import DecentralMl
from worker.trainer import Behaviour, Trainer

REPLY = "dml-update"  # coordinator.federation.server_app reads this record

app = ClientApp()


@cache
def _clients(chain_url: str, ipfs_api: str) -> tuple[DecentralMl, ContentStore]:
    return DecentralMl.connect(chain_url), ContentStore(ipfs_api)


@cache
def _manifest(chain_url: str, ipfs_api: str, task_id: int) -> TaskManifest:
    chain, store = _clients(chain_url, ipfs_api)
    task = chain.task(task_id)
    if task is None:
        raise LookupError(f"no task {task_id} on chain")
    return fetch(store, task.manifest_cid, task.manifest_hash)


def local_data(node_config: Mapping[str, object], manifest: TaskManifest) -> Split:
    """The worker's own data: an .npz file (arrays x and y, no pickles) or its part of the demo data."""
    data_file = node_config.get("data-file")
    if data_file:
        with np.load(str(data_file), allow_pickle=False) as arrays:
            return Split(arrays["x"].astype(np.float32), arrays["y"].astype(np.int64))
    return partition(manifest.data, int(str(node_config["data-part"])))


@app.train()
def train(msg: Message, context: Context) -> Message:
    torch.set_num_threads(1)  # several workers may share a machine (the demo: five on two cores)
    node = dict(context.node_config)
    chain_url, ipfs_api = str(node["chain-url"]), str(node["ipfs-api"])
    config = msg.content.config_records["config"]
    task_id, round_ = int(str(config["task-id"])), int(str(config["round"]))
    chain, store = _clients(chain_url, ipfs_api)
    key = Keypair.create_from_uri(os.environ["DML_WORKER_KEY"])
    if chain.assignment(task_id, key.ss58_address) is None:
        raise PermissionError(f"this worker is not assigned to task {task_id}")
    manifest = _manifest(chain_url, ipfs_api, task_id)
    weights = {name: array.numpy() for name, array in msg.content.array_records["arrays"].items()}
    trainer = Trainer(
        chain,
        store,
        key,
        local_data(node, manifest),
        Path(str(node["state-dir"])),
        Behaviour(str(node.get("behaviour", "honest"))),
    )
    update = trainer.train_round(task_id, round_, manifest, weights)
    reply = ConfigRecord(
        {"update": update.data, "worker": trainer.address, "num-examples": update.examples, "cid": update.cid}
    )
    return Message(RecordDict({REPLY: reply}), reply_to=msg)
