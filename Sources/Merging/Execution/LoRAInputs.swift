import Checkpoints
import Tensors

/// The tensors of `base+adapter` inputs, made as PEFT's `merge_and_unload` makes them (`LoRAMerge`)
/// and held in memory for the one task that reads them: the merged model is never written out.
enum LoRAInputs {
    /// `task` with each LoRA input replaced by its merged tensor; `cache` shares one tensor between the
    /// variants of a sweep (keyed by adapter, file, tensor and dtype).
    static func materialised(_ task: TensorTask, cache: inout [String: Checkpoint.Location], threads: Int) throws -> TensorTask {
        guard task.inputs.contains(where: { $0.lora != nil }) else { return task }
        var inputs = task.inputs
        for (j, input) in task.inputs.enumerated() {
            guard let lora = input.lora else { continue }
            let key = "\(lora.adapter.directory.path)|\(input.location.file.path)|\(input.tensorName)|\(lora.dtype.rawValue)"
            let location = try cache[key] ?? make(input, lora, threads: threads)
            cache[key] = location
            inputs[j] = TaskInput(model: input.model, tensorName: input.tensorName, location: location)
        }
        return task.with(inputs: inputs)
    }

    static func make(_ input: TaskInput, _ lora: LoRAInput, threads: Int) throws -> Checkpoint.Location {
        let info = input.location.info
        let count = info.count
        let name = "\(input.location.file.path) + \(lora.adapter.directory.path)"
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile.inMemory(name: name, tensor: input.tensorName, dtype: lora.dtype, shape: info.shape) { out in
                if let replacement = lora.replacement {
                    LoRAMerge.convert(replacement.data, replacement.info.dtype, count: count, to: lora.dtype, into: out)
                } else if let module = lora.module {
                    let rows = info.shape[0], cols = count / max(1, rows), rank = module.rank
                    let a = LoRAMerge.floats(module.a.data, module.a.info.dtype, count: module.a.info.count)
                    let b = LoRAMerge.floats(module.b.data, module.b.info.dtype, count: module.b.info.count)
                    // Row i of ΔW: Σ_k coefficient(i, k) · vector(k) (see LoRAMerge.apply).
                    let transposedDelta = module.kind == .embedding || module.fanInFanOut
                    let coefficients = transposedDelta ? LoRAMerge.transposed(a, rows: rank, cols: rows) : b
                    let vectors = transposedDelta ? LoRAMerge.transposed(b, rows: cols, cols: rank) : a
                    LoRAMerge.apply(
                        base: input.location.data, baseDType: info.dtype, rows: rows, cols: cols,
                        coefficients: coefficients, vectors: vectors, rank: rank, scaling: Float(module.scaling),
                        dtype: lora.dtype, into: out, threads: threads)
                } else {
                    LoRAMerge.convert(input.location.data, info.dtype, count: count, to: lora.dtype, into: out)
                }
            }
        } catch let e as CheckpointError {
            throw MergeError.input("\(input.tensorName) through \(lora.adapter.directory.path): \(e.description)")
        }
        return Checkpoint.Location(file: file, info: file.tensors[0])
    }
}
