import BTF
import Foundation
@testable import TestSupport
import Testing
@testable import Trim

/// The sweep's outputs are synced and renamed into place off the workers (`OutputCommitter`); a
/// commit that fails must come back as that kernel's failure, leaving no temporary file behind.
@Suite("Output commits off the workers")
struct OutputCommitterTests {
    @Test("commits land in order; one that cannot be renamed into place is reported with its index, the rest are written")
    func commitsAndFailures() async throws {
        let dir = try TemporaryDirectory()
        let committer = OutputCommitter()
        var expected: [String: [UInt8]] = [:]
        for index in 0 ..< 4 {
            let path = dir.path + "/k\(index).btf"
            let file = try FileIO.AtomicFile(replacing: path)
            let bytes = Array(repeating: UInt8(index), count: 100 + index)
            try file.write(bytes)
            if index == 2 {
                // The output's place is taken by a non-empty directory after the write: rename fails.
                try FileManager.default.createDirectory(atPath: path + "/taken", withIntermediateDirectories: true)
            } else {
                expected[path] = bytes
            }
            committer.commit(PendingOutput(file: file), index: index)
        }
        let failures = await committer.finish()
        #expect(failures.map(\.index) == [2])
        #expect(failures.first?.failure.contains("k2.btf") == true && failures.first?.failure.contains("rename") == true,
                "\(failures)")
        for (path, bytes) in expected { #expect(FileManager.default.contents(atPath: path).map(Array.init) == bytes, "\(path)") }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
        #expect(left.isEmpty, "temporary files left: \(left)")
    }

    @Test("a kernel whose output failed to commit reads as failed, with nothing counted for it")
    func failedOutputResult() {
        var result = KernelSweepResult(name: "k", inputPath: "in", outputPath: "out")
        result.failure = nil
        result.outputBytes = 10
        result.resolvedRelocations = 3
        result.rejectedRelocations = ["x"]
        result.failOutput("out: cannot rename into place: Is a directory")
        #expect(!result.succeeded && result.outputBytes == 0 && result.resolvedRelocations == 0 && result.rejectedRelocations.isEmpty)
    }
}
