"""Attention sinks of a model: per layer and head, the attention mass on BOS and on the first 4 tokens.

The mass of a head is the attention probability on the key(s), averaged over the query positions of the prompt
(queries at or after the key). "block" does the same for a span of the prompt encoded alone at its original
positions, without BOS or anything before it (Star Attention's context block without its anchor): its first token
is then the one every query sees, its would-be sink.

    python3 tools/train/sinks.py MODEL.gguf [--tokens 2048] [--block 512] [--prompt-file F] [--json]
    python3 tools/train/sinks.py --write-prose PROSE.txt tools/train/ckpt/corpus/corpus_ids.npz   # the sink eval's prose window

The model is read with export_gguf.py (F32/F16/Q8_0) and run in float32 PyTorch on the CPU (or --device cuda);
`starattn inspect sinks` is the Java engine's version of the same numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def head_masses(model, ids, pos0=0, n_first=4, q_chunk=512):
    """[layers, heads, 2] tensor: mean attention on key 0 and on keys 0..n_first-1 of `ids` placed at positions
    pos0.. (all queries; a query at position i < n_first counts the keys it can see)."""
    import torch
    from model import apply_rope
    cfg = model.cfg
    dev = next(model.parameters()).device
    T = len(ids)
    x = model.tok_emb(torch.tensor([ids], device=dev)).float()
    cos, sin = model.rope(pos0 + T, dev)
    cos, sin = cos[pos0:pos0 + T], sin[pos0:pos0 + T]
    hd, H, rep = cfg.head_dim, cfg.n_heads, cfg.n_heads // cfg.n_kv_heads
    out = torch.zeros(cfg.n_layers, H, 2, dtype=torch.float64)
    kpos = torch.arange(T, device=dev)
    for li, blk in enumerate(model.layers):
        h = blk.attn_norm(x)
        q = apply_rope(blk.wq(h).view(1, T, H, hd), cos, sin)[0].transpose(0, 1)  # [H, T, hd]
        k = apply_rope(blk.wk(h).view(1, T, cfg.n_kv_heads, hd), cos, sin)[0].transpose(0, 1)
        k = k.repeat_interleave(rep, dim=0)
        for s in range(0, T, q_chunk):
            e = min(T, s + q_chunk)
            sc = (q[:, s:e] @ k.transpose(1, 2)) / hd ** 0.5  # [H, c, T]
            sc = sc.masked_fill(kpos[None, None, :] > torch.arange(s, e, device=dev)[None, :, None], float("-inf"))
            p = torch.softmax(sc.double(), dim=-1)
            out[li, :, 0] += p[:, :, 0].sum(1).cpu()
            out[li, :, 1] += p[:, :, :n_first].sum((1, 2)).cpu()
        x = blk(x, cos, sin)
    return out / T


def prompt_ids(tok, args):
    if args.prompt_file:
        with open(args.prompt_file, encoding="utf-8") as f:
            ids = [1] + tok.encode(f.read())
        return ids[:args.tokens] if args.tokens else ids
    import data as D
    gen = D.Gen(tok, D.Grammar.load())
    s = gen.sample("niah_single_1", random.Random("sinks-%d" % args.tokens), args.tokens - 40, L=args.tokens, eval_mode=True)
    return [1] + s.ctx_ids + s.query_ids


def load_model(path, device="cpu"):
    import numpy as np
    import torch
    import export_gguf as E
    from model import Config, Transformer
    meta, tens = E.read_gguf(path)
    cfg = Config(vocab_size=len(meta["tokenizer.ggml.tokens"]), dim=meta["llama.embedding_length"],
                 n_layers=meta["llama.block_count"], n_heads=meta["llama.attention.head_count"],
                 n_kv_heads=meta["llama.attention.head_count_kv"], ffn_dim=meta["llama.feed_forward_length"],
                 rope_base=meta["llama.rope.freq_base"], norm_eps=meta["llama.attention.layer_norm_rms_epsilon"])
    model = Transformer(cfg)
    inv = {E.gguf_name(k): k for k in model.state_dict()}
    model.load_state_dict({inv[n]: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for n, (a, _, _) in tens.items()})
    return model.to(device).eval()


def report(model, ids, block):
    """The summary dict of sinks for a prompt: per-head masses, means, heads over 0.5, uniform baseline."""
    import torch
    with torch.no_grad():
        full = head_masses(model, ids)
        res = dict(tokens=len(ids), bos=full[:, :, 0].tolist(), first4=full[:, :, 1].tolist(),
                   mean_bos=float(full[:, :, 0].mean()), mean_first4=float(full[:, :, 1].mean()),
                   heads_bos_over_half=int((full[:, :, 0] > 0.5).sum()),
                   uniform_bos=sum(1.0 / (i + 1) for i in range(len(ids))) / len(ids))
        if block and len(ids) >= 2 * block:
            b0 = block  # the second block of the prompt, at its own positions, no anchor
            bm = head_masses(model, ids[b0:b0 + block], pos0=b0)
            res.update(block_start=b0, block=block, block_first=bm[:, :, 0].tolist(), block_first4=bm[:, :, 1].tolist(),
                       block_mean_first=float(bm[:, :, 0].mean()), block_heads_first_over_half=int((bm[:, :, 0] > 0.5).sum()))
    return res


def write_prose(out, corpus, n=2047):
    """The prose window of train.py's sink eval (seed "sinks-prose", n ids after BOS) as text, for `starattn inspect sinks --prompt-file`."""
    import data as D
    from tokenizer import Tokenizer
    tok = Tokenizer.load()
    gen = D.Gen(tok, D.Grammar.load())
    gen.load_corpus(corpus)
    with open(out, "w", encoding="utf-8") as f:
        f.write(tok.decode(gen.corpus_window(random.Random("sinks-prose"), n)).lstrip(" "))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--write-prose":
        return write_prose(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", type=int, default=2048)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--prompt-file", default="")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from tokenizer import Tokenizer
    model = load_model(args.model, args.device)
    res = report(model, prompt_ids(Tokenizer.load(), args), args.block)
    if args.json:
        print(json.dumps(res))
        return
    print("tokens %d  mean BOS mass %.4f (uniform %.4f)  mean first-4 mass %.4f  heads with BOS > 0.5: %d"
          % (res["tokens"], res["mean_bos"], res["uniform_bos"], res["mean_first4"], res["heads_bos_over_half"]))
    for li, row in enumerate(res["bos"]):
        print("layer %2d  bos %s" % (li, " ".join("%.3f" % v for v in row)))
    if "block_first" in res:
        print("block [%d, %d) without anchor: mean mass on its first token %.4f, heads > 0.5: %d"
              % (res["block_start"], res["block_start"] + res["block"], res["block_mean_first"], res["block_heads_first_over_half"]))


if __name__ == "__main__":
    main()
