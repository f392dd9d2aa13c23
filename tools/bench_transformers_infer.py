#!/usr/bin/env python3
"""transformers on the CPU, for `mixmerge-bench infer` (dev only; needs torch and transformers).

    python tools/bench_transformers_infer.py MODEL PROMPT_TOKENS DECODE_TOKENS STREAMS THREADS

Loads MODEL in its stored dtype (bf16 for the benchmark's model) with eager attention, then times a prefill
of PROMPT_TOKENS random ids, greedy decoding of DECODE_TOKENS after a 16-token prompt (KV cache, one
stream), and the same for STREAMS sequences batched together; prints one JSON line of tokens/s.
"""
import json, sys, time

import torch
import transformers
from transformers import AutoModelForCausalLM

model_dir, prompt, decode, streams, threads = sys.argv[1], *map(int, sys.argv[2:6])
torch.set_num_threads(threads)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto", attn_implementation="eager")
model.eval()
g = torch.Generator().manual_seed(1)
vocab = model.config.vocab_size


def best(fn, n=2):
    t = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


ids = torch.randint(3, vocab, (1, prompt), generator=g)
short = torch.randint(3, vocab, (streams, 16), generator=g)
with torch.inference_mode():
    prefill = best(lambda: model(ids, use_cache=True))

    def greedy(batch):
        model.generate(batch, attention_mask=torch.ones_like(batch), max_new_tokens=decode, min_new_tokens=decode,
                       do_sample=False, pad_token_id=0)

    one = best(lambda: greedy(short[:1]))
    many = best(lambda: greedy(short))
print(json.dumps(dict(transformers=transformers.__version__, torch=torch.__version__, dtype=str(model.dtype).replace("torch.", ""),
                      prefill_tokens_per_s=prompt / prefill, decode_tokens_per_s=decode / one,
                      decode_batch_tokens_per_s=decode * streams / many)))
