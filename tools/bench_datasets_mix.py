#!/usr/bin/env python3
"""The Hugging Face `datasets` equivalent of the mixture `mixmerge-bench mix` builds: load two JSONL
(or Parquet) files, interleave them 15 % / 85 % with a seed, keep the SFT messages and metadata, write JSONL.

usage: bench_datasets_mix.py SAFETY GENERAL OUT.jsonl CACHE_DIR SEED [json|parquet]   (dev tool; run by the bench)
"""
import json
import sys
import time

import datasets

safety, general, out, cache, seed = sys.argv[1:6]
builder = sys.argv[6] if len(sys.argv) > 6 else "json"
datasets.disable_progress_bars()
t = time.time()
s = datasets.load_dataset(builder, data_files=safety, split="train", cache_dir=cache)
g = datasets.load_dataset(builder, data_files=general, split="train", cache_dir=cache)
mixed = datasets.interleave_datasets([s, g], probabilities=[0.15, 0.85], seed=int(seed), stopping_strategy="first_exhausted")
mixed = mixed.select_columns(["messages", "language", "source_id"])
mixed.to_json(out, force_ascii=False)
print(json.dumps({"seconds": time.time() - t, "records": len(mixed)}))
