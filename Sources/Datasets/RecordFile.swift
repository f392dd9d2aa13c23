import CSV
import Checkpoints
import Foundation
import Parquet

/// Where one record sits in its file: its bytes and the line (JSONL, JSON) or row (CSV) it starts on.
public struct RecordSpan: Sendable {
    public var start: Int
    public var length: Int32
    public var line: Int32
}

/// A data file opened for reading records: JSONL, a JSON list of objects, CSV with a header row, or
/// Parquet — or several of them (a folder of shards, a glob, a hub split: `init(source:split:)`).
/// JSONL and JSON files are mapped (never copied); a CSV file is converted to JSON lines in memory as it
/// is read (CSV sources are small in practice); Parquet files and multi-file sources are converted, a
/// row group at a time, into one temporary JSON-lines file that is mapped like any other (and unlinked at
/// once: only the mapping keeps it). Every record's location is kept so that a record can be read again
/// by index and errors can name `file:line` (or `file:row`).
public final class RecordFile: @unchecked Sendable {
    // @unchecked: immutable after init; the bytes are a read-only mapping or a buffer owned here.
    public enum Kind: String, Sendable { case jsonl, json, csv, parquet, combined }

    /// Where a range of records came from (several for a multi-file source).
    public struct Origin: Sendable {
        /// The file, as errors name it.
        public var name: String
        /// The first record index from this file.
        public var firstRecord: Int
        /// "line" or "row".
        public var word: String
    }

    public let path: String
    /// How errors and metadata name the file (the path as the user wrote it).
    public let displayName: String
    public let kind: Kind
    public let bytes: JSONBytes
    public let spans: [RecordSpan]
    private let mapped: MappedFile?
    private let buffer: UnsafeMutableBufferPointer<UInt8>?
    /// The files read, in order (one, or the shards of a multi-file source).
    public let sourceFiles: [String]
    /// Where each range of records came from (one entry per source file).
    public let origins: [Origin]
    /// Whether the text is known to be UTF-8 (a conversion from Parquet or CSV): parsing skips the check.
    public let textIsTrusted: Bool

    /// What `line` counts: "line" for JSON text, "row" for CSV and Parquet records.
    public var locationWord: String { kind == .csv || kind == .parquet ? "row" : "line" }

    /// Whether the bytes are a conversion (CSV, Parquet, several files), not the source file itself.
    public var isConverted: Bool { kind == .csv || kind == .parquet || kind == .combined }

    /// Opens a data source: a file, a folder of data files, or a glob pattern, optionally only the files
    /// of one hub split (`DataFiles.resolve`). One JSONL/JSON/CSV file is read as `init(path:)` reads it.
    ///
    /// `columns`, when given, names the only top-level fields a reader will look at (for example
    /// `RecordReader.keysRead`): Parquet columns outside it are never decoded. Text formats keep every field.
    public convenience init(
        source path: String, split: String? = nil, displayName: String? = nil, columns: Set<String>? = nil
    ) throws(RecordFileError) {
        let files = try DataFiles.resolve(path, split: split)
        if files.count == 1, !files[0].lowercased().hasSuffix(".parquet") {
            try self.init(path: files[0], displayName: files[0] == path ? displayName : nil)
        } else {
            try self.init(combining: files, displayName: displayName ?? path, columns: columns)
        }
    }

    public init(path: String, displayName: String? = nil) throws(RecordFileError) {
        self.path = path
        self.displayName = displayName ?? path
        sourceFiles = [path]
        origins = [Origin(name: displayName ?? path, firstRecord: 0, word: path.lowercased().hasSuffix(".csv") || path.lowercased().hasSuffix(".tsv") ? "row" : "line")]
        let lower = path.lowercased()
        textIsTrusted = lower.hasSuffix(".csv") || lower.hasSuffix(".tsv")  // written from decoded strings
        if lower.hasSuffix(".parquet") {
            throw RecordFileError(path, "Parquet files are opened with RecordFile(source:)")
        }
        if lower.hasSuffix(".arrow") {
            throw RecordFileError(path, "Arrow IPC files are not read; the hub serves the same data as Parquet (data/*.parquet)")
        }
        if lower.hasSuffix(".gz") || lower.hasSuffix(".zst") || lower.hasSuffix(".bz2") || lower.hasSuffix(".xz") {
            throw RecordFileError(path, "compressed files are not read; decompress it first")
        }
        if lower.hasSuffix(".csv") || lower.hasSuffix(".tsv") {
            kind = .csv
            mapped = nil
            let (buf, spans) = try Self.convertCSV(path, delimiter: lower.hasSuffix(".tsv") ? "\t" : ",")
            buffer = buf
            bytes = JSONBytes(base: UnsafePointer(buf.baseAddress!), count: buf.count)
            self.spans = spans
            return
        }
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch let e as CheckpointError {
            throw RecordFileError(path, e.code == .notFound ? "no such file" : e.message)
        } catch {
            throw RecordFileError(path, "\(error)")
        }
        mapped = file
        buffer = nil
        bytes = JSONBytes(base: file.bytes.assumingMemoryBound(to: UInt8.self), count: file.size)
        var start = 0
        if file.size >= 3 && bytes.base[0] == 0xEF && bytes.base[1] == 0xBB && bytes.base[2] == 0xBF { start = 3 }
        var first = start
        while first < file.size, [0x20, 0x0A, 0x0D, 0x09].contains(bytes.base[first]) { first += 1 }
        if first < file.size && bytes.base[first] == UInt8(ascii: "[") {
            kind = .json
            spans = try Self.arraySpans(bytes, start..<file.size, path: path)
        } else {
            kind = .jsonl
            spans = try Self.lineSpans(bytes, start..<file.size, path: path, release: { file.release($0) })
        }
        file.release(0..<file.size)  // the scan touched every page; keep the resident set small
    }

    /// Converts `files` (Parquet, JSONL, JSON, CSV) into one temporary JSON-lines file, mapped and unlinked.
    /// A Parquet file's row groups are decoded in parallel (one worker per core, each taking the next
    /// group), and each group's text is written where it lands in the file; the spans keep the row order.
    init(combining files: [String], displayName: String, columns: Set<String>? = nil) throws(RecordFileError) {
        path = files.count == 1 ? files[0] : displayName
        self.displayName = displayName
        sourceFiles = files
        kind = files.allSatisfy { $0.lowercased().hasSuffix(".parquet") } && files.count == 1 ? .parquet : .combined
        buffer = nil
        let temporary = (NSTemporaryDirectory() as NSString).appendingPathComponent("mixmerge-data-\(getpid())-\(UUID().uuidString).jsonl")
        let fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard fd >= 0 else { throw RecordFileError(temporary, "cannot create a temporary file: \(String(cString: strerror(errno)))") }
        var spans: [RecordSpan] = []
        var origins: [Origin] = []
        var out: [UInt8] = []
        out.reserveCapacity(2 << 20)
        var written = 0
        var trusted = true
        func flush() throws(RecordFileError) {
            try Self.write(fd, out, at: written, temporary: temporary)
            written += out.count
            out.removeAll(keepingCapacity: true)
        }
        func append(_ line: Int32, _ body: (inout [UInt8]) throws(RecordFileError) -> Void) throws(RecordFileError) {
            let start = written + out.count
            try body(&out)
            guard written + out.count - start < Int(Int32.max) else { throw RecordFileError(displayName, "a record larger than 2 GiB") }
            spans.append(RecordSpan(start: start, length: Int32(written + out.count - start), line: line))
            out.append(0x0A)
            if out.count >= 1 << 20 { try flush() }
        }
        do throws(RecordFileError) {
            for file in files {
                if file.lowercased().hasSuffix(".parquet") {
                    try flush()
                    origins.append(Origin(name: file, firstRecord: spans.count, word: "row"))
                    let parquet: ParquetFile
                    do { parquet = try ParquetFile(path: file) } catch { throw RecordFileError(file, "\(error)") }
                    let fields = columns.map { c in parquet.fieldNames.filter { c.contains($0) } }
                    let groups = try Self.convert(parquet, fields: fields, fd: fd, at: &written, temporary: temporary)
                    var row: Int32 = 0
                    for group in groups {
                        var at = group.start
                        for length in group.lengths {
                            row += 1
                            guard length < Int(Int32.max) else { throw RecordFileError("\(file):\(row)", "a record larger than 2 GiB") }
                            spans.append(RecordSpan(start: at, length: Int32(length), line: row))
                            at += length + 1
                        }
                    }
                } else {
                    let part = try RecordFile(path: file)
                    trusted = trusted && part.textIsTrusted
                    origins.append(Origin(name: file, firstRecord: spans.count, word: part.locationWord))
                    var scratch: [UInt8] = []
                    for i in part.spans.indices {
                        let bytes: [UInt8]
                        do { bytes = try part.withRecordBytes(i, buffer: &scratch) { Array($0) } } catch {
                            throw RecordFileError(part.location(i), "\(error)")
                        }
                        try append(part.spans[i].line) { (o: inout [UInt8]) throws(RecordFileError) in o += bytes }
                    }
                }
            }
            try flush()
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        let file: MappedFile
        do { file = try MappedFile(path: temporary) } catch {
            unlink(temporary)
            throw RecordFileError(temporary, "cannot map the converted data: \(error)")
        }
        unlink(temporary)  // the mapping and its descriptor keep the data until this file is released
        mapped = file
        bytes = JSONBytes(base: file.bytes.assumingMemoryBound(to: UInt8.self), count: file.size)
        self.spans = spans
        self.origins = origins
        textIsTrusted = trusted
        file.release(0..<file.size)
    }

    /// Writes all of `bytes` at `offset` of `fd`.
    private static func write(_ fd: Int32, _ bytes: [UInt8], at offset: Int, temporary: String) throws(RecordFileError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
            guard n > 0 else { throw RecordFileError(temporary, "cannot write the converted data: \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    /// Where one converted row group's text was written, and each record's length (without its newline).
    private struct ConvertedGroup: Sendable {
        var start = 0
        var lengths: [Int] = []
    }

    /// Decodes every row group of `file` (only `fields` when given) into JSON lines, written to `fd` from
    /// `offset` on: each worker takes the next group, converts it and writes it at the next free offset,
    /// so the groups land in the order they finish. Returns the groups in row order; the first error (in
    /// row order) is thrown once every worker has stopped.
    private static func convert(
        _ file: ParquetFile, fields: [String]?, fd: Int32, at offset: inout Int, temporary: String
    ) throws(RecordFileError) -> [ConvertedGroup] {
        final class Shared: @unchecked Sendable {
            // @unchecked: every field is read and written under `lock`.
            let lock = NSLock()
            var next = 0
            var offset: Int
            var failed = false
            var groups: [ConvertedGroup]
            var errors: [Int: RecordFileError] = [:]
            init(offset: Int, count: Int) {
                self.offset = offset
                groups = Array(repeating: ConvertedGroup(), count: count)
            }
        }
        let count = file.rowGroups.count
        let shared = Shared(offset: offset, count: count)
        let workers = max(1, min(count, ProcessInfo.processInfo.activeProcessorCount))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            var bytes: [UInt8] = []
            while true {
                shared.lock.lock()
                let g = shared.next
                shared.next += 1
                let stop = shared.failed || g >= count
                shared.lock.unlock()
                if stop { return }
                var group = ConvertedGroup()
                bytes.removeAll(keepingCapacity: true)
                do {
                    try file.appendJSON(rowGroup: g, columns: fields, into: &bytes, lengths: &group.lengths, newlines: true)
                    shared.lock.lock()
                    group.start = shared.offset
                    shared.offset += bytes.count
                    shared.lock.unlock()
                    try Self.write(fd, bytes, at: group.start, temporary: temporary)
                    shared.lock.lock()
                    shared.groups[g] = group
                    shared.lock.unlock()
                } catch {
                    let failure = (error as? ParquetError).map { RecordFileError($0.path, $0.message) }
                        ?? RecordFileError(file.path, "\(error)")
                    shared.lock.lock()
                    shared.failed = true
                    shared.errors[g] = failure
                    shared.lock.unlock()
                }
            }
        }
        if let first = shared.errors.keys.min(), let error = shared.errors[first] { throw error }
        offset = shared.offset
        return shared.groups
    }

    deinit { buffer?.deallocate() }

    /// Drops this file's mapped pages from the process's resident set (the page cache keeps them).
    public func releasePages(_ range: Range<Int>? = nil) {
        mapped?.release(range ?? 0..<bytes.count)
    }

    /// Calls `body` with record `index`'s bytes. A mapped file's record is copied into `buffer`
    /// with `pread`, so that visiting records in any order never faults the mapping in (the
    /// resident set stays bounded); a CSV file's converted text is passed as it is.
    public func withRecordBytes<T>(
        _ index: Int, buffer: inout [UInt8], _ body: (UnsafeBufferPointer<UInt8>) throws -> T
    ) throws -> T {
        let s = spans[index]
        let n = Int(s.length)
        guard let mapped else { return try body(UnsafeBufferPointer(start: bytes.base + s.start, count: n)) }
        if buffer.count < n { buffer = [UInt8](repeating: 0, count: max(n, 2 * buffer.count)) }
        let ok = buffer.withUnsafeMutableBytes { mapped.read(into: $0.baseAddress!, count: n, at: s.start) }
        guard ok else { throw RecordFileError(location(index), "cannot read the record again (was the file changed during the run?)") }
        return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[0..<n])) }
    }

    /// Parses and reads record `index` (errors carry `file:line`).
    public func record(_ index: Int, _ reader: RecordReader) throws -> Record {
        var tape = JSONTape()
        try parse(index, into: &tape)
        do { return try reader.read(tape) } catch { throw RecordFileError(location(index), error.message) }
    }

    public func location(_ index: Int) -> String { "\(origin(index).name):\(spans[index].line)" }

    /// The source file record `index` came from.
    public func origin(_ index: Int) -> Origin {
        var lo = 0, hi = origins.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if origins[mid].firstRecord <= index { lo = mid } else { hi = mid - 1 }
        }
        return origins[max(0, lo)]
    }

    /// Parses record `index` onto `tape` (tokens pointing into the file's bytes).
    public func parse(_ index: Int, into tape: inout JSONTape) throws(RecordFileError) {
        let s = spans[index]
        do { try tape.parse(bytes, s.start..<(s.start + Int(s.length)), trustedUTF8: textIsTrusted) } catch {
            throw RecordFileError(location(index), "malformed JSON: \(error.message) (byte \(error.offset + 1) of the \(origin(index).word))")
        }
    }

    static func lineSpans(
        _ bytes: JSONBytes, _ range: Range<Int>, path: String, release: (Range<Int>) -> Void = { _ in }
    ) throws(RecordFileError) -> [RecordSpan] {
        var spans: [RecordSpan] = []
        var line: Int32 = 1
        var i = range.lowerBound
        let end = range.upperBound
        var released = range.lowerBound
        while i < end {
            if i - released >= 32 << 20 {
                release(released..<i)
                released = i
            }
            let remaining = end - i
            let nl = memchr(bytes.base + i, 0x0A, remaining).map { UnsafeRawPointer($0) - UnsafeRawPointer(bytes.base) } ?? end
            var a = i, b = nl
            while a < b, [0x20, 0x0D, 0x09].contains(bytes.base[a]) { a += 1 }
            while b > a, [0x20, 0x0D, 0x09].contains(bytes.base[b - 1]) { b -= 1 }
            if b > a {
                guard b - a < Int(Int32.max) else { throw RecordFileError("\(path):\(line)", "line longer than 2 GiB") }
                spans.append(RecordSpan(start: a, length: Int32(b - a), line: line))
            }
            line += 1
            i = nl + 1
        }
        return spans
    }

    static func arraySpans(_ bytes: JSONBytes, _ range: Range<Int>, path: String) throws(RecordFileError) -> [RecordSpan] {
        var spans: [RecordSpan] = []
        var line: Int32 = 1
        var counted = range.lowerBound
        func lineAt(_ offset: Int) -> Int32 {
            while counted < offset {
                if bytes.base[counted] == 0x0A { line += 1 }
                counted += 1
            }
            return line
        }
        do {
            try JSONTape.forEachArrayElement(bytes, range) { r in
                spans.append(RecordSpan(start: r.lowerBound, length: Int32(r.count), line: lineAt(r.lowerBound)))
            }
        } catch let e as JSONSyntaxError {
            throw RecordFileError("\(path):\(lineAt(e.offset))", "malformed JSON: \(e.message)")
        } catch {
            throw RecordFileError(path, "\(error)")
        }
        return spans
    }

    /// Reads a CSV file with a header row into JSON lines (every cell a string), one per row.
    static func convertCSV(_ path: String, delimiter: UnicodeScalar) throws(RecordFileError)
        -> (UnsafeMutableBufferPointer<UInt8>, [RecordSpan]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecordFileError(path, FileManager.default.fileExists(atPath: path) ? "cannot read" : "no such file")
        }
        guard var text = String(data: data, encoding: .utf8) else { throw RecordFileError(path, "not UTF-8 text") }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        let reader: CSVReader
        do { reader = try CSVReader(string: text, hasHeaderRow: true, delimiter: delimiter) } catch {
            throw RecordFileError(path, "not a readable CSV file (\(error))")
        }
        guard let header = reader.headerRow, !header.isEmpty else { throw RecordFileError(path, "CSV file has no header row") }
        var writer = JSONWriter()
        var spans: [RecordSpan] = []
        var row: Int32 = 1
        while let cells = reader.next() {
            row += 1
            guard cells.count == header.count else {
                throw RecordFileError("\(path):\(row)", "CSV row has \(cells.count) cells, the header has \(header.count)")
            }
            let start = writer.bytes.count
            writer.beginObject()
            for (k, v) in zip(header, cells) { writer.key(k); writer.string(v) }
            writer.endObject()
            spans.append(RecordSpan(start: start, length: Int32(writer.bytes.count - start), line: row))
            writer.newline()
        }
        if let error = reader.error { throw RecordFileError("\(path):\(row + 1)", "malformed CSV (\(error))") }
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(writer.bytes.count, 1))
        _ = buffer.initialize(from: writer.bytes)
        return (buffer, spans)
    }
}

/// A data file that cannot be read; `place` is the file, or `file:line` for a record.
public struct RecordFileError: Error, Sendable, CustomStringConvertible {
    public let place: String
    public let message: String
    public init(_ place: String, _ message: String) {
        self.place = place
        self.message = message
    }
    public var description: String { "\(place): \(message)" }
}
