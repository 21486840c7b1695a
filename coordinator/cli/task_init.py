"""`dml task init`'s options. Building the folder (`coordinator.cli.task_folder`) needs torch and
the data readers: it is imported only when the command runs, so `dml --help` and every other
command start without them."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_task_init(args: argparse.Namespace) -> None:
    from coordinator.cli.task_folder import init_task_folder

    init_task_folder(args)


def register(task: Any) -> None:
    """Add `init` to the `task` command group."""
    init = task.add_parser(
        "init", help="a ready task folder from your own data (schema, weights, sealed validation set)"
    )
    init.add_argument("folder", help="the task folder to write")
    init.add_argument("--kind", choices=["tabular", "image", "text"], required=True)
    init.add_argument(
        "--data",
        required=True,
        help="a training file (CSV, Parquet, .npz), an image folder, or text (folder, .txt, .jsonl)",
    )
    init.add_argument("--validation", required=True, help="your validation set, in the same format")
    init.add_argument("--test", help="a test set for reporting rounds (default: the validation set)")
    init.add_argument(
        "--validator",
        action="append",
        required=True,
        help="a judging account (SS58); repeat it for a committee (the first carries the rounds)",
    )
    init.add_argument(
        "--sealing-key",
        action="append",
        help="a validator's sealing key, one per --validator in order (default: signed statements)",
    )
    init.add_argument(
        "--sealing-statement",
        action="append",
        help="a JSON file with a validator's signed sealing key (as GET /federation publishes it); "
        "repeat it for a committee; without it, the first validator's is asked of the coordinator",
    )
    init.add_argument(
        "--epsilon",
        type=float,
        help="differential privacy: each worker's total budget ε over the task (default: no DP)",
    )
    init.add_argument("--delta", type=float, default=1e-5, help="with --epsilon: the δ of (ε, δ)-DP")
    init.add_argument(
        "--clip-norm", type=float, default=1.0, help="with --epsilon: per-example (LM: per-update) L2 clip"
    )
    init.add_argument("--label", help="tabular: the column to predict")
    init.add_argument("--regression", action="store_true", help="tabular: the label is a number")
    init.add_argument("--height", type=int, help="image: resize to this height (default: the first image's)")
    init.add_argument("--width", type=int, help="image: resize to this width")
    init.add_argument("--channels", type=int, choices=[1, 3], help="image: 1 grey or 3 RGB")
    init.add_argument("--tokenizer", choices=["bpe", "bytes"], default="bpe", help="text: default bpe")
    init.add_argument("--vocab-size", type=int, default=4096, help="text: the BPE tokenizer's ids")
    init.add_argument("--context", type=int, default=128, help="text: tokens per training window")
    init.add_argument("--field", default="text", help="text, jsonl: the field holding the text")
    init.add_argument(
        "--judge-windows", type=int, default=2048, help="text: validation windows the referee judges on"
    )
    init.add_argument("--layers", type=int, default=4, help="text: transformer blocks")
    init.add_argument("--heads", type=int, default=4, help="text: attention heads")
    init.add_argument("--model-width", type=int, default=256, help="text: the transformer's width")
    init.add_argument(
        "--architecture",
        choices=["mlp", "cnn", "transformer"],
        help="default mlp (the small cnn learns slowly on small images); text: transformer",
    )
    init.add_argument("--hidden", type=int, action="append", help="mlp layer width (repeatable)")
    init.add_argument("--name", help="the task's name (default: the folder's)")
    init.add_argument("--dataset", help="the dataset name workers map (default: the task folder's name)")
    init.add_argument("--epochs", type=int, help="default 5 (text tasks train by --tokens-per-round)")
    init.add_argument("--learning-rate", type=float, help="default 0.05; text: 0.001 (AdamW)")
    init.add_argument("--batch-size", type=int, help="default 32; text: 16 windows")
    init.add_argument("--tokens-per-round", type=int, help="text: tokens per worker per round (65536)")
    init.add_argument(
        "--warmup-steps",
        type=int,
        help="text: steps of linear warmup at the start of each round (default 10, or a quarter of a "
        "round's steps if fewer)",
    )
    init.add_argument(
        "--update-encoding",
        choices=["float32", "float16_delta", "sparse_int8", "sign1"],
        help="how workers send updates (default float32; text: float16_delta); sparse_int8 sends the "
        "largest --update-density of each delta in 8 bits, sign1 the sign of every value and a scale "
        "per 256 (1/28 of float32), both with error feedback on the worker",
    )
    init.add_argument("--update-density", type=float, help="sparse_int8: the share of values sent (0.02)")
    init.add_argument(
        "--model-encoding",
        choices=["float32", "sign1"],
        help="how the global model goes down (default float32); sign1: a 1-bit delta from the last "
        "round's to workers that hold it (1/28 of float32), the rest carried to the next round",
    )
    init.add_argument(
        "--outer-lr",
        type=float,
        help="DiLoCo's outer optimizer: step the round's aggregate at this rate with Nesterov momentum "
        "(default: the plain aggregate)",
    )
    init.add_argument("--outer-momentum", type=float, help="with --outer-lr: the outer momentum (0.9)")
    init.add_argument("--min-workers", type=int, default=2)
    init.add_argument("--release", choices=["council", "none"], default="council")
    init.add_argument("--seed", type=int, default=0, help="initial weights' seed")
    init.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    init.set_defaults(run=cmd_task_init)
