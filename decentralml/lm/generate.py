"""Sampling text from a `TinyGpt`, one token at a time (no cache: each step reads the last `context`
tokens again, which is plenty fast at micro-LLM sizes)."""

from __future__ import annotations

import math

import torch

from decentralml.lm.tokenizer import TextTokenizer
from decentralml.lm.transformer import TinyGpt

MAX_TOKENS = 100_000


@torch.no_grad()
def generate(
    model: TinyGpt,
    tokenizer: TextTokenizer,
    prompt: str,
    tokens: int,
    temperature: float = 0.8,
    top_k: int | None = 40,
    seed: int = 0,
) -> str:
    """The text of `tokens` new tokens continuing `prompt` (the prompt itself is not repeated).

    Each token is drawn from softmax(logits / temperature) over the `top_k` likeliest (all if None),
    given the last `context` tokens; temperature 0 takes the likeliest (greedy). An empty prompt
    starts from "<|endoftext|>". The same arguments and weights give the same text; sampling uses its
    own generator from `seed`, not torch's global one. Leaves the model in eval mode.

    Raises ValueError for tokens outside 1 .. 100,000, a negative or non-finite temperature, top_k
    below 1, a seed outside 0 .. 2**64 - 1, or a tokenizer with more ids than the model's vocab."""
    if not 1 <= tokens <= MAX_TOKENS:
        raise ValueError(f"tokens {tokens}: must be 1 .. {MAX_TOKENS}")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature {temperature}: must be finite and at least 0")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k {top_k}: must be at least 1, or None for all")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed {seed}: must be 0 .. 2**64 - 1")
    if tokenizer.vocab_size > model.spec.vocab_size:
        raise ValueError(f"a tokenizer of {tokenizer.vocab_size} ids for a model of {model.spec.vocab_size}")
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    stream = tokenizer.encode(prompt) or [tokenizer.end_of_text]
    start = len(stream)
    for _ in range(tokens):
        window = torch.tensor([stream[-model.spec.context :]], dtype=torch.int64)
        stream.append(_pick(model(window)[0, -1], temperature, top_k, generator))
    return tokenizer.decode(stream[start:])


def _pick(logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator) -> int:
    """One token id from the last position's `logits` [vocab]."""
    if temperature == 0:
        return int(torch.argmax(logits))
    if top_k is not None and top_k < logits.shape[0]:
        threshold = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < threshold, -math.inf)
    # Shifted so the largest is 0: a tiny temperature cannot overflow to inf (and softmax to NaN).
    probabilities = torch.softmax((logits - logits.max()) / temperature, dim=-1)
    return int(torch.multinomial(probabilities, 1, generator=generator))
