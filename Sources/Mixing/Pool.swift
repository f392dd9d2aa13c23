import Crypto
import Datasets
import Dispatch
import Foundation
import Tensors

/// Everything the sources hold, read once: one small entry per record (where it is, its
/// language, size, group and duplicate keys), never the records themselves. Mixtures are drawn
/// from these entries; the records are read again from the mapped files only when written.
public final class Pool: @unchecked Sendable {
    // @unchecked: built once by `load`, then only read.
    public let config: MixtureConfig
    public let files: [RecordFile]
    public internal(set) var entries: [PoolEntry] = []
    public internal(set) var sourceStats: [SourceStats]
    public internal(set) var heldOutGroups = 0
    public internal(set) var groups = 0

    public struct SourceStats: Sendable {
        public var path: String
        public var resolvedPath: String
        public var sha256: String = ""
        public var bytes: Int = 0
        public var records = 0
        public var skippedInvalid = 0
        public var skippedExamples: [String] = []
        public var duplicatesExact = 0
        public var duplicatesNormalized = 0
        public var otherLanguages = 0
        public var heldOut = 0
    }

    init(config: MixtureConfig, files: [RecordFile], stats: [SourceStats]) {
        self.config = config
        self.files = files
        self.sourceStats = stats
    }

    /// Reads every source (in parallel chunks, pages released as they are consumed), removes
    /// duplicates, drops languages outside `config.languages`, and marks the held-out groups.
    public static func load(
        _ config: MixtureConfig, baseDirectory: String?, skipInvalid: Bool, threads: Int
    ) throws -> Pool {
        var files: [RecordFile] = []
        var stats: [SourceStats] = []
        for spec in config.sources {
            let resolved = resolve(spec.path, baseDirectory)
            let file: RecordFile
            do { file = try RecordFile(path: resolved, displayName: spec.path) } catch { throw MixError("source '\(spec.name)': \(error)") }
            files.append(file)
            stats.append(SourceStats(path: spec.path, resolvedPath: resolved, bytes: file.bytes.count))
        }
        let pool = Pool(config: config, files: files, stats: stats)
        for (s, spec) in config.sources.enumerated() {
            try pool.scan(source: s, spec: spec, skipInvalid: skipInvalid, threads: threads)
        }
        pool.removeDuplicates()
        pool.splitHeldOut()
        return pool
    }

    static func resolve(_ path: String, _ base: String?) -> String {
        if path.hasPrefix("/") || FileManager.default.fileExists(atPath: path) { return path }
        if let base {
            let candidate = URL(fileURLWithPath: base).appendingPathComponent(path).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return path
    }

    // MARK: pass 1

    static let chunk = 8192

    func scan(source s: Int, spec: SourceSpec, skipInvalid: Bool, threads: Int) throws {
        let file = files[s]
        let chunks = (file.spans.count + Self.chunk - 1) / Self.chunk
        var results = [ChunkResult?](repeating: nil, count: chunks)
        let hashed = HashBox()
        let group = DispatchGroup()
        let fileBox = UncheckedBox(file)
        DispatchQueue.global().async(group: group) { hashed.digest = Self.sha256(fileBox.value) }
        let box = UncheckedBox(results.withUnsafeMutableBufferPointer { $0 })
        let languages = config.languages.map(Set.init)
        ParallelFor.run(count: chunks, threads: threads) { c in
            let range = (c * Self.chunk)..<min(file.spans.count, (c + 1) * Self.chunk)
            box.value[c] = Self.scanChunk(file, range, source: s, spec: spec, languages: languages, skipInvalid: skipInvalid)
            let first = file.spans[range.lowerBound], last = file.spans[range.upperBound - 1]
            file.releasePages(first.start..<(last.start + Int(last.length)))
        }
        group.wait()
        sourceStats[s].sha256 = hashed.digest
        for r in results {
            guard let r else { continue }
            if let error = r.error { throw MixError(error) }
            entries.append(contentsOf: r.entries)
            sourceStats[s].records += r.entries.count + r.otherLanguages
            sourceStats[s].otherLanguages += r.otherLanguages
            sourceStats[s].skippedInvalid += r.skipped.count
            let room = 10 - sourceStats[s].skippedExamples.count
            if room > 0 { sourceStats[s].skippedExamples += r.skipped.prefix(room) }
        }
    }


    struct ChunkResult {
        var entries: [PoolEntry] = []
        var skipped: [String] = []
        var otherLanguages = 0
        var error: String?
    }

    static func scanChunk(
        _ file: RecordFile, _ range: Range<Int>, source: Int, spec: SourceSpec, languages: Set<String>?, skipInvalid: Bool
    ) -> ChunkResult {
        var out = ChunkResult()
        out.entries.reserveCapacity(range.count)
        for i in range {
            do {
                let record = try read(file, i, spec)
                guard let language = record.language else {
                    throw MixError("\(file.location(i)): no language (give source '\(spec.name)' a language: or map a field with fields: {language: KEY})")
                }
                if let languages, !languages.contains(language) { out.otherLanguages += 1; continue }
                guard let packed = PoolEntry.pack(language) else {
                    throw MixError("\(file.location(i)): language code '\(language)' is longer than 8 characters")
                }
                out.entries.append(PoolEntry(record: record, source: source, span: i, language: packed, namespace: spec.groupNamespace))
            } catch {
                if skipInvalid { out.skipped.append("\(error)") } else {
                    out.error = "\(error)"
                    return out
                }
            }
        }
        return out
    }

    /// Reads record `index` of a source as a `Record` (errors carry `file:line`).
    static func read(_ file: RecordFile, _ index: Int, _ spec: SourceSpec) throws -> Record {
        let node: JSONNode
        do { node = try file.node(index) } catch { throw MixError("\(error)") }
        do { return try spec.reader.read(node, file.bytes) } catch {
            throw MixError("\(file.location(index)): \(error.message)")
        }
    }

    func record(_ entry: PoolEntry) throws -> Record {
        try Self.read(files[Int(entry.source)], Int(entry.span), config.sources[Int(entry.source)])
    }

    final class HashBox: @unchecked Sendable { var digest = "" }

    static func sha256(_ file: RecordFile) -> String {
        var hasher = SHA256()
        let step = 64 << 20
        var offset = 0
        while offset < file.bytes.count {
            let n = min(step, file.bytes.count - offset)
            hasher.update(bufferPointer: UnsafeRawBufferPointer(start: file.bytes.base + offset, count: n))
            file.releasePages(offset..<(offset + n))
            offset += n
        }
        if file.kind == .csv, let data = FileManager.default.contents(atPath: file.path) {
            hasher = SHA256()
            hasher.update(data: data)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    // MARK: duplicates and split

    func removeDuplicates() {
        guard config.dedup != .none else { return }
        var exact = Set<Key128>()
        var normalized = Set<Key128>()
        exact.reserveCapacity(entries.count)
        normalized.reserveCapacity(entries.count)
        for i in entries.indices {
            let e = entries[i]
            if !exact.insert(e.exactKey).inserted {
                entries[i].flags.insert(.duplicate)
                sourceStats[Int(e.source)].duplicatesExact += 1
            } else if config.dedup == .normalized && !normalized.insert(e.normalizedKey).inserted {
                entries[i].flags.insert(.duplicate)
                sourceStats[Int(e.source)].duplicatesNormalized += 1
            } else if config.dedup == .normalized {
                // inserted into both
            } else {
                _ = normalized
            }
        }
    }

    /// Whole groups go to the held-out side: the distinct group keys are sorted, shuffled with the
    /// "split" stream, and the first round(fraction × groups) are held out.
    func splitHeldOut() {
        var keys = entries.lazy.filter { !$0.flags.contains(.duplicate) }.map(\.group).sorted()
        keys = keys.enumerated().compactMap { i, k in i > 0 && keys[i - 1] == k ? nil : k }
        groups = keys.count
        guard let fraction = config.heldOut?.fraction else { return }
        var rng = Xoshiro256StarStar(seed: config.seed, purpose: "split")
        rng.shuffle(&keys)
        let count = Int((fraction * Double(keys.count)).rounded())
        heldOutGroups = count
        let held = Set(keys.prefix(count))
        for i in entries.indices where !entries[i].flags.contains(.duplicate) && held.contains(entries[i].group) {
            entries[i].flags.insert(.heldOut)
            sourceStats[Int(entries[i].source)].heldOut += 1
        }
    }
}

public struct Key128: Hashable, Sendable {
    var a: UInt64
    var b: UInt64
}

/// One record of the pool (48 bytes): where it is, what it is, and its keys.
public struct PoolEntry: Sendable {
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let sft = Flags(rawValue: 1)
        public static let dpo = Flags(rawValue: 2)
        public static let duplicate = Flags(rawValue: 4)
        public static let heldOut = Flags(rawValue: 8)
    }

    public var source: Int32
    public var span: Int32
    public var characters: Int32
    public var flags: Flags
    /// Canonical language code, up to 8 ASCII bytes packed little-endian.
    public var language: UInt64
    public var group: UInt64
    var exactKey: Key128
    var normalizedKey: Key128

    init(record: Record, source: Int, span: Int, language: UInt64, namespace: String) {
        self.source = Int32(source)
        self.span = Int32(span)
        self.language = language
        var chars = 0
        for m in record.prompt + (record.sftResponse ?? []) {
            chars += m.content.utf8.reduce(0) { $0 + ($1 & 0xC0 != 0x80 ? 1 : 0) }
        }
        characters = Int32(clamping: chars)
        var f: Flags = []
        if record.sftResponse != nil { f.insert(.sft) }
        if record.isPreferencePair { f.insert(.dpo) }
        flags = f
        var exactText = ""
        var normText = ""
        for m in record.prompt {
            exactText += m.role + "\u{1}" + m.content + "\u{2}"
            normText += m.role + "\u{1}" + Normalize.prompt(m.content) + "\u{2}"
        }
        exactKey = Key128(a: Hash64.of(exactText, seed: 1), b: Hash64.of(exactText, seed: 2))
        normalizedKey = Key128(a: Hash64.of(normText, seed: 1), b: Hash64.of(normText, seed: 2))
        // Translations of one source prompt share its source id; without one, a record is its own
        // group, keyed by its normalised prompt (so duplicates that survive dedup stay together).
        group = record.sourceID.map { Hash64.of(namespace + "\u{0}" + $0, seed: 3) } ?? normalizedKey.a
    }

    static func pack(_ code: String) -> UInt64? {
        let u = Array(code.utf8)
        guard u.count <= 8 else { return nil }
        var v: UInt64 = 0
        for (i, b) in u.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    static func unpack(_ v: UInt64) -> String {
        var bytes: [UInt8] = []
        var x = v
        while x != 0 { bytes.append(UInt8(x & 0xFF)); x >>= 8 }
        return String(decoding: bytes, as: UTF8.self)
    }

    public var languageCode: String { Self.unpack(language) }
}

/// The prompt normalisation behind "normalised duplicates": Unicode compatibility forms (NFKC),
/// case, runs of whitespace, and whitespace or punctuation at either end.
public enum Normalize {
    public static func prompt(_ s: String) -> String {
        var s = s
        if let ascii = s.withUTF8({ asciiPrompt($0) }) { return ascii }
        let text = s.precomposedStringWithCompatibilityMapping.lowercased()
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        for ch in text {
            if ch.isWhitespace { pendingSpace = !out.isEmpty; continue }
            if pendingSpace { out.append(" "); pendingSpace = false }
            out.append(ch)
        }
        while let last = out.last, last.isPunctuation || last.isSymbol || last.isWhitespace { out.removeLast() }
        while let first = out.first, first.isPunctuation || first.isSymbol || first.isWhitespace { out.removeFirst() }
        return out
    }

    /// The same for ASCII text, on bytes; nil when the text is not ASCII.
    static func asciiPrompt(_ u: UnsafeBufferPointer<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(u.count)
        var pendingSpace = false
        for c in u {
            guard c < 0x80 else { return nil }
            if c == 0x20 || (c >= 0x09 && c <= 0x0D) { pendingSpace = !out.isEmpty; continue }
            if pendingSpace { out.append(0x20); pendingSpace = false }
            out.append(c >= 0x41 && c <= 0x5A ? c | 0x20 : c)
        }
        func isPunct(_ c: UInt8) -> Bool {
            (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E)
        }
        var a = 0, b = out.count
        while b > a, isPunct(out[b - 1]) || out[b - 1] == 0x20 { b -= 1 }
        while a < b, isPunct(out[a]) || out[a] == 0x20 { a += 1 }
        return String(decoding: out[a..<b], as: UTF8.self)
    }
}
