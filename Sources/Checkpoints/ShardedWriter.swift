import Foundation
import Tensors

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One tensor the writer will receive.
public struct PlannedTensor: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
    public var byteCount: Int { shape.reduce(1, *) * dtype.size }
}

/// Writes safetensors shards whose layout is fixed before the first byte of data arrives, so
/// tensors (or parts of tensors) can be written in any order, from any thread, straight to their
/// final offsets with `pwrite` — no tensor is ever held whole in memory.
///
/// Sharding follows mergekit: tensors are assigned in write order; a new shard starts when the
/// current one is non-empty and the next tensor would take it past `maxShardSize` bytes; a single
/// shard is `model.safetensors` with no index, several are `model-0000i-of-0000N.safetensors` plus
/// `model.safetensors.index.json` (`weight_map` in write order). Inside a shard the header is the
/// safetensors library's: `{"format":"pt"}` metadata, tensors by descending dtype then name, padded
/// with spaces to a multiple of 8 bytes — so transformers, vLLM and `safe_open` load it unchanged.
public final class ShardedWriter: @unchecked Sendable {
    // Sendable: after init only `write` (pwrite on fixed descriptors, disjoint ranges) and
    // `finish` (called once by the owner) touch the state.
    public struct Slot: Sendable {
        public let shard: Int
        public let offset: Int  // absolute file offset of the tensor's first byte
        public let byteCount: Int
    }

    public let directory: URL
    public let shardNames: [String]
    public let tensors: [PlannedTensor]
    private let slots: [String: Slot]
    private var descriptors: [Int32]
    private let writeLock = NSLock()
    private let indexMetadata: [(String, JSONValue)]

    /// Lays out the shards and creates the files (headers written, data areas sized).
    public init(
        directory: URL, tensors: [PlannedTensor], maxShardSize: Int64,
        indexMetadata: [(String, JSONValue)] = []
    ) throws {
        self.directory = directory
        self.tensors = tensors
        self.indexMetadata = indexMetadata
        var groups: [[PlannedTensor]] = [[]]
        var current: Int64 = 0
        for t in tensors {
            let s = Int64(t.byteCount)
            if maxShardSize > 0, !groups[groups.count - 1].isEmpty, current + s > maxShardSize {
                groups.append([])
                current = 0
            }
            groups[groups.count - 1].append(t)
            current += s
        }
        let n = groups.count
        shardNames = n == 1
            ? ["model.safetensors"]
            : (1...n).map { String(format: "model-%05d-of-%05d.safetensors", $0, n) }
        var slots: [String: Slot] = [:]
        var descriptors: [Int32] = []
        for (shard, group) in groups.enumerated() {
            let ordered = group.sorted {
                ($0.dtype.safetensorsOrder, $1.name) > ($1.dtype.safetensorsOrder, $0.name)
            }
            var members: [(String, JSONValue)] = [("__metadata__", .object([("format", .string("pt"))]))]
            var offset = 0
            for t in ordered {
                members.append((t.name, .object([
                    ("dtype", .string(t.dtype.rawValue)),
                    ("shape", .array(t.shape.map { .int($0) })),
                    ("data_offsets", .array([.int(offset), .int(offset + t.byteCount)])),
                ])))
                offset += t.byteCount
            }
            var header = Array(JSONValue.object(members).serialized(indent: nil).utf8)
            while header.count % 8 != 0 { header.append(0x20) }
            let dataStart = 8 + header.count
            var position = dataStart
            for t in ordered {
                slots[t.name] = Slot(shard: shard, offset: position, byteCount: t.byteCount)
                position += t.byteCount
            }
            let path = directory.appendingPathComponent(shardNames[shard]).path
            let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                for d in descriptors { close(d) }
                throw CheckpointError(.writeFailed, path: path, "cannot create (\(String(cString: strerror(errno))))")
            }
            descriptors.append(fd)
            var prefix = [UInt8](repeating: 0, count: 8)
            let length = UInt64(header.count)
            for i in 0..<8 { prefix[i] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(i))) }
            prefix += header
            do {
                try Self.writeAll(fd, prefix, at: 0, path: path)
            } catch {
                for d in descriptors { close(d) }
                throw error
            }
            guard ftruncate(fd, off_t(position)) == 0 else {
                for d in descriptors { close(d) }
                throw CheckpointError(.writeFailed, path: path, "cannot size to \(position) bytes (\(String(cString: strerror(errno))))")
            }
        }
        self.slots = slots
        self.descriptors = descriptors
    }

    public func slot(_ name: String) -> Slot? { slots[name] }

    /// Writes `count` bytes at `byteOffset` inside tensor `name`. Safe to call concurrently for
    /// disjoint ranges.
    public func write(_ name: String, byteOffset: Int, bytes: UnsafeRawPointer, count: Int) throws {
        guard let slot = slots[name] else { preconditionFailure("tensor \(name) was not planned") }
        precondition(byteOffset >= 0 && byteOffset + count <= slot.byteCount, "write outside tensor \(name)")
        let fd = descriptors[slot.shard]
        // One writer at a time: concurrent pwrites to one file serialise on its inode lock anyway,
        // and the kernel spins the waiter on a CPU (measured: a third of a 2-thread merge's kernel
        // time); a waiter here sleeps instead and leaves the core to the other worker.
        writeLock.lock()
        defer { writeLock.unlock() }
        var done = 0
        while done < count {
            let r = pwrite(fd, bytes + done, count - done, off_t(slot.offset + byteOffset + done))
            if r < 0 {
                if errno == EINTR { continue }
                throw CheckpointError(.writeFailed, path: directory.appendingPathComponent(shardNames[slot.shard]).path,
                    "write failed (\(String(cString: strerror(errno))))")
            }
            done += r
        }
    }

    /// Closes the shards and, for more than one, writes `model.safetensors.index.json`.
    public func finish() throws {
        for (i, fd) in descriptors.enumerated() {
            if close(fd) != 0 {
                throw CheckpointError(.writeFailed, path: directory.appendingPathComponent(shardNames[i]).path, "close failed")
            }
        }
        descriptors = []
        guard shardNames.count > 1 else { return }
        let total = tensors.reduce(0) { $0 + $1.byteCount }
        let index = JSONValue.object([
            ("metadata", .object([("total_size", .int(total))] + indexMetadata)),
            ("weight_map", .object(tensors.map { ($0.name, .string(shardNames[slots[$0.name]!.shard])) })),
        ])
        let url = directory.appendingPathComponent("model.safetensors.index.json")
        do {
            try Data((index.serialized(indent: 2) + "\n").utf8).write(to: url)
        } catch {
            throw CheckpointError(.writeFailed, path: url.path, "cannot write")
        }
    }

    deinit { for fd in descriptors { close(fd) } }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let r = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if r < 0 {
                if errno == EINTR { continue }
                throw CheckpointError(.writeFailed, path: path, "write failed (\(String(cString: strerror(errno))))")
            }
            done += r
        }
    }
}

/// Parses a shard size as mergekit's `--out-shard-size` does: a number with an optional decimal
/// suffix K, M, B (10³, 10⁶, 10⁹), also KB/MB/GB/TB and binary KiB/MiB/GiB; `0` or less = no limit.
public func parseByteSize(_ text: String) -> Int64? {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [(String, Double)] = [
        ("KIB", 1024), ("MIB", 1_048_576), ("GIB", 1_073_741_824), ("TIB", 1_099_511_627_776),
        ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("K", 1e3), ("M", 1e6), ("B", 1e9), ("G", 1e9), ("T", 1e12),
    ]
    for (suffix, factor) in units where t.hasSuffix(suffix) {
        guard let v = Double(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v.isFinite else { return nil }
        return Int64(v * factor)
    }
    guard let v = Double(t), v.isFinite else { return nil }
    return Int64(v)
}
