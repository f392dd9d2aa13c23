/// Language names and codes → one canonical code: the ISO 639-1 code where the language has one
/// (`en`, `hi`, `ar`), else its ISO 639-3 code (`yue`); Filipino and Tagalog are one language, `fil`
/// (`tgl`, `tl`, "Tagalog": the Aya red-teaming file `aya_tgl.jsonl` says "Filipino"). Accepted spellings: English names
/// in any case ("English", "hindi"), ISO 639-1, ISO 639-3, ISO 639-2/B ("fre", "ger"), the Aya
/// data's macro-language members ("arb" Standard Arabic → `ar`, "zsm" → `ms`), and BCP-47 or
/// FLORES-200 tags with a region or script ("pt-BR", "hin_Deva", "zh-Hans" → the base language).
public enum Languages {
    /// Canonical code for `text`, or nil when it names no known language.
    public static func canonical(_ text: String) -> String? {
        if let hit = table[text] { return hit }  // the common case: a code or a name as written
        var key = text.trimmingSpaces().lowercased()
        if let hit = table[key] { return hit }
        // A tag with a region or script: keep the language part.
        if let cut = key.firstIndex(where: { $0 == "-" || $0 == "_" }) {
            key = String(key[..<cut])
            if let hit = table[key], key.count <= 3 { return hit }
        }
        return nil
    }

    /// English name of a canonical code ("hi" → "Hindi"), for reports.
    public static func name(_ code: String) -> String { names[code] ?? code }

    /// The paper's languages in the order of its tables (English, Hindi, French, Spanish, Arabic,
    /// Russian), then the Aya red-teaming set's other two (Filipino, Serbian).
    public static let paperOrder = ["en", "hi", "fr", "es", "ar", "ru", "fil", "sr"]

    /// Canonical codes in report order: `paperOrder` first, then every other code by English name.
    public static func reportOrder(_ codes: some Sequence<String>) -> [String] {
        let unique = Set(codes)
        let known = paperOrder.filter { unique.contains($0) }
        let rest = unique.subtracting(paperOrder).sorted { (name($0), $0) < (name($1), $1) }
        return known + rest
    }

    // iso639-1 | iso639-3 | other codes | English names (the first one is the display name)
    static let rows: [String] = [
        "af|afr||Afrikaans", "am|amh||Amharic", "ar|ara|arb|Arabic,Standard Arabic,Modern Standard Arabic",
        "az|aze|azj|Azerbaijani", "be|bel||Belarusian", "bg|bul||Bulgarian", "bn|ben||Bengali,Bangla",
        "bs|bos||Bosnian", "ca|cat||Catalan", "ceb|ceb||Cebuano", "cs|ces|cze|Czech", "cy|cym|wel|Welsh",
        "da|dan||Danish", "de|deu|ger|German", "el|ell|gre|Greek,Modern Greek", "en|eng||English",
        "eo|epo||Esperanto", "es|spa||Spanish,Castilian", "et|est|ekk|Estonian", "eu|eus|baq|Basque",
        "fa|fas|per,pes|Persian,Farsi", "fi|fin||Finnish", "fil|fil|tgl,tl|Filipino,Tagalog,Pilipino", "fr|fra|fre|French",
        "fy|fry||Western Frisian,Frisian", "ga|gle||Irish", "gd|gla||Scottish Gaelic,Gaelic", "gl|glg||Galician",
        "gu|guj||Gujarati", "ha|hau||Hausa", "haw|haw||Hawaiian", "he|heb|iw|Hebrew", "hi|hin||Hindi",
        "hr|hrv||Croatian", "ht|hat||Haitian Creole,Haitian", "hu|hun||Hungarian", "hy|hye|arm|Armenian",
        "id|ind|in|Indonesian", "ig|ibo||Igbo", "is|isl|ice|Icelandic", "it|ita||Italian", "ja|jpn||Japanese",
        "jv|jav||Javanese", "ka|kat|geo|Georgian", "kk|kaz||Kazakh", "km|khm||Khmer,Central Khmer",
        "kn|kan||Kannada", "ko|kor||Korean", "ku|kur|kmr|Kurdish", "ky|kir||Kyrgyz,Kirghiz",
        "la|lat||Latin", "lb|ltz||Luxembourgish", "lo|lao||Lao", "lt|lit||Lithuanian", "lv|lav|lvs|Latvian",
        "mg|mlg|plt|Malagasy", "mi|mri|mao|Maori", "mk|mkd|mac|Macedonian", "ml|mal||Malayalam",
        "mn|mon|khk|Mongolian", "mr|mar||Marathi", "ms|msa|zsm,may|Malay", "mt|mlt||Maltese",
        "my|mya|bur|Burmese,Myanmar", "ne|nep|npi|Nepali", "nl|nld|dut|Dutch,Flemish", "no|nor|nob,nno|Norwegian,Norwegian Bokmal,Bokmål",
        "ny|nya||Chichewa,Nyanja", "pa|pan||Punjabi,Panjabi", "pl|pol||Polish", "ps|pus|pbt|Pashto",
        "pt|por||Portuguese", "ro|ron|rum|Romanian,Moldavian", "ru|rus||Russian", "sd|snd||Sindhi",
        "si|sin||Sinhala,Sinhalese", "sk|slk|slo|Slovak", "sl|slv||Slovenian,Slovene", "sm|smo||Samoan",
        "sn|sna||Shona", "so|som||Somali", "sq|sqi|alb,als|Albanian", "sr|srp||Serbian", "st|sot||Sotho,Southern Sotho,Sesotho",
        "su|sun||Sundanese", "sv|swe||Swedish", "sw|swa|swh|Swahili", "ta|tam||Tamil", "te|tel||Telugu",
        "tg|tgk||Tajik", "th|tha||Thai", "tr|tur||Turkish", "uk|ukr||Ukrainian",
        "ur|urd||Urdu", "uz|uzb|uzn|Uzbek", "vi|vie||Vietnamese", "xh|xho||Xhosa", "yi|yid|ydd|Yiddish",
        "yo|yor||Yoruba", "zh|zho|chi,cmn|Chinese,Mandarin", "zu|zul||Zulu", "yue|yue||Cantonese",
        "ace|ace||Acehnese", "ban|ban||Balinese", "bjn|bjn||Banjar", "min|min||Minangkabau", "nso|nso||Northern Sotho",
        "wo|wol||Wolof", "tw|twi||Twi", "ak|aka||Akan", "rw|kin||Kinyarwanda", "lg|lug||Ganda,Luganda",
        "ln|lin||Lingala", "om|orm|gaz|Oromo", "ti|tir||Tigrinya", "ug|uig||Uyghur,Uighur", "tt|tat||Tatar",
        "ba|bak||Bashkir", "or|ori|ory|Odia,Oriya", "as|asm||Assamese", "sa|san||Sanskrit", "bo|bod|tib|Tibetan",
        "dv|div||Dhivehi,Maldivian", "fo|fao||Faroese", "oc|oci||Occitan", "br|bre||Breton", "co|cos||Corsican",
        "sc|srd||Sardinian", "ast|ast||Asturian", "lij|lij||Ligurian", "scn|scn||Sicilian", "vec|vec||Venetian",
        "fur|fur||Friulian", "lmo|lmo||Lombard", "szl|szl||Silesian", "ltg|ltg||Latgalian", "kab|kab||Kabyle",
        "tzm|tzm||Central Atlas Tamazight,Tamazight", "ber|ber||Berber", "kea|kea||Kabuverdianu", "pap|pap||Papiamento",
        "ckb|ckb||Central Kurdish,Sorani", "azb|azb||South Azerbaijani", "mai|mai||Maithili", "bho|bho||Bhojpuri",
        "mag|mag||Magahi", "hne|hne||Chhattisgarhi", "awa|awa||Awadhi", "sat|sat||Santali", "mni|mni||Manipuri,Meitei",
        "ks|kas||Kashmiri", "doi|doi||Dogri", "kok|kok|gom|Konkani"
    ]

    static let (table, names): ([String: String], [String: String]) = {
        var table: [String: String] = [:]
        var names: [String: String] = [:]
        for row in rows {
            let parts = row.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            let code = parts[0]
            var keys = [code, parts[1]]
            keys += parts[2].split(separator: ",").map(String.init)
            let englishNames = parts[3].split(separator: ",").map { $0.trimmingSpaces() }
            keys += englishNames.map { $0.lowercased() } + englishNames
            for k in keys where !k.isEmpty && table[k] == nil { table[k] = code }
            if let n = englishNames.first { names[code] = n }
        }
        return (table, names)
    }()
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
