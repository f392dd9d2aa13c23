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

        // Rounds of `threads × 8` batches are rendered in parallel; while one round renders, the
        // previous one is written by a writer thread (double buffering, so at most two rounds of
        // output are in memory).
        let batch = 1024
        let batches = (picks.count + batch - 1) / batch
        let perRound = max(1, threads) * 8
        let writer = DispatchQueue(label: "mixmerge.mix.writer")
        let writing = DispatchGroup()
        let writeFailure = FailureBox()
        let files = UncheckedBox(outputs)
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
            writing.wait()
            if let e = failure.error ?? writeFailure.error { throw e }
            let round = UncheckedBox(rendered)
            writer.async(group: writing) {
                do {
                    for k in round.value.indices {
                        for s in Stream.allCases { if let o = files.value[s] { try o.write(round.value[k][s.rawValue]) } }
                    }
                } catch { writeFailure.set(error) }
            }
            b += n
        }
        writing.wait()
        if let e = writeFailure.error { throw e }
        for o in outputs.values { try o.finish() }
    }

    static func render(_ picks: ArraySlice<Draw.Pick>, sft: Bool, dpo: Bool, d: Draw, pool: Pool) throws -> [[UInt8]] {
        var w = Stream.allCases.map { _ in JSONWriter(capacity: picks.count * 512) }
        var buffer: [UInt8] = []
        var tape = JSONTape()
        for pick in picks {
            let entry = pool.entries[Int(pick.entry)]
            let source = Int(entry.source)
            let file = pool.files[source]
            try file.withRecordBytes(Int(entry.span), buffer: &buffer) { record in
                try pool.withPlan(entry) { plan in
                    if sft {
                        w[0].beginObject()
                        w[0].key("messages"); w[0].turns([plan.prompt, plan.sftResponse], plan, record)
                        w[0].endObject(); w[0].newline()
                    }
                    if dpo {
                        // TRL explicit prompt: {"prompt": [...], "chosen": [...], "rejected": [...]}
                        w[1].beginObject()
                        w[1].key("prompt"); w[1].turns([plan.prompt], plan, record)
                        w[1].key("chosen"); w[1].turns([plan.chosen], plan, record)
                        w[1].key("rejected"); w[1].turns([plan.rejected], plan, record)
                        w[1].endObject(); w[1].newline()
                        // Implicit prompt: full conversations sharing their prompt turns.
                        w[2].beginObject()
                        w[2].key("chosen"); w[2].turns([plan.prompt, plan.chosen], plan, record)
                        w[2].key("rejected"); w[2].turns([plan.prompt, plan.rejected], plan, record)
                        w[2].endObject(); w[2].newline()
                    }
                    // {"source":…,"objective":…,"language":…, prepared once per source and language
                    w[3].raw(d.metaPrefix[MetaKey(source: entry.source, language: entry.language)]!)
                    w[3].key("harm_category"); w[3].beginArray()
                    let harm = plan.harm
                    if harm.kind != 0 {
                        var text = Array(UnsafeBufferPointer(rebasing: record[harm.range]))
                        if harm.kind == 1 { text = [UInt8(ascii: "\"")] + text + [UInt8(ascii: "\"")] }
                        let categories = try text.withUnsafeBufferPointer { b in
                            try tape.parse(JSONBytes(base: b.baseAddress!, count: b.count), 0..<b.count)
                            return try pool.config.sources[source].reader.harmCategories(tape, 0)
                        }
                        for h in categories { w[3].string(h) }
                    }
                    w[3].endArray()
                    w[3].key("global_or_local"); w[3].scalar(plan.globalOrLocal, record)
                    w[3].key("source_id"); w[3].scalar(plan.sourceID, record)
                    w[3].key("id"); w[3].scalar(plan.id, record)
                    w[3].key("origin"); w[3].string(file.displayName, suffix: ":", Int(file.spans[Int(entry.span)].line))
                    w[3].key("repeat"); w[3].int(Int(pick.repeatIndex))
                    w[3].endObject(); w[3].newline()
                }
            }
        }
        return w.map(\.bytes)
    }
}

struct MetaKey: Hashable { var source: Int32, language: UInt64 }

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
