import Tensors

/// `della_linear` — DELLA sampling (arXiv:2406.11617) without sign consensus: weighted sum of the
/// L1-rescaled, magnitude-rank-sampled deltas.
///
///     R = B + λ·Σ wᵢ·L1rescale(δᵢ ⊙ Bernoulli(p))
///
/// Defaults: normalize false, rescale true, epsilon 0.15.
public struct DELLALinear: MergeMethod {
    public let name = "della_linear"
    let engine = GeneralizedTaskArithmetic(sparsifier: .della, consensus: false, normalizeDefault: false, rescaleDefault: true)
    public var parameters: [ParameterSpec] { engine.parameters }
    public var contract: MethodContract { engine.contract }

    public init() {}

    public func validate(_ task: TensorTask) throws { try engine.validate(task, method: name) }
    public func merge(_ task: TensorTask, _ io: TensorIO) throws { try engine.merge(task, io) }
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? {
        try engine.storedKernel(task, io, cache)
    }
}
