#!/usr/bin/env python3
"""LoRA adapters made with PEFT, and golden merges of `base+adapter` inputs made by mergekit 0.1.5 (dev only).

Writes
  fixtures/lora-adapters/<name>/   adapter_config.json + adapter_model.safetensors (PEFT save_pretrained)
  fixtures/merges/<case>/          config.yml, CASE.md and expected/ (mergekit-yaml with --lora-merge-cache)

mergekit merges `base+adapter` by loading the base with transformers (dtype "auto" unless
--lora-merge-dtype), applying the adapter with PEFT and `merge_and_unload()`, and merging the result:
the goldens are the referee of `model: base+adapter` in `mixmerge merge`.

    /work/venv/bin/python tools/make_lora_goldens.py     # venv with mergekit==0.1.5 (torch, transformers 5, peft)

Deterministic: seeded, CPU.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADAPTERS = os.path.join(ROOT, "fixtures", "lora-adapters")
MERGES = os.path.join(ROOT, "fixtures", "merges")
MERGEKIT = os.environ.get("MERGEKIT", os.path.join(os.path.dirname(sys.executable), "mergekit-yaml"))
torch.set_num_threads(1)

ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# name, base model, LoraConfig arguments, dtype the adapter is saved in
ADAPTER_SPECS = [
    ("llama-a", "llama/base", dict(r=4, lora_alpha=8, target_modules=ALL), torch.float32),
    # rsLoRA, per-module rank and alpha, an embedding LoRA, bf16 weights
    ("llama-b", "llama/base", dict(r=6, lora_alpha=4, use_rslora=True, target_modules=ALL + ["embed_tokens"],
                                   rank_pattern={"down_proj": 2, "layers.1.self_attn.q_proj": 3},
                                   alpha_pattern={"v_proj": 16}), torch.bfloat16),
    # a full module kept (modules_to_save) besides the LoRA, on the untied head
    ("llama-c", "llama/base", dict(r=2, lora_alpha=2, target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"]),
     torch.float32),
    # a bfloat16 base (merged by PEFT in bfloat16, mergekit's default: the base's own dtype), float16 weights
    ("mistral-a", "mistral/base", dict(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"]),
     torch.float16),
]

M = "../../models"
A = "../../lora-adapters"
CASES = [
    ("llama-lora-linear-a", f"""merge_method: linear
models:
- {{model: {M}/llama/base+{A}/llama-a, parameters: {{weight: 0.6}}}}
- {{model: {M}/llama/ft1, parameters: {{weight: 0.4}}}}
dtype: float32"""),
    ("llama-lora-ties-b", f"""merge_method: ties
base_model: {M}/llama/base
models:
- {{model: {M}/llama/base+{A}/llama-a, parameters: {{weight: 0.5, density: 0.7}}}}
- {{model: {M}/llama/base+{A}/llama-b, parameters: {{weight: 0.5, density: 0.5}}}}
dtype: bfloat16"""),
    ("llama-lora-slerp-c", f"""merge_method: slerp
base_model: {M}/llama/base+{A}/llama-c
models:
- model: {M}/llama/base+{A}/llama-c
- model: {M}/llama/ft2
parameters: {{t: 0.3}}
dtype: float32"""),
    ("llama-lora-task_arithmetic-d", f"""merge_method: task_arithmetic
base_model: {M}/llama/base
models:
- {{model: {{model: {{path: {M}/llama/base}}, lora: {{path: {A}/llama-b}}}}, parameters: {{weight: 1.0}}}}
dtype: bfloat16"""),
    ("mistral-lora-linear-e", f"""merge_method: linear
models:
- {{model: {M}/mistral/base+{A}/mistral-a, parameters: {{weight: 0.7}}}}
- {{model: {M}/mistral/ft1, parameters: {{weight: 0.3}}}}"""),
]


def make_adapter(name, base, args, dtype, seed):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(os.path.join(ROOT, "fixtures", "models", base), dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", **args))
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n or "lora_embedding_B" in n:
                p.normal_(0, 0.05)  # PEFT starts B at zero: a delta of zero would test nothing
            elif "modules_to_save" in n:
                p.add_(torch.randn_like(p) * 0.05)
    folder = os.path.join(ADAPTERS, name)
    shutil.rmtree(folder, ignore_errors=True)
    peft_model.to(dtype)
    peft_model.save_pretrained(folder, save_embedding_layers=False)
    card = os.path.join(folder, "README.md")
    if os.path.exists(card):
        os.remove(card)
    # A repository-relative base path (PEFT writes the absolute one it was given).
    path = os.path.join(folder, "adapter_config.json")
    config = json.load(open(path))
    config["base_model_name_or_path"] = f"fixtures/models/{base}"
    json.dump(config, open(path, "w"), indent=2, sort_keys=True)
    print("made adapter", name)


def make_case(name, yaml):
    folder = os.path.join(MERGES, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.yml"), "w") as f:
        f.write(yaml + "\n")
    method = yaml.split("\n")[0].split(": ")[1]
    with open(os.path.join(folder, "CASE.md"), "w") as f:
        f.write(f"method={method} seed=0 made by tools/make_lora_goldens.py with mergekit 0.1.5, torch 2.15 (CPU), "
                f"peft 0.21\n\nRegenerate (inside this folder): `mergekit-yaml config.yml expected --lora-merge-cache "
                f"CACHE --random-seed 0 --no-write-model-card --quiet`\n")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        subprocess.run([MERGEKIT, "config.yml", out, "--lora-merge-cache", os.path.join(tmp, "cache"),
                        "--random-seed", "0", "--no-write-model-card", "--quiet"], cwd=folder, check=True)
        expected = os.path.join(folder, "expected")
        shutil.rmtree(expected, ignore_errors=True)
        os.makedirs(expected)
        for f in ("config.json", "model.safetensors"):
            shutil.copy(os.path.join(out, f), expected)
    print("made", name)


def main():
    os.makedirs(ADAPTERS, exist_ok=True)
    for seed, (name, base, args, dtype) in enumerate(ADAPTER_SPECS):
        make_adapter(name, base, args, dtype, 100 + seed)
    for name, yaml in CASES:
        make_case(name, yaml)


if __name__ == "__main__":
    main()
