#!/usr/bin/env python3
"""llama.cpp on the CPU, for `mixmerge-bench infer` (dev only; needs llama-cpp-python and gguf from pip).

    python tools/bench_llamacpp_infer.py MODEL PROMPT_TOKENS DECODE_TOKENS THREADS

Converts the benchmark's Hugging Face Llama folder (bf16 safetensors) to MODEL/model-bf16.gguf once (the
same bf16 values; q/k rows permuted into llama.cpp's RoPE layout as its converter does; a placeholder
vocabulary, since the benchmark feeds token ids), then times a prefill of PROMPT_TOKENS ids and greedy
decoding of DECODE_TOKENS after a 16-token prompt, one token per eval. Prints one JSON line.
"""
import json, os, struct, sys, time

import numpy as np

model_dir, prompt, decode, threads = sys.argv[1], *map(int, sys.argv[2:5])
gguf_path = os.path.join(model_dir, "model-bf16.gguf")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
    data = np.memmap(path, dtype=np.uint8, mode="r")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        assert info["dtype"] == "BF16"
        yield name, data[base + a: base + b].view(np.uint16).reshape(info["shape"])


def convert():
    import gguf
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    heads, kv, hidden = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]
    w = gguf.GGUFWriter(gguf_path + ".tmp", "llama")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(hidden)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_dimension_count(hidden // heads)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(cfg["rope_theta"])
    vocab = cfg["vocab_size"]
    w.add_tokenizer_model("llama")
    w.add_token_list([b"<unk>", b"<s>", b"</s>"] + [f"t{i}".encode() for i in range(3, vocab)])
    w.add_token_scores([0.0] * vocab)
    w.add_token_types([2, 3, 3] + [1] * (vocab - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    parts = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}

    def permute(x, n):  # HF's half-split RoPE rows -> llama.cpp's interleaved pairs
        return x.reshape(n, 2, x.shape[0] // n // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)

    files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    for f in files:
        for name, t in read_safetensors(os.path.join(model_dir, f)):
            if name in names:
                out = names[name]
            else:
                layer = name.split(".")[2]
                key = ".".join(name.split(".")[3:-1])
                out = f"blk.{layer}.{parts[key]}.weight"
                if key == "self_attn.q_proj":
                    t = permute(t, heads)
                elif key == "self_attn.k_proj":
                    t = permute(t, kv)
            if t.ndim == 1:  # norm weights as float32, as llama.cpp's converter stores them
                w.add_tensor(out, (t.astype(np.uint32) << 16).view(np.float32))
            else:
                w.add_tensor(out, np.ascontiguousarray(t), raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(gguf_path + ".tmp", gguf_path)


if not os.path.exists(gguf_path):
    convert()

import llama_cpp
from llama_cpp import Llama

llm = Llama(model_path=gguf_path, n_ctx=prompt + decode + 32, n_batch=prompt, n_threads=threads, n_threads_batch=threads,
            verbose=False, logits_all=False)
rng = np.random.default_rng(1)
ids = [int(x) for x in rng.integers(3, llm.n_vocab(), prompt)]


def best(fn, n=2):
    t = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def prefill():
    llm.reset()
    llm.eval(ids)


def greedy():
    llm.reset()
    llm.eval(ids[:16])
    for _ in range(decode):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        llm.eval([nxt])


p = best(prefill)
d = best(greedy)
print(json.dumps(dict(llama_cpp=llama_cpp.__version__, dtype="bf16", prefill_tokens_per_s=prompt / p,
                      decode_tokens_per_s=decode / d)))
