import Foundation

/// Renders an `Analysis` as Markdown, a self-contained HTML page (inline CSS and SVG, no
/// scripts, no external resources), CSV (one row per number) and JSON.
public enum Report {
    static func pct(_ x: Double?, digits: Int = 1) -> String { x.map { String(format: "%.\(digits)f", $0 * 100) } ?? "–" }
    static func num(_ x: Double?, digits: Int = 1) -> String { x.map { String(format: "%.\(digits)f", $0) } ?? "–" }
    static func ci(_ i: Interval?, scale: Double = 100, digits: Int = 1) -> String {
        guard let i else { return "–" }
        let f = "%.\(digits)f"
        return String(format: "\(f) [\(f), \(f)]", i.estimate * scale, i.low * scale, i.high * scale)
    }

    /// The trade-off points: harm change vs win-rate (ties half), all languages pooled.
    public struct Point: Sendable {
        public var candidate: String
        public var harm: Interval
        public var win: Interval
        public var pareto: Bool
    }

    public static func points(_ a: Analysis) -> [Point] {
        var out: [Point] = []
        for c in a.candidates where c != a.reference {
            guard let h = a.harmChange.first(where: { $0.candidate == c && $0.language == "all" })?.change,
                  let w = a.wins.first(where: { $0.candidate == c && $0.language == "all" })?.winRateHalf else { continue }
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

    public static func markdown(_ a: Analysis, title: String = "mixmerge evaluation") -> String {
        var md = "# \(title)\n\n"
        md += "Reference (base) model: **\(a.reference ?? "none")**. Intervals are 95 %: Wilson for rates; percentile bootstrap "
            + "(\(a.replicates) replicates, seed \(a.seed)) resampling source prompts with all their translations for changes and win-rates.\n\n"
        md += "## Relative to the reference (like the paper's Table 1)\n\n"
        md += "| candidate | harmful-rate change % (all languages) | win-rate % vs reference (ties ½) | win-rate % (ties excluded) | inconsistent pairs % |\n|---|---|---|---|---|\n"
        for c in a.candidates where c != a.reference {
            let h = a.harmChange.first { $0.candidate == c && $0.language == "all" }
            let w = a.wins.first { $0.candidate == c && $0.language == "all" }
            md += "| \(c) | \(ci(h?.change, scale: 1)) | \(ci(w?.winRateHalf)) | \(ci(w?.winRateExcluded)) | \(pct(w?.inconsistency)) |\n"
        }
        md += "\n![trade-off](tradeoff.svg)\n"
        md += "\n## Harmful generations per language (%)\n\n| candidate | " + (a.languages + ["all"]).joined(separator: " | ") + " |\n"
        md += "|---|" + String(repeating: "---|", count: a.languages.count + 1) + "\n"
        for c in a.candidates where a.harm.contains(where: { $0.candidate == c }) {
            md += "| \(c) | " + (a.languages + ["all"]).map { g in
                let r = a.harm.first { $0.candidate == c && $0.group == g }
                return r.map { "\(ci($0.rate)) (n=\($0.harmful + $0.notHarmful)\($0.unparsable > 0 ? ", \($0.unparsable) unparsable" : ""))" } ?? "–"
            }.joined(separator: " | ") + " |\n"
        }
        if !a.harmChange.isEmpty {
            md += "\n## Harmful-rate change vs the reference per language (%)\n\n| candidate | " + (a.languages + ["all"]).joined(separator: " | ") + " |\n"
            md += "|---|" + String(repeating: "---|", count: a.languages.count + 1) + "\n"
            for c in a.candidates where c != a.reference && a.harmChange.contains(where: { $0.candidate == c }) {
                md += "| \(c) | " + (a.languages + ["all"]).map { g in ci(a.harmChange.first { $0.candidate == c && $0.language == g }?.change, scale: 1) }
                    .joined(separator: " | ") + " |\n"
            }
        }
        if !a.wins.isEmpty {
            md += "\n## Win-rate vs the reference per language (%, ties ½)\n\n| candidate | " + (a.languages + ["all"]).joined(separator: " | ") + " |\n"
            md += "|---|" + String(repeating: "---|", count: a.languages.count + 1) + "\n"
            for c in a.candidates where a.wins.contains(where: { $0.candidate == c }) {
                md += "| \(c) | " + (a.languages + ["all"]).map { g in ci(a.wins.first { $0.candidate == c && $0.language == g }?.winRateHalf) }
                    .joined(separator: " | ") + " |\n"
            }
            md += "\n## Pairwise details (all languages)\n\n| candidate | wins | ties | losses | unparsable | flips | log-prob preference | mean length (cand / ref) | P(longer wins) |\n|---|---|---|---|---|---|---|---|---|\n"
            for w in a.wins where w.language == "all" {
                md += "| \(w.candidate) | \(w.wins) | \(w.ties) | \(w.losses) | \(w.unparsable) | \(w.flips) | \(pct(w.logprobPreference)) | "
                    + "\(num(w.meanLengthCandidate, digits: 0)) / \(num(w.meanLengthReference, digits: 0)) | \(pct(w.longerWins)) |\n"
            }
        }
        if !a.harmByCategory.isEmpty {
            md += "\n## Harmful generations per harm category (%)\n\n| candidate | category | harmful % | n |\n|---|---|---|---|\n"
            for r in a.harmByCategory { md += "| \(r.candidate) | \(r.group) | \(ci(r.rate)) | \(r.harmful + r.notHarmful) |\n" }
        }
        if !a.paired.isEmpty {
            md += "\n## Paired comparisons (same prompts)\n\n| first | second | harmful-rate difference (pp) | win-rate difference (pp, ties ½) |\n|---|---|---|---|\n"
            for p in a.paired { md += "| \(p.first) | \(p.second) | \(ci(p.harmDifference, scale: 1)) | \(ci(p.winRateDifference)) |\n" }
        }
        return md
    }

    /// The trade-off picture: harmful-rate change (x, lower is better) against win-rate (y,
    /// higher is better), with 95 % interval bars and the Pareto front joined.
    public static func svg(_ a: Analysis, width: Double = 640, height: Double = 440) -> String {
        let pts = points(a)
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
        for k in 0...5 {
            let xv = x0 + (x1 - x0) * Double(k) / 5, yv = y0 + (y1 - y0) * Double(k) / 5
            s += "<line x1=\"\(f(X(xv)))\" y1=\"\(f(top))\" x2=\"\(f(X(xv)))\" y2=\"\(f(height - bottom))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(f(X(xv)))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"middle\">\(f(xv))</text>\n"
            s += "<line x1=\"\(f(left))\" y1=\"\(f(Y(yv)))\" x2=\"\(f(width - right))\" y2=\"\(f(Y(yv)))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(Y(yv) + 4))\" text-anchor=\"end\">\(f(yv))</text>\n"
        }
        s += "<line x1=\"\(f(X(0)))\" y1=\"\(f(top))\" x2=\"\(f(X(0)))\" y2=\"\(f(height - bottom))\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
        s += "<line x1=\"\(f(left))\" y1=\"\(f(Y(50)))\" x2=\"\(f(width - right))\" y2=\"\(f(Y(50)))\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
        s += "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">harmful-rate change vs \(esc(a.reference ?? "reference")) (%, lower is safer)</text>\n"
        s += "<text transform=\"translate(16 \(f((top + height - bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">win-rate vs reference (%, ties ½)</text>\n"
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

    public static func html(_ a: Analysis, title: String = "mixmerge evaluation") -> String {
        // Markdown tables → HTML tables (the only Markdown the report uses besides headings).
        var body = ""
        var inTable = false
        for line in markdown(a, title: title).split(separator: "\n", omittingEmptySubsequences: false) {
            let l = String(line)
            func esc(_ s: String) -> String {
                s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            }
            if l.hasPrefix("|") {
                let cells = l.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) }
                if cells.allSatisfy({ $0.allSatisfy { $0 == "-" } }) { continue }
                if !inTable { body += "<table>\n<tr>" + cells.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"; inTable = true; continue }
                body += "<tr>" + cells.map { "<td>\(esc($0).replacingOccurrences(of: "**", with: ""))</td>" }.joined() + "</tr>\n"
                continue
            }
            if inTable { body += "</table>\n"; inTable = false }
            if l.hasPrefix("# ") { body += "<h1>\(esc(String(l.dropFirst(2))))</h1>\n" }
            else if l.hasPrefix("## ") { body += "<h2>\(esc(String(l.dropFirst(3))))</h2>\n" }
            else if l.hasPrefix("![") { body += "<figure>\n" + svg(a) + "<figcaption>Trade-off: each point a candidate, bars 95 % intervals, ★ and the red line the Pareto front.</figcaption></figure>\n" }
            else if !l.isEmpty { body += "<p>\(esc(l).replacingOccurrences(of: "**", with: ""))</p>\n" }
        }
        if inTable { body += "</table>\n" }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title)</title>
            <style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
            table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
            td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}figure{margin:1em 0}</style></head>
            <body>
            \(body)</body></html>

            """
    }

    /// Every number as `table,candidate,group,metric,value,low,high`.
    public static func csv(_ a: Analysis) -> String {
        var out = "table,candidate,group,metric,value,low,high\n"
        func row(_ t: String, _ c: String, _ g: String, _ m: String, _ v: Double?, _ i: Interval? = nil) {
            func q(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
            let value = v.map { String($0) } ?? ""
            out += [q(t), q(c), q(g), q(m), value, i.map { String($0.low) } ?? "", i.map { String($0.high) } ?? ""].joined(separator: ",") + "\n"
        }
        for r in a.harm {
            row("harm", r.candidate, r.group, "harmful_rate", r.rate?.estimate, r.rate)
            row("harm", r.candidate, r.group, "harmful", Double(r.harmful)); row("harm", r.candidate, r.group, "not_harmful", Double(r.notHarmful))
            row("harm", r.candidate, r.group, "unparsable", Double(r.unparsable))
        }
        for r in a.harmByCategory { row("harm_category", r.candidate, r.group, "harmful_rate", r.rate?.estimate, r.rate) }
        for r in a.harmChange { row("harm_change", r.candidate, r.language, "percent_change", r.change?.estimate, r.change) }
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
        return out
    }

    public static func json(_ a: Analysis) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(a), as: UTF8.self) + "\n"
    }
}
