"""A small GPT-style decoder-only transformer, sized by a `TransformerSpec`.

Token embedding plus learned position embedding, `layers` pre-LayerNorm blocks (causal
self-attention, then a 4x-width GELU MLP, each with a residual connection), a final LayerNorm and
the LM head. With `tie_embeddings` the head *is* the token embedding (logits = x @ tok.weight.T),
not a second parameter, so `state_dict()` holds each tensor once (the weight codec encodes it name
by name).

Parameters, with V = vocab_size, C = context, W = width, L = layers:

    V*W (token embedding) + C*W (positions) + L*(12*W**2 + 13*W) (blocks) + 2*W (final LayerNorm)
    + V*W more when the head is not tied.

Each block: 2 LayerNorms (4W), attention in-projection W*3W + 3W and out-projection W*W + W, MLP
W*4W + 4W and 4W*W + W. `MICRO_SPEC` (V 512, C 128, L 4, 4 heads, W 192) has 1,902,720.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from decentralml.specs import TransformerSpec as TransformerSpec

INIT_STD = 0.02


MICRO_SPEC = TransformerSpec(vocab_size=512, context=128, layers=4, heads=4, width=192)
"""The ~2M-parameter default micro-LLM (1,902,720 parameters)."""


class CausalSelfAttention(nn.Module):
    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.heads = spec.heads
        self.dropout = spec.dropout
        self.qkv = nn.Linear(spec.width, 3 * spec.width)
        self.proj = nn.Linear(spec.width, spec.width)
        self.residual_dropout = nn.Dropout(spec.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, heads, T, head width]
        attended = functional.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        out: torch.Tensor = self.residual_dropout(
            self.proj(attended.transpose(1, 2).reshape(batch, length, width))
        )
        return out


class Mlp(nn.Module):
    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.fc = nn.Linear(spec.width, 4 * spec.width)
        self.proj = nn.Linear(4 * spec.width, spec.width)
        self.dropout = nn.Dropout(spec.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.dropout(self.proj(functional.gelu(self.fc(x))))
        return out


class Block(nn.Module):
    """Pre-LayerNorm: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(spec.width)
        self.attn = CausalSelfAttention(spec)
        self.ln2 = nn.LayerNorm(spec.width)
        self.mlp = Mlp(spec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class TinyGpt(nn.Module):
    """A decoder-only language model: tokens [B, T] in, next-token logits [B, T, vocab_size] out."""

    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.tok = nn.Embedding(spec.vocab_size, spec.width)
        self.pos = nn.Embedding(spec.context, spec.width)
        self.dropout = nn.Dropout(spec.dropout)
        blocks = [Block(spec) for _ in range(spec.layers)]
        self.blocks = nn.ModuleList(blocks)
        self.ln = nn.LayerNorm(spec.width)
        self.head = None if spec.tie_embeddings else nn.Linear(spec.width, spec.vocab_size, bias=False)
        self._init_weights(blocks)

    def _init_weights(self, blocks: list[Block]) -> None:
        """GPT-2's: weights normal(0, 0.02), biases 0, LayerNorms 1 and 0; the projections back into
        the residual stream get std 0.02 / sqrt(2 * layers), as there are 2 of them per block."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in blocks:
            for projection in (block.attn.proj, block.mlp.proj):
                nn.init.normal_(projection.weight, mean=0.0, std=INIT_STD / math.sqrt(2 * self.spec.layers))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits [B, T, vocab_size] for integer `tokens` [B, T]; position t sees tokens 0..t only.

        Raises ValueError for a tensor that is not 2-D integer, empty or longer than the context,
        or ids outside 0 .. vocab_size - 1."""
        if tokens.dim() != 2 or tokens.dtype.is_floating_point or tokens.dtype.is_complex:
            raise ValueError(
                f"tokens must be an integer tensor [batch, time], not {tokens.dtype} {tokens.shape}"
            )
        length = tokens.shape[1]
        if not 1 <= length <= self.spec.context:
            raise ValueError(f"{length} tokens: the model reads 1 to {self.spec.context} at a time")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.spec.vocab_size):
            raise ValueError(f"token ids must be in 0 .. {self.spec.vocab_size - 1}")
        positions = torch.arange(length, device=tokens.device)
        x = self.dropout(self.tok(tokens) + self.pos(positions))
        for block in self.blocks:
            x = block(x)
        x = self.ln(x)
        if self.head is None:
            return functional.linear(x, self.tok.weight)
        logits: torch.Tensor = self.head(x)
        return logits


def build_transformer(spec: TransformerSpec, seed: int = 0) -> TinyGpt:
    """A `TinyGpt` of `spec`'s sizes whose initial weights depend only on `seed` (it seeds torch's
    global generator, as `decentralml.models.build` does)."""
    torch.manual_seed(seed)
    return TinyGpt(spec)
