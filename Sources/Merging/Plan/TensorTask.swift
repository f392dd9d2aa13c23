import Checkpoints
import Tensors

/// One input tensor of a task.
public struct TaskInput: Sendable {
    /// Index into the plan's models.
    public let model: Int
    /// The name read from that model (may differ from the output name: renumbered layers, a tied head).
    public let tensorName: String
    public let location: Checkpoint.Location
    /// Set when the tensor is read through a LoRA adapter (`base+adapter`): the merger computes it
    /// (`LoRAInputs`) before the method runs.
    public var lora: LoRAInput? = nil
    public var dtype: DType { lora?.dtype ?? location.info.dtype }
}

/// How a `base+adapter` input tensor is made: PEFT's `merge_and_unload` of this one tensor.
public struct LoRAInput: Sendable {
    /// The adapter (for messages) and the module that changes this tensor, if any.
    public let adapter: LoRAAdapter
    public let module: LoRAAdapter.Module?
    /// A whole tensor from the adapter that replaces the base's (`modules_to_save`).
    public let replacement: Checkpoint.Location?
    /// The dtype of the merged tensor (the dtype the base is loaded in).
    public let dtype: DType
}

/// A parameter value resolved for one tensor and one model.
public enum ResolvedValue: Sendable, Equatable, CustomStringConvertible {
    case number(Double)
    case bool(Bool)

    public var number: Double? { if case .number(let v) = self { v } else { nil } }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var description: String {
        switch self {
        case .number(let v): String(v)
        case .bool(let b): String(b)
        }
    }
}

/// Everything needed to produce one output tensor: inputs in config order, resolved
/// parameters, dtypes. Built by the planner; executed by a `MergeMethod`.
public struct TensorTask: Sendable {
    public let outputName: String
    public let shape: [Int]
    public let inputs: [TaskInput]
    /// Index into `inputs` of the base model's tensor, if the method uses a base.
    public let baseIndex: Int?
    /// The dtype the method computes in (`dtype:` or the promotion of the inputs' dtypes).
    public let computeDType: DType
    /// The dtype written.
    public let outDType: DType
    /// Per input (parallel to `inputs`), the resolved per-model parameters.
    public let modelParameters: [[String: ResolvedValue]]
    public let globalParameters: [String: ResolvedValue]
    /// Gradient position in [0, 1].
    public let t: Double
    /// Output layer index, nil for embeddings, final norm, heads.
    public let layer: Int?

    public var count: Int { shape.reduce(1, *) }
    public var outputBytes: Int { count * outDType.size }

    public func number(_ name: String) -> Double? { globalParameters[name]?.number }
    public func flag(_ name: String) -> Bool { globalParameters[name]?.bool ?? false }
    public func number(_ name: String, input: Int) -> Double? { modelParameters[input][name]?.number }

    /// The same task reading `inputs` (parallel to `self.inputs`).
    public func with(inputs: [TaskInput]) -> TensorTask {
        TensorTask(
            outputName: outputName, shape: shape, inputs: inputs, baseIndex: baseIndex, computeDType: computeDType,
            outDType: outDType, modelParameters: modelParameters, globalParameters: globalParameters, t: t, layer: layer)
    }

    /// Indices of the non-base inputs in config order.
    public var nonBase: [Int] { inputs.indices.filter { $0 != baseIndex } }
}
