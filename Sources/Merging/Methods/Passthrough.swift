import Tensors

/// `passthrough` — copies one input per tensor, optionally times a per-model `scale`
/// (frankenmerges: layer stacking and repetition via `slices:`).
///
///     R = scale · X     (or X unchanged)
///
/// `scale` multiplies as a float32 scalar and the product is rounded to the compute dtype,
/// as torch does for `tensor * python_float`.
public struct Passthrough: MergeMethod {
    public let name = "passthrough"
    public let parameters: [ParameterSpec] = [.number("scale", .perModel)]
    public let contract = MethodContract(base: .ordinaryInput, minNonBase: 1, maxNonBase: 1, baseTakesModelParameters: true)

    public init() {}

    public func merge(_ task: TensorTask, _ io: TensorIO) throws {
        let input = task.inputs[0]
        let scale = task.number("scale", input: 0)
        if scale == nil, input.dtype == task.outDType, input.dtype == task.computeDType {
            try io.copyRaw(from: input)
            return
        }
        let s = scale.map { Float($0) }
        try io.elementwise { block in
            block.out.update(from: block.inputs[0], count: block.count)
            if let s { Kernels.multiply(block.out, by: s, count: block.count) }
        }
    }
}
