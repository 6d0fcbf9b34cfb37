#!/usr/bin/env python3
"""Ours against the PyTorch reference design from one log of `bash cuda/gpu/bench.sh compare` (STARREF lines of
star_reference.py, then STAR lines of CudaStarBench with as many hosts as GPUs): per context length, phase 1
(wall time, all hosts at once), TTFT, decode and end to end per sample, with ours / PyTorch as a speed ratio.

    python3 cuda/gpu/compare.py LOG
"""
import re
import sys

REF = {
    "phase1": re.compile(r"^STARREF phase1 N=(\d+) G=(\d+) .* wall ([\d.]+) s"),
    "ttft": re.compile(r"^STARREF ttft N=(\d+) G=(\d+) Q=\d+ ([\d.]+) s"),
    "decode": re.compile(r"^STARREF decode N=(\d+) G=(\d+) ([\d.]+) tok/s"),
    "end-to-end": re.compile(r"^STARREF end-to-end N=(\d+) G=(\d+) .* ([\d.]+) s per sample"),
}
OURS = re.compile(r"^STAR\s+(phase1|ttft|decode|end-to-end)\s+N=\s*(\d+)\s+hosts=(\d+)\s+gpus=(\d+)\s+([\d.]+)")
UNIT = {"phase1": "s", "ttft": "ms", "decode": "tok/s", "end-to-end": "s"}


def main(path):
    ref, ours = {}, {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            for metric, rx in REF.items():
                m = rx.match(line)
                if m:
                    value = float(m.group(3)) * (1e3 if metric == "ttft" else 1)  # STARREF gives TTFT in s
                    ref[(metric, int(m.group(1)), int(m.group(2)))] = value
            m = OURS.match(line)
            if m and m.group(3) == m.group(4):  # as many hosts as GPUs: the reference's layout
                ours[(m.group(1), int(m.group(2)), int(m.group(4)))] = float(m.group(5))
    keys = sorted({(n, g) for (_, n, g) in ref} & {(n, g) for (_, n, g) in ours})
    if not keys:
        sys.exit(f"{path}: no context length with both STARREF and STAR (hosts = gpus) lines")
    print("| N | GPUs = hosts | | PyTorch reference | ours | **ours vs PyTorch** |")
    print("|---|---|---|---|---|---|")
    for n, g in keys:
        for metric in ("phase1", "ttft", "decode", "end-to-end"):
            r, o = ref.get((metric, n, g)), ours.get((metric, n, g))
            if r is None or o is None:
                continue
            speed = o / r if metric == "decode" else r / o  # above 1: ours faster
            print(f"| {n // 1024}K | {g} | {metric} | {r:.3f} {UNIT[metric]} | {o:.3f} {UNIT[metric]} | **{speed:.2f}x** |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: compare.py LOG")
    main(sys.argv[1])
