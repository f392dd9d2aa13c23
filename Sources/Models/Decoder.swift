import Foundation
import Tensors

/// A float32 scratch buffer owned by one forward pass.
final class Scratch {
    let p: UnsafeMutablePointer<Float>
    let count: Int
    init(_ count: Int) {
        self.count = max(1, count)
        p = .allocate(capacity: self.count)
        p.initialize(repeating: 0, count: self.count)
    }
    deinit { p.deallocate() }
}

extension LanguageModel {
    /// The forward pass of a batch of sequences, each continuing its own cache: the rows of all
    /// sequences are stacked for the matrix products (one read of each weight matrix per call),
    /// attention runs per sequence against its cache.
    /// - Returns: per sequence, the logits of its last row, or of all its rows when `allPositions`.
    func forward(
        _ batch: [[Int]], caches: inout [KVCache], allPositions: Bool, trace: UnsafeMutablePointer<ForwardTrace>?
    ) throws -> [[Float]] {
        let c = config
        guard batch.count == caches.count else {
            throw ModelError(.badInput, "forward: \(batch.count) sequences for \(caches.count) caches")
        }
        for (s, ids) in batch.enumerated() {
            guard !ids.isEmpty else { throw ModelError(.badInput, "sequence \(s) has no tokens") }
            if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= c.vocabSize }) {
                throw ModelError(.badInput,
                    "sequence \(s): token id \(ids[bad]) at index \(bad) is outside the vocabulary "
                        + "(0..<\(c.vocabSize))")
            }
            let cache = caches[s]
            guard cache.layerCount == c.layerCount, cache.width == c.kvHeadCount * c.headDim else {
                throw ModelError(.badInput, "sequence \(s): the KV cache was made for another model shape")
            }
        }
        let h = c.hiddenSize, hd = c.headDim
        let qWidth = c.headCount * hd, kvWidth = c.kvHeadCount * hd, inter = c.intermediateSize
        var rowStart = [0]
        for ids in batch { rowStart.append(rowStart[rowStart.count - 1] + ids.count) }
        let m = rowStart[batch.count]
        var positions: [Int] = []
        for (s, ids) in batch.enumerated() { positions += (0..<ids.count).map { caches[s].count + $0 } }

        // Embeddings.
        let hs = Scratch(m * h)
        var row = 0
        for ids in batch {
            for id in ids {
                embedding.widenRow(id, into: hs.p + row * h)
                row += 1
            }
        }
        if let scale = c.embeddingScale { LayerKernels.scale(hs.p, by: scale, count: m * h) }
        trace?.pointee.embeddings = Array(UnsafeBufferPointer(start: hs.p, count: m * h))

        // Rotary tables per row: cos/sin of position · inverse frequency (float32, as transformers).
        let pairs = c.ropeDim / 2
        let inv = c.inverseFrequencies(sequenceLength: (positions.max() ?? 0) + 1)
        let cosT = Scratch(m * pairs), sinT = Scratch(m * pairs)
        for r in 0..<m {
            for i in 0..<pairs {
                let angle = Float(positions[r]) * inv[i]
                cosT.p[r * pairs + i] = Foundation.cos(angle)
                sinT.p[r * pairs + i] = Foundation.sin(angle)
            }
        }

        let xn = Scratch(m * h), q = Scratch(m * qWidth), k = Scratch(m * kvWidth), v = Scratch(m * kvWidth)
        let attn = Scratch(m * qWidth), o = Scratch(m * h)
        let gate = Scratch(m * inter), up = Scratch(m * inter), down = Scratch(m * h)

        for (l, lw) in layers.enumerated() {
            normRows(hs.p, m, lw.inputNorm, into: xn.p)
            try attention(
                layer: l, lw, input: xn.p, rows: m, batch: batch, rowStart: rowStart, caches: &caches,
                q: q.p, k: k.p, v: v.p, cos: cosT.p, sin: sinT.p, out: attn.p)
            matmul(attn.p, m, lw.o, lw.oBias, o.p)
            switch c.block {
            case .sequential:
                LayerKernels.add(o.p, into: hs.p, count: m * h)
                normRows(hs.p, m, lw.postAttentionNorm ?? [], into: xn.p)
                mlp(lw, xn.p, m, gate: gate.p, up: up.p, out: down.p)
                LayerKernels.add(down.p, into: hs.p, count: m * h)
            case .parallel:
                mlp(lw, xn.p, m, gate: gate.p, up: up.p, out: down.p)
                LayerKernels.add(o.p, into: hs.p, count: m * h)
                LayerKernels.add(down.p, into: hs.p, count: m * h)
            case .sandwich:
                normRows(o.p, m, lw.postAttentionNorm ?? [], into: xn.p)
                LayerKernels.add(xn.p, into: hs.p, count: m * h)
                normRows(hs.p, m, lw.preFeedforwardNorm ?? [], into: xn.p)
                mlp(lw, xn.p, m, gate: gate.p, up: up.p, out: down.p)
                normRows(down.p, m, lw.postFeedforwardNorm ?? [], into: xn.p)
                LayerKernels.add(xn.p, into: hs.p, count: m * h)
            }
            trace?.pointee.layerOutputs.append(Array(UnsafeBufferPointer(start: hs.p, count: m * h)))
        }
        for s in batch.indices { caches[s].count += batch[s].count }

        // Final norm and logits of the rows asked for.
        var outRows: [Int] = []
        for s in batch.indices {
            if allPositions {
                outRows += Array(rowStart[s]..<rowStart[s + 1])
            } else {
                outRows.append(rowStart[s + 1] - 1)
            }
        }
        if trace != nil {
            normRows(hs.p, m, finalNorm, into: xn.p)
            trace?.pointee.finalNorm = Array(UnsafeBufferPointer(start: xn.p, count: m * h))
        }
        let mo = outRows.count
        let selected = Scratch(mo * h)
        for (i, r) in outRows.enumerated() {
            normRows(hs.p + r * h, 1, finalNorm, into: selected.p + i * h)
        }
        let vocab = c.vocabSize
        var logits = [Float](repeating: 0, count: mo * vocab)
        logits.withUnsafeMutableBufferPointer { lb in
            guard let out = lb.baseAddress else { return }
            matmul(selected.p, mo, lmHead, nil, out)
            if c.logitScale != 1 { LayerKernels.scale(out, by: c.logitScale, count: mo * vocab) }
            if let cap = c.finalSoftcap { LayerKernels.softcap(out, count: mo * vocab, cap: cap) }
        }
        var result: [[Float]] = []
        var offset = 0
        for s in batch.indices {
            let rows = allPositions ? batch[s].count : 1
            result.append(Array(logits[(offset * vocab)..<((offset + rows) * vocab)]))
            offset += rows
        }
        return result
    }

    /// `y = x · Wᵀ + b` over `m` rows.
    func matmul(
        _ x: UnsafePointer<Float>, _ m: Int, _ w: WeightMatrix, _ bias: [Float]?, _ y: UnsafeMutablePointer<Float>
    ) {
        if let bias {
            bias.withUnsafeBufferPointer {
                GEMM.multiply(x, rows: m, w, bias: $0.baseAddress, into: y, threads: threads)
            }
        } else {
            GEMM.multiply(x, rows: m, w, into: y, threads: threads)
        }
    }

    /// The model's norm of one row of `hiddenSize` floats.
    func normRow(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        switch config.norm {
        case .rms(let eps, let unitOffset):
            LayerKernels.rmsNorm(
                x, count: config.hiddenSize, weight: weight, eps: eps, unitOffset: unitOffset, into: out)
        case .layer(let eps):
            LayerKernels.layerNorm(x, count: config.hiddenSize, weight: weight, eps: eps, into: out)
        }
    }

    /// The model's norm of `m` rows.
    func normRows(_ x: UnsafePointer<Float>, _ m: Int, _ weight: [Float], into out: UnsafeMutablePointer<Float>) {
        let h = config.hiddenSize
        weight.withUnsafeBufferPointer { wb in
            guard let w = wb.baseAddress, wb.count == h else { return }
            for r in 0..<m { normRow(x + r * h, w, into: out + r * h) }
        }
    }

    /// The gated MLP: `down(act(gate(x)) · up(x))`.
    func mlp(
        _ lw: LayerWeights, _ x: UnsafePointer<Float>, _ m: Int, gate: UnsafeMutablePointer<Float>,
        up: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        let n = m * config.intermediateSize
        matmul(x, m, lw.gate, lw.gateBias, gate)
        matmul(x, m, lw.up, lw.upBias, up)
        switch config.activation {
        case .silu: LayerKernels.siluMultiply(gate, up, count: n)
        case .geluTanh: LayerKernels.geluTanhMultiply(gate, up, count: n)
        case .gelu: LayerKernels.geluErfMultiply(gate, up, count: n)
        }
        matmul(gate, m, lw.down, lw.downBias, out)
    }

    /// Self-attention of layer `l` for all rows: projections, optional qk-norm, RoPE, cache append,
    /// then causal (optionally windowed, soft-capped) softmax attention per sequence.
    func attention(
        layer l: Int, _ lw: LayerWeights, input x: UnsafePointer<Float>, rows m: Int, batch: [[Int]], rowStart: [Int],
        caches: inout [KVCache], q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>
    ) throws {
        let c = config
        let hd = c.headDim, heads = c.headCount, kvHeads = c.kvHeadCount
        let qWidth = heads * hd, kvWidth = kvHeads * hd
        matmul(x, m, lw.q, lw.qBias, q)
        matmul(x, m, lw.k, lw.kBias, k)
        matmul(x, m, lw.v, lw.vBias, v)
        if let qn = lw.qNorm, let kn = lw.kNorm, case .layer(let eps) = c.norm {
            qn.withUnsafeBufferPointer { qb in
                kn.withUnsafeBufferPointer { kb in
                    guard let qw = qb.baseAddress, let kw = kb.baseAddress else { return }
                    for r in 0..<m {
                        for hh in 0..<heads {
                            let p = q + r * qWidth + hh * hd
                            LayerKernels.layerNorm(p, count: hd, weight: qw + hh * hd, eps: eps, into: p)
                        }
                        for hh in 0..<kvHeads {
                            let p = k + r * kvWidth + hh * hd
                            LayerKernels.layerNorm(p, count: hd, weight: kw + hh * hd, eps: eps, into: p)
                        }
                    }
                }
            }
        }
        let settings = c.layers[l]
        let pairs = c.ropeDim / 2
        if settings.usesRope {
            for r in 0..<m {
                let cr = cos + r * pairs, sr = sin + r * pairs
                for hh in 0..<heads {
                    LayerKernels.rotary(
                        q + r * qWidth + hh * hd, cos: cr, sin: sr, pairs: pairs, pairing: c.ropePairing)
                }
                for hh in 0..<kvHeads {
                    LayerKernels.rotary(
                        k + r * kvWidth + hh * hd, cos: cr, sin: sr, pairs: pairs, pairing: c.ropePairing)
                }
            }
        }
        let group = heads / kvHeads
        let scale = c.attentionScale, softcap = c.attentionSoftcap
        for (s, ids) in batch.enumerated() {
            let r0 = rowStart[s], n = ids.count
            let past = caches[s].count
            caches[s].keys[l].append(contentsOf: UnsafeBufferPointer(start: k + r0 * kvWidth, count: n * kvWidth))
            caches[s].values[l].append(contentsOf: UnsafeBufferPointer(start: v + r0 * kvWidth, count: n * kvWidth))
            let total = past + n
            let cache = caches[s]
            let work = n * heads * total * hd
            let workers = work < 1 << 16 ? 1 : threads
            let scores = Scratch(workers * total)
            cache.keys[l].withUnsafeBufferPointer { kb in
                cache.values[l].withUnsafeBufferPointer { vb in
                    guard let kp = kb.baseAddress, let vp = vb.baseAddress else { return }
                    let shared = UncheckedBox((kp, vp, UnsafePointer(q), out, scores.p))
                    ParallelFor.run(count: n * heads, threads: workers) { item, worker in
                        let (keys, values, q, out, scoreBase) = shared.value
                        let t = item / heads, hh = item % heads
                        let pos = past + t
                        let lo = settings.slidingWindow.map { max(0, pos - $0 + 1) } ?? 0
                        let count = pos - lo + 1
                        let sc = scoreBase + worker * total
                        let qv = q + (r0 + t) * qWidth + hh * hd
                        let kvOffset = (hh / group) * hd
                        for j in 0..<count {
                            sc[j] = LayerKernels.dot(qv, keys + (lo + j) * kvWidth + kvOffset, count: hd) * scale
                        }
                        if let softcap { LayerKernels.softcap(sc, count: count, cap: softcap) }
                        LayerKernels.softmax(sc, count: count)
                        let o = out + (r0 + t) * qWidth + hh * hd
                        o.update(repeating: 0, count: hd)
                        for j in 0..<count {
                            LayerKernels.axpy(sc[j], values + (lo + j) * kvWidth + kvOffset, o, count: hd)
                        }
                    }
                }
            }
        }
    }
}
