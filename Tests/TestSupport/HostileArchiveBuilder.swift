import Foundation

/// Builds archives with python3's tarfile and lzma, so the bytes come from an independent implementation.
enum HostileArchiveBuilder {
    /// 256 KiB of incompressible bytes (a fixed xorshift stream), so that half an archive is half the data.
    static let payload: [UInt8] = {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0 ..< 256 << 10).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state >> 24)
        }
    }()

    /// Runs `statements` with `data` bound to `payload` (by default the incompressible bytes).
    static func build(_ statements: String, at out: String, payload: [UInt8] = payload) throws {
        let payloadPath = out + ".payload"
        try Data(payload).write(to: URL(fileURLWithPath: payloadPath))
        defer { try? FileManager.default.removeItem(atPath: payloadPath) }
        let script = """
            import io, lzma, os, sys, tarfile
            out = sys.argv[1]
            data = open(sys.argv[2], "rb").read()
            def add(tar, name, content):
                info = tarfile.TarInfo(name)
                if content is None:
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(content)
                    tar.addfile(info, io.BytesIO(content))
            \(statements)
            """
        let result = try TestSupport.run("python3", ["-c", script, out, payloadPath])
        guard result.status == 0 else { throw TestSupportError("python3 could not build \(out): \(result.stderr)") }
    }
}
