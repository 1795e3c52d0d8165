import BPFLoader
import Testing

/// `btf-run --attach PROGRAM=TARGET` without a kernel: which sections take a target, how each
/// TARGET form is read, and the errors for malformed ones (each shows the form expected).
@Suite("--attach PROGRAM=TARGET parsing")
struct AttachTargetTests {
    /// The message of the error `AttachTarget.parse` throws, or nil when it parses.
    static func parseError(_ target: String, _ kind: AttachSectionKind) -> String? {
        do {
            _ = try AttachTarget.parse(target, for: kind)
            return nil
        } catch {
            return error.message
        }
    }

    static let uprobeForm = "expected BINARY:FUNCTION, BINARY:FUNCTION+OFFSET or BINARY:0xOFFSET"
    static let kprobeForm = "expected FUNCTION or FUNCTION+OFFSET"
    static let tracepointForm = "expected CATEGORY:NAME or CATEGORY/NAME"
    static let rawForm = "expected NAME"

    @Test("section kinds: the part before the first '/', as libbpf matches sections")
    func sectionKinds() {
        let supported: [(String, AttachSectionKind)] = [
            ("uprobe", .uprobe), ("uprobe.s", .uprobe), ("uprobe//bin/sh:main", .uprobe), ("uprobe.s/x:f", .uprobe),
            ("uretprobe", .uretprobe), ("uretprobe.s", .uretprobe), ("uretprobe/x:f", .uretprobe),
            ("kprobe", .kprobe), ("kprobe/do_exit", .kprobe), ("kretprobe", .kretprobe), ("kretprobe/do_exit", .kretprobe),
            ("tracepoint", .tracepoint), ("tp", .tracepoint), ("tracepoint/syscalls/sys_enter_execve", .tracepoint), ("tp/sched/x", .tracepoint),
            ("raw_tp", .rawTracepoint), ("raw_tracepoint", .rawTracepoint), ("raw_tp/sys_enter", .rawTracepoint),
            ("raw_tp.w", .rawTracepoint), ("raw_tracepoint.w/x", .rawTracepoint),
            ("perf_event", .perfEvent), ("xdp", .xdp), ("xdp.frags", .xdp), ("tc", .tc), ("classifier", .tc), ("usdt", .usdt),
        ]
        for (section, kind) in supported {
            #expect(AttachSectionKind(section: section) == kind, "\(section)")
        }
        for section in ["kprobe.multi", "kprobe.multi/do_*", "kretprobe.multi", "uprobe.multi", "ksyscall", "kretsyscall",
                        "fentry/do_exit", "fexit/do_exit", "tp_btf/sched_switch", "xdp_devmap", "lsm/file_open", "uprobes", "tpx", "", "license"] {
            #expect(AttachSectionKind(section: section) == nil, "\(section)")
        }
    }

    @Test("uprobe and uretprobe: BINARY:FUNCTION, BINARY:FUNCTION+OFFSET, BINARY:0xOFFSET")
    func uprobeForms() throws {
        #expect(try AttachTarget.parse("/tmp/t/target:btfkit_probe_target", for: .uprobe)
                == .uprobe(binary: "/tmp/t/target", function: "btfkit_probe_target", offset: 0, retprobe: false))
        #expect(try AttachTarget.parse("/tmp/t/target:btfkit_probe_target", for: .uretprobe)
                == .uprobe(binary: "/tmp/t/target", function: "btfkit_probe_target", offset: 0, retprobe: true))
        #expect(try AttachTarget.parse("/usr/bin/bash:readline+16", for: .uprobe)
                == .uprobe(binary: "/usr/bin/bash", function: "readline", offset: 16, retprobe: false))
        #expect(try AttachTarget.parse("/usr/bin/bash:readline+0x1F", for: .uprobe)
                == .uprobe(binary: "/usr/bin/bash", function: "readline", offset: 31, retprobe: false))
        #expect(try AttachTarget.parse("/usr/bin/bash:0x4a2f0", for: .uretprobe)
                == .uprobe(binary: "/usr/bin/bash", function: nil, offset: 0x4a2f0, retprobe: true))
        #expect(try AttachTarget.parse("/usr/bin/bash:0X10", for: .uprobe)
                == .uprobe(binary: "/usr/bin/bash", function: nil, offset: 16, retprobe: false))
        // A library name libbpf resolves itself, and a versioned symbol.
        #expect(try AttachTarget.parse("libc.so.6:malloc@GLIBC_2.2.5", for: .uprobe)
                == .uprobe(binary: "libc.so.6", function: "malloc@GLIBC_2.2.5", offset: 0, retprobe: false))
        // The last ':' separates: a path may hold ':' (and '=' and '+').
        #expect(try AttachTarget.parse("/opt/a:b/c++/bin:main", for: .uprobe)
                == .uprobe(binary: "/opt/a:b/c++/bin", function: "main", offset: 0, retprobe: false))
        // The offset after '+' goes to libbpf as func_offset beside func_name; 0 is allowed.
        #expect(try AttachTarget.parse("x:f+0", for: .uprobe) == .uprobe(binary: "x", function: "f", offset: 0, retprobe: false))
    }

    @Test("malformed uprobe targets say what is wrong and show the expected form")
    func malformedUprobeTargets() {
        let cases: [(String, String)] = [
            ("/tmp/t/target", "no ':' between BINARY and FUNCTION"),
            (":btfkit_probe_target", "BINARY is empty"),
            ("/tmp/t/target:", "nothing after ':'"),
            ("/tmp/t/target:f+", "nothing after '+'"),
            ("/tmp/t/target:f+abc", "'abc' is not an offset"),
            ("/tmp/t/target:f+-1", "'-1' is not an offset"),
            ("/tmp/t/target:f+1+2", "more than one '+'"),
            ("/tmp/t/target:+4", "FUNCTION is empty"),
            ("/tmp/t/target:0xzz", "'0xzz' is not a hexadecimal offset"),
            ("/tmp/t/target:0x", "'0x' is not a hexadecimal offset"),
            ("/tmp/t/target:0x1ffffffffffffffff", "is not a hexadecimal offset"),
            ("/tmp/t/target:1234", "'1234' is not a function name"),
            ("/tmp/t/tar get:f", "white space"),
            ("", "empty"),
        ]
        for kind in [AttachSectionKind.uprobe, .uretprobe] {
            for (target, why) in cases {
                let message = Self.parseError(target, kind)
                #expect(message?.contains("malformed target '\(target)' for a \(kind.rawValue) program") == true, "\(target): \(message ?? "parsed")")
                #expect(message?.contains(why) == true, "\(target): \(message ?? "parsed")")
                #expect(message?.hasSuffix(Self.uprobeForm) == true, "\(target): \(message ?? "parsed")")
            }
        }
    }

    @Test("kprobe and kretprobe: FUNCTION, FUNCTION+OFFSET")
    func kprobeForms() throws {
        #expect(try AttachTarget.parse("do_nanosleep", for: .kprobe) == .kprobe(function: "do_nanosleep", offset: 0, retprobe: false))
        #expect(try AttachTarget.parse("do_nanosleep", for: .kretprobe) == .kprobe(function: "do_nanosleep", offset: 0, retprobe: true))
        #expect(try AttachTarget.parse("tcp_v4_connect+4", for: .kprobe) == .kprobe(function: "tcp_v4_connect", offset: 4, retprobe: false))
        #expect(try AttachTarget.parse("tcp_v4_connect+0x10", for: .kprobe) == .kprobe(function: "tcp_v4_connect", offset: 16, retprobe: false))
        // gcc's local clones keep their suffixes in kallsyms.
        #expect(try AttachTarget.parse("ep_poll.isra.0", for: .kprobe) == .kprobe(function: "ep_poll.isra.0", offset: 0, retprobe: false))

        let cases: [(String, String)] = [
            ("vmlinux:do_exit", "no ':' or '/'"), ("sched/do_exit", "no ':' or '/'"), ("+4", "FUNCTION is empty"),
            ("do_exit+", "nothing after '+'"), ("do_exit+x", "'x' is not an offset"), ("0xffffffff81000000", "not a function name"),
            ("", "empty"),
        ]
        for kind in [AttachSectionKind.kprobe, .kretprobe] {
            for (target, why) in cases {
                let message = Self.parseError(target, kind)
                #expect(message?.contains(why) == true && message?.hasSuffix(Self.kprobeForm) == true, "\(target): \(message ?? "parsed")")
                #expect(message?.contains("for a \(kind.rawValue) program") == true, "\(message ?? "parsed")")
            }
        }
    }

    @Test("tracepoint: CATEGORY:NAME or CATEGORY/NAME; raw tracepoint: NAME")
    func tracepointForms() throws {
        #expect(try AttachTarget.parse("syscalls:sys_enter_openat", for: .tracepoint) == .tracepoint(category: "syscalls", name: "sys_enter_openat"))
        #expect(try AttachTarget.parse("syscalls/sys_enter_openat", for: .tracepoint) == .tracepoint(category: "syscalls", name: "sys_enter_openat"))
        #expect(try AttachTarget.parse("sched_switch", for: .rawTracepoint) == .rawTracepoint(name: "sched_switch"))

        for (target, why) in [("syscalls", "no ':' or '/' between CATEGORY and NAME"), ("a:b:c", "more than one separator"),
                              ("a/b/c", "more than one separator"), ("a:b/c", "more than one separator"),
                              (":sys_enter_openat", "CATEGORY is empty"), ("syscalls/", "NAME is empty"), ("", "empty")] {
            let message = Self.parseError(target, .tracepoint)
            #expect(message?.contains(why) == true && message?.hasSuffix(Self.tracepointForm) == true, "\(target): \(message ?? "parsed")")
        }
        for target in ["sched:sched_switch", "sched/sched_switch", "", "a b"] {
            let message = Self.parseError(target, .rawTracepoint)
            #expect(message?.contains("malformed target '\(target)' for a raw_tracepoint program") == true
                    && message?.hasSuffix(Self.rawForm) == true, "\(target): \(message ?? "parsed")")
        }
    }

    @Test("the target as -v prints it")
    func descriptions() throws {
        #expect(try AttachTarget.parse("/bin/t:f", for: .uprobe).description == "uprobe /bin/t:f (all processes)")
        #expect(try AttachTarget.parse("/bin/t:f+0x10", for: .uretprobe).description == "uretprobe /bin/t:f+16 (all processes)")
        #expect(try AttachTarget.parse("/bin/t:0x4a2f0", for: .uprobe).description == "uprobe /bin/t:0x4a2f0 (all processes)")
        #expect(try AttachTarget.parse("do_exit+4", for: .kretprobe).description == "kretprobe do_exit+4")
        #expect(try AttachTarget.parse("sched/sched_switch", for: .tracepoint).description == "tracepoint sched:sched_switch")
        #expect(try AttachTarget.parse("sched_switch", for: .rawTracepoint).description == "raw tracepoint sched_switch")
        #expect(try AttachTarget.parse("a:b", for: .tracepoint).needsTracefs)
        #expect(!(try AttachTarget.parse("a:b", for: .uprobe).needsTracefs))
    }

    @Test("PROGRAM=TARGET splits at the first '='; a missing part is an error showing the form")
    func requests() throws {
        #expect(try AttachRequest(parsing: "uprobe_calls_entry=/tmp/t:f") == AttachRequest(program: "uprobe_calls_entry", target: "/tmp/t:f"))
        #expect(try AttachRequest(parsing: "p=/opt/a=b/bin:f") == AttachRequest(program: "p", target: "/opt/a=b/bin:f"))
        for argument in ["uprobe_calls_entry", "=/tmp/t:f", "p="] {
            do {
                _ = try AttachRequest(parsing: argument)
                Issue.record("\(argument) parsed")
            } catch {
                #expect(error.input == RunInput(.attachTarget, argument, malformed: true) && error.message.contains("PROGRAM=TARGET"), "\(error)")
            }
        }
    }

    static let programs = [
        BPFProgramInfo(name: "uprobe_calls_entry", section: "uprobe"),
        BPFProgramInfo(name: "uprobe_calls_return", section: "uretprobe"),
        BPFProgramInfo(name: "on_exec", section: "tracepoint/sched/sched_process_exec"),
        BPFProgramInfo(name: "on_open", section: "fentry/do_sys_openat2"),
        BPFProgramInfo(name: "bare_tp", section: "tp"),
    ]

    static func resolveError(_ arguments: [String]) throws -> String? {
        let requests = try arguments.map { try AttachRequest(parsing: $0) }
        do {
            _ = try AttachRequest.resolve(requests, programs: programs, objectName: "uprobe_calls.bpf.o")
            return nil
        } catch {
            return error.description
        }
    }

    @Test("requests resolve against the object's programs: targets by program, several per program")
    func resolves() throws {
        let requests = try ["uprobe_calls_entry=/t:f", "uprobe_calls_return=/t:f", "uprobe_calls_entry=libc.so.6:malloc",
                            "bare_tp=sched/sched_switch", "on_exec=syscalls:sys_enter_execve"].map { try AttachRequest(parsing: $0) }
        let targets = try AttachRequest.resolve(requests, programs: Self.programs, objectName: "o")
        #expect(targets == [
            "uprobe_calls_entry": [.uprobe(binary: "/t", function: "f", offset: 0, retprobe: false),
                                   .uprobe(binary: "libc.so.6", function: "malloc", offset: 0, retprobe: false)],
            "uprobe_calls_return": [.uprobe(binary: "/t", function: "f", offset: 0, retprobe: true)],
            "bare_tp": [.tracepoint(category: "sched", name: "sched_switch")],
            // A section that names its target may be given another.
            "on_exec": [.tracepoint(category: "syscalls", name: "sys_enter_execve")],
        ])
        #expect(try AttachRequest.resolve([], programs: Self.programs, objectName: "o").isEmpty)
    }

    @Test("an unknown program lists the object's programs")
    func unknownProgram() throws {
        let message = try #require(try Self.resolveError(["uprobe_calls_entry=/t:f", "nosuch=/t:f"]))
        #expect(message.hasPrefix("attach target nosuch=/t:f: uprobe_calls.bpf.o has no program named 'nosuch'; its programs are "), "\(message)")
        for program in Self.programs {
            #expect(message.contains("\(program.name) (section \(program.section))"), "\(message)")
        }
        do {
            _ = try AttachRequest.resolve([AttachRequest(program: "p", target: "x")], programs: [], objectName: "empty.o")
            Issue.record("resolved against no programs")
        } catch {
            #expect(error.message.contains("empty.o has no program named 'p'; it has none"), "\(error.message)")
        }
    }

    @Test("a section --attach cannot target names the program, its section and the sections supported")
    func unsupportedSection() throws {
        let message = try #require(try Self.resolveError(["on_open=do_sys_openat2"]))
        #expect(message.contains("attach target on_open=do_sys_openat2: program on_open has section 'fentry/do_sys_openat2'"), "\(message)")
        for section in ["uprobe", "uprobe.s", "uretprobe", "uretprobe.s", "kprobe", "kretprobe", "tracepoint", "tp", "raw_tracepoint", "raw_tp"] {
            #expect(message.contains(section), "\(section) missing from: \(message)")
        }
    }

    @Test("a malformed target names the program and its section and shows that section's form")
    func malformedTargetInContext() throws {
        let message = try #require(try Self.resolveError(["uprobe_calls_return=/tmp/t/target"]))
        #expect(message == "attach target uprobe_calls_return=/tmp/t/target: program uprobe_calls_return (section uretprobe): "
                + "malformed target '/tmp/t/target' for a uretprobe program (no ':' between BINARY and FUNCTION): \(Self.uprobeForm)")
        let tracepoint = try #require(try Self.resolveError(["bare_tp=sched_switch"]))
        #expect(tracepoint.contains("program bare_tp (section tp)") && tracepoint.hasSuffix(Self.tracepointForm), "\(tracepoint)")
    }
}
