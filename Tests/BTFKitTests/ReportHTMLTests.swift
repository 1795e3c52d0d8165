import BTF
import Foundation
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
                                    kernels: [CoverageKernel(name: "k", identity: nil, outcomes: [.poisoned(reason: "</script><b>")])])
        let html = report.html()
        #expect(!html.contains("http://") && !html.contains("https://"), "the page must not reach the network")
        #expect(!html.contains("<link") && !html.contains("src="), "no external resources")
        #expect(html.contains("x.&quot;y&quot;&amp;z") && !html.contains("x.\"y\"&z"))
        // Exactly one </script> per script element: names cannot end the data block early.
        #expect(html.components(separatedBy: "</script>").count - 1 == 2)
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
        #expect(dom.contains("id=\"heatmap\" data-ready=\"3\""), "the page's script did not run")
        let cells = dom.components(separatedBy: "<td class=\"c ").dropFirst()
        #expect(cells.count == report.relocations.count * report.kernels.count)
        let codes = cells.compactMap(\.first)
        for code in ["R", "A", "P", "M", "X"] as [Character] {
            #expect(codes.contains(code), "no \(code) cell in the heat map")
        }
        let expected = report.kernels.map { $0.outcomes.count }.reduce(0, +)
        #expect(codes.filter { $0 != "X" }.count == expected)
        for group in report.groups { #expect(dom.contains(">\(group.label)<small>"), "no header for \(group.label)") }

        let shot = try TestSupport.run(chromium, Self.chromiumFlags + ["--screenshot=" + png, "--window-size=1280,1600", "file://" + page])
        #expect(shot.status == 0, "\(shot.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        // A blank 1280x1600 page compresses to a few kB; the heat map and tables take far more.
        #expect(bytes.count > 40_000, "screenshot is only \(bytes.count) bytes")
    }
}
