"""Local CPU smoke test of train.py with an old torch (Debian's 1.13): shims for
F.rms_norm and F.scaled_dot_product_attention, tiny model, a few seconds.
Usage: /usr/bin/python3 tools/train/cpu_smoke.py OUTDIR"""
import math
import sys

import torch
import torch.nn.functional as F

if not hasattr(F, "rms_norm"):
    def rms_norm(x, shape, weight=None, eps=1e-5):
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        return y * weight if weight is not None else y
    F.rms_norm = rms_norm
if not hasattr(F, "scaled_dot_product_attention"):
    def sdpa(q, k, v, is_causal=False, attn_mask=None):
        s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        if is_causal:
            T, S = q.shape[-2], k.shape[-2]
            m = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T)
            s = s.masked_fill(~m, float("-inf"))
        if attn_mask is not None:
            s = s.masked_fill(~attn_mask, float("-inf"))
        return torch.softmax(s.float(), -1).to(v.dtype) @ v
    F.scaled_dot_product_attention = sdpa

sys.argv = [sys.argv[0], "--device", "cpu", "--out", sys.argv[1], "--train-seconds", "25", "--deadline", "80",
            "--tokens-per-step", "8192", "--max-len", "2048", "--dim", "64", "--layers", "2", "--heads", "4",
            "--kv-heads", "2", "--ffn", "128", "--workers", "2", "--log-every", "5", "--eval-lengths", "1024",
            "--eval-n", "1", "--eval-text-n", "1024:1", "--extra-eval", "", "--lr", "3e-3"] + sys.argv[2:]
sys.path.insert(0, __file__.rsplit("/", 1)[0])
import train  # noqa: E402
train.main()
