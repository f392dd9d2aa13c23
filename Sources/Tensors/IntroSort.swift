/// The exact element order of an *unstable* `torch.argsort` on CPU, for keys torch sorts with
/// `std::sort` (bf16 and f16 values; GCC's libstdc++ introsort): equal keys end up in whatever
/// order that algorithm leaves them, and reproducing it is what makes rank-based sparsifiers
/// (DELLA) give mergekit's bytes when magnitudes tie.
///
/// The algorithm, step by step as libstdc++ performs it on (key, index) pairs compared by key only
/// (ascending: `a < b`, NaN last):
///
///     introsort(first, last, depth = 2·⌊log₂ n⌋):
///       while last − first > 16:
///         depth == 0 → heapsort [first, last) (make_heap, then pop to the end); return
///         depth −= 1
///         median of (first+1, mid, last−1) swapped into first; Hoare partition of (first+1, last)
///         around it; introsort(cut, last); last = cut
///     then insertion sort of the first 16, unguarded insertion of the rest
public enum IntroSort {
    /// Indices of `keys` in the order `std::sort` puts them in: ascending, or with `descending`
    /// under torch's descending comparator (`a > b`, NaN first) — not the ascending order reversed,
    /// which places equal keys differently.
    public static func argsort(_ keys: UnsafeBufferPointer<Float>, descending: Bool = false) -> [Int32] {
        let n = keys.count
        var k = [Float](keys)
        var v = (0..<Int32(n)).map { $0 }
        k.withUnsafeMutableBufferPointer { kp in
            v.withUnsafeMutableBufferPointer { vp in
                var s = Sorter(k: kp.baseAddress!, v: vp.baseAddress!, descending: descending)
                s.sort(n)
            }
        }
        return v
    }

    /// The indices `torch.topk(keys, k)` returns on CPU (largest first; `largest: false` for the
    /// smallest), as a set in no particular order: libstdc++'s `std::partial_sort` when
    /// k·64 ≤ n (heap select), else `std::nth_element` (introselect) — which of several equal keys
    /// at the boundary make it is that algorithm's choice, replayed step by step.
    public static func topk(_ keys: UnsafeBufferPointer<Float>, _ k: Int, largest: Bool = true) -> [Int32] {
        let n = keys.count
        guard k > 0, n > 0 else { return [] }
        guard k < n else { return (0..<Int32(n)).map { $0 } }
        var kk = [Float](keys)
        var v = (0..<Int32(n)).map { $0 }
        kk.withUnsafeMutableBufferPointer { kp in
            v.withUnsafeMutableBufferPointer { vp in
                let s = Sorter(k: kp.baseAddress!, v: vp.baseAddress!, descending: largest)
                if k * 64 <= n {
                    s.heapSelect(0, k, n)
                } else {
                    s.introselect(0, k - 1, n, depth: 2 * (Int.bitWidth - 1 - n.leadingZeroBitCount))
                }
            }
        }
        return Array(v[0..<k])
    }

    struct Sorter {
        let k: UnsafeMutablePointer<Float>
        let v: UnsafeMutablePointer<Int32>
        let descending: Bool

        /// Whether `a` goes before `b`: torch's comparators, `a < b` with NaN after every number, or
        /// (descending) `a > b` with NaN before every number.
        @inline(__always) func less(_ a: Float, _ b: Float) -> Bool {
            descending ? (a.isNaN && !b.isNaN) || a > b : (!a.isNaN && b.isNaN) || a < b
        }
        @inline(__always) func less(_ i: Int, _ j: Int) -> Bool { less(k[i], k[j]) }
        @inline(__always) func swapAt(_ i: Int, _ j: Int) {
            let tk = k[i]; k[i] = k[j]; k[j] = tk
            let tv = v[i]; v[i] = v[j]; v[j] = tv
        }
        @inline(__always) func move(_ from: Int, to: Int) { k[to] = k[from]; v[to] = v[from] }

        static let threshold = 16

        mutating func sort(_ n: Int) {
            guard n > 1 else { return }
            introsort(0, n, depth: 2 * (Int.bitWidth - 1 - n.leadingZeroBitCount))
            finalInsertionSort(0, n)
        }

        func introsort(_ first: Int, _ lastIn: Int, depth depthIn: Int) {
            var last = lastIn, depth = depthIn
            while last - first > Self.threshold {
                if depth == 0 {
                    heapsort(first, last)
                    return
                }
                depth -= 1
                let cut = partitionPivot(first, last)
                introsort(cut, last, depth: depth)
                last = cut
            }
        }

        func partitionPivot(_ first: Int, _ last: Int) -> Int {
            let mid = first + (last - first) / 2
            moveMedianToFirst(first, first + 1, mid, last - 1)
            return unguardedPartition(first + 1, last, pivot: first)
        }

        func moveMedianToFirst(_ result: Int, _ a: Int, _ b: Int, _ c: Int) {
            if less(a, b) {
                if less(b, c) { swapAt(result, b) } else if less(a, c) { swapAt(result, c) } else { swapAt(result, a) }
            } else if less(a, c) {
                swapAt(result, a)
            } else if less(b, c) {
                swapAt(result, c)
            } else {
                swapAt(result, b)
            }
        }

        func unguardedPartition(_ firstIn: Int, _ lastIn: Int, pivot: Int) -> Int {
            var first = firstIn, last = lastIn
            while true {
                while less(first, pivot) { first += 1 }
                last -= 1
                while less(pivot, last) { last -= 1 }
                if !(first < last) { return first }
                swapAt(first, last)
                first += 1
            }
        }

        func finalInsertionSort(_ first: Int, _ last: Int) {
            if last - first > Self.threshold {
                insertionSort(first, first + Self.threshold)
                for i in (first + Self.threshold)..<last { unguardedLinearInsert(i) }
            } else {
                insertionSort(first, last)
            }
        }

        func insertionSort(_ first: Int, _ last: Int) {
            guard first != last else { return }
            var i = first + 1
            while i < last {
                if less(i, first) {
                    let vk = k[i], vv = v[i]
                    var j = i
                    while j > first { move(j - 1, to: j); j -= 1 }
                    k[first] = vk; v[first] = vv
                } else {
                    unguardedLinearInsert(i)
                }
                i += 1
            }
        }

        func unguardedLinearInsert(_ lastIn: Int) {
            let vk = k[lastIn], vv = v[lastIn]
            var last = lastIn, next = lastIn - 1
            while less(vk, k[next]) {
                move(next, to: last)
                last = next
                next -= 1
            }
            k[last] = vk; v[last] = vv
        }

        // MARK: Selection (std::nth_element, std::partial_sort's heap select)

        /// `std::__introselect`: partitions until the element at `nth` is the one a full sort
        /// would put there, everything before it going before it.
        func introselect(_ firstIn: Int, _ nth: Int, _ lastIn: Int, depth depthIn: Int) {
            var first = firstIn, last = lastIn, depth = depthIn
            while last - first > 3 {
                if depth == 0 {
                    heapSelect(first, nth + 1, last)
                    swapAt(first, nth)
                    return
                }
                depth -= 1
                let cut = partitionPivot(first, last)
                if cut <= nth { first = cut } else { last = cut }
            }
            insertionSort(first, last)
        }

        /// `std::__heap_select`: a heap of [first, middle), then every later element that goes
        /// before the heap's top replaces it (`__pop_heap(first, middle, i)`).
        func heapSelect(_ first: Int, _ middle: Int, _ last: Int) {
            makeHeap(first, middle)
            var i = middle
            while i < last {
                if less(i, first) {
                    let vk = k[i], vv = v[i]
                    move(first, to: i)
                    adjustHeap(first, hole: 0, len: middle - first, key: vk, value: vv)
                }
                i += 1
            }
        }

        // MARK: Heapsort fallback (std::__partial_sort(first, last, last))

        func heapsort(_ first: Int, _ lastIn: Int) {
            makeHeap(first, lastIn)
            var last = lastIn
            while last - first > 1 {
                last -= 1
                // pop_heap(first, last, result: last)
                let vk = k[last], vv = v[last]
                move(first, to: last)
                adjustHeap(first, hole: 0, len: last - first, key: vk, value: vv)
            }
        }

        func makeHeap(_ first: Int, _ last: Int) {
            let len = last - first
            guard len >= 2 else { return }
            var parent = (len - 2) / 2
            while true {
                let vk = k[first + parent], vv = v[first + parent]
                adjustHeap(first, hole: parent, len: len, key: vk, value: vv)
                if parent == 0 { return }
                parent -= 1
            }
        }

        func adjustHeap(_ first: Int, hole holeIn: Int, len: Int, key: Float, value: Int32) {
            let top = holeIn
            var hole = holeIn, child = holeIn
            while child < (len - 1) / 2 {
                child = 2 * (child + 1)
                if less(first + child, first + child - 1) { child -= 1 }
                move(first + child, to: first + hole)
                hole = child
            }
            if len & 1 == 0 && child == (len - 2) / 2 {
                child = 2 * (child + 1)
                move(first + child - 1, to: first + hole)
                hole = child - 1
            }
            // push_heap(first, hole, top, value)
            var parent = (hole - 1) / 2
            while hole > top && less(k[first + parent], key) {
                move(first + parent, to: first + hole)
                hole = parent
                parent = (hole - 1) / 2
            }
            k[first + hole] = key; v[first + hole] = value
        }
    }
}
