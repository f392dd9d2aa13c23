import Foundation

/// Decodes a JSON golden file under the repository's `fixtures/` (nil when it is missing or does
/// not decode, so the test that needs it fails on its `#require`).
func loadFixture<T: Decodable>(_ path: String, as: T.Type) -> T? {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").appendingPathComponent(path)
    return (try? Data(contentsOf: url)).flatMap { try? JSONDecoder().decode(T.self, from: $0) }
}
