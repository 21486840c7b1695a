"""The worker's Flower ClientApp: hands each round's global model to the worker daemon's trainer:
the model whole (the `arrays` record), or the 1-bit delta from the model the daemon holds
(`model-delta` in the config record, `decentralml.downlink`).

Flower starts this in a fresh process per message; it stays light (no PyTorch, no chain client,
no key). The daemon (`worker.service`) trains, puts the update in IPFS, sends its hash on chain and
answers with the update's exact bytes, which this replies with.
"""

from __future__ import annotations

import os

import httpx
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from decentralml import codec

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    trainer_url = str(context.node_config["trainer-url"])
    config = msg.content.config_records["config"]
    delta = config.get("model-delta")
    if isinstance(delta, bytes):
        body = delta
    else:
        body = codec.encode(
            {name: array.numpy() for name, array in msg.content.array_records["arrays"].items()}
        )
    response = httpx.post(
        f"{trainer_url}/train",
        params={"task": str(config["task-id"]), "round": str(config["round"])},
        content=body,
        headers={"X-DML-Token": os.environ["DML_TRAINER_TOKEN"]},
        timeout=3600,
    )
    if response.status_code != 200:
        raise RuntimeError(f"the worker's trainer answered {response.status_code}: {response.text[:500]}")
    reply = ConfigRecord(
        {
            "update": response.content,
            "worker": response.headers["X-DML-Worker"],
            "num-examples": int(response.headers["X-DML-Examples"]),
            "cid": response.headers["X-DML-Cid"],
        }
    )
    if "X-DML-Epsilon" in response.headers:  # privacy spent so far, on a task with DP
        reply["epsilon"] = float(response.headers["X-DML-Epsilon"])
    return Message(RecordDict({codec.FLOWER_REPLY: reply}), reply_to=msg)
