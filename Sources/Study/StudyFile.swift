import Foundation
import Yams

/// What a study file declares: the data (a `mixmerge mix` file, or the same inline), models from
/// outside the study, training runs, merges (with weight sweeps), the evaluation and the report.
/// Paths are resolved against the study file's folder. See docs/study.md for every key.
public struct StudyFile: Sendable {
    public var path: URL
    public var name: String
    public var seed: UInt64 = 0
    public var mix: MixInput?
    public var models: [String: ExternalModel] = [:]
    public var runs: [TrainRun] = []
    public var merges: [MergeSpec] = []
    public var evaluation: EvaluationSpec?
    public var report = ReportSpec()
    /// Inputs a dry run found missing (data, models, prompt files, key variables).
    public var warnings: [String] = []
    /// The profile applied (`--profile NAME`, `--quick`), if any.
    public var profile: String?
    /// Line of every declared name, for messages.
    public var lines: [String: Int] = [:]

    public var directory: URL { path.deletingLastPathComponent() }
    public var fileName: String { path.lastPathComponent }

    public enum MixInput: Sendable {
        /// A mixture file of `mixmerge mix`.
        case file(URL)
        /// The same schema inline, with its source paths made absolute.
        case inline(String)
    }

    public enum ExternalModel: Sendable, Equatable {
        case folder(URL)
        /// An OpenAI-compatible endpoint: a candidate only (it cannot be trained or merged).
        case endpoint(url: String, model: String, keyEnv: String?)
    }

    public enum Objective: String, Sendable { case sft, dpo }

    public enum Engine: Sendable, Equatable {
        /// mixmerge's own trainer or merger.
        case local
        /// `mixmerge train --emit trl` then the launch command (default `{trl}/launch.sh`).
        case trl(command: String)
        /// Any command that leaves an HF model folder at `{out}`.
        case command(String)
    }

    public struct TrainRun: Sendable {
        public var name: String
        public var line: Int
        public var from: String
        public var data: DataRef
        public var objective: Objective
        public var refModel: String?
        public var engine: Engine
        /// Trainer settings as YAML (snake_case keys of `mixmerge train --config`), defaults merged in.
        public var settings: [(String, String)]
    }

    public enum DataRef: Sendable, Equatable {
        case mixture(String)
        case file(URL)
    }

    public struct MergeSpec: Sendable {
        public var name: String
        public var line: Int
        /// Values substituted for `{w}` (and `1 − w` for `{1-w}`); each makes one member `name@w`.
        public var sweep: [Double]?
        /// The mergekit config (YAML), with `{w}` placeholders and study model names.
        public var configText: String
        public var config: Node { ((try? Yams.compose(yaml: configText)) ?? nil) ?? Node("") }
        public var engine: Engine
        /// Study models the config names (`model:`, `base_model:`, `tokenizer_source:`), in order.
        public var inputs: [String]

        public func memberName(_ w: Double) -> String { "\(name)@\(StudyFile.format(w))" }
        public var members: [String] { sweep.map { $0.map(memberName) } ?? [name] }
    }

    public struct PromptSet: Sendable {
        public enum Kind: String, Sendable { case harm, general }
        public var name: String
        public var line: Int
        public var kind: Kind
        public var format: String
        public var validation: URL?
        public var test: URL

        /// The prompt file of a split (nil: the set has no validation prompts).
        public func file(_ split: Step.Split) -> URL? { split == .test ? test : validation }
    }

    public enum Judge: Sendable, Equatable {
        /// The built-in rule judge (`mixmerge judge … --judge rules`).
        case rules
        /// An OpenAI-compatible judge: `url=…,model=…[,key_env=…]`.
        case endpoint(spec: String, keyEnv: String?)

        public var identity: String {
            switch self {
            case .rules: "rules"
            case .endpoint(let spec, _): spec
            }
        }
    }

    public enum Generation: Sendable, Equatable {
        /// mixmerge's own engine, in process.
        case local
        /// A server started per candidate from a command template (`{model}`, `{port}`, `{name}`),
        /// health-checked, used, stopped.
        case serve(command: String, startupSeconds: Double)
    }

    public struct EvaluationSpec: Sendable {
        public var sets: [PromptSet] = []
        public var reference: String = ""
        public var referenceLine = 0
        public var generation: Generation = .local
        /// Sampling settings of every candidate (`temperature=0,max_tokens=…`).
        public var sampling: [(String, String)] = [("temperature", "0"), ("max_tokens", "64")]
        public var concurrency = 16
        public var judge: Judge = .rules
        public var judgeLine = 0
        /// What a weight search maximises on the validation prompts.
        public var score: Score = .winMinusHarm
        /// Extra candidates evaluated on the test prompts besides those the report names.
        public var candidates: [String] = []
        public var replicates = 1000
        /// At most this many prompts per language of each file (a profile's `prompts:`).
        public var perLanguage: Int?

        public enum Score: String, Sendable {
            /// Win-rate (%) minus harmful rate (%).
            case winMinusHarm = "win_minus_harm"
            case win
            case harm
        }
    }

    public struct ReportSpec: Sendable {
        public struct Row: Sendable {
            public var label: String
            public var sft: String?
            public var dpo: String?
            public var model: String?
        }
        public var title = "mixmerge study"
        /// The 15 % mix, per stage: the brackets of Table 1 are relative to it.
        public var baselineSFT: String?
        public var baselineDPO: String?
        public var table1: [Row] = []
        public var table2: [Row] = []
        public var languageMerges: [Row] = []
        /// A swept merge shown as the weight ablation (Fig. 6).
        public var ablation: String?

        public var models: [String] {
            var out: [String] = []
            for r in table1 + table2 + languageMerges { out += [r.sft, r.dpo, r.model].compactMap { $0 } }
            out += [baselineSFT, baselineDPO].compactMap { $0 }
            return out
        }
    }

    static func format(_ w: Double) -> String {
        let s = String(format: "%.6g", w)
        return s
    }
}

/// Problems found in a study file before anything runs: one line each, `file:line: message`.
public struct StudyError: Error, CustomStringConvertible, Sendable {
    public var problems: [String]
    public init(_ problems: [String]) { self.problems = problems }
    public init(_ problem: String) { self.problems = [problem] }
    public var description: String { problems.joined(separator: "\n") }
}
