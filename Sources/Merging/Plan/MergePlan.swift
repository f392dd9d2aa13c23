import Checkpoints
import Foundation
import Tensors

/// One input model of a merge, opened and validated.
public struct PlannedModel: Sendable {
    public let reference: ModelReference
    public let directory: URL
    public let checkpoint: Checkpoint
    public let config: ModelConfig?
    /// Layers found in the tensor names.
    public let layerCount: Int
    /// The LoRA adapter applied to this model's tensors as they are read (`base+adapter`).
    public var lora: LoRAAdapter? = nil
    /// The dtype PEFT would merge the adapter in: the base as transformers loads it (`dtype: auto`,
    /// the config's dtype) unless `--lora-merge-dtype` says otherwise; nil: each tensor's own.
    public var loraMergeDType: DType? = nil
}

/// What a merge will do, fully validated: every output tensor with its inputs and parameters.
public struct MergePlan: Sendable {
    public let config: MergeConfig
    public let method: any MergeMethod
    public let models: [PlannedModel]
    /// In execution (and write) order.
    public let tasks: [TensorTask]
    /// The model whose config.json the output is based on.
    public let donor: Int
    /// Folder the tokenizer files are copied from.
    public let tokenizerFolder: URL
    /// For `slices:` configs: the output's layer count and, per output layer, the donor-order source layer.
    public let outputLayers: (count: Int, sources: [Int])?
    public let warnings: [String]

    public var outputBytes: Int { tasks.reduce(0) { $0 + $1.outputBytes } }
    public var inputBytes: Int { tasks.reduce(0) { $0 + $1.inputs.reduce(0) { $0 + $1.location.info.byteCount } } }
    public var parameterCount: Int { tasks.reduce(0) { $0 + $1.count } }
}
