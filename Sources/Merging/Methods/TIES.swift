import Tensors

/// `ties` — TIES-Merging (Yadav et al. 2023, arXiv:2306.01708): trim each task vector to its
/// k = max(1, ⌊density·n⌋) largest magnitudes, elect a sign per element from the sum of the weighted
/// deltas, and average (normalize, default true) the deltas that agree with it.
///
///     Δᵢ = wᵢ·topk(Xᵢ − B);  σ = sign ΣΔᵢ;  R = B + λ·Σ Δᵢ[σ] / Σ wᵢ[σ]
///
/// Defaults: normalize true, rescale false. Magnitudes are selected by radix select in linear time;
/// tensors of ≤ `SparsificationPass.sortLimit` elements replay torch's sort instead, ties included.
public struct TIES: MergeMethod {
    public let name = "ties"
    let engine: GeneralizedTaskArithmetic
    public var parameters: [ParameterSpec] { engine.parameters }
    public var contract: MethodContract { engine.contract }

    public init() { self.init(sortLimit: SparsificationPass.sortLimit) }
    init(sortLimit: Int) {
        engine = GeneralizedTaskArithmetic(sparsifier: .magnitude, consensus: true, normalizeDefault: true, rescaleDefault: false, sortLimit: sortLimit)
    }

    public func validate(_ task: TensorTask) throws { try engine.validate(task, method: name) }
    public func merge(_ task: TensorTask, _ io: TensorIO) throws { try engine.merge(task, io) }
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? {
        try engine.storedKernel(task, io, cache)
    }
}
