#!/usr/bin/env python3
"""Two `starattn eval --out` directories of the same data (e.g. --device cpu and --device cuda), sample by sample.

  eval_agreement.py DIR_A DIR_B

Prints, per attention configuration: the samples both ran, how many answers are character for character equal,
how many score the same, and each side's mean score. The resume keys differ between devices, so samples are joined on
(task, length, config, index). Exit status 1 when the two have no sample in common.
"""
import collections
import json
import os
import sys


def load(d):
    out = {}
    with open(os.path.join(d, "predictions.jsonl")) as f:
        for line in f:
            if line.strip():
                p = json.loads(line)
                out[(p["task"], int(p["length"]), p["config"], int(p["index"]))] = p
    return out


def main(a_dir, b_dir):
    a, b = load(a_dir), load(b_dir)
    cells = collections.defaultdict(lambda: [0, 0, 0, 0.0, 0.0])  # n, same text, same score, score a, score b
    for key in sorted(a.keys() & b.keys()):
        pa, pb = a[key], b[key]
        c = cells[key[2]]
        c[0] += 1
        c[1] += pa["pred"] == pb["pred"]
        c[2] += abs(float(pa["score"]) - float(pb["score"])) < 1e-9
        c[3] += float(pa["score"])
        c[4] += float(pb["score"])
    if not cells:
        print(f"eval agreement: no sample in common between {a_dir} and {b_dir}")
        return 1
    name_a, name_b = os.path.basename(a_dir.rstrip("/")), os.path.basename(b_dir.rstrip("/"))
    for config, (n, same, alike, sa, sb) in sorted(cells.items()):
        print(f"eval agreement [{config}]: {n} samples, answers equal {same}/{n}, scored alike {alike}/{n}, "
              f"score {name_a} {100 * sa / n:.1f} vs {name_b} {100 * sb / n:.1f}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
