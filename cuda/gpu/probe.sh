#!/bin/bash
# What the GPU machine offers for attention: cores, cuDNN, and which kernel PyTorch's SDPA runs.
nproc
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
find / \( -name 'libcudnn*.so*' -o -name 'cudnn_frontend*.h' -o -name 'cudnn_graph.h' -o -name 'cudnn_backend.h' \) -not -path '/proc/*' 2>/dev/null | head -30
python3 - <<'PY'
import torch, torch.nn.functional as F
print("torch", torch.__version__, "cudnn", torch.backends.cudnn.version())
print("cudnn_sdp", torch.backends.cuda.cudnn_sdp_enabled(), "flash_sdp", torch.backends.cuda.flash_sdp_enabled())
try:
    import cudnn; print("cudnn frontend python", cudnn.backend_version())
except Exception as e: print("no cudnn python frontend:", e)
q = torch.randn(1, 32, 8192, 128, device="cuda", dtype=torch.bfloat16)
k = torch.randn(1, 8, 8192, 128, device="cuda", dtype=torch.bfloat16)
v = torch.randn_like(k)
for _ in range(3): F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
torch.cuda.synchronize()
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CUDA]) as p:
    F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True); torch.cuda.synchronize()
for e in p.key_averages(): print("kernel:", e.key[:160])
PY
