#!/usr/bin/env python3
"""Reference outputs of transformers' logits processors and warpers (dev only; needs torch + transformers).

Writes fixtures/sampling/warpers.json: random logits rows and, per parameter set, the logits after
transformers' RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper,
TopPLogitsWarper and MinPLogitsWarper applied in the order `generate` applies them
(repetition penalty first, then temperature, top-k, top-p, min-p). Removed tokens are -inf (written as null).

    /work/venv/bin/python tools/make_sampling_fixture.py
"""
import json, os
import torch
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper)
import transformers

g = torch.Generator().manual_seed(1234)
vocab = 64
settings = [
    dict(temperature=1.0), dict(temperature=0.7), dict(temperature=1.3, top_k=5), dict(top_k=1), dict(top_k=63),
    dict(top_p=0.9), dict(top_p=0.5), dict(top_p=0.01), dict(temperature=0.8, top_p=0.95),
    dict(min_p=0.05), dict(min_p=0.3), dict(temperature=0.5, top_k=20, top_p=0.8, min_p=0.02),
    dict(repetition_penalty=1.3), dict(repetition_penalty=0.8, temperature=0.9, top_p=0.9),
]
cases = []
for row in range(6):
    scale = [0.5, 1.0, 2.0, 4.0, 8.0, 1.0][row]
    logits = torch.randn(vocab, generator=g) * scale
    if row == 5:  # ties
        logits = torch.round(logits * 2) / 2
    previous = torch.randint(0, vocab, (7,), generator=g)
    for s in settings:
        x = logits.clone().unsqueeze(0)
        ids = previous.unsqueeze(0)
        if "repetition_penalty" in s:
            x = RepetitionPenaltyLogitsProcessor(s["repetition_penalty"])(ids, x)
        if s.get("temperature", 1.0) != 1.0:
            x = TemperatureLogitsWarper(s["temperature"])(ids, x)
        if "top_k" in s:
            x = TopKLogitsWarper(s["top_k"])(ids, x)
        if "top_p" in s:
            x = TopPLogitsWarper(s["top_p"])(ids, x)
        if "min_p" in s:
            x = MinPLogitsWarper(s["min_p"])(ids, x)
        out = [None if not torch.isfinite(v) else float(v) for v in x[0]]
        cases.append(dict(logits=[float(v) for v in logits], previous=[int(i) for i in previous],
                          settings=s, expected=out))
path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "sampling", "warpers.json")
with open(path, "w") as f:
    json.dump(dict(transformers=transformers.__version__, torch=torch.__version__, cases=cases), f)
print(f"{len(cases)} cases -> {path}")
