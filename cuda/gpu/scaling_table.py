#!/usr/bin/env python3
"""Tabulates CudaStarBench logs (cuda/gpu/scaling.sh) for issue 9: per context length N and host count H,
phase 1 and end to end of dense (hosts=1), ring, ring-zigzag and star; star's speed-ups measured and by
FlopModel (the busiest GPU's phase-1 FLOPs); the paper's figures beside them. Markdown on stdout; beside the
first log, scaling.json in `starattn bench attention --json`'s form, so that the CPU machine draws the plot
with the engine's own plotter:

    ./starattn bench attention --from-json scaling.json --plot docs/img/gpu-scaling.png

(critMs is phase 1's wall time: the GPUs run at once; critGflopMeasured is 0: the GPU run does not count
FLOPs, critGflopPredicted is FlopModel's busiest GPU), and scaling.png where matplotlib is installed.

    python3 cuda/gpu/scaling_table.py scaling.log [more.log ...]
"""
import json
import os
import re
import sys

# Star Attention (arXiv 2411.17116) as issue 9 quotes it: speed-up over Ring Attention, Llama-3.1-8B,
# 4 workers at 16K-128K (Table 1), 256K (Table 5).
PAPER = {16384: "1.1x", 32768: "1.2x", 65536: "1.8x", 131072: "2.7x", 262144: "10.8x (Table 5)"}
LINE = re.compile(r"^(STAR|RING|RING-ZIGZAG)\s+(phase1|ttft|decode|end-to-end|model)\s+N=\s*(\d+)\s+hosts=(\d+)\s+gpus=(\d+)\s+([\d.]+)")


def parse(paths):
    """{(mode, n, hosts, gpus): {metric: value}}; a later log's figure replaces an earlier one."""
    runs = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                m = LINE.match(line.strip())
                if not m:
                    continue
                mode, metric, n, hosts, gpus, value = m.groups()
                if int(hosts) == 1:
                    mode = "DENSE"
                runs.setdefault((mode, int(n), int(hosts), int(gpus)), {})[metric] = float(value)
    return runs


def ratio(a, b):
    return f"{a / b:.2f}x" if a and b else ""


def table(runs):
    dense = {n: v for (mode, n, h, g), v in runs.items() if mode == "DENSE"}
    keys = sorted({(n, h, g) for (mode, n, h, g) in runs if mode != "DENSE"}, key=lambda k: (k[1], k[0]))
    out = ["| N | hosts (GPUs) | dense phase 1 | ring | ring-zigzag | star | **star vs ring** (phase 1) | vs ring-zigzag "
           "| vs dense | FlopModel star vs ring | vs dense | end to end: star vs ring | vs dense | paper (star vs ring) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for n, h, g in keys:
        st, ri, zz = (runs.get((m, n, h, g), {}) for m in ("STAR", "RING", "RING-ZIGZAG"))
        de = dense.get(n, {})
        rows.append((n, h, ri, st, de))
        p1 = {k: r.get("phase1") for k, r in (("st", st), ("ri", ri), ("zz", zz), ("de", de))}
        e2e = {k: r.get("end-to-end") for k, r in (("st", st), ("ri", ri), ("de", de))}
        cells = [f"{n // 1024}K", f"{h} ({g})"] + [f"{p1[k]:.3f} s" if p1[k] else "" for k in ("de", "ri", "zz", "st")]
        cells += [f"**{ratio(p1['ri'], p1['st'])}**", ratio(p1["zz"], p1["st"]), ratio(p1["de"], p1["st"]),
                  ratio(ri.get("model"), st.get("model")), ratio(de.get("model"), st.get("model")),
                  ratio(e2e["ri"], e2e["st"]), ratio(e2e["de"], e2e["st"]),
                  PAPER.get(n, "") if h == 4 or n == 262144 else ""]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out), rows


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"(no matplotlib here: {path} not drawn)", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for h in sorted({r[1] for r in rows}):
        pts = [(n, ri["phase1"] / st["phase1"], ri.get("model", 0) / st["model"] if st.get("model") else None)
               for n, hh, ri, st, de in rows if hh == h and ri.get("phase1") and st.get("phase1")]
        if not pts:
            continue
        xs = [p[0] // 1024 for p in pts]
        ax.plot(xs, [p[1] for p in pts], "o-", label=f"measured, {h} GPUs")
        if all(p[2] for p in pts):
            ax.plot(xs, [p[2] for p in pts], "x--", label=f"FlopModel, {h} GPUs")
    paper = [(n // 1024, float(v.split("x")[0])) for n, v in PAPER.items()]
    ax.plot([p[0] for p in paper], [p[1] for p in paper], "s:", color="gray", label="paper (4 workers; 256K: Table 5)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context (K tokens)")
    ax.set_ylabel("star speed-up over ring, phase 1")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"(plot: {path})", file=sys.stderr)


def bench_json(runs):
    """The rows in AttentionBench's --json form (its Row record), one per mode, N and H."""
    names = {"DENSE": "dense", "STAR": "star", "RING": "ring", "RING-ZIGZAG": "ring-zigzag"}
    rows = []
    for (mode, n, h, g), v in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        if "phase1" not in v:
            continue
        ms = v["phase1"] * 1e3
        rows.append(dict(n=n, h=h, mode=names[mode], wallMs=ms, critMs=ms, ttftMs=v.get("ttft", 0.0),
                         decodeTps=v.get("decode", 0.0), critGflopMeasured=0.0,
                         critGflopPredicted=v.get("model", 0.0) * 1e3, totalGflopMeasured=0.0, bytesMoved=0))
    return {"source": "cuda/gpu/scaling_table.py (CudaStarBench logs)", "rows": rows}


def main(paths):
    if not paths:
        sys.exit("usage: scaling_table.py LOG [LOG ...]")
    runs = parse(paths)
    if not runs:
        sys.exit(f"no CudaStarBench lines in {', '.join(paths)}")
    md, rows = table(runs)
    print(md)
    here = os.path.dirname(os.path.abspath(paths[0]))
    with open(os.path.join(here, "scaling.json"), "w") as f:
        json.dump(bench_json(runs), f, indent=1)
    print(f"(rows for ./starattn bench attention --from-json: {os.path.join(here, 'scaling.json')})", file=sys.stderr)
    plot(rows, os.path.join(here, "scaling.png"))


if __name__ == "__main__":
    main(sys.argv[1:])
