#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory (zero copy). Pages are faulted in on access; call
/// `release(_:)` after a range has been consumed so that the process's resident set stays bounded
/// by the work in flight rather than by the size of the checkpoint (the page cache keeps the data).
public final class MappedFile: @unchecked Sendable {
    // Sendable: the mapping is read-only and immutable for the object's life; `release` only
    // drops pages from this process, which later reads fault back in from the page cache.
    public let path: String
    public let size: Int
    public let bytes: UnsafeRawPointer
    /// An open descriptor on the file, for `read(into:count:at:)`.
    public let descriptor: Int32

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw CheckpointError(e == ENOENT ? .notFound : .unreadable, path: path, "cannot open (\(String(cString: strerror(e))))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { close(fd); throw CheckpointError(.unreadable, path: path, "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { close(fd); throw CheckpointError(.unreadable, path: path, "not a regular file") }
        descriptor = fd
        size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16))
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            close(fd)
            throw CheckpointError(.unreadable, path: path, "cannot map (\(String(cString: strerror(errno))))")
        }
        _ = madvise(p, size, MADV_SEQUENTIAL)
        bytes = UnsafeRawPointer(p)
    }

    /// Bytes held in memory as if they were a mapped file (a tensor computed on the fly): takes
    /// ownership of `memory` (allocated with `UnsafeMutableRawBufferPointer.allocate`).
    /// `release` keeps them; `read` copies from them.
    public init(memory: UnsafeMutableRawBufferPointer, name: String) {
        path = name
        size = memory.count
        descriptor = -1
        bytes = UnsafeRawPointer(memory.baseAddress ?? UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16))
    }

    /// Drops the whole pages inside `range` (byte offsets) from this process's resident set.
    public func release(_ range: Range<Int>) {
        guard descriptor >= 0 else { return }  // memory, not a mapping: dropping pages would lose it
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > start, size > 0 else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: bytes + start), end - start, MADV_DONTNEED)
    }

    /// Copies `count` bytes at file offset `offset` into `destination` with `pread` (no page
    /// faults, nothing added to the resident set). Returns false on a read error or short file.
    public func read(into destination: UnsafeMutableRawPointer, count: Int, at offset: Int) -> Bool {
        if descriptor < 0 {
            guard offset >= 0, count >= 0, offset + count <= size else { return false }
            destination.copyMemory(from: bytes + offset, byteCount: count)
            return true
        }
        var done = 0
        while done < count {
            let r = pread(descriptor, destination + done, count - done, off_t(offset + done))
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return false }
            done += r
        }
        return true
    }

    deinit {
        if descriptor < 0 {
            UnsafeMutableRawPointer(mutating: bytes).deallocate()
            return
        }
        close(descriptor)
        if size == 0 {
            UnsafeMutableRawPointer(mutating: bytes).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: bytes), size)
        }
    }
}
