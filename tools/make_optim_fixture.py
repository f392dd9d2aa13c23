#!/usr/bin/env python3
"""References for the trainer's optimizer pieces (dev only; torch + transformers):

fixtures/optim/optim.json —
  schedules: transformers' get_{linear,cosine,constant}_schedule_with_warmup learning rates, step by step;
  adamw: torch.optim.AdamW (CPU, foreach=False) on random float32 tensors, two parameter groups (with and
         without weight decay), a different learning rate each step; the parameters after every step;
  clipping: torch.nn.utils.clip_grad_norm_ on random gradients (the returned norm and the clipped values).

    /work/venv/bin/python tools/make_optim_fixture.py
"""
import json, os
import torch
import transformers
from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                          get_linear_schedule_with_warmup)

torch.manual_seed(5)
out = {"torch": torch.__version__, "transformers": transformers.__version__}

schedules = []
for kind, fn in [("linear", get_linear_schedule_with_warmup), ("cosine", get_cosine_schedule_with_warmup),
                 ("constant", get_constant_schedule_with_warmup)]:
    for warmup, total in [(0, 10), (3, 10), (1, 3), (4, 25)]:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=2e-3)
        sched = fn(opt, warmup) if kind == "constant" else fn(opt, warmup, total)
        lrs = []
        for _ in range(total + 2):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        schedules.append(dict(kind=kind, peak=2e-3, warmup=warmup, total=total, lrs=lrs))
out["schedules"] = schedules

shapes = [[7], [13, 5], [64]]
params = [torch.randn(s) for s in shapes]
decays = [True, True, False]
for wd in [0.01, 0.1]:
    ps = [torch.nn.Parameter(p.clone()) for p in params]
    opt = torch.optim.AdamW([{"params": [ps[0], ps[1]], "weight_decay": wd}, {"params": [ps[2]], "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    steps = []
    for lr in [1e-3, 5e-4, 2e-3, 1e-2]:
        for g in opt.param_groups:
            g["lr"] = lr
        grads = [torch.randn(s) * 0.3 for s in shapes]
        for p, g in zip(ps, grads):
            p.grad = g.clone()
        opt.step()
        steps.append(dict(lr=lr, grads=[g.flatten().tolist() for g in grads], params=[p.detach().flatten().tolist() for p in ps]))
    out.setdefault("adamw", []).append(dict(weight_decay=wd, decays=decays, initial=[p.flatten().tolist() for p in params], steps=steps))

clipping = []
for scale, max_norm in [(1.0, 1.0), (0.01, 1.0), (3.0, 0.5)]:
    grads = [torch.randn(s) * scale for s in shapes]
    ps = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    for p, g in zip(ps, grads):
        p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    clipping.append(dict(max_norm=max_norm, grads=[g.flatten().tolist() for g in grads], norm=float(norm),
                         clipped=[p.grad.flatten().tolist() for p in ps]))
out["clipping"] = clipping
path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "optim", "optim.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
