import Tensors

/// `della` — DELLA-Merging (Deep et al. 2024, arXiv:2406.11617): per row, keep probability
/// density − ε + 2ε·rank(|δ|)/(n−1) (bigger magnitudes more likely kept), L1 rescale over the whole
/// tensor, TIES sign consensus, weighted mean.
///
///     pₑ = (density − ε) + 2ε·rank_norm(|δₑ|);  δ̃ᵢ = L1rescale(δᵢ ⊙ Bernoulli(p));  R = B + λ·Σ Δᵢ[σ] / Σ wᵢ[σ]
///
/// Defaults: normalize true, rescale true, epsilon 0.15; density ± ε must lie in (0, 1).
public struct DELLA: MergeMethod {
    public let name = "della"
    let engine = GeneralizedTaskArithmetic(sparsifier: .della, consensus: true, normalizeDefault: true, rescaleDefault: true)
    public var parameters: [ParameterSpec] { engine.parameters }
    public var contract: MethodContract { engine.contract }

    public init() {}

    public func validate(_ task: TensorTask) throws { try engine.validate(task, method: name) }
    public func merge(_ task: TensorTask, _ io: TensorIO) throws { try engine.merge(task, io) }
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? {
        try engine.storedKernel(task, io, cache)
    }
}
