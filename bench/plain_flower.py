"""The baseline of bench/rounds.py: plain Flower, stock `FedAvg`, the same MLP, data and training
as a DecentralML task, no chain, no IPFS, no validation. Round times go to the run config's
`times` file. With `fast-poll` > 0 the ServerApp polls replies at that interval instead of
Flower's fixed 3 s (DecentralML's transport polls every 0.1 s), to compare like with like."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from decentralml.data import DataSpec, partition
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, train

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[128])
TRAINING = TrainSpec(epochs=5, learning_rate=0.05)

app = ServerApp()
client = ClientApp()


class PolledGrid:
    """`send_and_receive` that polls every `poll` seconds; everything else is the real grid."""

    def __init__(self, grid: Grid, poll: float) -> None:
        self.grid, self.poll = grid, poll

    def __getattr__(self, name: str) -> object:
        return getattr(self.grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        pending = set(self.grid.push_messages(messages))
        replies: list[Message] = []
        deadline = time.monotonic() + (timeout or 3600)
        while pending and time.monotonic() < deadline:
            got = list(self.grid.pull_messages(list(pending)))
            replies += got
            pending -= {m.metadata.reply_to_message_id for m in got}
            if pending:
                time.sleep(self.poll)
        return replies


class TimedFedAvg(FedAvg):
    def __init__(self, times: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.times, self.last = times, time.monotonic()

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        result = super().aggregate_train(server_round, replies)
        now = time.monotonic()
        with self.times.open("a") as f:
            f.write(json.dumps({"round": server_round, "seconds": now - self.last}) + "\n")
        self.last = now
        return result


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
    nodes = int(config["min-nodes"])
    while len(list(grid.get_node_ids())) < nodes:
        time.sleep(0.1)
    poll = float(config["fast-poll"])
    strategy = TimedFedAvg(
        Path(str(config["times"])), fraction_evaluate=0.0, min_train_nodes=nodes, min_available_nodes=nodes
    )
    initial = ArrayRecord({k: Array(np.asarray(v)) for k, v in weights_of(build(MODEL)).items()})
    strategy.last = time.monotonic()
    strategy.start(
        grid=PolledGrid(grid, poll) if poll > 0 else grid,  # type: ignore[arg-type]
        initial_arrays=initial,
        num_rounds=int(config["rounds"]),
    )


@client.train()
def local_train(msg: Message, context: Context) -> Message:
    torch.set_num_threads(1)  # several workers may share a machine (the demo: five on two cores)
    part = int(str(context.node_config["data-part"]))
    parts = int(str(context.node_config["parts"]))
    model = build(MODEL)
    load_weights(model, {k: v.numpy() for k, v in msg.content.array_records["arrays"].items()})
    data = partition(DataSpec(parts=parts, alpha=1.0), part)
    train(model, data, TRAINING)
    arrays = ArrayRecord({k: Array(v) for k, v in weights_of(model).items()})
    metrics = MetricRecord({"num-examples": len(data)})
    return Message(RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)
