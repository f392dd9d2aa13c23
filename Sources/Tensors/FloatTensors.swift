/// A list of float32 tensors in owned, stable, zero-initialised memory (a model's trainable
/// parameters, their gradients, an optimizer's moments): pointers into it stay valid for the
/// object's lifetime, so kernels can read and write many tensors at once without pinning arrays.
///
/// `@unchecked Sendable`: the owner decides who writes what; the kernels that receive pointers
/// write disjoint ranges and return before the owner reads.
public final class FloatTensors: @unchecked Sendable {
    /// Element count of each tensor.
    public let counts: [Int]
    private let storage: [UnsafeMutablePointer<Float>]

    /// Zeroed tensors of the given element counts.
    public init(counts: [Int]) {
        self.counts = counts
        storage = counts.map { n in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            p.initialize(repeating: 0, count: max(1, n))
            return p
        }
    }

    /// Copies of `arrays`.
    public convenience init(_ arrays: [[Float]]) {
        self.init(counts: arrays.map(\.count))
        for (i, a) in arrays.enumerated() {
            a.withUnsafeBufferPointer { b in
                if let base = b.baseAddress { storage[i].update(from: base, count: b.count) }
            }
        }
    }

    /// A zeroed list shaped like `other`.
    public convenience init(shapedLike other: FloatTensors) { self.init(counts: other.counts) }

    deinit { for p in storage { p.deallocate() } }

    public var count: Int { counts.count }
    /// Total elements over every tensor.
    public var elementCount: Int { counts.reduce(0, +) }

    /// Tensor `i`'s memory.
    public subscript(i: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: storage[i], count: counts[i])
    }

    /// Tensor `i`'s first element.
    public func pointer(_ i: Int) -> UnsafeMutablePointer<Float> { storage[i] }

    /// Sets every element to zero.
    public func zero() {
        for (p, n) in zip(storage, counts) { p.update(repeating: 0, count: n) }
    }

    /// Copies every tensor of `other` (same counts) into this one.
    public func copy(from other: FloatTensors) {
        precondition(other.counts == counts, "FloatTensors.copy: different shapes")
        for i in storage.indices { storage[i].update(from: other.storage[i], count: counts[i]) }
    }

    /// An independent copy.
    public func clone() -> FloatTensors {
        let c = FloatTensors(shapedLike: self)
        c.copy(from: self)
        return c
    }

    /// Every tensor as an array.
    public var arrays: [[Float]] { (0..<count).map { Array(self[$0]) } }

    /// `self[i] *= s` for every tensor.
    public func scale(by s: Float) {
        for (p, n) in zip(storage, counts) { for j in 0..<n { p[j] *= s } }
    }
}
