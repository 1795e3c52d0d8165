import Archive
@testable import BTF
import BTFRuntime
import CORE
import Foundation
@testable import TestSupport
import Testing
import Trim

/// Hostile input the other suites do not cover: BTF graphs with cycles and 10,000-level chains
/// through the CO-RE engine, the minimizer and the dump; records with the largest vlen; ELF objects
/// with overlapping or out-of-file sections given to `btf-trim`; empty and missing files for every
/// reader and tool. Each must end with a result or a clear error naming the file, in bounded time.
/// Also: failure without loss (an interrupted sweep, a failed re-run, `btf-pack embed`, the runtime).
@Suite("Hostile input: cycles, deep chains, huge records, bad ELF, empty and missing files", .serialized,
       .timeLimit(.minutes(20)))  // a hang guard, not a speed target: linear work on a loaded machine stays far below it
struct HostileInputTests {
    // MARK: - Fixtures

    /// The project's BPF objects and one real kernel trimmed for them: every struct, member, typedef
    /// and modifier the relocations walk, in a BTF small enough to mutate wholesale.
    struct Fixture: Sendable {
        let objects: [BPFObject]
        let kernel: BTF
    }

    static let fixture: Result<Fixture, Error> = Result {
        let objects = try TestSupport.compiledBPFObjects().map { try BPFObject(contentsOf: $0) }
        let source = TestSupport.fixtures + "/debian/12/x86_64/6.1.0-50-cloud-amd64.btf.tar.xz"
        let full = try BTF(contentsOf: try TestSupport.extractedKernel(source))
        return Fixture(objects: objects, kernel: try Trimmer(objects: objects).trim(kernel: full).minimized)
    }

    /// Rebuilds `btf` with the same type ids and the same string table (an object's `.BTF.ext`
    /// refers to both), letting `change` rewrite each record, then appends what `appending` adds
    /// (names only from the existing strings), and round-trips the result through the writer and
    /// the reader: the tools get a BTF as they would from a file.
    static func rebuilt(_ btf: BTF, name: String, change: (TypeID, inout TypeRecord) -> Void,
                        appending: (inout BTFBuilder) -> Void = { _ in }) throws -> BTF {
        var builder = BTFBuilder(byteOrder: btf.byteOrder)
        for id in btf.typeIDs {
            var record = btf.record(id)
            change(id, &record)
            builder.add(record)
        }
        appending(&builder)
        var built = builder.build()
        built.strings = btf.strings
        return try BTF(parsing: built.serialized(), file: name)
    }

    /// Runs `body` and prints how long it took. Not an assertion (timings belong in benchmarks):
    /// a hang or an exponential walk is caught by the suite's time limit instead.
    static func withinBudget<T>(_ what: String, _ body: () throws -> T) rethrows -> T {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try body()
        print("hostile input: \(what) took \(clock.now - start)")
        return result
    }

    /// What the tools do with a (possibly hostile) kernel BTF: resolve and trim for every object,
    /// dump it, and check that a successful trim's output parses again. Returns the trim error, if any.
    @discardableResult
    static func exercise(kernel: BTF, objects: [BPFObject], case what: String) -> BTFError? {
        withinBudget("\(what): dump") { #expect(!kernel.dumpText().isEmpty) }
        return withinBudget("\(what): trim") { () -> BTFError? in
            let trimmed: TrimResult
            do throws(BTFError) { trimmed = try Trimmer(objects: objects).trim(kernel: kernel) } catch {
                #expect(!error.problem.isEmpty)
                return error
            }
            #expect((try? BTF(parsing: trimmed.minimized.serialized(), file: what)) != nil, "\(what): the minimized BTF does not parse")
            _ = trimmed.minimized.dumpText()
            return nil
        }
    }

    /// The hostile kernel written to a file and given to the built `btf-trim` (the project's
    /// objects) and `btf-dump`, each under `toolAddressSpace`: an exit status, never a signal.
    static func throughTheTools(kernel: BTF, case what: String) throws {
        let trim = try BTFTrimTool.path()
        let dump = URL(fileURLWithPath: trim).deletingLastPathComponent().appendingPathComponent("btf-dump").path
        let dir = try TemporaryDirectory()
        let path = dir.path + "/hostile.btf"
        try FileIO.writeAtomically(kernel.serialized(), to: path)
        let trimmed = try withinBudget("\(what): btf-trim") {
            try runBounded(trim, try TestSupport.compiledBPFObjects() + [path, "-o", dir.path + "/out.btf"])
        }
        #expect(trimmed.status == 0 || trimmed.status == 1, "\(what): btf-trim ended with \(trimmed.status): \(trimmed.stderr)")
        if FileManager.default.isExecutableFile(atPath: dump) {
            let dumped = try withinBudget("\(what): btf-dump") { try runBounded(dump, [path]) }
            #expect(dumped.status == 0, "\(what): btf-dump ended with \(dumped.status): \(dumped.stderr)")
        }
    }

    /// The kinds whose `type` field refers to one other type.
    static let modifierKinds: Set<BTFKind> = [.typedef, .const, .volatile, .restrict, .typeTag]

    /// Ways to put cycles into a BTF graph without changing its type ids.
    enum Cycle: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case typedefToItself = "every typedef refers to itself (typedef A -> typedef A)"
        case modifierToItself = "every typedef, const, volatile, restrict and type tag refers to itself"
        case modifierRing = "all typedefs and modifiers form one ring, the last referring to the first"
        case pointerToItself = "every pointer points to itself"
        case structHoldsItself = "every struct and union holds itself as its first member, not through a pointer"
        case arrayOfItself = "every array is an array of itself"

        var testDescription: String { rawValue }

        /// `btf` with this cycle put in; every other record unchanged.
        func applied(to btf: BTF, name: String) throws -> BTF {
            let modifiers = Array(btf.typeIDs).filter { btf.kind($0).map(HostileInputTests.modifierKinds.contains) == true }
            return try HostileInputTests.rebuilt(btf, name: name) { id, record in
                switch (self, record.kind) {
                case (.typedefToItself, .typedef):
                    record.sizeOrType = id.rawValue
                case (.modifierToItself, let kind) where HostileInputTests.modifierKinds.contains(kind):
                    record.sizeOrType = id.rawValue
                case (.modifierRing, let kind) where HostileInputTests.modifierKinds.contains(kind):
                    record.sizeOrType = modifiers[(modifiers.firstIndex(of: id)! + 1) % modifiers.count].rawValue
                case (.pointerToItself, .pointer):
                    record.sizeOrType = id.rawValue
                case (.structHoldsItself, .structure), (.structHoldsItself, .union):
                    if record.vlen > 0 { record.extra[1] = id.rawValue }
                case (.arrayOfItself, .array):
                    record.extra[0] = id.rawValue
                default:
                    break
                }
            }
        }

        /// Whether `btf` has a record this cycle changes (else the case tests nothing).
        func applies(to btf: BTF) -> Bool {
            btf.typeIDs.contains { id in
                switch (self, btf.kind(id)) {
                case (.typedefToItself, .typedef), (.pointerToItself, .pointer), (.arrayOfItself, .array): true
                case (.modifierToItself, let kind?), (.modifierRing, let kind?): HostileInputTests.modifierKinds.contains(kind)
                case (.structHoldsItself, .structure), (.structHoldsItself, .union): btf.type(id).vlen > 0
                default: false
                }
            }
        }
    }

    /// The same BPF objects with their local `.BTF` replaced (same ids, same relocation records).
    static func objects(_ objects: [BPFObject], withLocal transform: (BTF, String) throws -> BTF) rethrows -> [BPFObject] {
        try objects.map { object in
            var changed = object
            changed.btf = try transform(object.btf, object.path)
            return changed
        }
    }

    // MARK: - Cycles

    @Test("the rebuild these tests use changes nothing by itself: relocations resolve as against the original")
    func faithfulRebuild() throws {
        let fixture = try Self.fixture.get()
        let kernel = try Self.rebuilt(fixture.kernel, name: "kernel") { _, _ in }
        let objects = try Self.objects(fixture.objects) { btf, path in try Self.rebuilt(btf, name: path) { _, _ in } }
        #expect(kernel.serialized() == fixture.kernel.serialized())
        for (original, copy) in zip(fixture.objects, objects) {
            let before = CORERelocator(target: fixture.kernel).resolveAll(in: original).map(\.outcome)
            #expect(CORERelocator(target: kernel).resolveAll(in: copy).map(\.outcome) == before, "\(original.path)")
            #expect(before.contains { if case .resolved = $0 { true } else { false } })
        }
    }

    @Test("reference cycles in the kernel BTF: trim and dump terminate with a result or an error", arguments: Cycle.allCases)
    func cyclesInTheKernel(cycle: Cycle) throws {
        let fixture = try Self.fixture.get()
        #expect(cycle.applies(to: fixture.kernel), "the trimmed kernel has nothing for this cycle to loop")
        let kernel = try cycle.applied(to: fixture.kernel, name: "kernel with cycles")
        Self.exercise(kernel: kernel, objects: fixture.objects, case: "kernel: " + cycle.rawValue)
        try Self.throughTheTools(kernel: kernel, case: cycle.rawValue)
        // The cycles lie on relocation paths: some outcome differs from the one against the intact kernel.
        let before = fixture.objects.map { CORERelocator(target: fixture.kernel).resolveAll(in: $0).map(\.outcome) }
        let after = fixture.objects.map { CORERelocator(target: kernel).resolveAll(in: $0).map(\.outcome) }
        #expect(zip(before.joined(), after.joined()).contains { $0 != $1 }, "no relocation passes through the cycle")
    }

    @Test("reference cycles in the objects' local BTF: every relocation gets an outcome, the trim terminates",
          arguments: Cycle.allCases)
    func cyclesInTheObjects(cycle: Cycle) throws {
        let fixture = try Self.fixture.get()
        let what = "objects: " + cycle.rawValue
        let objects = try Self.objects(fixture.objects) { btf, path in try cycle.applied(to: btf, name: path) }
        let relocator = CORERelocator(target: fixture.kernel)
        let results = Self.withinBudget(what) { objects.map { relocator.resolveAll(in: $0) } }
        let before = fixture.objects.map { relocator.resolveAll(in: $0).map(\.outcome) }
        // The cycles lie on relocation paths: some outcome differs from the one for the intact objects.
        #expect(zip(before.joined(), results.joined().map(\.outcome)).contains { $0 != $1 }, "no relocation passes through the cycle")
        #expect(results.map(\.count) == fixture.objects.map { $0.ext?.coreRelocations.reduce(0) { $0 + $1.records.count } ?? 0 })
        Self.exercise(kernel: fixture.kernel, objects: objects, case: what)
    }

    @Test("relocation records pointing outside the object's BTF (types, access strings, section names): each fails, nothing traps")
    func relocationsPointingOutsideTheObject() throws {
        let fixture = try Self.fixture.get()
        var oneInt = BTFBuilder()
        oneInt.add(TypeRecord(kind: .int, name: oneInt.addString("int"), sizeOrType: 4, extra: [0x0100_0020]))
        for (what, local) in [("no types, no strings", BTFBuilder().build()), ("one int", oneInt.build())] {
            let objects = Self.objects(fixture.objects) { _, _ in local }
            let results = objects.map { CORERelocator(target: fixture.kernel).resolveAll(in: $0) }
            let outcomes = results.joined().map(\.outcome)
            #expect(outcomes.count == fixture.objects.map { $0.ext?.coreRelocations.reduce(0) { $0 + $1.records.count } ?? 0 }.reduce(0, +))
            // Nearly all records name a type this BTF lacks, or an access string it does not hold.
            let failed = outcomes.filter(\.failsLoad).count
            #expect(failed * 10 >= outcomes.count * 9, "\(what): only \(failed) of \(outcomes.count) failed")
            Self.exercise(kernel: fixture.kernel, objects: objects, case: "objects whose BTF has \(what)")
        }
    }

    // MARK: - Deep nesting

    /// Replaces every struct/union member type T by a chain of `depth` typedef/const/volatile levels
    /// ending at T (one chain per distinct T), and every array element type E by `depth` nested
    /// one-element arrays of E.
    static func withDeepChains(_ btf: BTF, depth: Int, name: String) throws -> BTF {
        var memberTypes: [UInt32] = []
        var arrays: [TypeID] = []
        for id in btf.typeIDs {
            let record = btf.record(id)
            if record.kind == .structure || record.kind == .union {
                for member in 0 ..< record.vlen where !memberTypes.contains(record.extra[3 * member + 1]) {
                    memberTypes.append(record.extra[3 * member + 1])
                }
            } else if record.kind == .array {
                arrays.append(id)
            }
        }
        let firstNew = UInt32(btf.typeCount)
        // Chain i occupies ids firstNew + i*depth ..< firstNew + (i+1)*depth; its head is the last one.
        func chainHead(_ chain: Int) -> UInt32 { firstNew + UInt32((chain + 1) * depth) - 1 }
        return try rebuilt(btf, name: name, change: { id, record in
            if record.kind == .structure || record.kind == .union {
                for member in 0 ..< record.vlen {
                    record.extra[3 * member + 1] = chainHead(memberTypes.firstIndex(of: record.extra[3 * member + 1])!)
                }
            } else if record.kind == .array, let chain = arrays.firstIndex(of: id) {
                record.extra[0] = chainHead(memberTypes.count + chain)
            }
        }, appending: { builder in
            // Any existing name will do for the typedefs (a typedef must have one).
            let typedefName = btf.typeIDs.lazy.map { btf.type($0).nameOffset }.first { !$0.isEmpty } ?? .empty
            for target in memberTypes {
                var below = target
                for level in 0 ..< depth {
                    let kind: BTFKind = [.typedef, .const, .volatile][level % 3]
                    below = builder.add(TypeRecord(kind: kind, name: kind == .typedef ? typedefName : .empty, sizeOrType: below)).rawValue
                }
            }
            for array in arrays {
                let original = btf.array(btf.type(array))
                var below = original.elementType.rawValue
                for _ in 0 ..< depth {
                    below = builder.add(TypeRecord(kind: .array, name: .empty, sizeOrType: 0,
                                                   extra: [below, original.indexType.rawValue, 1])).rawValue
                }
            }
        })
    }

    @Test("10,000-level typedef/const/volatile chains under every member, 10,000 nested arrays: bounded time, no stack overflow")
    func deepChains() throws {
        let fixture = try Self.fixture.get()
        let depth = 10_000
        let kernel = try Self.withDeepChains(fixture.kernel, depth: depth, name: "deep kernel")
        #expect(kernel.typeCount > fixture.kernel.typeCount + depth)
        Self.exercise(kernel: kernel, objects: fixture.objects, case: "kernel with \(depth)-level chains")
        try Self.throughTheTools(kernel: kernel, case: "\(depth)-level chains")

        let objects = try Self.objects(fixture.objects) { btf, path in try Self.withDeepChains(btf, depth: depth, name: path) }
        Self.exercise(kernel: fixture.kernel, objects: objects, case: "objects with \(depth)-level chains")
        Self.exercise(kernel: kernel, objects: objects, case: "both sides with \(depth)-level chains")
    }

    // MARK: - Huge vlen

    @Test("the largest vlen (65535 members, enumerators, parameters) in records the relocations reach: parse, resolve, trim, dump")
    func hugeVlen() throws {
        let fixture = try Self.fixture.get()
        let maxVlen = 0xffff
        let btf = fixture.kernel
        var grown: [String] = []
        let int = btf.typeIDs.first { btf.kind($0) == .int }!
        let kernel = try Self.rebuilt(btf, name: "huge-vlen kernel") { id, record in
            let kind = record.kind
            if kind == .structure || kind == .union, record.vlen > 0 {
                // Anonymous int members at offset 0 after the real ones: the size and every real
                // member stay as they were, so the relocations must resolve as before.
                while record.vlen < maxVlen {
                    record.extra += [0, int.rawValue, 0]
                    record.setVlen(record.vlen + 1)
                }
                grown.append(btf.name(id))
            } else if kind == .enumeration || kind == .enum64 {
                let words = kind == .enumeration ? 2 : 3
                // Anonymous enumerators: no enum relocation can name them.
                while record.vlen < maxVlen {
                    record.extra += [0, UInt32(record.vlen)] + (words == 3 ? [0] : [])
                    record.setVlen(record.vlen + 1)
                }
                grown.append(btf.name(id))
            } else if kind == .functionPrototype {
                while record.vlen < maxVlen {
                    record.extra += [0, int.rawValue]
                    record.setVlen(record.vlen + 1)
                }
            }
        }
        #expect(grown.contains("task_struct"), "the relocations' root struct must be among the grown ones: \(grown)")
        #expect(kernel.typeIDs.contains { kernel.type($0).vlen == maxVlen })
        // The real members keep resolving to the same values: the extra members only lengthen the search.
        let before = fixture.objects.map { CORERelocator(target: fixture.kernel).resolveAll(in: $0).map(\.outcome) }
        let after = Self.withinBudget("resolving against 65535-member records") {
            fixture.objects.map { CORERelocator(target: kernel).resolveAll(in: $0).map(\.outcome) }
        }
        #expect(after == before)
        #expect(Self.exercise(kernel: kernel, objects: fixture.objects, case: "huge vlen") == nil)
    }

    // MARK: - Bad ELF objects through btf-trim

    static func load64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0 ..< 8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }

    static func store64(_ value: UInt64, at offset: Int, in bytes: inout [UInt8]) {
        for i in 0 ..< 8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    @Test("btf-trim given objects with overlapping or out-of-file sections: exit 2, the object named, the old output untouched")
    func badObjectsThroughBTFTrim() throws {
        let tool = try BTFTrimTool.path()
        let objectPath = try TestSupport.compiledBPFObjects()[0]
        let good = try FileIO.read(objectPath)
        let elf = try ELFFile(parsing: good, file: objectPath)
        let btfSection = try #require(elf.section(named: ".BTF"))
        let extSection = try #require(elf.section(named: ".BTF.ext"))
        let tableOffset = Int(Self.load64(good, at: 0x28))
        func field(_ section: ELFSection, _ offset: Int) -> Int { tableOffset + section.index * 64 + offset }
        func mutated(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var copy = good
            change(&copy)
            return copy
        }
        let cases: [(name: String, bytes: [UInt8], problem: String)] = [
            (".BTF.ext over the .BTF bytes", mutated { Self.store64(btfSection.offset, at: field(extSection, 24), in: &$0) },
             "in section .BTF.ext"),
            (".BTF over the ELF header", mutated { Self.store64(0, at: field(btfSection, 24), in: &$0) }, "in section .BTF"),
            (".BTF over the section header table", mutated {
                Self.store64(UInt64(tableOffset), at: field(btfSection, 24), in: &$0)
                Self.store64(UInt64(good.count - tableOffset), at: field(btfSection, 32), in: &$0)
            }, "in section .BTF"),
            (".BTF starting past the end of the file", mutated { Self.store64(UInt64(good.count + 4096), at: field(btfSection, 24), in: &$0) },
             "lies outside"),
            (".BTF running past the end of the file", mutated { Self.store64(UInt64(good.count), at: field(btfSection, 32), in: &$0) },
             "lies outside"),
            (".BTF.ext with size 2^64-1", mutated { Self.store64(.max, at: field(extSection, 32), in: &$0) }, "lies outside"),
            ("the file cut inside the section header table", Array(good.prefix(tableOffset + 100)), "past the end of the file"),
        ]
        let dir = try TemporaryDirectory()
        let kernel = dir.path + "/kernel.btf"
        try FileIO.writeAtomically(try Self.fixture.get().kernel.serialized(), to: kernel)
        let output = dir.path + "/out.btf"
        let previous: [UInt8] = Array("an earlier run's output\n".utf8)
        for (index, (name, bytes, problem)) in cases.enumerated() {
            let object = dir.path + "/bad-\(index).bpf.o"
            try FileIO.writeAtomically(bytes, to: object)
            try FileIO.writeAtomically(previous, to: output)
            let inode = try Self.inode(output)
            let result = try Self.withinBudget(name) { try Self.runBounded(tool, [object, kernel, "-o", output]) }
            #expect(result.status == 2, "\(name): exit \(result.status), \(result.stderr)")
            #expect(result.stderr.contains(object), "\(name): the message must name the object: \(result.stderr)")
            #expect(result.stderr.contains(problem), "\(name): \(result.stderr)")
            #expect(try FileIO.read(output) == previous, "\(name): the existing output was changed")
            #expect(try Self.inode(output) == inode, "\(name): the existing output was replaced")
        }
        #expect(try Self.hiddenFiles(in: dir.path).isEmpty, "temporary files left behind")
    }

    // MARK: - Empty and missing files

    @Test("empty and missing files given to every reader: an error naming the file")
    func emptyAndMissingFilesInTheLibrary() throws {
        let dir = try TemporaryDirectory()
        let empty = dir.path + "/empty"
        try dir.write("empty", [])
        let missing = dir.path + "/missing"
        for path in [empty, missing] {
            let kind = path == empty ? "empty" : "missing"
            let errors: [(String, String?)] = [
                ("BTF(contentsOf:)", Self.errorText { _ = try BTF(contentsOf: path) }),
                ("ELFFile(contentsOf:)", Self.errorText { _ = try ELFFile(contentsOf: path) }),
                ("BPFObject(contentsOf:)", Self.errorText { _ = try BPFObject(contentsOf: path) }),
                ("KernelArchive.readBTF", Self.errorText { _ = try KernelArchive.readBTF(fromArchive: path) }),
                ("BTFPack(contentsOf:)", Self.errorText { _ = try BTFPack(contentsOf: path) }),
                ("ELFSectionReader.contents", Self.errorText { _ = try ELFSectionReader.contents(inFile: path) }),
            ]
            for (reader, error) in errors {
                let text = try #require(error, "\(reader) accepted a \(kind) file")
                #expect(text.contains(path), "\(reader), \(kind) file: \(text)")
            }
        }
    }

    @Test("empty and missing objects, kernels and packs given to the tools: a non-zero exit naming the file")
    func emptyAndMissingFilesInTheTools() throws {
        let trim = try BTFTrimTool.path()
        let tools = URL(fileURLWithPath: trim).deletingLastPathComponent().path
        let object = try TestSupport.compiledBPFObjects()[0]
        let dir = try TemporaryDirectory()
        try dir.write("empty.bpf.o", [])
        try dir.write("empty.btf", [])
        try dir.write("empty.tar.xz", [])
        try dir.write("tree/ubuntu/20.04/x86_64/5.4.0-1-generic.btf.tar.xz", [])
        try dir.write("tree/ubuntu/20.04/x86_64/5.4.0-2-generic.btf", [])
        let kernel = dir.path + "/kernel.btf"
        try FileIO.writeAtomically(try Self.fixture.get().kernel.serialized(), to: kernel)
        let d = dir.path
        let runs: [(tool: String, arguments: [String], status: Int32, named: String)] = [
            ("btf-trim", ["\(d)/empty.bpf.o", kernel, "-o", "\(d)/o1.btf"], 2, "\(d)/empty.bpf.o"),
            ("btf-trim", ["\(d)/missing.bpf.o", kernel, "-o", "\(d)/o2.btf"], 2, "\(d)/missing.bpf.o"),
            ("btf-trim", [object, "\(d)/empty.btf", "-o", "\(d)/o3.btf"], 1, "\(d)/empty.btf"),
            ("btf-trim", [object, "\(d)/missing.btf", "-o", "\(d)/o4.btf"], 2, "\(d)/missing.btf"),
            ("btf-trim", [object, "\(d)/tree", "-o", "\(d)/o5"], 1, "\(d)/tree/ubuntu/20.04/x86_64/5.4.0-1-generic.btf.tar.xz"),
            ("btf-trim", [object, "\(d)/tree", "-o", "\(d)/o6"], 1, "\(d)/tree/ubuntu/20.04/x86_64/5.4.0-2-generic.btf"),
            ("btf-dump", ["\(d)/empty.btf"], 1, "\(d)/empty.btf"),
            ("btf-dump", ["\(d)/missing.btf"], 1, "\(d)/missing.btf"),
            ("btf-pack", ["embed", "\(d)/empty.tar.xz", "--into", trim, "-o", "\(d)/o7"], 1, "\(d)/empty.tar.xz"),
            ("btf-pack", ["embed", "\(d)/missing.tar.xz", "--into", trim, "-o", "\(d)/o8"], 1, "\(d)/missing.tar.xz"),
            ("btf-pack", ["pack", "\(d)/missing-tree", "-o", "\(d)/o9.tar.xz"], 1, "\(d)/missing-tree"),
        ]
        for run in runs {
            let path = tools + "/" + run.tool
            guard FileManager.default.isExecutableFile(atPath: path) else {
                Issue.record("\(run.tool) is not built beside btf-trim")
                continue
            }
            let result = try Self.withinBudget(run.tool) { try Self.runBounded(path, run.arguments) }
            let line = "\(run.tool) \(run.arguments.joined(separator: " "))"
            #expect(result.status == run.status, "\(line): exit \(result.status): \(result.stderr)")
            #expect(result.stderr.contains(run.named), "\(line): the message must name \(run.named): \(result.stderr)")
        }
        // Nothing that looks like an output was written for a failed single-file run.
        for name in ["o1.btf", "o2.btf", "o3.btf", "o4.btf", "o7", "o8", "o9.tar.xz"] {
            #expect(!FileManager.default.fileExists(atPath: d + "/" + name), "\(name) was written")
        }
    }

    @Test("the runtime given an empty or missing pack, or an empty pack section: an error naming it")
    func emptyPacksInTheRuntime() throws {
        let dir = try TemporaryDirectory()
        try dir.write("empty.tar.xz", [])
        let identity = KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-1-generic")
        let sources: [(PackSource, String)] = [
            (.file(dir.path + "/empty.tar.xz"), dir.path + "/empty.tar.xz"),
            (.file(dir.path + "/missing.tar.xz"), dir.path + "/missing.tar.xz"),
            (.bytes([], description: "an empty pack section"), "an empty pack section"),
            (.elfSection(file: dir.path + "/empty.tar.xz", section: ".btfkit.pack"), dir.path + "/empty.tar.xz"),
        ]
        for (source, name) in sources {
            var options = RuntimeBTFOptions()
            options.pack = source
            options.identity = identity
            options.environment = ["BTFKIT_FORCE_EMBEDDED": "1"]
            do {
                let chosen = try RuntimeBTF.ensure(options)
                chosen.release()
                Issue.record("\(name): accepted")
            } catch {
                #expect("\(error)".contains(name), "\(error)")
            }
        }
    }

    // MARK: - Failure without loss

    @Test("SIGINT during a sweep of the 85 shared kernels: every .btf written is complete, no temporary file remains",
          .timeLimit(.minutes(10)), .requiresSharedArchive)
    func interruptedSweep() throws {
        try TestSupport.requireSharedArchive()
        let tool = try BTFTrimTool.path()
        let objects = try TestSupport.compiledBPFObjects()
        let dir = try TemporaryDirectory()
        let output = dir.path + "/out"
        // Round 0: ^C 1.5 s after the first kernel is written. Later rounds (which replace existing
        // outputs): ^C the moment a temporary file shows up, in the middle of a write.
        var caughtWriting = 0
        for round in 0 ..< 4 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = objects + [TestSupport.sharedArchive, "-o", output, "--jobs", "2"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(180)
            var sawTemporary = false
            while process.isRunning && Date() < deadline {
                if round == 0 {
                    if !(try Self.files(under: output)).isEmpty { Thread.sleep(forTimeInterval: 1.5); break }
                    usleep(20_000)
                } else {
                    if !(try Self.files(under: output, hiddenOnly: true)).isEmpty { sawTemporary = true; break }
                    usleep(200)
                }
            }
            process.interrupt()  // SIGINT, as ^C sends it
            process.waitUntilExit()
            if sawTemporary { caughtWriting += 1 }
            // Killed by SIGINT, or (InterruptCleanup's fallback) exit status 128 + SIGINT.
            let interrupted = process.terminationReason == .uncaughtSignal ? process.terminationStatus == SIGINT
                : process.terminationStatus == 128 + SIGINT
            #expect(interrupted, "round \(round): the sweep ended with status \(process.terminationStatus), not by the interrupt")

            let written = try Self.files(under: output)
            #expect(!written.isEmpty, "round \(round): no kernel written before the interrupt")
            for relative in written {
                #expect(relative.hasSuffix(".btf"), "\(relative) is not an output")
                do { _ = try BTF(contentsOf: output + "/" + relative) } catch {
                    Issue.record("round \(round): \(relative) is incomplete after SIGINT: \(error)")
                }
            }
            let leftovers = try Self.files(under: output, hiddenOnly: true)
            #expect(leftovers.isEmpty, "round \(round): temporary files left after SIGINT: \(leftovers)")
        }
        #expect(caughtWriting > 0, "no round interrupted the sweep while it was writing a file")
    }

    @Test("a failed re-run of btf-trim in single-file mode leaves the existing output as it was")
    func failedRerunKeepsOutput() throws {
        let tool = try BTFTrimTool.path()
        let objects = try TestSupport.compiledBPFObjects()
        let dir = try TemporaryDirectory()
        let kernel = dir.path + "/kernel.btf"
        try FileIO.writeAtomically(try Self.fixture.get().kernel.serialized(), to: kernel)
        let output = dir.path + "/min.btf"
        let first = try TestSupport.run(tool, objects + [kernel, "-o", output])
        #expect(first.status == 0, "\(first.stderr)")
        let good = try FileIO.read(output)
        let inode = try Self.inode(output)
        // The same output path, now from a kernel cut in half.
        try FileIO.writeAtomically(Array(good.prefix(good.count / 2)), to: kernel)
        let second = try TestSupport.run(tool, objects + [kernel, "-o", output])
        #expect(second.status != 0)
        #expect(second.stderr.contains(kernel), "\(second.stderr)")
        #expect(try FileIO.read(output) == good)
        #expect(try Self.inode(output) == inode)
        #expect(try Self.hiddenFiles(in: dir.path).isEmpty)
    }

    @Test("SIGINT while btf-pack streams a pack into its output: no temporary file remains, the old output stays",
          .timeLimit(.minutes(5)))
    func interruptedPack() throws {
        let pack = URL(fileURLWithPath: try BTFTrimTool.path()).deletingLastPathComponent().appendingPathComponent("btf-pack").path
        let dir = try TemporaryDirectory()
        // Whole kernels (the fixtures' archives, hard-linked under 4 versions each): the second
        // pass decompresses and gzips each again, seconds during which the temporary file exists.
        var count = 0
        for kernel in ["debian/12/x86_64/6.1.0-50-cloud-amd64", "debian/12/x86_64/6.12.95+deb12-cloud-amd64", "debian/12/arm64/6.1.0-50-cloud-arm64"] {
            let parts = kernel.split(separator: "/")
            for copy in 0 ..< 4 {
                let directory = dir.path + "/tree/\(parts[0])/\(parts[1])-c\(copy)/\(parts[2])"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                #expect(link(TestSupport.fixtures + "/\(kernel).btf.tar.xz", directory + "/\(parts[3]).btf.tar.xz") == 0)
                count += 1
            }
        }
        let outputs = dir.path + "/out"
        try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true)
        let output = outputs + "/btf.tar.gz"
        try FileIO.writeAtomically([1, 2, 3], to: output)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: pack)
        process.arguments = [dir.path + "/tree", "--format", "tar.gz", "-o", output]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(240)
        var sawTemporary = false
        while process.isRunning && Date() < deadline {
            if !(try Self.hiddenFiles(in: outputs)).isEmpty { sawTemporary = true; break }
            usleep(200)
        }
        usleep(300_000)  // well inside the second pass: a kernel or two written
        let signals = ((try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? "")
            .split(separator: "\n").filter { $0.hasPrefix("Sig") }.joined(separator: ", ")
        process.interrupt()  // SIGINT, as ^C sends it
        process.waitUntilExit()
        #expect(sawTemporary, "btf-pack finished \(count) kernels before its temporary file was seen")
        let interrupted = process.terminationReason == .uncaughtSignal ? process.terminationStatus == SIGINT
            : process.terminationStatus == 128 + SIGINT
        #expect(interrupted, "btf-pack ended with status \(process.terminationStatus), not by the interrupt (\(signals))")
        #expect(try Self.hiddenFiles(in: outputs).isEmpty, "temporary files left after SIGINT")
        #expect(try FileIO.read(output) == [1, 2, 3], "the old output was replaced by an interrupted pack")
    }

    @Test("btf-pack embed never modifies its input binary: not on success, not on any failure")
    func embedLeavesItsInputAlone() throws {
        let trim = try BTFTrimTool.path()
        let pack = URL(fileURLWithPath: trim).deletingLastPathComponent().appendingPathComponent("btf-pack").path
        guard FileManager.default.isExecutableFile(atPath: pack) else {
            Issue.record("btf-pack is not built beside btf-trim")
            return
        }
        let dir = try TemporaryDirectory()
        let binary = dir.path + "/loader"
        try FileIO.writeAtomically(try FileIO.read("/bin/true"), to: binary, mode: 0o755)
        let tree = dir.path + "/tree/ubuntu/20.04/x86_64"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try FileIO.writeAtomically(try Self.fixture.get().kernel.serialized(), to: tree + "/5.4.0-1-generic.btf")
        let packed = dir.path + "/btf.tar.xz"
        #expect(try TestSupport.run(pack, ["pack", dir.path + "/tree", "-o", packed]).status == 0)
        try dir.write("garbage.tar.xz", Array("not a pack".utf8))

        let before = try FileIO.read(binary)
        var status = stat()
        #expect(stat(binary, &status) == 0)
        let (inode, modified) = (status.st_ino, status.st_mtim)
        let runs: [(String, [String], succeeds: Bool)] = [
            ("success", ["embed", packed, "--into", binary, "-o", dir.path + "/loader.packed"], true),
            ("output is the input", ["embed", packed, "--into", binary, "-o", binary], false),
            ("output is the input through a relative path", ["embed", packed, "--into", binary, "-o", dir.path + "/./loader"], false),
            ("garbage pack", ["embed", dir.path + "/garbage.tar.xz", "--into", binary, "-o", dir.path + "/o1"], false),
            ("embedding twice", ["embed", packed, "--into", dir.path + "/loader.packed", "-o", dir.path + "/o2"], false),
            ("output in a missing directory", ["embed", packed, "--into", binary, "-o", dir.path + "/no/such/dir/o3"], false),
        ]
        for (what, arguments, succeeds) in runs {
            let result = try TestSupport.run(pack, arguments)
            #expect((result.status == 0) == succeeds, "\(what): exit \(result.status): \(result.stderr)")
            #expect(try FileIO.read(binary) == before, "\(what): the input binary changed")
            var after = stat()
            #expect(stat(binary, &after) == 0)
            #expect(after.st_ino == inode && after.st_mtim.tv_sec == modified.tv_sec && after.st_mtim.tv_nsec == modified.tv_nsec,
                    "\(what): the input binary was touched")
        }
        // The embedded copy is a different file that carries the pack.
        #expect(try ELFSectionReader.contents(inFile: dir.path + "/loader.packed") == (try FileIO.read(packed)))
        #expect(try Self.hiddenFiles(in: dir.path).isEmpty)
    }

    @Test("the runtime writes to no predictable path: a memfd, or a fresh mkstemp name per call")
    func runtimeUsesNoPredictablePath() throws {
        let (bytes, identity, _) = try RuntimeTestSupport.pack()
        var options = RuntimeTestSupport.forcedEmbeddedOptions(pack: bytes, identity: identity)

        let memory = try RuntimeBTF.ensure(options)
        let path = try #require(memory.customPath)
        #expect(path.hasPrefix("/proc/self/fd/"))
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
        #expect(target.hasPrefix("/memfd:"), "\(path) -> \(target) is not a memfd")
        memory.release()

        options.forceTemporaryFile = true
        let first = try RuntimeBTF.ensure(options)
        let second = try RuntimeBTF.ensure(options)
        let (firstPath, secondPath) = (try #require(first.customPath), try #require(second.customPath))
        #expect(firstPath != secondPath, "two exposures share the path \(firstPath)")
        // mkstemp's six random characters: nothing another user could create in advance.
        for path in [firstPath, secondPath] {
            let suffix = path.split(separator: ".").last.map(String.init) ?? ""
            #expect(suffix.count == 6 && suffix != "XXXXXX", "\(path) has no random part")
        }
        first.release()
        second.release()
    }

    // MARK: - Helpers

    /// The address-space cap the tools run under here: far above what these inputs need (a debug
    /// btf-trim on a small kernel stays under 100 MiB resident), far below what a runaway allocation
    /// would take. A tool that hits it traps, and the test sees a signal instead of its exit status.
    static let toolAddressSpace = 1 << 30

    /// Runs a tool under `prlimit --as` (util-linux), or plainly where prlimit is missing.
    static func runBounded(_ tool: String, _ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
        let prlimit = "/usr/bin/prlimit"
        guard FileManager.default.isExecutableFile(atPath: prlimit) else { return try TestSupport.run(tool, arguments) }
        return try TestSupport.run(prlimit, ["--as=\(toolAddressSpace)", tool] + arguments)
    }

    static func errorText(_ body: () throws -> Void) -> String? {
        do { try body() } catch { return "\(error)" }
        return nil
    }

    static func inode(_ path: String) throws -> ino_t {
        var status = stat()
        guard stat(path, &status) == 0 else { throw TestSupportError("cannot stat \(path)") }
        return status.st_ino
    }

    /// Dotfiles directly in `directory` (where FileIO.writeAtomically puts its temporary files).
    static func hiddenFiles(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".") }
    }

    /// Regular files under `root`, relative and sorted; only hidden ones with `hiddenOnly`.
    static func files(under root: String, hiddenOnly: Bool = false) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let hidden = (relative as NSString).lastPathComponent.hasPrefix(".")
            if hidden == hiddenOnly { found.append(relative) }
        }
        return found.sorted()
    }
}
