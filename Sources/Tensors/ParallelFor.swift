import Dispatch
import Synchronization

/// A parallel-for over `0..<count` with a fixed number of workers that pull indices from a shared
/// counter. Work items should be coarse (≥ 1 Mi elements of a kernel each); results that depend
/// on a reduction must be combined by the caller in index order so they do not depend on
/// `threads`.
public enum ParallelFor {
    /// Calls `body(i)` once for every `i` in `0..<count`, on up to `threads` threads.
    public static func run(count: Int, threads: Int, _ body: (Int) -> Void) {
        run(count: count, threads: threads) { i, _ in body(i) }
    }

    /// Like `run(count:threads:_:)`, also passing the worker number (`0..<threads`), so that each
    /// worker can reuse its own scratch buffers.
    public static func run(count: Int, threads: Int, _ body: (_ index: Int, _ worker: Int) -> Void) {
        guard count > 0 else { return }
        let workers = max(1, min(threads, count))
        if workers == 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= count { break }
                    box.value(i, worker)
                }
            }
        }
    }

    /// The number of threads to use when the user did not say: the active processor count.
    public static var defaultThreads: Int { max(1, ProcessInfoLite.activeProcessorCount) }
}

/// Carries a value (a closure, a pointer) into parallel workers. Sound only where the caller
/// guarantees that workers read it or write disjoint parts, and that the parallel call has returned
/// before the value is used otherwise — as with `ParallelFor.run`.
public struct UncheckedBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

/// The first error raised by any worker of a parallel pass.
public final class FailureBox: Sendable {
    private let stored = Mutex<(any Error)?>(nil)
    public init() {}
    public func set(_ error: any Error) { stored.withLock { if $0 == nil { $0 = error } } }
    public var error: (any Error)? { stored.withLock { $0 } }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum ProcessInfoLite {
    static var activeProcessorCount: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}

/// The user asked the process to stop (SIGINT/SIGTERM, set from a signal handler): long passes
/// check it between work items and give up, so the caller can clean up and exit.
public enum Interruption {
    private static let flag = Atomic<Bool>(false)
    /// Whether an interruption was requested.
    public static var requested: Bool { flag.load(ordering: .relaxed) }
    /// Requests an interruption (async-signal-safe: one atomic store).
    public static func request() { flag.store(true, ordering: .relaxed) }
}
