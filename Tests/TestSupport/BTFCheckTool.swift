import BTF
import Foundation

/// `tools/btf-check.c`, compiled once per source change into the test cache.
enum BTFCheckTool {
    /// `tools/btf-check.c`, compiled once per test process.
    static func path() throws -> String { try built.get() }

    private static let built = Result<String, any Error> {
        try TestSupport.buildCHelper(TestSupport.packageRoot + "/tools/btf-check.c", named: "btf-check")
    }

    /// Writes `bytes` to a file named `name` in the test cache and returns its path.
    static func write(_ bytes: [UInt8], name: String) throws -> String {
        let dir = TestSupport.cache + "/libbpf-acceptance"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/\(getpid())-" + name
        try FileIO.writeAtomically(bytes, to: path)
        return path
    }
}
