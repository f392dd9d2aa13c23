import Tensors

/// `dare_linear` — DARE (Yu et al. 2023, arXiv:2311.03099) without sign consensus: random drop with
/// probability 1 − density, L1 rescale, weighted sum.
///
///     R = B + λ·Σ wᵢ·L1rescale(δᵢ ⊙ Bernoulli(density))
///
/// Defaults: normalize false, rescale true.
public struct DARELinear: MergeMethod {
    public let name = "dare_linear"
    let engine = GeneralizedTaskArithmetic(sparsifier: .random, consensus: false, normalizeDefault: false, rescaleDefault: true)
    public var parameters: [ParameterSpec] { engine.parameters }
    public var contract: MethodContract { engine.contract }

    public init() {}

    public func validate(_ task: TensorTask) throws { try engine.validate(task, method: name) }
    public func bernoulliDraws(_ task: TensorTask) -> [BernoulliDraw]? { engine.bernoulliDraws(task) }
    public func merge(_ task: TensorTask, _ io: TensorIO) throws { try engine.merge(task, io) }
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? {
        try engine.storedKernel(task, io, cache)
    }
}
