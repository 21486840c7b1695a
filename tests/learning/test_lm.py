"""The micro-LLM core: the transformer's sizes and masking, tokenizers and what they refuse, corpora
and what they refuse, reproducible training that really learns, and seeded generation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from decentralml import codec
from decentralml.lm.corpus import (
    CorpusError,
    module_shares,
    read_corpus,
    split_by_module,
    split_iid,
    stdlib_corpus,
    windows,
)
from decentralml.lm.generate import generate
from decentralml.lm.tokenizer import (
    END_OF_TEXT,
    BpeTokenizer,
    ByteTokenizer,
    TextTokenizer,
    byte_tokenizer,
    encode_documents,
    train_tokenizer,
)
from decentralml.lm.training import LmTrainSpec, evaluate_lm, learning_rate, train_lm, train_lm_data_parallel
from decentralml.lm.transformer import MICRO_SPEC, TinyGpt, TransformerSpec, build_transformer
from decentralml.models import load_weights, weights_of

TINY = TransformerSpec(vocab_size=257, context=32, layers=2, heads=2, width=32)
REPETITIVE = "the quick brown fox jumps over the lazy dog. " * 40
TEXTS = {
    "ascii": "Hello, world! 123 <tag> {braces} ~`",
    "unicode": "déjà vu — 東京 ✓ 😀 ÿ",
    "whitespace": "  two spaces\n\ttab\r\nwindows\n\n\n   ",
    "empty": "",
}


@pytest.fixture(scope="module")
def python_source() -> str:
    return stdlib_corpus(["json"])["json"]


@pytest.fixture(scope="module")
def bpe(python_source: str) -> BpeTokenizer:
    return train_tokenizer([python_source, TEXTS["unicode"]], vocab_size=400)


@pytest.fixture(scope="module")
def repetitive_windows() -> np.ndarray[Any, np.dtype[np.int64]]:
    return windows(encode_documents(byte_tokenizer(), [REPETITIVE]), TINY.context)


# The transformer.


@pytest.mark.parametrize(
    "spec",
    [
        TINY,
        MICRO_SPEC,
        TransformerSpec(vocab_size=300, context=16, layers=3, heads=4, width=64, tie_embeddings=False),
        TransformerSpec(vocab_size=2, context=8, layers=1, heads=1, width=8, dropout=0.1),
    ],
)
def test_the_parameter_count_formula_matches_the_built_model(spec: TransformerSpec) -> None:
    model = build_transformer(spec)
    state = model.state_dict()

    assert spec.parameters_count() == sum(p.numel() for p in model.parameters())
    assert spec.parameters_count() == sum(t.numel() for t in state.values()), "each tensor once"
    assert ("head.weight" in state) is not spec.tie_embeddings


def test_the_default_micro_config_has_about_two_million_parameters() -> None:
    assert (MICRO_SPEC.vocab_size, MICRO_SPEC.context, MICRO_SPEC.layers, MICRO_SPEC.width) == (
        512,
        128,
        4,
        192,
    )
    assert MICRO_SPEC.parameters_count() == 1_902_720


def test_the_spec_refuses_heads_that_do_not_divide_the_width_and_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="not a multiple of heads"):
        TransformerSpec(vocab_size=257, width=30, heads=4)
    with pytest.raises(ValidationError):
        TransformerSpec(vocab_size=257, bias=True)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        TransformerSpec(vocab_size=1)


def test_building_is_deterministic_per_seed() -> None:
    first, again, other = build_transformer(TINY, 7), build_transformer(TINY, 7), build_transformer(TINY, 8)

    assert all(
        torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True)
    )
    assert not torch.equal(first.state_dict()["tok.weight"], other.state_dict()["tok.weight"])


def test_the_weights_survive_the_codec() -> None:
    model, copy = build_transformer(TINY, 1), build_transformer(TINY, 2)
    tokens = torch.randint(0, TINY.vocab_size, (2, TINY.context), generator=torch.Generator().manual_seed(0))

    load_weights(copy, codec.decode(codec.encode(weights_of(model))))

    assert torch.equal(model.eval()(tokens), copy.eval()(tokens))


def test_attention_is_causal() -> None:
    model = build_transformer(TINY, 3).eval()
    tokens = torch.randint(0, TINY.vocab_size, (2, TINY.context), generator=torch.Generator().manual_seed(1))
    changed = tokens.clone()
    changed[:, 20] = (changed[:, 20] + 1) % TINY.vocab_size

    with torch.no_grad():
        before, after = model(tokens), model(changed)

    assert before.shape == (2, TINY.context, TINY.vocab_size)
    torch.testing.assert_close(before[:, :20], after[:, :20], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, 20:], after[:, 20:], atol=1e-4), "later positions see the change"


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (torch.zeros((1, TINY.context + 1), dtype=torch.int64), "reads 1 to 32"),
        (torch.zeros((1, 0), dtype=torch.int64), "reads 1 to 32"),
        (torch.full((1, 4), TINY.vocab_size), "token ids must be in"),
        (torch.full((1, 4), -1), "token ids must be in"),
        (torch.zeros((1, 4)), "integer tensor"),
        (torch.zeros(4, dtype=torch.int64), "integer tensor"),
    ],
)
def test_the_model_refuses_what_it_cannot_read(tokens: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_transformer(TINY)(tokens)


# Tokenizers.


@pytest.mark.parametrize("kind", ["bpe", "bytes"])
@pytest.mark.parametrize("name", [*TEXTS, "python", "end of text"])
def test_encoding_then_decoding_gives_the_text_back(
    kind: str, name: str, bpe: BpeTokenizer, python_source: str
) -> None:
    tokenizer: TextTokenizer = bpe if kind == "bpe" else byte_tokenizer()
    text = {**TEXTS, "python": python_source[:5000], "end of text": f"one{END_OF_TEXT}two"}[name]

    ids = tokenizer.encode(text)

    assert all(0 <= i < tokenizer.vocab_size for i in ids)
    assert tokenizer.decode(ids) == text


def test_bpe_compresses_python_and_keeps_end_of_text_at_zero(bpe: BpeTokenizer, python_source: str) -> None:
    sample = python_source[:5000]

    assert bpe.end_of_text == 0
    assert bpe.encode(END_OF_TEXT) == [0]
    assert 257 < bpe.vocab_size <= 400
    assert len(bpe.encode(sample)) < 0.6 * len(sample.encode())


def test_bpe_training_is_deterministic(python_source: str) -> None:
    first = train_tokenizer([python_source], vocab_size=350)
    again = train_tokenizer([python_source], vocab_size=350)

    assert first.inner.to_str() == again.inner.to_str()
    assert first.to_bytes() == again.to_bytes()
    assert train_tokenizer([python_source], vocab_size=330).to_bytes() != first.to_bytes()


def test_train_tokenizer_refuses_a_vocab_too_small_for_the_bytes() -> None:
    with pytest.raises(ValueError, match="257"):
        train_tokenizer(["abc"], vocab_size=256)


@pytest.mark.parametrize("kind", ["bpe", "bytes"])
def test_both_kinds_round_trip_through_bytes(kind: str, bpe: BpeTokenizer, python_source: str) -> None:
    tokenizer: TextTokenizer = bpe if kind == "bpe" else byte_tokenizer()

    read = TextTokenizer.from_bytes(tokenizer.to_bytes())

    assert type(read) is type(tokenizer)
    assert read.to_bytes() == tokenizer.to_bytes()
    assert (read.vocab_size, read.end_of_text) == (tokenizer.vocab_size, tokenizer.end_of_text)
    assert read.encode(python_source[:2000]) == tokenizer.encode(python_source[:2000])


def test_from_bytes_reads_the_libraries_own_pretty_json(bpe: BpeTokenizer) -> None:
    read = TextTokenizer.from_bytes(bpe.inner.to_str(pretty=True).encode())

    assert read.to_bytes() == bpe.to_bytes()


def _edited(bpe: BpeTokenizer, edit: str) -> bytes:
    """The BPE tokenizer's JSON with one hostile change."""
    description = json.loads(bpe.to_bytes())
    vocab = description["model"]["vocab"]
    if edit == "a hole in the ids":
        vocab[next(iter(vocab))] = 999_999
    elif edit == "no end of text":
        description["added_tokens"][0]["content"] = "<|other|>"
        vocab["<|other|>"] = vocab.pop(END_OF_TEXT)
    elif edit == "a normalizer":
        description["normalizer"] = {"type": "Lowercase"}
    elif edit == "a prefix space":
        description["pre_tokenizer"]["add_prefix_space"] = True
    elif edit == "another model":
        description["model"]["type"] = "WordPiece"
    elif edit == "a broken merge list":
        description["model"]["merges"] = "not a list"
    return json.dumps(description).encode()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("a hole in the ids", "not exactly 0"),
        ("no end of text", "no <|endoftext|>"),
        ("a normalizer", "normalizer"),
        ("a prefix space", "prefix space"),
        ("another model", "not a BPE tokenizer"),
        ("a broken merge list", "not a readable BPE tokenizer"),
    ],
)
def test_from_bytes_refuses_hostile_tokenizer_json(bpe: BpeTokenizer, edit: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextTokenizer.from_bytes(_edited(bpe, edit))


@pytest.mark.parametrize(
    "name",
    ["garbage", "truncated", "empty", "a list", "an empty object", "another kind", "bytes plus", "weights"],
)
def test_from_bytes_refuses_what_is_not_a_tokenizer(bpe: BpeTokenizer, name: str) -> None:
    data = {
        "garbage": b"\x89PNG\r\n\x1a\n\xff\xfe\x00",
        "truncated": bpe.to_bytes()[: len(bpe.to_bytes()) // 2],
        "empty": b"",
        "a list": b"[1, 2, 3]",
        "an empty object": b"{}",
        "another kind": b'{"kind": "words"}',
        "bytes plus": b'{"kind": "bytes", "vocab": 9}',
        "weights": codec.encode({"w": np.zeros(3, dtype=np.float32)}),
    }[name]

    with pytest.raises(ValueError, match="not a"):
        TextTokenizer.from_bytes(data)


def test_from_bytes_refuses_a_vocab_over_a_million() -> None:
    vocab = ",".join(f'"t{i}":{i}' for i in range(1_000_001))
    data = f'{{"model":{{"type":"BPE","vocab":{{{vocab}}},"merges":[]}},"added_tokens":[]}}'.encode()

    with pytest.raises(ValueError, match="1000001 tokens: at most 1000000"):
        TextTokenizer.from_bytes(data)


def test_decoding_refuses_ids_out_of_range_and_replaces_broken_utf8(bpe: BpeTokenizer) -> None:
    for tokenizer in (bpe, byte_tokenizer()):
        with pytest.raises(ValueError, match="token ids must be in"):
            tokenizer.decode([tokenizer.vocab_size])
        with pytest.raises(ValueError, match="token ids must be in"):
            tokenizer.decode([-1])
    assert byte_tokenizer().decode([0xFF, ByteTokenizer.END, 0x41]) == f"\ufffd{END_OF_TEXT}A"


def test_encoding_refuses_a_lone_surrogate(bpe: BpeTokenizer) -> None:
    for tokenizer in (bpe, byte_tokenizer()):
        with pytest.raises(ValueError):  # noqa: PT011 - each kind words it its own way
            tokenizer.encode("bad \ud800 text")


# Corpora.


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def test_a_folder_is_read_recursively_in_sorted_order_by_suffix(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {"b.py": b"print(2)\n", "a/z.md": b"# z\n", "a/y.TXT": b"y", "c.bin": b"\x00\xff", "d.py": b""},
    )

    assert read_corpus(tmp_path, "folder") == ["y", "# z\n", "print(2)\n"]
    assert read_corpus(tmp_path, "folder", suffixes=[".md"]) == ["# z\n"]


def test_a_dataset_card_beside_the_text_is_not_read_as_text(tmp_path: Path) -> None:
    # The worker's catalogue finds a share's card as DATASET.md in its folder or NAME.DATASET.md.
    _write(tmp_path, {"a.py": b"x = 1\n", "DATASET.md": b"# card\n", "b.dataset.md": b"# b\n", "c.md": b"c"})

    assert read_corpus(tmp_path, "folder") == ["x = 1\n", "c"]


def test_a_text_file_and_a_jsonl_file_are_read(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {"one.txt": "déjà vu\n".encode(), "docs.jsonl": b'{"text": "a"}\n\n  \n{"body": "b", "text": "c"}'},
    )

    assert read_corpus(tmp_path / "one.txt", "txt") == ["déjà vu\n"]
    assert read_corpus(tmp_path / "docs.jsonl", "jsonl") == ["a", "c"]


@pytest.mark.parametrize(
    ("files", "target", "fmt", "message"),
    [
        ({}, "missing", "folder", "missing: no such folder"),
        ({}, "missing.txt", "txt", "missing.txt: no such file"),
        ({"x.txt": b"x"}, "x.txt", "folder", "x.txt: not a folder"),
        ({"d/x.txt": b"x"}, "d", "txt", "d: not a file"),
        ({"d/a.py": b"ok\n", "d/b.py": b"line one\ncaf\xe9\n"}, "d", "folder", r"b\.py:2: not UTF-8"),
        (
            {"x.jsonl": b'{"text": "a"}\n{"title": "b"}\n'},
            "x.jsonl",
            "jsonl",
            r"x\.jsonl:2: no string field 'text'",
        ),
        ({"x.jsonl": b'{"text": 5}\n'}, "x.jsonl", "jsonl", r"x\.jsonl:1: no string field"),
        (
            {"x.jsonl": b'{"text": "a"}\n["text"]\n'},
            "x.jsonl",
            "jsonl",
            r"x\.jsonl:2: a list, not a JSON object",
        ),
        ({"x.jsonl": b'{"text": "a"}\n\n{"text": \n'}, "x.jsonl", "jsonl", r"x\.jsonl:3: not JSON"),
        ({"x.jsonl": b'{"text": "\xff"}\n'}, "x.jsonl", "jsonl", r"x\.jsonl:1: not UTF-8"),
        ({"x.txt": b"a" * 101}, "x.txt", "txt", "larger than max_bytes=100"),
        ({"x.jsonl": b'{"text": "aaaa"}\n' * 10}, "x.jsonl", "jsonl", r"x\.jsonl:6: the corpus is larger"),
        # The corpus is over the limit in a.txt: b.txt, which is not UTF-8, is never read.
        ({"d/a.txt": b"a" * 60, "d/b.txt": b"\xff" * 60}, "d", "folder", r"b\.txt: the corpus is larger"),
        ({"d/a.txt": b"a" * 101, "d/b.txt": b"\xff"}, "d", "folder", r"a\.txt: the corpus is larger"),
        ({"d/a.txt": b"", "d/b.bin": b"text"}, "d", "folder", "the corpus is empty"),
        ({"x.jsonl": b'\n{"text": ""}\n  \n'}, "x.jsonl", "jsonl", "the corpus is empty"),
        ({"x.txt": b""}, "x.txt", "txt", "the corpus is empty"),
    ],
)
def test_read_corpus_refuses_bad_corpora(
    tmp_path: Path, files: dict[str, bytes], target: str, fmt: Any, message: str
) -> None:
    _write(tmp_path, files)

    with pytest.raises(CorpusError, match=message):
        read_corpus(tmp_path / target, fmt, max_bytes=100)


def test_the_standard_library_is_a_corpus_without_its_tests() -> None:
    found = stdlib_corpus(["json", "email", "collections", "unittest", "email.mime", "textwrap"])

    assert list(found) == ["json", "email", "collections", "unittest", "email.mime", "textwrap"]
    assert all("def " in source for source in found.values())
    assert "class JSONDecoder" in found["json"]
    assert "class MIMEText" in found["email"]
    assert "class Test_TestCase" not in found["unittest"], "unittest/test is skipped"
    everything = stdlib_corpus()
    assert {"json", "asyncio", "http", "os"} <= set(everything)
    assert "test" not in everything
    assert everything["json"] == found["json"]


@pytest.mark.parametrize("name", ["no_such_module_here", "../os", "json/decoder", "test", "", "os.path.x"])
def test_the_standard_library_corpus_refuses_names_that_are_not_modules(name: str) -> None:
    with pytest.raises(CorpusError, match="module"):
        stdlib_corpus([name])


def test_split_by_module_deals_whole_modules_once_and_balanced() -> None:
    sources = stdlib_corpus(["json", "email", "http", "collections", "textwrap", "shlex", "csv", "abc"])

    split = split_by_module(sources, 3, seed=5)
    names = module_shares(sources, 3, seed=5)

    assert len(split) == 3
    assert all(split)
    assert sorted(text for part in split for text in part) == sorted(sources.values()), "disjoint, covering"
    loads = [sum(len(text.encode()) for text in part) for part in split]
    assert max(loads) - min(loads) <= max(len(text.encode()) for text in sources.values())
    assert split_by_module(sources, 3, seed=5) == split
    assert [[sources[n] for n in part] for part in names] == split, "the same modules, by name"
    with pytest.raises(CorpusError, match=r"need 1 \.\. 8"):
        split_by_module(sources, 9, seed=5)


def test_split_iid_deals_every_chunk_once() -> None:
    texts = ["a" * 5000, "b" * 100, "c" * 4097]

    split = split_iid(texts, 3, seed=1, chunk=1024)

    pieces = [piece for part in split for piece in part]
    assert sorted(pieces) == sorted(t[i : i + 1024] for t in texts for i in range(0, len(t), 1024))
    assert [len(part) for part in split] == [4, 4, 3]
    assert split_iid(texts, 3, seed=1, chunk=1024) == split
    assert split_iid(texts, 3, seed=2, chunk=1024) != split
    with pytest.raises(CorpusError, match="cannot fill"):
        split_iid(["abc"], 2, seed=0)


def test_windows_cut_the_stream_without_overlap() -> None:
    cut = windows(list(range(20)), context=4)

    assert cut.dtype == np.int64
    assert cut.shape == (4, 5)
    assert cut[1].tolist() == [5, 6, 7, 8, 9]
    with pytest.raises(CorpusError, match="shorter than one window"):
        windows(list(range(4)), context=4)
    with pytest.raises(CorpusError, match="negative"):
        windows([0, -1, 2], context=2)


# Training.


def _small_spec(**overrides: Any) -> LmTrainSpec:
    settings: dict[str, Any] = {
        "tokens_per_round": 4_000,
        "batch_size": 8,
        "learning_rate": 1e-2,
        "warmup_steps": 2,
        "seed": 3,
    }
    return LmTrainSpec(**{**settings, **overrides})


def _same(a: TinyGpt, b: TinyGpt) -> bool:
    return all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_training_is_bitwise_reproducible(repetitive_windows: np.ndarray[Any, np.dtype[np.int64]]) -> None:
    spec = _small_spec(tokens_per_round=1_000)
    dropping = TINY.model_copy(update={"dropout": 0.1})
    first, again, later = (build_transformer(dropping, 1) for _ in range(3))

    torch.manual_seed(42)
    results = train_lm(first, repetitive_windows, spec, round_=2)
    after_training = torch.rand(3)
    train_lm(again, repetitive_windows, spec, round_=2)
    train_lm(later, repetitive_windows, spec, round_=3)

    assert _same(first, again)
    assert not _same(first, later), "another round draws other batches"
    torch.manual_seed(42)
    assert torch.equal(after_training, torch.rand(3)), "training leaves the global generator alone"
    assert results["steps"] == math.ceil(1_000 / (8 * 32)) == 4
    assert results["tokens"] == 4 * 8 * 32
    assert results["seconds"] > 0
    assert math.isfinite(results["loss"])


def test_training_lowers_the_loss(repetitive_windows: np.ndarray[Any, np.dtype[np.int64]]) -> None:
    model = build_transformer(TINY, 1)
    before = evaluate_lm(model, repetitive_windows)

    train_lm(model, repetitive_windows, _small_spec())
    after = evaluate_lm(model, repetitive_windows)

    assert before["loss"] == pytest.approx(math.log(257), abs=0.2), "an untrained model is near uniform"
    assert after["loss"] < 0.8 * before["loss"]
    assert after["perplexity"] == pytest.approx(math.exp(after["loss"]))


def test_data_parallel_with_one_share_is_a_workers_own_training(
    repetitive_windows: np.ndarray[Any, np.dtype[np.int64]],
) -> None:
    spec = _small_spec(tokens_per_round=1_000)
    dropping = TINY.model_copy(update={"dropout": 0.1})
    alone, parallel = build_transformer(dropping, 1), build_transformer(dropping, 1)

    train_lm(alone, repetitive_windows, spec, round_=2)
    found = train_lm_data_parallel(parallel, [repetitive_windows], spec, round_=2)

    assert _same(alone, parallel), "one share: the same batches, dropout and steps as train_lm"
    assert found["steps"] == 4


def test_data_parallel_averages_k_shares_at_a_workers_steps(
    repetitive_windows: np.ndarray[Any, np.dtype[np.int64]],
) -> None:
    spec = _small_spec(tokens_per_round=1_000)
    shares = [
        repetitive_windows[: len(repetitive_windows) // 2],
        repetitive_windows[len(repetitive_windows) // 2 :],
    ]
    model = build_transformer(TINY, 1)
    before = evaluate_lm(model, repetitive_windows)

    found = train_lm_data_parallel(model, shares, spec, round_=1)

    assert found["steps"] == 4  # a worker's steps
    assert found["tokens"] == 2 * 4 * 8 * 32  # K times a worker's tokens
    assert evaluate_lm(model, repetitive_windows)["loss"] < before["loss"]
    # Share 1 draws as worker 1 would (seed + 1): swapping the shares changes the run.
    swapped = build_transformer(TINY, 1)
    train_lm_data_parallel(swapped, shares[::-1], spec, round_=1)
    assert not _same(model, swapped)
    with pytest.raises(ValueError, match="at least one share"):
        train_lm_data_parallel(model, [], spec)
    with pytest.raises(ValueError, match="same length"):
        train_lm_data_parallel(model, [repetitive_windows, repetitive_windows[:, :10]], spec)


def test_evaluation_counts_only_the_windows_asked_for(
    repetitive_windows: np.ndarray[Any, np.dtype[np.int64]],
) -> None:
    model = build_transformer(TINY, 1)

    limited = evaluate_lm(model, repetitive_windows, max_windows=2)

    assert limited == pytest.approx(evaluate_lm(model, repetitive_windows[:2], batch_size=1), rel=1e-6)
    assert limited != pytest.approx(evaluate_lm(model, repetitive_windows), rel=1e-6)
    with pytest.raises(ValueError, match="at least 1"):
        evaluate_lm(model, repetitive_windows, max_windows=0)


@pytest.mark.parametrize(
    ("windows_", "message"),
    [
        (np.zeros((2, 34), dtype=np.int64), "the model reads 32"),
        (np.full((2, 5), 257, dtype=np.int64), "token ids must be in"),
        (np.full((2, 5), -3, dtype=np.int64), "token ids must be in"),
        (np.zeros((2, 5), dtype=np.float32), "integer"),
        (np.zeros((0, 5), dtype=np.int64), "windows must be"),
        (np.zeros((2, 1), dtype=np.int64), "windows must be"),
        (np.zeros(5, dtype=np.int64), "windows must be"),
    ],
)
def test_training_and_evaluation_refuse_windows_the_model_cannot_take(
    windows_: np.ndarray[Any, Any], message: str
) -> None:
    model = build_transformer(TINY)
    with pytest.raises(ValueError, match=message):
        train_lm(model, windows_, _small_spec())
    with pytest.raises(ValueError, match=message):
        evaluate_lm(model, windows_)


def test_the_train_spec_refuses_nonsense() -> None:
    for bad in ({"grad_clip": 0}, {"tokens_per_round": 999}, {"schedule": "step"}, {"momentum": 0.9}):
        with pytest.raises(ValidationError):
            _small_spec(**bad)


def test_the_schedules_warm_up_then_hold_or_decay_to_a_tenth() -> None:
    for schedule in ("constant", "cosine", "linear"):
        spec = _small_spec(schedule=schedule, warmup_steps=4, learning_rate=1.0)
        rates = [learning_rate(spec, step, 20) for step in range(20)]
        assert rates[:5] == sorted(rates[:5])
        assert rates[3] < rates[4] == 1.0
        assert rates[4:] == sorted(rates[4:], reverse=True)
        assert rates[-1] == pytest.approx(1.0 if schedule == "constant" else 0.1)
    cosine, linear = (
        _small_spec(schedule=s, warmup_steps=0, learning_rate=1.0) for s in ("cosine", "linear")
    )
    assert learning_rate(cosine, 5, 11) == pytest.approx(0.55) == learning_rate(linear, 5, 11)
    assert learning_rate(cosine, 2, 11) > learning_rate(linear, 2, 11)


# Generation.


def test_generation_is_deterministic_per_seed_and_varies_across_seeds(bpe: BpeTokenizer) -> None:
    model = build_transformer(TINY.model_copy(update={"vocab_size": bpe.vocab_size}), 4)

    first = generate(model, bpe, "def main():", 20, seed=1)

    assert first == generate(model, bpe, "def main():", 20, seed=1)
    assert first != generate(model, bpe, "def main():", 20, seed=2)
    assert first != generate(model, bpe, "class A:", 20, seed=1)


def test_temperature_zero_is_greedy() -> None:
    model = build_transformer(TINY, 5).eval()
    tokenizer = byte_tokenizer()
    prompt = "x" * 50  # longer than the context: the window is cropped
    stream = tokenizer.encode(prompt)
    with torch.no_grad():
        for _ in range(8):
            logits = model(torch.tensor([stream[-TINY.context :]]))[0, -1]
            stream.append(int(torch.argmax(logits)))

    greedy = generate(model, tokenizer, prompt, 8, temperature=0, seed=1)

    assert greedy == tokenizer.decode(stream[len(prompt) :])
    assert greedy == generate(model, tokenizer, prompt, 8, temperature=0, top_k=None, seed=2)


def test_a_trained_model_continues_its_training_text(
    repetitive_windows: np.ndarray[Any, np.dtype[np.int64]],
) -> None:
    model, tokenizer = build_transformer(TINY, 1), byte_tokenizer()
    train_lm(model, repetitive_windows, _small_spec(tokens_per_round=16_000))

    continued = [
        generate(model, tokenizer, tokenizer.decode(window[:16].tolist()), 17, temperature=0)
        == tokenizer.decode(window[16:].tolist())
        for window in repetitive_windows[:12]
    ]

    assert sum(continued) >= 6, f"{sum(continued)} of 12 windows continued exactly"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tokens": 0}, "tokens 0"),
        ({"tokens": 100_001}, "tokens 100001"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"seed": -1}, "seed"),
    ],
)
def test_generation_refuses_bad_arguments(arguments: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"prompt": "hi", "tokens": 4, **arguments}
    with pytest.raises(ValueError, match=message):
        generate(build_transformer(TINY), byte_tokenizer(), **settings)


def test_generation_refuses_a_tokenizer_larger_than_the_model(bpe: BpeTokenizer) -> None:
    with pytest.raises(ValueError, match="for a model of 257"):
        generate(build_transformer(TINY), bpe, "hi", 4)
