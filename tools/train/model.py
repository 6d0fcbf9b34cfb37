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
    """x [B, T, H, hd]; interleaved pairs (x[2i], x[2i+1]) as complex numbers.
    cos/sin: [T, hd/2] (shared positions) or [B, T, hd/2] (per-row positions)."""
    B, T, H, hd = x.shape
    xc = torch.view_as_complex(x.float().reshape(B, T, H, hd // 2, 2))
    fc = torch.complex(cos, sin)
    fc = fc[None, :, None, :] if fc.ndim == 2 else fc[:, :, None, :]
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

    def attention(self, x, cos, sin, cache=None, pos0=0, positions=None):
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
        mask = None
        if positions is not None:
            # batched decode: one new token per row at its own position
            assert T == 1 and cache is not None
            kc, vc = cache
            rows = torch.arange(B, device=x.device)
            kc[rows, :, positions] = k[:, :, 0].to(kc.dtype)
            vc[rows, :, positions] = v[:, :, 0].to(vc.dtype)
            S = int(positions.max()) + 1
            k, v = kc[:, :, :S], vc[:, :, :S]
            mask = (torch.arange(S, device=x.device)[None, :] <= positions[:, None])[:, None, None, :]
            causal = False
        elif cache is not None:
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
        if mask is not None:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        o = o.transpose(1, 2).reshape(B, T, cfg.n_heads * hd)
        return self.wo(o)

    def forward(self, x, cos, sin, cache=None, pos0=0, positions=None):
        x = x + self.attention(x, cos, sin, cache, pos0, positions)
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

    def rope(self, n, device):
        rc = getattr(self, "_rope_cache", None)
        if rc is None or rc[0].shape[0] < n or rc[0].device != device:
            m = max(n, 32768 + 1024)
            rc = rope_tables(self.cfg, torch.arange(m, device=device))
            self._rope_cache = rc
        return rc

    def forward(self, tokens, pos0=0, caches=None, positions=None):
        """tokens [B, T]. positions: None (all rows at pos0..pos0+T-1) or a [B] tensor
        of per-row positions for batched one-token decoding (requires caches)."""
        B, T = tokens.shape
        if positions is None:
            cos, sin = self.rope(pos0 + T, tokens.device)
            cos, sin = cos[pos0:pos0 + T], sin[pos0:pos0 + T]
        else:
            cos, sin = self.rope(int(positions.max()) + 1, tokens.device)
            cos, sin = cos[positions][:, None, :], sin[positions][:, None, :]
        x = self.tok_emb(tokens)
        for i, blk in enumerate(self.layers):
            x = blk(x, cos, sin, None if caches is None else caches[i], pos0, positions)
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

    @torch.no_grad()
    def generate_batch(self, prompts, max_news, eos_id=2):
        """Greedy decoding of several prompts: each prompt is prefilled alone (B = 1,
        causal flash attention), then the rows decode together with per-row positions
        and a key mask. Returns one list of generated ids per prompt (up to and
        including </s>, at most max_news[b] ids)."""
        import contextlib
        dev = next(self.parameters()).device
        B = len(prompts)
        S = max(len(p) for p in prompts) + max(max_news) + 1
        caches = self.new_caches(B, S, dev)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else contextlib.nullcontext()
        outs = [[] for _ in range(B)]
        done = [False] * B
        with amp:
            first = []
            for b, p in enumerate(prompts):
                rc = [(kc[b:b + 1], vc[b:b + 1]) for kc, vc in caches]
                lg = self.forward(torch.tensor([p], device=dev), 0, rc)
                first.append(int(lg[0, -1].float().argmax()))
            cur = torch.tensor(first, device=dev)
            pos = torch.tensor([len(p) for p in prompts], device=dev)
            for _ in range(max(max_news)):
                cl = cur.tolist()
                for b in range(B):
                    if not done[b]:
                        outs[b].append(cl[b])
                        if cl[b] == eos_id or len(outs[b]) >= max_news[b]:
                            done[b] = True
                if all(done):
                    break
                lg = self.forward(cur[:, None], caches=caches, positions=pos)
                cur = lg[:, -1].float().argmax(-1)
                pos = pos + 1
        return outs
