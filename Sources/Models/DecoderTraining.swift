import Checkpoints
import Foundation
import Tensors

/// Where one layer's parameters sit in a `TrainableModel`'s parameter list.
struct LayerSlots: Sendable {
    var inputNorm = 0
    var postAttentionNorm: Int?
    var preFeedforwardNorm: Int?
    var postFeedforwardNorm: Int?
    var q = 0, k = 0, v = 0, o = 0
    var qBias: Int?, kBias: Int?, vBias: Int?, oBias: Int?
    var qNorm: Int?, kNorm: Int?
    var gate = 0, up = 0, down = 0
    var gateBias: Int?, upBias: Int?, downBias: Int?
}

/// A decoder model in training form: the same architectures as `LanguageModel`, with float32
/// parameters in a `FloatTensors` list (Hugging Face names, tied embeddings once) and a forward
/// pass that keeps what its backward pass needs.
///
/// The forward is the inference forward's arithmetic without a KV cache: every sequence of a
/// batch starts at position 0 and attends only to itself (no padding, no cross-example
/// attention), rows of all sequences stacked for the matrix products. The backward is PyTorch
/// autograd's formulas for each step, in reverse; parameter gradients are *added* to the
/// caller's gradient list (gradient accumulation is repeated calls). Every reduction has a fixed
/// order, so results do not depend on `threads`.
public struct TrainableModel: Sendable {
    public let config: TransformerConfig
    /// Parameter names (Hugging Face, `model.named_parameters()` order) and shapes.
    public let names: [String]
    public let shapes: [[Int]]
    /// The dtype each parameter is stored in, in the folder it was loaded from.
    public let storedDTypes: [DType]
    public var threads: Int

    let embed: Int
    let lmHead: Int
    let finalNorm: Int
    let slots: [LayerSlots]

    /// Element counts of the parameters (for gradient and optimizer lists).
    public var counts: [Int] { shapes.map { $0.reduce(1, *) } }
    public var parameterCount: Int { counts.reduce(0, +) }

    /// Whether parameter `i` is a matrix (≥ 2 dimensions, which the HF Trainer's default
    /// grouping decays) rather than a bias or a norm scale.
    public func isMatrix(_ i: Int) -> Bool { shapes[i].count >= 2 }

    /// Reads the model in `folder` and widens every parameter to float32.
    /// - Returns: the model and its parameters.
    public static func load(folder: URL, threads: Int = ParallelFor.defaultThreads) throws -> (TrainableModel, FloatTensors) {
        let lm = try LanguageModel.load(folder: folder, threads: threads)
        let c = lm.config
        let checkpoint = lm.checkpoint
        var names: [String] = [], shapes: [[Int]] = []
        func add(_ name: String, _ shape: [Int]) -> Int {
            names.append(name)
            shapes.append(shape)
            return names.count - 1
        }
        let h = c.hiddenSize, qWidth = c.headCount * c.headDim, kvWidth = c.kvHeadCount * c.headDim
        let inter = c.intermediateSize
        let embed = add("model.embed_tokens.weight", [c.vocabSize, h])
        var slots: [LayerSlots] = []
        for l in 0..<c.layerCount {
            let p = "model.layers.\(l)."
            var s = LayerSlots()
            s.q = add(p + "self_attn.q_proj.weight", [qWidth, h])
            if c.qkvBias { s.qBias = add(p + "self_attn.q_proj.bias", [qWidth]) }
            s.k = add(p + "self_attn.k_proj.weight", [kvWidth, h])
            if c.qkvBias { s.kBias = add(p + "self_attn.k_proj.bias", [kvWidth]) }
            s.v = add(p + "self_attn.v_proj.weight", [kvWidth, h])
            if c.qkvBias { s.vBias = add(p + "self_attn.v_proj.bias", [kvWidth]) }
            s.o = add(p + "self_attn.o_proj.weight", [h, qWidth])
            if c.outputBias { s.oBias = add(p + "self_attn.o_proj.bias", [h]) }
            if c.qkNorm {
                s.qNorm = add(p + "self_attn.q_norm.weight", [c.headCount, c.headDim])
                s.kNorm = add(p + "self_attn.k_norm.weight", [c.kvHeadCount, c.headDim])
            }
            s.gate = add(p + "mlp.gate_proj.weight", [inter, h])
            if c.mlpBias { s.gateBias = add(p + "mlp.gate_proj.bias", [inter]) }
            s.up = add(p + "mlp.up_proj.weight", [inter, h])
            if c.mlpBias { s.upBias = add(p + "mlp.up_proj.bias", [inter]) }
            s.down = add(p + "mlp.down_proj.weight", [h, inter])
            if c.mlpBias { s.downBias = add(p + "mlp.down_proj.bias", [h]) }
            s.inputNorm = add(p + "input_layernorm.weight", [h])
            switch c.block {
            case .sequential:
                s.postAttentionNorm = add(p + "post_attention_layernorm.weight", [h])
            case .parallel:
                break
            case .sandwich:
                s.postAttentionNorm = add(p + "post_attention_layernorm.weight", [h])
                s.preFeedforwardNorm = add(p + "pre_feedforward_layernorm.weight", [h])
                s.postFeedforwardNorm = add(p + "post_feedforward_layernorm.weight", [h])
            }
            slots.append(s)
        }
        let finalNorm = add("model.norm.weight", [h])
        let tied = c.tieWordEmbeddings && !checkpoint.contains("lm_head.weight")
        let lmHead = tied ? embed : add("lm_head.weight", [c.vocabSize, h])

        let loader = WeightLoader(checkpoint: checkpoint)
        let values = FloatTensors(counts: shapes.map { $0.reduce(1, *) })
        var dtypes: [DType] = []
        for (i, name) in names.enumerated() {
            let loc = try loader.location(name, shape: shapes[i])
            Convert.widen(loc.data, loc.info.dtype, count: values.counts[i], into: values.pointer(i))
            dtypes.append(loc.info.dtype)
        }
        let model = TrainableModel(
            config: c, names: names, shapes: shapes, storedDTypes: dtypes, threads: max(1, threads), embed: embed,
            lmHead: lmHead, finalNorm: finalNorm, slots: slots)
        return (model, values)
    }

    /// Checks a batch: non-empty sequences of in-vocabulary ids that fit the model's positions.
    func check(_ batch: [[Int]]) throws {
        for (s, ids) in batch.enumerated() {
            guard !ids.isEmpty else { throw ModelError(.badInput, "sequence \(s) has no tokens") }
            if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= config.vocabSize }) {
                throw ModelError(.badInput,
                    "sequence \(s): token id \(ids[bad]) at index \(bad) is outside the vocabulary (0..<\(config.vocabSize))")
            }
            guard ids.count <= config.maxPositions else {
                throw ModelError(.badInput,
                    "sequence \(s): \(ids.count) tokens exceed the model's context length of \(config.maxPositions) positions")
            }
        }
    }

    /// The logits of every position of every sequence (`[length · vocab]` each), without keeping
    /// anything for a backward pass.
    public func logits(_ parameters: FloatTensors, batch: [[Int]]) throws -> [[Float]] {
        try check(batch)
        let pass = Pass(model: self, p: parameters, batch: batch, keep: false)
        return pass.forward()
    }

    /// One forward and backward pass: `lossGradient` receives the logits of every sequence
    /// (`[length · vocab]` each) and returns d loss / d logits in the same shape; the parameter
    /// gradients are added to `gradients`.
    public func backward(
        _ parameters: FloatTensors, batch: [[Int]], gradients: FloatTensors,
        lossGradient: ([[Float]]) throws -> [[Float]]
    ) throws {
        try check(batch)
        precondition(gradients.counts == parameters.counts, "TrainableModel.backward: gradients shaped unlike parameters")
        let pass = Pass(model: self, p: parameters, batch: batch, keep: true)
        let logits = pass.forward()
        let dLogits = try lossGradient(logits)
        guard dLogits.count == batch.count, zip(dLogits, batch).allSatisfy({ $0.count == $1.count * config.vocabSize }) else {
            throw ModelError(.badInput, "backward: the logit gradients are not shaped like the logits")
        }
        pass.backward(dLogits, into: gradients)
    }
}

/// Activations of one layer kept by a training forward pass.
private final class LayerTape {
    var x0: Scratch!, xn1: Scratch!, qRaw: Scratch?, kRaw: Scratch?, q: Scratch!, k: Scratch!, v: Scratch!
    var probs: Scratch!, capped: Scratch?, attn: Scratch!, o: Scratch!, h1: Scratch?, xn2: Scratch?
    var gate: Scratch!, up: Scratch!, act: Scratch!, down: Scratch?
}

/// One forward (and optionally backward) pass over a batch.
private final class Pass {
    let m: TrainableModel
    let c: TransformerConfig
    let p: FloatTensors
    let batch: [[Int]]
    let keep: Bool
    let rows: Int
    let rowStart: [Int]
    /// Offsets of each sequence's attention probabilities `[heads, n, n]` in a layer's `probs`.
    let probStart: [Int]
    let threads: Int
    var tapes: [LayerTape] = []
    var hsFinal: Scratch!, xf: Scratch!, logits: Scratch!
    let cosT: Scratch, sinT: Scratch
    let pairs: Int

    init(model: TrainableModel, p: FloatTensors, batch: [[Int]], keep: Bool) {
        m = model
        c = model.config
        self.p = p
        self.batch = batch
        self.keep = keep
        threads = model.threads
        var starts = [0], probs = [0]
        for ids in batch {
            starts.append(starts[starts.count - 1] + ids.count)
            probs.append(probs[probs.count - 1] + c.headCount * ids.count * ids.count)
        }
        rowStart = starts
        probStart = probs
        rows = starts[starts.count - 1]
        pairs = c.ropeDim / 2
        let longest = batch.map(\.count).max() ?? 1
        let inv = c.inverseFrequencies(sequenceLength: longest)
        cosT = Scratch(longest * pairs)
        sinT = Scratch(longest * pairs)
        for t in 0..<longest {
            for i in 0..<pairs {
                let angle = Float(t) * inv[i]
                cosT.p[t * pairs + i] = Foundation.cos(angle)
                sinT.p[t * pairs + i] = Foundation.sin(angle)
            }
        }
    }

    // MARK: helpers

    func w(_ i: Int) -> UnsafeMutablePointer<Float> { p.pointer(i) }

    func matrix(_ i: Int) -> WeightMatrix {
        let s = m.shapes[i]
        return WeightMatrix(data: UnsafeRawPointer(p.pointer(i)), dtype: .f32, rows: s[0], cols: s[1])
    }

    /// `y = x · Wᵀ (+ b)` over all rows.
    func linear(_ x: UnsafePointer<Float>, _ wi: Int, _ bi: Int?, _ y: UnsafeMutablePointer<Float>) {
        GEMM.multiply(x, rows: rows, matrix(wi), bias: bi.map { UnsafePointer(p.pointer($0)) }, into: y, threads: threads)
    }

    /// Backward of `y = x · Wᵀ + b`: `dW += dyᵀ · x`, `db += Σ dy`, and `dx = dy · W` (added to `dx`
    /// when `accumulate`).
    func linearBackward(
        _ x: UnsafePointer<Float>, _ wi: Int, _ bi: Int?, dy: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>?, accumulate: Bool, grads g: FloatTensors
    ) {
        let n = m.shapes[wi][0], k = m.shapes[wi][1]
        let dyT = Scratch(n * rows), xT = Scratch(k * rows), dW = Scratch(n * k)
        TrainingKernels.transpose(dy, rows: rows, cols: n, into: dyT.p, threads: threads)
        TrainingKernels.transpose(x, rows: rows, cols: k, into: xT.p, threads: threads)
        GEMM.multiply(
            dyT.p, rows: n, WeightMatrix(data: UnsafeRawPointer(xT.p), dtype: .f32, rows: k, cols: rows), into: dW.p,
            threads: threads)
        LayerKernels.add(dW.p, into: g.pointer(wi), count: n * k)
        if let bi { TrainingKernels.addColumnSums(dy, rows: rows, cols: n, into: g.pointer(bi)) }
        guard let dx else { return }
        let wT = Scratch(k * n)
        TrainingKernels.transpose(p.pointer(wi), rows: n, cols: k, into: wT.p, threads: threads)
        let product = WeightMatrix(data: UnsafeRawPointer(wT.p), dtype: .f32, rows: k, cols: n)
        if accumulate {
            let tmp = Scratch(rows * k)
            GEMM.multiply(dy, rows: rows, product, into: tmp.p, threads: threads)
            LayerKernels.add(tmp.p, into: dx, count: rows * k)
        } else {
            GEMM.multiply(dy, rows: rows, product, into: dx, threads: threads)
        }
    }

    func norm(_ x: UnsafePointer<Float>, _ wi: Int, _ out: UnsafeMutablePointer<Float>) {
        let h = c.hiddenSize
        let weight = UnsafePointer(p.pointer(wi))
        for r in 0..<rows {
            switch c.norm {
            case .rms(let eps, let unit):
                LayerKernels.rmsNorm(x + r * h, count: h, weight: weight, eps: eps, unitOffset: unit, into: out + r * h)
            case .layer(let eps):
                LayerKernels.layerNorm(x + r * h, count: h, weight: weight, eps: eps, into: out + r * h)
            }
        }
    }

    /// `dx = norm'(x)ᵀ dy` (overwrites `dx`, which may alias `dy`), weight gradient added.
    func normBackward(
        _ x: UnsafePointer<Float>, _ wi: Int, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, grads g: FloatTensors
    ) {
        let h = c.hiddenSize
        let weight = UnsafePointer(p.pointer(wi))
        let dWeight = g.pointer(wi)
        for r in 0..<rows {
            switch c.norm {
            case .rms(let eps, let unit):
                TrainingKernels.rmsNormBackward(
                    x + r * h, count: h, weight: weight, eps: eps, unitOffset: unit, dy: dy + r * h, dx: dx + r * h,
                    dWeight: dWeight)
            case .layer(let eps):
                TrainingKernels.layerNormBackward(
                    x + r * h, count: h, weight: weight, eps: eps, dy: dy + r * h, dx: dx + r * h, dWeight: dWeight)
            }
        }
    }

    var activation: TrainingKernels.Activation {
        switch c.activation {
        case .silu: .silu
        case .geluTanh: .geluTanh
        case .gelu: .geluErf
        }
    }

    /// Rotates every head of `x` (`rows × heads·headDim`) by its row's position; `inverse` rotates back.
    func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, inverse: Bool) {
        let hd = c.headDim, width = heads * hd
        let negSin = inverse ? Scratch(sinT.count) : nil
        if let negSin { for i in 0..<sinT.count { negSin.p[i] = -sinT.p[i] } }
        let sines = negSin?.p ?? sinT.p
        for (s, ids) in batch.enumerated() {
            for t in 0..<ids.count {
                let r = rowStart[s] + t
                for hh in 0..<heads {
                    LayerKernels.rotary(
                        x + r * width + hh * hd, cos: cosT.p + t * pairs, sin: sines + t * pairs, pairs: pairs,
                        pairing: c.ropePairing)
                }
            }
        }
    }

    // MARK: forward

    func forward() -> [[Float]] {
        let h = c.hiddenSize, hd = c.headDim
        let heads = c.headCount, kvHeads = c.kvHeadCount
        let qWidth = heads * hd, kvWidth = kvHeads * hd, inter = c.intermediateSize
        var hs = Scratch(rows * h)
        var r = 0
        for ids in batch {
            for id in ids {
                (hs.p + r * h).update(from: p.pointer(m.embed) + id * h, count: h)
                r += 1
            }
        }
        if let scale = c.embeddingScale { LayerKernels.scale(hs.p, by: scale, count: rows * h) }

        for (l, s) in m.slots.enumerated() {
            let t = LayerTape()
            t.x0 = hs
            let xn1 = Scratch(rows * h)
            norm(hs.p, s.inputNorm, xn1.p)
            t.xn1 = xn1
            let q = Scratch(rows * qWidth), k = Scratch(rows * kvWidth), v = Scratch(rows * kvWidth)
            linear(xn1.p, s.q, s.qBias, q.p)
            linear(xn1.p, s.k, s.kBias, k.p)
            linear(xn1.p, s.v, s.vBias, v.p)
            if let qn = s.qNorm, let kn = s.kNorm, case .layer(let eps) = c.norm {
                let qRaw = Scratch(rows * qWidth), kRaw = Scratch(rows * kvWidth)
                qRaw.p.update(from: q.p, count: rows * qWidth)
                kRaw.p.update(from: k.p, count: rows * kvWidth)
                t.qRaw = qRaw
                t.kRaw = kRaw
                for row in 0..<rows {
                    for hh in 0..<heads {
                        let x = q.p + row * qWidth + hh * hd
                        LayerKernels.layerNorm(x, count: hd, weight: p.pointer(qn) + hh * hd, eps: eps, into: x)
                    }
                    for hh in 0..<kvHeads {
                        let x = k.p + row * kvWidth + hh * hd
                        LayerKernels.layerNorm(x, count: hd, weight: p.pointer(kn) + hh * hd, eps: eps, into: x)
                    }
                }
            }
            if c.layers[l].usesRope {
                rope(q.p, heads: heads, inverse: false)
                rope(k.p, heads: kvHeads, inverse: false)
            }
            t.q = q
            t.k = k
            t.v = v
            let attn = Scratch(rows * qWidth)
            let probs = Scratch(probStart[batch.count])
            let capped = c.attentionSoftcap != nil ? Scratch(probStart[batch.count]) : nil
            attentionForward(layer: l, q: q.p, k: k.p, v: v.p, probs: probs.p, capped: capped?.p, out: attn.p)
            t.probs = probs
            t.capped = capped
            t.attn = attn
            let o = Scratch(rows * h)
            linear(attn.p, s.o, s.oBias, o.p)
            t.o = o
            let next = Scratch(rows * h)
            next.p.update(from: hs.p, count: rows * h)
            let gate = Scratch(rows * inter), up = Scratch(rows * inter), act = Scratch(rows * inter)
            let down = Scratch(rows * h)
            func mlp(_ x: UnsafePointer<Float>) {
                linear(x, s.gate, s.gateBias, gate.p)
                linear(x, s.up, s.upBias, up.p)
                TrainingKernels.gatedForward(gate.p, up.p, count: rows * inter, activation, into: act.p)
                linear(act.p, s.down, s.downBias, down.p)
            }
            switch c.block {
            case .sequential:
                LayerKernels.add(o.p, into: next.p, count: rows * h)
                let h1 = Scratch(rows * h)
                h1.p.update(from: next.p, count: rows * h)
                t.h1 = h1
                let xn2 = Scratch(rows * h)
                norm(next.p, s.postAttentionNorm!, xn2.p)
                t.xn2 = xn2
                mlp(xn2.p)
                LayerKernels.add(down.p, into: next.p, count: rows * h)
            case .parallel:
                mlp(xn1.p)
                LayerKernels.add(o.p, into: next.p, count: rows * h)
                LayerKernels.add(down.p, into: next.p, count: rows * h)
            case .sandwich:
                let a = Scratch(rows * h)
                norm(o.p, s.postAttentionNorm!, a.p)
                LayerKernels.add(a.p, into: next.p, count: rows * h)
                let h1 = Scratch(rows * h)
                h1.p.update(from: next.p, count: rows * h)
                t.h1 = h1
                let xn2 = Scratch(rows * h)
                norm(next.p, s.preFeedforwardNorm!, xn2.p)
                t.xn2 = xn2
                mlp(xn2.p)
                t.down = down
                let f = Scratch(rows * h)
                norm(down.p, s.postFeedforwardNorm!, f.p)
                LayerKernels.add(f.p, into: next.p, count: rows * h)
            }
            t.gate = gate
            t.up = up
            t.act = act
            if keep { tapes.append(t) }
            hs = next
        }
        hsFinal = hs
        let xf = Scratch(rows * h)
        norm(hs.p, m.finalNorm, xf.p)
        self.xf = xf
        let vocab = c.vocabSize
        let logits = Scratch(rows * vocab)
        linear(xf.p, m.lmHead, nil, logits.p)
        if c.logitScale != 1 { LayerKernels.scale(logits.p, by: c.logitScale, count: rows * vocab) }
        if let cap = c.finalSoftcap { LayerKernels.softcap(logits.p, count: rows * vocab, cap: cap) }
        self.logits = logits
        return batch.indices.map { s in
            Array(UnsafeBufferPointer(start: logits.p + rowStart[s] * vocab, count: batch[s].count * vocab))
        }
    }

    func attentionForward(
        layer l: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        probs: UnsafeMutablePointer<Float>, capped: UnsafeMutablePointer<Float>?, out: UnsafeMutablePointer<Float>
    ) {
        let hd = c.headDim, heads = c.headCount, kvHeads = c.kvHeadCount
        let qWidth = heads * hd, kvWidth = kvHeads * hd, group = heads / kvHeads
        let scale = c.attentionScale, softcap = c.attentionSoftcap
        let window = c.layers[l].slidingWindow
        let items = batch.count * heads
        let shared = UncheckedBox((q, k, v, probs, capped, out))
        let rowStart = rowStart, probStart = probStart, lengths = batch.map(\.count)
        ParallelFor.run(count: items, threads: threads) { item in
            let (q, k, v, probs, capped, out) = shared.value
            let s = item / heads, hh = item % heads
            let n = lengths[s], r0 = rowStart[s]
            let kvOffset = (hh / group) * hd
            for t in 0..<n {
                let lo = window.map { max(0, t - $0 + 1) } ?? 0
                let count = t - lo + 1
                let pr = probs + probStart[s] + (hh * n + t) * n + lo
                let qv = q + (r0 + t) * qWidth + hh * hd
                for j in 0..<count {
                    pr[j] = LayerKernels.dot(qv, k + (r0 + lo + j) * kvWidth + kvOffset, count: hd) * scale
                }
                if let softcap {
                    LayerKernels.softcap(pr, count: count, cap: softcap)
                    if let capped { (capped + probStart[s] + (hh * n + t) * n + lo).update(from: pr, count: count) }
                }
                LayerKernels.softmax(pr, count: count)
                let o = out + (r0 + t) * qWidth + hh * hd
                o.update(repeating: 0, count: hd)
                for j in 0..<count { LayerKernels.axpy(pr[j], v + (r0 + lo + j) * kvWidth + kvOffset, o, count: hd) }
            }
        }
    }

    // MARK: backward

    func backward(_ dLogits: [[Float]], into g: FloatTensors) {
        let h = c.hiddenSize, hd = c.headDim
        let heads = c.headCount, kvHeads = c.kvHeadCount
        let qWidth = heads * hd, kvWidth = kvHeads * hd, inter = c.intermediateSize
        let vocab = c.vocabSize
        let dl = Scratch(rows * vocab)
        for s in batch.indices {
            dLogits[s].withUnsafeBufferPointer { b in
                if let base = b.baseAddress { (dl.p + rowStart[s] * vocab).update(from: base, count: b.count) }
            }
        }
        if let cap = c.finalSoftcap { TrainingKernels.softcapBackward(logits.p, cap: cap, grad: dl.p, count: rows * vocab) }
        if c.logitScale != 1 { LayerKernels.scale(dl.p, by: c.logitScale, count: rows * vocab) }
        let dh = Scratch(rows * h)
        linearBackward(xf.p, m.lmHead, nil, dy: dl.p, dx: dh.p, accumulate: false, grads: g)
        normBackward(hsFinal.p, m.finalNorm, dy: dh.p, dx: dh.p, grads: g)

        for l in stride(from: m.slots.count - 1, through: 0, by: -1) {
            let s = m.slots[l], t = tapes[l]
            // dh is the gradient of the layer's output; build the gradient of its input in dx0.
            let dx0 = Scratch(rows * h)
            dx0.p.update(from: dh.p, count: rows * h)
            let dAct = Scratch(rows * inter), dGate = Scratch(rows * inter), dUp = Scratch(rows * inter)
            /// MLP backward from d(down output) to d(mlp input), written or added to `dxIn`.
            func mlpBackward(_ dDown: UnsafePointer<Float>, input x: UnsafePointer<Float>, _ dxIn: UnsafeMutablePointer<Float>, accumulate: Bool) {
                linearBackward(t.act.p, s.down, s.downBias, dy: dDown, dx: dAct.p, accumulate: false, grads: g)
                TrainingKernels.gatedBackward(
                    t.gate.p, t.up.p, count: rows * inter, activation, da: dAct.p, dGate: dGate.p, dUp: dUp.p)
                linearBackward(x, s.gate, s.gateBias, dy: dGate.p, dx: dxIn, accumulate: accumulate, grads: g)
                linearBackward(x, s.up, s.upBias, dy: dUp.p, dx: dxIn, accumulate: true, grads: g)
            }
            let dO = Scratch(rows * h)
            let dxn1 = Scratch(rows * h)
            switch c.block {
            case .sequential:
                let dxn2 = Scratch(rows * h)
                mlpBackward(dh.p, input: t.xn2!.p, dxn2.p, accumulate: false)
                normBackward(t.h1!.p, s.postAttentionNorm!, dy: dxn2.p, dx: dxn2.p, grads: g)
                LayerKernels.add(dxn2.p, into: dx0.p, count: rows * h)  // dx0 = d h1
                dO.p.update(from: dx0.p, count: rows * h)
                attentionBackward(layer: l, s, t, dO: dO.p, dxn1: dxn1.p, grads: g)
            case .parallel:
                dO.p.update(from: dh.p, count: rows * h)
                attentionBackward(layer: l, s, t, dO: dO.p, dxn1: dxn1.p, grads: g)
                mlpBackward(dh.p, input: t.xn1.p, dxn1.p, accumulate: true)
            case .sandwich:
                let dd = Scratch(rows * h)
                normBackward(t.down!.p, s.postFeedforwardNorm!, dy: dh.p, dx: dd.p, grads: g)
                let dxn2 = Scratch(rows * h)
                mlpBackward(dd.p, input: t.xn2!.p, dxn2.p, accumulate: false)
                normBackward(t.h1!.p, s.preFeedforwardNorm!, dy: dxn2.p, dx: dxn2.p, grads: g)
                LayerKernels.add(dxn2.p, into: dx0.p, count: rows * h)  // dx0 = d h1
                normBackward(t.o.p, s.postAttentionNorm!, dy: dx0.p, dx: dO.p, grads: g)
                attentionBackward(layer: l, s, t, dO: dO.p, dxn1: dxn1.p, grads: g)
            }
            normBackward(t.x0.p, s.inputNorm, dy: dxn1.p, dx: dxn1.p, grads: g)
            LayerKernels.add(dxn1.p, into: dx0.p, count: rows * h)
            dh.p.update(from: dx0.p, count: rows * h)
            _ = (qWidth, kvWidth)
        }
        // Embeddings.
        if let scale = c.embeddingScale { LayerKernels.scale(dh.p, by: scale, count: rows * h) }
        let dE = g.pointer(m.embed)
        var r = 0
        for ids in batch {
            for id in ids {
                LayerKernels.add(dh.p + r * h, into: dE + id * h, count: h)
                r += 1
            }
        }
    }

    /// From d(o_proj output) to d(attention input), written to `dxn1`.
    func attentionBackward(
        layer l: Int, _ s: LayerSlots, _ t: LayerTape, dO: UnsafePointer<Float>, dxn1: UnsafeMutablePointer<Float>,
        grads g: FloatTensors
    ) {
        let hd = c.headDim, heads = c.headCount, kvHeads = c.kvHeadCount
        let qWidth = heads * hd, kvWidth = kvHeads * hd, group = heads / kvHeads
        let dAttn = Scratch(rows * qWidth)
        linearBackward(t.attn.p, s.o, s.oBias, dy: dO, dx: dAttn.p, accumulate: false, grads: g)
        let dq = Scratch(rows * qWidth), dk = Scratch(rows * kvWidth), dv = Scratch(rows * kvWidth)
        let scale = c.attentionScale, softcap = c.attentionSoftcap
        let window = c.layers[l].slidingWindow
        let longest = batch.map(\.count).max() ?? 1
        let workers = min(threads, batch.count * kvHeads)
        let dpScratch = Scratch(max(1, workers) * longest)
        let shared = UncheckedBox((
            UnsafePointer(t.q.p), UnsafePointer(t.k.p), UnsafePointer(t.v.p), UnsafePointer(t.probs.p),
            t.capped.map { UnsafePointer($0.p) }, UnsafePointer(dAttn.p), dq.p, dk.p, dv.p, dpScratch.p))
        let rowStart = rowStart, probStart = probStart, lengths = batch.map(\.count)
        ParallelFor.run(count: batch.count * kvHeads, threads: workers) { item, worker in
            let (q, k, v, probs, capped, dOut, dq, dk, dv, dpBase) = shared.value
            let seq = item / kvHeads, kh = item % kvHeads
            let n = lengths[seq], r0 = rowStart[seq]
            let kvOffset = kh * hd
            let dp = dpBase + worker * longest
            for hh in (kh * group)..<((kh + 1) * group) {
                for tq in 0..<n {
                    let lo = window.map { max(0, tq - $0 + 1) } ?? 0
                    let count = tq - lo + 1
                    let pr = probs + probStart[seq] + (hh * n + tq) * n + lo
                    let dov = dOut + (r0 + tq) * qWidth + hh * hd
                    var sum: Double = 0
                    for j in 0..<count {
                        dp[j] = LayerKernels.dot(dov, v + (r0 + lo + j) * kvWidth + kvOffset, count: hd)
                        sum += Double(dp[j]) * Double(pr[j])
                    }
                    let sumF = Float(sum)
                    let cp = capped.map { $0 + probStart[seq] + (hh * n + tq) * n + lo }
                    let qv = q + (r0 + tq) * qWidth + hh * hd
                    let dqv = dq + (r0 + tq) * qWidth + hh * hd
                    for j in 0..<count {
                        var ds = pr[j] * (dp[j] - sumF)
                        if let softcap, let cp {
                            let x = cp[j] / softcap
                            ds *= 1 - x * x
                        }
                        ds *= scale
                        let row = r0 + lo + j
                        LayerKernels.axpy(ds, k + row * kvWidth + kvOffset, dqv, count: hd)
                        LayerKernels.axpy(ds, qv, dk + row * kvWidth + kvOffset, count: hd)
                        LayerKernels.axpy(pr[j], dov, dv + row * kvWidth + kvOffset, count: hd)
                    }
                }
            }
        }
        if c.layers[l].usesRope {
            rope(dq.p, heads: heads, inverse: true)
            rope(dk.p, heads: kvHeads, inverse: true)
        }
        if let qn = s.qNorm, let kn = s.kNorm, case .layer(let eps) = c.norm, let qRaw = t.qRaw, let kRaw = t.kRaw {
            for row in 0..<rows {
                for hh in 0..<heads {
                    let off = row * qWidth + hh * hd
                    TrainingKernels.layerNormBackward(
                        qRaw.p + off, count: hd, weight: p.pointer(qn) + hh * hd, eps: eps, dy: dq.p + off, dx: dq.p + off,
                        dWeight: g.pointer(qn) + hh * hd)
                }
                for hh in 0..<kvHeads {
                    let off = row * kvWidth + hh * hd
                    TrainingKernels.layerNormBackward(
                        kRaw.p + off, count: hd, weight: p.pointer(kn) + hh * hd, eps: eps, dy: dk.p + off, dx: dk.p + off,
                        dWeight: g.pointer(kn) + hh * hd)
                }
            }
        }
        linearBackward(t.xn1.p, s.q, s.qBias, dy: dq.p, dx: dxn1, accumulate: false, grads: g)
        linearBackward(t.xn1.p, s.k, s.kBias, dy: dk.p, dx: dxn1, accumulate: true, grads: g)
        linearBackward(t.xn1.p, s.v, s.vBias, dy: dv.p, dx: dxn1, accumulate: true, grads: g)
    }
}
