"""The worker's Flower ClientApp: hands each round's global model to the worker daemon's trainer:
the model whole (the `arrays` record), or the 1-bit delta from the model the daemon holds
(`model-delta` in the config record, `decentralml.downlink`).

The worker daemon runs it in its own process (`worker.executor`, its SuperNode in Flower's
`process` isolation), and a SuperNode in Flower's default isolation starts it in a fresh process per
message; either way it stays light (no PyTorch, no chain client, no key). The daemon's trainer
(`worker.service`) trains, puts the update in IPFS, sends its hash on chain and answers with the
update's exact bytes, which this replies with.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import httpx
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp

from decentralml import codec

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    return reply(msg, str(context.node_config["trainer-url"]), os.environ["DML_TRAINER_TOKEN"])


def reply(msg: Message, trainer_url: str, token: str) -> Message:
    """The reply to a round's train message: the update the trainer at `trainer_url` made."""
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
        headers={"X-DML-Token": token},
        timeout=3600,
    )
    if response.status_code != 200:
        raise RuntimeError(f"the worker's trainer answered {response.status_code}: {response.text[:500]}")
    record = ConfigRecord(
        {
            "update": response.content,
            "worker": response.headers["X-DML-Worker"],
            "num-examples": int(response.headers["X-DML-Examples"]),
            "cid": response.headers["X-DML-Cid"],
        }
    )
    if "X-DML-Epsilon" in response.headers:  # privacy spent so far, on a task with DP
        record["epsilon"] = float(response.headers["X-DML-Epsilon"])
    return Message(RecordDict({codec.FLOWER_REPLY: record}), reply_to=msg)


def answering(trainer_url: str, token: str) -> Callable[[Message, Context], Message]:
    """This ClientApp as a function of a message and its context, for the daemon's executor: a
    train message is answered as `train` answers it; any other kind raises (Flower's ClientApp
    refuses a message kind it has no function for)."""

    def answer(msg: Message, context: Context) -> Message:
        if msg.metadata.message_type != MessageType.TRAIN:
            raise ValueError(f"this ClientApp answers train messages only, not {msg.metadata.message_type!r}")
        return reply(msg, trainer_url, token)

    return answer
