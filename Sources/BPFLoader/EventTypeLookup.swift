import BTF
import DWARF

/// Where an event type was found.
public enum EventTypeSource: Sendable, Equatable {
    /// The object's `.BTF`.
    case btf
    /// The object's `.debug_info`, turned into BTF.
    case dwarf
}

extension EventDecoder {
    /// The decoder for the struct or union `typeName` of the object `elf`: from its BTF, else from
    /// its DWARF (clang puts into BTF only types reachable from globals, maps and function
    /// signatures; an event built in a local variable is described by DWARF alone). Neither: an
    /// error naming the structs each has and the one-line export that puts the type into BTF.
    public static func forObject(_ elf: ELFFile, typeName: String, objectName: String) throws(BPFLoaderError) -> (decoder: EventDecoder, source: EventTypeSource) {
        let btf = try? BTF(elf: elf)
        if let btf, let decoder = try? EventDecoder(btf: btf, typeName: typeName, objectName: objectName) {
            return (decoder, .btf)
        }
        var dwarfStructs: [String] = []
        var dwarfProblem: String?
        if DWARFTypes.hasDebugInfo(elf) {
            do {
                let dwarf = try DWARFTypes(elf: elf)
                if let converted = try dwarf.btf(forTypeNamed: typeName) {
                    return (try EventDecoder(btf: converted, typeName: typeName, objectName: objectName), .dwarf)
                }
                dwarfStructs = dwarf.structNames
            } catch {
                dwarfProblem = "\(error)"
            }
        }
        let btfStructs = btf.map { btf in
            btf.typeIDs.filter { btf.kind($0) == .structure && !btf.type($0).isAnonymous }.map { btf.name($0) }
        } ?? []
        var message = "\(objectName): no struct or union named '\(typeName)' in the object's BTF"
            + (btfStructs.isEmpty ? " (it has none)" : " (it has: \(Set(btfStructs).sorted().joined(separator: ", ")))")
        if let dwarfProblem {
            message += " and its DWARF cannot be read: \(dwarfProblem)"
        } else if DWARFTypes.hasDebugInfo(elf) {
            message += " nor in its DWARF" + (dwarfStructs.isEmpty ? " (it has none)" : " (it has: \(dwarfStructs.joined(separator: ", ")))")
        } else {
            message += "; it has no DWARF either (compile with -g)"
        }
        message += "; to put the type into BTF add to the program: struct \(typeName) *unused_\(typeName) __attribute__((unused));"
        throw BPFLoaderError(message)
    }
}
