import ArgumentParser
import BTF
import Foundation

/// Benchmarks of BTFKit's hot paths. Prints figures; `benchmarks/parse.sh` sets them beside libbpf's.
@main
struct BTFKitBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btfkit-bench",
        abstract: "Time BTFKit's hot paths on real kernel BTF.",
        subcommands: [ParseBenchmark.self])
}

/// `btfkit-bench parse [FILES...]`: times `BTF(contentsOf:)` (file read and full validation, like
/// libbpf's `btf__parse`) over several runs and prints the best and median time per file.
struct ParseBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Time BTF(contentsOf:) (read + parse + validate) on raw BTF files.",
        discussion: """
        Without FILES, times the largest kernel under btfhub-fixtures/ (or, if there is none, the \
        largest Debian/Ubuntu kernel of the shared btfhub archive) and the 44 MB CentOS 8 \
        4.18.0-147 kernel, extracted from the shared archive into a temporary directory.
        Each output line: FILE types N bytes B runs R best_ms X median_ms Y
        """)

    @Argument(help: "Raw BTF files (or .btf.tar.xz archives, extracted to a temporary directory).")
    var files: [String] = []

    @Option(help: "Timed runs per file (after one untimed warm-up run).")
    var runs: Int = 10

    @Option(help: "The btfhub archive used when no FILES are given (default: $BTFKIT_SHARED_ARCHIVE or ../shared/btfhub-archive).")
    var sharedArchive: String = ProcessInfo.processInfo.environment["BTFKIT_SHARED_ARCHIVE"] ?? "../shared/btfhub-archive"

    @Option(help: "The fixture tree used when no FILES are given.")
    var fixtures: String = "btfhub-fixtures"

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("btfkit-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let inputs = files.isEmpty ? try defaultInputs() : files
        for input in inputs {
            let path = input.hasSuffix(".tar.xz") ? try extract(input, into: scratch) : input
            let timing = try time(path)
            print("\(input) types \(timing.types) bytes \(timing.bytes) runs \(runs) "
                  + "best_ms \(format(timing.best)) median_ms \(format(timing.median))")
        }
    }

    /// Parses `path` once untimed, then `runs` times timed.
    private func time(_ path: String) throws -> (types: Int, bytes: Int, best: Double, median: Double) {
        let types = try BTF(contentsOf: path).typeCount
        var times: [Double] = []
        for _ in 0 ..< runs {
            let start = DispatchTime.now().uptimeNanoseconds
            let btf = try BTF(contentsOf: path)
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            precondition(btf.typeCount == types)  // keeps the parse from being optimised away
            times.append(Double(elapsed) / 1e6)
        }
        times.sort()
        let median = times.count % 2 == 1 ? times[times.count / 2]
            : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return (types, bytes, times[0], median)
    }

    private func format(_ ms: Double) -> String { String(format: "%.3f", ms) }

    /// The largest fixture (or non-CentOS shared) kernel and the CentOS 8 4.18.0-147 kernel.
    private func defaultInputs() throws -> [String] {
        func archives(under root: String) -> [String] {
            (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? [])
                .filter { $0.hasSuffix(".btf.tar.xz") || $0.hasSuffix(".btf") }.map { root + "/" + $0 }.sorted()
        }
        func size(_ p: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
        var inputs: [String] = []
        let shared = archives(under: sharedArchive)
        let fixtureKernels = archives(under: fixtures)
        let candidates = fixtureKernels.isEmpty ? shared.filter { !$0.contains("/centos/") } : fixtureKernels
        if let largest = candidates.max(by: { size($0) < size($1) }) { inputs.append(largest) }
        if let centos = shared.first(where: { $0.contains("/centos/8/x86_64/4.18.0-147") }) { inputs.append(centos) }
        guard !inputs.isEmpty else {
            throw ValidationError("no kernels under \(fixtures) or \(sharedArchive); pass FILES or --shared-archive")
        }
        return inputs
    }

    /// Extracts a btfhub `.btf.tar.xz` with tar and returns the raw `.btf` path inside `dir`.
    private func extract(_ archive: String, into dir: String) throws -> String {
        let target = dir + "/" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        tar.arguments = ["-xJf", archive, "-C", target]
        try tar.run()
        tar.waitUntilExit()
        let name = (archive as NSString).lastPathComponent.replacingOccurrences(of: ".tar.xz", with: "")
        guard tar.terminationStatus == 0, FileManager.default.fileExists(atPath: target + "/" + name) else {
            throw ValidationError("cannot extract \(name) from \(archive)")
        }
        return target + "/" + name
    }
}
