import BTF
import CORE

/// The coverage report as one self-contained HTML page (`btf-trim --report-html FILE`): inline CSS
/// and JavaScript, no network. Program verdict rows first (one per program, kernels across,
/// grouped by distro version), then the relocations grouped by object with identical rows
/// collapsed; cells of the same colour in a row are one run (`colspan`), which keeps a suite of 60
/// objects on 4,000 kernels small. The page reads without JavaScript; the script adds the filters
/// (by object and outcome), the tooltips and the row highlight.
extension CoverageReport {
    /// The page's HTML text.
    public func html() -> String {
        var page = HTMLText()
        let covered = coveredKernelCount
        let fullyCovered = kernels.filter { $0.failure == nil && $0.problems.isEmpty }.count
        let problems = problemRelocations
        let title = "CO-RE coverage: \(programs.count) programs, \(relocations.count) relocations on \(kernels.count) kernels"
        page.raw("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
        page.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"); page.text(title); page.raw("</title>\n")
        page.raw("<style>\n\(CoverageReport.styleSheet)</style>\n</head>\n<body>\n")

        page.raw("<header><h1>CO-RE relocation coverage</h1>\n<p class=\"sub\">")
        page.text(objects.map { $0.split(separator: "/").last.map(String.init) ?? $0 }.joined(separator: ", "))
        page.raw(" &middot; "); page.text(input); page.raw("</p>\n<div class=\"cards\">")
        func card(_ number: Int, _ label: String, _ style: String) {
            page.raw("<div class=\"card \(style)\"><b>\(number)</b><span>"); page.text(label); page.raw("</span></div>")
        }
        card(covered, "kernels checked", "")
        if hasVerdicts {
            let bad = problemPrograms.count
            card(programs.count - bad, "of \(programs.count) programs load on every kernel", bad == 0 ? "good" : "")
            card(bad, "programs do not load somewhere", bad == 0 ? "good" : "bad")
            card(blockingRelocations.count, "relocations stop a program somewhere", blockingRelocations.isEmpty ? "good" : "bad")
            card(guardedRelocations.count, "poisoned relocations are guarded (fine)", "")
        } else {
            card(fullyCovered, "kernels where every relocation resolves", fullyCovered == covered ? "good" : "")
            card(covered - fullyCovered, "kernels where something does not", covered == fullyCovered ? "" : "bad")
            card(problems.count, "of \(relocations.count) relocations fail somewhere", problems.isEmpty ? "good" : "bad")
        }
        if covered < kernels.count { card(kernels.count - covered, "kernels not readable", "bad") }
        page.raw("</div></header>\n")

        filters(into: &page)
        if hasVerdicts { programMap(into: &page) }
        heatMap(into: &page)

        let blocking = blockingRelocations, guarded = guardedRelocations
        page.raw("<section><h2>Relocations that do not work everywhere</h2>\n")
        if hasVerdicts {
            page.raw(blocking.isEmpty ? "<p class=\"ok\">No relocation stops a program on any kernel checked.</p>\n" : "<h3>Stopping a program</h3>\n")
            if !blocking.isEmpty {
                page.raw("<table class=\"list\" id=\"problems\"><thead><tr><th>relocation</th><th>kind</th><th>instruction</th>"
                         + "<th class=\"n\">poisoned</th><th class=\"n\">ambiguous</th><th class=\"n\">failed</th><th class=\"n\">of</th>"
                         + "<th>where</th><th>example reason</th></tr></thead><tbody>\n")
                for item in blocking { problemRow(item, status: "bad", into: &page) }
                page.raw("</tbody></table>\n")
            }
            if !guarded.isEmpty {
                page.raw("<h3>Guarded (fine) <small>poisoned where no program reaches them once the relocated constants are known</small></h3>\n")
                page.raw("<table class=\"list\" id=\"guarded\"><thead><tr><th>relocation</th><th>kind</th><th>instruction</th>"
                         + "<th class=\"n\">poisoned</th><th class=\"n\">ambiguous</th><th class=\"n\">failed</th><th class=\"n\">of</th>"
                         + "<th>where</th><th>example reason</th></tr></thead><tbody>\n")
                for item in guarded { problemRow(item, status: "guarded", into: &page) }
                page.raw("</tbody></table>\n")
            }
        } else if problems.isEmpty {
            page.raw("<p class=\"ok\">Every relocation resolves on every kernel checked.</p>\n")
        } else {
            page.raw("<table class=\"list\" id=\"problems\"><thead><tr><th>relocation</th><th>kind</th><th>instruction</th>"
                     + "<th class=\"n\">poisoned</th><th class=\"n\">ambiguous</th><th class=\"n\">failed</th><th class=\"n\">of</th>"
                     + "<th>where</th><th>example reason</th></tr></thead><tbody>\n")
            for item in problems { problemRow(item, status: "bad", into: &page) }
            page.raw("</tbody></table>\n")
        }
        let absent = absentExistenceChecks
        if !absent.isEmpty {
            page.raw("<h3>Existence checks that are 0 somewhere <small>(fine: the program branches on them)</small></h3>\n")
            page.raw("<table class=\"list\" id=\"absent\"><thead><tr><th>relocation</th><th>kind</th><th>instruction</th><th class=\"n\">0 on</th>"
                     + "<th class=\"n\">of</th><th>where</th></tr></thead><tbody>\n")
            for item in absent {
                let relocation = relocations[item.relocationIndex]
                page.raw("<tr data-o=\"\(relocation.objectIndex)\" data-s=\"guarded\"><td class=\"name\">"); page.text(relocation.name); page.raw("</td><td>"); page.text("\(relocation.kind)")
                page.raw("</td><td class=\"loc\">"); page.text(relocation.location)
                page.raw("</td><td class=\"n\">\(item.counts["A", default: 0])</td><td class=\"n\">\(item.kernelCount)</td><td>")
                page.text(places(item)); page.raw("</td></tr>\n")
            }
            page.raw("</tbody></table>\n")
        }
        page.raw("</section>\n")

        groupTable(into: &page)
        kernelTable(into: &page)
        relocationTable(into: &page)

        page.raw("<footer>Generated by btf-trim (BTFKit). Outcomes are libbpf's CO-RE decisions computed from each kernel's BTF; "
                 + "a poisoned instruction fails the load only if the verifier can reach it.</footer>\n")
        page.raw("<div id=\"tip\" hidden></div>\n")
        page.raw("<script type=\"application/json\" id=\"coverage-data\">"); page.raw(tooltipData()); page.raw("</script>\n")
        page.raw("<script>\n\(CoverageReport.script)</script>\n</body></html>\n")
        return page.text
    }

    /// Writes `html()` to `path` atomically.
    public func writeHTML(to path: String) throws(BTFError) {
        try FileIO.writeAtomically(Array(html().utf8), to: path)
    }

    /// Heat-map rows per object (in object order): relocations that fail somewhere (worst first),
    /// then existence checks that are 0 somewhere, then the rest in table order; a row whose
    /// relocation has the same name, kind, outcome on every kernel and status (stops a program,
    /// guarded, fine) as a row before it in the same object is folded into it (`count` > 1).
    var heatMapRows: [(relocation: Int, count: Int)] {
        let problems = problemRelocations.map(\.relocationIndex)
        let problemSet = Set(problems)
        let absent = absentExistenceChecks.map(\.relocationIndex).filter { !problemSet.contains($0) }
        let shown = problemSet.union(absent)
        let order = problems + absent + relocations.indices.filter { !shown.contains($0) }
        var rows: [(relocation: Int, count: Int)] = []
        var seen: [String: Int] = [:]
        let blocking = Set(blockingRelocations.map(\.relocationIndex))
        for object in objects.indices {
            for r in order where relocations[r].objectIndex == object {
                // The status too: a read that stops a program is not folded into guarded ones.
                let key = "\(object)\u{1}\(relocations[r].name)\u{1}\(relocations[r].kind)\u{1}\(rowStatus(r, blocking: blocking))\u{1}"
                    + String(kernels.map { r < $0.outcomes.count ? $0.outcomes[r].code : "X" })
                if let row = seen[key] { rows[row].count += 1; continue }
                seen[key] = rows.count
                rows.append((r, 1))
            }
        }
        return rows
    }

    /// Runs of equal codes in a row: (code, first kernel, length). Runs cross distro version
    /// boundaries (the header shows them): outcomes mostly change with the kernel version, so a
    /// row of 4,000 kernels is a handful of cells.
    static func runs<Code: Equatable>(_ codes: [Code]) -> [(code: Code, start: Int, count: Int)] {
        var result: [(code: Code, start: Int, count: Int)] = []
        for (k, code) in codes.enumerated() {
            if let last = result.last, last.code == code { result[result.count - 1].count += 1 }
            else { result.append((code, k, 1)) }
        }
        return result
    }

    /// One row's cells: one `td` per run; its first kernel is the sum of the spans before it (the
    /// end tag is optional in HTML, and leaving it out keeps big maps small).
    private func cells(_ codes: [String], groupStarts: Set<Int>, into page: inout HTMLText) {
        for run in CoverageReport.runs(codes) {
            let span = run.count > 1 ? " colspan=\"\(run.count)\"" : ""
            page.raw("<td class=\"c \(run.code)\(groupStarts.contains(run.start) && run.start > 0 ? " gs" : "")\"\(span)>")
        }
    }

    /// The object and outcome filters (the script applies them; without it every row shows).
    private func filters(into page: inout HTMLText) {
        page.raw("<form class=\"filters\" id=\"filters\"><label>object <select id=\"f-object\"><option value=\"\">all \(objects.count)</option>")
        for (o, path) in objects.enumerated() {
            page.raw("<option value=\"\(o)\">"); page.text(path.split(separator: "/").last.map(String.init) ?? path); page.raw("</option>")
        }
        page.raw("</select></label> <label>outcome <select id=\"f-outcome\"><option value=\"\">all rows</option>"
                 + "<option value=\"bad\">does not load / does not work somewhere</option><option value=\"guarded\">guarded or 0 somewhere (fine)</option>"
                 + "<option value=\"good\">works everywhere</option></select></label></form>\n")
    }

    /// Program verdict rows: programs that do not load somewhere first (worst first), then the rest.
    private func programMap(into page: inout HTMLText) {
        page.raw("<section><h2>Programs</h2>\n<p class=\"legend\">")
        for (code, meaning) in GuardVerdict.legend {
            page.raw("<span><i class=\"c v\(code)\"></i>"); page.text(meaning); page.raw("</span>")
        }
        page.raw("</p>\n<div class=\"scroll\"><table class=\"heat\" id=\"programs\" style=\"width: \(300 + 10 * kernels.count)px\"><thead>")
        heatHeader(into: &page)
        page.raw("</thead>\n<tbody>\n")
        let bad = problemPrograms.map(\.programIndex)
        let badSet = Set(bad)
        let groupStarts = Set(groups.map(\.kernelIndices.lowerBound))
        for p in bad + programs.indices.filter({ !badSet.contains($0) }) {
            let program = programs[p], item = programCoverage[p]
            let status = item.problemCount > 0 ? "bad" : item.counts["G", default: 0] > 0 ? "guarded" : "good"
            page.raw("<tr data-p=\"\(p)\" data-o=\"\(program.objectIndex)\" data-s=\"\(status)\"><th class=\"rl\" title=\"")
            page.text(item.problemCount > 0 ? sentence(for: item) : "\(program.objectName) \(program.name) (\(program.sectionName)): loads on every kernel")
            page.raw("\">"); page.text(program.name); page.raw(" <span class=\"k\">"); page.text(program.objectName.replacingSuffix(".bpf.o"))
            page.raw("</span></th>")
            // Verdict classes are vL, vG, vX, vF (vN: kernel not readable), apart from the outcome codes.
            cells(kernels.map { p < $0.verdicts.count ? "v" + String($0.verdicts[p].code) : "vN" }, groupStarts: groupStarts, into: &page)
            page.raw("</tr>\n")
        }
        page.raw("</tbody></table></div></section>\n")
    }

    /// The two header rows of a heat map: distro versions, then kernel major.minor series.
    private func heatHeader(into page: inout HTMLText) {
        let groupStarts = Set(groups.map(\.kernelIndices.lowerBound))
        page.raw("<tr><th class=\"rl\">distro version</th>")
        for group in groups {
            page.raw("<th class=\"g\" colspan=\"\(group.kernelIndices.count)\" title=\"")
            page.text("\(group.key): \(group.kernelIndices.count) kernels"); page.raw("\">")
            page.text(group.label); page.raw("<small>\(group.kernelIndices.count)</small></th>")
        }
        page.raw("</tr>\n<tr><th class=\"rl sub\">kernel version</th>")
        // Within a distro version, runs of the same kernel major.minor (debian 10 ships 4.19 and 5.10).
        var k = 0
        while k < kernels.count {
            let series = kernels[k].series
            var end = k + 1
            while end < kernels.count && kernels[end].series == series && !groupStarts.contains(end) { end += 1 }
            page.raw("<th class=\"v\(groupStarts.contains(k) && k > 0 ? " gs" : "")\" colspan=\"\(end - k)\" title=\"")
            page.text("\(series): \(end - k) kernels"); page.raw("\">"); page.text(end - k >= 3 ? series : ""); page.raw("</th>")
            k = end
        }
        page.raw("</tr>")
    }

    private func heatMap(into page: inout HTMLText) {
        page.raw("<section><h2>Relocations</h2> <small>by object; rows with the same name, kind and outcomes folded (&times;N)</small>\n<p class=\"legend\">")
        for (code, meaning) in CoverageOutcome.legend {
            page.raw("<span><i class=\"c \(code)\"></i>"); page.text(meaning); page.raw("</span>")
        }
        page.raw("<span><i class=\"c X\"></i>kernel not readable</span></p>\n")
        page.raw("<div class=\"scroll\"><table class=\"heat\" id=\"heatmap\" style=\"width: \(300 + 10 * kernels.count)px\"><thead>")
        heatHeader(into: &page)
        page.raw("</thead>\n<tbody>\n")
        var object = -1
        let blocking = Set(blockingRelocations.map(\.relocationIndex))
        let groupStarts = Set(groups.map(\.kernelIndices.lowerBound))
        for (r, count) in heatMapRows {
            let relocation = relocations[r]
            if relocation.objectIndex != object {
                object = relocation.objectIndex
                page.raw("<tr class=\"obj\" data-o=\"\(object)\" data-s=\"head\"><th class=\"rl\">"); page.text(relocation.objectName)
                page.raw("</th><td colspan=\"\(max(kernels.count, 1))\"></td></tr>\n")
            }
            let status = rowStatus(r, blocking: blocking)
            page.raw("<tr data-r=\"\(r)\" data-o=\"\(relocation.objectIndex)\" data-s=\"\(status)\"><th class=\"rl\" title=\"")
            page.text("\(relocation.name) (\(relocation.kind)) at \(relocation.location), access \(relocation.accessString)"
                      + (count > 1 ? "; and \(count - 1) more with the same outcomes" : ""))
            page.raw("\">"); page.text(relocation.name); page.raw(" <span class=\"k\">"); page.text("\(relocation.kind)")
            if count > 1 { page.raw(" &times;\(count)") }
            page.raw("</span></th>")
            cells(kernels.map { r < $0.outcomes.count ? String($0.outcomes[r].code) : "X" }, groupStarts: groupStarts, into: &page)
            page.raw("</tr>\n")
        }
        page.raw("</tbody></table></div>\n</section>\n")
    }

    private func places(_ item: RelocationCoverage) -> String {
        item.byGroup.map { entry in
            let label = groups[entry.group].label
            return entry.count == entry.of ? "\(label): all \(entry.of)" : "\(label): \(entry.count) of \(entry.of)"
        }.joined(separator: "; ")
    }

    private func problemRow(_ item: RelocationCoverage, status: String, into page: inout HTMLText) {
        let relocation = relocations[item.relocationIndex]
        let reason = kernels.lazy.compactMap { kernel in
            item.relocationIndex < kernel.outcomes.count ? kernel.outcomes[item.relocationIndex].reason : nil
        }.first ?? ""
        page.raw("<tr data-o=\"\(relocation.objectIndex)\" data-s=\"\(status)\"><td class=\"name\">"); page.text(relocation.name)
        page.raw("</td><td>"); page.text("\(relocation.kind)")
        page.raw("</td><td class=\"loc\">"); page.text(relocation.location); page.raw("</td>")
        for code in ["P", "M", "F"] as [Character] {
            let n = item.counts[code, default: 0]
            page.raw(n > 0 ? "<td class=\"n \(code)t\">\(n)</td>" : "<td class=\"n z\">0</td>")
        }
        page.raw("<td class=\"n\">\(item.kernelCount)</td><td>"); page.text(places(item))
        page.raw("<br><small>e.g. "); page.text(item.examples.map { $0.split(separator: "/").last.map(String.init) ?? $0 }.joined(separator: ", ")); page.raw("</small></td><td class=\"why\">")
        page.text(reason); page.raw("</td></tr>\n")
    }

    private func groupTable(into page: inout HTMLText) {
        page.raw("<section><h2>By distro version</h2>\n<table class=\"list\" id=\"groups\"><thead><tr><th>distro version</th>"
                 + "<th class=\"n\">kernels</th><th class=\"n\">all resolve</th><th class=\"n\">not readable</th>"
                 + "<th>relocations that do not work (kernels)</th></tr></thead><tbody>\n")
        for group in groups {
            let members = group.kernelIndices.map { kernels[$0] }
            var problems: [Int: Int] = [:]
            for kernel in members { for r in kernel.problems { problems[r, default: 0] += 1 } }
            let sorted = problems.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            let allResolve = members.filter { $0.failure == nil && $0.problems.isEmpty }.count
            page.raw("<tr><td class=\"name\">"); page.text(group.label); page.raw("</td><td class=\"n\">\(members.count)</td>")
            page.raw("<td class=\"n \(allResolve == members.count ? "Rt" : "")\">\(allResolve)</td>")
            page.raw("<td class=\"n\">\(members.filter { $0.failure != nil }.count)</td><td>")
            page.text(CoverageReport.capped(sorted.map { "\(relocations[$0.key].name) (\($0.value))" }))
            page.raw("</td></tr>\n")
        }
        page.raw("</tbody></table></section>\n")
    }

    private func kernelTable(into page: inout HTMLText) {
        page.raw("<section><details><summary><h2>By kernel</h2></summary>\n<table class=\"list\" id=\"kernels\"><thead><tr><th>kernel</th>")
        for (code, _) in CoverageOutcome.legend { page.raw("<th class=\"n\">\(code)</th>") }
        page.raw("<th>not working</th></tr></thead><tbody>\n")
        for kernel in kernels {
            page.raw("<tr><td class=\"name\">"); page.text(kernel.name); page.raw("</td>")
            if let failure = kernel.failure {
                page.raw("<td colspan=\"\(CoverageOutcome.legend.count + 1)\" class=\"why\">not readable: "); page.text(failure); page.raw("</td></tr>\n")
                continue
            }
            let counts = kernel.counts
            for (code, _) in CoverageOutcome.legend { page.raw("<td class=\"n\">\(counts[code, default: 0])</td>") }
            page.raw("<td>"); page.text(CoverageReport.capped(kernel.problems.map { relocations[$0].name })); page.raw("</td></tr>\n")
        }
        page.raw("</tbody></table></details></section>\n")
    }

    /// A relocation's row class for the filters: `bad` (stops a program, or without verdicts does
    /// not work somewhere), `guarded` (poisoned but unreachable, or an existence check that is 0
    /// somewhere), `good`.
    func rowStatus(_ r: Int, blocking: Set<Int>) -> String {
        let item = coverage[r]
        return blocking.contains(r) || (!hasVerdicts && item.problemCount > 0) ? "bad" : item.unresolvedCount > 0 ? "guarded" : "good"
    }

    /// All relocations, as the heat map shows them: a heading row per object with its counts, then
    /// its rows (identical ones folded, `×N`) with the outcome counts over the kernels.
    private func relocationTable(into page: inout HTMLText) {
        let blocking = Set(blockingRelocations.map(\.relocationIndex))
        let rows = heatMapRows
        let columns = 8 + CoverageOutcome.legend.count
        page.raw("<section><details><summary><h2>All relocations</h2> <small>by object; identical rows folded (&times;N)</small></summary>\n"
                 + "<table class=\"list\" id=\"relocations\"><thead><tr>"
                 + "<th class=\"n\">#</th><th>relocation</th><th>kind</th><th class=\"n\">rows</th><th>section</th><th class=\"n\">insn</th>"
                 + "<th>access</th><th>outcome</th>")
        for (code, _) in CoverageOutcome.legend { page.raw("<th class=\"n\">\(code)</th>") }
        page.raw("</tr></thead><tbody>\n")
        var start = 0
        while start < rows.count {
            let object = relocations[rows[start].relocation].objectIndex
            var end = start
            var statuses: [String: Int] = [:]
            while end < rows.count && relocations[rows[end].relocation].objectIndex == object {
                statuses[rowStatus(rows[end].relocation, blocking: blocking), default: 0] += rows[end].count
                end += 1
            }
            let total = rows[start ..< end].reduce(0) { $0 + $1.count }
            page.raw("<tr class=\"obj\" data-o=\"\(object)\" data-s=\"head\" data-total=\"\(total)\" data-bad=\"\(statuses["bad", default: 0])\" "
                     + "data-guarded=\"\(statuses["guarded", default: 0])\" data-good=\"\(statuses["good", default: 0])\"><td colspan=\"\(columns)\"><b>")
            page.text(relocations[rows[start].relocation].objectName)
            page.raw("</b> <small>\(total) relocations in \(end - start) rows: \(statuses["bad", default: 0]) \(hasVerdicts ? "stop a program" : "do not work") somewhere, "
                     + "\(statuses["guarded", default: 0]) guarded or 0 somewhere, \(statuses["good", default: 0]) fine everywhere</small></td></tr>\n")
            for (r, count) in rows[start ..< end] {
                let relocation = relocations[r]
                let status = rowStatus(r, blocking: blocking)
                page.raw("<tr data-l=\"\(r)\" data-n=\"\(count)\" data-o=\"\(object)\" data-s=\"\(status)\"><td class=\"n\">\(r)</td><td class=\"name\">")
                page.text(relocation.name); page.raw("</td><td>"); page.text("\(relocation.kind)")
                page.raw("</td><td class=\"n\">\(count > 1 ? "&times;\(count)" : "1")</td><td class=\"loc\">")
                page.text(relocation.sectionName); page.raw("</td><td class=\"n\">\(relocation.instructionOffset)</td><td class=\"loc\">")
                page.text(relocation.accessString)
                page.raw("</td><td class=\"\(status == "bad" ? "Pt" : status == "good" ? "Rt" : "")\">\(status == "bad" ? (hasVerdicts ? "stops a program" : "does not work") : status == "guarded" ? "guarded or 0" : "fine")</td>")
                for (code, _) in CoverageOutcome.legend { page.raw("<td class=\"n\">\(coverage[r].counts[code, default: 0])</td>") }
                page.raw("</tr>\n")
            }
            start = end
        }
        page.raw("</tbody></table></details></section>\n")
    }

    /// The first ten names and how many more: a kernel of a big suite may miss hundreds.
    static func capped(_ names: [String]) -> String {
        names.count <= 10 ? names.joined(separator: ", ") : names.prefix(10).joined(separator: ", ") + " and \(names.count - 10) more"
    }

    /// Past this many kernel x relocation pairs the page leaves out the per-cell values and reasons
    /// (they are in the JSON report): the tooltips then name the kernels and the outcome only.
    static let tooltipValueLimit = 200_000

    /// What the tooltips show, as JSON: kernels (name, values, reasons or failure), relocations
    /// (name, kind, location), programs, the legend and the reason strings.
    private func tooltipData() -> String {
        let withValues = kernels.count * relocations.count <= CoverageReport.tooltipValueLimit
        var json = JSONText()
        var reasons: [String] = []
        var reasonIndex: [String: Int] = [:]
        json.raw("{\"relocations\": [")
        json.list(relocations) { out, relocation in
            out.raw("["); out.string(relocation.name); out.raw(", "); out.string("\(relocation.kind)"); out.raw(", ")
            out.string(relocation.location); out.raw("]")
        }
        json.raw("], \"programs\": [")
        json.list(programs) { out, program in
            out.raw("["); out.string(program.name); out.raw(", "); out.string(program.objectName); out.raw(", ")
            out.string(program.sectionName); out.raw("]")
        }
        json.raw("], \"blockers\": [")
        // Per program, runs of the kernels' blocking relocation, [first kernel, kernels, relocation]
        // for the runs that have one: what an X or F cell names.
        json.list(programs.indices) { out, p in
            let runs = CoverageReport.runs(kernels.map { p < $0.verdicts.count ? $0.verdicts[p].site ?? -1 : -1 }).filter { $0.code >= 0 }
            out.raw("[")
            out.list(runs) { out, run in out.raw("[\(run.start), \(run.count), \(run.code)]") }
            out.raw("]")
        }
        json.raw("], \"legend\": {")
        json.list(CoverageOutcome.legend) { out, entry in out.string(String(entry.code)); out.raw(": "); out.string(entry.meaning) }
        json.raw("}, \"kernels\": [")
        json.list(kernels) { out, kernel in
            out.raw("{\"n\": "); out.string(kernel.name)
            if let failure = kernel.failure {
                out.raw(", \"e\": "); out.string(failure)
            } else if withValues {
                out.raw(", \"v\": ["); out.list(kernel.outcomes) { out, outcome in out.value(outcome.value) }; out.raw("], \"w\": {")
                out.list(kernel.outcomes.indices.filter { kernel.outcomes[$0].reason != nil }) { out, r in
                    let reason = kernel.outcomes[r].reason!
                    let id = reasonIndex[reason] ?? { reasonIndex[reason] = reasons.count; reasons.append(reason); return reasons.count - 1 }()
                    out.raw("\"\(r)\": \(id)")
                }
                out.raw("}")
            }
            out.raw("}")
        }
        json.raw("], \"reasons\": ["); json.list(reasons) { out, reason in out.string(reason) }; json.raw("]}")
        // Inside <script>, "</" would end the element early.
        return String(decoding: json.bytes, as: UTF8.self).escapingScriptEnd()
    }

    static let styleSheet = """
    :root { --R: #2e9e5b; --A: #9cc3e6; --P: #d7263d; --M: #f29e2e; --F: #7b4fa6; --X: #8a8a8a; }
    * { box-sizing: border-box; }
    body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; padding: 20px 28px; color: #1d2430; background: #f6f7f9; }
    h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 17px; margin: 0 0 10px; display: inline-block; } h3 { font-size: 15px; margin: 18px 0 8px; }
    .sub { color: #5b6475; margin: 0 0 12px; word-break: break-all; }
    section { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 14px 16px; margin: 14px 0; }
    .cards { display: flex; gap: 10px; flex-wrap: wrap; }
    .card { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 8px 14px; min-width: 150px; }
    .card b { display: block; font-size: 22px; } .card span { color: #5b6475; font-size: 12px; }
    .card.good b { color: var(--R); } .card.bad b { color: var(--P); }
    .legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 0 0 10px; font-size: 12px; color: #3b4454; }
    .legend span { display: inline-flex; align-items: center; gap: 6px; }
    .legend i.c { display: inline-block; width: 14px; height: 14px; border-radius: 2px; }
    .scroll { overflow-x: auto; }
    table.heat { border-collapse: separate; border-spacing: 1px; table-layout: fixed; }
    table.heat tr:first-child th.rl { width: 300px; } table.heat th.rl { overflow: hidden; text-overflow: ellipsis; }
    table.heat th.g { font-size: 11px; font-weight: 600; text-align: left; white-space: nowrap; padding: 2px 4px; border-left: 3px solid #fff;
      background: #eef1f5; color: #2b3342; overflow: hidden; max-width: 1px; }
    table.heat th.g small { color: #6b7485; font-weight: 400; margin-left: 4px; }
    table.heat th.rl { text-align: right; font-weight: 500; font-size: 12px; white-space: nowrap; padding: 0 8px 0 0; position: sticky; left: 0; background: #fff; z-index: 1; }
    table.heat th.v { font-size: 10px; font-weight: 400; color: #6b7485; text-align: left; padding: 0 2px; border-left: 1px solid #c9d0da; white-space: nowrap; overflow: hidden; max-width: 1px; }
    table.heat th.v.gs { border-left: 3px solid #fff; } table.heat th.rl.sub { font-size: 10px; color: #6b7485; font-weight: 400; }
    tr.band > * { border-top: 6px solid #fff; }
    table.heat th.rl .k { color: #7a8394; font-weight: 400; font-size: 11px; }
    td.c { width: 9px; min-width: 9px; height: 17px; padding: 0; border-radius: 1px; }
    td.gs { border-left: 3px solid #fff; }
    .c.R { background: var(--R); } .c.A { background: var(--A); } .c.P { background: var(--P); } .c.M { background: var(--M); } .c.F { background: var(--F); }
    .c.X { background: repeating-linear-gradient(45deg, var(--X), var(--X) 2px, #c9c9c9 2px, #c9c9c9 4px); }
    .c.vL { background: var(--R); } .c.vG { background: #7cc59a; } .c.vX { background: var(--P); } .c.vF { background: var(--F); }
    .c.vN { background: repeating-linear-gradient(45deg, var(--X), var(--X) 2px, #c9c9c9 2px, #c9c9c9 4px); }
    tr.obj th.rl { text-align: left; font-weight: 700; padding-top: 8px; } tr.obj td { border-bottom: 1px solid #dde1e7; }
    .filters { margin: 10px 0; font-size: 13px; } .filters select { margin: 0 14px 0 4px; font-size: 13px; }
    tr[hidden] { display: none; }
    tr.hl th.rl { color: #0b5cad; } td.c.hl { outline: 1px solid #1d2430; }
    #tip { position: fixed; pointer-events: none; background: #1d2430; color: #fff; font-size: 12px; padding: 6px 9px; border-radius: 5px; max-width: 460px; z-index: 10; box-shadow: 0 2px 8px #0004; }
    #tip b { color: #fff; } #tip .o { font-weight: 600; }
    table.list { border-collapse: collapse; width: 100%; font-size: 13px; }
    table.list th { text-align: left; font-weight: 600; border-bottom: 2px solid #dde1e7; padding: 4px 8px; background: #fafbfc; }
    table.list td { border-bottom: 1px solid #eceff3; padding: 4px 8px; vertical-align: top; }
    table.list .n { text-align: right; font-variant-numeric: tabular-nums; }
    td.name { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12px; white-space: nowrap; }
    td.loc { font-family: ui-monospace, Menlo, monospace; font-size: 11px; color: #5b6475; }
    td.why { color: #5b6475; font-size: 12px; } td small { color: #6b7485; }
    td.Pt { color: var(--P); font-weight: 700; } td.Mt { color: #c06d00; font-weight: 700; } td.Ft { color: var(--F); font-weight: 700; }
    td.Rt { color: var(--R); font-weight: 700; } td.z { color: #b5bcc7; }
    .ok { color: var(--R); font-weight: 600; }
    details summary { cursor: pointer; } details summary h2 { margin: 0; }
    footer { color: #7a8394; font-size: 12px; margin: 16px 0; }

    """

    static let script = """
    (function () {
      var data = JSON.parse(document.getElementById('coverage-data').textContent);
      var names = { R: 'resolved', A: 'absent (existence check is 0)', P: 'poisoned (not found)', M: 'ambiguous', F: 'failed', X: 'kernel not readable',
                    vL: 'loads', vG: 'loads: poisoned reads guarded', vX: 'rejected: a poisoned instruction is reachable', vF: 'relocation fails', vN: 'kernel not readable' };
      var tip = document.getElementById('tip'), lit = [];
      var maps = [document.getElementById('heatmap'), document.getElementById('programs')].filter(Boolean);
      maps[0].dataset.ready = String(data.kernels.length); // lets a headless render test see the script ran
      function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }
      function clear() { lit.forEach(function (e) { e.classList.remove('hl'); }); lit = []; }
      function describe(td) {
        var tr = td.parentElement, k = 0, n = td.colSpan || 1, code = td.classList[1];
        for (var c = td.previousElementSibling; c && c.tagName === 'TD'; c = c.previousElementSibling) k += c.colSpan || 1;
        var kernel = data.kernels[k];
        var html = '<b>' + esc(kernel.n) + '</b>' + (n > 1 ? ' and ' + (n - 1) + ' more, to ' + esc(data.kernels[k + n - 1].n) : '') + '<br>';
        if (tr.dataset.p !== undefined) {
          var p = +tr.dataset.p, prog = data.programs[p], site = -1;
          data.blockers[p].forEach(function (run) { if (k >= run[0] && k < run[0] + run[1]) site = run[2]; });
          html += esc(prog[1]) + ' ' + esc(prog[0]) + ' <i>' + esc(prog[2]) + '</i><br><span class="o">' + names[code] + '</span>';
          if (site >= 0) html += '<br>' + esc(data.relocations[site][0]) + ' <i>' + esc(data.relocations[site][1]) + '</i> at ' + esc(data.relocations[site][2]);
          return html;
        }
        var r = +tr.dataset.r, relo = data.relocations[r];
        html += esc(relo[0]) + ' <i>' + esc(relo[1]) + '</i><br><span class="o">' + names[code] + '</span>';
        if (kernel.e) html += ': ' + esc(kernel.e);
        else if (kernel.v) {
          var v = kernel.v[r]; if (v !== null) html += ' = ' + esc(v);
          var w = kernel.w[r]; if (w !== undefined) html += '<br>' + esc(data.reasons[w]);
        }
        return html + '<br><small>' + esc(relo[2]) + '</small>';
      }
      maps.forEach(function (table) {
        table.addEventListener('mouseover', function (ev) {
          var td = ev.target.closest('td.c'); clear();
          if (!td) { tip.hidden = true; return; }
          tip.innerHTML = describe(td); tip.hidden = false;
          td.parentElement.classList.add('hl'); td.classList.add('hl'); lit.push(td.parentElement, td);
        });
        table.addEventListener('mousemove', function (ev) {
          var x = ev.clientX + 14, y = ev.clientY + 14;
          if (x + tip.offsetWidth > window.innerWidth) x = ev.clientX - tip.offsetWidth - 14;
          if (y + tip.offsetHeight > window.innerHeight) y = ev.clientY - tip.offsetHeight - 14;
          tip.style.left = x + 'px'; tip.style.top = y + 'px';
        });
        table.addEventListener('mouseleave', function () { tip.hidden = true; clear(); });
      });
      // Filters: rows of the heat maps and relocation tables carry data-o (object) and data-s (bad, guarded, good; head for object headings).
      var object = document.getElementById('f-object'), outcome = document.getElementById('f-outcome');
      var filtered = maps.concat(['problems', 'guarded', 'absent', 'relocations'].map(function (id) { return document.getElementById(id); }).filter(Boolean));
      function apply() {
        var o = object.value, s = outcome.value;
        filtered.forEach(function (table) {
          var rows = table.tBodies[0].rows;
          for (var i = 0; i < rows.length; i++) {
            var row = rows[i], show = (o === '' || row.dataset.o === o) && (s === '' || row.dataset.s === s || row.dataset.s === 'head');
            row.hidden = !show;
          }
          // An object heading with none of its rows left shown goes too.
          for (var j = rows.length - 1, any = false; j >= 0; j--) {
            if (rows[j].dataset.s === 'head') { if (!any && s !== '') rows[j].hidden = true; any = false; }
            else if (!rows[j].hidden) any = true;
          }
        });
      }
      object.addEventListener('change', apply); outcome.addEventListener('change', apply);
      // A link can carry the filters: #o=3&s=bad.
      location.hash.slice(1).split('&').forEach(function (part) {
        var kv = part.split('='); if (kv[0] === 'o') object.value = kv[1]; if (kv[0] === 's') outcome.value = kv[1];
      });
      if (object.value !== '' || outcome.value !== '') apply();
      document.body.dataset.readyMs = String(Math.round(performance.now())); // load time, for the size test
    })();

    """
}

/// HTML text with escaping for element content and attribute values.
struct HTMLText {
    var text = ""

    mutating func raw(_ html: String) { text += html }

    /// Escapes `&`, `<`, `>` and `"` (safe in content and in double-quoted attributes).
    mutating func text(_ plain: String) {
        for character in plain {
            switch character {
            case "&": text += "&amp;"
            case "<": text += "&lt;"
            case ">": text += "&gt;"
            case "\"": text += "&quot;"
            default: text.append(character)
            }
        }
    }
}

extension CoverageKernel {
    /// The kernel's major.minor (`4.19` of `4.19.0-17-amd64`), or the release when it has no dots.
    var series: String {
        let parts = release.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2 else { return release }
        return parts[0] + "." + String(parts[1].prefix { $0.isNumber })
    }
}

extension String {
    /// The text without `suffix` at its end.
    func replacingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }

    /// The text with every `</` written as `<\/` (same JSON, but cannot close a `<script>` element).
    func escapingScriptEnd() -> String {
        var result = ""
        var previous: Character = " "
        for character in self {
            if previous == "<" && character == "/" { result += "\\/" } else { result.append(character) }
            previous = character
        }
        return result
    }
}
