#!/usr/bin/env python3
"""The example data of `examples/data/` as Parquet, in the hub's folder layout (dev only; pyarrow):

    fixtures/parquet/hub/data/safety-00000-of-00002.parquet, safety-00001-of-00002.parquet (snappy, 2 shards)
    fixtures/parquet/hub/data/general-00000-of-00001.parquet (zstd, dictionary, page v2)

so a test can mix from Parquet shards with `split:` and compare with the same mix from the JSONL files.
Rows keep their JSONL key order; UltraFeedback's conversations become list<struct<content, role>>.

    /work/venv/bin/python tools/make_parquet_examples.py
"""
import json, os
import pyarrow as pa
import pyarrow.parquet as pq

root = os.path.join(os.path.dirname(__file__), "..")
out = os.path.join(root, "fixtures", "parquet", "hub", "data")
os.makedirs(out, exist_ok=True)


def rows(name):
    with open(os.path.join(root, "examples", "data", name + ".jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


safety = rows("safety")
half = len(safety) // 2
for k, part in enumerate([safety[:half], safety[half:]]):
    pq.write_table(pa.Table.from_pylist(part), os.path.join(out, f"safety-{k:05d}-of-00002.parquet"), compression="snappy")
general = rows("general")
pq.write_table(pa.Table.from_pylist(general), os.path.join(out, "general-00000-of-00001.parquet"), compression="zstd",
               use_dictionary=True, data_page_version="2.0")
for name in sorted(os.listdir(out)):
    t = pq.read_table(os.path.join(out, name))
    print(name, t.num_rows, t.schema.types)
