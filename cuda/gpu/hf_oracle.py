# Random LlamaForCausalLM saved as safetensors, and its own logits (float32, CPU, eager attention).
import sys, os, torch, numpy as np
from transformers import LlamaConfig, LlamaForCausalLM
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
# Head dim 128 (512 / 4): the shape that takes the GPU engine through the wgmma attention kernel.
cfg = LlamaConfig(vocab_size=512, hidden_size=512, intermediate_size=1280, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
                  tie_word_embeddings=False, initializer_range=0.1, attn_implementation="eager")
m = LlamaForCausalLM(cfg).float().eval()
with torch.no_grad():
    for n, p in m.named_parameters():
        if "norm" in n: p.copy_(1.0 + 0.1 * torch.randn_like(p))
m.save_pretrained(out, safe_serialization=True)
g = torch.Generator().manual_seed(1)
tokens = torch.randint(0, 512, (1, 96), generator=g)
with torch.no_grad():
    logits = m(tokens).logits[0].float().numpy()
open(os.path.join(out, "ref_tokens.txt"), "w").write(" ".join(map(str, tokens[0].tolist())))
logits.astype("<f4").tofile(os.path.join(out, "ref_logits.f32"))
print("hf oracle written", out, logits.shape, "transformers", __import__("transformers").__version__, "torch", torch.__version__)
