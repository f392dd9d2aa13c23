import Tensors

/// `dare_ties` — DARE (Yu et al. 2023, arXiv:2311.03099) with TIES sign consensus: keep each delta
/// element with probability density (MT19937, mergekit's CPU draw order), rescale the kept ones by
/// the L1 ratio Σ|δ|/Σ|kept δ| (not 1/density), then sign-elect and sum.
///
///     δ̃ᵢ = L1rescale(δᵢ ⊙ Bernoulli(density));  Δᵢ = wᵢ·δ̃ᵢ;  R = B + λ·Σ Δᵢ[σ]
///
/// Defaults: normalize false, rescale true.
public struct DARETIES: MergeMethod {
    public let name = "dare_ties"
    let engine = GeneralizedTaskArithmetic(sparsifier: .random, consensus: true, normalizeDefault: false, rescaleDefault: true)
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
