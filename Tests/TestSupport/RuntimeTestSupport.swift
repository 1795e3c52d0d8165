import Archive
import BTF
import BTFRuntime
import Foundation

enum RuntimeTestSupport {
    /// Options that pick from `pack` (named "test pack") for `identity`, the kernel's own BTF ignored.
    static func forcedEmbeddedOptions(pack: [UInt8], identity: KernelIdentity) -> RuntimeBTFOptions {
        var options = RuntimeBTFOptions()
        options.pack = .bytes(pack, description: "test pack")
        options.identity = identity
        options.environment = ["BTFKIT_FORCE_EMBEDDED": "1"]
        return options
    }

    static func temporaryDirectory() -> String {
        let path = PackFixtures.temporaryPath("runtime")
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func runningIdentity() throws -> KernelIdentity { try RunningKernel.identity() }

    /// A pack of the trimmed fixtures, and one of its kernels with its BTF.
    static func pack() throws -> (bytes: [UInt8], identity: KernelIdentity, btf: [UInt8]) {
        let inputs = try PackFixtures.trimmedInputs()
        let chosen = inputs[inputs.count / 2]
        return (try PackWriter.pack(inputs).bytes, chosen.identity, chosen.btf)
    }
}
