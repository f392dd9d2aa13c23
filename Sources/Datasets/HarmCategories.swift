/// The Aya Red-teaming harm categories. The data spells them differently from its card ("Self-Harm"
/// vs "Self-harm", "… Allocation and Quality of Service" vs "… Allocation & Quality of Service"), so
/// categories are compared by a key: lower case, "&" read as "and", punctuation and repeated spaces
/// dropped. A known category comes back in the card's spelling; an unknown one keeps its own text
/// with whitespace tidied.
public enum HarmCategories {
    public static let card: [String] = [
        "Bullying & Harassment",
        "Discrimination & Injustice",
        "Graphic Material",
        "Harms of Representation Allocation & Quality of Service",
        "Hate Speech",
        "Non-consensual sexual content",
        "Profanity",
        "Self-harm",
        "Violence, threats & incitement",
    ]

    static let byKey: [String: String] = Dictionary(uniqueKeysWithValues: card.map { (key($0), $0) })

    /// The comparison key: "Violence, Threats & Incitement" → "violence threats and incitement".
    public static func key(_ text: String) -> String {
        var words: [String] = []
        var word = ""
        for ch in text.lowercased() {
            if ch == "&" {
                if !word.isEmpty { words.append(word); word = "" }
                words.append("and")
            } else if ch.isLetter || ch.isNumber {
                word.append(ch)
            } else if ch == "-" {
                continue  // "Self-harm" = "Self harm" = "Selfharm"
            } else if !word.isEmpty {
                words.append(word)
                word = ""
            }
        }
        if !word.isEmpty { words.append(word) }
        return words.joined(separator: " ").replacingOccurrences(of: "self harm", with: "selfharm")
            .replacingOccurrences(of: "non consensual", with: "nonconsensual")
    }

    public static func normalized(_ text: String) -> String {
        if let known = byKey[key(text)] { return known }
        return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
