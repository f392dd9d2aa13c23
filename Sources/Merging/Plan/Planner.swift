import Checkpoints
import Foundation
import Tensors

/// Turns a `MergeConfig` into a `MergePlan`: opens and validates every input, expands
/// `models:`/`slices:` into output tensors, resolves every parameter for every tensor, and checks
/// shapes and the method's contract — all before a single tensor is merged.
public struct Planner {
    /// Where relative model paths are looked up: the working directory first, then these.
    public var searchDirectories: [URL]
    /// Checkpoints opened by this planner, by path: the variants of a sweep share one mapping of
    /// each input (so its pages are faulted in once, whatever the number of variants).
    let opened = OpenedCheckpoints()

    /// The dtype `base+adapter` models are merged in (mergekit's `--lora-merge-dtype`); nil: the base's own.
    public var loraMergeDType: DType?

    public init(searchDirectories: [URL] = [], loraMergeDType: DType? = nil) {
        self.searchDirectories = searchDirectories
        self.loraMergeDType = loraMergeDType
    }

    public func plan(_ config: MergeConfig) throws -> MergePlan {
        guard let method = MergeMethods.named(config.mergeMethod) else {
            throw MergeError.config("merge_method: unknown merge method '\(config.mergeMethod)'")
        }
        var warnings: [String] = []
        try validateParameters(config, method, &warnings)

        // Slices in a uniform form; in models: syntax the base is appended when not listed.
        var slices: [OutputSlice]
        if let models = config.models {
            var sources = models
            if let base = config.baseModel, !sources.contains(where: { $0.model == base }) {
                sources.append(SliceSource(model: base, layerRange: nil, parameters: []))
            }
            slices = [OutputSlice(sources: sources, baseModel: nil, parameters: [])]
        } else {
            slices = config.slices ?? []
        }
        try checkContract(method, config, slices)

        // Open every referenced model once.
        var models: [PlannedModel] = []
        var modelIndex: [ModelReference: Int] = [:]
        for ref in config.referencedModels {
            if case .model(let t) = config.tokenizerSource, t == ref,
                !slices.contains(where: { $0.sources.contains { $0.model == ref } }), config.baseModel != ref
            { continue }  // a tokenizer-only model needs no weights
            modelIndex[ref] = models.count
            models.append(try open(ref))
        }

        // Layer ranges: models: syntax covers all layers, which must agree.
        if config.models != nil {
            let counts = Set(slices[0].sources.map { models[modelIndex[$0.model]!].layerCount })
            if counts.count > 1 {
                let detail = slices[0].sources.map { "\($0.model): \(models[modelIndex[$0.model]!].layerCount)" }.joined(separator: ", ")
                throw MergeError.input("models have different numbers of layers (\(detail)); use slices: to choose layer ranges")
            }
            let n = counts.first ?? 0
            for i in slices[0].sources.indices { slices[0].sources[i].layerRange = 0..<n }
        }
        for (si, slice) in slices.enumerated() {
            for source in slice.sources {
                let m = models[modelIndex[source.model]!]
                if let r = source.layerRange, r.upperBound > m.layerCount {
                    throw MergeError.config("slices[\(si)]: layer_range [\(r.lowerBound), \(r.upperBound)] is outside \(source.model), which has \(m.layerCount) layers")
                }
            }
        }

        var tasks: [TensorTask] = []
        var outputNames = Set<String>()
        func add(_ task: TensorTask?) throws {
            guard let task else { return }
            guard outputNames.insert(task.outputName).inserted else {
                throw MergeError.config("output tensor \(task.outputName) would be produced twice")
            }
            tasks.append(task)
        }

        // Layer tensors, slice by slice.
        var outLayer = 0
        var sourceLayers: [Int] = []
        for (si, slice) in slices.enumerated() {
            let length = slice.sources[0].layerRange?.count ?? 0
            for j in 0..<length {
                let t = length > 1 ? Double(j) / Double(length - 1) : 1
                var keys: [String] = []
                var byKey: [String: LayerName] = [:]
                for source in slice.sources {
                    let m = models[modelIndex[source.model]!]
                    let inLayer = source.layerRange!.lowerBound + j
                    for name in m.checkpoint.names {
                        guard let ln = LayerName(name), ln.index == inLayer else { continue }
                        if byKey[ln.key] == nil { byKey[ln.key] = ln; keys.append(ln.key) }
                    }
                }
                for key in keys {
                    let ln = byKey[key]!
                    let output = ln.renamed(to: outLayer + j)
                    let inputs = slice.sources.map { source -> (SliceSource, String) in
                        (source, ln.renamed(to: source.layerRange!.lowerBound + j))
                    }
                    try add(try makeTask(output, inputs, slice, si, config, method, models, modelIndex, t: t, layer: outLayer + j))
                }
                sourceLayers.append(slice.sources[0].layerRange!.lowerBound + j)
            }
            outLayer += length
        }

        // Tensors outside the layers: before them from the first slice, after them from the last.
        for (position, slice, si) in [(false, slices[0], 0), (true, slices[slices.count - 1], slices.count - 1)] {
            var names: [String] = []
            for source in slice.sources {
                for name in models[modelIndex[source.model]!].checkpoint.names
                where LayerName(name) == nil && TensorNames.isPostLayer(name) == position && !names.contains(name) {
                    names.append(name)
                }
            }
            for name in names {
                try add(try makeTask(name, slice.sources.map { ($0, name) }, slice, si, config, method, models, modelIndex, t: 0, layer: nil))
            }
        }
        tasks.sort { TensorNames.precedes($0.outputName, $1.outputName) }
        for task in tasks where task.computeDType.isComputed { try method.validate(task) }
        warnings += method.warnings(tasks.filter { $0.computeDType.isComputed })
        guard !tasks.isEmpty else { throw MergeError.input("the inputs hold no tensors to merge") }

        let donorRef = config.baseModel ?? slices[0].sources[0].model
        let donor = modelIndex[donorRef]!
        let tokenizerFolder: URL
        switch config.tokenizerSource {
        case .model(let ref): tokenizerFolder = try modelIndex[ref].map { models[$0].directory } ?? resolve(ref)
        default: tokenizerFolder = models[donor].directory
        }
        for m in models {
            if let declared = m.config?.layerCount, declared != m.layerCount, m.layerCount > 0 {
                warnings.append("\(m.reference): config.json says \(declared) layers but the weights have \(m.layerCount)")
            }
        }
        return MergePlan(
            config: config, method: method, models: models, tasks: tasks, donor: donor,
            tokenizerFolder: tokenizerFolder,
            outputLayers: config.slices != nil ? (outLayer, sourceLayers) : nil,
            warnings: warnings)
    }

    // MARK: - Models

    func resolve(_ ref: ModelReference) throws -> URL { try resolve(path: ref.path, what: "model") }

    func resolve(path: String, what: String) throws -> URL {
        let fm = FileManager.default
        var candidates = [URL(fileURLWithPath: path)]
        if !path.hasPrefix("/") {
            candidates += searchDirectories.map { $0.appendingPathComponent(path) }
        }
        for c in candidates where fm.fileExists(atPath: c.path) { return c.standardizedFileURL }
        let looksLikeHub = path.split(separator: "/").count == 2 && !path.hasPrefix(".") && !path.hasPrefix("/")
        if looksLikeHub {
            throw MergeError.input("\(what) '\(path)' not found locally; mixmerge does not download from the Hugging Face Hub — fetch it first (huggingface-cli download \(path) --local-dir DIR) and give DIR")
        }
        throw MergeError.input("\(what) '\(path)' not found (looked in the working directory\(searchDirectories.isEmpty ? "" : " and next to the config"))")
    }

    func open(_ ref: ModelReference) throws -> PlannedModel {
        let url = try resolve(ref)
        let checkpoint: Checkpoint
        do { checkpoint = try opened.checkpoint(url.path) } catch let e as CheckpointError {
            throw MergeError.input("\(ref): \(e.description)")
        }
        // A missing config.json is allowed (a bare safetensors file); a broken one is an error.
        let config: ModelConfig?
        do { config = try ModelConfig.read(folder: checkpoint.directory) } catch let e as CheckpointError {
            throw MergeError.input("\(ref): \(e.description)")
        }
        let layers = checkpoint.names.compactMap { LayerName($0)?.index }.max().map { $0 + 1 } ?? 0
        var model = PlannedModel(reference: ref, directory: checkpoint.directory, checkpoint: checkpoint, config: config, layerCount: layers)
        if let adapterPath = ref.lora {
            let url = try resolve(path: adapterPath, what: "LoRA adapter")
            let adapter: LoRAAdapter
            do { adapter = try LoRAAdapter(path: url.path) } catch let e as CheckpointError {
                throw MergeError.input("\(ref): \(e.description)")
            }
            let changed = adapter.modules.map { ($0.key, $0.value.baseShape) } + adapter.replacements.map { ($0.key, $0.value.info.shape) }
            for (name, shape) in changed.sorted(by: { $0.0 < $1.0 }) {
                guard let info = checkpoint.location(name)?.info else {
                    throw MergeError.input("\(ref): the adapter changes \(name), which \(ref.path) does not have (an adapter for another model?)")
                }
                guard info.shape == shape else {
                    throw MergeError.input("\(ref): the adapter's \(name) is \(shape), the model's is \(info.shape) (an adapter for another model?)")
                }
                guard info.dtype.isComputed else {
                    throw MergeError.input("\(ref): \(name) is \(info.dtype.rawValue); a LoRA adapter can only change float tensors")
                }
            }
            model.lora = adapter
            let configured = config?.dtypeName.flatMap { DType(mergekitName: $0) }.flatMap { $0.isComputed ? $0 : nil }
            model.loraMergeDType = loraMergeDType ?? configured
        }
        return model
    }

    // MARK: - Contract and parameters

    func checkContract(_ method: any MergeMethod, _ config: MergeConfig, _ slices: [OutputSlice]) throws {
        for (si, slice) in slices.enumerated() {
            let where_ = config.slices == nil ? "models" : "slices[\(si)]"
            let base = slice.baseModel ?? config.baseModel
            let c = method.contract
            if c.base == .required && base == nil {
                throw MergeError.config("merge_method \(method.name) needs base_model")
            }
            if let base, c.base != .ordinaryInput, !slice.sources.contains(where: { $0.model == base }) {
                throw MergeError.config("\(where_): base_model \(base) is not among the sources of this slice")
            }
            let nonBase = c.base == .ordinaryInput ? slice.sources.count : slice.sources.filter { $0.model != base }.count
            if nonBase < c.minNonBase || (c.maxNonBase.map { nonBase > $0 } ?? false) {
                let expected = c.maxNonBase == c.minNonBase ? "exactly \(c.minNonBase)" : c.maxNonBase == nil ? "at least \(c.minNonBase)" : "\(c.minNonBase) to \(c.maxNonBase!)"
                let what = c.base == .ordinaryInput ? "input model" : "model besides base_model"
                throw MergeError.config("\(where_): merge_method \(method.name) takes \(expected) \(what)\(expected.hasSuffix("1") ? "" : "s"), got \(nonBase)")
            }
            var seen = Set<ModelReference>()
            for s in slice.sources where !seen.insert(s.model).inserted && config.slices == nil {
                throw MergeError.config("\(where_): model \(s.model) is listed twice")
            }
        }
    }

    func validateParameters(_ config: MergeConfig, _ method: any MergeMethod, _ warnings: inout [String]) throws {
        var blocks: [(String, ParameterBlock, Bool)] = [("parameters", config.parameters, false)]
        for (i, s) in (config.models ?? []).enumerated() { blocks.append(("models[\(i)].parameters", s.parameters, true)) }
        for (i, slice) in (config.slices ?? []).enumerated() {
            blocks.append(("slices[\(i)].parameters", slice.parameters, false))
            for (j, s) in slice.sources.enumerated() { blocks.append(("slices[\(i)].sources[\(j)].parameters", s.parameters, true)) }
        }
        for (path, block, isModel) in blocks {
            for (name, setting) in block {
                guard let spec = method.spec(name) else {
                    warnings.append("\(path).\(name): merge_method \(method.name) has no parameter '\(name)'; ignored")
                    continue
                }
                if isModel && spec.scope == .global {
                    warnings.append("\(path).\(name): '\(name)' is a method-wide parameter; set it under the top-level parameters (ignored here)")
                }
                if setting.containsGradient && !spec.takesGradient {
                    throw MergeError.config("\(path).\(name): '\(name)' takes a single value, not a gradient list")
                }
                for s in setting.scalars {
                    switch (spec.kind, s) {
                    case (.number, .number), (.bool, .bool): continue
                    case (.bool, .number(let v)) where v == 0 || v == 1: continue
                    case (.number, _): throw MergeError.config("\(path).\(name): expected a number, got '\(s)'")
                    case (.bool, _): throw MergeError.config("\(path).\(name): expected true or false, got '\(s)'")
                    }
                }
            }
        }
    }

    static func lookup(_ block: ParameterBlock, _ name: String, tensor: String, t: Double) -> ParameterScalar? {
        guard let setting = block.last(where: { $0.name == name })?.setting else { return nil }
        return setting.evaluate(tensor: tensor, t: t)
    }

    static func resolved(_ s: ParameterScalar, _ spec: ParameterSpec) -> ResolvedValue {
        switch (spec.kind, s) {
        case (.bool, .bool(let b)): .bool(b)
        case (.bool, .number(let v)): .bool(v != 0)
        case (_, .number(let v)): .number(v)
        case (_, .bool(let b)): .number(b ? 1 : 0)
        case (_, .string): .number(.nan)  // rejected by validateParameters
        }
    }

    // MARK: - Tasks

    func makeTask(
        _ output: String, _ candidates: [(SliceSource, String)], _ slice: OutputSlice, _ sliceIndex: Int,
        _ config: MergeConfig, _ method: any MergeMethod, _ models: [PlannedModel], _ modelIndex: [ModelReference: Int],
        t: Double, layer: Int?
    ) throws -> TensorTask? {
        let baseRef = method.contract.base == .ordinaryInput ? nil : (slice.baseModel ?? config.baseModel)
        var inputs: [TaskInput] = []
        var sources: [SliceSource] = []
        var baseIndex: Int?
        for (source, name) in candidates {
            let mi = modelIndex[source.model]!
            let ckpt = models[mi].checkpoint
            var found = ckpt.location(name).map { (name, $0) }
            if found == nil {
                for alt in TensorNames.tiedAlternatives(name) {
                    if let loc = ckpt.location(alt) { found = (alt, loc); break }
                }
            }
            guard let (inputName, location) = found else { continue }
            if source.model == baseRef { baseIndex = inputs.count }
            var input = TaskInput(model: mi, tensorName: inputName, location: location)
            if let adapter = models[mi].lora, location.info.dtype.isComputed {
                let dtype = models[mi].loraMergeDType ?? location.info.dtype
                let module = adapter.modules[inputName], replacement = adapter.replacements[inputName]
                if module != nil || replacement != nil || dtype != location.info.dtype {
                    input.lora = LoRAInput(adapter: adapter, module: module, replacement: replacement, dtype: dtype)
                }
            }
            inputs.append(input)
            sources.append(source)
        }
        // A tied head is written only if some model has a real one.
        if !TensorNames.tiedAlternatives(output).isEmpty && !inputs.contains(where: { $0.tensorName == output }) { return nil }
        guard !inputs.isEmpty else { return nil }

        let shape = inputs[0].location.info.shape
        for inp in inputs.dropFirst() where inp.location.info.shape != shape {
            throw MergeError.input("tensor \(output): shape mismatch — \(models[inputs[0].model].reference) has \(shape), \(models[inp.model].reference) has \(inp.location.info.shape)")
        }
        if let baseRef, baseIndex == nil, method.contract.base == .required, inputs.count > 0 {
            throw MergeError.input("tensor \(output): base model \(baseRef) does not have it, but \(inputs.map { models[$0.model].reference.description }.joined(separator: ", ")) do")
        }

        // Parameters.
        var global: [String: ResolvedValue] = [:]
        var perModel: [[String: ResolvedValue]] = Array(repeating: [:], count: inputs.count)
        for spec in method.parameters {
            switch spec.scope {
            case .global:
                let v = Self.lookup(slice.parameters, spec.name, tensor: output, t: t)
                    ?? Self.lookup(config.parameters, spec.name, tensor: output, t: t) ?? spec.defaultValue
                if let v { global[spec.name] = Self.resolved(v, spec) } else if spec.required {
                    throw MergeError.config("parameters.\(spec.name): required by merge_method \(method.name) but not set (for tensor \(output))")
                }
            case .perModel:
                for (i, inp) in inputs.enumerated() {
                    if i == baseIndex && !method.contract.baseTakesModelParameters { continue }
                    let v = Self.lookup(sources[i].parameters, spec.name, tensor: inp.tensorName, t: t)
                        ?? Self.lookup(slice.parameters, spec.name, tensor: inp.tensorName, t: t)
                        ?? Self.lookup(config.parameters, spec.name, tensor: inp.tensorName, t: t) ?? spec.defaultValue
                    if let v { perModel[i][spec.name] = Self.resolved(v, spec) } else if spec.required {
                        throw MergeError.config("\(sources[i].model): parameter '\(spec.name)' is required by merge_method \(method.name) but not set (for tensor \(inp.tensorName))")
                    }
                }
            }
        }

        // Dtypes.
        let dtypes = inputs.map(\.dtype)
        let compute: DType
        if dtypes.allSatisfy(\.isComputed) {
            compute = config.dtype ?? dtypes.dropFirst().reduce(dtypes[0]) { DType.promote($0, $1) }
        } else {
            guard Set(dtypes).count == 1 else {
                throw MergeError.input("tensor \(output): inputs have dtypes \(dtypes.map(\.rawValue)) that cannot be merged")
            }
            compute = dtypes[0]
        }
        let out = compute.isComputed ? (config.outDType ?? method.resultDType(compute: compute)) : compute
        return TensorTask(
            outputName: output, shape: shape, inputs: inputs, baseIndex: baseIndex, computeDType: compute,
            outDType: out, modelParameters: perModel, globalParameters: global, t: t, layer: layer)
    }
}

/// The checkpoints a planner opened, by path.
final class OpenedCheckpoints: @unchecked Sendable {
    // Sendable: guarded by `lock`.
    private let lock = NSLock()
    private var byPath: [String: Checkpoint] = [:]

    func checkpoint(_ path: String) throws -> Checkpoint {
        lock.lock()
        defer { lock.unlock() }
        if let c = byPath[path] { return c }
        let c = try Checkpoint(path: path)
        byPath[path] = c
        return c
    }
}
