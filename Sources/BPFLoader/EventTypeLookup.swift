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

/// A BPF object made smaller for embedding: without DWARF, which libbpf never reads.
public enum ObjectWithoutDWARF {
    /// The object `elf` without its `.debug_*` sections. Each of `typeNames` (the runner's
    /// `--event-type`) that its BTF lacks and its DWARF describes is first appended to `.BTF`,
    /// converted from DWARF, so that decoding still finds it. Returns the bytes and the names added.
    public static func make(_ elf: ELFFile, keeping typeNames: [String], objectName: String) throws(BPFLoaderError) -> (bytes: [UInt8], addedTypes: [String]) {
        var replacing: [String: [UInt8]] = [:]
        var added: [String] = []
        do {
            var section = try elf.section(named: ".BTF").map { s throws(BTFError) in Array(try elf.contents(of: s)) }
            for name in typeNames {
                if let section, let btf = try? BTF(parsing: section),
                   (try? EventDecoder(btf: btf, typeName: name, objectName: objectName)) != nil { continue }
                guard DWARFTypes.hasDebugInfo(elf), let converted = try DWARFTypes(elf: elf).btf(forTypeNamed: name) else { continue }
                guard let current = section else {
                    throw BPFLoaderError("\(objectName): '\(name)' is described only by DWARF and the object has no .BTF to add it to")
                }
                section = try BTF.appending(converted, toSection: current, byteOrder: elf.byteOrder, file: objectName)
                added.append(name)
            }
            if let section, !added.isEmpty { replacing[".BTF"] = section }
            return (try elf.strippingDebugSections(replacing: replacing), added)
        } catch let error as BPFLoaderError {
            throw error
        } catch {
            throw BPFLoaderError("\(objectName): cannot remove its DWARF: \(error)")
        }
    }
}
