#!/usr/bin/env python3
"""Dev tool (not used at run time): golden MT19937 streams from NumPy's RandomState, which seeds
with init_genrand exactly as PyTorch's CPU generator does. Writes fixtures/rng/mt19937.json.

    python3 tools/make_rng_golden.py
"""
import json
import pathlib

import numpy as np

cases = []
for seed in [0, 1, 42, 5489]:
    words = np.frombuffer(np.random.RandomState(seed).bytes(4 * 1400), "<u4")
    cases.append({"seed": seed, "words": [int(w) for w in words]})
out = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "rng" / "mt19937.json"
out.write_text(json.dumps({"generator": f"numpy {np.__version__} RandomState(seed).bytes", "cases": cases}) + "\n")
print(f"wrote {out}")
