import Datasets
import Foundation
import TestScratch
import Testing

let dataFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fixtures/data")

func records(_ file: String, _ reader: RecordReader = RecordReader()) throws -> [Record] {
    let f = try RecordFile(path: dataFolder.appendingPathComponent(file).path)
    return try f.spans.indices.map { try f.record($0, reader) }
}

func writeTemp(_ name: String, _ text: String) throws -> String {
    let url = TestScratch.folder(#function).appendingPathComponent(name)
    try Data(text.utf8).write(to: url)
    return url.path
}

@Suite struct ReaderTests {
    @Test func ayaRedteaming() throws {
        let rs = try records("aya_redteaming_hin.jsonl", RecordReader(format: .ayaRedteaming))
        #expect(rs.count == 6)
        #expect(rs.allSatisfy { $0.language == "hi" && $0.prompt.count == 1 && $0.prompt[0].role == "user" })
        #expect(rs.allSatisfy { $0.completion == nil && !$0.isPreferencePair })
        // harm_category is a JSON list inside a string; spellings come back as the card's.
        #expect(rs.allSatisfy { !$0.harmCategories.isEmpty && $0.harmCategories.allSatisfy(HarmCategories.card.contains) })
        #expect(rs[0].harmCategories.count == 2)
        #expect(rs[0].globalOrLocal == "local")
    }

    @Test func ayaEvaluationDolly() throws {
        let rs = try records("aya_dolly.jsonl", RecordReader(format: .ayaEvaluation))
        #expect(Set(rs.compactMap(\.language)) == ["hi", "fr", "es", "ar", "ru"])
        #expect(rs[0].prompt == [Message(role: "user", content: "प्रश्न 0: Dolly prompt")])
        #expect(rs[0].completion == [Message(role: "assistant", content: "उत्तर 0")])
        #expect(rs[0].sourceID == "1000" && rs[0].id == "0")
        // Translations of one Dolly prompt share its source id.
        #expect(Set(rs.filter { $0.sourceID == "1002" }.compactMap(\.language)).count == 5)
    }

    @Test func ultrafeedback() throws {
        let rs = try records("ultrafeedback.jsonl", RecordReader(format: .ultrafeedback))
        let r = rs[0]
        #expect(r.prompt.count == 1 && r.prompt[0].role == "user")
        #expect(r.chosen?.count == 1 && r.chosen?[0].role == "assistant")
        #expect(r.rejected?[0].content.contains("unhelpful") == true)
        #expect(r.language == "en" && r.sourceID != nil)
        #expect(r.sftResponse == r.chosen)
    }

    @Test func messagesWithSystemTurnAndRegionTag() throws {
        let rs = try records("messages.jsonl")
        #expect(rs[0].prompt.map(\.role) == ["system", "user"])
        #expect(rs[0].completion == [Message(role: "assistant", content: "Hello 0")])
        #expect(rs[0].language == "fr")
    }

    @Test func alpacaCSVWithQuotesAndMultilineCells() throws {
        let file = try RecordFile(path: dataFolder.appendingPathComponent("alpaca.csv").path)
        #expect(file.spans.map(\.line) == [2, 3, 4])
        let rs = try records("alpaca.csv", RecordReader(format: .alpaca))
        #expect(rs.map(\.language) == ["es", "es", "es"])
        #expect(rs[0].prompt[0].content == "Summarise, briefly\n\nThe text")
        #expect(rs[0].completion?[0].content == "A \"short\" summary")
        #expect(rs[1].prompt[0].content == "Translate\n\nline one\nline two")
        #expect(rs[2].prompt[0].content == "Count to three")
    }

    @Test func jsonListFileKeepsLineNumbers() throws {
        let file = try RecordFile(path: dataFolder.appendingPathComponent("list.json").path)
        #expect(file.kind == .json)
        #expect(file.spans.map(\.line) == [2, 7])
        let rs = try records("list.json")
        #expect(rs.map(\.language) == ["es", "fr"])
    }

    @Test func fieldMapRenamesFields() throws {
        let path = try writeTemp("q.jsonl", #"{"question": "Q?", "answer": "A.", "lang": "Russian", "qid": 7}"# + "\n")
        let reader = RecordReader(format: .promptCompletion, fieldMap: [.prompt: "question", .completion: "answer", .sourceID: "qid"])
        let r = try RecordFile(path: path).record(0, reader)
        #expect(r.prompt[0].content == "Q?" && r.completion?[0].content == "A." && r.language == "ru" && r.sourceID == "7")
    }

    @Test func errorsNameTheFileAndLine() throws {
        let path = try writeTemp("bad.jsonl", "{\"prompt\": \"ok\", \"completion\": \"x\"}\n\n{\"prompt\": \"broken\"\n")
        let f = try RecordFile(path: path)
        #expect(f.spans.map(\.line) == [1, 3])
        let error = #expect(throws: RecordFileError.self) { _ = try f.record(1, RecordReader()) }
        #expect(error?.description.hasPrefix("\(path):3: malformed JSON") == true)

        let missing = try writeTemp("m.jsonl", #"{"completion": "x"}"# + "\n")
        let g = try RecordFile(path: missing)
        let e2 = #expect(throws: RecordFileError.self) { _ = try g.record(0, RecordReader(format: .promptCompletion)) }
        #expect(e2?.message.contains("missing field 'prompt'") == true)

        let lang = try writeTemp("l.jsonl", #"{"prompt": "x", "language": "Klingon"}"# + "\n")
        let h = try RecordFile(path: lang)
        let e3 = #expect(throws: RecordFileError.self) { _ = try h.record(0, RecordReader()) }
        #expect(e3?.message.contains("unknown language 'Klingon'") == true)
    }

    @Test func parquetAndMissingFilesAreOneLineErrors() throws {
        let e1 = #expect(throws: RecordFileError.self) { _ = try RecordFile(source: "/nonexistent/x.parquet") }
        #expect(e1?.description == "/nonexistent/x.parquet: no such file")
        let bad = try writeTemp("x.parquet", "PAR1")
        let e0 = #expect(throws: RecordFileError.self) { _ = try RecordFile(source: bad) }
        #expect(e0?.description.contains("x.parquet") == true && e0?.description.contains("\n") == false)
        let e2 = #expect(throws: RecordFileError.self) { _ = try RecordFile(path: "/nonexistent/data.jsonl") }
        #expect(e2?.message == "no such file")
    }
}

@Suite struct LanguageTests {
    @Test(arguments: [
        ("English", "en"), ("english", "en"), ("en", "en"), ("eng", "en"), ("hin", "hi"), ("Hindi", "hi"),
        ("fra", "fr"), ("fre", "fr"), ("French", "fr"), ("spa", "es"), ("Spanish", "es"), ("arb", "ar"),
        ("Arabic", "ar"), ("rus", "ru"), ("Russian", "ru"), ("srp", "sr"), ("Serbian", "sr"), ("Filipino", "fil"),
        ("tgl", "fil"), ("tl", "fil"), ("fil", "fil"), ("Tagalog", "fil"), ("tgl_Latn", "fil"), ("fil-PH", "fil"),
        ("hin_Deva", "hi"), ("arb_Arab", "ar"), ("pt-BR", "pt"), ("zh-Hans", "zh"), ("zho", "zh"),
        (" German ", "de"), ("ger", "de"), ("deu", "de"),
    ])
    func canonical(_ text: String, _ code: String) {
        #expect(Languages.canonical(text) == code)
    }

    /// Filipino and Tagalog are one language (the Aya red-teaming file `aya_tgl.jsonl` says "Filipino").
    @Test func filipinoAndTagalogAreOneLanguage() {
        let spellings = ["tgl", "tl", "fil", "Filipino", "filipino", "Tagalog", "TAGALOG"]
        #expect(Set(spellings.map { Languages.canonical($0) }) == ["fil"])
        #expect(Languages.name("fil") == "Filipino")
    }

    /// Reports list languages as the paper's tables do, then the others by name.
    @Test func reportOrderFollowsThePaper() {
        #expect(Languages.reportOrder(["ru", "ar", "en", "zh", "es", "de", "fr", "hi", "sr", "fil"])
            == ["en", "hi", "fr", "es", "ar", "ru", "fil", "sr", "zh", "de"])  // Chinese before German by name
        #expect(Languages.reportOrder(["ru", "ru", "en"]) == ["en", "ru"])
    }

    @Test func unknownLanguages() {
        for s in ["Klingon", "xx", "", "english-ish"] { #expect(Languages.canonical(s) == nil, "\(s)") }
    }

    @Test func harmCategorySpellings() {
        #expect(HarmCategories.normalized("Self-Harm") == "Self-harm")
        #expect(HarmCategories.normalized("Violence, Threats & Incitement") == "Violence, threats & incitement")
        #expect(HarmCategories.normalized("Harms of Representation Allocation and Quality of Service")
            == "Harms of Representation Allocation & Quality of Service")
        #expect(HarmCategories.normalized("graphic material") == "Graphic Material")
        #expect(HarmCategories.normalized("non consensual sexual content") == "Non-consensual sexual content")
        #expect(HarmCategories.normalized("  Something   new ") == "Something new")
    }
}
