"""Llama-architecture decoder for the starattn tiny model (PyTorch).

RMSNorm, SwiGLU, grouped-query attention, untied output, no biases. RoPE is the
llama.cpp "NORM" convention of GGUF architecture "llama": adjacent pairs
(x[2i], x[2i+1]) rotated by pos * base^(-2i/head_dim), so the weights are exported
without any permutation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 1536
    dim: int = 384
    n_layers: int = 8
    n_heads: int = 6
    n_kv_heads: int = 2
    ffn_dim: int = 1024
    rope_base: float = 1000000.0
    norm_eps: float = 1e-5
    context_length: int = 32768

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    def to_dict(self):
        return asdict(self)


def rope_tables(cfg: Config, positions: torch.Tensor):
    """cos, sin of shape [T, head_dim/2] (float32) for the given positions."""
    hd = cfg.head_dim
    inv = cfg.rope_base ** (-torch.arange(0, hd, 2, dtype=torch.float64, device=positions.device) / hd)
    ang = positions.to(torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x [B, T, H, hd]; interleaved pairs (x[2i], x[2i+1]) as complex numbers."""
    B, T, H, hd = x.shape
    xc = torch.view_as_complex(x.float().reshape(B, T, H, hd // 2, 2))
    fc = torch.complex(cos, sin)[None, :, None, :]
    return torch.view_as_real(xc * fc).reshape(B, T, H, hd).to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight, self.eps)


class Block(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        d, hd = cfg.dim, cfg.head_dim
        self.attn_norm = RMSNorm(d, cfg.norm_eps)
        self.wq = nn.Linear(d, cfg.n_heads * hd, bias=False)
        self.wk = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.wv = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.wo = nn.Linear(cfg.n_heads * hd, d, bias=False)
        self.ffn_norm = RMSNorm(d, cfg.norm_eps)
        self.w_gate = nn.Linear(d, cfg.ffn_dim, bias=False)
        self.w_up = nn.Linear(d, cfg.ffn_dim, bias=False)
        self.w_down = nn.Linear(cfg.ffn_dim, d, bias=False)

    def attention(self, x, cos, sin, cache=None, pos0=0):
        cfg = self.cfg
        B, T, _ = x.shape
        hd = cfg.head_dim
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, cfg.n_heads, hd)
        k = self.wk(h).view(B, T, cfg.n_kv_heads, hd)
        v = self.wv(h).view(B, T, cfg.n_kv_heads, hd)
        q = apply_rope(q, cos, sin).transpose(1, 2)
        k = apply_rope(k, cos, sin).transpose(1, 2)
        v = v.transpose(1, 2)
        causal = True
        if cache is not None:
            kc, vc = cache
            kc[:, :, pos0:pos0 + T] = k.to(kc.dtype)
            vc[:, :, pos0:pos0 + T] = v.to(vc.dtype)
            k = kc[:, :, :pos0 + T]
            v = vc[:, :, :pos0 + T]
            if pos0 > 0:
                assert T == 1
                causal = False
        rep = cfg.n_heads // cfg.n_kv_heads
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        k, v = k.to(q.dtype), v.to(q.dtype)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        o = o.transpose(1, 2).reshape(B, T, cfg.n_heads * hd)
        return self.wo(o)

    def forward(self, x, cos, sin, cache=None, pos0=0):
        x = x + self.attention(x, cos, sin, cache, pos0)
        h = self.ffn_norm(x)
        x = x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))
        return x


class Transformer(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.apply(self._init)
        for blk in self.layers:
            nn.init.normal_(blk.wo.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))
            nn.init.normal_(blk.w_down.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, tokens, pos0=0, caches=None):
        B, T = tokens.shape
        pos = torch.arange(pos0, pos0 + T, device=tokens.device)
        cos, sin = rope_tables(self.cfg, pos)
        x = self.tok_emb(tokens)
        for i, blk in enumerate(self.layers):
            x = blk(x, cos, sin, None if caches is None else caches[i], pos0)
        return self.output(self.norm(x))

    def n_params(self):
        return sum(p.numel() for p in self.parameters())

    def new_caches(self, B, max_len, device, dtype=torch.bfloat16):
        cfg = self.cfg
        return [(torch.zeros(B, cfg.n_kv_heads, max_len, cfg.head_dim, device=device, dtype=dtype),
                 torch.zeros(B, cfg.n_kv_heads, max_len, cfg.head_dim, device=device, dtype=dtype))
                for _ in range(cfg.n_layers)]

    @torch.no_grad()
    def generate(self, prompt_ids, max_new, eos_id=2):
        """Greedy decoding with a KV cache (B = 1). Returns generated ids (stops after eos)."""
        dev = next(self.parameters()).device
        T = len(prompt_ids)
        caches = self.new_caches(1, T + max_new + 1, dev)
        import contextlib
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()
        with amp:
            logits = self.forward(torch.tensor([prompt_ids], device=dev), 0, caches)
            out = []
            nxt = int(logits[0, -1].float().argmax())
            pos = T
            while True:
                out.append(nxt)
                if nxt == eos_id or len(out) >= max_new:
                    break
                logits = self.forward(torch.tensor([[nxt]], device=dev), pos, caches)
                pos += 1
                nxt = int(logits[0, -1].float().argmax())
        return out
