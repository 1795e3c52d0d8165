import BTF
import Foundation
@testable import TestSupport
import Testing

/// Malformed BTF, ELF and `.BTF.ext` input gives a `BTFError` that says where (file, offset, type id)
/// and what, and never a crash or a hang. Random mutations use fixed seeds, so a failure reproduces.
@Suite("Malformed input gives a clear BTFError, never a crash")
struct MalformedInputTests {
    // MARK: - BTF: truncation

    @Test("a real kernel BTF truncated at every section boundary is reported as truncated, with its offset")
    func truncatedAtSectionBoundaries() throws {
        let (bytes, name) = try Self.realKernelBTF()
        let header = try #require(RawHeader(bytes))
        let typeEnd = header.length + header.typeOffset + header.typeLength
        let stringStart = header.length + header.stringOffset
        let cuts: [(String, Int)] = [
            ("empty", 0), ("inside the magic", 1), ("after the magic", 2), ("inside the header", 7),
            ("after magic, version, flags and hdr_len", 8), ("inside the section fields", 17),
            ("one byte short of the header", header.length - 1), ("at the header end", header.length),
            ("in the middle of the type section", header.length + header.typeLength / 2 + 1),
            ("at the type/string boundary", typeEnd), ("at the start of the strings", stringStart),
            ("in the middle of the string section", stringStart + header.stringLength / 2),
            ("one byte short", bytes.count - 1),
        ]
        for (what, length) in cuts {
            let error = Self.parseError(bytes[..<length], file: name)
            let text = error?.description ?? "parsed"
            #expect(error != nil, "truncated \(what) (\(length) bytes) must not parse")
            #expect(text.contains("truncated"), "truncated \(what): \(text)")
            #expect(text.hasPrefix(name + ": offset "), "the message must name the file and an offset: \(text)")
        }
        // The numbers in the message are the real ones.
        #expect(Self.parseError(bytes[..<12], file: name)?.description
                == "\(name): offset 4: truncated: header length 24 exceeds the 12 bytes present")
        let minusOne = Self.parseError(bytes[..<(bytes.count - 1)], file: name)
        #expect(minusOne?.offset == 16, "a short string section is blamed on str_off/str_len (byte 16)")
        #expect(minusOne?.problem.contains("\(header.stringOffset)+\(header.stringLength)") == true, "\(String(describing: minusOne))")
    }

    @Test("a real kernel BTF truncated at 300 random lengths always fails with 'truncated'")
    func truncatedAtRandomLengths() throws {
        let (bytes, name) = try Self.realKernelBTF()
        var rng = SeededGenerator(seed: 0x5eed_0001)
        for _ in 0 ..< 300 {
            let length = Int.random(in: 0 ..< bytes.count, using: &rng)
            let error = Self.parseError(bytes[..<length], file: name)
            #expect(error?.description.contains("truncated") == true,
                    "\(length) of \(bytes.count) bytes: \(error?.description ?? "parsed")")
        }
    }

    // MARK: - BTF: header fields

    @Test("bad magic, version, header length and section fields each give their own error")
    func badHeaderFields() throws {
        let good = AllKindsBTF.build().serialized(byteOrder: .little)
        #expect(Self.parseError(good[...], file: "all-kinds.btf") == nil)
        let size = good.count
        func mutated(_ change: (inout [UInt8]) -> Void) -> ArraySlice<UInt8> {
            var copy = good
            change(&copy)
            return copy[...]
        }
        let cases: [(String, ArraySlice<UInt8>, problem: String, offset: Int)] = [
            ("bad magic", mutated { $0[0] = 0x9e }, "bad magic 0xeb9e", 0),
            ("zero magic", mutated { $0[0] = 0; $0[1] = 0 }, "bad magic 0x0", 0),
            ("bad version", mutated { $0[2] = 2 }, "unsupported BTF version 2", 2),
            ("header length too small", mutated { Self.store(16, at: 4, in: &$0) }, "header length 16 is smaller than 24", 4),
            ("header length too big", mutated { Self.store(UInt32(size + 1), at: 4, in: &$0) },
             "truncated: header length \(size + 1) exceeds", 4),
            ("header length 4 GiB", mutated { Self.store(.max, at: 4, in: &$0) }, "exceeds the \(size) bytes present", 4),
            ("longer header with non-zero unknown bytes", Self.withLongHeader(good, extra: [0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0]),
             "unknown non-zero header field at byte 32", 32),
            ("type_off past the end", mutated { Self.store(0xffff_fff0, at: 8, in: &$0) }, "truncated: type section at 4294967280+", 8),
            ("type_len past the end", mutated { Self.store(UInt32(size), at: 12, in: &$0) }, "truncated: type section", 8),
            ("str_off past the end", mutated { Self.store(UInt32(size), at: 16, in: &$0) }, "truncated: string section", 16),
            ("str_len past the end", mutated { Self.store(.max, at: 20, in: &$0) }, "truncated: string section", 16),
            ("overlapping sections", mutated { Self.store(8, at: 16, in: &$0); Self.store(8, at: 20, in: &$0) },
             "overlaps the string section at 8", 16),
            ("unaligned type section", mutated { Self.store(2, at: 8, in: &$0); Self.store(4, at: 12, in: &$0) },
             "type section offset 2 is not 4-byte aligned", 8),
            ("type length not a multiple of 4", mutated { Self.store(10, at: 12, in: &$0) },
             "type section length 10 is not a multiple of 4", 12),
        ]
        for (what, bytes, problem, offset) in cases {
            let error = Self.parseError(bytes, file: "all-kinds.btf")
            #expect(error?.problem.contains(problem) == true, "\(what): \(error?.description ?? "parsed")")
            #expect(error?.offset == offset, "\(what): \(error?.description ?? "parsed")")
            #expect(error?.file == "all-kinds.btf")
        }

        // An empty kind-layout section's offset is not used, however wild (found by fuzzing:
        // it used to trap slicing an empty range past the end).
        var wildLayoutOffset = Array(Self.withLongHeader(good, extra: [0, 0, 0, 0, 0, 0, 0, 0]))
        Self.store(0x0002_0040, at: 24, in: &wildLayoutOffset)
        #expect(Self.parseError(wildLayoutOffset[...], file: "all-kinds.btf") == nil)
    }

    // MARK: - BTF: type records and strings

    @Test("invalid kinds, over-long vlen, bad references and bad strings name the type and its offset")
    func badTypeRecords() throws {
        let btf = AllKindsBTF.build()
        let good = btf.serialized(byteOrder: .little)
        let header = try #require(RawHeader(good))
        let typeStart = header.length + header.typeOffset
        /// Byte offset of word `word` of type `id`'s record.
        func at(_ id: UInt32, word: Int) -> Int { typeStart + 4 * (Int(btf.typeStarts[Int(id)]) + word) }
        func mutated(_ change: (inout [UInt8]) -> Void) -> ArraySlice<UInt8> {
            var copy = good
            change(&copy)
            return copy[...]
        }
        let lastStruct = try #require(btf.typeIDs.last { btf.kind($0) == .structure })
        let pointer = try #require(btf.typeIDs.first { btf.kind($0) == .pointer })
        let functionPrototype = try #require(btf.typeIDs.first { btf.kind($0) == .functionPrototype })
        let info1 = Self.load(at: at(1, word: 1), in: good)
        let cases: [(String, ArraySlice<UInt8>, problem: String, offset: Int, type: UInt32)] = [
            ("kind 0", mutated { Self.store(info1 & 0xe0ff_ffff, at: at(1, word: 1), in: &$0) }, "invalid kind 0", at(1, word: 1), 1),
            ("kind 20", mutated { Self.store(info1 & 0xe0ff_ffff | 20 << 24, at: at(1, word: 1), in: &$0) },
             "invalid kind 20", at(1, word: 1), 1),
            ("kind 31", mutated { Self.store(info1 | 0x1f00_0000, at: at(1, word: 1), in: &$0) }, "invalid kind 31", at(1, word: 1), 1),
            ("vlen past the end", mutated {
                let info = Self.load(at: at(lastStruct.rawValue, word: 1), in: $0)
                Self.store(info | 0xffff, at: at(lastStruct.rawValue, word: 1), in: &$0)
            }, "STRUCT with vlen 65535 runs past the end of the type section", at(lastStruct.rawValue, word: 0), lastStruct.rawValue),
            ("type record cut in the middle", Self.withTypeSectionCut(good, header: header, byWords: 1),
             "truncated type record", -1, 0),
            ("out-of-range type id", mutated { Self.store(9999, at: at(pointer.rawValue, word: 2), in: &$0) },
             "refers to type 9999, but only \(btf.typeCount - 1) types exist", at(pointer.rawValue, word: 2), pointer.rawValue),
            ("out-of-range parameter type", mutated { Self.store(UInt32(btf.typeCount), at: at(functionPrototype.rawValue, word: 4), in: &$0) },
             "refers to type \(btf.typeCount)", at(functionPrototype.rawValue, word: 4), functionPrototype.rawValue),
            ("out-of-range name", mutated { Self.store(0x0fff_ffff, at: at(1, word: 0), in: &$0) },
             "string offset 268435455 is past the \(header.stringLength)-byte string table", at(1, word: 0), 1),
            ("out-of-range member name", mutated { Self.store(UInt32(header.stringLength), at: at(lastStruct.rawValue, word: 3), in: &$0) },
             "string offset \(header.stringLength) is past", at(lastStruct.rawValue, word: 3), lastStruct.rawValue),
            ("string table not NUL-terminated", mutated { $0[$0.count - 1] = 0x41 },
             "string section must start and end with a NUL byte", header.length + header.stringOffset, 0),
            ("string table not starting with NUL", mutated { $0[header.length + header.stringOffset] = 0x41 },
             "string section must start and end with a NUL byte", header.length + header.stringOffset, 0),
            ("empty string table", mutated { Self.store(0, at: 20, in: &$0) }, "string section is empty", header.length + header.stringOffset, 0),
        ]
        for (what, bytes, problem, offset, type) in cases {
            let error = Self.parseError(bytes, file: "all-kinds.btf")
            #expect(error?.problem.contains(problem) == true, "\(what): \(error?.description ?? "parsed")")
            if offset >= 0 { #expect(error?.offset == offset, "\(what): \(error?.description ?? "parsed")") }
            if type != 0 {
                #expect(error?.typeID == TypeID(type), "\(what): \(error?.description ?? "parsed")")
                #expect(error?.description.contains("type [\(type)]") == true, "\(what): \(error?.description ?? "parsed")")
            }
        }
    }

    @Test("3000 random bit flips in a small BTF and 100 in a real kernel: each parses or throws", .timeLimit(.minutes(5)))
    func randomBitFlips() throws {
        let small = AllKindsBTF.build()
        var outcomes = (parsed: 0, rejected: 0)
        for order in [ByteOrder.little, .big] {
            let bytes = small.serialized(byteOrder: order)
            var rng = SeededGenerator(seed: order == .little ? 0xb17_f11b : 0xb17_f11c)
            for _ in 0 ..< 1500 { Self.flipAndParse(bytes, rng: &rng, outcomes: &outcomes) }
        }
        // A real kernel: fewer rounds, as each full parse of a debug build takes a while.
        let (kernel, _) = try Self.realKernelBTF()
        var rng = SeededGenerator(seed: 0xb17_f11d)
        for _ in 0 ..< 100 { Self.flipAndParse(kernel, rng: &rng, outcomes: &outcomes, deepCheck: false) }
        // Both outcomes must occur, or the mutations are not reaching the checks.
        #expect(outcomes.parsed > 0 && outcomes.rejected > 0, "\(outcomes)")
        print("BTF bit flips: \(outcomes.parsed) parsed, \(outcomes.rejected) rejected with a BTFError")
    }

    /// Flips 1-3 random bits and parses. With `deepCheck`, a BTF that parses is walked type by type
    /// (validation must make every view safe to read) and written and read back.
    fileprivate static func flipAndParse(_ original: [UInt8], rng: inout SeededGenerator, outcomes: inout (parsed: Int, rejected: Int),
                             deepCheck: Bool = true) {
        var bytes = original
        for _ in 0 ..< Int.random(in: 1 ... 3, using: &rng) {
            // Half of the flips land in the header and the first records, where most checks live.
            let limit = Bool.random(using: &rng) ? min(bytes.count, 256) : bytes.count
            bytes[Int.random(in: 0 ..< limit, using: &rng)] ^= 1 << UInt8.random(in: 0 ..< 8, using: &rng)
        }
        do {
            let btf = try BTF(parsing: bytes, file: "flipped.btf")
            outcomes.parsed += 1
            if deepCheck {
                walk(btf)
                #expect(try BTF(parsing: btf.serialized()).typeCount == btf.typeCount)
            }
        } catch {
            outcomes.rejected += 1
            #expect(error.file == "flipped.btf" && error.offset != nil, "\(error)")
        }
    }

    /// Reads every field of every type through the public views.
    static func walk(_ btf: BTF) {
        var checksum = 0
        for id in btf.typeIDs {
            let t = btf.type(id)
            checksum &+= btf.nameBytes(t.nameOffset).count
            switch t.kind {
            case .int: checksum &+= Int(btf.intInfo(t).bits)
            case .array: checksum &+= Int(btf.array(t).count)
            case .structure, .union: checksum &+= btf.members(of: t).reduce(0) { $0 &+ btf.nameBytes($1.nameOffset).count }
            case .enumeration, .enum64: checksum &+= btf.enumerators(of: t).reduce(0) { $0 &+ btf.nameBytes($1.nameOffset).count }
            case .functionPrototype: checksum &+= btf.parameters(of: t).reduce(0) { $0 &+ btf.nameBytes($1.nameOffset).count }
            case .variable: checksum &+= Int(btf.variableLinkage(t))
            case .dataSection: checksum &+= (0 ..< t.vlen).reduce(0) { $0 &+ Int(btf.sectionVariable(of: t, at: $1).size) }
            case .declTag: checksum &+= Int(btf.declTagComponent(t))
            default: break
            }
        }
        _ = checksum
    }

    // MARK: - ELF

    @Test("a truncated BPF object gives an ELF error, at every 1/97th and at 300 random lengths")
    func truncatedELF() throws {
        let object = try Self.bpfObject()
        let bytes = try FileIO.read(object)
        _ = try ELFFile(parsing: bytes, file: object)
        var lengths = Array(stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97))) + [bytes.count - 1]
        var rng = SeededGenerator(seed: 0xe1f_0001)
        lengths += (0 ..< 300).map { _ in Int.random(in: 0 ..< bytes.count, using: &rng) }
        for length in lengths {
            let prefix = Array(bytes[..<length])
            do {
                let elf = try ELFFile(parsing: prefix, file: "cut.o")
                // The section headers sit at the end of a clang object, so a cut must be noticed.
                Issue.record("\(length) of \(bytes.count) bytes parsed as an ELF file with \(elf.sections.count) sections")
            } catch {
                #expect(error.file == "cut.o" && error.offset != nil, "\(length): \(error)")
                if length >= 64 {
                    #expect(error.problem.contains("past the end") || error.problem.contains("outside"), "\(length): \(error)")
                } else if length >= 4 {
                    #expect(error.problem.contains("truncated ELF header"), "\(length): \(error)")
                }
            }
        }
    }

    @Test("ELF header and section header damage: table past the end, section past the end, bad shstrndx, overlaps")
    func damagedELF() throws {
        let object = try Self.bpfObject()
        let good = try FileIO.read(object)
        let elf = try ELFFile(parsing: good, file: object)
        let btfSection = try #require(elf.section(named: ".BTF"))
        let extSection = try #require(elf.section(named: ".BTF.ext"))
        let shoff = Int(Self.load64(at: 0x28, in: good))
        func headerField(_ section: ELFSection, _ field: Int) -> Int { shoff + section.index * 64 + field }
        func mutated(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var copy = good
            change(&copy)
            return copy
        }
        let cases: [(String, [UInt8], problem: String)] = [
            ("bad magic", mutated { $0[1] = 0x46 }, "not an ELF file"),
            ("32-bit class", mutated { $0[4] = 1 }, "32-bit ELF is not supported"),
            ("bad data encoding", mutated { $0[5] = 9 }, "bad ELF data encoding 9"),
            ("section header table past the end", mutated { Self.store64(UInt64(good.count + 64), at: 0x28, in: &$0) },
             "section header table at \(good.count + 64) is past the end of the file"),
            ("section header table 2^63", mutated { Self.store64(1 << 63, at: 0x28, in: &$0) }, "is past the end of the file"),
            ("too many sections", mutated { Self.store16(0xfff0, at: 0x3C, in: &$0) }, "runs past the end of the file"),
            ("bad section header size", mutated { Self.store16(40, at: 0x3A, in: &$0) }, "section header size 40, expected 64"),
            ("section past the end", mutated { Self.store64(UInt64(good.count + 100), at: headerField(btfSection, 24), in: &$0) },
             "section \(btfSection.index) at \(good.count + 100)+\(btfSection.size) lies outside"),
            ("section size 2^64-1", mutated { Self.store64(.max, at: headerField(btfSection, 32), in: &$0) }, "lies outside"),
            ("bad shstrndx", mutated { Self.store16(UInt16(elf.sections.count + 5), at: 0x3E, in: &$0) },
             "section name table index \(elf.sections.count + 5) out of range"),
            ("name offset outside the name table", mutated { Self.store32(0xffff_0000, at: headerField(btfSection, 0), in: &$0) },
             "has a name offset 4294901760 outside the name table"),
        ]
        for (what, bytes, problem) in cases {
            do {
                _ = try ELFFile(parsing: bytes, file: "damaged.o")
                Issue.record("\(what): parsed")
            } catch {
                #expect(error.problem.contains(problem), "\(what): \(error)")
                #expect(error.description.hasPrefix("damaged.o: offset "), "\(what): \(error)")
            }
        }

        // Overlapping sections are legal ELF: the file still reads, and what lies there is judged by
        // the parser of the section (here .BTF.ext over the .BTF bytes: a clear .BTF.ext error).
        let overlapping = mutated { Self.store64(btfSection.offset, at: headerField(extSection, 24), in: &$0) }
        let overlapped = try ELFFile(parsing: overlapping, file: "overlap.o")
        #expect(try overlapped.contents(of: #require(overlapped.section(named: ".BTF.ext"))).count == Int(extSection.size))
        _ = try BTF(elf: overlapped)
        let path = try BTFCheckTool.write(overlapping, name: "overlap.o")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try BPFObject(contentsOf: path)
            Issue.record("a .BTF.ext holding .BTF bytes was accepted")
        } catch {
            #expect(error.problem.hasPrefix("in section .BTF.ext: "), "\(error)")
            #expect(error.file == path)
        }

        // Damage inside .BTF is reported with the file offset and the section name.
        let badBTF = mutated { $0[Int(btfSection.offset) + 2] = 9 }
        do {
            _ = try BTF(elf: ELFFile(parsing: badBTF, file: "badbtf.o"))
            Issue.record("a .BTF with version 9 was accepted")
        } catch {
            #expect(error.description == "badbtf.o: offset \(Int(btfSection.offset) + 2): in section .BTF: unsupported BTF version 9")
        }
    }

    @Test("2000 random bit flips in a BPF object: ELF, .BTF and .BTF.ext each parse or throw", .timeLimit(.minutes(5)))
    func elfBitFlips() throws {
        let good = try FileIO.read(try Self.bpfObject())
        var rng = SeededGenerator(seed: 0xe1f_f11b)
        var outcomes = (parsed: 0, rejected: 0)
        for round in 0 ..< 2000 {
            var bytes = good
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
                // Aim at the ELF header and the section header table half of the time.
                let shoff = Int(Self.load64(at: 0x28, in: good))
                let index = Bool.random(using: &rng) ? Int.random(in: 0 ..< 64, using: &rng) + (Bool.random(using: &rng) ? 0 : shoff)
                    : Int.random(in: 0 ..< bytes.count, using: &rng)
                bytes[min(index, bytes.count - 1)] ^= 1 << UInt8.random(in: 0 ..< 8, using: &rng)
            }
            do {
                let elf = try ELFFile(parsing: bytes, file: "flip-\(round).o")
                for section in elf.sections { _ = try? elf.contents(of: section) }
                if let btf = try? BTF(elf: elf) { Self.walk(btf) }
                if let ext = elf.section(named: ".BTF.ext"), let data = try? elf.contents(of: ext) {
                    _ = try? BTFExt(parsing: data, file: "flip-\(round).o")
                }
                outcomes.parsed += 1
            } catch {
                outcomes.rejected += 1
                #expect(error.file == "flip-\(round).o", "\(error)")
            }
        }
        #expect(outcomes.parsed > 0 && outcomes.rejected > 0, "\(outcomes)")
    }

    // MARK: - .BTF.ext

    @Test(".BTF.ext: truncated at every length, bad rec_size, record counts past the end, random flips")
    func damagedBTFExt() throws {
        let object = try Self.bpfObject()
        let elf = try ELFFile(contentsOf: object)
        let good = Array(try elf.contents(of: #require(elf.section(named: ".BTF.ext"))))
        let parsed = try BTFExt(parsing: good[...])
        #expect(!parsed.coreRelocations.isEmpty && !parsed.funcInfo.isEmpty && !parsed.lineInfo.isEmpty,
                "the test object must have func_info, line_info and CO-RE relocations")

        // Every strict prefix fails, naming an offset (the subsections end where the blob ends).
        for length in 0 ..< good.count {
            do {
                _ = try BTFExt(parsing: good[..<length], file: "ext")
                Issue.record(".BTF.ext cut to \(length) of \(good.count) bytes parsed")
            } catch {
                #expect(error.offset != nil && error.file == "ext", "\(length): \(error)")
            }
        }
        #expect((try? BTFExt(parsing: good[..<7]))  == nil)
        do { _ = try BTFExt(parsing: good[..<7]) } catch {
            #expect(error.problem == "truncated .BTF.ext header: 7 bytes")
        }

        let headerLength = Int(Self.load(at: 4, in: good))
        let funcInfoStart = headerLength + Int(Self.load(at: 8, in: good))
        let coreStart = headerLength + Int(Self.load(at: 24, in: good))
        func mutated(_ change: (inout [UInt8]) -> Void) -> ArraySlice<UInt8> {
            var copy = good
            change(&copy)
            return copy[...]
        }
        let cases: [(String, ArraySlice<UInt8>, problem: String, offset: Int)] = [
            ("bad magic", mutated { $0[0] = 0 }, ".BTF.ext has bad magic", 0),
            ("bad version", mutated { $0[2] = 3 }, "unsupported .BTF.ext version 3", 2),
            ("header length past the end", mutated { Self.store(UInt32(good.count + 1), at: 4, in: &$0) }, "bad .BTF.ext header length", 4),
            ("func_info rec_size 0", mutated { Self.store(0, at: funcInfoStart, in: &$0) }, "record size 0 is invalid", funcInfoStart),
            ("func_info rec_size 6", mutated { Self.store(6, at: funcInfoStart, in: &$0) }, "record size 6 is invalid", funcInfoStart),
            ("core_relo rec_size 12", mutated { Self.store(12, at: coreStart, in: &$0) }, "record size 12 is invalid", coreStart),
            ("func_info rec_size 2^32-4", mutated { Self.store(0xffff_fffc, at: funcInfoStart, in: &$0) },
             "records of 4294967292 bytes run past the end", funcInfoStart + 8),
            ("func_info count 2^32-1", mutated { Self.store(.max, at: funcInfoStart + 8, in: &$0) },
             "4294967295 records of", funcInfoStart + 8),
            ("core_relo count past the end", mutated { Self.store(1000, at: coreStart + 8, in: &$0) },
             "1000 records of 16 bytes run past the end", coreStart + 8),
            ("zero records", mutated { Self.store(0, at: coreStart + 8, in: &$0) }, "info section with zero records", coreStart + 8),
            ("subsection past the end", mutated { Self.store(UInt32(good.count), at: 24, in: &$0) },
             "subsection at \(good.count)+", 24),
            ("unknown relocation kind", mutated { Self.store(99, at: coreStart + 12 + 12, in: &$0) },
             "unknown CO-RE relocation kind 99", coreStart + 12 + 12),
        ]
        for (what, bytes, problem, offset) in cases {
            do {
                _ = try BTFExt(parsing: bytes, file: "ext")
                Issue.record("\(what): parsed")
            } catch {
                #expect(error.problem.contains(problem), "\(what): \(error)")
                #expect(error.offset == offset, "\(what): \(error)")
            }
        }

        var rng = SeededGenerator(seed: 0xe47_f11b)
        for _ in 0 ..< 2000 {
            var bytes = good
            bytes[Int.random(in: 0 ..< bytes.count, using: &rng)] ^= 1 << UInt8.random(in: 0 ..< 8, using: &rng)
            do { _ = try BTFExt(parsing: bytes[...], file: "ext") } catch {
                #expect(error.offset != nil, "\(error)")
            }
        }
    }

    // MARK: - Inputs

    /// A real kernel's raw BTF: the running kernel's, else the smallest kernel of the shared archive.
    static func realKernelBTF() throws -> (bytes: [UInt8], name: String) {
        let vmlinux = "/sys/kernel/btf/vmlinux"
        if let bytes = try? FileIO.read(vmlinux) { return (bytes, vmlinux) }
        guard TestSupport.sharedArchiveAvailable() else { throw TestSupportError("no kernel BTF: neither \(vmlinux) nor the shared archive") }
        func size(_ p: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
        let archives = TestSupport.kernelArchives(under: TestSupport.sharedArchive)
        let smallest = try #require(archives.min { size($0) < size($1) })
        let path = try TestSupport.extractedKernel(smallest)
        return (try FileIO.read(path), path)
    }

    /// A BPF object with func_info, line_info and a CO-RE relocation, compiled once per test
    /// process (tests run concurrently: a shared temporary name or an earlier run's file must not matter).
    static func bpfObject() throws -> String { try compiledBPFObject.get() }

    private static let compiledBPFObject = Result<String, any Error> { try compileBPFObject() }

    private static func compileBPFObject() throws -> String {
        let dir = TestSupport.cache + "/malformed"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let object = dir + "/core.bpf.o"
        let source = dir + "/core-\(getpid()).bpf.c"
        try """
        struct task { int pid; int tgid; } __attribute__((preserve_access_index));
        __attribute__((section("tp/sched/sched_process_exec"), used))
        int probe(struct task *t) { return t->tgid; }
        char LICENSE[] __attribute__((section("license"), used)) = "GPL";
        """.write(toFile: source, atomically: true, encoding: .utf8)
        let temporary = object + ".tmp-\(getpid())"
        let result = try TestSupport.run("clang", ["-g", "-O2", "-target", "bpf", "-c", source, "-o", temporary])
        guard result.status == 0 else { throw TestSupportError("clang -target bpf failed: \(result.stderr)") }
        guard rename(temporary, object) == 0 else { throw TestSupportError("cannot move \(temporary) to \(object)") }
        return object
    }

    // MARK: - Helpers

    static func parseError(_ bytes: ArraySlice<UInt8>, file: String) -> BTFError? {
        do { _ = try BTF(parsing: bytes, file: file); return nil } catch { return error }
    }

    /// The little-endian header fields of a raw BTF.
    struct RawHeader {
        var length: Int, typeOffset: Int, typeLength: Int, stringOffset: Int, stringLength: Int
        init?(_ bytes: [UInt8]) {
            guard bytes.count >= 24, bytes[0] == 0x9f, bytes[1] == 0xeb else { return nil }
            length = Int(MalformedInputTests.load(at: 4, in: bytes))
            typeOffset = Int(MalformedInputTests.load(at: 8, in: bytes))
            typeLength = Int(MalformedInputTests.load(at: 12, in: bytes))
            stringOffset = Int(MalformedInputTests.load(at: 16, in: bytes))
            stringLength = Int(MalformedInputTests.load(at: 20, in: bytes))
        }
    }

    /// `bytes` with a 36-byte header: the 24-byte one, the kind-layout fields and `extra` after it.
    static func withLongHeader(_ bytes: [UInt8], extra: [UInt8]) -> ArraySlice<UInt8> {
        var copy = Array(bytes[..<24]) + extra + bytes[24...]
        store(UInt32(24 + extra.count), at: 4, in: &copy)
        return copy[...]
    }

    /// `bytes` with the type section shortened by `byWords` words, so that its last record is cut.
    static func withTypeSectionCut(_ bytes: [UInt8], header: RawHeader, byWords: Int) -> ArraySlice<UInt8> {
        var copy = bytes
        let typeEnd = header.length + header.typeOffset + header.typeLength
        copy.removeSubrange(typeEnd - 4 * byWords ..< typeEnd)
        store(UInt32(header.typeLength - 4 * byWords), at: 12, in: &copy)
        store(UInt32(header.stringOffset - 4 * byWords), at: 16, in: &copy)
        return copy[...]
    }

    static func load<C: Collection<UInt8>>(at offset: Int, in bytes: C) -> UInt32 where C.Index == Int {
        (0 ..< 4).reduce(0) { $0 | UInt32(bytes[bytes.startIndex + offset + $1]) << (8 * $1) }
    }
    static func load64(at offset: Int, in bytes: [UInt8]) -> UInt64 {
        (0 ..< 8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }
    static func store(_ value: UInt32, at offset: Int, in bytes: inout [UInt8]) {
        for i in 0 ..< 4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
    static func store32(_ value: UInt32, at offset: Int, in bytes: inout [UInt8]) { store(value, at: offset, in: &bytes) }
    static func store16(_ value: UInt16, at offset: Int, in bytes: inout [UInt8]) {
        for i in 0 ..< 2 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
    static func store64(_ value: UInt64, at offset: Int, in bytes: inout [UInt8]) {
        for i in 0 ..< 8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
}

/// A small deterministic generator (SplitMix64), so that random mutations reproduce run to run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
