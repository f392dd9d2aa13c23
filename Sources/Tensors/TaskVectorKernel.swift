/// One input model of a task-vector merge, for `TaskVectorKernel`.
public struct TaskVectorInput {
    /// The model's values at the block's first element (float32 holding compute-dtype values).
    public var x: UnsafePointer<Float>
    /// Weight, already rounded to the compute dtype.
    public var weight: Float
    /// Which elements keep their delta (bit = global element index); nil keeps all.
    public var keep: Bitmask?
    /// Rescale factor for kept deltas, already rounded to `scaleDType`; nil for none.
    public var scale: Float?
    /// The sparsifier's working dtype (the rescale product is rounded to it, then to the compute dtype).
    public var scaleDType: DType

    public init(x: UnsafePointer<Float>, weight: Float, keep: Bitmask?, scale: Float?, scaleDType: DType) {
        self.x = x
        self.weight = weight
        self.keep = keep
        self.scale = scale
        self.scaleDType = scaleDType
    }
}

/// The element-wise core of mergekit's generalized task arithmetic (task_arithmetic, ties, dare,
/// breadcrumbs, della): per element, with every step rounded to the compute dtype D as torch does,
///
///     δⱼ = D(xⱼ − b);  δⱼ = keepⱼ ? (scaleⱼ ? D(W(δⱼ·sⱼ)) : δⱼ) : 0;  Δⱼ = D(δⱼ·wⱼ)
///     consensus:  σ = D(ΣΔⱼ) ≥ 0 ? +1 : −1;  mixed = D(Σ Δⱼ where sign Δⱼ = σ);  div = D(Σ wⱼ where sign Δⱼ = σ), 0 → 1
///     otherwise:  mixed = D(ΣΔⱼ);  div = the scalar divisor
///     normalize: mixed = D(mixed / div);  λ ≠ 1: mixed = D(mixed·λ);  out = D(b + mixed)
///
/// Sums over models run in config order in float32 and round once.
public enum TaskVectorKernel {
    public struct Options {
        public var consensus: Bool
        public var normalize: Bool
        /// Divisor without consensus (already rounded, 0-guarded).
        public var divisor: Float
        public var lambda: Float?
        public init(consensus: Bool, normalize: Bool, divisor: Float, lambda: Float?) {
            self.consensus = consensus
            self.normalize = normalize
            self.divisor = divisor
            self.lambda = lambda
        }
    }

    /// Merges `count` elements: `base` and every input hold compute-dtype values as float32;
    /// `out` receives compute-dtype values as float32.
    public static func merge(
        base: UnsafePointer<Float>, inputs: [TaskVectorInput], compute: DType, options: Options,
        offset: Int, count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        switch compute {
        case .bf16: run(BF16Format.self, base, inputs, options, offset, count, out)
        case .f16: run(F16Format.self, base, inputs, options, offset, count, out)
        default: run(F32Format.self, base, inputs, options, offset, count, out)
        }
    }

    static func run<C: StorageFormat>(
        _: C.Type, _ base: UnsafePointer<Float>, _ inputs: [TaskVectorInput], _ options: Options,
        _ offset: Int, _ n: Int, _ out: UnsafeMutablePointer<Float>
    ) {
        let m = inputs.count
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, m)) { deltas in
            for i in 0..<n {
                let b = base[i]
                for (j, input) in inputs.enumerated() {
                    var d = C.round(input.x[i] - b)
                    if let keep = input.keep, !keep[offset &+ i] {
                        d = 0
                    } else if let s = input.scale {
                        d = C.round(Rounding.round(d * s, to: input.scaleDType))
                    }
                    deltas[j] = C.round(d * input.weight)
                }
                var mixed: Float
                var divisor = options.divisor
                if options.consensus {
                    var total = deltas[0]
                    for j in 1..<max(1, m) { total += deltas[j] }
                    let positive = C.round(total) >= 0
                    var sum: Float = 0, weights: Float = 0
                    var first = true
                    for j in 0..<m {
                        let d = deltas[j]
                        let agrees = positive ? d > 0 : d < 0
                        // torch sums Δ·mask over all models: disagreeing ones contribute 0.
                        let contribution = agrees ? d : 0
                        let w = agrees ? inputs[j].weight : 0
                        if first { sum = contribution; weights = w; first = false } else { sum += contribution; weights += w }
                    }
                    mixed = C.round(sum)
                    divisor = C.round(weights)
                    if divisor == 0 { divisor = 1 }
                } else {
                    var total = deltas[0]
                    for j in 1..<max(1, m) { total += deltas[j] }
                    mixed = C.round(total)
                }
                if options.normalize { mixed = C.round(mixed / divisor) }
                if let l = options.lambda { mixed = C.round(mixed * l) }
                out[i] = C.round(b + mixed)
            }
        }
    }
}
