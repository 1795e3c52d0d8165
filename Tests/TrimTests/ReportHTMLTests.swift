import Archive
import BTF
import CORE
import Foundation
@testable import TestSupport
import Testing
@testable import Trim

/// The HTML coverage page renders in a real browser: headless Chromium takes a screenshot and
/// dumps the DOM after the page's script ran.
@Suite("Coverage report: HTML page in headless Chromium", .serialized)
struct ReportHTMLTests {
    /// Chromium's path, or `nil`.
    static let chromium: String? = ["chromium", "chromium-browser", "google-chrome"].lazy.compactMap { try? TestSupport.which($0) }.first

    /// Headless Chromium flags: root needs --no-sandbox; no GPU, no first-run noise.
    static let chromiumFlags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                                "--disable-dev-shm-usage", "--user-data-dir=" + NSTemporaryDirectory() + "chromium-report-\(getpid())"]

    /// A report over two shared kernels plus one unreadable kernel (to show its hatched column).
    static func report() async throws -> CoverageReport {
        let tree = NSTemporaryDirectory() + "html-tree-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: tree); try? FileManager.default.removeItem(atPath: tree + "-out") }
        for relative in ["centos/8/x86_64/4.18.0-80.el8.x86_64.btf.tar.xz", "ubuntu/20.04/x86_64/5.11.0-1028-gcp.btf.tar.xz"] {
            let target = tree + "/" + relative
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: TestSupport.sharedArchive + "/" + relative, toPath: target)
        }
        let broken = tree + "/ubuntu/20.04/x86_64/5.4.0-999-generic.btf"
        try Data("not BTF".utf8).write(to: URL(fileURLWithPath: broken))
        let objects = try Sweep.loadObjects(try CoverageReportTests.objects())
        let sweep = try await Sweep(objects: objects, options: SweepOptions(jobs: 2)).run(input: tree, output: tree + "-out")
        return CoverageReport(sweep: sweep)
    }

    @Test("the page is self-contained and escapes names")
    func selfContained() throws {
        let relocation = CoverageRelocation(objectIndex: 0, objectPath: "a<b>.bpf.o", sectionName: "kprobe/</script>",
                                            indexInSection: 0, instructionOffset: 0, kind: .fieldByteOffset, accessString: "0:1",
                                            name: "x.\"y\"&z")
        let report = CoverageReport(input: "in", objects: ["a<b>.bpf.o"], relocations: [relocation],
                                    kernels: [CoverageKernel(name: "k", identity: nil, outcomes: [.failed(COREFailure(.invalidBTF("</script><b>")))])])
        let html = report.html()
        #expect(!html.contains("http://") && !html.contains("https://"), "the page must not reach the network")
        #expect(!html.contains("<link") && !html.contains("src="), "no external resources")
        #expect(html.contains("x.&quot;y&quot;&amp;z") && !html.contains("x.\"y\"&z"))
        // Exactly one </script> per script element: names cannot end the data block early.
        #expect(html.components(separatedBy: "</script>").count - 1 == 2)
    }

    /// The rows of `dom` whose `tr` carries `key="N"`: N and the row's cell classes, one per kernel
    /// (a cell spanning n kernels counted n times).
    static func rows(in dom: String, key: String) -> [(Int, [String])] {
        let row = try! NSRegularExpression(pattern: "<tr \(key)=\"(\\d+)\"[^>]*>(.*?)</tr>", options: [.dotMatchesLineSeparators])
        let cell = try! NSRegularExpression(pattern: "<td class=\"c ([A-Za-z]+)[^\"]*\"(?: colspan=\"(\\d+)\")?")
        let text = dom as NSString
        return row.matches(in: dom, range: NSRange(location: 0, length: text.length)).map { match in
            let body = text.substring(with: match.range(at: 2)) as NSString
            var codes: [String] = []
            for c in cell.matches(in: body as String, range: NSRange(location: 0, length: body.length)) {
                let span = c.range(at: 2).location == NSNotFound ? 1 : Int(body.substring(with: c.range(at: 2)))!
                codes += Array(repeating: body.substring(with: c.range(at: 1)), count: span)
            }
            return (Int(text.substring(with: match.range(at: 1)))!, codes)
        }
    }

    /// The "All relocations" table of `dom`: its object heading rows (object, total, bad, guarded,
    /// good) and its rows (relocation, folded count, object, status, hidden, the R A P M F counts), in order.
    static func tableRows(in dom: String) -> (heads: [[Int]], rows: [(r: Int, n: Int, o: Int, s: String, hidden: Bool, counts: [Int])]) {
        guard let start = dom.range(of: "id=\"relocations\""), let end = dom.range(of: "</table>", range: start.upperBound ..< dom.endIndex)
        else { return ([], []) }
        let table = String(dom[start.upperBound ..< end.lowerBound])
        let text = table as NSString
        let head = try! NSRegularExpression(pattern: "<tr class=\"obj\" data-o=\"(\\d+)\" data-s=\"head\" data-total=\"(\\d+)\" data-bad=\"(\\d+)\" data-guarded=\"(\\d+)\" data-good=\"(\\d+)\"")
        let heads = head.matches(in: table, range: NSRange(location: 0, length: text.length)).map { m in
            (1 ... 5).map { Int(text.substring(with: m.range(at: $0)))! }
        }
        let row = try! NSRegularExpression(pattern: "<tr data-l=\"(\\d+)\" data-n=\"(\\d+)\" data-o=\"(\\d+)\" data-s=\"(\\w+)\"([^>]*)>(.*?)</tr>",
                                           options: [.dotMatchesLineSeparators])
        let number = try! NSRegularExpression(pattern: "<td class=\"n\">(\\d+)</td>")
        let rows = row.matches(in: table, range: NSRange(location: 0, length: text.length)).map { m in
            let body = text.substring(with: m.range(at: 6)) as NSString
            let numbers = number.matches(in: body as String, range: NSRange(location: 0, length: body.length)).map { Int(body.substring(with: $0.range(at: 1)))! }
            return (r: Int(text.substring(with: m.range(at: 1)))!, n: Int(text.substring(with: m.range(at: 2)))!,
                    o: Int(text.substring(with: m.range(at: 3)))!, s: text.substring(with: m.range(at: 4)),
                    hidden: text.substring(with: m.range(at: 5)).contains("hidden"), counts: Array(numbers.suffix(5)))
        }
        return (heads, rows)
    }

    /// Checks the "All relocations" table of `dom` against the report's data: per object a heading
    /// with its counts, then one row per distinct (name, kind, outcome row) of the object's
    /// relocations, its count the number of relocations folded into it.
    static func checkTable(_ dom: String, _ report: CoverageReport) {
        let (heads, rows) = tableRows(in: dom)
        let outcomeRows = report.relocations.indices.map { r in String(report.kernels.map { r < $0.outcomes.count ? $0.outcomes[r].code : "X" }) }
        let row = { (r: Int) in outcomeRows[r] }
        let blocking = Set(report.blockingRelocations.map(\.relocationIndex))
        let objectsWithRelocations = report.objects.indices.filter { o in report.relocations.contains { $0.objectIndex == o } }
        #expect(heads.map { $0[0] } == objectsWithRelocations, "one heading per object, in object order")
        for o in objectsWithRelocations {
            let members = report.relocations.indices.filter { report.relocations[$0].objectIndex == o }
            let bad = members.filter { r in report.hasVerdicts ? blocking.contains(r) : row(r).contains { "PMF".contains($0) } }
            let guarded = members.filter { r in !bad.contains(r) && row(r).contains { "PMFA".contains($0) } }
            // A relocation that stops a program is never folded with guarded or fine ones.
            let status = { (r: Int) in bad.contains(r) ? "bad" : guarded.contains(r) ? "guarded" : "good" }
            var classes: [String: Int] = [:]
            for r in members { classes["\(report.relocations[r].name)\u{1}\(report.relocations[r].kind)\u{1}\(row(r))\u{1}\(status(r))", default: 0] += 1 }
            let shown = rows.filter { $0.o == o }
            #expect(shown.count == classes.count, "object \(o): \(shown.count) rows for \(classes.count) distinct relocations")
            for item in shown {
                let key = "\(report.relocations[item.r].name)\u{1}\(report.relocations[item.r].kind)\u{1}\(row(item.r))\u{1}\(status(item.r))"
                #expect(report.relocations[item.r].objectIndex == o && classes[key] == item.n && item.s == status(item.r),
                        "object \(o) relocation \(item.r): folds \(item.n), \(item.s)")
                let codes = report.kernels.compactMap { item.r < $0.outcomes.count ? $0.outcomes[item.r].code : nil }
                #expect(item.counts == ["R", "A", "P", "M", "F"].map { c in codes.filter { $0 == c }.count }, "relocation \(item.r) counts")
            }
            // The heading's counts, from the outcomes and verdicts.
            let head = heads.first { $0[0] == o }
            #expect(head == [o, members.count, bad.count, guarded.count, members.count - bad.count - guarded.count], "object \(o) heading")
        }
    }

    /// A suite of `objects` objects (5 programs, 40 relocations each) on `kernels` kernels in
    /// distro versions of 40, with outcomes that change from version to version.
    static func syntheticReport(objects objectCount: Int, kernels kernelCount: Int) -> CoverageReport {
        var relocations: [CoverageRelocation] = []
        var programs: [CoverageProgram] = []
        let kinds: [CORERelocationKind] = [.fieldByteOffset, .fieldExists, .typeExists, .enumValue]
        for o in 0 ..< objectCount {
            for p in 0 ..< 5 {
                programs.append(CoverageProgram(objectIndex: o, objectPath: "tools/tool\(o).bpf.o", name: "handle_\(p)", sectionName: "tracepoint/t/\(p)"))
            }
            for r in 0 ..< 40 {
                relocations.append(CoverageRelocation(objectIndex: o, objectPath: "tools/tool\(o).bpf.o", sectionName: "tracepoint/t/\(r % 5)",
                                                      indexInSection: r, instructionOffset: UInt32(8 * r), kind: kinds[r % 4],
                                                      accessString: "0:\(r)", name: "struct_\(r % 13).field_\(r)"))
            }
        }
        var kernels: [CoverageKernel] = []
        for k in 0 ..< kernelCount {
            let group = k / 40
            let identity = KernelIdentity(distro: "distro\(group / 10)", version: "\(group % 10)", arch: "x86_64", release: "5.\(group).0-\(k % 40)")
            let outcomes: [CoverageOutcome] = relocations.indices.map { r in
                let cut = (r * 7 + relocations[r].objectIndex) % 100
                if group >= cut { return .resolved(UInt64(r % 3 == 0 ? 1 : 8 * r)) }
                return r % 4 == 0 ? .poisoned(CoverageReportTests.noMatch) : .absent
            }
            let verdicts: [GuardVerdict] = programs.indices.map { p in
                let first = programs[p].objectIndex * 40 + (p % 5) * 8
                switch outcomes[first ..< first + 8].contains(where: { $0.code == "P" }) {
                case true: return p % 3 == 0 ? .rejected(sites: [first]) : .guarded
                case false: return .loads
                }
            }
            kernels.append(CoverageKernel(name: "\(identity.distro)/\(identity.version)/x86_64/\(identity.release)", identity: identity,
                                          outcomes: outcomes, verdicts: verdicts))
        }
        return CoverageReport(input: "synthetic", objects: (0 ..< objectCount).map { "tools/tool\($0).bpf.o" },
                              relocations: relocations, programs: programs, kernels: kernels)
    }

    @Test("a suite of 60 objects on 4,000 kernels: the page stays small and its script finishes in headless Chromium",
          .enabled(if: ReportHTMLTests.chromium != nil || TestSupport.isCI, "needs chromium (apt-get install chromium)"))
    func largeSuite() throws {
        let chromium = try #require(Self.chromium, "chromium is not installed; scripts/install-deps.sh installs it for CI")
        let clock = ContinuousClock()
        var report: CoverageReport!
        let built = clock.measure { report = Self.syntheticReport(objects: 60, kernels: 4000) }
        let page = NSTemporaryDirectory() + "coverage-large-\(getpid()).html"
        defer { try? FileManager.default.removeItem(atPath: page) }
        let rendered = try clock.measure { try report.writeHTML(to: page) }
        let bytes = try FileManager.default.attributesOfItem(atPath: page)[.size] as? Int ?? 0
        let start = clock.now
        let dump = try TestSupport.run(chromium, Self.chromiumFlags + ["--dump-dom", "--virtual-time-budget=60000", "file://" + page])
        let wall = clock.now - start
        #expect(dump.status == 0, "\(dump.stderr)")
        let dom = String(decoding: dump.stdout, as: UTF8.self)
        let ready = dom.range(of: "data-ready-ms=\"").map { dom[$0.upperBound...].prefix { $0.isNumber } }.flatMap { Int($0) }
        print("large suite: \(report.programs.count) programs, \(report.relocations.count) relocations, \(report.kernels.count) kernels: "
              + "report built in \(built), HTML written in \(rendered), \(bytes) bytes; Chromium: script done at \(ready.map(String.init) ?? "?") ms "
              + "after navigation, dump-dom took \(wall) in all")
        #expect(ready != nil, "the page's script did not finish")
        Self.checkTable(dom, report)
        // Runs of equal cells keep the page far below one cell per kernel and row (4,000 x 2,700 cells).
        #expect(bytes < 40_000_000, "\(bytes) bytes")
    }

    @Test("headless Chromium renders the heat map: one cell per kernel and relocation, script ran, screenshot taken", .requiresSharedArchive, .enabled(if: ReportHTMLTests.chromium != nil || TestSupport.isCI, "needs chromium (apt-get install chromium)"))
    func rendersInChromium() async throws {
        try TestSupport.requireSharedArchive()
        let chromium = try #require(Self.chromium, "chromium is not installed; scripts/install-deps.sh installs it for CI")
        let report = try await Self.report()
        #expect(report.kernels.count == 3 && report.kernels.filter { $0.failure != nil }.count == 1)
        let page = NSTemporaryDirectory() + "coverage-\(getpid()).html"
        let png = NSTemporaryDirectory() + "coverage-\(getpid()).png"
        defer { try? FileManager.default.removeItem(atPath: page); try? FileManager.default.removeItem(atPath: png) }
        try report.writeHTML(to: page)

        let dump = try TestSupport.run(chromium, Self.chromiumFlags + ["--dump-dom", "file://" + page])
        #expect(dump.status == 0, "\(dump.stderr)")
        let dom = String(decoding: dump.stdout, as: UTF8.self)
        // The script parsed its data and marked the table with the kernel count.
        #expect(dom.contains("data-ready=\"3\""), "the page's script did not run")
        // Every row, its runs expanded, is the report's row: outcomes per relocation, verdicts per program.
        let relocationRows = Self.rows(in: dom, key: "data-r")
        #expect(relocationRows.count == report.heatMapRows.count)
        for (r, codes) in relocationRows {
            #expect(codes == report.kernels.map { r < $0.outcomes.count ? String($0.outcomes[r].code) : "X" }, "relocation \(r)")
        }
        let programRows = Self.rows(in: dom, key: "data-p")
        #expect(programRows.count == report.programs.count && !programRows.isEmpty)
        for (p, codes) in programRows {
            #expect(codes == report.kernels.map { p < $0.verdicts.count ? "v" + String($0.verdicts[p].code) : "vN" }, "program \(p)")
        }
        Self.checkTable(dom, report)
        // A link with filters (#o=N&s=S) shows only that object's rows of that outcome, in every table.
        let (_, tableRows) = Self.tableRows(in: dom)
        let pick = try #require(tableRows.first { $0.s != "good" } ?? tableRows.first)
        let filtered = try TestSupport.run(chromium, Self.chromiumFlags + ["--dump-dom", "file://" + page + "#o=\(pick.o)&s=\(pick.s)"])
        let filteredDOM = String(decoding: filtered.stdout, as: UTF8.self)
        let after = Self.tableRows(in: filteredDOM)
        #expect(after.rows.count == tableRows.count && after.rows.contains { !$0.hidden })
        for item in after.rows { #expect(item.hidden == !(item.o == pick.o && item.s == pick.s), "table row \(item.r) after the filter") }
        // Every filtered row of the page (program and relocation heat maps, relocation tables).
        let tag = try NSRegularExpression(pattern: "<tr ([^>]*data-o=\"(\\d+)\" data-s=\"(\\w+)\"[^>]*)>")
        let domText = filteredDOM as NSString
        var checked: Set<String> = []
        for m in tag.matches(in: filteredDOM, range: NSRange(location: 0, length: domText.length)) {
            let attributes = domText.substring(with: m.range(at: 1)), o = domText.substring(with: m.range(at: 2)), s = domText.substring(with: m.range(at: 3))
            if s == "head" { continue }
            checked.insert(String(attributes.prefix(6)))
            #expect(attributes.contains("hidden") == !(o == "\(pick.o)" && s == pick.s), "after the filter: \(attributes)")
        }
        #expect(checked.isSuperset(of: ["data-p", "data-r", "data-l", "data-o"]), "rows checked: \(checked)")
        let seen = Set(relocationRows.flatMap(\.1))
        for code in ["R", "A", "P", "M", "X"] { #expect(seen.contains(code), "no \(code) cell in the heat map") }
        for group in report.groups { #expect(dom.contains(">\(group.label)<small>"), "no header for \(group.label)") }

        let shot = try TestSupport.run(chromium, Self.chromiumFlags + ["--screenshot=" + png, "--window-size=1280,1600", "file://" + page])
        #expect(shot.status == 0, "\(shot.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        // A blank 1280x1600 page compresses to a few kB; the heat map and tables take far more.
        #expect(bytes.count > 40_000, "screenshot is only \(bytes.count) bytes")
    }
}
