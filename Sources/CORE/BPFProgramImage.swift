import BTF

/// The code of a BPF object as libbpf sees it before loading: every executable section's
/// instructions laid end to end, its programs (global functions of sections other than `.text`),
/// its subprograms (functions of `.text`) and where each bpf-to-bpf call goes.
///
/// Instructions are numbered globally (`section base + index in section`) so that a call from a
/// program section into `.text` is one jump in one array.
public struct BPFProgramImage: Sendable {
    /// One executable section.
    public struct Section: Sendable {
        public var name: String
        /// Index of its first instruction in `instructions`.
        public var base: Int
        public var count: Int
    }

    /// A function symbol: a program, or a subprogram of `.text`.
    public struct Function: Sendable {
        public var name: String
        /// Index into `sections`.
        public var section: Int
        /// Global index of its first instruction, and how many it has.
        public var entry: Int
        public var count: Int
        /// A program (loadable), rather than a subprogram of `.text`.
        public var isProgram: Bool
        /// A non-static subprogram: the verifier checks it on its own with unknown arguments
        /// ("Func#N is global and assumed valid") and treats its return value as unknown.
        public var isGlobal: Bool
    }

    public var path: String
    public var instructions: [BPFInstruction] = []
    public var sections: [Section] = []
    public var functions: [Function] = []
    /// Global instruction index of a call or function-address load -> global index of its target.
    public var callTargets: [Int: Int] = [:]
    /// Global instruction indices that a non-CO-RE relocation patches (map and global variable
    /// references): the loaded value is a pointer, not the immediate in the file.
    public var relocatedLoads: Set<Int> = []

    /// A read-only data section (`.rodata`, `.rodata.*`): libbpf makes each one an array map with
    /// BPF_F_RDONLY_PROG and freezes it once filled, so the verifier reads constants out of it
    /// (`bpf_map_direct_read`). These are the bytes as compiled, which btf-run loads unchanged; a
    /// loader that sets `const volatile` values before load (a skeleton writing its rodata,
    /// `bpf_map__set_initial_value`, a future btf-run `--set`) makes other constants.
    public struct ReadOnlyData: Sendable {
        public var name: String
        public var bytes: [UInt8]
    }
    /// Where a 64-bit immediate load points once libbpf made it `BPF_PSEUDO_MAP_VALUE`.
    public struct ReadOnlyPointer: Sendable, Hashable {
        /// Index into `readOnlyData`.
        public var data: Int
        /// Byte offset into it (`insn.imm + symbol value`, as libbpf's RELO_DATA computes it).
        public var offset: Int64
    }
    public var readOnlyData: [ReadOnlyData] = []
    /// Global index of a 64-bit immediate load of an address in read-only data -> that address.
    public var readOnlyLoads: [Int: ReadOnlyPointer] = [:]
    /// The object's byte order, which read-only data is stored in.
    public var byteOrder: ByteOrder = .little

    /// The programs, in section and address order.
    public var programs: [Function] { functions.filter(\.isProgram) }

    /// The global index of instruction `byteOffset / 8` of the section named `section`, if any.
    public func globalIndex(section: String, byteOffset: UInt32) -> Int? {
        guard let s = sections.first(where: { $0.name == section }), byteOffset % 8 == 0,
              Int(byteOffset / 8) < s.count else { return nil }
        return s.base + Int(byteOffset / 8)
    }

    /// The `size`-byte value (1, 2, 4 or 8) at `offset` of read-only data `data`, in the object's
    /// byte order and zero-extended; `nil` when the read is not wholly inside it.
    public func readOnlyValue(data: Int, offset: Int64, size: Int) -> UInt64? {
        guard data >= 0, data < readOnlyData.count, offset >= 0, let at = Int(exactly: offset) else { return nil }
        let bytes = readOnlyData[data].bytes
        guard at <= bytes.count, size <= bytes.count - at else { return nil }
        let reader = ByteReader(bytes, byteOrder: byteOrder)
        switch size {
        case 1: return reader.get(UInt8.self, at: at).map(UInt64.init)
        case 2: return reader.get(UInt16.self, at: at).map(UInt64.init)
        case 4: return reader.get(UInt32.self, at: at).map(UInt64.init)
        case 8: return reader.get(UInt64.self, at: at)
        default: return nil
        }
    }

    /// The function holding global instruction `index`.
    public func function(containing index: Int) -> Int? {
        functions.firstIndex { index >= $0.entry && index < $0.entry + $0.count }
    }

    /// Reads the executable sections, the symbol table and the relocation sections of `elf`.
    public init(elf: ELFFile, path: String) throws(BTFError) {
        self.path = path
        byteOrder = elf.byteOrder
        func fail(_ what: String) -> BTFError { BTFError(what, file: path) }
        // SHT_PROGBITS with SHF_EXECINSTR: where libbpf looks for programs.
        var sectionOfELF: [Int: Int] = [:]
        for section in elf.sections where section.type == 1 && section.flags & 0x4 != 0 && section.size > 0 {
            let bytes = try elf.contents(of: section)
            guard bytes.count % 8 == 0 else {
                throw fail("section \(section.name) is \(bytes.count) bytes, not a whole number of BPF instructions")
            }
            sectionOfELF[section.index] = sections.count
            sections.append(Section(name: section.name, base: instructions.count, count: bytes.count / 8))
            instructions += BPFInstruction.decode(bytes)
        }
        // SHT_PROGBITS sections libbpf makes frozen read-only maps of (bpf_object__elf_collect's
        // SEC_RODATA: ".rodata" and ".rodata.*", string literal sections included). Never .data
        // or .bss: a program may write those, and the verifier does not know their contents.
        var readOnlyOfELF: [Int: Int] = [:]
        for section in elf.sections where section.type == 1 && section.flags & 0x4 == 0 && section.size > 0
            && (section.name == ".rodata" || section.name.hasPrefix(".rodata.")) {
            readOnlyOfELF[section.index] = readOnlyData.count
            readOnlyData.append(ReadOnlyData(name: section.name, bytes: Array(try elf.contents(of: section))))
        }
        guard let symtab = elf.sections.first(where: { $0.type == 2 }) else {
            throw fail("no symbol table: cannot tell its programs apart")
        }
        guard Int(symtab.link) < elf.sections.count else { throw fail("symbol table names string section \(symtab.link), which does not exist") }
        let symbols = try elf.contents(of: symtab)
        let strings = try elf.contents(of: elf.sections[Int(symtab.link)])
        let reader = ByteReader(symbols, byteOrder: elf.byteOrder)
        let stringReader = ByteReader(strings, byteOrder: elf.byteOrder)
        struct Symbol { var name: String; var type: UInt8; var bind: UInt8; var section: Int; var value: UInt64; var size: UInt64 }
        var table: [Symbol] = []
        var at = 0
        while at + 24 <= symbols.count {
            let nameOffset = Int(reader.get(UInt32.self, at: at)!)
            let info = reader.get(UInt8.self, at: at + 4)!
            let name = stringReader.cString(at: nameOffset).map { String(decoding: $0, as: UTF8.self) } ?? ""
            table.append(Symbol(name: name, type: info & 0x0f, bind: info >> 4, section: Int(reader.get(UInt16.self, at: at + 6)!),
                                value: reader.get(UInt64.self, at: at + 8)!, size: reader.get(UInt64.self, at: at + 16)!))
            at += 24
        }
        // STT_FUNC symbols: programs outside .text, subprograms inside it.
        for symbol in table where symbol.type == 2 {
            guard let s = sectionOfELF[symbol.section] else { continue }
            let section = sections[s]
            guard symbol.value % 8 == 0, Int(symbol.value / 8) < section.count else {
                throw fail("function \(symbol.name) starts at byte \(symbol.value), outside section \(section.name)")
            }
            let start = Int(symbol.value / 8)
            let count = symbol.size > 0 ? min(Int(clamping: symbol.size / 8), section.count - start) : section.count - start
            functions.append(Function(name: symbol.name, section: s, entry: section.base + start, count: count,
                                      isProgram: section.name != ".text", isGlobal: symbol.bind == 1))
        }
        functions.sort { $0.entry < $1.entry }
        // Relocations (SHT_REL) of executable sections: calls into .text and map references.
        for rel in elf.sections where rel.type == 9 {
            guard let s = sectionOfELF[Int(rel.info)] else { continue }
            let section = sections[s]
            let bytes = try elf.contents(of: rel)
            let r = ByteReader(bytes, byteOrder: elf.byteOrder)
            var at = 0
            while at + 16 <= bytes.count {
                let offset = r.get(UInt64.self, at: at)!
                let symbolIndex = Int(r.get(UInt64.self, at: at + 8)! >> 32)
                at += 16
                guard offset % 8 == 0, Int(clamping: offset / 8) < section.count, symbolIndex < table.count else {
                    throw fail("relocation at byte \(offset) of section \(section.name) points outside it or at symbol \(symbolIndex)")
                }
                let index = section.base + Int(offset / 8)
                let instruction = instructions[index]
                let symbol = table[symbolIndex]
                if (instruction.isPseudoCall || instruction.isPseudoFunction), let target = sectionOfELF[symbol.section] {
                    // libbpf: sub_insn_idx = sym_off / 8 + imm + 1 for a call; a function address
                    // through a section symbol carries the byte offset in imm.
                    let targetSection = sections[target]
                    let base = Int(clamping: symbol.value / 8)
                    let slot = instruction.isPseudoCall ? base + Int(instruction.imm) + 1
                        : (symbol.type == 3 ? base + Int(instruction.imm) / 8 : base)
                    guard slot >= 0, slot < targetSection.count else {
                        throw fail("call at byte \(offset) of section \(section.name) goes outside section \(targetSection.name)")
                    }
                    callTargets[index] = targetSection.base + slot
                } else if instruction.isLoadImmediate64 {
                    relocatedLoads.insert(index)
                    // libbpf's RELO_DATA: the map value pointer's offset is imm + st_value (a
                    // section symbol has value 0 and the offset in imm; a variable its own value).
                    if instruction.src == 0, let data = readOnlyOfELF[symbol.section] {
                        readOnlyLoads[index] = ReadOnlyPointer(data: data, offset: Int64(instruction.imm) + Int64(clamping: symbol.value))
                    }
                }
            }
        }
        // Calls within a section carry a pc-relative immediate and no relocation.
        for section in sections {
            for i in 0 ..< section.count where instructions[section.base + i].isPseudoCall && callTargets[section.base + i] == nil {
                let target = i + Int(instructions[section.base + i].imm) + 1
                guard target >= 0, target < section.count else {
                    throw fail("call at instruction \(i) of section \(section.name) goes outside it")
                }
                callTargets[section.base + i] = section.base + target
            }
        }
    }
}
