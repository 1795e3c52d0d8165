/// A BPF object file's BTF: the local types and, when present, the `.BTF.ext` records.
public struct BPFObject: Sendable {
    public var path: String
    public var btf: BTF
    public var ext: BTFExt?

    /// Reads `.BTF` and `.BTF.ext` from a BPF ELF object.
    public init(contentsOf path: String) throws(BTFError) {
        try self.init(elf: try ELFFile(contentsOf: path), path: path)
    }

    /// Reads `.BTF` and `.BTF.ext` from the bytes of a BPF ELF object; `path` names it in errors.
    public init(parsing bytes: [UInt8], path: String) throws(BTFError) {
        try self.init(elf: try ELFFile(parsing: bytes, file: path), path: path)
    }

    private init(elf: ELFFile, path: String) throws(BTFError) {
        self.path = path
        btf = try BTF(elf: elf)
        if let section = elf.section(named: ".BTF.ext") {
            do { ext = try BTFExt(parsing: try elf.contents(of: section), file: path) } catch {
                var e = error
                e.problem = "in section .BTF.ext: " + e.problem
                e.offset = e.offset.map { $0 + Int(section.offset) }
                throw e
            }
        } else {
            ext = nil
        }
    }
}
