#!/usr/bin/env python3
"""Held-out samples beyond the ones models/heldout.jsonl stores texts for, in `starattn eval --data` format.

  heldout_texts.py OUT.jsonl TASKS LENGTH FIRST COUNT

writes samples FIRST .. FIRST+COUNT-1 of each task (comma-separated) at LENGTH tokens, drawn exactly as the
trainer's held-out evaluation draws them (tools/train/train.py: seed "heldout-{task}-{length}-{index}", the
context sized LENGTH minus the task's generation budget), so that the shipped model can be scored in our engine on
more samples than the ones stored. Needs only the standard library (tools/train/data.py and tokenizer.py).
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "train"))
import data as D  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402


def main():
    out, tasks, length, first, count = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    gen = D.Gen(Tokenizer.load(), D.Grammar.load())
    n = 0
    with open(out, "w", encoding="utf-8") as w:
        for t in tasks:
            for i in range(first, first + count):
                s = gen.sample(t, random.Random("heldout-%s-%d-%d" % (t, length, i)), length - D.gen_budget(t), L=length, eval_mode=True)
                w.write(json.dumps(dict(task=t, index=i, length=length, target_length=length, input_context=s.input_context,
                                        input_query=s.input_query, outputs=s.outputs), ensure_ascii=False) + "\n")
                n += 1
    print(f"{n} samples -> {out}")


if __name__ == "__main__":
    main()
