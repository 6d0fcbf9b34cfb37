#!/usr/bin/env python3
"""serve --device cuda against serve on the CPU, on the shipped model's held-out samples (models/heldout.jsonl).

Usage: serve_smoke.py CPU_URL GPU_URL [N]. For N samples (4K and 16K, retrieval tasks) each server encodes the
sample's context as a document (POST /v1/documents, then polls it) and answers its question greedily
(POST /v1/completions with document_id); then the GPU server answers two questions on two documents at once
(requests take turns on the GPUs). Prints one line per sample: both answers, the expected one, phase-1 and
decode figures, and a summary line 'SERVE cuda vs cpu: k/N answers equal, g/N right on the GPU'.
"""
import json
import sys
import threading
import time
import urllib.request


def call(url, path, body=None, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method or ("POST" if body is not None else "GET"),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read() or b"{}")


def document(url, text):
    d = call(url, "/v1/documents", {"text": text, "name": "smoke"})
    while d["status"] not in ("ready", "failed"):
        time.sleep(0.2)
        d = call(url, "/v1/documents/" + d["id"])
    if d["status"] != "ready":
        raise SystemExit("document failed on " + url + ": " + json.dumps(d))
    return d


def ask(url, doc_id, question, max_tokens):
    r = call(url, "/v1/completions", {"document_id": doc_id, "prompt": question, "max_tokens": max_tokens, "temperature": 0})
    return r["choices"][0]["text"], r["starattn"]


def main():
    cpu, gpu = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    tasks = ("niah_single_1", "niah_single_2", "niah_multikey_1")
    samples = [json.loads(l) for l in open("models/heldout.jsonl")]
    samples = [s for s in samples if s["task"] in tasks and s["length"] in (4096, 16384) and s.get("input_context")][:n]
    equal = right = 0
    docs = []
    for s in samples:
        answers = {}
        for name, url in (("cpu", cpu), ("cuda", gpu)):
            d = document(url, s["input_context"])
            text, info = ask(url, d["id"], s["input_query"], s["max_new"])
            answers[name] = (text, d, info)
            if name == "cuda":
                docs.append((d["id"], s))
            else:
                call(url, "/v1/documents/" + d["id"], method="DELETE")
        (ct, cd, ci), (gt, gd, gi) = answers["cpu"], answers["cuda"]
        ok = all(o in gt for o in s["outputs"])
        equal += ct == gt
        right += ok
        print("SERVE %-16s %5d  cpu %-42r cuda %-42r expected %s  %s  phase1 cpu %.0f ms cuda %.0f ms, decode cuda %.1f tok/s"
              % (s["task"], s["length"], ct.strip()[:40], gt.strip()[:40], s["outputs"], "equal" if ct == gt else "DIFFER",
                 cd["timing"]["phase1_ms"], gd["timing"]["phase1_ms"], gi["timing"]["decode_tokens_per_s"]), flush=True)
    print("SERVE cuda vs cpu: %d/%d answers equal, %d/%d right on the GPU" % (equal, len(samples), right, len(samples)), flush=True)
    # Two questions at once on the GPU server (two documents): both must come back with the single-request answers.
    results = {}

    def worker(i, doc_id, s):
        results[i] = ask(gpu, doc_id, s["input_query"], s["max_new"])[0]

    singles = [ask(gpu, doc_id, s["input_query"], s["max_new"])[0] for doc_id, s in docs[:2]]
    threads = [threading.Thread(target=worker, args=(i, doc_id, s)) for i, (doc_id, s) in enumerate(docs[:2])]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    same = sum(results.get(i) == singles[i] for i in range(len(singles)))
    print("SERVE cuda concurrent: %d/%d answers as when asked alone (%.2f s for both)" % (same, len(singles), time.time() - t0), flush=True)
    health = call(gpu, "/health")
    print("SERVE cuda health:", json.dumps(health), flush=True)


if __name__ == "__main__":
    main()
