import BTF
import Foundation
import Testing

/// Builds the local/target pairs of bpf/core-cases into the test cache.
enum COREFixtures {
    struct Fixture {
        var object: String
        var targetBTF: String
    }

    /// A copy of `object` whose `.BTF` string `original` (a whole NUL-terminated string) is
    /// overwritten with `replacement` of the same length.
    static func replacingBTFString(in object: String, _ original: String, with replacement: String) throws -> String {
        precondition(original.utf8.count == replacement.utf8.count)
        let elf = try ELFFile(contentsOf: object)
        let section = try #require(elf.section(named: ".BTF"))
        var bytes = elf.bytes
        let start = Int(section.offset), end = start + Int(section.size)
        // The string table is the tail of .BTF: header length, then str_off/str_len at 16/20.
        func u32(_ at: Int) -> Int { Int(UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24) }
        let stringsStart = start + u32(start + 4) + u32(start + 16)
        let needle = [0] + Array(original.utf8) + [0]
        var at = stringsStart
        while at + needle.count <= end, !bytes[at ..< at + needle.count].elementsEqual(needle) { at += 1 }
        guard at + needle.count <= end else { throw TestSupportError("\(object): no string \"\(original)\" in .BTF") }
        bytes.replaceSubrange(at + 1 ..< at + 1 + original.utf8.count, with: Array(replacement.utf8))
        let output = object + ".rewritten-\(getpid())-\(UUID().uuidString).o"
        try FileIO.writeAtomically(bytes, to: output)
        return output
    }

    static func caseFixture(_ name: String) throws -> Fixture {
        let dir = TestSupport.packageRoot + "/bpf/core-cases"
        let out = TestSupport.cache + "/core-cases"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let source = dir + "/\(name).c"
        // Unique temporary names: tests in this and other processes may build the same case at once.
        let unique = "\(getpid())-\(UUID().uuidString)"
        let object = out + "/\(name).bpf.o"
        let localObject = object + ".\(unique)"
        let targetObject = out + "/\(name).target.o.\(unique)"
        let targetBTF = out + "/\(name).target.btf"
        for (output, extra) in [(localObject, [String]()), (targetObject, ["-DTARGET"])] {
            let r = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-I", dir] + extra + ["-c", source, "-o", output])
            guard r.status == 0 else { throw TestSupportError("clang failed on core case \(name) \(extra): \(r.stderr)") }
        }
        _ = rename(localObject, object)
        let target = try BTF(contentsOf: targetObject)
        try FileIO.writeAtomically(target.serialized(), to: targetBTF)
        try? FileManager.default.removeItem(atPath: targetObject)
        return Fixture(object: object, targetBTF: targetBTF)
    }
}
