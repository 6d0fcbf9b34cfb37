"""GGUF v3 writer/reader (numpy only) and a float64 numpy reference forward.

Writes architecture "llama" with llama.cpp tensor names; PyTorch [out, in] weights
have GGUF dims [in, out] (fastest first) and identical row-major bytes. Norms are
F32; matrices F16 or Q8_0 (blocks of 32: f16 scale d = max|x|/127, int8
round-half-away(x/d)). Alignment 32.

CLI:
  python3 export_gguf.py check MODEL.gguf          # print metadata / tensor table
  python3 export_gguf.py random OUT.gguf [f16|q8_0] # random-weight model (tests)
  python3 export_gguf.py ref MODEL.gguf ID ID ...   # reference logits (top-5 per position)
"""
from __future__ import annotations

import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

GGML_F32, GGML_F16, GGML_Q8_0 = 0, 1, 8
FTYPE = {"f16": 1, "q8_0": 7}
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(13)
ALIGN = 32


# ------------------------------------------------------------------ quantization
def quantize_q8_0(x: np.ndarray) -> bytes:
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = amax / 127.0
    idd = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0.0).astype(np.float32)
    v = x * idd[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)  # roundf: half away from zero
    out = np.empty(x.shape[0], dtype=[("d", "<f2"), ("qs", "i1", (32,))])
    out["d"] = d.astype(np.float16)
    out["qs"] = q
    return out.tobytes()


def dequantize_q8_0(buf: bytes, n: int) -> np.ndarray:
    a = np.frombuffer(buf, dtype=[("d", "<f2"), ("qs", "i1", (32,))], count=n // 32)
    return (a["d"].astype(np.float32)[:, None] * a["qs"].astype(np.float32)).reshape(-1)


# ------------------------------------------------------------------ writer
class Writer:
    def __init__(self):
        self.kv = []
        self.tensors = []  # (name, torch_shape, ggml_type, bytes)

    def add(self, key, vtype, value, atype=None):
        self.kv.append((key, vtype, value, atype))

    def add_tensor(self, name, arr: np.ndarray, gtype):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if gtype == GGML_F32:
            data = arr.astype("<f4").tobytes()
        elif gtype == GGML_F16:
            data = arr.astype("<f2").tobytes()
        elif gtype == GGML_Q8_0:
            assert arr.shape[-1] % 32 == 0, name
            data = quantize_q8_0(arr)
        else:
            raise ValueError(gtype)
        self.tensors.append((name, arr.shape, gtype, data))

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def _val(self, vtype, v, atype=None):
        if vtype == T_STRING:
            return self._str(v)
        if vtype == T_ARRAY:
            out = struct.pack("<IQ", atype, len(v))
            if atype == T_STRING:
                return out + b"".join(self._str(s) for s in v)
            fmt = {T_FLOAT32: "<f4", T_INT32: "<i4", T_UINT32: "<u4"}[atype]
            return out + np.asarray(v, dtype=fmt).tobytes()
        fmt = {T_UINT32: "<I", T_INT32: "<i", T_FLOAT32: "<f", T_BOOL: "<?", T_UINT64: "<Q", T_UINT8: "<B"}[vtype]
        return struct.pack(fmt, v)

    def write(self, path):
        head = bytearray()
        head += b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, vt, v, at in self.kv:
            head += self._str(key) + struct.pack("<I", vt) + self._val(vt, v, at)
        off = 0
        offsets = []
        for name, shape, gtype, data in self.tensors:
            dims = list(reversed(shape))
            head += self._str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
            head += struct.pack("<IQ", gtype, off)
            offsets.append(off)
            off += len(data)
            off = (off + ALIGN - 1) // ALIGN * ALIGN
        pad = (-len(head)) % ALIGN
        with open(path, "wb") as f:
            f.write(head)
            f.write(b"\0" * pad)
            pos = 0
            for (name, shape, gtype, data), o in zip(self.tensors, offsets):
                assert pos == o
                f.write(data)
                pos += len(data)
                p2 = (pos + ALIGN - 1) // ALIGN * ALIGN
                f.write(b"\0" * (p2 - pos))
                pos = p2


TORCH_TO_GGUF = {
    "tok_emb.weight": "token_embd.weight",
    "norm.weight": "output_norm.weight",
    "output.weight": "output.weight",
}
LAYER_MAP = {
    "attn_norm.weight": "attn_norm.weight", "wq.weight": "attn_q.weight", "wk.weight": "attn_k.weight",
    "wv.weight": "attn_v.weight", "wo.weight": "attn_output.weight", "ffn_norm.weight": "ffn_norm.weight",
    "w_gate.weight": "ffn_gate.weight", "w_up.weight": "ffn_up.weight", "w_down.weight": "ffn_down.weight",
}


def gguf_name(torch_name):
    if torch_name in TORCH_TO_GGUF:
        return TORCH_TO_GGUF[torch_name]
    parts = torch_name.split(".")
    assert parts[0] == "layers", torch_name
    return "blk.%s.%s" % (parts[1], LAYER_MAP[".".join(parts[2:])])


def write_model(path, cfg: dict, tok, state: dict, ftype: str, name="starattn-tiny", extra_meta=None):
    """cfg: model.Config.to_dict(); tok: tokenizer.Tokenizer; state: torch-name -> np.float32."""
    w = Writer()
    w.add("general.architecture", T_STRING, "llama")
    w.add("general.name", T_STRING, name)
    w.add("general.alignment", T_UINT32, ALIGN)
    w.add("general.file_type", T_UINT32, FTYPE[ftype])
    w.add("general.quantization_version", T_UINT32, 2)
    for k, v in (extra_meta or {}).items():
        w.add(k, T_STRING, v)
    hd = cfg["dim"] // cfg["n_heads"]
    w.add("llama.vocab_size", T_UINT32, cfg["vocab_size"])
    w.add("llama.context_length", T_UINT32, cfg["context_length"])
    w.add("llama.embedding_length", T_UINT32, cfg["dim"])
    w.add("llama.block_count", T_UINT32, cfg["n_layers"])
    w.add("llama.feed_forward_length", T_UINT32, cfg["ffn_dim"])
    w.add("llama.attention.head_count", T_UINT32, cfg["n_heads"])
    w.add("llama.attention.head_count_kv", T_UINT32, cfg["n_kv_heads"])
    w.add("llama.rope.freq_base", T_FLOAT32, float(cfg["rope_base"]))
    w.add("llama.rope.dimension_count", T_UINT32, hd)
    w.add("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, float(cfg["norm_eps"]))
    w.add("tokenizer.ggml.model", T_STRING, "llama")
    w.add("tokenizer.ggml.tokens", T_ARRAY, tok.tokens, T_STRING)
    w.add("tokenizer.ggml.scores", T_ARRAY, tok.scores, T_FLOAT32)
    w.add("tokenizer.ggml.token_type", T_ARRAY, tok.types, T_INT32)
    w.add("tokenizer.ggml.bos_token_id", T_UINT32, 1)
    w.add("tokenizer.ggml.eos_token_id", T_UINT32, 2)
    w.add("tokenizer.ggml.unknown_token_id", T_UINT32, 0)
    w.add("tokenizer.ggml.add_bos_token", T_BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", T_BOOL, False)
    w.add("tokenizer.ggml.add_space_prefix", T_BOOL, True)
    mat_type = GGML_F16 if ftype == "f16" else GGML_Q8_0
    order = ["tok_emb.weight", "norm.weight", "output.weight"]
    for i in range(cfg["n_layers"]):
        order += ["layers.%d.%s" % (i, k) for k in LAYER_MAP]
    for tn in order:
        if tn not in state:
            continue
        a = state[tn]
        w.add_tensor(gguf_name(tn), a, GGML_F32 if a.ndim == 1 else mat_type)
    w.write(path)


# ------------------------------------------------------------------ reader
def read_gguf(path):
    with open(path, "rb") as f:
        buf = f.read()
    p = 0

    def u(fmt):
        nonlocal p
        v = struct.unpack_from(fmt, buf, p)
        p += struct.calcsize(fmt)
        return v[0]

    def s():
        nonlocal p
        n = u("<Q")
        v = buf[p:p + n].decode("utf-8")
        p += n
        return v

    def val(t):
        if t == T_STRING:
            return s()
        if t == T_ARRAY:
            at, n = u("<I"), u("<Q")
            return [val(at) for _ in range(n)]
        fmt = {T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h", T_UINT32: "<I", T_INT32: "<i",
               T_FLOAT32: "<f", T_BOOL: "<?", T_UINT64: "<Q", T_INT64: "<q", T_FLOAT64: "<d"}[t]
        return u(fmt)

    assert buf[:4] == b"GGUF"
    p = 4
    ver, nt, nkv = u("<I"), u("<Q"), u("<Q")
    meta = {}
    for _ in range(nkv):
        k = s()
        meta[k] = val(u("<I"))
    infos = []
    for _ in range(nt):
        name = s()
        nd = u("<I")
        dims = [u("<Q") for _ in range(nd)]
        gt, off = u("<I"), u("<Q")
        infos.append((name, dims, gt, off))
    align = meta.get("general.alignment", 32)
    data0 = (p + align - 1) // align * align
    tensors = {}
    for name, dims, gt, off in infos:
        n = int(np.prod(dims))
        o = data0 + off
        if gt == GGML_F32:
            a = np.frombuffer(buf, "<f4", n, o).astype(np.float32)
        elif gt == GGML_F16:
            a = np.frombuffer(buf, "<f2", n, o).astype(np.float32)
        elif gt == GGML_Q8_0:
            a = dequantize_q8_0(buf[o:o + n // 32 * 34], n)
        else:
            raise ValueError(gt)
        tensors[name] = (a.reshape(list(reversed(dims))), gt, dims)
    return meta, tensors


# ------------------------------------------------------------------ reference forward
def ref_forward(meta, tensors, ids):
    """float64 forward over ids (positions 0..T-1), llama.cpp semantics. Returns logits [T, V]."""
    g = lambda n: tensors[n][0].astype(np.float64)
    D = meta["llama.embedding_length"]
    H = meta["llama.attention.head_count"]
    KV = meta["llama.attention.head_count_kv"]
    L = meta["llama.block_count"]
    eps = meta["llama.attention.layer_norm_rms_epsilon"]
    base = meta["llama.rope.freq_base"]
    hd = D // H
    T = len(ids)
    x = g("token_embd.weight")[ids]

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * w

    pos = np.arange(T, dtype=np.float64)
    theta = base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = pos[:, None] * theta[None, :]
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(v):  # [T, h, hd]
        v0, v1 = v[..., 0::2], v[..., 1::2]
        c, s_ = cos[:, None, :], sin[:, None, :]
        out = np.empty_like(v)
        out[..., 0::2] = v0 * c - v1 * s_
        out[..., 1::2] = v0 * s_ + v1 * c
        return out

    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        pre = "blk.%d." % l
        h = rms(x, g(pre + "attn_norm.weight"))
        q = rope((h @ g(pre + "attn_q.weight").T).reshape(T, H, hd))
        k = rope((h @ g(pre + "attn_k.weight").T).reshape(T, KV, hd))
        v = (h @ g(pre + "attn_v.weight").T).reshape(T, KV, hd)
        o = np.empty((T, H, hd))
        for hh in range(H):
            kv = hh // (H // KV)
            sc = q[:, hh] @ k[:, kv].T / np.sqrt(hd) + mask
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            sc /= sc.sum(-1, keepdims=True)
            o[:, hh] = sc @ v[:, kv]
        x = x + o.reshape(T, H * hd) @ g(pre + "attn_output.weight").T
        h = rms(x, g(pre + "ffn_norm.weight"))
        gt = h @ g(pre + "ffn_gate.weight").T
        up = h @ g(pre + "ffn_up.weight").T
        x = x + (gt / (1 + np.exp(-gt)) * up) @ g(pre + "ffn_down.weight").T
    x = rms(x, g("output_norm.weight"))
    out_w = g("output.weight") if "output.weight" in tensors else g("token_embd.weight")
    return x @ out_w.T


def random_state(cfg, seed=0, std=0.05):
    rng = np.random.default_rng(seed)
    D, hd = cfg["dim"], cfg["dim"] // cfg["n_heads"]
    st = {"tok_emb.weight": rng.normal(0, 1.0, (cfg["vocab_size"], D)),
          "norm.weight": 1 + 0.1 * rng.normal(size=D),
          "output.weight": rng.normal(0, std, (cfg["vocab_size"], D))}
    for i in range(cfg["n_layers"]):
        p = "layers.%d." % i
        st[p + "attn_norm.weight"] = 1 + 0.1 * rng.normal(size=D)
        st[p + "ffn_norm.weight"] = 1 + 0.1 * rng.normal(size=D)
        st[p + "wq.weight"] = rng.normal(0, 0.15, (cfg["n_heads"] * hd, D))
        st[p + "wk.weight"] = rng.normal(0, 0.15, (cfg["n_kv_heads"] * hd, D))
        st[p + "wv.weight"] = rng.normal(0, std, (cfg["n_kv_heads"] * hd, D))
        st[p + "wo.weight"] = rng.normal(0, std, (D, cfg["n_heads"] * hd))
        st[p + "w_gate.weight"] = rng.normal(0, std, (cfg["ffn_dim"], D))
        st[p + "w_up.weight"] = rng.normal(0, std, (cfg["ffn_dim"], D))
        st[p + "w_down.weight"] = rng.normal(0, std, (D, cfg["ffn_dim"]))
    return {k: v.astype(np.float32) for k, v in st.items()}


def main():
    sys.path.insert(0, HERE)
    cmd = sys.argv[1]
    if cmd == "check":
        meta, tensors = read_gguf(sys.argv[2])
        for k, v in meta.items():
            if isinstance(v, list):
                v = "[%d items] %s" % (len(v), v[:5])
            print(k, "=", v)
        for n, (a, gt, dims) in tensors.items():
            print(n, dims, gt)
    elif cmd == "random":
        from tokenizer import Tokenizer
        tok = Tokenizer.load()
        cfg = dict(vocab_size=tok.n_vocab, dim=128, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=256,
                   rope_base=10000.0, norm_eps=1e-5, context_length=4096)
        if len(sys.argv) > 4:
            cfg.update(json.loads(sys.argv[4]))
        write_model(sys.argv[2], cfg, tok, random_state(cfg), sys.argv[3] if len(sys.argv) > 3 else "f16",
                    name="starattn-random-test")
        print("wrote", sys.argv[2])
    elif cmd == "ref":
        meta, tensors = read_gguf(sys.argv[2])
        ids = [int(x) for x in sys.argv[3:]]
        lg = ref_forward(meta, tensors, ids)
        print(json.dumps({"logits_last": lg[-1].tolist(), "argmax": lg.argmax(-1).tolist()}))


if __name__ == "__main__":
    main()
