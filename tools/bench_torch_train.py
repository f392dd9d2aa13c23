#!/usr/bin/env python3
"""PyTorch on the CPU, the anchor for a training benchmark (dev only; needs torch and transformers).

    /work/venv/bin/python tools/bench_torch_train.py [--objective sft|dpo] [--steps 10] [--threads 2]
        [--layers 8 --hidden 384 --heads 6 --kv-heads 6 --intermediate 1024 --vocab 8192] [--batch 8 --seq 256]

Builds a random LlamaForCausalLM of that shape (float32, eager attention, torch.manual_seed(0); the default
is ≈20.4 M parameters), then times STEPS optimizer steps of torch.optim.AdamW (lr 1e-4, torch's other
defaults) with gradient clipping at 1.0 on random token batches of BATCH rows × SEQ tokens:

- sft: transformers' causal-LM loss over every token (labels = input ids);
- dpo: BATCH/2 pairs as 2·(BATCH/2) rows (chosen rows, then rejected), each a shared random prompt of SEQ/2
  tokens and a random completion of SEQ/2; TRL's sigmoid loss (β 0.1) on the completions' summed log-probs.
  The reference log-probs are computed once per batch under no_grad with a copy of the model, before
  the timed steps.

A step is forward + backward + clip + AdamW step + zero_grad. Prints the shape and parameter count on
stderr and one JSON line on stdout: tokens_per_s (BATCH·SEQ / median step), step_s (median), peak_rss_mib
(ru_maxrss), params, and the first and last losses.
"""
import argparse
import copy
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM


def arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--kv-heads", type=int, default=None, help="default: --heads")
    p.add_argument("--intermediate", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--batch", type=int, default=8, help="rows per step (dpo: 2 rows a pair)")
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--objective", choices=["sft", "dpo"], default="sft")
    a = p.parse_args()
    if a.objective == "dpo" and (a.batch % 2 or a.seq < 4):
        p.error("dpo needs an even --batch (chosen and rejected rows) and --seq of at least 4")
    return a


def completion_logps(model, ids, prompt_length):
    """Summed log-probabilities of each row's tokens after `prompt_length` (the completion)."""
    logits = model(input_ids=ids).logits[:, :-1].float()
    targets = ids[:, 1:]
    logps = torch.gather(F.log_softmax(logits, dim=-1), 2, targets.unsqueeze(-1)).squeeze(-1)
    return logps[:, prompt_length - 1:].sum(dim=1)


def main():
    a = arguments()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate, num_hidden_layers=a.layers,
        num_attention_heads=a.heads, num_key_value_heads=a.kv_heads or a.heads, max_position_embeddings=a.seq,
        tie_word_embeddings=False, attn_implementation="eager", dtype="float32")
    model = LlamaForCausalLM(config).float()
    model.config._attn_implementation = "eager"
    model.train()
    params = sum(p.numel() for p in model.parameters())
    print(f"LlamaForCausalLM: {a.layers} layers, hidden {a.hidden}, heads {a.heads}/{config.num_key_value_heads}, "
          f"intermediate {a.intermediate}, vocab {a.vocab}: {params:,} parameters; {a.objective}, "
          f"{a.batch}×{a.seq} tokens a step, {a.threads} threads", file=sys.stderr)

    g = torch.Generator().manual_seed(0)
    batches = []
    if a.objective == "sft":
        batches = [torch.randint(0, a.vocab, (a.batch, a.seq), generator=g) for _ in range(a.steps)]
    else:
        pairs, prompt = a.batch // 2, a.seq // 2
        reference = copy.deepcopy(model).eval()
        for _ in range(a.steps):
            shared = torch.randint(0, a.vocab, (pairs, prompt), generator=g)
            completions = torch.randint(0, a.vocab, (2 * pairs, a.seq - prompt), generator=g)
            ids = torch.cat([shared.repeat(2, 1), completions], dim=1)  # chosen rows, then rejected
            with torch.no_grad():
                ref = completion_logps(reference, ids, prompt)
            batches.append((ids, ref))
        del reference

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times, losses = [], []
    for batch in batches:
        t0 = time.perf_counter()
        if a.objective == "sft":
            loss = model(input_ids=batch, labels=batch).loss
        else:
            ids, ref = batch
            pairs = ids.shape[0] // 2
            policy = completion_logps(model, ids, a.seq // 2)
            delta = (policy[:pairs] - ref[:pairs]) - (policy[pairs:] - ref[pairs:])
            loss = -F.logsigmoid(0.1 * delta).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())

    step = statistics.median(times)
    print(json.dumps({
        "tokens_per_s": round(a.batch * a.seq / step, 1),
        "step_s": round(step, 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "params": params,
        "objective": a.objective,
        "steps": a.steps,
        "threads": a.threads,
        "loss_first": round(losses[0], 5),
        "loss_last": round(losses[-1], 5),
    }))


if __name__ == "__main__":
    main()
