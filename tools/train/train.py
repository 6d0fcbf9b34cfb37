"""Train the starattn tiny long-context model, export GGUF, evaluate held-out samples.

One command does everything (see README.md); all outputs go to --out:
  train.log (via tee), metrics.json, heldout.jsonl, starattn-tiny-q8_0.gguf,
  starattn-tiny-f16.gguf (split into .partN files when larger than --max-file-mib).

Time-boxed by wall clock: training stops after --train-seconds; the learning-rate
schedule (warmup + cosine) and the length curriculum are functions of the elapsed
fraction of that time. Batch contents are seeded per step ("train-{seed}-{step}"),
held-out samples per (task, length, index) ("heldout-{task}-{length}-{i}").
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import queue
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import data as D  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402

T0 = time.time()


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


# ------------------------------------------------------------------ data workers
def worker_main(wid, req_q, res_q, mixes, hard_values=0.0, corpus="", prose_mid=0.0):
    tok = Tokenizer.load()
    gen = D.Gen(tok, D.Grammar.load(), hard_values=hard_values, prose_mid=prose_mid)
    if corpus:
        gen.load_corpus(corpus)
    while True:
        req = req_q.get()
        if req is None:
            return
        step, seed, L, B, phase = req
        arr, info = D.make_batch(gen, seed, L, B, mixes[phase])
        res_q.put((step, arr, info))


PROSE_ID = D.TASK_ID["prose"]
BUCKETS = [256, 512, 1024, 2048, 4096, 8192, 12288, 16384]
CURRICULA = {
    # stage 1 (first run, from scratch): never shorter than 1K
    "stage1": [(0.12, [0, 0, 1, 1, 0, 0, 0, 0]), (0.25, [0, 0, 1, 2, 2, 0, 0, 0]), (0.4, [0, 0, 1, 1, 2, 2, 0, 0]),
               (1.01, [0, 0, 0.6, 0.8, 1.2, 1.2, 1.0, 1.4])],
    # stage 2 (continued): very short contexts first, where retrieval is found quickly
    "short_first": [(0.25, [1, 1, 0, 0, 0, 0, 0, 0]), (0.45, [0.5, 1, 1, 1, 0, 0, 0, 0]),
                    (0.65, [0.3, 0.5, 1, 1, 1, 1, 0, 0]), (1.01, [0.2, 0.3, 0.5, 0.8, 1.2, 1.2, 1.0, 1.4])],
    # run 6 (continued from run 5): mostly 8K-16K, where multikey_2/3 fall off (draws: 2K 6 %, 4K 13 %, 8K-16K 81 %)
    "long": [(1.01, [0, 0, 0, 0.3, 0.6, 1.2, 1.2, 1.4])],
}


def pick_length(rng, p, max_len, curriculum="short_first"):
    for pe, w in CURRICULA[curriculum]:
        if p < pe:
            break
    cand = [(b, x) for b, x in zip(BUCKETS, w) if b <= max_len and x > 0]
    if not cand:
        return max_len
    return rng.choices([c[0] for c in cand], [c[1] for c in cand])[0]


def grow_plan(old, new):
    """Where each of `old` layers goes among `new` (new > old): in order, with the new layers spread evenly between
    them (after old layer i when floor((i + 1) * extra / old) grows), e.g. 8 -> 12: after old layers 1, 3, 5, 7."""
    extra = new - old
    if extra <= 0:
        raise SystemExit("--grow-from %d needs --layers above it (got %d)" % (old, new))
    place, j = [], 0
    for i in range(old):
        place.append(j)
        j += 1 + ((i + 1) * extra // old - i * extra // old)
    return place


def renumber(gguf_name, place):
    """A GGUF tensor name of the old model with its layer moved where grow_plan put it."""
    parts = gguf_name.split(".")
    if parts[0] != "blk":
        return gguf_name
    parts[1] = str(place[int(parts[1])])
    return ".".join(parts)


def sink_summary(model, tok, args):
    """sinks.py's report (attention mass on BOS per layer and head, and on an anchor-less block's first token) for a
    niah_single_1 prompt and, with --corpus, a window of the natural text; both --sink-eval tokens long."""
    import sinks
    n = args.sink_eval
    gen = D.Gen(tok, D.Grammar.load())
    s = gen.sample("niah_single_1", random.Random("sinks-%d" % n), n - 40, L=n, eval_mode=True)
    prompts = {"niah_single_1": [1] + s.ctx_ids + s.query_ids}
    if args.corpus:
        gen.load_corpus(args.corpus)
        prompts["prose"] = [1] + gen.corpus_window(random.Random("sinks-prose"), n - 1)
    was = model.training
    model.eval()
    out = {}
    for name, ids in prompts.items():
        out[name] = sinks.report(model, ids, n // 4)
        r = out[name]
        log("sinks %-13s mean BOS %.4f (uniform %.4f) heads BOS>0.5: %d  block(no anchor) first-token %.4f heads>0.5: %d"
            % (name, r["mean_bos"], r["uniform_bos"], r["heads_bos_over_half"], r.get("block_mean_first", -1),
               r.get("block_heads_first_over_half", -1)))
    model.train(was)
    return out


def lr_at(p, peak, warm=0.03, final=0.1):
    if p < warm:
        return peak * max(p / warm, 0.02)
    q = min(1.0, (p - warm) / (1 - warm))
    return peak * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * q)))


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "out"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--train-seconds", type=float, default=445)
    ap.add_argument("--deadline", type=float, default=560, help="seconds after start by which everything must be written")
    ap.add_argument("--tokens-per-step", type=int, default=196608, help="for L >= 4096; 64K for L <= 512, 128K up to 2048")
    ap.add_argument("--curriculum", default="short_first", choices=sorted(CURRICULA))
    ap.add_argument("--mix", default="default", choices=["default", "stage1"])
    ap.add_argument("--init-gguf", default="", help="start from the weights of a GGUF (F16) written by this script")
    ap.add_argument("--warmup", type=float, default=0.03)
    ap.add_argument("--mix-json", default="", help="override the task mixture, e.g. '{\"copy\": 1}'")
    ap.add_argument("--warm-frac", type=float, default=0.0, help="fraction of the time that uses --warm-mix-json")
    ap.add_argument("--warm-mix-json", default="", help="mixture of the first --warm-frac (default data.WARM_MIX)")
    ap.add_argument("--tps-short", type=int, default=65536, help="tokens per step for L <= 512")
    ap.add_argument("--tps-mid", type=int, default=131072, help="tokens per step for 512 < L <= 2048")
    ap.add_argument("--max-len", type=int, default=16384)
    ap.add_argument("--hard-values", type=float, default=0.0,
                    help="training batches: share of needle-haystack values (uuids, numbers) that share characters with a needle's value (data.confusable_value)")
    ap.add_argument("--corpus", default="", help="corpus_ids.npz of corpus.py: natural text for the 'prose' task")
    ap.add_argument("--prose-weight", type=float, default=1.0, help="loss weight of a prose row (mean over its tokens)")
    ap.add_argument("--prose-mid", type=float, default=0.0,
                    help="share of prose rows that start at a random token of the corpus without BOS (packed pre-training rows)")
    ap.add_argument("--sink-eval", type=int, default=2048, help="after training: attention mass on BOS over this many tokens (sinks.py); 0 = off")
    ap.add_argument("--lr", type=float, default=2.5e-3)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 4) - 2))
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--rope-base", type=float, default=1000000.0)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-lengths", default="4096,16384")
    ap.add_argument("--eval-n", type=int, default=25)
    ap.add_argument("--eval-first", type=int, default=0, help="first held-out sample index (a later range is a fresh set)")
    ap.add_argument("--grow-from", type=int, default=0,
                    help="the --init-gguf model has this many layers, fewer than --layers: its layers keep their order and "
                         "the extra ones are inserted evenly between them as identity layers (output projections zero), "
                         "so training resumes from the same function with more depth")
    ap.add_argument("--average-gguf", action="append", default=[],
                    help="F16 GGUF(s) of the same shape averaged uniformly with --init-gguf (checkpoint averaging)")
    ap.add_argument("--eval-group", type=int, default=2, help="sample indices decoded together (x tasks)")
    ap.add_argument("--eval-text-n", default="4096:25,16384:6", help="samples per length whose texts are stored")
    ap.add_argument("--eval-tasks", default="niah_single_1,niah_single_2,niah_single_3,niah_multikey_1,niah_multikey_2,niah_multikey_3,niah_multivalue,niah_multiquery,vt,cwe,fwe")
    ap.add_argument("--extra-eval", default="24576:6:niah_single_1,niah_single_2,niah_multikey_1")
    ap.add_argument("--max-file-mib", type=float, default=15.5)
    ap.add_argument("--bench", action="store_true", help="after everything: time eager vs compiled steps")
    ap.add_argument("--bench-tokens", type=int, default=262144)
    ap.add_argument("--bench-deadline", type=float, default=220)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    # workers first (fork before CUDA is initialised)
    mix = dict(D.DEFAULT_MIX if args.mix == "default" else D.STAGE1_MIX)
    if args.mix_json:
        mix = json.loads(args.mix_json)
    ctx = mp.get_context("fork")
    req_q, res_q = ctx.Queue(), ctx.Queue(maxsize=4 * args.workers)
    mixes = {"main": mix, "warm": json.loads(args.warm_mix_json) if args.warm_mix_json else dict(D.WARM_MIX)}
    procs = [ctx.Process(target=worker_main, args=(i, req_q, res_q, mixes, args.hard_values, args.corpus, args.prose_mid), daemon=True) for i in range(args.workers)]
    for p in procs:
        p.start()

    import torch
    import torch.nn.functional as F
    from model import Config, Transformer
    import export_gguf as E

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    dev = torch.device(args.device)
    on_cuda = dev.type == "cuda"
    gpu_name = torch.cuda.get_device_name(0) if on_cuda else "cpu"
    log("torch", torch.__version__, "device", gpu_name, "workers", args.workers)
    tok = Tokenizer.load()
    cfg = Config(vocab_size=tok.n_vocab, dim=args.dim, n_layers=args.layers, n_heads=args.heads,
                 n_kv_heads=args.kv_heads, ffn_dim=args.ffn, rope_base=args.rope_base)
    model = Transformer(cfg).to(dev)
    if args.init_gguf:
        _, tens = E.read_gguf(args.init_gguf)
        place = grow_plan(args.grow_from, args.layers) if args.grow_from else list(range(args.layers))
        inv = {E.gguf_name(k): k for k in model.state_dict()}
        sd = {inv[renumber(n, place)]: torch.from_numpy(np.ascontiguousarray(a)) for n, (a, gt, dims) in tens.items()}
        if args.average_gguf:
            for extra in args.average_gguf:
                _, t2 = E.read_gguf(extra)
                for n, (a, gt, dims) in t2.items():
                    sd[inv[n]] = sd[inv[n]] + torch.from_numpy(np.ascontiguousarray(a))
            sd = {k: v / (1 + len(args.average_gguf)) for k, v in sd.items()}
        if args.grow_from:
            fresh = set(range(args.layers)) - set(place)
            with torch.no_grad():
                for j in fresh:  # the layer's own random init, but it adds nothing to the residual stream yet
                    model.layers[j].wo.weight.zero_()
                    model.layers[j].w_down.weight.zero_()
            own = model.state_dict()
            for k, v in own.items():
                if k not in sd:
                    sd[k] = v.detach().cpu()
            log("grown from %d to %d layers: old layers at %s, identity layers at %s" % (args.grow_from, args.layers, place, sorted(fresh)))
        model.load_state_dict(sd, strict=True)
        log("initialised from", args.init_gguf, *(["averaged with"] + args.average_gguf if args.average_gguf else []))
    log("config", json.dumps(cfg.to_dict()), "params %.2fM" % (model.n_params() / 1e6))
    sinks_before = sink_summary(model, tok, args) if args.sink_eval else {}
    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and "tok_emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim == 2 and "tok_emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, **({"fused": True} if on_cuda else {}))
    fwd = torch.compile(model, dynamic=True) if args.compile else model
    V = cfg.vocab_size

    # ---------------------------------------------------------------- training
    sched_rng = random.Random("curriculum-%d" % args.seed)
    inflight = {}
    ready = {}
    next_req = 0
    t_train0 = time.time()

    def elapsed_frac():  # --train-seconds 0: no training (export and evaluate the initial weights)
        return (time.time() - t_train0) / args.train_seconds if args.train_seconds > 0 else 1.0

    def issue():
        nonlocal next_req
        p = elapsed_frac()
        L = pick_length(sched_rng, p, args.max_len, args.curriculum)
        tps = args.tps_short if L <= 512 else (args.tps_mid if L <= 2048 else args.tokens_per_step)
        B = max(1, tps // L)
        phase = "warm" if p < args.warm_frac else "main"
        req_q.put((next_req, "train-%d-%d" % (args.seed, next_req), L, B, phase))
        inflight[next_req] = (L, B)
        next_req += 1

    for _ in range(2 * args.workers):
        issue()

    hist = []
    n_tasks = len(D.TASKS)
    acc_ok = torch.zeros(n_tasks, device=dev)
    acc_n = torch.zeros(n_tasks, device=dev)
    loss_acc = torch.zeros((), device=dev)
    ans_loss_acc = torch.zeros((), device=dev)
    lm_loss_acc = torch.zeros(4, device=dev)  # lm+prose loss sum, tokens; prose alone
    tokens_seen = 0
    step = 0
    wait_time = 0.0
    t_last = time.time()
    pos_cache = {}
    model.train()
    while True:
        p = elapsed_frac()
        if p >= 1.0:
            break
        tw = time.time()
        while step not in ready:
            s_, arr, info = res_q.get()
            ready[s_] = (arr, info)
        wait_time += time.time() - tw
        arr, info = ready.pop(step)
        inflight.pop(step, None)
        issue()
        lr = lr_at(p, args.lr, warm=args.warmup)
        for gparam in opt.param_groups:
            gparam["lr"] = lr
        B, L1 = arr.shape
        L = L1 - 1
        x = torch.from_numpy(arr)
        x = (x.pin_memory() if on_cuda else x).to(dev, non_blocking=True).long()
        inf = torch.from_numpy(info).to(dev, non_blocking=True).long()
        inp, tgt = x[:, :-1], x[:, 1:]
        j = pos_cache.get(L)
        if j is None:
            j = pos_cache[L] = torch.arange(L, device=dev)[None, :]
        task, n, a0, a1 = inf[:, 0:1], inf[:, 1:2], inf[:, 2:3], inf[:, 3:4]
        is_prose = task == PROSE_ID
        is_lm = (task == 0) | is_prose
        ans_m = (~is_lm) & (j >= a0 - 1) & (j < a1 - 1)
        ctx_m = (~is_lm) & (j < a0 - 1)
        lm_m = is_lm & (j < n - 1)
        lm_w = 0.5 + (args.prose_weight - 0.5) * is_prose.float()
        w = (ans_m.float() / (a1 - a0).clamp(min=1).float()
             + 0.1 * ctx_m.float() / (a0 - 1).clamp(min=1).float()
             + lm_w * lm_m.float() / (n - 1).clamp(min=1).float())
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            logits = fwd(inp)
        ce = F.cross_entropy(logits.float().view(-1, V), tgt.reshape(-1), reduction="none").view(B, L)
        loss = (ce * w).sum() / B
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            pred = logits.argmax(-1)
            wrong = ((pred != tgt) & ans_m).any(1)
            tid = task[:, 0]
            acc_n.index_add_(0, tid, (~is_lm[:, 0]).float())
            acc_ok.index_add_(0, tid, ((~wrong) & (~is_lm[:, 0])).float())
            loss_acc += loss.detach()
            ans_loss_acc += (ce * ans_m).sum() / ans_m.sum().clamp(min=1)
            lm_loss_acc[0] += (ce * lm_m).sum()
            lm_loss_acc[1] += lm_m.sum()
            pm = lm_m & is_prose
            lm_loss_acc[2] += (ce * pm).sum()
            lm_loss_acc[3] += pm.sum()
        tokens_seen += int(info[:, 1].sum())
        step += 1
        if step % args.log_every == 0 or step == 1:
            k = 1 if step == 1 else args.log_every
            dt = time.time() - t_last
            t_last = time.time()
            accs = {D.TASKS[i]: round(float(acc_ok[i] / acc_n[i]), 3) for i in range(1, n_tasks) if acc_n[i] > 0}
            rec = dict(step=step, t=round(time.time() - t_train0, 1), p=round(p, 3), L=L, B=B, lr=lr,
                       loss=round(float(loss_acc) / k, 4), ans_loss=round(float(ans_loss_acc) / k, 4),
                       lm_loss=round(float(lm_loss_acc[0] / lm_loss_acc[1].clamp(min=1)), 4),
                       prose_loss=round(float(lm_loss_acc[2] / lm_loss_acc[3].clamp(min=1)), 4),
                       gnorm=round(float(gn), 3), tokens=tokens_seen, tok_per_s=round(tokens_seen / (time.time() - t_train0)),
                       step_s=round(dt / k, 3), data_wait_s=round(wait_time, 1),
                       mem_gb=round(torch.cuda.max_memory_allocated() / 2 ** 30, 1) if on_cuda else 0, tf_acc=accs)
            hist.append(rec)
            log("step", json.dumps(rec))
            acc_ok.zero_(); acc_n.zero_(); loss_acc.zero_(); ans_loss_acc.zero_(); lm_loss_acc.zero_()
    train_time = time.time() - t_train0
    log("training done: steps %d tokens %d time %.1fs data-wait %.1fs" % (step, tokens_seen, train_time, wait_time))
    req_q.cancel_join_thread()
    res_q.cancel_join_thread()
    for pr in procs:
        pr.terminate()
    if step > 0:
        del logits, ce, loss
    if on_cuda:
        torch.cuda.empty_cache()

    # ---------------------------------------------------------------- export
    model.eval()
    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    cfgd = cfg.to_dict()
    paths = {}
    for ft in ("q8_0", "f16"):
        pth = os.path.join(args.out, "starattn-tiny-%s.gguf" % ft)
        E.write_model(pth, cfgd, tok, state, ft, extra_meta={"general.description": "starattn tiny long-context model (Star Attention tests); base template, see MODEL_CARD.md"})
        paths[ft] = pth
        log("wrote", pth, "%.2f MiB" % (os.path.getsize(pth) / 2 ** 20))

    # check: torch fp32 vs float64 numpy reference (fp32 weights) vs Q8_0 file
    check = {}
    with torch.no_grad():
        rng = random.Random("refcheck")
        gen = D.Gen(tok, D.Grammar.load())
        s = gen.sample("niah_single_1", rng, 200, L=328)
        ids = [1] + s.ctx_ids + s.query_ids + s.ans_ids
        tl = model.float()(torch.tensor([ids], device=dev))[0].double().cpu().numpy()
        tens = {E.gguf_name(k): (v, 0, None) for k, v in state.items()}
        meta = {"llama.embedding_length": cfg.dim, "llama.attention.head_count": cfg.n_heads,
                "llama.attention.head_count_kv": cfg.n_kv_heads, "llama.block_count": cfg.n_layers,
                "llama.attention.layer_norm_rms_epsilon": cfg.norm_eps, "llama.rope.freq_base": cfg.rope_base}
        rl = E.ref_forward(meta, tens, ids)
        m8, t8 = E.read_gguf(paths["q8_0"])
        ql = E.ref_forward(m8, t8, ids)
        check = dict(n=len(ids), torch_vs_ref_maxabs=float(np.abs(tl - rl).max()), logit_scale=float(np.abs(rl).max()),
                     argmax_agree_torch_ref=float((tl.argmax(-1) == rl.argmax(-1)).mean()),
                     argmax_agree_q8_ref=float((ql.argmax(-1) == rl.argmax(-1)).mean()),
                     q8_vs_ref_maxabs=float(np.abs(ql - rl).max()))
        log("export check", json.dumps(check))
    # keep fp32 weights for eval in bf16 autocast (as in training)
    sinks_after = sink_summary(model, tok, args) if args.sink_eval else {}

    # ---------------------------------------------------------------- held-out eval
    eval_tasks = args.eval_tasks.split(",")
    lengths = [int(x) for x in args.eval_lengths.split(",") if x]
    text_n = {int(a): int(b) for a, b in (x.split(":") for x in args.eval_text_n.split(",") if x)}
    groups = []  # each group: list of (task, L, i), decoded together
    last = args.eval_first + args.eval_n
    for i0 in range(args.eval_first, last, args.eval_group):
        for L in lengths:
            groups.append([(t, L, i) for i in range(i0, min(last, i0 + args.eval_group)) for t in eval_tasks])
    if args.extra_eval:
        Lx, nx, tx = args.extra_eval.split(":")
        for i0 in range(0, int(nx), args.eval_group):
            groups.append([(t, int(Lx), i) for i in range(i0, min(int(nx), i0 + args.eval_group)) for t in tx.split(",")])
    gen = D.Gen(tok, D.Grammar.load())
    results = {}
    hpath = os.path.join(args.out, "heldout.jsonl")
    hf = open(hpath, "w", encoding="utf-8")
    t_eval0 = time.time()
    n_done = 0
    for grp in groups:
        if time.time() - T0 > args.deadline - 15:
            log("eval stopped by deadline after %d samples" % n_done)
            break
        samples, prompts, max_news, seeds = [], [], [], []
        for (t, L, i) in grp:
            seed = "heldout-%s-%d-%d" % (t, L, i)
            G = D.gen_budget(t)
            s = gen.sample(t, random.Random(seed), L - G, L=L, eval_mode=True)
            samples.append(s)
            seeds.append(seed)
            prompts.append([1] + s.ctx_ids + s.query_ids)
            max_news.append(min(G, len(s.ans_ids) + 24))
        outs = model.generate_batch(prompts, max_news)
        for (t, L, i), s, seed, prompt, max_new, out in zip(grp, samples, seeds, prompts, max_news, outs):
            G = D.gen_budget(t)
            text = tok.decode([x for x in out if x != 2])
            pred = text.strip()
            score = sum(o.lower() in pred.lower() for o in s.outputs) / len(s.outputs)
            results.setdefault((t, L), []).append(score)
            rec = dict(task=t, length=L, index=i, seed=seed, n_prompt_tokens=len(prompt), n_context_tokens=len(s.ctx_ids),
                       n_query_tokens=len(s.query_ids), gen_budget=G, max_new=max_new,
                       outputs=s.outputs, answer_text=s.answer, pred=pred, pred_ids=out, score=score)
            if i < text_n.get(L, 0) and hf.tell() < (args.max_file_mib - 1) * 2 ** 20:
                rec["input_context"] = s.input_context
                rec["input_query"] = s.input_query
            hf.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n_done += 1
        hf.flush()
    hf.close()
    summary = {}
    for (t, L), v in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        summary["%s@%d" % (t, L)] = dict(n=len(v), score=round(100 * sum(v) / len(v), 1))
    log("held-out eval: %d samples in %.1fs" % (n_done, time.time() - t_eval0))
    for k, v in summary.items():
        log("  %-28s n=%3d  score=%5.1f" % (k, v["n"], v["score"]))

    # split the F16 file if it is too large to come back in one piece
    parts = []
    lim = int(args.max_file_mib * 2 ** 20)
    if os.path.getsize(paths["f16"]) > lim:
        with open(paths["f16"], "rb") as f:
            k = 0
            while True:
                b = f.read(lim)
                if not b:
                    break
                pp = paths["f16"] + ".part%d" % k
                with open(pp, "wb") as g:
                    g.write(b)
                parts.append(os.path.basename(pp))
                k += 1
        os.remove(paths["f16"])
        log("split F16 into", parts)
    metrics = dict(config=cfg.to_dict(), n_params=model.n_params(), args=vars(args), steps=step, tokens=tokens_seen,
                   train_seconds=round(train_time, 1), data_wait_seconds=round(wait_time, 1),
                   gpu=gpu_name, torch=torch.__version__, history=hist, export_check=check,
                   heldout=summary, f16_parts=parts, sinks_before=sinks_before, sinks_after=sinks_after, total_seconds=round(time.time() - T0, 1))
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    log("all done")

    if args.bench:
        try:
            bench(model, cfg, args, dev)
        except Exception as e:  # the bench must not lose the results above
            log("bench failed:", repr(e))
    sys.stdout.flush()
    os._exit(0)


def bench(model, cfg, args, dev):
    """Time training steps, eager vs torch.compile(dynamic=True), on random tokens."""
    import torch
    import torch.nn.functional as F
    model.train().float()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)

    def run(fwd, L, B, n):
        x = torch.randint(3, cfg.vocab_size, (B, L + 1), device=dev)
        ts = []
        for i in range(n):
            torch.cuda.synchronize()
            t = time.time()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                lg = fwd(x[:, :-1])
            loss = F.cross_entropy(lg.float().view(-1, cfg.vocab_size), x[:, 1:].reshape(-1))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            ts.append(time.time() - t)
        return ts

    res = {}
    for L in (1024, 4096, 16384):
        B = args.bench_tokens // L
        ts = run(model, L, B, 4)
        res["eager_%d" % L] = [round(t, 3) for t in ts]
        log("bench eager L=%d B=%d" % (L, B), res["eager_%d" % L])
    cm = torch.compile(model, dynamic=True)
    for L in (4096, 16384, 1024):
        if time.time() - T0 > args.bench_deadline:
            break
        B = args.bench_tokens // L
        ts = run(cm, L, B, 4)
        res["compiled_%d" % L] = [round(t, 3) for t in ts]
        log("bench compiled L=%d B=%d" % (L, B), res["compiled_%d" % L])
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
