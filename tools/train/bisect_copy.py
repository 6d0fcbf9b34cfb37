"""Diagnostic: does a copy (induction) task get learnt, and which part of train.py's recipe
prevents it? Runs named variants one after another for a fixed number of steps each and prints
the loss on the predictable copy tokens (every repeated token but the first).
Usage: python3 bisect_copy.py VARIANT[,VARIANT...] [--steps N] [--device cuda]"""
import argparse, math, os, random, sys, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch, torch.nn.functional as F
if not hasattr(F, "scaled_dot_product_attention") or not hasattr(F, "rms_norm"):
    import cpu_shim  # noqa: F401
from model import Config, Transformer
import data as D
from tokenizer import Tokenizer

VARIANTS = {
    # name: (data, L, B, loss, lr, wd, schedule, size)
    "simple":      dict(data="simple", L=64, B=32, loss="mean", lr=3e-3, wd=0.0, sched="const", size="tiny"),
    "train-data":  dict(data="train", L=256, B=32, loss="mean", lr=3e-3, wd=0.0, sched="const", size="tiny"),
    "train-gap0":  dict(data="train-gap0", L=256, B=32, loss="mean", lr=3e-3, wd=0.0, sched="const", size="tiny"),
    "weighted":    dict(data="train", L=256, B=32, loss="weighted", lr=3e-3, wd=0.0, sched="const", size="tiny"),
    "recipe":      dict(data="train", L=256, B=32, loss="weighted", lr=3e-3, wd=0.1, sched="cosine", size="tiny"),
    "full-simple": dict(data="simple", L=64, B=64, loss="mean", lr=1e-3, wd=0.1, sched="const", size="full"),
    "full-train":  dict(data="train", L=256, B=64, loss="mean", lr=1e-3, wd=0.1, sched="const", size="full"),
    "full-recipe": dict(data="train", L=256, B=64, loss="weighted", lr=2.5e-3, wd=0.1, sched="cosine", size="full"),
    "gap0-long":   dict(data="train-gap0", L=256, B=32, loss="mean", lr=3e-3, wd=0.0, sched="const", size="tiny"),
    "repeat":      dict(data="repeat", L=256, B=32, loss="mean", lr=3e-3, wd=0.0, sched="const", size="tiny"),
    "repeat-lr1e3": dict(data="repeat", L=256, B=32, loss="mean", lr=1e-3, wd=0.0, sched="const", size="tiny"),
    "mqar":        dict(data="mqar", L=256, B=32, loss="mean", lr=3e-3, wd=0.0, sched="const", size="tiny"),
    "full-repeat": dict(data="repeat", L=256, B=32, loss="mean", lr=1e-3, wd=0.1, sched="const", size="full"),
    "full-mqar":   dict(data="mqar", L=256, B=32, loss="mean", lr=1e-3, wd=0.1, sched="const", size="full"),
    "full-gap0":   dict(data="train-gap0", L=256, B=32, loss="mean", lr=1e-3, wd=0.1, sched="const", size="full"),
    "full-lr1e3":  dict(data="train", L=256, B=64, loss="weighted", lr=1e-3, wd=0.1, sched="cosine", size="full"),
}


def batch(v, gen, step, V):
    L, B = v["L"], v["B"]
    if v["data"] == "simple":
        n = L // 2
        seq = torch.randint(259, 355, (B, n))
        x = torch.cat([torch.ones(B, 1, dtype=torch.long), seq, seq], 1)[:, :L + 1]
        info = torch.tensor([[D.TASK_ID["copy"], L + 1, n + 1, L + 1]] * B)
        return x, info
    g = torch.Generator().manual_seed(step)
    if v["data"] == "repeat":
        # a random sequence of 8-48 symbols repeated to fill the row: every token after the first
        # period is predictable only by looking up where the current token occurred before
        x = torch.empty(B, L + 1, dtype=torch.long)
        info = torch.empty(B, 4, dtype=torch.long)
        for b in range(B):
            n = int(torch.randint(8, 49, (1,), generator=g))
            seq = torch.randint(259, 355, (n,), generator=g)
            x[b, 0] = 1
            x[b, 1:] = seq.repeat(L // n + 1)[:L]
            info[b] = torch.tensor([D.TASK_ID["copy"], L + 1, n + 1, L + 1])
        return x, info
    if v["data"] == "mqar":
        # multi-query associative recall: 64 (key, value) pairs, then 64 queried keys each
        # followed by its value; keys from one symbol range, values from another
        P = (L - 1) // 4
        x = torch.full((B, L + 1), 2, dtype=torch.long)
        info = torch.empty(B, 4, dtype=torch.long)
        for b in range(B):
            keys = torch.randperm(96, generator=g)[:P] + 259
            vals = torch.randint(355, 451, (P,), generator=g)
            q = torch.randint(0, P, (P,), generator=g)
            kv = torch.stack([keys, vals], 1).reshape(-1)
            qa = torch.stack([keys[q], vals[q]], 1).reshape(-1)
            row = torch.cat([torch.tensor([1]), kv, qa])
            x[b, :len(row)] = row
            info[b] = torch.tensor([D.TASK_ID["copy"], len(row), 1 + 2 * P, len(row)])
        return x, info
    os.environ["COPY_ALPHABET"] = "small"
    if v["data"] == "train-gap0":
        os.environ["COPY_GAP"] = "0"
    else:
        os.environ.pop("COPY_GAP", None)
    arr, info = D.make_batch(gen, "bisect-%d" % step, L, B, {"copy": 1.0})
    return torch.from_numpy(arr).long(), torch.from_numpy(info).long()


def run(name, v, steps, dev):
    torch.manual_seed(0)
    tok = Tokenizer.load()
    gen = D.Gen(tok, D.Grammar.load())
    V = tok.n_vocab
    if v["size"] == "tiny":
        cfg = Config(vocab_size=V, dim=128, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=256)
    else:
        cfg = Config(vocab_size=V)
    m = Transformer(cfg).to(dev)
    decay = [p for n, p in m.named_parameters() if p.ndim == 2 and "tok_emb" not in n]
    rest = [p for n, p in m.named_parameters() if not (p.ndim == 2 and "tok_emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": v["wd"]}, {"params": rest, "weight_decay": 0.0}],
                            lr=v["lr"], betas=(0.9, 0.95))
    t0 = time.time()
    hist = []
    for step in range(steps):
        if v["sched"] == "cosine":
            p = step / steps
            lr = v["lr"] * (max(p / 0.03, 0.02) if p < 0.03 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (p - 0.03) / 0.97)))
            for g in opt.param_groups:
                g["lr"] = lr
        x, info = batch(v, gen, step, V)
        x, info = x.to(dev), info.to(dev)
        inp, tgt = x[:, :-1], x[:, 1:]
        B, L = inp.shape
        j = torch.arange(L, device=dev)[None, :]
        a0, a1 = info[:, 2:3], info[:, 3:4]
        ans = (j >= a0 - 1) & (j < a1 - 1)
        pred_m = (j >= a0) & (j < a1 - 1)  # predictable copy tokens
        if v["data"] == "mqar":
            ans = ans & ((j - a0) % 2 == 0)
            pred_m = ans
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            lg = m(inp)
        ce = F.cross_entropy(lg.float().reshape(-1, V), tgt.reshape(-1), reduction="none").view(B, L)
        if v["loss"] == "mean":
            loss = (ce * ans).sum() / ans.sum()
        else:
            n = info[:, 1:2]
            ctx = j < a0 - 1
            w = ans.float() / (a1 - a0).clamp(min=1).float() + 0.1 * ctx.float() / (a0 - 1).clamp(min=1).float()
            loss = (ce * w).sum() / B
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if (step + 1) % max(1, steps // 10) == 0:
            cl = float((ce.detach() * pred_m).sum() / pred_m.sum())
            hist.append(round(cl, 3))
            print("%-12s step %4d copy-loss %.3f  %.1fs" % (name, step + 1, cl, time.time() - t0), flush=True)
    return hist


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("variants")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    res = {}
    for name in a.variants.split(","):
        res[name] = run(name, VARIANTS[name], a.steps, torch.device(a.device))
    print("SUMMARY (chance = ln 96 = 4.56)")
    for k, h in res.items():
        print("  %-12s %s" % (k, h))


if __name__ == "__main__":
    main()
