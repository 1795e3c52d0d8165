/// Where the runtime finds the pack of trimmed kernel BTF.
public enum PackSource: Sendable {
    /// The `.btfkit.pack` section of the running executable, read through `/proc/self/exe`.
    /// It is there after `btf-pack embed`, or after linking the output of `btf-pack emit-asm`.
    case embedded
    /// A named section of some ELF file.
    case elfSection(file: String, section: String)
    /// A pack file (`.tar.xz`, or bpf-compatible's `.tar.gz`).
    case file(String)
    /// A pack already in memory; `description` names it in messages.
    case bytes([UInt8], description: String)
}
