"""Shims for an old torch (Debian's 1.13) on the CPU machine: F.rms_norm and
F.scaled_dot_product_attention, as used by model.py. Imported for its side effect."""
import math
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

