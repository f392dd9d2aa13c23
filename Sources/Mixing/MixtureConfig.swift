import Datasets

/// A mixture file: the sources (local files, each with an objective such as `safety` or
/// `general`), pool-wide rules (language filter, de-duplication, held-out split), and the
/// mixtures to write. See README "mixmerge mix" for the YAML.
public struct MixtureConfig: Sendable {
    public var seed: UInt64
    public var sources: [SourceSpec]
    /// Languages kept in the pool (canonical codes); nil keeps every language.
    public var languages: [String]?
    public var dedup: Dedup
    public var heldOut: HeldOut?
    public var mixtures: [MixtureSpec]
    /// The file's text, copied into every manifest.
    public var sourceText: String

    public enum Dedup: String, Sendable { case none, exact, normalized }

    /// A held-out split by group: whole groups (translations of one source prompt) go to one side.
    public struct HeldOut: Sendable {
        public var fraction: Double
    }
}

public struct SourceSpec: Sendable {
    public var name: String
    /// A data file, a folder of data files, or a glob pattern (`data/train_prefs-*.parquet`).
    public var path: String
    /// Only the files of this hub split (`train_prefs`, `test_sft`…) when `path` is a folder or pattern.
    public var split: String?
    public var objective: String
    public var reader: RecordReader
    /// Source ids of sources with the same namespace are one id space (default: the objective),
    /// so translations split across per-language files still fall on one side of the split.
    public var groupNamespace: String
}

public struct MixtureSpec: Sendable {
    public enum Unit: String, Sendable { case examples, characters }
    public enum Scope: String, Sendable { case overall, language }
    public enum Weighting: Sendable, Equatable {
        case proportional, uniform
        /// q_l ∝ p_l^alpha (alpha = 1/τ; mT5 used 0.3).
        case temperature(Double)
        /// Uniform budget, each language capped at `maxEpochs` passes over its data (UniMax).
        case unimax(maxEpochs: Double)
    }
    public enum Size: Sendable, Equatable {
        case count(Int)
        /// As large as the scarcest cell allows (without repeating data, or within the allowed epochs).
        case max
    }
    public enum Kind: String, Sendable, CaseIterable { case sft, dpo }
    /// What the held-out side of a mixture holds (when the file sets `held_out:`).
    public enum HeldOutMode: String, Sendable {
        /// Drawn from the held-out groups as the train side is drawn: the same shares, scope and
        /// weighting, never repeated, sized `held_out / (1 − held_out)` of the train side (or as
        /// large as the held-out records allow). The default.
        case shares
        /// Every held-out record of the pool in the mixture's objectives and languages, whatever
        /// the shares.
        case pool
    }

    public var name: String
    /// Objective → share (summing to 1; objectives not listed get 0).
    public var shares: [(objective: String, share: Double)]
    /// How the shares were written, for the manifest ("shares" or "ratio 1:5").
    public var sharesText: String
    public var unit: Unit
    public var scope: Scope
    public var languages: [String]?
    public var weighting: Weighting
    public var size: Size
    /// nil: no record may be repeated; a number: at most that many passes over any cell.
    public var maxEpochs: Double?
    public var kinds: [Kind]
    public var heldOutMode: HeldOutMode = .shares
}

public struct MixError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
