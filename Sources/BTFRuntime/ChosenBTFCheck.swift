import BTF
import Glibc

/// The last look at a BTF before libbpf gets it as `btf_custom_path`: libbpf 1.1 loops forever on a
/// reference cycle that does not pass through a pointer (`typedef pid_t pid_t`), and blocks on a
/// FIFO; a trimmed pack entry is small, so checking it costs little next to loading a program.
public enum ChosenBTFCheck {
    /// Parses `bytes` (raw BTF, or an ELF with `.BTF`) and refuses a pointer-free reference cycle.
    /// `source` names the BTF in the error (a pack entry, a file). Bytes that do not parse are left
    /// to libbpf, whose own checks refuse malformed BTF with an error of their own.
    public static func check(_ bytes: [UInt8], source: String) throws(BTFRuntimeError) {
        let parsed = ELFFile.isELF(bytes) ? try? BTF(elf: try ELFFile(parsing: bytes, file: source)) : try? BTF(parsing: bytes, file: source)
        guard let btf = parsed else { return }
        if let cycle = btf.pointerFreeCycle() {
            throw BTFRuntimeError(.badPack, "\(escapedForTerminal(source)): its BTF has a reference cycle that does not pass through a "
                                  + "pointer (\(btf.describeCycle(cycle))); libbpf would loop forever on it, so it is not used",
                                  errnoCode: ELOOP)
        }
    }

    /// Reads the file at `path` (a regular file only: a FIFO would block libbpf's open forever) and
    /// checks it as `check(_:source:)` does. `what` says who named it (`BTFKIT_BTF=…`); without it the
    /// message starts with the problem (a caller names the input itself).
    public static func checkFile(_ path: String, what: String?) throws(BTFRuntimeError) {
        let prefix = what.map { "\(escapedForTerminal($0)): " } ?? ""
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path) } catch {
            throw BTFRuntimeError(.badOverride, prefix + escapedForTerminal(error.problem), errnoCode: EINVAL)
        }
        do { try check(bytes, source: path) } catch {
            var error = error
            error.kind = .badOverride
            error.message = prefix + error.message
            throw error
        }
    }
}
