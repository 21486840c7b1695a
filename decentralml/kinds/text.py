"""Text for language models: documents in, token windows out.

Raw form: `x` the UTF-8 bytes of every document, concatenated (uint8), and `y` the offset where
each document ends (int64, increasing): a shape that seals and hashes like every other kind's
(`kinds.raw_to_bytes`). `prepare` tokenises each document with the task's tokenizer, appends
end-of-text, and cuts the stream into non-overlapping windows of `context + 1` tokens: a `Split`
whose `x` holds the windows (int64 [n, context + 1]; inputs `[:, :-1]`, targets `[:, 1:]`) and `y`
each window's last token.

The tokenizer is "bytes", or a BPE tokenizer shipped as a hash-pinned bundle asset: opening the
bundle (`decentralml.bundle.open_bundle`) fetches it, checks its sha256 and registers it here by
that hash, so `prepare` never fetches anything and never trusts unhashed bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from decentralml.kinds.schema import TEXT_SUFFIX_FORMATS, ContentRef, DataMismatch, Raw, Split, TextSchema
from decentralml.lm.corpus import CorpusError, read_corpus, windows
from decentralml.lm.tokenizer import ByteTokenizer, TextTokenizer, encode_documents, train_tokenizer

formats = ("folder", "txt", "jsonl")
SUFFIX_FORMATS = TEXT_SUFFIX_FORMATS
"""A text file's suffix -> its format (`kinds.FORMATS` includes these)."""
_TOKENIZERS: dict[str, TextTokenizer] = {}


def register_tokenizer(sha256: str, data: bytes) -> TextTokenizer:
    """Check `data` against `sha256` and keep the tokenizer it describes under that hash."""
    actual = "0x" + hashlib.sha256(data).hexdigest()
    if actual != sha256.lower():
        raise ValueError(f"the tokenizer's bytes hash to {actual}, the manifest says {sha256}")
    if sha256 not in _TOKENIZERS:
        _TOKENIZERS[sha256] = TextTokenizer.from_bytes(data)
    return _TOKENIZERS[sha256]


def tokenizer_for(schema: TextSchema) -> TextTokenizer:
    """The schema's tokenizer; ValueError if it is an asset not registered (bundle not opened) or
    its vocabulary is not the schema's."""
    if schema.tokenizer == "bytes":
        found: TextTokenizer = ByteTokenizer()
    else:
        registered = _TOKENIZERS.get(schema.tokenizer.sha256)
        if registered is None:
            raise ValueError(f"tokenizer {schema.tokenizer.cid} is not loaded: open the task's bundle first")
        found = registered
    if found.vocab_size != schema.vocab_size:
        raise ValueError(f"the tokenizer has {found.vocab_size} ids, the schema says {schema.vocab_size}")
    return found


def _fmt(path: Path, fmt: str) -> str:
    if fmt in formats:
        return fmt
    if path.is_dir():
        return "folder"
    return SUFFIX_FORMATS.get(path.suffix.lower(), "txt")


def raw_of(documents: list[str]) -> Raw:
    """Documents in the raw form (see the module docstring)."""
    encoded = [d.encode("utf-8") for d in documents]
    ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    return Raw(np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), ends)


def documents_of(raw: Raw) -> list[str]:
    data = raw.x.tobytes()
    starts = [0, *raw.y[:-1].tolist()]
    return [data[a:b].decode("utf-8") for a, b in zip(starts, raw.y.tolist(), strict=True)]


def read(schema: TextSchema, path: Path, fmt: str) -> Raw:
    """The documents of a folder of text files, a text file or a JSONL file (`schema.field`)."""
    try:
        documents = read_corpus(path, _fmt(path, fmt), field=schema.field)  # type: ignore[arg-type]
    except CorpusError as bad:
        raise DataMismatch(
            path, "UTF-8 text (a folder of text files, a .txt or a .jsonl file)", str(bad)
        ) from bad
    return raw_of(documents)


def from_arrays(schema: TextSchema, x: NDArray[Any], y: NDArray[Any], name: str) -> Raw:
    """Raw text arrays (as `raw_to_bytes` wrote them), checked: bytes, increasing ends, UTF-8."""
    if x.dtype != np.uint8 or x.ndim != 1 or y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataMismatch(
            name, "x: uint8 bytes and y: integer document ends", f"{x.dtype}{x.shape}, {y.dtype}{y.shape}"
        )
    ends = y.astype(np.int64)
    if len(ends) == 0 or np.any(np.diff(ends) < 0) or ends[0] < 0 or ends[-1] != len(x):
        raise DataMismatch(name, "document ends that increase up to the byte count", "ends that do not")
    raw = Raw(x, ends)
    try:
        documents_of(raw)
    except UnicodeDecodeError as bad:
        raise DataMismatch(name, "UTF-8 documents", f"invalid UTF-8 ({bad.reason})") from bad
    return raw


def prepare(schema: TextSchema, raw: Raw) -> Split:
    """Token windows of the documents (see the module docstring); DataMismatch if the text is
    shorter than one window."""
    ids = encode_documents(tokenizer_for(schema), documents_of(raw))
    try:
        found = windows(ids, schema.context)
    except CorpusError as short:
        raise DataMismatch(
            "the text", f"at least {schema.context + 1} tokens", f"{len(ids)} tokens"
        ) from short
    return Split(found, found[:, -1].copy())


def infer(
    path: Path,
    fmt: str,
    context: int = 128,
    field: str = "text",
    bpe_vocab: int | None = None,
) -> TextSchema:
    """A schema for the corpus at `path` (checked to read, and long enough for one window): the byte
    tokenizer, or with `bpe_vocab` a byte-level BPE tokenizer trained on this corpus (deterministic:
    the same corpus and vocab give the same bytes). That tokenizer is registered here by the hash
    of its bytes (`tokenizer_for` gives it back) and named by that hash with an empty CID until
    `dml task pack` puts it in IPFS. DataMismatch for text that does not read or is too short;
    ValueError for a `bpe_vocab` outside 257 .. 1,000,000."""
    schema = TextSchema(context=context, field=field)
    raw = read(schema, path, fmt)
    if bpe_vocab is not None:
        data = train_tokenizer(documents_of(raw), bpe_vocab).to_bytes()
        sha256 = "0x" + hashlib.sha256(data).hexdigest()
        tokenizer = register_tokenizer(sha256, data)
        schema = TextSchema(
            context=context,
            field=field,
            tokenizer=ContentRef.model_construct(cid="", sha256=sha256),
            vocab_size=tokenizer.vocab_size,
        )
    prepare(schema, raw)
    return schema
