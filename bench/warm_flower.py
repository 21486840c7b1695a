"""Plain Flower with warm clients, a baseline of bench/rounds.py.

Flower's deployment engine starts a fresh ClientApp process for every message, so a ClientApp
that imports PyTorch pays those imports each round. DecentralML's ClientApp stays light and hands
the round to the worker daemon, which stays up. This baseline does the same with plain Flower:
the ClientApp here imports no PyTorch and posts the global model to a long-lived trainer
(`serve`, one per client, on loopback), which trains exactly as `bench.plain_flower`'s client
does (same model, data share and training) and answers with the trained weights. No chain, no
IPFS, no validation: the difference to DecentralML is what those cost.

    python -m bench.warm_flower PORT PART PARTS     (a trainer; bench/rounds.py starts them)
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from decentralml import codec

client = ClientApp()


@client.train()
def local_train(msg: Message, context: Context) -> Message:
    weights = {k: v.numpy() for k, v in msg.content.array_records["arrays"].items()}
    response = httpx.post(
        str(context.node_config["trainer-url"]) + "/train", content=codec.encode(weights), timeout=3600
    )
    response.raise_for_status()
    trained = codec.decode(response.content)
    arrays = ArrayRecord({k: Array(v) for k, v in trained.items()})
    metrics = MetricRecord({"num-examples": int(response.headers["X-Examples"])})
    return Message(RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)


def serve(port: int, part: int, parts: int) -> None:
    """Train `bench.plain_flower`'s model on data share `part` of `parts` for each POST /train."""
    import torch

    from bench.plain_flower import MODEL, TRAINING
    from decentralml.data import DataSpec, partition
    from decentralml.models import build, load_weights, weights_of
    from decentralml.training import train

    torch.set_num_threads(1)
    data = partition(DataSpec(parts=parts, alpha=1.0), part)

    class Trainer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            model = build(MODEL)
            load_weights(model, codec.decode(body))
            train(model, data, TRAINING)
            answer = codec.encode(weights_of(model))
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.send_header("X-Examples", str(len(data)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    HTTPServer(("127.0.0.1", port), Trainer).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
