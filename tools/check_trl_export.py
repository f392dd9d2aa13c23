#!/usr/bin/env python3
"""Checks a `TRLExport` folder against the installed TRL (dev only; needs trl, transformers and peft).

    /work/venv/bin/python tools/check_trl_export.py DIR [DIR ...]

Parses DIR/train.py with `ast` (nothing is run), finds the calls to SFTConfig, DPOConfig and LoraConfig,
and checks that every keyword passed is a field of the installed class (`dataclasses.fields`), and that the
trainer's keywords are parameters of the installed SFTTrainer / DPOTrainer. Also checks that the four files
are there and launch.sh is executable. Prints one line per call and exits 1 on the first folder with a
problem.
"""
import ast
import dataclasses
import inspect
import os
import sys

import peft
import transformers
import trl
from peft import LoraConfig
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

CONFIGS = {"SFTConfig": SFTConfig, "DPOConfig": DPOConfig, "LoraConfig": LoraConfig}
TRAINERS = {"SFTTrainer": SFTTrainer, "DPOTrainer": DPOTrainer}
FILES = ["train.py", "settings.json", "launch.sh", "README.md"]


def keywords(tree, name):
    """The keyword names of each call to `name(...)` in the module."""
    return [[k.arg for k in node.keywords] for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name]


def check(folder):
    problems = []
    for f in FILES:
        if not os.path.isfile(os.path.join(folder, f)):
            problems.append(f"{f} is missing")
    if not os.access(os.path.join(folder, "launch.sh"), os.X_OK):
        problems.append("launch.sh is not executable")
    with open(os.path.join(folder, "train.py"), encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), filename=os.path.join(folder, "train.py"))
    found = 0
    for name, cls in CONFIGS.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        for kws in keywords(tree, name):
            found += name != "LoraConfig"
            unknown = [k for k in kws if k not in fields]
            print(f"{folder}: {name}: {len(kws)} keywords, {len(kws) - len(unknown)} are fields of "
                  f"{cls.__module__}.{cls.__name__}" + (f"; NOT fields: {', '.join(unknown)}" if unknown else ""))
            problems += [f"{name}({k}=...) is not a field of the installed {name}" for k in unknown]
    if found != 1:
        problems.append(f"expected one SFTConfig or DPOConfig call, found {found}")
    # The script subclasses the trainer (class Trainer(DPOTrainer)) and calls the subclass.
    bases = [b.id for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == "Trainer"
             for b in node.bases if isinstance(b, ast.Name)]
    for base in bases:
        parameters = set(inspect.signature(TRAINERS[base].__init__).parameters)
        for kws in keywords(tree, "Trainer"):
            unknown = [k for k in kws if k not in parameters]
            print(f"{folder}: Trainer({base}): {len(kws)} keywords, {len(kws) - len(unknown)} are parameters of "
                  f"{base}.__init__" + (f"; NOT parameters: {', '.join(unknown)}" if unknown else ""))
            problems += [f"Trainer({k}=...) is not a parameter of {base}" for k in unknown]
        for method in ("get_decay_parameter_names", "_prepare_dataset"):
            overridden = any(isinstance(n, ast.FunctionDef) and n.name == method for n in ast.walk(tree))
            if overridden and not hasattr(TRAINERS[base], method):
                problems.append(f"train.py overrides {method}, which {base} does not have")
    if not bases:
        problems.append("no `class Trainer(SFTTrainer | DPOTrainer)` in train.py")
    return problems


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(f"trl {trl.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")
    for folder in sys.argv[1:]:
        problems = check(folder)
        if problems:
            for p in problems:
                print(f"{folder}: {p}")
            sys.exit(1)
        print(f"{folder}: ok")


if __name__ == "__main__":
    main()
