import Foundation

/// The `btf-trim` executable built beside the test bundle (same scratch directory and configuration).
enum BTFTrimTool {
    static func path() throws -> String {
        let runner = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = runner.deletingLastPathComponent()
        // On Linux the runner is <scratch>/<config>/BTFKitPackageTests.xctest; elsewhere it may sit inside a bundle.
        for _ in 0 ..< 4 {
            let candidate = directory.appendingPathComponent("btf-trim").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw TestSupportError("btf-trim is not built next to the test runner \(runner.path); run `swift build` first")
    }
}
