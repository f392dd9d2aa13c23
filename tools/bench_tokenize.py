#!/usr/bin/env python3
"""Throughput of the Rust `tokenizers` library on a text file, as one JSON line (dev only).

Usage: bench_tokenize.py TOKENIZER_JSON TEXT_FILE [--repeat N] [--batch-lines]

The text is split into lines (each line one input, as a corpus of documents would be) unless the
file has a single line. Measures, in MB/s of UTF-8 input:
  single_encode      Tokenizer.encode on every line in a loop (one thread)
  single_batch       encode_batch with RAYON_NUM_THREADS=1 (measured in a child process, because
                     rayon's pool size is fixed when the library first uses it)
  all_cores_batch    encode_batch with the default pool (all cores)
Each figure is the best of N repeats (default 3). add_special_tokens=False throughout. The
single-thread figures also come as *_cpu_mb_s: bytes per second of process CPU time, which stays
meaningful when other jobs share the machine.
"""
import argparse
import json
import os
import subprocess
import sys
import time


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n") if "\n" in text.strip("\n") else [text]
    lines = [l[:-1] if l.endswith("\r") else l for l in lines]
    return text, [l for l in lines if l]


def best(fn, repeat):
    """Best wall time and best process CPU time of `repeat` runs (CPU time is robust on a busy machine)."""
    times = []
    cpu = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        c0 = time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        times.append(time.perf_counter() - t0)
    return min(times), min(cpu)


def measure(tok_path, text_path, repeat, mode):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tok_path)
    text, lines = load(text_path)
    nbytes = sum(len(l.encode("utf-8")) for l in lines)
    tokens = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
    if mode == "encode":
        t, c = best(lambda: [tok.encode(l, add_special_tokens=False) for l in lines], repeat)
    else:
        t, c = best(lambda: tok.encode_batch(lines, add_special_tokens=False), repeat)
    return {"mb_per_s": nbytes / t / 1e6, "cpu_mb_per_s": nbytes / c / 1e6, "seconds": t, "bytes": nbytes,
            "tokens": tokens, "inputs": len(lines)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer")
    ap.add_argument("text")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", choices=["encode", "batch"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.tokenizer, args.text, args.repeat, args.child)))
        return

    def child(mode, threads):
        env = dict(os.environ)
        if threads:
            env["RAYON_NUM_THREADS"] = str(threads)
        else:
            env.pop("RAYON_NUM_THREADS", None)
        out = subprocess.run([sys.executable, __file__, args.tokenizer, args.text, "--repeat", str(args.repeat),
                              "--child", mode], env=env, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    import tokenizers
    single = child("encode", 1)
    single_batch = child("batch", 1)
    allc = child("batch", None)
    print(json.dumps({
        "tool": "tokenizers", "version": tokenizers.__version__, "tokenizer": args.tokenizer, "text": args.text,
        "bytes": single["bytes"], "tokens": single["tokens"], "inputs": single["inputs"],
        "single_encode_mb_s": round(single["mb_per_s"], 3),
        "single_encode_cpu_mb_s": round(single["cpu_mb_per_s"], 3),
        "single_batch_mb_s": round(single_batch["mb_per_s"], 3),
        "single_batch_cpu_mb_s": round(single_batch["cpu_mb_per_s"], 3),
        "all_cores_batch_mb_s": round(allc["mb_per_s"], 3),
        "cores": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
