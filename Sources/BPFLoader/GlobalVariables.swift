import BTF
import CLibBPF
import Glibc

/// One global variable of a BPF object that user space may set before loading: a `VAR` of a
/// `.rodata`, `.data` or `.bss` DATASEC (including `.rodata.*` ... custom sections), never
/// `.kconfig` or `.ksyms`, which libbpf fills itself.
public struct GlobalVariable: Sendable {
    /// The variable's name (`targ_pid`).
    public var name: String
    /// The DATASEC it lives in (`.rodata`).
    public var section: String
    /// Its type in the object's BTF (with its const/volatile qualifiers).
    public var type: TypeID
    /// The type as C spells it, for messages and `--list` (`const volatile pid_t`).
    public var typeDescription: String
    /// Offset and size within the section.
    public var offset: Int
    public var size: Int
    /// The value the object was compiled with (zeros for `.bss`), decoded through its type.
    public var defaultValue: EventValue
}

/// A value given with `--set NAME=VALUE`, already encoded as the bytes the variable holds.
public struct GlobalAssignment: Sendable, Equatable {
    /// The variable's name.
    public var name: String
    /// The DATASEC it lives in.
    public var section: String
    /// Its offset in that section.
    public var offset: Int
    /// The encoded value (exactly the variable's size).
    public var bytes: [UInt8]
    /// The value as given, for `-v`.
    public var text: String
}

/// The settable globals of an object, read from its BTF and ELF sections, and the encoder of
/// `--set` values through their BTF types.
public struct GlobalVariables: Sendable {
    /// The object's BTF.
    public let btf: BTF
    /// The variables in DATASEC order.
    public let variables: [GlobalVariable]
    let objectName: String

    /// Sections of these names or with these prefixes (then a `.`) hold settable globals.
    static let settableSections = [".rodata", ".data", ".bss"]

    /// The globals of `object` (opened, not loaded), typed through `btf` (the object's own BTF,
    /// parsed from its ELF). Offsets and default values come from libbpf: it fills the DATASEC
    /// offsets in from the symbol table at open (the compiler leaves them 0) and holds each
    /// section's initial bytes in its internal map.
    public init(btf: BTF, object: LoadedBPFObject) {
        self.btf = btf
        self.objectName = object.name
        var variables: [GlobalVariable] = []
        let libbpfBTF = bpf_object__btf(object.object)
        for id in btf.typeIDs where btf.kind(id) == .dataSection {
            let datasec = btf.type(id)
            let section = btf.string(datasec.nameOffset)
            guard Self.settableSections.contains(where: { section == $0 || section.hasPrefix($0 + ".") }) else { continue }
            // libbpf's copy keeps the object's type ids; its DATASEC has the real offsets.
            guard let libbpfBTF, let fixed = btf__type_by_id(libbpfBTF, id.rawValue),
                  Int(fixed.pointee.info & 0xffff) == datasec.vlen else { continue }
            let entries = UnsafeRawPointer(fixed + 1).assumingMemoryBound(to: btf_var_secinfo.self)
            var initial: [UInt8] = []
            if let map = object.internalMap(for: section) {
                var size = 0
                if let bytes = bpf_map__initial_value(map, &size) { initial = Array(UnsafeRawBufferPointer(start: bytes, count: size)) }
            }
            for index in 0 ..< datasec.vlen {
                let entry = btf.sectionVariable(of: datasec, at: index)
                guard btf.kind(entry.type) == .variable else { continue }
                let variable = btf.type(entry.type)
                let offset = Int(entries[index].offset), size = Int(entries[index].size)
                var bytes = [UInt8](repeating: 0, count: size)
                if offset + size <= initial.count { bytes = Array(initial[offset ..< offset + size]) }
                let decoder = EventDecoder(btf: btf, typeID: variable.referencedType)
                variables.append(GlobalVariable(name: btf.string(variable.nameOffset), section: section, type: variable.referencedType,
                                                typeDescription: Self.describe(variable.referencedType, in: btf),
                                                offset: offset, size: size, defaultValue: decoder.decode(bytes)))
            }
        }
        self.variables = variables
    }

    /// The variable named `name`.
    public subscript(name: String) -> GlobalVariable? { variables.first { $0.name == name } }

    /// Parses `NAME=VALUE` and encodes VALUE through NAME's type. Throws, naming the variable and
    /// its type, for an unknown name (listing the globals), a value that is not of the type or
    /// out of its range.
    public func assignment(parsing argument: String) throws(BPFLoaderError) -> GlobalAssignment {
        guard let equals = argument.firstIndex(of: "=") else {
            throw BPFLoaderError("expected NAME=VALUE (e.g. targ_pid=1234)", input: RunInput(.globalVariable, argument, malformed: true))
        }
        let name = String(argument[..<equals])
        let text = String(argument[argument.index(after: equals)...])
        guard let variable = self[name] else {
            let list = variables.isEmpty ? "it has none" : "its globals are " + variables.map { "\($0.name) (\($0.typeDescription))" }.joined(separator: ", ")
            throw BPFLoaderError("\(objectName) has no global variable '\(name)' in .rodata, .data or .bss; \(list)",
                                 input: RunInput(.globalVariable, argument))
        }
        do {
            let bytes = try encode(text, as: variable.type, size: variable.size, depth: 0)
            return GlobalAssignment(name: name, section: variable.section, offset: variable.offset, bytes: bytes, text: text)
        } catch {
            throw BPFLoaderError("\(name) is \(variable.typeDescription) (section \(variable.section)): \(error.message)",
                                 input: RunInput(.globalVariable, argument))
        }
    }

    /// The assignments of `arguments` in order; a later one for the same variable replaces an
    /// earlier one (a runner's default `--set` is overridden by the command line's).
    public func assignments(parsing arguments: [String]) throws(BPFLoaderError) -> [GlobalAssignment] {
        var result: [GlobalAssignment] = []
        for argument in arguments {
            let assignment = try self.assignment(parsing: argument)
            result.removeAll { $0.name == assignment.name }
            result.append(assignment)
        }
        return result
    }

    private func encode(_ text: String, as type: TypeID, size: Int, depth: Int) throws(BPFLoaderError) -> [UInt8] {
        let resolved = EventDecoder.skipModifiers(type, in: btf, followTypedefs: true)
        guard let kind = btf.kind(resolved), depth < 8 else { throw BPFLoaderError("its type cannot be set from the command line") }
        let t = btf.type(resolved)
        switch kind {
        case .int:
            let info = btf.intInfo(t)
            let bits = Int(t.size) * 8
            if info.encoding.contains(.bool) {
                switch text.lowercased() {
                case "true", "1", "yes", "on": return littleEndian(1, size: Int(t.size))
                case "false", "0", "no", "off": return littleEndian(0, size: Int(t.size))
                default: throw BPFLoaderError("'\(text)' is not a bool (true, false, 1 or 0)")
                }
            }
            let value = try integer(text, bits: bits, signed: info.encoding.contains(.signed))
            return littleEndian(value, size: Int(t.size))
        case .enumeration, .enum64:
            let enumerators = btf.enumerators(of: t)
            let bits = Int(t.size) * 8
            if let match = enumerators.first(where: { btf.string($0.nameOffset) == text }) {
                return littleEndian(match.value, size: Int(t.size))
            }
            let names = enumerators.map { btf.string($0.nameOffset) }.joined(separator: ", ")
            guard let first = text.first, first == "-" || first.isNumber else {
                throw BPFLoaderError("'\(text)' is not one of its enumerators (\(names)) nor a number")
            }
            return littleEndian(try integer(text, bits: bits, signed: t.kindFlag || text.hasPrefix("-")), size: Int(t.size))
        case .array:
            let array = btf.array(t)
            let element = EventDecoder.skipModifiers(array.elementType, in: btf, followTypedefs: true)
            let count = Int(array.count)
            let elementSize = count == 0 ? 0 : size / count
            if btf.kind(element) == .int, btf.type(element).size == 1,
               btf.intInfo(btf.type(element)).encoding.contains(.char) || btf.name(element) == "char" {
                let bytes = Array(text.utf8)
                guard bytes.count < count else {
                    throw BPFLoaderError("'\(text)' is \(bytes.count) bytes; the array holds \(count - 1) and a NUL")
                }
                return bytes + [UInt8](repeating: 0, count: count - bytes.count)
            }
            let items = text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard items.count <= count else { throw BPFLoaderError("\(items.count) values given; the array holds \(count)") }
            var bytes: [UInt8] = []
            for (index, item) in items.enumerated() {
                do { bytes += try encode(item, as: array.elementType, size: elementSize, depth: depth + 1) } catch {
                    throw BPFLoaderError("element \(index): \(error.message)")
                }
            }
            return bytes + [UInt8](repeating: 0, count: size - bytes.count)
        case .float:
            guard let value = Double(text) else { throw BPFLoaderError("'\(text)' is not a number") }
            if t.size == 4 { return littleEndian(UInt64(Float(value).bitPattern), size: 4) }
            if t.size == 8 { return littleEndian(value.bitPattern, size: 8) }
            throw BPFLoaderError("a \(t.size)-byte float cannot be set from the command line")
        case .pointer:
            throw BPFLoaderError("a pointer cannot be set from the command line")
        default:
            throw BPFLoaderError("a \(kind == .structure ? "struct" : kind == .union ? "union" : "\(kind)") cannot be set from the command line; set its scalar members' variables instead")
        }
    }

    /// `text` as an integer of `bits` bits (decimal, `0x` hexadecimal, a leading `-` for signed),
    /// checked against the type's range; returned as its two's complement bit pattern.
    private func integer(_ text: String, bits: Int, signed: Bool) throws(BPFLoaderError) -> UInt64 {
        var digits = Substring(text)
        let negative = digits.hasPrefix("-")
        if negative || digits.hasPrefix("+") { digits = digits.dropFirst() }
        var radix = 10
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2); radix = 16 }
        guard !digits.isEmpty, let magnitude = UInt64(digits, radix: radix) else {
            throw BPFLoaderError("'\(text)' is not an integer (decimal or 0x hexadecimal)")
        }
        let range: String
        if signed {
            let maximum = bits >= 64 ? UInt64(Int64.max) : (UInt64(1) << (bits - 1)) - 1
            range = "\(-Int128(maximum) - 1) to \(maximum)"
            if negative {
                guard magnitude <= maximum + 1 else { throw BPFLoaderError("\(text) is out of range (\(range))") }
                return magnitude == 0 ? 0 : (~magnitude &+ 1) & mask(bits)
            }
            guard magnitude <= maximum else { throw BPFLoaderError("\(text) is out of range (\(range))") }
            return magnitude
        }
        let maximum = mask(bits)
        range = "0 to \(maximum)"
        guard !negative || magnitude == 0 else { throw BPFLoaderError("\(text) is out of range (\(range)): the type is unsigned") }
        guard magnitude <= maximum else { throw BPFLoaderError("\(text) is out of range (\(range))") }
        return magnitude
    }

    private func mask(_ bits: Int) -> UInt64 { bits >= 64 ? .max : (UInt64(1) << bits) - 1 }

    private func littleEndian(_ value: UInt64, size: Int) -> [UInt8] {
        let bytes = (0 ..< size).map { UInt8(truncatingIfNeeded: size > 8 ? ($0 < 8 ? value >> (8 * UInt64($0)) : 0) : value >> (8 * UInt64($0))) }
        return btf.byteOrder == .little ? bytes : bytes.reversed()
    }

    /// `type` as C would declare it, without the variable name: `const volatile pid_t`,
    /// `char[16]`, `enum mode`, `struct key`.
    public static func describe(_ type: TypeID, in btf: BTF, depth: Int = 0) -> String {
        guard let kind = btf.kind(type), depth < 16 else { return "void" }
        let t = btf.type(type)
        let name = btf.string(t.nameOffset)
        switch kind {
        case .const: return "const " + describe(t.referencedType, in: btf, depth: depth + 1)
        case .volatile: return "volatile " + describe(t.referencedType, in: btf, depth: depth + 1)
        case .restrict: return describe(t.referencedType, in: btf, depth: depth + 1) + " restrict"
        case .typeTag: return describe(t.referencedType, in: btf, depth: depth + 1)
        case .pointer: return describe(t.referencedType, in: btf, depth: depth + 1) + " *"
        case .array:
            let array = btf.array(t)
            return describe(array.elementType, in: btf, depth: depth + 1) + "[\(array.count)]"
        case .structure: return "struct " + (name.isEmpty ? "(anon)" : name)
        case .union: return "union " + (name.isEmpty ? "(anon)" : name)
        case .enumeration, .enum64: return "enum " + (name.isEmpty ? "(anon)" : name)
        case .functionPrototype: return "function"
        default: return name.isEmpty ? "\(kind)" : name
        }
    }
}

extension LoadedBPFObject {
    /// The object's internal map for DATASEC `section` (libbpf names it `<object>.rodata`, or the
    /// section's name for custom sections).
    func internalMap(for section: String) -> OpaquePointer? {
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            if bpf_map__is_internal(current), String(cString: bpf_map__name(current)).hasSuffix(section) { return current }
            map = bpf_object__next_map(object, current)
        }
        return nil
    }

    /// Writes `assignments` into the initial values of the object's `.rodata`/`.data`/`.bss` maps
    /// (libbpf's mmaped copies, as a skeleton's `skel->rodata->x = ...` does). Call before `load`.
    public func apply(_ assignments: [GlobalAssignment]) throws(BPFLoaderError) {
        for assignment in assignments {
            guard let map = internalMap(for: assignment.section) else {
                throw BPFLoaderError("\(name): libbpf has no map for section \(assignment.section) to set \(assignment.name) in")
            }
            var size = 0
            guard let initial = bpf_map__initial_value(map, &size), assignment.offset + assignment.bytes.count <= size else {
                throw BPFLoaderError("\(name): the map of section \(assignment.section) has no room for \(assignment.name) at offset \(assignment.offset)")
            }
            let target = UnsafeMutableRawPointer(mutating: initial) + assignment.offset
            assignment.bytes.withUnsafeBytes { target.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }
}
