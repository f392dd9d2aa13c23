import Checkpoints
import Foundation

/// Writes the TRL equivalent of a `mixmerge train` run: a folder with `train.py` (`SFTTrainer` or
/// `DPOTrainer` with the same data, model, tokenizer and hyperparameters), `settings.json`, `launch.sh`
/// (`accelerate launch`) and `README.md` (which option became which TRL or transformers argument, and
/// what has no exact equivalent).
///
/// The script targets TRL ≥ 1.0 with transformers ≥ 5 (TRL 1.0 removed `max_prompt_length` and the
/// label smoothing of its `sigmoid` loss; transformers 5 folded `warmup_ratio` into `warmup_steps`), and
/// refuses older versions when run. Every keyword it passes was checked against `checkedAgainst` with
/// `tools/check_trl_export.py`.
///
/// The folder is built under a hidden temporary name and renamed into place when complete
/// (`OutputFolder`): an existing non-empty folder is refused unless `overwrite`, and then replaced
/// whole, never merged into.
public enum TRLExport {
    /// The versions whose `SFTConfig`, `DPOConfig`, `TrainingArguments` and `LoraConfig` fields the
    /// emitted keywords were checked against.
    public static let checkedAgainst = "trl 1.16.0, transformers 5.25.0, peft 0.21.2"

    /// The files `write` puts in the folder, in this order.
    public static let files = ["train.py", "settings.json", "launch.sh", "README.md"]

    /// Writes the export folder.
    ///
    /// - Parameters:
    ///   - s: the run's settings (validated first).
    ///   - dir: the folder to write; its parent is created if missing.
    ///   - dataFiles: the files `s.data` resolves to (`DataFiles.resolve`): `.jsonl`/`.json`, `.parquet`,
    ///     `.csv` or `.tsv`, all of one kind.
    ///   - evalFiles: held-out files to evaluate on (every `s.evalEvery` steps, else once at the end);
    ///     empty = no evaluation.
    ///   - overwrite: replace an existing non-empty `dir`.
    /// - Returns: the names of the files written (`files`).
    /// - Throws: `TrainSettingsError` for settings or data files that cannot be exported;
    ///   `OutputFolderError` when the folder cannot be written or exists (without `overwrite`).
    @discardableResult
    public static func write(_ s: TrainSettings, to dir: URL, dataFiles: [String], evalFiles: [String] = [],
                             overwrite: Bool = false) throws -> [String] {
        let script = try self.script(s, dataFiles: dataFiles, evalFiles: evalFiles)
        let json = try settingsJSON(s)
        let contents = [script, json, launcher(s), readme(s, dataFiles: dataFiles, evalFiles: evalFiles)]
        try OutputFolder.check(dir, overwrite: overwrite)
        let temp = try OutputFolder.begin(dir)
        do {
            for (name, text) in zip(files, contents) {
                try OutputFolder.write(Data(text.utf8), name, in: temp, of: dir)
            }
            guard chmod(temp.appendingPathComponent("launch.sh").path, 0o755) == 0 else {
                let reason = String(cString: strerror(errno))
                throw OutputFolderError("\(dir.appendingPathComponent("launch.sh").path): cannot make it executable (\(reason))")
            }
            try OutputFolder.commit(temp, to: dir)
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw error
        }
        return files
    }

    // MARK: - The arguments

    /// One keyword argument of the emitted `SFTConfig` / `DPOConfig` / `LoraConfig`, with the option it
    /// comes from; the script and the README's table are both made from these.
    struct Argument {
        var name: String
        /// A Python expression.
        var value: String
        /// Our option(s), or a parenthesised reason when the value is fixed by mixmerge's trainer.
        var option: String
        var note: String = ""
    }

    /// The loaders of `datasets.load_dataset` by file extension.
    static func loader(_ files: [String]) throws(TrainSettingsError) -> (builder: String, extra: String) {
        func kind(_ f: String) -> (String, String)? {
            let name = f.lowercased()
            if name.hasSuffix(".jsonl") || name.hasSuffix(".json") { return ("json", "") }
            if name.hasSuffix(".parquet") { return ("parquet", "") }
            if name.hasSuffix(".csv") { return ("csv", "") }
            if name.hasSuffix(".tsv") { return ("csv", ", delimiter=\"\\t\"") }
            return nil
        }
        guard let first = files.first else { throw TrainSettingsError("--data resolves to no file to export") }
        guard let k = kind(first) else {
            throw TrainSettingsError("\(first): no datasets loader for this extension (.jsonl, .json, .parquet, .csv, .tsv)")
        }
        for f in files.dropFirst() where kind(f).map({ $0 != k }) ?? true {
            throw TrainSettingsError("\(f): datasets loads one kind of file at a time, and \(first) is \(k.0)")
        }
        return k
    }

    /// transformers' scheduler name for ours: `constant` with a warm-up is `constant_with_warmup`
    /// (transformers' `constant` ignores warm-up).
    static func scheduler(_ s: TrainSettings) -> String {
        let warmup = s.warmupSteps > 0 || (s.warmupRatio ?? 0) > 0
        switch s.schedule {
        case .linear: return "linear"
        case .cosine: return "cosine"
        case .constant: return warmup ? "constant_with_warmup" : "constant"
        }
    }

    static func configArguments(_ s: TrainSettings, evaluating: Bool) -> [Argument] {
        var a: [Argument] = [
            Argument(name: "output_dir", value: "OUTPUT_DIR", option: "--out",
                     note: "checkpoints (checkpoint-N) and the final model"),
            Argument(name: "learning_rate", value: Python.number(s.lr), option: "--lr"),
            Argument(name: "lr_scheduler_type", value: Python.string(scheduler(s)), option: "--schedule",
                     note: s.schedule == .constant && scheduler(s) != "constant"
                        ? "transformers' `constant` ignores warm-up; ours warms up, as `constant_with_warmup`" : ""),
        ]
        if let ratio = s.warmupRatio {
            a.append(Argument(name: "warmup_steps", value: Python.number(ratio), option: "--warmup-ratio",
                              note: "transformers 5 reads a value below 1 as a ratio: ⌈ratio · total steps⌉, as ours"))
        } else {
            a.append(Argument(name: "warmup_steps", value: "\(s.warmupSteps)", option: "--warmup-steps"))
        }
        a += [
            Argument(name: "weight_decay", value: Python.number(s.weightDecay), option: "--weight-decay"),
            Argument(name: "optim", value: Python.string("adamw_torch"), option: "(AdamW)",
                     note: "torch.optim.AdamW, as mixmerge's AdamW (transformers' default on torch ≥ 2.8 is the fused kernel)"),
            Argument(name: "adam_beta1", value: "0.9", option: "(AdamW)"),
            Argument(name: "adam_beta2", value: "0.999", option: "(AdamW)"),
            Argument(name: "adam_epsilon", value: "1e-08", option: "(AdamW)"),
            Argument(name: "max_grad_norm", value: Python.number(s.maxGradNorm), option: "--max-grad-norm",
                     note: "0 = no clipping in both"),
            Argument(name: "per_device_train_batch_size", value: "\(s.batchSize)", option: "--batch-size",
                     note: s.objective == .dpo ? "pairs per device" : "rows per device"),
            Argument(name: "gradient_accumulation_steps", value: "\(s.gradAccum)", option: "--grad-accum"),
            Argument(name: "num_train_epochs", value: "\(s.epochs)", option: "--epochs"),
            Argument(name: "max_steps", value: "\(s.maxSteps ?? -1)", option: "--max-steps", note: "-1 = by epochs"),
            Argument(name: "seed", value: "\(s.seed)", option: "--seed",
                     note: "same seed, different generator: the batches' order differs from mixmerge's"),
        ]
        if !s.shuffle {
            a.append(Argument(name: "train_sampling_strategy", value: Python.string("sequential"), option: "--shuffle false"))
        }
        a.append(Argument(name: "max_length", value: "\(s.effectiveMaxLength)", option: "--max-length",
                          note: "sequences are cut at the end (keep_start), as ours"))
        switch s.objective {
        case .sft:
            a.append(Argument(name: "assistant_only_loss", value: Python.bool(s.lossScope == .assistant),
                              option: "--loss-scope \(s.lossScope.rawValue)",
                              note: "needs a chat template with {% generation %} markers (TRL swaps in its own for the families it knows)"))
        case .dpo:
            a.append(Argument(name: "beta", value: Python.number(s.beta), option: "--beta"))
            let e = s.labelSmoothing
            switch (s.dpoLoss, e > 0) {
            case (.sigmoid, false):
                a.append(Argument(name: "loss_type", value: "[\(Python.string("sigmoid"))]", option: "--dpo-loss sigmoid"))
            case (.sigmoid, true):
                // TRL ≥ 1.0's sigmoid has no label smoothing. Conservative DPO −(1−ε)·log σ(x) − ε·log σ(−x) is
                // 2(1−ε)·sigmoid − (1−2ε)·robust exactly (robust = (−(1−ε)·log σ(x) + ε·log σ(−x)) / (1−2ε)).
                a.append(Argument(name: "loss_type", value: "[\(Python.string("sigmoid")), \(Python.string("robust"))]",
                                  option: "--dpo-loss sigmoid",
                                  note: "with label smoothing: TRL ≥ 1.0's sigmoid ignores it; see loss_weights"))
                a.append(Argument(name: "loss_weights", value: "[\(Python.number(2 * (1 - e))), \(Python.number(-(1 - 2 * e)))]",
                                  option: "--label-smoothing",
                                  note: "conservative DPO = 2(1−ε)·sigmoid − (1−2ε)·robust, the same loss and gradient"))
            case (.robust, _):
                a.append(Argument(name: "loss_type", value: "[\(Python.string("robust"))]", option: "--dpo-loss robust"))
            }
            a.append(Argument(name: "label_smoothing", value: Python.number(e), option: "--label-smoothing"))
            // TRL zeroes every nn.Dropout of the policy (LoRA's too) unless told not to.
            let keepDropout = s.loraR != nil && s.loraDropout > 0
            a.append(Argument(name: "disable_dropout", value: Python.bool(!keepDropout), option: "(--lora-dropout)",
                              note: keepDropout ? "False so that LoRA's dropout is applied (TRL would zero it)" : "TRL's default"))
        }
        a.append(Argument(name: "logging_steps", value: "\(s.logEvery)", option: "--log-every"))
        if let every = s.saveEvery {
            a.append(Argument(name: "save_strategy", value: Python.string("steps"), option: "--save-every"))
            a.append(Argument(name: "save_steps", value: "\(every)", option: "--save-every"))
        } else {
            a.append(Argument(name: "save_strategy", value: Python.string("no"), option: "(no --save-every)",
                              note: "the final model is saved by the script"))
        }
        if evaluating, let every = s.evalEvery {
            a.append(Argument(name: "eval_strategy", value: Python.string("steps"), option: "--eval-every"))
            a.append(Argument(name: "eval_steps", value: "\(every)", option: "--eval-every"))
        } else {
            a.append(Argument(name: "eval_strategy", value: Python.string("no"), option: "(no --eval-every)",
                              note: evaluating ? "evaluated once after training" : ""))
        }
        if evaluating {
            a.append(Argument(name: "per_device_eval_batch_size", value: "\(s.batchSize)", option: "--batch-size"))
        }
        a += [
            Argument(name: "bf16", value: "False", option: "(float32)",
                     note: "mixmerge computes in float32; TRL's configs default to bf16 mixed precision (refused on a CPU without bf16)"),
            Argument(name: "report_to", value: Python.string("none"), option: "(none)"),
        ]
        return a
    }

    static func loraArguments(_ s: TrainSettings, r: Int) -> [Argument] {
        let alpha = s.loraAlpha.rounded() == s.loraAlpha && abs(s.loraAlpha) < 1e9 ? "\(Int(s.loraAlpha))" : Python.number(s.loraAlpha)
        return [
            Argument(name: "r", value: "\(r)", option: "--lora-r"),
            Argument(name: "lora_alpha", value: alpha, option: "--lora-alpha", note: "scale α/r, as ours"),
            Argument(name: "lora_dropout", value: Python.number(s.loraDropout), option: "--lora-dropout"),
            Argument(name: "target_modules", value: Python.list(s.loraTargets), option: "--lora-targets"),
            Argument(name: "task_type", value: Python.string("CAUSAL_LM"), option: "(causal LM)"),
        ]
    }

    static func call(_ function: String, _ arguments: [Argument]) -> String {
        var lines = ["\(function)("]
        for a in arguments {
            let comment = a.option.hasPrefix("(") ? "" : "  # \(a.option)"
            lines.append("    \(a.name)=\(a.value),\(comment)")
        }
        lines.append(")")
        return lines.joined(separator: "\n")
    }

    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    // MARK: - The files

    /// `train.py`.
    ///
    /// - Throws: `TrainSettingsError` when the settings are invalid or the data files cannot be loaded by one
    ///   `datasets` builder.
    public static func script(_ s: TrainSettings, dataFiles: [String], evalFiles: [String] = []) throws(TrainSettingsError)
        -> String
    {
        try s.validate()
        let (builder, extra) = try loader(dataFiles)
        if !evalFiles.isEmpty { _ = try loader(dataFiles + evalFiles) }
        let sft = s.objective == .sft
        let config = sft ? "SFTConfig" : "DPOConfig", trainer = sft ? "SFTTrainer" : "DPOTrainer"
        let evaluating = !evalFiles.isEmpty
        var py = """
            #!/usr/bin/env python3
            \"\"\"The TRL equivalent of `mixmerge train \(s.objective.rawValue)` with the settings in settings.json (written by mixmerge).

            Run ./launch.sh (accelerate) or `python train.py`. Needs trl>=1.0, transformers>=5, datasets,
            accelerate\(s.loraR != nil ? ", peft" : ""); keywords checked against \(checkedAgainst).
            README.md maps each mixmerge option to its TRL argument.
            \"\"\"
            \(s.maxPromptLength != nil ? "import copy\n" : "")import sys

            import torch
            import transformers
            import trl
            from datasets import load_dataset
            from packaging.version import Version
            \(s.loraR != nil ? "from peft import LoraConfig\n" : "")from transformers import \(s.saveDtype == nil ? "AutoConfig, " : "")AutoModelForCausalLM, AutoTokenizer
            from trl import \(config), \(trainer)

            """
        py += """

            if Version(trl.__version__) < Version("1.0") or Version(transformers.__version__) < Version("5.0"):
                found = f"trl {trl.__version__}, transformers {transformers.__version__}"
                sys.exit(f"train.py needs trl>=1.0 and transformers>=5 (found {found})")

            MODEL = \(Python.string(absolute(s.model)))  # --model
            DATA_FILES = \(Python.list(dataFiles.map(absolute)))  # --data
            EVAL_FILES = \(Python.list(evalFiles.map(absolute)))
            OUTPUT_DIR = \(Python.string(absolute(s.out)))  # --out

            """
        if !sft { py += "REF_MODEL = \(s.refModel.map { Python.string(absolute($0)) } ?? "None")  # --ref-model\n" }
        if let p = s.maxPromptLength { py += "MAX_PROMPT_LENGTH = \(p)  # --max-prompt-length\n" }
        py += "WEIGHT_DECAY_ON = \(Python.string(s.weightDecayOn.rawValue))  # --weight-decay-on\n"
        if let dtype = s.saveDtype {
            let torchName = ["bf16": "bfloat16", "f16": "float16", "f32": "float32"][dtype] ?? "float32"
            py += "SAVE_DTYPE = torch.\(torchName)  # --save-dtype \(dtype)\n"
        } else {
            py += """
                # No --save-dtype: the base model's stored dtype (config.json's `dtype`).
                SAVE_DTYPE = getattr(AutoConfig.from_pretrained(MODEL), "dtype", None) or torch.float32
                if isinstance(SAVE_DTYPE, str):
                    SAVE_DTYPE = getattr(torch, SAVE_DTYPE)

                """
        }
        if let t = s.threads { py += "\ntorch.set_num_threads(\(t))  # --threads\n" }
        py += """

            # The model folder's tokenizer, so its chat template renders the conversations.
            tokenizer = AutoTokenizer.from_pretrained(MODEL)
            # float32 master weights and compute, as mixmerge trains.
            model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32)

            """
        if !sft {
            py += """
                # None: TRL's reference is the model as it starts (with LoRA: the model with its adapter disabled).
                ref_model = AutoModelForCausalLM.from_pretrained(REF_MODEL, dtype=torch.float32) if REF_MODEL else None

                """
        }
        py += """
            train_dataset = load_dataset(\(Python.string(builder)), data_files=DATA_FILES, split="train"\(extra))
            eval_dataset = load_dataset(\(Python.string(builder)), data_files=EVAL_FILES, split="train"\(extra)) if EVAL_FILES else None


            class Trainer(\(trainer)):
                \"\"\"\(trainer) with mixmerge's weight-decay groups\(s.maxPromptLength != nil ? " and prompt limit" : "").\"\"\"

                def get_decay_parameter_names(self, model):
                    # matrices: every parameter with 2 or more dimensions (not norms' weights or biases);
                    # all: every parameter. transformers' own rule goes by name (bias, norm) and differs for
                    # 2-D norm weights such as Cohere's q_norm / k_norm.
                    return [n for n, p in model.named_parameters() if WEIGHT_DECAY_ON == "all" or p.ndim >= 2]

            """
        if s.maxPromptLength != nil {
            py += """

                    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
                        # TRL >= 1.0 has no max_prompt_length: tokenize with TRL's own code and no length limit, keep
                        # each prompt's last MAX_PROMPT_LENGTH tokens, then drop the pairs whose prompt alone fills
                        # max_length, as TRL does (the collator then cuts the completions' ends at max_length).
                        unlimited = copy.copy(args)
                        unlimited.max_length = None
                        dataset = super()._prepare_dataset(dataset, processing_class, unlimited, dataset_name)
                        dataset = dataset.map(lambda example: {"prompt_ids": example["prompt_ids"][-MAX_PROMPT_LENGTH:]})
                        if args.max_length is not None:
                            dataset = dataset.filter(lambda example: len(example["prompt_ids"]) < args.max_length)
                        return dataset

                """
        }
        py += "\n\nargs = " + call(config, configArguments(s, evaluating: evaluating)) + "\n"
        if let r = s.loraR {
            py += "peft_config = " + call("LoraConfig", loraArguments(s, r: r)) + "\n"
        } else {
            py += "peft_config = None  # full fine-tuning (no --lora-r)\n"
        }
        let refArgument = sft ? "" : "\n    ref_model=ref_model,"
        py += """

            trainer = Trainer(
                model=model,\(refArgument)
                args=args,
                train_dataset=train_dataset,
                eval_dataset=eval_dataset,
                processing_class=tokenizer,
                peft_config=peft_config,
            )
            trainer.train()

            """
        if evaluating && s.evalEvery == nil { py += "print(trainer.evaluate())\n" }
        py += """

            if trainer.is_world_process_zero():
                final = trainer.accelerator.unwrap_model(trainer.model)

            """
        if s.mergeLora {
            py += "    final = final.merge_and_unload()  # --merge-lora: the adapter folded into the weights\n"
        } else if s.loraR != nil {
            py += "    # No --merge-lora: save_pretrained writes the adapter alone.\n"
        }
        py += """
                final.to(SAVE_DTYPE).save_pretrained(OUTPUT_DIR)
                tokenizer.save_pretrained(OUTPUT_DIR)

            """
        return py
    }

    /// `settings.json`: the settings as `TrainSettings` encodes them (keys as in YAML; reads back with
    /// `TrainSettings.load(yaml:file:)`).
    public static func settingsJSON(_ s: TrainSettings) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(s), as: UTF8.self) + "\n"
    }

    /// `launch.sh`.
    public static func launcher(_ s: TrainSettings) -> String {
        var sh = """
            #!/bin/sh
            # The TRL equivalent of this `mixmerge train \(s.objective.rawValue)` run, on one process. With more
            # processes (GPUs) raise --num_processes: the batch is per device, so the effective batch grows with it.
            set -eu
            cd "$(dirname "$0")"

            """
        if let t = s.threads { sh += "export OMP_NUM_THREADS=\(t)  # --threads\n" }
        sh += "exec accelerate launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no train.py \"$@\"\n"
        return sh
    }

    /// `README.md`: the mapping table and what has no exact equivalent.
    public static func readme(_ s: TrainSettings, dataFiles: [String], evalFiles: [String] = []) -> String {
        let config = s.objective == .sft ? "SFTConfig" : "DPOConfig"
        let saveDtype = s.saveDtype ?? "the base model's stored dtype (config.json's `dtype`)"
        func row(_ a: Argument) -> String {
            "| `\(a.option)` | `\(a.name)=\(a.value)` | \(a.note.replacingOccurrences(of: "|", with: "\\|")) |"
        }
        var md = """
            # TRL export of `mixmerge train \(s.objective.rawValue)`

            `train.py` runs the same training with TRL's `\(s.objective == .sft ? "SFTTrainer" : "DPOTrainer")`: the same data files
            (`datasets.load_dataset`), the model folder (`AutoModelForCausalLM.from_pretrained`, float32) and its tokenizer and
            chat template, and the hyperparameters below. Run `./launch.sh` (`accelerate launch`) or `python train.py`.
            It needs trl ≥ 1.0 and transformers ≥ 5 (it refuses older ones); every keyword was checked against
            \(checkedAgainst). `settings.json` holds mixmerge's settings (it reads back as a settings file).

            Data: \(dataFiles.count) file(s)\(evalFiles.isEmpty ? "" : ", \(evalFiles.count) held-out file(s) for evaluation").

            ## `\(config)(…)`

            | mixmerge | TRL / transformers | note |
            | --- | --- | --- |

            """
        md += configArguments(s, evaluating: !evalFiles.isEmpty).map(row).joined(separator: "\n") + "\n"
        if let r = s.loraR {
            md += "\n## `peft.LoraConfig(…)`, passed as `peft_config=`\n\n| mixmerge | peft | note |\n| --- | --- | --- |\n"
            md += loraArguments(s, r: r).map(row).joined(separator: "\n") + "\n"
        }
        md += """

            ## No exact TRL equivalent: what the script does

            - `--weight-decay-on \(s.weightDecayOn.rawValue)`: TRL has no switch. transformers' `Trainer` decays every
              parameter whose name has no `bias` or `norm` in it — for Llama, Mistral, Qwen2 and Gemma2 the same set as
              `matrices` (every parameter with ≥ 2 dimensions), but not for Cohere's 2-D `q_norm`/`k_norm` weights. The
              script's `Trainer` subclass overrides `get_decay_parameter_names` so the groups are exactly mixmerge's
              (`matrices`: ndim ≥ 2; `all`: every parameter).
            - `--save-dtype`: no `TrainingArguments` field. The script casts the final model to \(saveDtype) before
              `save_pretrained(OUTPUT_DIR)`; intermediate `checkpoint-N` folders (`--save-every`) are transformers' own
              (float32, with optimizer state).
            - `--threads`: `torch.set_num_threads` in `train.py` and `OMP_NUM_THREADS` in `launch.sh`.
            - The order of the batches: the same `--seed` drives a different generator (torch's `RandomSampler`), so the
              batches differ from mixmerge's; losses agree in distribution, not step by step.
            - Pre-tokenised records (`input_ids`/`labels`, `prompt_ids`/`chosen_ids`/`rejected_ids`): TRL's `SFTTrainer`
              takes `input_ids` but builds its own labels; `DPOTrainer` needs text or conversations. Conversations
              (`messages`; `prompt`/`chosen`/`rejected`; implicit-prompt `chosen`/`rejected`), as `mixmerge mix` writes, go
              through unchanged.

            """
        var notes: [String] = []
        switch s.objective {
        case .sft:
            notes.append(s.lossScope == .assistant
                ? "`--loss-scope assistant`: `assistant_only_loss=True` needs a chat template with `{% generation %}` markers; "
                    + "TRL swaps in a training template for the model families it knows and fails on others, where mixmerge "
                    + "finds the assistant turns itself."
                : "`--loss-scope all`: `assistant_only_loss=False`: every token of the rendered conversation counts, as ours.")
        case .dpo:
            notes.append("`--loss-scope`: DPO's loss is over the completions' tokens in both; the setting applies to SFT only.")
            if let p = s.maxPromptLength {
                notes.append("`--max-prompt-length \(p)`: removed in TRL 1.0. The script's `Trainer` overrides `_prepare_dataset` "
                    + "(a private TRL method, checked on TRL 1.16) to keep each prompt's last \(p) tokens, as ours. A pair "
                    + "whose prompt alone fills `max_length` is dropped by TRL; mixmerge refuses it.")
            } else {
                notes.append("`--max-prompt-length`: removed in TRL 1.0; not set here, so only `max_length` cuts (the completions' ends).")
            }
            if s.dpoLoss == .sigmoid {
                notes.append("`--label-smoothing` with `--dpo-loss sigmoid`: TRL ≥ 1.0's `sigmoid` ignores `label_smoothing`. "
                    + "Conservative DPO, −(1−ε)·log σ(βΔ) − ε·log σ(−βΔ), is written as `loss_type=[\"sigmoid\", \"robust\"]` "
                    + "with `loss_weights=[2(1−ε), −(1−2ε)]` when ε > 0: the same loss and gradient (the logged per-type "
                    + "metrics are TRL's).")
            } else {
                notes.append("`--dpo-loss robust`: TRL's `robust` is ours, (−(1−ε)·log σ(βΔ) + ε·log σ(−βΔ)) / (1−2ε).")
            }
            notes.append("Dropout: TRL's `disable_dropout=True` zeroes every dropout of the policy, LoRA's included; the script "
                + "sets it to False only when `--lora-dropout` is above 0.")
            notes.append(s.refModel == nil
                ? "`--ref-model` not given: TRL's reference is the starting model (with LoRA, the model with its adapter "
                    + "disabled), as ours."
                : "`--ref-model`: loaded as `ref_model=` (float32).")
        }
        if s.loraR != nil {
            notes.append((s.mergeLora
                ? "`--merge-lora`: `merge_and_unload()` after training, then the merged model is saved. "
                : "No `--merge-lora`: the adapter alone is saved (`adapter_model.safetensors`). ")
                + "peft initialises A with Kaiming-uniform and B with zeros; the random A differs from mixmerge's.")
        }
        if s.evalEvery != nil && evalFiles.isEmpty {
            notes.append("`--eval-every`: no held-out files were given to the export, so the script does not evaluate.")
        }
        md += notes.map { "- \($0)\n" }.joined()
        return md
    }
}

/// Python literals for the emitted script.
enum Python {
    /// A double-quoted Python string literal.
    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    out += "\\x" + String(u.value, radix: 16).leftPadded(to: 2)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// A Python float literal (Swift's shortest round-trip form is valid Python: `2e-05`, `0.1`).
    static func number(_ x: Double) -> String { "\(x)" }

    static func bool(_ b: Bool) -> String { b ? "True" : "False" }

    static func list(_ items: [String]) -> String { "[" + items.map(string).joined(separator: ", ") + "]" }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
