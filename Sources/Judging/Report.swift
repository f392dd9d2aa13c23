import Foundation

/// Renders analyses — one per prompt set — as Markdown, a self-contained HTML page (inline CSS
/// and SVG, no scripts, no external resources), CSV (one row per number) and JSON.
///
/// Prompt sets stay apart: each has its own section. Languages appear in the analysis's order
/// (the paper's, from the caller) under their names. A table cell holds one number; intervals,
/// counts of judged and unparsable answers have columns of their own. Tables without rows are
/// left out, and the trade-off plot only appears when some candidate has both a harm change and
/// a win-rate.
public enum Report {
    static func pct(_ x: Double?, digits: Int = 1) -> String { x.map { String(format: "%.\(digits)f", $0 * 100) } ?? "–" }
    static func num(_ x: Double?, digits: Int = 1) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "–" }
    /// An interval as `low – high` (scaled), or "–".
    static func range(_ i: Interval?, scale: Double = 100, digits: Int = 1) -> String {
        guard let i else { return "–" }
        return String(format: "%.\(digits)f – %.\(digits)f", i.low * scale, i.high * scale)
    }
    static func est(_ i: Interval?, scale: Double = 100, digits: Int = 1) -> String {
        i.map { String(format: "%.\(digits)f", $0.estimate * scale) } ?? "–"
    }

    static func setTitle(_ a: Analysis) -> String { a.promptSet.map { "prompt set “\($0)”" } ?? "all prompts" }

    /// The trade-off points: harm change vs win-rate (ties half), all languages pooled.
    public struct Point: Sendable {
        public var candidate: String
        public var harm: Interval
        public var win: Interval
        public var pareto: Bool
    }

    /// The analyses the trade-off draws on: the first with harm changes and the first with
    /// win-rates (the same one when a set has both).
    static func tradeoffSources(_ sets: [Analysis]) -> (harm: Analysis, win: Analysis)? {
        let both = sets.first { !$0.harmChange.isEmpty && !$0.wins.isEmpty }
        guard let h = both ?? sets.first(where: { !$0.harmChange.isEmpty }),
              let w = both ?? sets.first(where: { !$0.wins.isEmpty }) else { return nil }
        return (h, w)
    }

    public static func points(_ a: Analysis) -> [Point] { points([a]) }

    public static func points(_ sets: [Analysis]) -> [Point] {
        guard let (ha, wa) = tradeoffSources(sets) else { return [] }
        var out: [Point] = []
        for c in ha.candidates where c != ha.reference {
            guard let h = ha.harmChange.first(where: { $0.candidate == c && $0.language == "all" })?.change,
                  let w = wa.wins.first(where: { $0.candidate == c && $0.language == "all" })?.winRateHalf else { continue }
            out.append(Point(candidate: c, harm: h, win: w, pareto: false))
        }
        for i in out.indices {
            // On the front when no other point is at least as good on both axes and better on one
            // (lower harm change, higher win-rate).
            out[i].pareto = !out.indices.contains { j in
                j != i && out[j].harm.estimate <= out[i].harm.estimate && out[j].win.estimate >= out[i].win.estimate
                    && (out[j].harm.estimate < out[i].harm.estimate || out[j].win.estimate > out[i].win.estimate)
            }
        }
        return out
    }

    /// A Markdown table; empty when there are no rows.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        guard !rows.isEmpty else { return "" }
        func clean(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
        var md = "| " + header.map(clean).joined(separator: " | ") + " |\n"
        md += "|" + header.indices.map { $0 == 0 ? "---|" : "---:|" }.joined() + "\n"
        for r in rows { md += "| " + r.map(clean).joined(separator: " | ") + " |\n" }
        return md + "\n"
    }

    public static func markdown(_ a: Analysis, title: String = "mixmerge evaluation") -> String { markdown([a], title: title) }

    public static func markdown(_ sets: [Analysis], title: String = "mixmerge evaluation", warnings: [String] = []) -> String {
        var md = "# \(title)\n\n"
        for w in warnings { md += "> **Warning:** \(w)\n\n" }
        guard let first = sets.first else { return md }
        let reference = first.reference
        md += "Reference (base) model: **\(reference ?? "none")**. Intervals are 95 %: Wilson for rates; percentile bootstrap "
            + "(\(first.replicates) replicates, seed \(first.seed)) resampling source prompts with all their translations for changes "
            + "and win-rates."
            + (sets.contains { !$0.harmChange.isEmpty }
                ? " Harmful-rate change = 100·(h − h₀)/h₀, h and h₀ the harmful rates of the table (each over that model's parsable "
                    + "answers), as the paper computes it; \"both parsed\" is the same change over only the prompts where both verdicts parse."
                : "")
            + "\n\n"

        // The paper's Table 1: one row per candidate, harm from the harm set, wins from the pairwise set.
        if let ref = reference {
            let h = sets.first { !$0.harmChange.isEmpty }, w = sets.first { !$0.wins.isEmpty }
            var header = ["candidate"]
            if h != nil { header += ["harmful-rate change %", "95 % interval"] }
            if w != nil { header += ["win-rate % (ties ½)", "95 % interval", "win-rate % (ties excluded)", "inconsistent pairs %"] }
            var rows: [[String]] = []
            if h != nil || w != nil {
                let candidates = Set((h?.candidates ?? []) + (w?.candidates ?? [])).sorted()
                for c in candidates where c != ref {
                    let hc = h?.harmChange.first { $0.candidate == c && $0.language == "all" }
                    let wr = w?.wins.first { $0.candidate == c && $0.language == "all" }
                    guard hc != nil || wr != nil else { continue }
                    var row = [c]
                    if h != nil { row += [est(hc?.change, scale: 1), range(hc?.change, scale: 1)] }
                    if w != nil { row += [est(wr?.winRateHalf), range(wr?.winRateHalf), est(wr?.winRateExcluded), pct(wr?.inconsistency)] }
                    rows.append(row)
                }
            }
            if !rows.isEmpty {
                md += "## Relative to \(ref), all languages (like the paper's Table 1)\n\n"
                var from: [String] = []
                if let h { from.append("harm on \(setTitle(h))") }
                if let w { from.append("win-rates on \(setTitle(w))") }
                md += from.joined(separator: ", ").prefix(1).uppercased() + from.joined(separator: ", ").dropFirst() + ".\n\n"
                md += table(header, rows)
            }
        }
        if !points(sets).isEmpty { md += "![trade-off](tradeoff.svg)\n\n" }

        for a in sets { md += section(a) }
        return md
    }

    /// One prompt set's tables.
    static func section(_ a: Analysis) -> String {
        let groups = a.languages + ["all"]
        let ref = a.reference ?? "the reference"
        var md = "## \(setTitle(a).prefix(1).uppercased() + setTitle(a).dropFirst())\n\n"
        var empty = true

        let harmCandidates = a.candidates.filter { c in a.harm.contains { $0.candidate == c } }
        if !harmCandidates.isEmpty {
            empty = false
            let withChange = !a.harmChange.isEmpty
            var header = ["language", "candidate", "harmful %", "95 % interval", "n", "unparsable"]
            if withChange { header += ["change vs \(ref) %", "95 % interval", "change, both parsed %", "95 % interval", "both parsed"] }
            var rows: [[String]] = []
            for g in groups {
                for c in harmCandidates {
                    guard let r = a.harm.first(where: { $0.candidate == c && $0.group == g }) else { continue }
                    var row = [a.languageName(g), c, est(r.rate), range(r.rate), "\(r.harmful + r.notHarmful)", "\(r.unparsable)"]
                    if withChange {
                        if let ch = a.harmChange.first(where: { $0.candidate == c && $0.language == g }) {
                            row += [est(ch.change, scale: 1), range(ch.change, scale: 1), est(ch.pairedChange, scale: 1),
                                    range(ch.pairedChange, scale: 1), "\(ch.prompts)"]
                        } else {
                            row += ["–", "–", "–", "–", "–"]
                        }
                    }
                    rows.append(row)
                }
            }
            md += "### Harmful generations\n\n" + table(header, rows)
        }
        if !a.harmByCategory.isEmpty {
            let rows = a.harmByCategory.sorted { ($0.group, $0.candidate) < ($1.group, $1.candidate) }.map { r in
                [r.group, r.candidate, est(r.rate), range(r.rate), "\(r.harmful + r.notHarmful)", "\(r.unparsable)"]
            }
            md += "### Harmful generations per harm category\n\n"
                + table(["category", "candidate", "harmful %", "95 % interval", "n", "unparsable"], rows)
        }
        let winCandidates = a.candidates.filter { c in a.wins.contains { $0.candidate == c } }
        if !winCandidates.isEmpty {
            empty = false
            var rows: [[String]] = []
            for g in groups {
                for c in winCandidates {
                    guard let w = a.wins.first(where: { $0.candidate == c && $0.language == g }) else { continue }
                    rows.append([a.languageName(g), c, est(w.winRateHalf), range(w.winRateHalf), est(w.winRateExcluded), range(w.winRateExcluded),
                                 "\(w.wins)", "\(w.ties)", "\(w.losses)", "\(w.unparsable)", "\(w.flips)", pct(w.inconsistency)])
                }
            }
            md += "### Win-rate vs \(ref)\n\n" + table(
                ["language", "candidate", "win-rate % (ties ½)", "95 % interval", "win-rate % (ties excluded)", "95 % interval",
                 "wins", "ties", "losses", "unparsable", "flips", "inconsistent %"], rows)
            let details = a.wins.filter { $0.language == "all" }.map { w in
                [w.candidate, pct(w.logprobPreference), num(w.meanLengthCandidate, digits: 0), num(w.meanLengthReference, digits: 0), pct(w.longerWins)]
            }
            md += "### Pairwise details, all languages\n\n" + table(
                ["candidate", "log-prob preference %", "mean length (candidate)", "mean length (\(ref))", "P(longer wins) %"], details)
        }
        let paired = a.paired.filter { $0.harmDifference != nil || $0.winRateDifference != nil }
        if !paired.isEmpty {
            var header = ["first", "second"]
            let harm = paired.contains { $0.harmDifference != nil }, win = paired.contains { $0.winRateDifference != nil }
            if harm { header += ["harmful-rate difference (pp)", "95 % interval"] }
            if win { header += ["win-rate difference (pp, ties ½)", "95 % interval"] }
            let rows = paired.map { p in
                [p.first, p.second] + (harm ? [est(p.harmDifference, scale: 1), range(p.harmDifference, scale: 1)] : [])
                    + (win ? [est(p.winRateDifference), range(p.winRateDifference)] : [])
            }
            md += "### Paired comparisons (same prompts)\n\n" + table(header, rows)
        }
        if empty { md += "No judgments for this prompt set.\n\n" }
        return md
    }

    /// Axis ticks at a round step (1, 2 or 5 × 10ᵏ) inside [lo, hi], with the decimals that keep
    /// every label distinct.
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> (values: [Double], labels: [String]) {
        let span = max(hi - lo, 1e-9)
        let raw = span / Double(max(1, count))
        let magnitude = Foundation.pow(10, (Foundation.log10(raw)).rounded(.down))
        let n = raw / magnitude
        let step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * magnitude
        let digits = max(0, -Int(Foundation.log10(step).rounded(.down)))
        var values: [Double] = []
        var v = (lo / step).rounded(.up) * step
        while v <= hi + step * 1e-9 {
            values.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return (values, values.map { String(format: "%.\(digits)f", $0) })
    }

    public static func svg(_ a: Analysis, width: Double = 640, height: Double = 440) -> String? { svg([a], width: width, height: height) }

    /// The trade-off picture: harmful-rate change (x, lower is better) against win-rate (y,
    /// higher is better), with 95 % interval bars and the Pareto front joined; nil when no
    /// candidate has both numbers.
    public static func svg(_ sets: [Analysis], width: Double = 640, height: Double = 440) -> String? {
        let pts = points(sets)
        guard !pts.isEmpty, let (ha, wa) = tradeoffSources(sets) else { return nil }
        let left = 70.0, right = 20.0, top = 20.0, bottom = 50.0
        let xs: [Double] = pts.flatMap { [$0.harm.low, $0.harm.high] } + [0]
        let ys: [Double] = pts.flatMap { [$0.win.low * 100, $0.win.high * 100] } + [50]
        func pad(_ lo: Double, _ hi: Double) -> (Double, Double) { let d = max(hi - lo, 1) * 0.08; return (lo - d, hi + d) }
        let (x0, x1) = pad(xs.min() ?? -1, xs.max() ?? 1)
        let (ya, yb) = pad(ys.min() ?? 0, ys.max() ?? 100)
        let (y0, y1) = (max(0, ya), min(100, yb))
        func X(_ v: Double) -> Double { left + (v - x0) / (x1 - x0) * (width - left - right) }
        func Y(_ v: Double) -> Double { height - bottom - (v - y0) / (y1 - y0) * (height - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func esc(_ s: String) -> String { s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;") }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" height=\"\(f(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"white\"/>\n"
        let xt = ticks(x0, x1), yt = ticks(y0, y1)
        for (v, label) in zip(xt.values, xt.labels) {
            s += "<line x1=\"\(f(X(v)))\" y1=\"\(f(top))\" x2=\"\(f(X(v)))\" y2=\"\(f(height - bottom))\" stroke=\"#eee\"/>"
            s += "<text class=\"tick x\" x=\"\(f(X(v)))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for (v, label) in zip(yt.values, yt.labels) {
            s += "<line x1=\"\(f(left))\" y1=\"\(f(Y(v)))\" x2=\"\(f(width - right))\" y2=\"\(f(Y(v)))\" stroke=\"#eee\"/>"
            s += "<text class=\"tick y\" x=\"\(f(left - 6))\" y=\"\(f(Y(v) + 4))\" text-anchor=\"end\">\(label)</text>\n"
        }
        s += "<line x1=\"\(f(X(0)))\" y1=\"\(f(top))\" x2=\"\(f(X(0)))\" y2=\"\(f(height - bottom))\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
        if y0 <= 50 && 50 <= y1 {
            s += "<line x1=\"\(f(left))\" y1=\"\(f(Y(50)))\" x2=\"\(f(width - right))\" y2=\"\(f(Y(50)))\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
        }
        let harmOn = ha.promptSet.map { " on \($0)" } ?? "", winOn = wa.promptSet.map { " on \($0)" } ?? ""
        s += "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">harmful-rate change vs \(esc(ha.reference ?? "reference"))\(esc(harmOn)) (%, lower is safer)</text>\n"
        s += "<text transform=\"translate(16 \(f((top + height - bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">win-rate vs reference\(esc(winOn)) (%, ties ½)</text>\n"
        let front = pts.filter(\.pareto).sorted { $0.harm.estimate < $1.harm.estimate }
        if front.count > 1 {
            s += "<polyline class=\"pareto\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\" points=\""
                + front.map { "\(f(X($0.harm.estimate))),\(f(Y($0.win.estimate * 100)))" }.joined(separator: " ") + "\"/>\n"
        }
        for p in pts {
            let cx = X(p.harm.estimate), cy = Y(p.win.estimate * 100)
            let colour = p.pareto ? "#d62728" : "#1f77b4"
            s += "<g class=\"point\" data-candidate=\"\(esc(p.candidate))\">"
            s += "<line x1=\"\(f(X(p.harm.low)))\" y1=\"\(f(cy))\" x2=\"\(f(X(p.harm.high)))\" y2=\"\(f(cy))\" stroke=\"\(colour)\"/>"
            s += "<line x1=\"\(f(cx))\" y1=\"\(f(Y(p.win.low * 100)))\" x2=\"\(f(cx))\" y2=\"\(f(Y(p.win.high * 100)))\" stroke=\"\(colour)\"/>"
            s += "<circle cx=\"\(f(cx))\" cy=\"\(f(cy))\" r=\"5\" fill=\"\(colour)\"/>"
            s += "<text x=\"\(f(cx + 8))\" y=\"\(f(cy - 8))\">\(esc(p.candidate))\(p.pareto ? " ★" : "")</text></g>\n"
        }
        s += "</svg>\n"
        return s
    }

    public static func html(_ a: Analysis, title: String = "mixmerge evaluation") -> String { html([a], title: title) }

    public static func html(_ sets: [Analysis], title: String = "mixmerge evaluation", warnings: [String] = []) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        // Markdown tables → HTML tables (the only Markdown the report uses besides headings).
        var body = ""
        var inTable = false
        var header: [String] = []
        for line in markdown(sets, title: title, warnings: warnings).split(separator: "\n", omittingEmptySubsequences: false) {
            let l = String(line)
            if l.hasPrefix("|") {
                var cells: [String] = []
                var cell = ""
                var escaped = false
                for ch in l.dropFirst() {
                    if escaped { cell.append(ch); escaped = false } else if ch == "\\" { escaped = true }
                    else if ch == "|" { cells.append(cell.trimmingCharacters(in: .whitespaces)); cell = "" } else { cell.append(ch) }
                }
                if cells.allSatisfy({ $0.allSatisfy { $0 == "-" || $0 == ":" } }) { continue }
                if !inTable {
                    header = cells
                    body += "<table>\n<tr>" + cells.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
                    inTable = true
                    continue
                }
                body += "<tr>" + cells.enumerated().map { i, c in
                    let tip = i < header.count ? " title=\"\(esc(header[i]).replacingOccurrences(of: "\"", with: "&quot;"))\"" : ""
                    return "<td\(isNumber(c) ? " class=\"n\"" : "")\(tip)>\(esc(c).replacingOccurrences(of: "**", with: ""))</td>"
                }.joined() + "</tr>\n"
                continue
            }
            if inTable { body += "</table>\n"; inTable = false }
            if l.hasPrefix("# ") { body += "<h1>\(esc(String(l.dropFirst(2))))</h1>\n" }
            else if l.hasPrefix("## ") { body += "<h2>\(esc(String(l.dropFirst(3))))</h2>\n" }
            else if l.hasPrefix("### ") { body += "<h3>\(esc(String(l.dropFirst(4))))</h3>\n" }
            else if l.hasPrefix("> ") { body += "<p class=\"warning\">\(esc(String(l.dropFirst(2))).replacingOccurrences(of: "**", with: ""))</p>\n" }
            else if l.hasPrefix("!["), let picture = svg(sets) {
                body += "<figure>\n" + picture
                    + "<figcaption>Trade-off: each point a candidate, bars 95 % intervals, ★ and the red line the Pareto front.</figcaption></figure>\n"
            }
            else if !l.isEmpty { body += "<p>\(esc(l).replacingOccurrences(of: "**", with: ""))</p>\n" }
        }
        if inTable { body += "</table>\n" }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
            <style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
            table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
            td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}
            tr:nth-child(even) td{background:#fafafa}figure{margin:1em 0}h3{margin-bottom:0.2em}
            .warning{background:#fff3cd;border:1px solid #e0c36a;padding:0.6em 1em}</style></head>
            <body>
            \(body)</body></html>

            """
    }

    /// A cell that holds a number, an interval `a – b` or the no-value dash (right-aligned).
    static func isNumber(_ cell: String) -> Bool {
        if cell == "–" { return true }
        let parts = cell.components(separatedBy: " – ")
        return parts.count <= 2 && parts.allSatisfy { Double($0) != nil }
    }

    public static func csv(_ a: Analysis) -> String { csv([a]) }

    /// Every number as `set,table,candidate,group,metric,value,low,high`.
    public static func csv(_ sets: [Analysis]) -> String {
        var out = "set,table,candidate,group,metric,value,low,high\n"
        for a in sets {
            let set = a.promptSet ?? ""
            func row(_ t: String, _ c: String, _ g: String, _ m: String, _ v: Double?, _ i: Interval? = nil) {
                func q(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
                let value = v.map { String($0) } ?? ""
                out += [q(set), q(t), q(c), q(g), q(m), value, i.map { String($0.low) } ?? "", i.map { String($0.high) } ?? ""]
                    .joined(separator: ",") + "\n"
            }
            for r in a.harm {
                row("harm", r.candidate, r.group, "harmful_rate", r.rate?.estimate, r.rate)
                row("harm", r.candidate, r.group, "harmful", Double(r.harmful)); row("harm", r.candidate, r.group, "not_harmful", Double(r.notHarmful))
                row("harm", r.candidate, r.group, "unparsable", Double(r.unparsable))
            }
            for r in a.harmByCategory { row("harm_category", r.candidate, r.group, "harmful_rate", r.rate?.estimate, r.rate) }
            for r in a.harmChange {
                row("harm_change", r.candidate, r.language, "percent_change", r.change?.estimate, r.change)
                row("harm_change", r.candidate, r.language, "percent_change_both_parsed", r.pairedChange?.estimate, r.pairedChange)
                row("harm_change", r.candidate, r.language, "prompts_both_parsed", Double(r.prompts))
            }
            for r in a.wins {
                row("win", r.candidate, r.language, "win_rate_half", r.winRateHalf?.estimate, r.winRateHalf)
                row("win", r.candidate, r.language, "win_rate_excluded", r.winRateExcluded?.estimate, r.winRateExcluded)
                for (m, v) in [("wins", r.wins), ("ties", r.ties), ("losses", r.losses), ("unparsable", r.unparsable), ("flips", r.flips)] {
                    row("win", r.candidate, r.language, m, Double(v))
                }
                row("win", r.candidate, r.language, "inconsistency", r.inconsistency)
                row("win", r.candidate, r.language, "logprob_preference", r.logprobPreference)
                row("win", r.candidate, r.language, "longer_wins", r.longerWins)
            }
            for p in a.paired {
                row("paired", "\(p.first) vs \(p.second)", "all", "harm_difference_pp", p.harmDifference?.estimate, p.harmDifference)
                row("paired", "\(p.first) vs \(p.second)", "all", "win_rate_difference", p.winRateDifference?.estimate, p.winRateDifference)
            }
        }
        return out
    }

    public static func json(_ a: Analysis) throws -> String { try json([a]) }

    /// `{"sets": [analysis…], "warnings": […]}`.
    public static func json(_ sets: [Analysis], warnings: [String] = []) throws -> String {
        struct Document: Encodable { var sets: [Analysis]; var warnings: [String] }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(Document(sets: sets, warnings: warnings)), as: UTF8.self) + "\n"
    }
}
