#!/usr/bin/env python3
"""The `mixmerge-bench mix` input as the hub serves such data: a JSON-lines file rewritten by pyarrow as
Parquet (snappy, the hub's default, or the codec given: zstd, none; row groups of 10,000 records; `chosen`/`rejected`/`messages` as
list<struct<role, content>>), so the bench can time `mixmerge mix` and `datasets` on the same Parquet.

usage: make_bench_parquet.py IN.jsonl OUT.parquet [snappy|zstd|none]   (dev tool; run by mixmerge-bench mix --input parquet)
"""
import json
import os
import sys
import time

import pyarrow.json as pj
import pyarrow.parquet as pq

src, dst = sys.argv[1:3]
codec = sys.argv[3] if len(sys.argv) > 3 else "snappy"
t = time.time()
table = pj.read_json(src, read_options=pj.ReadOptions(block_size=64 << 20))
tmp = dst + ".partial"
pq.write_table(table, tmp, compression=codec, row_group_size=10_000)
os.replace(tmp, dst)
print(json.dumps({"seconds": time.time() - t, "rows": table.num_rows, "bytes": os.path.getsize(dst),
                  "schema": str(table.schema).replace("\n", "; ")}))
