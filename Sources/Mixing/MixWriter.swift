import Checkpoints
import Datasets
import Foundation
import Tensors

/// Writes a drawn mixture: per side (train, held_out) the SFT `messages` JSONL, the DPO JSONL in
/// TRL's explicit-prompt form and in the implicit full-conversation form, a line-aligned
/// `*.meta.jsonl`, and `manifest.json`. Records are rendered in parallel batches and written in
/// order; the sources' mapped pages are released after each round so memory stays bounded.
enum MixWriter {
    static func fileNames(_ d: Draw) -> [String] {
        var names: [String] = []
        for side in sides(d) {
            if d.spec.kinds.contains(.sft) { names.append("\(side).sft.jsonl") }
            if d.spec.kinds.contains(.dpo) { names += ["\(side).dpo.jsonl", "\(side).dpo-implicit.jsonl"] }
            names.append("\(side).meta.jsonl")
        }
        return names + ["manifest.json"]
    }

    static func sides(_ d: Draw) -> [String] { d.heldOut.isEmpty ? ["train"] : ["train", "held_out"] }

    static func write(_ d: Draw, pool: Pool, into folder: URL, threads: Int) throws {
        try writeSide("train", d.train, d, pool, folder, threads)
        if !d.heldOut.isEmpty {
            try writeSide("held_out", d.heldOut.map { Draw.Pick(entry: $0, repeatIndex: 0) }, d, pool, folder, threads)
        }
        let manifest = Manifest.make(d, pool: pool, files: fileNames(d))
        try Data((manifest.serialized(indent: 2) + "\n").utf8).write(to: folder.appendingPathComponent("manifest.json"))
    }

    enum Stream: Int, CaseIterable { case sft, dpo, dpoImplicit, meta }

    static func writeSide(_ side: String, _ picks: [Draw.Pick], _ d: Draw, _ pool: Pool, _ folder: URL, _ threads: Int) throws {
        let sft = d.spec.kinds.contains(.sft), dpo = d.spec.kinds.contains(.dpo)
        var outputs: [Stream: FileOutput] = [:]
        if sft { outputs[.sft] = try FileOutput(folder.appendingPathComponent("\(side).sft.jsonl")) }
        if dpo {
            outputs[.dpo] = try FileOutput(folder.appendingPathComponent("\(side).dpo.jsonl"))
            outputs[.dpoImplicit] = try FileOutput(folder.appendingPathComponent("\(side).dpo-implicit.jsonl"))
        }
        outputs[.meta] = try FileOutput(folder.appendingPathComponent("\(side).meta.jsonl"))
        defer { for o in outputs.values { o.close() } }

        let batch = 1024
        let batches = (picks.count + batch - 1) / batch
        let perRound = max(1, threads) * 8
        var b = 0
        while b < batches {
            let n = min(perRound, batches - b)
            var rendered = [[[UInt8]]](repeating: [], count: n)
            let failure = FailureBox()
            let box = UncheckedBox(rendered.withUnsafeMutableBufferPointer { $0 })
            let first = b
            ParallelFor.run(count: n, threads: threads) { k in
                let range = ((first + k) * batch)..<min(picks.count, (first + k + 1) * batch)
                do { box.value[k] = try render(picks[range], sft: sft, dpo: dpo, d: d, pool: pool) } catch { failure.set(error) }
            }
            if let e = failure.error { throw e }
            for k in 0..<n {
                for s in Stream.allCases { if let o = outputs[s] { try o.write(rendered[k][s.rawValue]) } }
            }
            for f in pool.files { f.releasePages() }
            b += n
        }
        for o in outputs.values { try o.finish() }
    }

    static func render(_ picks: ArraySlice<Draw.Pick>, sft: Bool, dpo: Bool, d: Draw, pool: Pool) throws -> [[UInt8]] {
        var w = Stream.allCases.map { _ in JSONWriter(capacity: picks.count * 512) }
        for pick in picks {
            let entry = pool.entries[Int(pick.entry)]
            let r = try pool.record(entry)
            if sft {
                w[0].beginObject()
                w[0].key("messages"); w[0].messages(r.prompt + (r.sftResponse ?? []))
                w[0].endObject(); w[0].newline()
            }
            if dpo {
                // TRL explicit prompt: {"prompt": [...], "chosen": [...], "rejected": [...]}
                w[1].beginObject()
                w[1].key("prompt"); w[1].messages(r.prompt)
                w[1].key("chosen"); w[1].messages(r.chosen ?? [])
                w[1].key("rejected"); w[1].messages(r.rejected ?? [])
                w[1].endObject(); w[1].newline()
                // Implicit prompt: full conversations sharing their prompt turns.
                w[2].beginObject()
                w[2].key("chosen"); w[2].messages(r.prompt + (r.chosen ?? []))
                w[2].key("rejected"); w[2].messages(r.prompt + (r.rejected ?? []))
                w[2].endObject(); w[2].newline()
            }
            let spec = pool.config.sources[Int(entry.source)]
            let file = pool.files[Int(entry.source)]
            w[3].beginObject()
            w[3].key("source"); w[3].string(spec.name)
            w[3].key("objective"); w[3].string(spec.objective)
            w[3].key("language"); w[3].string(entry.languageCode)
            w[3].key("harm_category"); w[3].beginArray(); for h in r.harmCategories { w[3].string(h) }; w[3].endArray()
            w[3].key("global_or_local"); w[3].stringOrNull(r.globalOrLocal)
            w[3].key("source_id"); w[3].stringOrNull(r.sourceID)
            w[3].key("id"); w[3].stringOrNull(r.id)
            w[3].key("origin"); w[3].string(file.location(Int(entry.span)))
            w[3].key("repeat"); w[3].int(Int(pick.repeatIndex))
            w[3].endObject(); w[3].newline()
        }
        return w.map(\.bytes)
    }
}

/// An output file written with plain `write(2)` calls; errors (a full disk) name the file.
final class FileOutput {
    let path: String
    private var fd: Int32

    init(_ url: URL) throws {
        path = url.path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MixError("\(path): cannot create (\(String(cString: strerror(errno))))") }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let r = Glibc.write(fd, b.baseAddress! + done, b.count - done)
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { throw MixError("\(path): cannot write (\(String(cString: strerror(errno))))") }
                done += r
            }
        }
    }

    func finish() throws {
        guard fd >= 0 else { return }
        let r = Glibc.close(fd)
        fd = -1
        guard r == 0 else { throw MixError("\(path): cannot finish writing (\(String(cString: strerror(errno))))") }
    }

    func close() {
        if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
    }
}

#if canImport(Glibc)
import Glibc
#endif
