"""The PyTorch peer of CudaPrefillBench: Hugging Face LlamaForCausalLM of Llama-3.1-8B's shape with
random bf16 weights, SDPA attention, on one GPU: dense prefill of N tokens in one forward, and one
star host's phase 1 ([anchor; block], block = N / hosts at its original positions). Median seconds.
Usage: python3 prefill_bench.py [lengths=16384,32768,65536] [hosts=4,8] [repeats=3]"""
import sys
import time

import torch
import transformers
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

lengths = [int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "16384,32768,65536").split(",")]
hosts = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "4,8").split(",")]
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
cfg = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=8, head_dim=128, vocab_size=128256, max_position_embeddings=131072,
                  rms_norm_eps=1e-5, rope_theta=500000.0,
                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192})
cfg._attn_implementation = "sdpa"
torch.set_default_dtype(torch.bfloat16)
with torch.device("cuda"):
    model = LlamaForCausalLM(cfg).eval()
print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.cuda.get_device_name(0)}; "
      f"Llama-3.1-8B shape, random bf16, sdpa; median of {repeats}")


def empty_cache():
    try:
        return DynamicCache(config=cfg)
    except TypeError:
        return DynamicCache()


def run(ids, pos, jump=False):
    # With a jump in position_ids and neither cache nor mask, transformers 5.x reads the sequence as
    # packed sequences and masks the anchor out of the block's view (found on 2026-11-29: the "gap"
    # figures measured before are void). An empty cache keeps it on SDPA's causal path over the whole
    # sequence (and fills the cache, as our engine fills its KV); contiguous positions run as always.
    if jump:
        return model(input_ids=ids, position_ids=pos, past_key_values=empty_cache(), use_cache=True, logits_to_keep=1)
    return model(input_ids=ids, position_ids=pos, use_cache=False, logits_to_keep=1)


def timed(ids, pos, jump=False):
    out = []
    for r in range(-1, repeats):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            run(ids, pos, jump)
        torch.cuda.synchronize()
        if r >= 0:
            out.append(time.perf_counter() - t0)
    out.sort()
    return out[len(out) // 2]


g = torch.Generator(device="cuda").manual_seed(2)
# Does transformers let the block see the anchor when position_ids jump? Compare the last token's
# logits of [anchor; block] (gap positions) with those of the block alone at the same positions.
with torch.no_grad():
    t = torch.randint(0, cfg.vocab_size, (1, 2048), device="cuda", generator=g)
    gap = torch.cat([torch.arange(1024), torch.arange(3072, 4096)]).cuda()[None]
    both = run(t, gap, jump=True).logits.float()
    alone = run(t[:, 1024:], gap[:, 1024:], jump=True).logits.float()
    packed = model(input_ids=t, position_ids=gap, use_cache=False, logits_to_keep=1).logits.float()
    print(f"CHECK last-token logits, [anchor; block] with a position gap vs the block alone: max |d| = "
          f"{(both - alone).abs().max().item():.3e} (near 0 would mean the anchor was masked out); without the "
          f"cache (read as packed sequences) vs the block alone: {(packed - alone).abs().max().item():.3e}")
for n in lengths:
    tokens = torch.randint(0, cfg.vocab_size, (1, n), device="cuda", generator=g)
    print(f"PREFILL {'dense prefill':<55} N={n:6d}  {timed(tokens, torch.arange(n, device='cuda')[None]):7.3f} s", flush=True)
    for h in hosts:
        b = n // h
        seq = torch.cat([tokens[:, :b], tokens[:, (h - 1) * b:h * b]], 1)
        pos = torch.cat([torch.arange(b), torch.arange((h - 1) * b, h * b)]).cuda()[None]
        label = f"star phase 1, one host of {h} ([anchor; block] = {2 * b})"
        # Two timings: with the block at its original positions, as the reference design runs, and
        # with positions 0..2b-1. The work is the same (RoPE does not care about the values).
        print(f"PREFILL {label + ', gap':<55} N={n:6d}  {timed(seq, pos, jump=True):7.3f} s", flush=True)
        print(f"PREFILL {label + ', 0..2b-1':<55} N={n:6d}  {timed(seq, torch.arange(2 * b, device='cuda')[None]):7.3f} s", flush=True)
