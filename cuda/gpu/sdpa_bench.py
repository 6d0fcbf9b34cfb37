"""PyTorch's scaled_dot_product_attention on the shapes of CudaAttentionBench: one causal sequence,
queries = keys = N, bf16, grouped-query heads (enable_gqa), median of GPU-event-timed repeats,
TFLOP/s counting the visible pairs only (4 * hd * heads * N(N+1)/2).
Usage: python3 sdpa_bench.py [lengths=8192,16384,32768] [repeats=10] [heads=32] [kv_heads=8] [hd=128]"""
import sys

import torch
import torch.nn.functional as F

lengths = [int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "8192,16384,32768").split(",")]
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
heads = int(sys.argv[3]) if len(sys.argv) > 3 else 32
kv_heads = int(sys.argv[4]) if len(sys.argv) > 4 else 8
hd = int(sys.argv[5]) if len(sys.argv) > 5 else 128
print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}; causal, heads {heads}/{kv_heads}, head dim {hd}; median of {repeats}")
for n in lengths:
    g = torch.Generator(device="cuda").manual_seed(1)
    q = torch.randn(1, heads, n, hd, device="cuda", dtype=torch.bfloat16, generator=g)
    k = torch.randn(1, kv_heads, n, hd, device="cuda", dtype=torch.bfloat16, generator=g)
    v = torch.randn(1, kv_heads, n, hd, device="cuda", dtype=torch.bfloat16, generator=g)
    for label, run in [("sdpa, enable_gqa", lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)),
                       ("sdpa, KV heads repeated", lambda: F.scaled_dot_product_attention(
                           q, k.repeat_interleave(heads // kv_heads, 1), v.repeat_interleave(heads // kv_heads, 1), is_causal=True))]:
        run()
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            run()
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        times.sort()
        ms = times[len(times) // 2]
        flops = 4.0 * hd * heads * n * (n + 1) / 2
        print(f"ATTN {label:<40} N={n:6d}  {ms:9.3f} ms  {flops / ms / 1e9:7.1f} TFLOP/s")
