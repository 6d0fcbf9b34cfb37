"""Local CPU smoke test of train.py with an old torch (Debian's 1.13): shims for
F.rms_norm and F.scaled_dot_product_attention, tiny model, a few seconds.
Usage: /usr/bin/python3 tools/train/cpu_smoke.py OUTDIR"""
import math
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import cpu_shim  # noqa: E402,F401  (F.rms_norm, F.scaled_dot_product_attention)

sys.argv = [sys.argv[0], "--device", "cpu", "--out", sys.argv[1], "--train-seconds", "25", "--deadline", "80",
            "--tokens-per-step", "8192", "--max-len", "2048", "--dim", "64", "--layers", "2", "--heads", "4",
            "--kv-heads", "2", "--ffn", "128", "--workers", "2", "--log-every", "5", "--eval-lengths", "1024",
            "--eval-n", "1", "--eval-text-n", "1024:1", "--extra-eval", "", "--lr", "3e-3"] + sys.argv[2:]
sys.path.insert(0, __file__.rsplit("/", 1)[0])
import train  # noqa: E402
train.main()
