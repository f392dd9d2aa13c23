"""Writes fixtures/train-data/letters.{jsonl,parquet}: the same SFT conversations (the synthetic
letter task of Tests/CLITests/TrainCLITests.swift) as JSON lines and as a pyarrow Parquet file with a
`messages: list<struct<role, content>>` column (zstd), so a test can check that `mixmerge train`
reads both into the same examples."""
import json, random, pyarrow as pa, pyarrow.parquet as pq, pathlib
out = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "train-data"
out.mkdir(parents=True, exist_ok=True)
rng = random.Random(7)
rows = []
for _ in range(24):
    w = "".join(rng.choice("abcdefgh") for _ in range(4))
    rows.append({"messages": [{"role": "user", "content": w}, {"role": "assistant", "content": w[0]}]})
(out / "letters.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
pq.write_table(pa.Table.from_pylist(rows), out / "letters.parquet", compression="zstd")
print(pq.read_schema(out / "letters.parquet"))
