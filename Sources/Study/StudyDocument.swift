import Foundation
import Judging

/// The study's report: the paper's Table 1 (mixes and merges, SFT and DPO, with the brackets vs
/// the 15 % mix), Table 2 (merge positions), the language-merge table, per-language tables, the
/// harm/win trade-off (Fig. 5) and the weight ablation (Fig. 6), as Markdown, HTML and CSV.
struct StudyDocument {
    var title: String
    var study: String
    var reference: String
    var numbers: [String: ModelNumbers]
    var report: StudyFile.ReportSpec
    var selections: [String: Selection]
    var languages: [String]
    var languageNames: [String: String]
    var harmSetName: String?
    var winSetName: String?
    var judge: String
    var ablation: [(w: Double, harm: Interval?, win: Interval?)]
    /// Models made by training (the mixes), as opposed to merges.
    var trainedModels: Set<String>
    var tradeoff: String?

    static func f(_ v: Double?) -> String { v.map { String(format: "%.1f", $0) } ?? "–" }
    static func signed(_ v: Double) -> String { String(format: "%+.1f", v) }

    func win(_ m: String?) -> Double? { m.flatMap { numbers[$0]?.win?.estimate }.map { $0 * 100 } }
    func harm(_ m: String?) -> Double? { m.flatMap { numbers[$0]?.harmChange?.estimate } }

    /// `−41.4 [−50.1, −30.2] (+3.1)`: the estimate, its interval, and the paper's bracket (points vs
    /// the baseline, positive = better).
    /// `est [low, high]`, scaled (win-rates are stored as fractions, shown as %); `–` when absent.
    static func cell(_ i: Interval?, scale: Double = 1) -> String {
        guard let i else { return "–" }
        return "\(f(i.estimate * scale)) [\(f(i.low * scale)), \(f(i.high * scale))]"
    }

    func harmCell(_ m: String?, baseline: String?) -> String {
        guard let m, let i = numbers[m]?.harmChange else { return "–" }
        var s = Self.cell(i)
        if let b = harm(baseline), m != baseline { s += " (\(Self.signed(b - i.estimate)))" }
        return s
    }

    func winCell(_ m: String?, baseline: String?) -> String {
        guard let m, let i = numbers[m]?.win else { return "–" }
        var s = Self.cell(i, scale: 100)
        if let b = win(baseline), m != baseline { s += " (\(Self.signed(i.estimate * 100 - b)))" }
        return s
    }

    func table1() -> String {
        guard !report.table1.isEmpty else { return "" }
        var s = "| model | SFT harm | SFT win | DPO harm | DPO win |\n|---|---|---|---|---|\n"
        for row in report.table1 {
            var name = row.label
            let picks = [("SFT", row.sft), ("DPO", row.dpo)].compactMap { stage, m in
                m.flatMap { selections[$0] }.map { "\(stage) w=\(StudyFile.format($0.w))" }
            }
            if !picks.isEmpty { name += " (\(picks.joined(separator: ", ")))" }
            s += "| \(name) | \(harmCell(row.sft, baseline: report.baselineSFT)) | \(winCell(row.sft, baseline: report.baselineSFT)) "
                + "| \(harmCell(row.dpo, baseline: report.baselineDPO)) | \(winCell(row.dpo, baseline: report.baselineDPO)) |\n"
        }
        return s
    }

    func simpleTable(_ rows: [StudyFile.ReportSpec.Row], first: String, baseline: String?) -> String {
        guard !rows.isEmpty else { return "" }
        var s = "| \(first) | harm | win |\n|---|---|---|\n"
        for row in rows {
            var name = row.label
            if let m = row.model, let sel = selections[m] { name += " (w=\(StudyFile.format(sel.w)))" }
            s += "| \(name) | \(harmCell(row.model, baseline: baseline)) | \(winCell(row.model, baseline: baseline)) |\n"
        }
        return s
    }

    func languageTable() -> String {
        var models: [(String, String)] = []
        for row in report.table1 {
            if let m = row.sft { models.append(("\(row.label) (SFT)", m)) }
            if let m = row.dpo { models.append(("\(row.label) (DPO)", m)) }
        }
        for row in report.languageMerges { if let m = row.model { models.append((row.label, m)) } }
        guard !models.isEmpty, !languages.isEmpty else { return "" }
        let names = languages.map { languageNames[$0] ?? $0 }
        var s = "| model | " + names.map { "\($0) harm | \($0) win" }.joined(separator: " | ") + " |\n"
        s += "|---|" + String(repeating: "---|---|", count: languages.count) + "\n"
        for (label, m) in models {
            s += "| \(label) | " + languages.map { l in
                let n = numbers[m]?.languages[l]
                return "\(Self.cell(n?.harmChange)) | \(Self.cell(n?.win, scale: 100))"
            }.joined(separator: " | ") + " |\n"
        }
        return s
    }

    /// Which merges beat the 15 % mix on both axes, per stage — stated from the numbers, whatever they show.
    func direction() -> [String] {
        var out: [String] = []
        for (stage, baseline, pick) in [("SFT", report.baselineSFT, { (r: StudyFile.ReportSpec.Row) in r.sft }),
                                        ("DPO", report.baselineDPO, { (r: StudyFile.ReportSpec.Row) in r.dpo })] {
            guard let baseline, let bh = harm(baseline), let bw = win(baseline) else { continue }
            let merges = report.table1.compactMap { r -> (String, String)? in pick(r).map { (r.label, $0) } }
                .filter { $0.1 != baseline && !isMix($0.1) }
            let better = merges.filter { (_, m) in (harm(m).map { $0 < bh } ?? false) && (win(m).map { $0 > bw } ?? false) }
            if merges.isEmpty { continue }
            out.append(better.isEmpty
                ? "\(stage): no merge beats the 15 % mix (\(baseline)) on both axes."
                : "\(stage): \(better.map(\.0).joined(separator: ", ")) beat\(better.count == 1 ? "s" : "") the 15 % mix (\(baseline)) on both axes "
                    + "(lower harm and higher win-rate) — the paper's direction.")
        }
        return out
    }

    /// Rows whose model is a training run (a mix), not a merge.
    func isMix(_ m: String) -> Bool { trainedModels.contains(m) }

    func header() -> String {
        "Study `\(study)`. Harm = relative change (%) of the harmful-generation rate vs `\(reference)` on \(harmSetName ?? "–") "
            + "(lower is safer); win = win-rate (%) vs `\(reference)` on \(winSetName ?? "–") (ties count ½). "
            + "Brackets [low, high] are 95 % intervals (clustered bootstrap / Wilson); parentheses are the paper's "
            + "points vs the 15 % mix, positive = better. Judge: \(judge). Weight searches were scored on the validation prompts only."
    }

    func markdown() -> String {
        var s = "# \(title)\n\n\(header())\n\n"
        let t1 = table1()
        if !t1.isEmpty { s += "## Table 1 — mixing vs objective-based merging\n\n\(t1)\n" }
        let d = direction()
        if !d.isEmpty { s += d.map { "- \($0)" }.joined(separator: "\n") + "\n\n" }
        let t2 = simpleTable(report.table2, first: "pipeline", baseline: report.baselineDPO)
        if !t2.isEmpty { s += "## Table 2 — where to merge\n\n(parentheses vs the DPO 15 % mix)\n\n\(t2)\n" }
        let lm = simpleTable(report.languageMerges, first: "model", baseline: report.baselineSFT)
        if !lm.isEmpty { s += "## Language-based merging\n\n(parentheses vs the SFT 15 % mix)\n\n\(lm)\n" }
        if tradeoff != nil { s += "## Fig. 5 — harm vs win-rate\n\n![trade-off](fig5-tradeoff.svg)\n\n" }
        if !ablation.isEmpty {
            s += "## Fig. 6 — weight on the safety model (\(report.ablation ?? ""))\n\n![weight ablation](fig6-weight.svg)\n\n| w | harm | win |\n|---|---|---|\n"
            for p in ablation {
                s += "| \(StudyFile.format(p.w)) | \(Self.cell(p.harm)) | \(Self.cell(p.win, scale: 100)) |\n"
            }
            s += "\n"
        }
        if !selections.isEmpty {
            s += "## Weight searches (validation prompts)\n\n| sweep | picked | scores (\(selections.values.first?.score ?? "")) |\n|---|---|---|\n"
            for (name, sel) in selections.sorted(by: { $0.key < $1.key }) {
                s += "| \(name) | w=\(StudyFile.format(sel.w)) | " + sel.scores.map { "\(StudyFile.format($0.w)): \(Self.f($0.score))" }.joined(separator: ", ") + " |\n"
            }
            s += "\n"
        }
        let lt = languageTable()
        if !lt.isEmpty { s += "## Per language\n\n\(lt)\n" }
        s += "Every number with its interval, per harm category and per language: [evaluation.md](evaluation.md). "
            + "Where every model came from: [lineage.json](lineage.json).\n"
        return s
    }

    /// What the command prints at the end: Table 1 and the direction sentence.
    func summary() -> String {
        var s = table1()
        for d in direction() { s += "\n\(d)" }
        return s
    }

    func csv() -> String {
        var s = "model,stage,name,harm_change,harm_low,harm_high,win_rate,win_low,win_high\n"
        func row(_ label: String, _ stage: String, _ m: String?) {
            guard let m else { return }
            let n = numbers[m]
            let h = n?.harmChange, w = n?.win
            let cells = [h?.estimate, h?.low, h?.high, w.map { $0.estimate * 100 }, w.map { $0.low * 100 }, w.map { $0.high * 100 }]
                .map { $0.map { String(format: "%.4f", $0) } ?? "" }
            s += "\"\(label.replacingOccurrences(of: "\"", with: "\"\""))\",\(stage),\(m)," + cells.joined(separator: ",") + "\n"
        }
        for r in report.table1 {
            row(r.label, "sft", r.sft)
            row(r.label, "dpo", r.dpo)
        }
        for r in report.table2 { row(r.label, "position", r.model) }
        for r in report.languageMerges { row(r.label, "language", r.model) }
        return s
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// Markdown tables → HTML tables (the report's own tables only).
    static func htmlTable(_ md: String) -> String {
        let lines = md.split(separator: "\n").filter { !$0.hasPrefix("|---") }
        guard let head = lines.first else { return "" }
        func cells(_ l: Substring) -> [String] { l.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) } }
        var s = "<table><tr>" + cells(head).map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
        for l in lines.dropFirst() { s += "<tr>" + cells(l).map { "<td>\(esc($0))</td>" }.joined() + "</tr>\n" }
        return s + "</table>\n"
    }

    func html() -> String {
        var s = """
            <!doctype html><html><head><meta charset="utf-8"><title>\(Self.esc(title))</title><style>
            body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
            table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
            td:first-child,th:first-child{text-align:left}</style></head><body>
            <h1>\(Self.esc(title))</h1><p>\(Self.esc(header()))</p>

            """
        let t1 = table1()
        if !t1.isEmpty { s += "<h2>Table 1 — mixing vs objective-based merging</h2>\n" + Self.htmlTable(t1) }
        for d in direction() { s += "<p><b>\(Self.esc(d))</b></p>\n" }
        let t2 = simpleTable(report.table2, first: "pipeline", baseline: report.baselineDPO)
        if !t2.isEmpty { s += "<h2>Table 2 — where to merge</h2>\n" + Self.htmlTable(t2) }
        let lm = simpleTable(report.languageMerges, first: "model", baseline: report.baselineSFT)
        if !lm.isEmpty { s += "<h2>Language-based merging</h2>\n" + Self.htmlTable(lm) }
        if let t = tradeoff { s += "<h2>Fig. 5 — harm vs win-rate</h2>\n\(t)\n" }
        if let a = ablationSVG() { s += "<h2>Fig. 6 — weight on the safety model</h2>\n\(a)\n" }
        let lt = languageTable()
        if !lt.isEmpty { s += "<h2>Per language</h2>\n" + Self.htmlTable(lt) }
        s += "<p>Every number: <a href=\"evaluation.html\">evaluation.html</a>; lineage: <a href=\"lineage.json\">lineage.json</a>.</p></body></html>\n"
        return s
    }

    /// Harm change and win-rate against the safety model's weight, with the 15 % mix as dashed lines.
    func ablationSVG(width: Double = 640, height: Double = 300) -> String? {
        let pts = ablation.filter { $0.harm != nil || $0.win != nil }
        guard pts.count >= 2 else { return nil }
        let left = 60.0, right = 20.0, top = 20.0, bottom = 45.0, gap = 40.0
        let panel = (width - left - right - gap) / 2
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" height=\"\(f(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"\(f(width))\" height=\"\(f(height))\" fill=\"white\"/>\n"
        let ws = pts.map(\.w)
        let (wx0, wx1) = (ws.min()!, max(ws.max()!, ws.min()! + 1e-9))
        // The 15 % mix of the ablation's stage (the row of Table 1 that names the swept merge).
        let baseline = report.ablation.flatMap { a in report.table1.first { $0.sft == a || $0.dpo == a }.flatMap { $0.sft == a ? report.baselineSFT : report.baselineDPO } }
        let panels: [(String, [Interval?], Double?, Double)] = [
            ("harm change (%)", pts.map(\.harm), harm(baseline), left),
            ("win-rate (%)", pts.map { $0.win.map { Interval($0.estimate * 100, $0.low * 100, $0.high * 100) } },
             win(baseline), left + panel + gap),
        ]
        for (name, values, base, x0) in panels {
            let ys = values.compactMap { $0 }.flatMap { [$0.low, $0.high] } + (base.map { [$0] } ?? [])
            guard var y0 = ys.min(), var y1 = ys.max() else { continue }
            let pad = max(y1 - y0, 1) * 0.1
            y0 -= pad
            y1 += pad
            func X(_ w: Double) -> Double { x0 + (w - wx0) / (wx1 - wx0) * panel }
            func Y(_ v: Double) -> Double { height - bottom - (v - y0) / (y1 - y0) * (height - top - bottom) }
            s += "<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(panel))\" height=\"\(f(height - top - bottom))\" fill=\"none\" stroke=\"#ccc\"/>\n"
            let yt = Report.ticks(y0, y1, count: 4)
            for (v, l) in zip(yt.values, yt.labels) {
                s += "<text x=\"\(f(x0 - 5))\" y=\"\(f(Y(v) + 4))\" text-anchor=\"end\">\(l)</text>"
                s += "<line x1=\"\(f(x0))\" y1=\"\(f(Y(v)))\" x2=\"\(f(x0 + panel))\" y2=\"\(f(Y(v)))\" stroke=\"#eee\"/>\n"
            }
            for w in ws { s += "<text x=\"\(f(X(w)))\" y=\"\(f(height - bottom + 15))\" text-anchor=\"middle\">\(StudyFile.format(w))</text>\n" }
            s += "<text x=\"\(f(x0 + panel / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(Self.esc(name)) vs weight on the safety model</text>\n"
            if let base {
                s += "<line class=\"baseline\" x1=\"\(f(x0))\" y1=\"\(f(Y(base)))\" x2=\"\(f(x0 + panel))\" y2=\"\(f(Y(base)))\" stroke=\"#d62728\" stroke-dasharray=\"5 3\"/>"
                s += "<text x=\"\(f(x0 + panel - 4))\" y=\"\(f(Y(base) - 4))\" text-anchor=\"end\" fill=\"#d62728\">15 % mix</text>\n"
            }
            let line = zip(ws, values).compactMap { w, v in v.map { "\(f(X(w))),\(f(Y($0.estimate)))" } }
            s += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"\(line.joined(separator: " "))\"/>\n"
            for (w, v) in zip(ws, values) {
                guard let v else { continue }
                s += "<line x1=\"\(f(X(w)))\" y1=\"\(f(Y(v.low)))\" x2=\"\(f(X(w)))\" y2=\"\(f(Y(v.high)))\" stroke=\"#1f77b4\"/>"
                s += "<circle class=\"point\" cx=\"\(f(X(w)))\" cy=\"\(f(Y(v.estimate)))\" r=\"4\" fill=\"#1f77b4\"/>\n"
            }
        }
        return s + "</svg>\n"
    }
}
