#!/usr/bin/env python3
"""Dev tool (never used at run time): random mergekit configs on the fixture models, merged by the
real mergekit 0.1.5 and by mixmerge, compared tensor by tensor.

    python3 -m venv /tmp/mk && /tmp/mk/bin/pip install mergekit==0.1.5
    /tmp/mk/bin/python tools/fuzz_merges.py --mixmerge .build/release/mixmerge --cases 40 --seed 1

Prints one line per case: the method, the worst tensor's differing fraction and its largest
difference in ulps at the tensor's largest magnitude. Cases outside the fixtures README's tolerances
are marked SUSPECT and their configs kept under --keep (default /tmp/mixmerge-fuzz)."""
import argparse, json, os, random, shutil, subprocess, sys, tempfile

import torch
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "fixtures", "models")
FAMILIES = ["llama", "mistral", "qwen2", "gemma2", "cohere", "cohere2", "cohere_qknorm"]
TASK_METHODS = ["task_arithmetic", "ties", "dare_ties", "dare_linear", "breadcrumbs", "breadcrumbs_ties",
                "della", "della_linear"]
METHODS = ["linear", "slerp", "nuslerp", "model_stock", "sce", "multislerp", "nearswap", "karcher", "arcee_fusion"] + TASK_METHODS
FILTERS = ["self_attn", "mlp", "embed", "norm", "q_proj", "down_proj"]


def value(r, lo, hi, grad=True):
    """A scalar, a gradient list, or a filter list."""
    roll = r.random()
    if grad and roll < 0.2:
        return [round(r.uniform(lo, hi), 2) for _ in range(r.choice([2, 3]))]
    if grad and roll < 0.3:
        inner = [round(r.uniform(lo, hi), 2) for _ in range(3)] if r.random() < 0.4 else round(r.uniform(lo, hi), 2)
        return [{"filter": r.choice(FILTERS), "value": inner}, {"value": round(r.uniform(lo, hi), 2)}]
    return round(r.uniform(lo, hi), 2)


def config(r):
    fam = r.choice(FAMILIES)
    m = lambda v: f"{MODELS}/{fam}/{v}"
    method = r.choice(METHODS)
    fts = r.sample(["ft1", "ft2", "ft3"], r.choice([2, 3]))
    cfg = {"merge_method": method, "dtype": r.choice(["float32", "bfloat16", "bfloat16", "float16"])}
    if r.random() < 0.15:
        cfg["out_dtype"] = r.choice(["float32", "bfloat16"])
    params = {}
    models = []
    if method in ("slerp", "nearswap"):
        cfg["base_model"] = m(fts[0])
        models = [{"model": m(fts[0])}, {"model": m(fts[1])}]
        params["t"] = value(r, 0.0, 1.0) if method == "slerp" else round(r.choice([0.001, 0.01, 0.1]), 3)
    elif method == "linear":
        models = [{"model": m(v), "parameters": {"weight": value(r, 0.0, 1.0)}} for v in ["base"] + fts]
        params["normalize"] = r.random() < 0.7
    elif method in ("nuslerp",):
        models = [{"model": m(v), "parameters": {"weight": value(r, 0.1, 1.0, grad=False)}} for v in fts[:2]]
        if r.random() < 0.5:
            cfg["base_model"] = m("base")
        params["nuslerp_flatten"] = r.random() < 0.5
        if not params["nuslerp_flatten"] and r.random() < 0.5:
            params["nuslerp_row_wise"] = True
    elif method == "multislerp":
        models = [{"model": m(v), "parameters": {"weight": value(r, 0.1, 1.0, grad=False)}} for v in fts]
        if r.random() < 0.5:
            cfg["base_model"] = m("base")
        if r.random() < 0.3:
            params["normalize_weights"] = False
    elif method == "arcee_fusion":
        cfg["base_model"] = m("base")
        models = [{"model": m(fts[0])}]
    elif method in ("model_stock", "karcher"):
        models = [{"model": m(v)} for v in fts]
        if method == "model_stock" or r.random() < 0.5:
            cfg["base_model"] = m("base")
        if method == "karcher":
            params["max_iter"] = r.choice([3, 10])
        if method == "model_stock" and r.random() < 0.4:
            params["filter_wise"] = True
    elif method == "sce":
        cfg["base_model"] = m("base")
        models = [{"model": m(v)} for v in fts]
        params["select_topk"] = r.choice([1.0, 0.5, 0.3])
    else:
        cfg["base_model"] = m("base")
        for v in fts:
            p = {"weight": value(r, -0.2, 1.0)}
            if method != "task_arithmetic":
                p["density"] = value(r, 0.05, 1.0)
            if method.startswith("della"):
                d = p["density"] if isinstance(p["density"], float) else 0.5
                p["density"] = d
                p["epsilon"] = round(r.uniform(0.0, min(d, 1 - d) * 0.9), 3)
            if method.startswith("breadcrumbs"):
                p["gamma"] = round(r.uniform(0.0, 0.1), 3)
            models.append({"model": m(v), "parameters": p})
        if r.random() < 0.5:
            params["normalize"] = r.random() < 0.5
        if r.random() < 0.3:
            params["lambda"] = round(r.uniform(0.5, 1.5), 2)
        if method in ("dare_ties", "dare_linear", "della", "della_linear") and r.random() < 0.3:
            params["rescale"] = r.random() < 0.5
        if r.random() < 0.2:
            params["int8_mask"] = True
    if r.random() < 0.2 and models and all("parameters" in src for src in models):
        # A per-model parameter given once at the top level instead (mergekit's defaults for every model).
        key = r.choice(sorted(models[0]["parameters"]))
        params[key] = models[0]["parameters"][key]
        for src in models:
            src["parameters"].pop(key, None)
            if not src["parameters"]:
                del src["parameters"]
    if r.random() < 0.15:
        del cfg["dtype"]  # the compute dtype comes from the inputs (PyTorch promotion)
        cfg.pop("out_dtype", None)
    if params:
        cfg["parameters"] = params
    if r.random() < 0.35:
        # The slices form (mergekit's most common config): the same sources over one or two layer ranges.
        with open(f"{MODELS}/{fam}/base/config.json") as f:
            layers = json.load(f)["num_hidden_layers"]
        cut = r.randrange(1, layers) if layers > 1 and r.random() < 0.5 else layers
        ranges = [(0, cut)] + ([(cut, layers)] if cut < layers else [])
        sources = models
        if "base_model" in cfg and all(src["model"] != cfg["base_model"] for src in models):
            sources = [{"model": cfg["base_model"]}] + models  # a slice must list its base among the sources
        cfg["slices"] = [{"sources": [dict(src, layer_range=list(lr)) for src in sources]} for lr in ranges]
    else:
        cfg["models"] = models
    return method, cfg


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
BITS = {torch.float32: 23, torch.bfloat16: 7, torch.float16: 10}


def ulp(x, dtype):
    e = torch.floor(torch.log2(torch.clamp(x, min=1e-30)))
    return torch.pow(2.0, e - BITS[dtype])


def compare(a_dir, b_dir, compute):
    """The worst tensor, its differing fraction, and its largest difference in ulps at its largest
    magnitude, ulps of the stored dtype or of the compute dtype when that is coarser."""
    def tensors(d):
        out = {}
        for f in sorted(os.listdir(d)):
            if f.endswith(".safetensors"):
                out.update(load_file(os.path.join(d, f)))
        return out
    a, b = tensors(a_dir), tensors(b_dir)
    if set(a) != set(b):
        return f"tensor names differ: only mergekit {sorted(set(a) - set(b))[:3]}, only mixmerge {sorted(set(b) - set(a))[:3]}", 1.0, 1e9
    worst_frac, worst_ulp, worst_name = 0.0, 0.0, ""
    for name in a:
        x, y = a[name], b[name]
        if x.dtype != y.dtype or x.shape != y.shape:
            return f"{name}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}", 1.0, 1e9
        xf, yf = x.float(), y.float()
        same = (xf == yf) | (torch.isnan(xf) & torch.isnan(yf))
        frac = 1.0 - same.float().mean().item()
        if frac == 0:
            continue
        absmax = xf.abs().max()
        unit = compute if BITS[compute] < BITS[x.dtype] else x.dtype
        u = (xf - yf).abs().max() / ulp(absmax, unit)
        if frac > worst_frac or u.item() > worst_ulp:
            worst_name = name
        worst_frac, worst_ulp = max(worst_frac, frac), max(worst_ulp, u.item())
    return worst_name, worst_frac, worst_ulp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mixmerge", required=True)
    ap.add_argument("--mergekit", default=os.path.join(os.path.dirname(sys.executable), "mergekit-yaml"))
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default="/tmp/mixmerge-fuzz")
    ap.add_argument("--write-cases", metavar="DIR",
                    help="also keep every case mergekit merged as a fixture-style folder (config.yml, CASE.md, expected/) "
                         "for `MIXMERGE_EXTRA_CASES=DIR swift test --filter fixtureCase`, which applies the fixtures' tolerances")
    ap.add_argument("--methods", help="comma-separated methods to draw from (default: all)")
    args = ap.parse_args()
    if args.methods:
        METHODS[:] = [m for m in args.methods.split(",") if m]
    import yaml
    r = random.Random(args.seed)
    os.makedirs(args.keep, exist_ok=True)
    for case in range(args.cases):
        method, cfg = config(r)
        seed = r.randrange(1 << 16)
        work = tempfile.mkdtemp(prefix="fuzz-")
        try:
            path = os.path.join(work, "config.yml")
            with open(path, "w") as f:
                yaml.safe_dump(cfg, f, sort_keys=False)
            mk = subprocess.run([args.mergekit, path, f"{work}/mk", "--random-seed", str(seed), "--no-write-model-card", "--quiet"],
                                capture_output=True, text=True)
            mm = subprocess.run([args.mixmerge, "merge", path, f"{work}/mm", "--seed", str(seed), "--quiet", "--no-model-card"],
                                capture_output=True, text=True)
            tag = f"{case:3d} {method:16s} {cfg.get('dtype', 'inputs'):8s} seed {seed:5d}"
            if mk.returncode != 0 or mm.returncode != 0:
                mk_err = (mk.stderr.strip().splitlines() or [""])[-1][:120]
                mm_err = (mm.stderr.strip().splitlines() or [""])[-1][:160]
                status = "both fail" if mk.returncode and mm.returncode else "SUSPECT"
                if mk.returncode and not mm.returncode and "required but not present" in mk_err and "/models/cohere/" in open(path).read():
                    status = "mergekit fails (Aya 23 without q/k-norm: known)"
                print(f"{tag} {status}: mergekit rc {mk.returncode} {mk_err!r} | mixmerge rc {mm.returncode} {mm_err!r}", flush=True)
                if status == "SUSPECT":
                    shutil.copy(path, os.path.join(args.keep, f"case{case}-{method}.yml"))
                continue
            if args.write_cases:
                folder = os.path.join(args.write_cases, f"fuzz{args.seed}_{case}-{method}-{cfg.get('dtype', 'inputs')}")
                os.makedirs(os.path.join(folder, "expected"), exist_ok=True)
                shutil.copy(path, os.path.join(folder, "config.yml"))
                for f in ("config.json", "model.safetensors"):
                    shutil.copy(os.path.join(work, "mk", f), os.path.join(folder, "expected", f))
                with open(os.path.join(folder, "CASE.md"), "w") as f:
                    f.write(f"method={method} seed={seed} made by tools/fuzz_merges.py with mergekit 0.1.5\n")
            name, frac, u = compare(f"{work}/mk", f"{work}/mm", DTYPES.get(cfg.get("dtype"), torch.float32))
            print(f"{tag} differ {frac:8.4%} max {u:7.2f} ulp@absmax {name}", flush=True)
            if frac > 0:
                with open(os.path.join(args.keep, f"case{case}-{method}-s{seed}.yml"), "w") as f:
                    yaml.safe_dump(cfg, f, sort_keys=False)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
