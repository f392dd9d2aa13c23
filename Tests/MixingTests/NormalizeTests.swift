import Foundation
import Mixing
import Testing

@Suite struct NormalizeTests {
    /// The table path gives what Foundation's NFKC + lowercasing path gives, on random text from
    /// the scripts it covers, mixed with characters that force the general path.
    @Test func fastPathEqualsGeneralPath() {
        let pieces: [String] = [
            "Hello", "WORLD", " ", "  ", "\t", "\n", ".", "!", "?", "¿", "¡", "«", "»", "—", "…", "“", "”", "$", "€",
            "Ça", "ÉTÉ", "niño", "Straße", "ÆØÅ", "Ĳ", "ﬁ", "Ⅻ", "Вопрос", "ОТВЕТ", "ё", "Ё", "प्रश्न", "उत्तर", "क़", "ज़",
            "सवाल", "سؤال", "جواب", "ﻻ", "\u{00A0}", "\u{2003}", "e\u{0301}", "Σ", "ΣΟΦΙΑ", "日本", "한국어", "\u{0627}\u{0653}", "\u{0651}\u{064E}", "\u{064E}\u{0651}", "بِسْمِ", "क्\u{094D}", "\u{094D}",
        ]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let s = (0..<Int.random(in: 0..<8, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            #expect(Normalize.prompt(s) == Normalize.general(s), "\(s.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test func examples() {
        #expect(Normalize.prompt("  How ARE\tyou?? ") == "how are you")
        #expect(Normalize.prompt("¿Cómo estás?") == "cómo estás")
        #expect(Normalize.prompt("Co\u{0301}mo") == Normalize.prompt("Cómo"))
        #expect(Normalize.prompt("ВОПРОС  номер 1.") == "вопрос номер 1")
        #expect(Normalize.prompt("ﬁne") == "fine")
    }
}
