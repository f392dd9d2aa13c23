import Tensors

/// What a parameter holds and where it is set.
public struct ParameterSpec: Sendable {
    public enum Kind: Sendable { case number, bool }
    public enum Scope: Sendable {
        /// Method-wide (`normalize`, `t`): evaluated against the output tensor name.
        case global
        /// Per input model (`weight`, `scale`): evaluated against that model's tensor name.
        case perModel
    }

    public let name: String
    public let kind: Kind
    public let scope: Scope
    /// nil and `required` → the config must give it.
    public let defaultValue: ParameterScalar?
    public let required: Bool

    public static func number(_ name: String, _ scope: Scope, default value: Double? = nil, required: Bool = false) -> ParameterSpec {
        ParameterSpec(name: name, kind: .number, scope: scope, defaultValue: value.map { .number($0) }, required: required)
    }

    public static func bool(_ name: String, default value: Bool) -> ParameterSpec {
        ParameterSpec(name: name, kind: .bool, scope: .global, defaultValue: .bool(value), required: false)
    }

    /// Only numbers vary over layers; a switch such as `normalize` takes one value.
    public var takesGradient: Bool { kind == .number }
}

/// What inputs a method accepts, checked while planning (before any tensor is read).
public struct MethodContract: Sendable {
    public enum Base: Sendable {
        /// `base_model` must be given (task arithmetic, SLERP).
        case required
        /// May be given; then it is the origin of task vectors (nuslerp).
        case optional
        /// Treated as one more input if given (linear, passthrough).
        case ordinaryInput
    }

    public var base: Base
    public var minNonBase = 0
    public var maxNonBase: Int? = nil
    /// Per-model parameters apply to the base too (linear's `weight`).
    public var baseTakesModelParameters = false
}

/// One merge method: its parameters, its input contract, and its kernel.
public protocol MergeMethod: Sendable {
    var name: String { get }
    var parameters: [ParameterSpec] { get }
    var contract: MethodContract { get }
    /// Checks a planned task before anything is merged (a config error that depends on the tensor).
    func validate(_ task: TensorTask) throws
    /// Warnings about the planned tasks as a whole (a setting that will not do what it says).
    func warnings(_ tasks: [TensorTask]) -> [String]
    /// The dtype the method returns when `out_dtype` is not set (the compute dtype, except arcee_fusion).
    func resultDType(compute: DType) -> DType
    /// How many buffers the size of a tensor, in the compute dtype, the method holds (0: it only streams).
    var tensorBuffers: Int { get }
    /// The Bernoulli masks `merge` will draw for `task`, in draw order, when they can be known
    /// before the tensor is read (then the merge's random stream is run ahead on another thread);
    /// nil when the method draws otherwise (DELLA's rank-dependent probabilities) — or not at all.
    func bernoulliDraws(_ task: TensorTask) -> [BernoulliDraw]?
    /// Merges one output tensor, reading its inputs and writing its output through `io`.
    func merge(_ task: TensorTask, _ io: TensorIO) throws
    /// The merge of `task` as one element-wise kernel over the stored inputs, after whatever passes
    /// it needs first (norms, selections: results that variants of a sweep share go through
    /// `cache`), or nil when the method is not that for this task — decided before any pass runs.
    /// A sweep runs such variants together block by block, reading each block of the inputs once.
    func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel?
}

/// An element-wise kernel over stored inputs: `(each input's bytes at the block, a float scratch
/// buffer of a block, where the block's output bytes go, the block's first element in the tensor,
/// count, worker)`. Blocks of one work item arrive in order on one worker.
public typealias StoredKernel = @Sendable (
    _ inputs: [UnsafeRawPointer], _ acc: UnsafeMutablePointer<Float>, _ out: UnsafeMutableRawPointer,
    _ offset: Int, _ count: Int, _ worker: Int
) -> Void

/// Results of preparatory passes over one tensor's inputs, shared by the variants of a sweep (they
/// read the same inputs): keyed by what the result depends on besides the inputs.
public final class PassCache {
    private var values: [String: Any] = [:]
    public init() {}
    func value<T>(_ key: String, _ make: () throws -> T) rethrows -> T {
        if let v = values[key] as? T { return v }
        let v = try make()
        values[key] = v
        return v
    }
}

extension MergeMethod {
    public func validate(_ task: TensorTask) throws {}
    public func warnings(_ tasks: [TensorTask]) -> [String] { [] }
    public func resultDType(compute: DType) -> DType { compute }
    public var tensorBuffers: Int { 0 }
    public func bernoulliDraws(_ task: TensorTask) -> [BernoulliDraw]? { nil }
    public func storedKernel(_ task: TensorTask, _ io: TensorIO, _ cache: PassCache) throws -> StoredKernel? { nil }

    public func spec(_ name: String) -> ParameterSpec? { parameters.first { $0.name == name } }
}

/// The registry of methods.
public enum MergeMethods {
    public static let all: [any MergeMethod] = [
        Linear(), SLERP(), NuSLERP(), TaskArithmetic(), Passthrough(),
        TIES(), DARETIES(), DARELinear(), Breadcrumbs(), BreadcrumbsTIES(), DELLA(), DELLALinear(),
        ModelStock(), NearSwap(), MultiSLERP(), Karcher(), SCE(), ArceeFusion(), RAM(), RAMPlusTL(),
    ]

    public static func named(_ name: String) -> (any MergeMethod)? { all.first { $0.name == name } }
}
