#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A token string compared and hashed by its exact UTF-8 bytes. Swift's `String` compares by
/// canonical equivalence (`"é" == "e\u{301}"`), but the tokenizers library's vocabularies are
/// byte-exact maps, where those are two different tokens.
struct TokenKey: Hashable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (a: TokenKey, b: TokenKey) -> Bool {
        guard a.string.utf8.count == b.string.utf8.count else { return false }
        var x = a.string
        var y = b.string
        return x.withUTF8 { p in
            y.withUTF8 { q in
                guard let pa = p.baseAddress, let qa = q.baseAddress else { return p.count == q.count }
                return memcmp(pa, qa, p.count) == 0
            }
        }
    }

    func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// A byte-exact token → id map.
struct Vocabulary: Sendable {
    private(set) var storage: [TokenKey: Int32] = [:]

    init() {}

    init(minimumCapacity: Int) { storage.reserveCapacity(minimumCapacity) }

    var count: Int { storage.count }

    subscript(token: String) -> Int32? {
        get { storage[TokenKey(token)] }
        set { storage[TokenKey(token)] = newValue }
    }

    /// Every (token, id) pair, in no particular order.
    var pairs: some Sequence<(String, Int32)> { storage.lazy.map { ($0.key.string, $0.value) } }

    func contains(_ token: String) -> Bool { storage[TokenKey(token)] != nil }
}
