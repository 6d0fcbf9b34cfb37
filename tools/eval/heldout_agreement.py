#!/usr/bin/env python3
"""Our engine against PyTorch on the shipped model's held-out samples (models/heldout.jsonl).

  heldout_agreement.py data OUT.jsonl
      writes the samples whose texts are stored (the first 10 per task at 4K, 4 at 16K) in the
      format `starattn eval --data` reads;
  heldout_agreement.py compare PREDICTIONS_DIR
      joins `starattn eval --out PREDICTIONS_DIR`'s predictions.jsonl with PyTorch's greedy answers
      and prints, per task, length and attention mode: PyTorch's score, ours, and on how many samples
      the two score the same (the same share of the expected outputs found).
"""
import collections
import json
import os
import sys

HELDOUT = os.path.join(os.path.dirname(__file__), "..", "..", "models", "heldout.jsonl")


def heldout():
    with open(HELDOUT) as f:
        return [json.loads(line) for line in f if line.strip()]


def data(out):
    n = 0
    with open(out, "w") as w:
        for r in heldout():
            if "input_context" not in r:
                continue
            rec = {k: r[k] for k in ("task", "index", "length", "input_context", "input_query", "outputs")}
            rec["target_length"] = r["length"]  # one group per task and length in `starattn eval --data`
            w.write(json.dumps(rec) + "\n")
            n += 1
    print(f"{n} samples with stored texts -> {out}")


def compare(pred_dir):
    torch = {(r["task"], r["length"], r["index"]): r for r in heldout() if "input_context" in r}
    cells = collections.defaultdict(lambda: [0, 0.0, 0.0, 0])  # n, torch score, our score, judged alike
    with open(os.path.join(pred_dir, "predictions.jsonl")) as f:
        for line in f:
            p = json.loads(line)
            task, length, config, index = p["task"], p["length"], p["config"], p["index"]
            t = torch.get((task, int(length), int(index)))
            if t is None:
                continue
            ours, theirs = 100.0 * float(p["score"]), 100.0 * float(t["score"])  # fractions of the outputs found
            c = cells[(int(length), config, task)]
            c[0] += 1
            c[1] += theirs
            c[2] += ours
            c[3] += abs(ours - theirs) < 1e-6
    print("| length | attention | task | n | PyTorch bf16 | ours (Q8_0) | scored alike |")
    print("|---|---|---|---:|---:|---:|---:|")
    totals = collections.defaultdict(lambda: [0, 0])
    for (length, config, task), (n, ts, os_, alike) in sorted(cells.items()):
        print(f"| {length} | {config} | {task} | {n} | {ts / n:.1f} | {os_ / n:.1f} | {alike}/{n} |")
        totals[config][0] += n
        totals[config][1] += alike
    for config, (n, alike) in totals.items():
        print(f"{config}: scored like PyTorch on {alike} of {n} samples")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "data":
        data(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "compare":
        compare(sys.argv[2])
    else:
        sys.exit(__doc__)
