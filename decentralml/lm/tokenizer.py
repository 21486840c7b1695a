"""Text to token ids and back, behind one small interface (`TextTokenizer`) with two kinds:

- `BpeTokenizer`: byte-level BPE trained with Hugging Face `tokenizers` (GPT-2's scheme: every
  byte has a token, so any text encodes, and decoding what was encoded gives the text back).
  "<|endoftext|>" is id 0.
- `ByteTokenizer`: the UTF-8 bytes themselves (ids 0..255) and "<|endoftext|>" (id 256), for
  the smallest tasks.

`to_bytes` is a canonical JSON description (the same tokenizer always gives the same bytes, so
its hash names it and it can ship as a bundle asset); `TextTokenizer.from_bytes` reads either kind
back and refuses anything else.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

END_OF_TEXT = "<|endoftext|>"
MAX_VOCAB = 1_000_000
MAX_TOKENIZER_BYTES = 256 << 20
BYTES_DESCRIPTION = {"kind": "bytes"}


class TextTokenizer(ABC):
    """Text <-> token ids in 0 .. vocab_size - 1; `decode(encode(text)) == text` for any text."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """How many ids there are: a model for this tokenizer needs at least this vocab_size."""

    @property
    @abstractmethod
    def end_of_text(self) -> int:
        """The id of "<|endoftext|>", which separates documents."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """The ids of `text`. Raises ValueError for a string that is not valid Unicode (lone surrogates)."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`, "<|endoftext|>" included as written; bytes that do not form valid UTF-8
        (possible in sampled ids) become U+FFFD. Raises ValueError for an id out of range."""

    @abstractmethod
    def to_bytes(self) -> bytes:
        """Canonical JSON: equal tokenizers give equal bytes; `from_bytes` reads them back."""

    @classmethod
    def from_bytes(cls, data: bytes) -> TextTokenizer:
        """The tokenizer `data` describes (a byte-level BPE tokenizer's JSON, or {"kind": "bytes"}).

        Raises ValueError, saying why, for anything else: bytes that are not UTF-8 JSON (garbage,
        truncated), JSON that is not one of these tokenizers, ids that are not 0 .. n - 1, no
        "<|endoftext|>", or more than 1,000,000 tokens."""
        if len(data) > MAX_TOKENIZER_BYTES:
            raise ValueError(f"a tokenizer of {len(data)} bytes: at most {MAX_TOKENIZER_BYTES}")
        try:
            text = bytes(data).decode("utf-8")
            description = json.loads(text)
        except ValueError as bad:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ValueError(f"not a tokenizer (not UTF-8 JSON; truncated?): {bad}") from bad
        if not isinstance(description, dict):
            raise ValueError(f"not a tokenizer: the JSON is a {type(description).__name__}, not an object")
        if "kind" in description:
            if description != BYTES_DESCRIPTION:
                raise ValueError(f'not a tokenizer: the only "kind" is "bytes", not {description!r:.80}')
            return ByteTokenizer()
        _check_bpe_description(description)
        try:
            inner = Tokenizer.from_str(text)
        except Exception as bad:  # tokenizers raises plain Exception on JSON it cannot read
            raise ValueError(f"not a readable BPE tokenizer: {bad}") from bad
        return BpeTokenizer(inner)


def _check_bpe_description(description: dict[str, Any]) -> None:
    """Refuse, before building it, a tokenizer JSON that is not byte-level BPE or is too large."""
    model = description.get("model")
    if not isinstance(model, dict) or model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
        raise ValueError('not a BPE tokenizer: no "model" of type "BPE" with a "vocab"')
    added = description.get("added_tokens") or []
    if not isinstance(added, list):
        raise ValueError('not a BPE tokenizer: "added_tokens" is not a list')
    if len(model["vocab"]) + len(added) > MAX_VOCAB:
        raise ValueError(f"a vocabulary of {len(model['vocab']) + len(added)} tokens: at most {MAX_VOCAB}")
    if description.get("normalizer") is not None:
        raise ValueError("not a byte-level tokenizer: a normalizer would change the text")
    pre, decoder = description.get("pre_tokenizer"), description.get("decoder")
    if (
        not isinstance(pre, dict)
        or pre.get("type") != "ByteLevel"
        or pre.get("add_prefix_space") is not False
    ):
        raise ValueError("not a byte-level tokenizer: needs a ByteLevel pre-tokenizer without a prefix space")
    if not isinstance(decoder, dict) or decoder.get("type") != "ByteLevel":
        raise ValueError("not a byte-level tokenizer: needs a ByteLevel decoder")


def _check_ids(ids: Sequence[int], vocab_size: int) -> list[int]:
    checked = [int(i) for i in ids]
    if any(not 0 <= i < vocab_size for i in checked):
        raise ValueError(f"token ids must be in 0 .. {vocab_size - 1}")
    return checked


class ByteTokenizer(TextTokenizer):
    """UTF-8 bytes as ids 0..255, and "<|endoftext|>" as 256: vocab_size 257, nothing to train."""

    END = 256

    @property
    def vocab_size(self) -> int:
        return 257

    @property
    def end_of_text(self) -> int:
        return self.END

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        pieces: list[str] = []
        run = bytearray()
        for i in _check_ids(ids, self.vocab_size):
            if i == self.END:
                pieces += [run.decode("utf-8", errors="replace"), END_OF_TEXT]
                run.clear()
            else:
                run.append(i)
        pieces.append(run.decode("utf-8", errors="replace"))
        return "".join(pieces)

    def to_bytes(self) -> bytes:
        return json.dumps(BYTES_DESCRIPTION, separators=(",", ":")).encode()


class BpeTokenizer(TextTokenizer):
    """A byte-level BPE `tokenizers.Tokenizer` (see `train_tokenizer`).

    Raises ValueError if its ids are not exactly 0 .. n - 1, n > 1,000,000 or it lacks "<|endoftext|>"."""

    def __init__(self, inner: Tokenizer) -> None:
        vocab = inner.get_vocab(with_added_tokens=True)
        if len(vocab) > MAX_VOCAB:
            raise ValueError(f"a vocabulary of {len(vocab)} tokens: at most {MAX_VOCAB}")
        if sorted(vocab.values()) != list(range(len(vocab))):
            raise ValueError("the tokenizer's ids are not exactly 0 .. vocab_size - 1")
        end = inner.token_to_id(END_OF_TEXT)
        if end is None:
            raise ValueError(f"the tokenizer has no {END_OF_TEXT} token")
        self.inner = inner
        self._vocab_size = len(vocab)
        self._end = end

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    @property
    def end_of_text(self) -> int:
        return self._end

    def encode(self, text: str) -> list[int]:
        try:
            return list(self.inner.encode(text, add_special_tokens=False).ids)
        except TypeError as bad:  # what tokenizers raises for lone surrogates
            raise ValueError(f"cannot encode the text (not valid Unicode?): {bad}") from bad

    def decode(self, ids: Sequence[int]) -> str:
        return self.inner.decode(_check_ids(ids, self._vocab_size), skip_special_tokens=False)

    def to_bytes(self) -> bytes:
        description = json.loads(self.inner.to_str())
        return json.dumps(description, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> BpeTokenizer:
    """Byte-level BPE trained on `texts`, with at most `vocab_size` ids ("<|endoftext|>" is 0, then the
    256 byte tokens, then merges of pairs seen at least twice, so a small corpus may give fewer).

    The same texts in the same order and the same vocab_size always give the same tokenizer (equal
    `to_bytes()`). Raises ValueError for vocab_size outside 257 .. 1,000,000."""
    if not 257 <= vocab_size <= MAX_VOCAB:
        raise ValueError(f"vocab_size {vocab_size}: byte-level BPE needs 257 .. {MAX_VOCAB}")
    inner = Tokenizer(models.BPE())
    inner.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    inner.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=[END_OF_TEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    inner.train_from_iterator(texts, trainer=trainer)
    return BpeTokenizer(inner)


def byte_tokenizer() -> ByteTokenizer:
    """The plain byte tokenizer (vocab_size 257)."""
    return ByteTokenizer()


def encode_documents(tokenizer: TextTokenizer, texts: Iterable[str]) -> list[int]:
    """Every text's ids, each followed by `end_of_text`: one token stream for `corpus.windows`."""
    ids: list[int] = []
    for text in texts:
        ids += tokenizer.encode(text)
        ids.append(tokenizer.end_of_text)
    return ids
