import Tensors

/// `breadcrumbs_ties` — Model Breadcrumbs sparsification (arXiv:2312.06795) with TIES sign consensus.
///
///     Δᵢ = wᵢ·breadcrumbs(δᵢ);  R = B + λ·Σ Δᵢ[σ]
///
/// Defaults: normalize false, rescale false, gamma 0.01.
public struct BreadcrumbsTIES: MergeMethod {
    public let name = "breadcrumbs_ties"
    let engine: GeneralizedTaskArithmetic
    public var parameters: [ParameterSpec] { engine.parameters }
    public var contract: MethodContract { engine.contract }

    public init() { self.init(sortLimit: SparsificationPass.sortLimit) }
    init(sortLimit: Int) {
        engine = GeneralizedTaskArithmetic(sparsifier: .outliers, consensus: true, normalizeDefault: false, rescaleDefault: false, sortLimit: sortLimit)
    }

    public func validate(_ task: TensorTask) throws { try engine.validate(task, method: name) }
    public func merge(_ task: TensorTask, _ io: TensorIO) throws { try engine.merge(task, io) }
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? {
        try engine.storedKernel(task, io, cache)
    }
}
