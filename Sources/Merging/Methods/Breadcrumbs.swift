import Tensors

/// `breadcrumbs` — Model Breadcrumbs (Davari & Belilovsky 2023, arXiv:2312.06795): sort |δ| ascending,
/// drop the ⌊γ·n⌋ largest as outliers and the smallest, keeping ⌊density·n⌋; weighted sum.
///
///     R = B + λ·Σ wᵢ·mask_[bottom, bottom+T)(δᵢ),  T = ⌊density·n⌋, bottom = max(0, n − T − ⌊γ·n⌋)
///
/// Defaults: normalize false, rescale false, gamma 0.01 (mergekit 0.1.5's fixed rule: γ·n < 1 keeps T).
public struct Breadcrumbs: MergeMethod {
    public let name = "breadcrumbs"
    let engine: GeneralizedTaskArithmetic
    public var parameters: [ParameterSpec] { engine.parameters }
    public var contract: MethodContract { engine.contract }

    public init() { self.init(sortLimit: SparsificationPass.sortLimit) }
    init(sortLimit: Int) {
        engine = GeneralizedTaskArithmetic(sparsifier: .outliers, consensus: false, normalizeDefault: false, rescaleDefault: false, sortLimit: sortLimit)
    }

    public func validate(_ task: TensorTask) throws { try engine.validate(task, method: name) }
    public func merge(_ task: TensorTask, _ io: TensorIO) throws { try engine.merge(task, io) }
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? {
        try engine.storedKernel(task, io, cache)
    }
}
