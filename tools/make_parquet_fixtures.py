#!/usr/bin/env python3
"""Writes the Parquet reader's fixtures into fixtures/parquet/ with pyarrow (dev only).

For every `TABLE.VARIANT.parquet` it also writes `TABLE.jsonl`: the file read back by pyarrow
(`pq.read_table(...).to_pylist()`), one `json.dumps(record, ensure_ascii=False)` per row. That
JSONL is the referee of `Tests/ParquetTests`. Values JSON cannot hold are rendered the way the
Swift reader documents it (`ParquetValue`):
  - timestamps: ISO 8601 `YYYY-MM-DDTHH:MM:SS[.ffffff]` (Python's `isoformat()`), with `+00:00`
    when the column is adjusted to UTC; dates `YYYY-MM-DD`; times `HH:MM:SS[.ffffff]`
  - binary: standard base64; decimals: `str(Decimal)`; maps: JSON objects (keys as text)
  - NaN and infinities: null

Usage: /work/venv/bin/python tools/make_parquet_fixtures.py [--big PATH]
  --big PATH  also writes a larger UltraFeedback-like file to PATH (for a throwaway speed run;
              not a fixture).
"""
import base64
import datetime
import decimal
import json
import math
import os
import random
import struct
import sys

import numpy
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "parquet")

WORDS = ["the", "model", "answer", "Grüße", "日本語", "données", "🙂", "naïve", "Привет", "مرحبا",
         "हिन्दी", "tab\there", "line\nbreak", "quote\"s", "back\\slash", "", "ctrl\x01", "ok"]
LANGS = ["English", "Hindi", "French", "Spanish", "Russian", "Arabic", "Filipino", "Serbian"]
HARMS = ["Violence, Threats & Incitement", "Hate Speech", "Discrimination & Injustice",
         "Self-Harm", "Profanity", "Sexual content", "Harms of Representation Allocation and Quality of Service"]

MESSAGE = pa.struct([("content", pa.string()), ("role", pa.string())])


def text(rng, lo=0, hi=12):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def to_json(value, typ):
    """Converts a `to_pylist()` value of Arrow type `typ` into what json.dumps can write."""
    if value is None:
        return None
    if pa.types.is_struct(typ):
        return {typ.field(i).name: to_json(value[typ.field(i).name], typ.field(i).type)
                for i in range(typ.num_fields)}
    if pa.types.is_map(typ):
        out = {}
        for k, v in value:
            key = k if isinstance(k, str) else json.dumps(to_json(k, typ.key_type))
            out[key] = to_json(v, typ.item_type)
        return out
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return [to_json(v, typ.value_type) for v in value]
    if pa.types.is_timestamp(typ):
        return value.isoformat()
    if pa.types.is_date(typ) or pa.types.is_time(typ):
        return value.isoformat()
    if pa.types.is_binary(typ) or pa.types.is_fixed_size_binary(typ) or pa.types.is_large_binary(typ):
        return base64.b64encode(value).decode("ascii")
    if pa.types.is_decimal(typ):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write(name, table, **options):
    """Writes `TABLE.VARIANT.parquet` and its referee `TABLE.jsonl` (one per table: every variant
    of a table must read back the same)."""
    path = os.path.join(OUT, name + ".parquet")
    pq.write_table(table, path, **options)
    back = pq.read_table(path, coerce_int96_timestamp_unit="us")
    schema = back.schema
    lines = []
    for row in back.to_pylist():
        record = {field.name: to_json(row[field.name], field.type) for field in schema}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    reference = os.path.join(OUT, name.split(".")[0] + ".jsonl")
    if os.path.exists(reference) and reference in WRITTEN:
        with open(reference, encoding="utf-8") as f:
            assert f.read() == "".join(lines), name + " reads back differently from its table's other files"
    else:
        with open(reference, "w", encoding="utf-8") as f:
            f.write("".join(lines))
        WRITTEN.add(reference)
    return path


WRITTEN = set()


def conversation(rng, allow_null=True):
    if allow_null and rng.random() < 0.08:
        return None
    turns = []
    for i in range(rng.randint(0, 4)):
        if allow_null and rng.random() < 0.05:
            turns.append(None)
        else:
            turns.append({"content": text(rng) if rng.random() > 0.05 else None,
                          "role": ["user", "assistant"][i % 2] if rng.random() > 0.03 else None})
    return turns


def ultrafeedback(rng, n):
    rows = {"prompt": [], "prompt_id": [], "chosen": [], "rejected": [], "messages": [],
            "score_chosen": [], "score_rejected": []}
    for i in range(n):
        rows["prompt"].append(text(rng, 0, 30) if rng.random() > 0.05 else None)
        rows["prompt_id"].append("%064x" % rng.getrandbits(256))
        rows["chosen"].append(conversation(rng))
        rows["rejected"].append(conversation(rng))
        rows["messages"].append(conversation(rng))
        rows["score_chosen"].append(rng.choice([10.0, 9.5, 8.0, 7.25, 1.0 / 3.0, None, 6.0]))
        rows["score_rejected"].append(rng.choice([1.0, 2.5, 3.0, 0.1, None, -0.0, 5e-324, 1e300]))
    schema = pa.schema([("prompt", pa.string()), ("prompt_id", pa.string()),
                        ("chosen", pa.list_(MESSAGE)), ("rejected", pa.list_(MESSAGE)),
                        ("messages", pa.list_(MESSAGE)),
                        ("score_chosen", pa.float64()), ("score_rejected", pa.float64())])
    return pa.table(rows, schema=schema)


def aya(rng, n):
    rows = {"prompt": [], "language": [], "harm_category": [], "global_or_local": [],
            "literal_translation": [], "is_harmful": [], "id": []}
    for i in range(n):
        rows["prompt"].append(text(rng, 1, 20))
        rows["language"].append(rng.choice(LANGS))
        r = rng.random()
        if r < 0.1:
            rows["harm_category"].append(None)
        elif r < 0.2:
            rows["harm_category"].append([])
        else:
            rows["harm_category"].append([rng.choice(HARMS) if rng.random() > 0.05 else None
                                          for _ in range(rng.randint(1, 3))])
        rows["global_or_local"].append(rng.choice(["global", "local", None]))
        rows["literal_translation"].append(text(rng) if rng.random() > 0.3 else None)
        rows["is_harmful"].append(rng.choice([True, False, None]))
        rows["id"].append(i * 7 - 50)
    schema = pa.schema([("prompt", pa.string()), ("language", pa.string()),
                        ("harm_category", pa.list_(pa.string())), ("global_or_local", pa.string()),
                        ("literal_translation", pa.string()), ("is_harmful", pa.bool_()),
                        ("id", pa.int64())])
    return pa.table(rows, schema=schema)


def dolly(rng, n):
    rows = {"inputs": [], "targets": [], "language": [], "task_type": [], "sub_dataset_name": []}
    for i in range(n):
        rows["inputs"].append(text(rng, 0, 40))
        rows["targets"].append(text(rng, 0, 40))
        rows["language"].append(rng.choice(LANGS))
        rows["task_type"].append(rng.choice(["open_qa", "summarization", "brainstorming"]))
        rows["sub_dataset_name"].append("-")
    return pa.table(rows)


def types_table(rng, n):
    epoch = datetime.datetime(1970, 1, 1)
    cols = {}

    def maybe(v, p=0.15):
        return None if rng.random() < p else v

    cols["b"] = pa.array([maybe(rng.random() < 0.5) for _ in range(n)], pa.bool_())
    cols["b_req"] = pa.array([rng.random() < 0.3 for _ in range(n)], pa.bool_())
    cols["i8"] = pa.array([maybe(rng.randint(-128, 127)) for _ in range(n)], pa.int8())
    cols["i16"] = pa.array([maybe(rng.randint(-32768, 32767)) for _ in range(n)], pa.int16())
    cols["i32"] = pa.array([maybe(rng.randint(-2**31, 2**31 - 1)) for _ in range(n)], pa.int32())
    cols["i64"] = pa.array([maybe(rng.choice([rng.randint(-2**63, 2**63 - 1), 0, -1, 2**63 - 1, -2**63,
                                               rng.randint(-1000, 1000)])) for _ in range(n)], pa.int64())
    cols["u8"] = pa.array([maybe(rng.randint(0, 255)) for _ in range(n)], pa.uint8())
    cols["u32"] = pa.array([maybe(rng.randint(0, 2**32 - 1)) for _ in range(n)], pa.uint32())
    cols["f32"] = pa.array([maybe(rng.choice([rng.uniform(-1e6, 1e6), 0.1, -0.0, 3.4e38, 1e-45,
                                               float("nan"), float("inf")])) for _ in range(n)], pa.float32())
    cols["f64"] = pa.array([maybe(rng.choice([rng.uniform(-1e6, 1e6), rng.random(), 1e16, 1e15, 1e-5,
                                               123456789.125, float("-inf"), 2.5e-308])) for _ in range(n)],
                           pa.float64())
    cols["ts_ms"] = pa.array([maybe(epoch + datetime.timedelta(milliseconds=rng.randint(-10**12, 4 * 10**12)))
                              for _ in range(n)], pa.timestamp("ms"))
    cols["ts_us_utc"] = pa.array([maybe(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc) +
                                        datetime.timedelta(microseconds=rng.randint(-10**15, 10**15)))
                                  for _ in range(n)], pa.timestamp("us", tz="UTC"))
    cols["date"] = pa.array([maybe(datetime.date(2000, 1, 1) + datetime.timedelta(days=rng.randint(-20000, 20000)))
                             for _ in range(n)], pa.date32())
    cols["time_ms"] = pa.array([maybe(datetime.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                                                    rng.randint(0, 999) * 1000)) for _ in range(n)],
                               pa.time32("ms"))
    cols["time_us"] = pa.array([maybe(datetime.time(rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                                                    rng.randint(0, 999999))) for _ in range(n)], pa.time64("us"))
    cols["s"] = pa.array([maybe(text(rng)) for _ in range(n)], pa.string())
    cols["s_req"] = pa.array([text(rng, 0, 3) for _ in range(n)], pa.string())
    cols["bin"] = pa.array([maybe(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 9)))) for _ in range(n)],
                           pa.binary())
    cols["fixed"] = pa.array([maybe(bytes(rng.getrandbits(8) for _ in range(5))) for _ in range(n)],
                             pa.binary(5))
    cols["dec"] = pa.array([maybe(decimal.Decimal(rng.randint(-10**17, 10**17)).scaleb(-4)) for _ in range(n)],
                           pa.decimal128(22, 4))
    cols["dec_small"] = pa.array([maybe(decimal.Decimal(rng.randint(-99999, 99999)).scaleb(-2)) for _ in range(n)],
                                 pa.decimal128(7, 2))
    cols["f16"] = pa.array([maybe(numpy.float16(rng.choice([rng.uniform(-65000, 65000), rng.uniform(-1, 1), 1e-7,
                                                             float("inf")]))) for _ in range(n)], pa.float16())
    return pa.table(cols)


def nested_table(rng, n):
    def maybe(v, p=0.15):
        return None if rng.random() < p else v

    inner = pa.struct([("x", pa.int32()), ("tags", pa.list_(pa.string())),
                       ("point", pa.struct([("lat", pa.float64()), ("lon", pa.float64())]))])
    rows = {"id": [], "lists": [], "deep": [], "kv": [], "records": [], "req_list": [], "opt_struct": []}
    for i in range(n):
        rows["id"].append(i)
        rows["lists"].append(maybe([maybe([maybe(rng.randint(-5, 5)) for _ in range(rng.randint(0, 3))])
                                    for _ in range(rng.randint(0, 3))]))
        rows["deep"].append(maybe([maybe([maybe([maybe(text(rng, 0, 2)) for _ in range(rng.randint(0, 2))])
                                          for _ in range(rng.randint(0, 2))]) for _ in range(rng.randint(0, 2))]))
        rows["kv"].append(maybe([(("k%d" % j) + rng.choice(WORDS), maybe(rng.randint(0, 99)))
                                 for j in range(rng.randint(0, 3))]))
        rows["records"].append(maybe([maybe({"x": maybe(rng.randint(0, 9)),
                                             "tags": maybe([maybe(rng.choice(HARMS)) for _ in range(rng.randint(0, 2))]),
                                             "point": maybe({"lat": maybe(rng.uniform(-90, 90)),
                                                             "lon": maybe(rng.uniform(-180, 180))})})
                                      for _ in range(rng.randint(0, 3))]))
        rows["req_list"].append([rng.randint(0, 3) for _ in range(rng.randint(0, 3))])
        rows["opt_struct"].append(maybe({"a": maybe(text(rng, 0, 2)), "b": {"c": maybe(rng.randint(0, 9))}}))
    schema = pa.schema([
        pa.field("id", pa.int64(), nullable=False),
        ("lists", pa.list_(pa.list_(pa.int64()))),
        ("deep", pa.list_(pa.list_(pa.list_(pa.string())))),
        ("kv", pa.map_(pa.string(), pa.int32())),
        ("records", pa.list_(inner)),
        pa.field("req_list", pa.list_(pa.field("item", pa.int16(), nullable=False)), nullable=False),
        ("opt_struct", pa.struct([("a", pa.string()), pa.field("b", pa.struct([("c", pa.int8())]))])),
    ])
    return pa.table(rows, schema=schema)


def delta_table(rng, n):
    base = rng.randint(-10**6, 10**6)
    return pa.table({
        "seq": pa.array([base + i * 3 + rng.randint(0, 2) for i in range(n)], pa.int64()),
        "rand32": pa.array([None if rng.random() < 0.1 else rng.randint(-2**31, 2**31 - 1) for _ in range(n)],
                           pa.int32()),
        "extreme": pa.array([rng.choice([-2**63, 2**63 - 1, 0]) for _ in range(n)], pa.int64()),
        "names": pa.array([None if rng.random() < 0.1 else "prefix/shared/" + text(rng, 0, 3) for _ in range(n)]),
        "texts": pa.array([text(rng, 0, 8) for _ in range(n)]),
        "f64": pa.array([None if rng.random() < 0.1 else rng.uniform(-1, 1) for _ in range(n)], pa.float64()),
        "f32": pa.array([rng.uniform(-1, 1) for _ in range(n)], pa.float32()),
        "tags": pa.array([[text(rng, 1, 2) for _ in range(rng.randint(0, 3))] for _ in range(n)],
                         pa.list_(pa.string())),
    })


def patterns_table(rng, n):
    """Text that exercises every SNAPPY element: repeats of every short period (overlapping copies),
    long runs, literals longer than 16 and 60 bytes, multi-byte characters."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 éü日本🙂"
    rows = []
    for i in range(n):
        period = 1 + i % 24
        unit = "".join(rng.choice(alphabet) for _ in range(period))
        literal = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        rows.append(unit * rng.randint(1, 80) + literal + unit * rng.randint(0, 5) + text(rng, 0, 30))
    return pa.table({"id": list(range(n)), "s": rows})


DELTA_ENCODINGS = {"seq": "DELTA_BINARY_PACKED", "rand32": "DELTA_BINARY_PACKED", "extreme": "DELTA_BINARY_PACKED",
                   "names": "DELTA_BYTE_ARRAY", "texts": "DELTA_LENGTH_BYTE_ARRAY", "f64": "BYTE_STREAM_SPLIT",
                   "f32": "BYTE_STREAM_SPLIT", "tags.list.element": "DELTA_BYTE_ARRAY"}


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(20261203)
    uf = ultrafeedback(rng, 160)
    write("ultrafeedback.snappy-v1", uf, compression="snappy", row_group_size=50, data_page_size=2048,
          write_batch_size=16)
    write("ultrafeedback.zstd-v2", uf, compression="zstd", data_page_version="2.0", row_group_size=70,
          data_page_size=1024, write_batch_size=8, use_dictionary=False)
    write("ultrafeedback.gzip-dict-v2", uf, compression="gzip", data_page_version="2.0", use_dictionary=True,
          data_page_size=4096, write_batch_size=32)
    ay = aya(rng, 150)
    write("aya.gzip-v1", ay, compression="gzip", row_group_size=64, data_page_size=512, write_batch_size=10)
    write("aya.legacy-dict", ay, compression="snappy", version="1.0", row_group_size=100)
    write("aya.plain-v2", ay, compression="none", use_dictionary=False, data_page_version="2.0")
    write("dolly.zstd", dolly(rng, 60), compression="zstd", row_group_size=25)
    ty = types_table(rng, 120)
    write("types.plain-v1", ty, compression="none", use_dictionary=False, row_group_size=40, data_page_size=256,
          write_batch_size=16)
    write("types.dict-snappy-v2", ty, compression="snappy", use_dictionary=True, data_page_version="2.0",
          data_page_size=512, write_batch_size=16)
    write("types.decimal-as-int", ty, compression="none", store_decimal_as_integer=True)
    write("int96.plain", ty.select(["ts_ms", "i32"]), compression="none", use_deprecated_int96_timestamps=True)
    ne = nested_table(rng, 120)
    write("nested.snappy-v1", ne, compression="snappy", row_group_size=45, data_page_size=512, write_batch_size=8)
    write("nested.zstd-v2", ne, compression="zstd", data_page_version="2.0", use_dictionary=False,
          data_page_size=300, write_batch_size=8)
    de = delta_table(rng, 500)
    write("delta.v1", de, compression="none", use_dictionary=False, column_encoding=DELTA_ENCODINGS,
          data_page_size=1024, write_batch_size=100, row_group_size=300)
    write("delta.zstd-v2", de, compression="zstd", use_dictionary=False, column_encoding=DELTA_ENCODINGS,
          data_page_version="2.0", data_page_size=2048, write_batch_size=128)
    write("empty.snappy", uf.slice(0, 0), compression="snappy")
    write("patterns.snappy", patterns_table(rng, 300), compression="snappy", use_dictionary=False,
          data_page_size=1 << 16, row_group_size=150)
    # A decompression bomb: a page whose header declares 2^31-1 bytes uncompressed.
    bomb = os.path.join(OUT, "hostile-bomb.parquet")
    pq.write_table(pa.table({"s": ["x" * 100] * 4}), bomb, compression="gzip", use_dictionary=False)
    data = bytearray(open(bomb, "rb").read())
    # The first page header starts at offset 4: field 1 (type, i32) then field 2 (uncompressed size).
    assert data[4] == 0x15 and data[6] == 0x15, "unexpected page header layout"
    end = 7
    while data[end] & 0x80:
        end += 1
    data[7:end + 1] = bytes([0xFE, 0xFF, 0xFF, 0xFF, 0x0F])  # zigzag(2^31 - 1)
    footer_len = int.from_bytes(data[-8:-4], "little")
    open(bomb, "wb").write(data)
    meta_start = len(data) - 8 - footer_len
    assert meta_start > 0
    # Dictionary index out of range: a dictionary of 2 strings, indices rewritten to 3.
    dict_path = os.path.join(OUT, "hostile-dict-index.parquet")
    pq.write_table(pa.table({"s": ["a", "b", "a", "b"]}), dict_path, compression="none", use_dictionary=True)
    data = bytearray(open(dict_path, "rb").read())
    meta = pq.ParquetFile(dict_path).metadata.row_group(0).column(0)
    start = meta.data_page_offset
    # Data page v1: header, def levels (4-byte length, RLE run of 4 ones), bit width 1, indices
    # bit-packed (one group: 0, 1, 0, 1).
    body = data.find(bytes([0x02, 0x00, 0x00, 0x00, 0x08, 0x01, 0x01, 0x03, 0x0A]), start)
    assert body > 0, "unexpected data page layout"
    data[body + 7] = 0x08  # an RLE run of 4 values ...
    data[body + 8] = 0x05  # ... of index 5
    open(dict_path, "wb").write(data)
    # Python's float repr, the layout of floats in JSONL: bit pattern (hex) and repr per line.
    frng = random.Random(5)
    floats = [0.1, -0.0, 1e16, 1e15, 123456789012345.6, 1e-4, 9.999e-5, 1e-5, 5e-324, 2.2250738585072014e-308,
              1.7976931348623157e308, 1 / 3, 100.0, 1e22, 1.5e300, -2.5e-7, 0.5, 4.35, 2.0 ** 53, 2.0 ** 53 + 2, 2.0 ** 63, 12345678901234567.0]
    floats += [frng.uniform(-1, 1) * 10 ** frng.randint(-30, 30) for _ in range(400)]
    floats += [struct.unpack("<d", struct.pack("<Q", frng.getrandbits(64)))[0] for _ in range(200)]
    with open(os.path.join(OUT, "float-reprs.txt"), "w") as f:
        for x in floats:
            if math.isfinite(x):
                f.write("%016x %r\n" % (struct.unpack("<Q", struct.pack("<d", x))[0], x))
    big = sys.argv.index("--big") + 1 if "--big" in sys.argv else 0
    if big:
        table = ultrafeedback(random.Random(7), 60000)
        pq.write_table(table, sys.argv[big], compression="snappy", row_group_size=10000)
        print("wrote", sys.argv[big], os.path.getsize(sys.argv[big]), "bytes")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("fixtures/parquet:", len(os.listdir(OUT)), "files,", total, "bytes")


if __name__ == "__main__":
    main()
