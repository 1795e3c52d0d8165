import Foundation
@testable import TestSupport
import Testing

/// `btf-pack runner` makes static runners: the btf-run beside it is static (Package.swift), and a
/// dynamically linked one is refused with the command that makes a static one.
@Suite("Runner: static by default")
struct StaticRunnerTests {
    @Test("the btf-run the package builds is static; a dynamic one is refused unless --allow-dynamic")
    func dynamicRunnerIsRefused() throws {
        let btfRun = try PackFixtures.product("btf-run")
        let ldd = try TestSupport.run("ldd", [btfRun])
        #expect((String(decoding: ldd.stdout, as: UTF8.self) + ldd.stderr).contains("not a dynamic executable"))

        let object = try PackFixtures.execsnoopObject()
        let tree = try PackFixtures.writeTree(try PackFixtures.trimmedInputs())
        let dynamic = PackFixtures.temporaryPath("dynamic-btf-run")
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: dynamic)
        let tool = try PackFixtures.product("btf-pack")
        let output = PackFixtures.temporaryPath("dynamic-runner")
        let refused = try TestSupport.run(tool, ["runner", "--object", object, "--btfhub", tree, "-o", output, "--runner", dynamic])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("\(dynamic): btf-run is dynamically linked (/lib64/ld-linux-x86-64.so.2)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("swift build -c release --product btf-run -Xswiftc -static-executable"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
        let allowed = try TestSupport.run(tool, ["runner", "--object", object, "--btfhub", tree, "-o", output, "--runner", dynamic, "--allow-dynamic"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(String(decoding: allowed.stdout, as: UTF8.self).contains("is dynamically linked"))
    }
}
