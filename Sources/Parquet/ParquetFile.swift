#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of a Parquet file: a read-only memory map, or a copy for in-memory data.
final class FileBytes: @unchecked Sendable {
    // Immutable after init; the memory is only read.
    let bytes: UnsafeRawBufferPointer
    private let mapped: Bool

    init(path: String) throws(ParquetError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw ParquetError(.unreadable, path: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ParquetError(.unreadable, path: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ParquetError(.unreadable, path: path, "not a regular file")
        }
        let size = Int(info.st_size)
        guard size >= 12 else {
            throw ParquetError(.corrupt, path: path, "\(size) bytes is too small to be a Parquet file (truncated?)")
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw ParquetError(.unreadable, path: path, "cannot map: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
        mapped = true
    }

    /// Drops the mapped pages of `range` from the resident set (the page cache keeps them; a later
    /// read faults them back in).
    func release(_ range: Range<Int>) {
        guard mapped, let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = max(0, range.lowerBound) / page * page
        let end = min(bytes.count, range.upperBound)
        guard start < end else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    init(copying data: [UInt8]) {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 16)
        memory.copyBytes(from: data)
        bytes = UnsafeRawBufferPointer(start: memory.baseAddress, count: data.count)
        mapped = false
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        } else {
            bytes.baseAddress.map { UnsafeMutableRawPointer(mutating: $0).deallocate() }
        }
    }
}

/// A Parquet file, memory-mapped: its schema and row groups, and its rows decoded one row group
/// at a time, only the columns asked for.
///
/// ```swift
/// let file = try ParquetFile(path: "train.parquet")
/// var rows = try file.rows(columns: ["prompt", "chosen"])
/// while let record = try rows.next() { print(record.jsonText()) }
/// ```
public struct ParquetFile: Sendable {
    /// The file's path (or the name given for in-memory data), as errors name it.
    public let path: String
    /// The schema root; its children are the records' top-level fields.
    public let schema: ParquetSchemaNode
    public let numRows: Int
    public let rowGroups: [RowGroup]
    public let createdBy: String?
    public let limits: ParquetLimits

    let storage: FileBytes
    let leaves: [LeafColumn]
    /// Per top-level field, the first of its leaf columns.
    let firstLeaf: [Int]

    /// Maps and validates the file at `path` (the footer and schema; pages are read later).
    public init(path: String, limits: ParquetLimits = ParquetLimits()) throws {
        try self.init(storage: FileBytes(path: path), path: path, limits: limits)
    }

    /// Reads Parquet bytes held in memory; `name` stands for the file in errors.
    public init(bytes: [UInt8], name: String, limits: ParquetLimits = ParquetLimits()) throws {
        try self.init(storage: FileBytes(copying: bytes), path: name, limits: limits)
    }

    private init(storage: FileBytes, path: String, limits: ParquetLimits) throws(ParquetError) {
        self.storage = storage
        self.path = path
        self.limits = limits
        let b = storage.bytes
        let size = b.count
        func fail(_ message: String, _ code: ParquetError.Code = .corrupt) -> ParquetError {
            ParquetError(code, path: path, message)
        }
        guard size >= 12 else { throw fail("\(size) bytes is too small to be a Parquet file (truncated?)") }
        let magic: [UInt8] = Array("PAR1".utf8)
        let tail = Array(b[(size - 4)...])
        if tail == Array("PARE".utf8) {
            throw fail("the file's footer is encrypted, which is not supported", .unsupported)
        }
        guard tail == magic else {
            throw fail("does not end with the Parquet magic PAR1 (not Parquet, or truncated)")
        }
        guard Array(b[0..<4]) == magic else { throw fail("does not start with the Parquet magic PAR1") }
        let footerLength = Int(b.loadUnaligned(fromByteOffset: size - 8, as: UInt32.self).littleEndian)
        guard footerLength <= size - 12 else {
            throw fail("the footer claims \(footerLength) bytes but the file has only \(size) (truncated?)")
        }
        let footerStart = size - 8 - footerLength
        var thrift = ThriftReader(UnsafeRawBufferPointer(rebasing: b[footerStart..<(size - 8)]))
        let meta: FileMetaData
        do throws(DecodeError) {
            meta = try FileMetaData(thrift: &thrift)
            schema = try ParquetSchemaNode.tree(meta.schema)
        } catch {
            throw fail("bad footer metadata: \(error.message)", error.code)
        }
        guard meta.numRows >= 0 else { throw fail("the footer has a negative row count") }
        numRows = Int(meta.numRows)
        rowGroups = meta.rowGroups
        createdBy = meta.createdBy
        leaves = schema.leaves()
        var first: [Int] = []
        for (i, leaf) in leaves.enumerated() where first.count == leaf.topField { first.append(i) }
        firstLeaf = first
        var total: Int64 = 0
        for (g, group) in rowGroups.enumerated() {
            guard group.columns.count == leaves.count else {
                throw fail("row group \(g) has \(group.columns.count) columns, the schema \(leaves.count)")
            }
            for (c, chunk) in group.columns.enumerated() where !chunk.path.isEmpty && chunk.path != leaves[c].path {
                throw fail("row group \(g) column \(c) is \(chunk.path.joined(separator: ".")), "
                    + "the schema says \(leaves[c].dottedPath)")
            }
            guard group.numRows >= 0 else { throw fail("row group \(g) has a negative row count") }
            // Every row has at least one entry in every column.
            for (c, chunk) in group.columns.enumerated() where chunk.numValues < group.numRows {
                throw fail("row group \(g) column \(leaves[c].dottedPath) has \(chunk.numValues) values "
                    + "for \(group.numRows) rows")
            }
            total += group.numRows
        }
        guard total == meta.numRows else {
            throw fail("the row groups hold \(total) rows, the footer says \(meta.numRows)")
        }
    }

    /// The names of the top-level fields, in schema order.
    public var fieldNames: [String] { schema.children.map(\.name) }

    /// Decodes one row group's records, with only the named top-level fields (all when nil), in
    /// schema order.
    public func readRowGroup(_ index: Int, columns: [String]? = nil) throws -> [ParquetRecord] {
        let fields = try projection(columns)
        return try decode(rowGroup: index, fields: fields)
    }

    /// A reader of all records, a row group at a time.
    public func rows(columns: [String]? = nil) throws -> ParquetRowReader {
        ParquetRowReader(file: self, fields: try projection(columns))
    }

    /// Calls `body` with every record in order.
    public func forEachRecord(columns: [String]? = nil, _ body: (ParquetRecord) throws -> Void) throws {
        let fields = try projection(columns)
        for g in rowGroups.indices {
            for record in try decode(rowGroup: g, fields: fields) { try body(record) }
        }
    }

    /// Writes every record as one JSON object per line (see `ParquetRecord.jsonText()`) to `output`,
    /// through a temporary file renamed into place, so a failure leaves nothing half-written.
    public func writeJSONLines(to output: String, columns: [String]? = nil) throws {
        let fields = try projection(columns)
        let temporary = output + ".partial-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ParquetError(.unreadable, path: output, "cannot create: \(String(cString: strerror(errno)))")
        }
        var done = false
        defer {
            close(fd)
            if !done { unlink(temporary) }
        }
        var buffer: [UInt8] = []
        for g in rowGroups.indices {
            for record in try decode(rowGroup: g, fields: fields) {
                record.appendJSON(to: &buffer)
                buffer.append(0x0A)
            }
            try flush(&buffer, fd, output)
        }
        guard rename(temporary, output) == 0 else {
            let reason = String(cString: strerror(errno))
            throw ParquetError(.unreadable, path: output, "cannot rename into place: \(reason)")
        }
        done = true
    }

    private func flush(_ buffer: inout [UInt8], _ fd: Int32, _ output: String) throws {
        var failure: Int32 = 0
        buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += n
            }
        }
        guard failure == 0 else {
            throw ParquetError(.unreadable, path: output, "cannot write: \(String(cString: strerror(failure)))")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Top-level field indices for `columns`, in schema order.
    func projection(_ columns: [String]?) throws(ParquetError) -> [Int] {
        let names = fieldNames
        guard let columns else { return Array(names.indices) }
        for c in columns where !names.contains(c) {
            let known = names.joined(separator: ", ")
            throw ParquetError(.notFound, path: path, "no column named \(c) (the file has \(known))")
        }
        return names.indices.filter { columns.contains(names[$0]) }
    }

    /// Decodes row group `g`'s columns for `fields` into an assembler of its rows.
    private func assembler(rowGroup g: Int, fields: [Int]) throws(ParquetError) -> (Assembler, names: [String], rows: Int) {
        guard rowGroups.indices.contains(g) else {
            throw ParquetError(.notFound, path: path, "no row group \(g) (the file has \(rowGroups.count))")
        }
        let group = rowGroups[g]
        let reader = ColumnReader(file: storage.bytes, limits: limits)
        var plans: [AssemblyPlan] = []
        var columns: [[ColumnData]] = []
        var leafInfo: [[LeafColumn]] = []
        var names: [String] = []
        for f in fields {
            let plan = AssemblyPlan(field: schema.children[f], firstLeaf: firstLeaf[f])
            var data: [ColumnData] = []
            var info: [LeafColumn] = []
            for c in plan.leafColumns {
                do throws(DecodeError) {
                    let chunk = group.columns[c]
                    data.append(try reader.read(chunk, leaves[c]))
                    let start = Int(min(chunk.dictionaryPageOffset ?? chunk.dataPageOffset, chunk.dataPageOffset))
                    storage.release(start..<(start + Int(clamping: chunk.totalCompressedSize)))
                } catch {
                    throw ParquetError(error.code, path: path,
                                       "row group \(g), column \(leaves[c].dottedPath): \(error.message)")
                }
                info.append(leaves[c])
            }
            plans.append(plan)
            columns.append(data)
            leafInfo.append(info)
            names.append(schema.children[f].name)
        }
        return (Assembler(plans: plans, columns: columns, leaves: leafInfo), names, Int(group.numRows))
    }

    func decode(rowGroup g: Int, fields: [Int]) throws(ParquetError) -> [ParquetRecord] {
        var (assembler, names, rows) = try assembler(rowGroup: g, fields: fields)
        var records: [ParquetRecord] = []
        records.reserveCapacity(min(rows, 1 << 16))
        do throws(DecodeError) {
            for _ in 0..<rows { records.append(try assembler.nextRow(names: names)) }
            try assembler.finish()
        } catch {
            throw ParquetError(error.code, path: path, "row group \(g): \(error.message)")
        }
        return records
    }

    /// Appends row group `index`'s records to `out` as JSON text, back to back (each followed by a
    /// newline when `newlines`), and each record's length (without its newline) to `lengths`: the bytes
    /// `readRowGroup(index, columns:)` followed by `appendJSON(to:)` would give, written straight from
    /// the decoded columns. The text is valid UTF-8 (text columns are checked as they are decoded).
    public func appendJSON(
        rowGroup index: Int, columns: [String]? = nil, into out: inout [UInt8], lengths: inout [Int], newlines: Bool = false
    ) throws {
        let fields = try projection(columns)
        var (assembler, names, rows) = try assembler(rowGroup: index, fields: fields)
        let quoted = names.map { name -> [UInt8] in
            var q: [UInt8] = []
            ParquetValue.appendQuoted(name, to: &q)
            return q
        }
        lengths.reserveCapacity(lengths.count + rows)
        do throws(DecodeError) {
            for _ in 0..<rows {
                let start = out.count
                try assembler.writeRow(quotedNames: quoted, into: &out)
                lengths.append(out.count - start)
                if newlines { out.append(0x0A) }
            }
            try assembler.finish()
        } catch {
            throw ParquetError(error.code, path: path, "row group \(index): \(error.message)")
        }
    }
}

/// Reads a file's records in order, decoding one row group at a time.
public struct ParquetRowReader: Sendable {
    let file: ParquetFile
    let fields: [Int]
    private var group = 0
    private var buffered: [ParquetRecord] = []
    private var position = 0

    init(file: ParquetFile, fields: [Int]) {
        self.file = file
        self.fields = fields
    }

    /// The next record, or nil after the last.
    public mutating func next() throws -> ParquetRecord? {
        while position == buffered.count {
            guard group < file.rowGroups.count else { return nil }
            buffered = try file.decode(rowGroup: group, fields: fields)
            group += 1
            position = 0
        }
        position += 1
        return buffered[position - 1]
    }
}
