# Tiny random Hugging Face models of every family starattn accepts, saved by transformers, with their
# own logits: the oracle the family tests compare with. The forward pass is transformers' own in
# float64 over the whole sequence (causal, so each position's logits are those of a per-token
# recompute); the weights are saved in bfloat16, which float64 holds exactly.
#
#   python3 hf_families.py OUTDIR
#
# For each family OUTDIR/NAME/ holds what save_pretrained wrote (config.json in the style of the
# transformers that ran it), config.v4.json and config.v5.json (the same model in the two RoPE config
# styles: rope_theta + rope_scaling as 4.x wrote it, rope_parameters as 5.x does), ref_tokens.txt and
# ref_logits.f32 (the float64 logits rounded to little-endian float32, positions x vocab).
import json, os, sys
import torch
import transformers as tf

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
VOCAB, SEQ = 320, 40   # 320: room for the byte tokens of the GGUF tests' tokenizer (RandomLlamaModel.vocabulary)
common = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=4096, rms_norm_eps=1e-6, initializer_range=0.1, attn_implementation="eager",
              bos_token_id=1, eos_token_id=2, pad_token_id=0)

def rope_v5(theta, scaling):
    p = {"rope_type": "default", "rope_theta": theta}
    if scaling: p = dict(scaling, rope_theta=theta)
    return p

specs = {
    # Llama 3.2: tied output, llama3 RoPE scaling.
    "llama3.2": (tf.LlamaConfig, dict(num_hidden_layers=2, tie_word_embeddings=True, head_dim=16),
                 500000.0, {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                            "original_max_position_embeddings": 64}, {}),
    # Qwen2.5: Q/K/V biases, tied output (as the 0.5B/1.5B/3B are).
    "qwen2.5": (tf.Qwen2Config, dict(num_hidden_layers=2, tie_word_embeddings=True), 1000000.0, None, {}),
    # Qwen3: per-head RMSNorm on q and k, head_dim not hidden/heads.
    "qwen3": (getattr(tf, "Qwen3Config", None), dict(num_hidden_layers=2, head_dim=12, tie_word_embeddings=False,
                                                     attention_bias=False), 1000000.0, None, {}),
    # Gemma 2: +1 norms, sqrt(dim) embedding scale, GeGLU tanh, pre/post norms, soft caps,
    # query_pre_attn_scalar, sliding window on every other layer.
    "gemma2": (getattr(tf, "Gemma2Config", None), dict(num_hidden_layers=2, head_dim=16, query_pre_attn_scalar=24,
                                                      sliding_window=8, attn_logit_softcapping=50.0,
                                                      final_logit_softcapping=30.0, hidden_activation="gelu_pytorch_tanh"),
               10000.0, None, {}),
    # Gemma 3 text: q/k norms, 5 sliding layers to 1 full, local and global RoPE bases, linear scaling on global.
    # query_pre_attn_scalar is the head size, as llama.cpp assumes for GGUF gemma3 (gemma2 above tests another).
    "gemma3": (getattr(tf, "Gemma3TextConfig", None), dict(num_hidden_layers=6, head_dim=16, query_pre_attn_scalar=16,
                                                          sliding_window=8, hidden_activation="gelu_pytorch_tanh"),
               1000000.0, {"rope_type": "linear", "factor": 8.0}, {"local_theta": 10000.0}),
}

def v4_and_v5(cfg_json, theta, scaling, extra):
    c4 = {k: v for k, v in cfg_json.items() if k not in ("rope_parameters", "rope_scaling", "rope_theta", "rope_local_base_freq")}
    c5 = dict(c4)
    # Hub configs written by 4.x state Gemma's layer kinds by rule, not as layer_types: Gemma 2 alternates
    # (even layers sliding), Gemma 3 has every sliding_window_pattern-th layer full.
    if cfg_json["model_type"] in ("gemma2", "gemma3_text"):
        types = c4.pop("layer_types")
        c4.pop("_sliding_window_pattern", None)
        c5.pop("_sliding_window_pattern", None)
        if cfg_json["model_type"] == "gemma3_text":
            c4["sliding_window_pattern"] = types.index("full_attention") + 1
    c4["rope_theta"] = theta
    c4["rope_scaling"] = scaling
    if "local_theta" in extra:
        c4["rope_local_base_freq"] = extra["local_theta"]
        c5["rope_parameters"] = {"full_attention": rope_v5(theta, scaling),
                                 "sliding_attention": {"rope_type": "default", "rope_theta": extra["local_theta"]}}
    else:
        c5["rope_parameters"] = rope_v5(theta, scaling)
    return c4, c5

torch.manual_seed(0)
for name, (cls, kw, theta, scaling, extra) in specs.items():
    if cls is None:
        print("skip", name, "(this transformers lacks it)"); continue
    d = os.path.join(out, name); os.makedirs(d, exist_ok=True)
    args = dict(common, **kw)
    major = int(tf.__version__.split(".")[0])
    if major >= 5:
        args["rope_parameters"] = ({"full_attention": rope_v5(theta, scaling),
                                    "sliding_attention": {"rope_type": "default", "rope_theta": extra["local_theta"]}}
                                   if "local_theta" in extra else rope_v5(theta, scaling))
    else:
        args["rope_theta"] = theta; args["rope_scaling"] = scaling
        if "local_theta" in extra: args["rope_local_base_freq"] = extra["local_theta"]
    cfg = cls(**args)
    m = tf.AutoModelForCausalLM.from_config(cfg).float().eval()
    gemma = name.startswith("gemma")
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "norm" in n:   # norms around their identity: 1 for Llama/Qwen, 0 for Gemma's (1 + w)
                p.copy_((0.0 if gemma else 1.0) + 0.1 * torch.randn_like(p))
            elif n.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
    # Saved in bfloat16 to keep the committed fixtures small; the reference below runs on exactly those values.
    m = m.to(torch.bfloat16)
    m.save_pretrained(d, safe_serialization=True)
    # The reference model is loaded back from what was saved, in float64: casting the bf16 model up instead
    # would keep RoPE's inverse frequencies (a buffer) rounded to bf16.
    md = tf.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float64, attn_implementation="eager").eval()
    for f in ("config.json", "generation_config.json"):   # the tests use config.v4.json / config.v5.json
        os.remove(os.path.join(d, f))
    saved = json.loads(cfg.to_json_string())
    c4, c5 = v4_and_v5(saved, theta, scaling, extra)
    json.dump(c4, open(os.path.join(d, "config.v4.json"), "w"), indent=2)
    json.dump(c5, open(os.path.join(d, "config.v5.json"), "w"), indent=2)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(3, VOCAB, (1, SEQ), generator=g)
    tokens[0, 0] = 1
    with torch.no_grad():
        logits = md(tokens).logits[0].double().numpy()
    open(os.path.join(d, "ref_tokens.txt"), "w").write(" ".join(map(str, tokens[0].tolist())))
    # Rounded to float32 for size: 1e-7 relative, far below the tests' tolerance.
    logits.astype("<f4").tofile(os.path.join(d, "ref_logits.f32"))
    print(name, type(m).__name__, logits.shape, "argmax[-1]", int(logits[-1].argmax()))

# Gemma 3 4B and up ship as Gemma3ForConditionalGeneration: config.json of model_type "gemma3" nests the text
# model under text_config beside a SigLIP vision_config, and the weights hold the vision tower and projector
# too (tiny here, so that the file holds what a real checkpoint holds). config.v5.json is what this transformers
# saved; config.v4.json is as 4.5x wrote the Hub's files: text_config without the fields that equal
# Gemma3TextConfig's defaults (query_pre_attn_scalar 256, rms_norm_eps, the RoPE bases, the layer pattern, ...),
# RoPE as rope_scaling. query_pre_attn_scalar is left at its default so that a reader must apply it.
if getattr(tf, "Gemma3ForConditionalGeneration", None) is not None:
    name = "gemma3-mm"
    d = os.path.join(out, name); os.makedirs(d, exist_ok=True)
    scaling = {"rope_type": "linear", "factor": 8.0}
    text = tf.Gemma3TextConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=6,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=8,
                               initializer_range=0.1, pad_token_id=0,
                               rope_parameters={"full_attention": rope_v5(1000000.0, scaling),
                                                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})
    vision = tf.SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   image_size=16, patch_size=4)
    cfg = tf.Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4,
                          image_token_index=VOCAB - 20, boi_token_index=VOCAB - 19, eoi_token_index=VOCAB - 18)
    m = tf.Gemma3ForConditionalGeneration(cfg).float().eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "language_model" in n and "norm" in n:
                p.copy_(0.1 * torch.randn_like(p))
    m.to(torch.bfloat16).save_pretrained(d, safe_serialization=True)
    md = tf.Gemma3ForConditionalGeneration.from_pretrained(d, dtype=torch.float64, attn_implementation="eager").eval()
    saved = json.load(open(os.path.join(d, "config.json")))
    for f in ("config.json", "generation_config.json"):
        os.remove(os.path.join(d, f))
    json.dump(saved, open(os.path.join(d, "config.v5.json"), "w"), indent=2)
    defaults = tf.Gemma3TextConfig().to_dict()
    t4 = {k: v for k, v in saved["text_config"].items()
          if k not in ("rope_parameters", "layer_types", "_sliding_window_pattern") and defaults.get(k, object()) != v}
    t4["model_type"] = "gemma3_text"
    t4["rope_scaling"] = scaling
    c4 = dict(saved, text_config=t4)
    c4.pop("dtype", None)
    c4["torch_dtype"] = "bfloat16"
    json.dump(c4, open(os.path.join(d, "config.v4.json"), "w"), indent=2)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(3, VOCAB - 20, (1, SEQ), generator=g)
    tokens[0, 0] = 2
    with torch.no_grad():
        logits = md(input_ids=tokens).logits[0].double().numpy()
    open(os.path.join(d, "ref_tokens.txt"), "w").write(" ".join(map(str, tokens[0].tolist())))
    logits.astype("<f4").tofile(os.path.join(d, "ref_logits.f32"))
    print(name, type(m).__name__, logits.shape, "argmax[-1]", int(logits[-1].argmax()))
print("transformers", tf.__version__, "torch", torch.__version__)
