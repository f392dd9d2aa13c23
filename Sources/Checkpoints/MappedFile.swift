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

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw CheckpointError(e == ENOENT ? .notFound : .unreadable, path: path, "cannot open (\(String(cString: strerror(e))))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError(.unreadable, path: path, "cannot stat") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError(.unreadable, path: path, "not a regular file") }
        size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16))
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CheckpointError(.unreadable, path: path, "cannot map (\(String(cString: strerror(errno))))")
        }
        _ = madvise(p, size, MADV_SEQUENTIAL)
        bytes = UnsafeRawPointer(p)
    }

    /// Drops the whole pages inside `range` (byte offsets) from this process's resident set.
    public func release(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > start, size > 0 else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: bytes + start), end - start, MADV_DONTNEED)
    }

    deinit {
        if size == 0 {
            UnsafeMutableRawPointer(mutating: bytes).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: bytes), size)
        }
    }
}
