import ArgumentParser
import Archive
import BPFLoader
import BTF
import BTFRuntime
import CommandSupport
import Glibc

/// The arguments this executable was built with (`btf-pack runner … -- ARGS`, section .btfkit.args),
/// read once: `main` puts them before the command line's, `-v` prints them.
let embeddedArguments = Result { () throws(BPFLoaderError) -> [String] in try EmbeddedArguments.load() }

/// `btf-run`: loads a CO-RE BPF object with BTF chosen for this kernel, attaches its programs and
/// prints the events they send. Parses, calls BPFLoader and BTFRuntime, prints.
@main
struct BTFRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btf-run",
        abstract: "Load a CO-RE BPF object, attach its programs and print their ring/perf buffer events.",
        discussion: """
        The BTF libbpf relocates against, in order: --btf FILE; with --btfhub DIR, BTFKIT_BTF, the \
        kernel's own BTF, then DIR's entry for exactly this kernel; otherwise BTFRuntime's policy: \
        BTFKIT_BTF, BTFKIT_ENTRY, the kernel's own /sys/kernel/btf/vmlinux, then the entry the \
        selection chain picks in the pack embedded in this executable (.btfkit.pack; see \
        docs/selection.md, and --which). BTFKIT_FORCE_EMBEDDED=1 skips the kernel's own BTF.
        Without OBJECT, the object embedded by `btf-pack runner` (.btfkit.object) is run.
        Events are printed as hex unless --event-type names the record's struct in the object's BTF.
        Every program is attached where its section says (libbpf's bpf_program__attach). A section \
        without a target (SEC("uprobe"), SEC("kprobe"), SEC("tracepoint") ...) gets one with \
        --attach PROGRAM=TARGET, repeatable (a program may get several): uprobe, uprobe.s, \
        uretprobe, uretprobe.s: BINARY:FUNCTION, BINARY:FUNCTION+OFFSET or BINARY:0xOFFSET (BINARY \
        a path or a library name such as libc.so.6; every process); kprobe, kretprobe: FUNCTION or \
        FUNCTION+OFFSET; tracepoint, tp: CATEGORY:NAME (or CATEGORY/NAME); raw_tracepoint, raw_tp: \
        NAME. An --attach value not of the form PROGRAM=TARGET is a usage error (exit 2, like any bad \
        flag); an unknown PROGRAM, another section kind or a malformed TARGET is an error (exit 1) \
        before anything is loaded.
        A runner also carries the arguments it was built with (`btf-pack runner … -- ARGS`); they \
        come before the command line's: an option that takes one value and is given again on the \
        command line takes the new value (--no-json turns a default --json off); --attach values add up.
        Before loading, btf-run plans which programs load (see --list, -v; docs/programs.md): of \
        twins hooking one event (tp_btf/raw_tp/tracepoint, fentry/kprobe, fexit/kretprobe) only the \
        best this kernel runs; nothing needing the kernel's own BTF (tp_btf, fentry, lsm, iter, \
        struct_ops) where it has none; nothing whose tracepoint, kprobe target or program type it \
        lacks. A program that still fails to load is named with the verifier's reason and left out.
        """)

    /// The entry point: a runner's embedded arguments (section .btfkit.args), then the command line's.
    static func main() {
        let embedded: [String]
        do { embedded = try embeddedArguments.get() } catch { fail(error) }
        if !embedded.isEmpty {
            do { _ = try parseAsRoot(embedded) } catch {
                fail(BPFLoaderError("the arguments this runner was built with (\(embedded.joined(separator: " "))) are not valid: "
                                    + fullMessage(for: error) + "; rebuild it with `btf-pack runner … -- ARGS`"))
            }
        }
        let arguments = embedded + CommandLine.arguments.dropFirst()
        if arguments.contains("--help") || arguments.contains("-h") { printHelpWithGlobals(arguments) }
        // Like ArgumentParser's `main(_:)`, except that a usage error exits with status 2 (as btf-trim's do).
        let command: BTFRunCommand
        do { command = try parse(arguments) } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            var standardError = StandardError()
            print(fullMessage(for: error), to: &standardError)
            Glibc.exit(2)
        }
        do { try command.run() } catch { exit(withError: error) }
    }

    @Argument(help: ArgumentHelp("The BPF object (clang -target bpf -g). Default: the object embedded in this executable.", valueName: "OBJECT"))
    var object: String?

    @Option(help: ArgumentHelp("Relocate against this BTF file (raw BTF or an ELF with .BTF).", valueName: "FILE"))
    var btf: String?

    @Option(help: ArgumentHelp("Pick this kernel's BTF from an unpacked btfhub tree (.btf or .btf.tar.xz files) when the kernel has none.", valueName: "DIR"))
    var btfhub: String?

    @Option(name: .customLong("host-root"), help: ArgumentHelp("Read os-release under this directory (the host's / mounted into a container).", valueName: "DIR"))
    var hostRoot: String?

    @Flag(help: "Say which BTF a run would use and why, step by step, and exit (0 when one is found, 1 otherwise); nothing is loaded.")
    var which = false

    @Option(help: ArgumentHelp("Decode events as this struct of the object's BTF, or else of its DWARF (e.g. execsnoop_event, event).", valueName: "NAME"))
    var eventType: String?

    @Flag(inversion: .prefixedNo, help: "Print one JSON object per event instead of text columns or hex (--no-json undoes a runner's default --json).")
    var json = false

    @Option(help: ArgumentHelp("Stop after this many seconds (default: until SIGINT or SIGTERM).", valueName: "SECONDS"))
    var duration: Double?

    @Option(name: .customLong("attach"), help: ArgumentHelp(
        "Attach PROGRAM at TARGET instead of where its section says (repeatable): for uprobe/uretprobe BINARY:FUNCTION[+OFFSET] or BINARY:0xOFFSET, kprobe/kretprobe FUNCTION[+OFFSET], tracepoint CATEGORY:NAME, raw_tp NAME, perf_event EVENT[:HZ] (cpu-clock, task-clock, page-faults, cycles), xdp IFNAME, tc IFNAME:ingress|egress, usdt BINARY:PROVIDER:NAME.",
        valueName: "PROGRAM=TARGET"))
    var attach: [String] = []

    @OptionGroup(title: "Programs, globals and maps")
    var plan: PlanOptions

    @Flag(name: .customLong("trace-pipe"), inversion: .prefixedNo,
          help: "Stream bpf_printk output (tracefs's trace_pipe) while running, when a program calls bpf_trace_printk or bpf_trace_vprintk.")
    var tracePipe = true

    @OptionGroup(title: "Result maps (histograms and tables)")
    var mapOutput: MapOutputOptions

    @Flag(name: .shortAndLong, help: "Say which BTF is used and why, and what was attached (-vv: libbpf's log too, -vvv: its debug log).")
    var verbose: Int

    /// Used by `btf-pack runner` on the runner it builds: parse the arguments, check --event-type
    /// and --attach against the object, exit 0 without loading anything.
    @Flag(name: .customLong("check-arguments"), help: .hidden)
    var checkArguments = false

    func validate() throws {
        if btf != nil && btfhub != nil { throw ValidationError("--btf and --btfhub both choose the BTF; give one") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be a positive number of seconds") }
        for argument in attach {
            do { _ = try AttachRequest(parsing: argument) } catch { throw ValidationError(btfRunText(error)) }
        }
    }

    func run() throws {
        LibBPFLog.install(echoLevel: verbose >= 3 ? .debug : verbose == 2 ? .info : nil)
        var diagnostics = StandardError()
        var options = RuntimeBTFOptions()
        options.hostRoot = hostRoot
        if which {
            let (lines, found) = ChosenBTF.explain(btfFile: btf, btfhubTree: btfhub, options: options, describe: btfRunText, reason: \.btfRunReason)
            // os-release values, BTFKIT_* variables and entry names: escaped, one line each.
            for line in lines { print(escapedForTerminal(line)) }
            if !found { throw ExitCode(1) }
            return
        }

        let objectBytes: [UInt8]
        let objectName: String
        do {
            if let object {
                objectBytes = try FileIO.read(object)
                objectName = object
            } else if let embedded = try EmbeddedObject.load() {
                objectBytes = embedded
                objectName = "the object embedded in \(FileIO.realPath("/proc/self/exe") ?? "this executable")"
            } else {
                throw BPFLoaderError("no OBJECT given, and this executable carries none (build a runner with `btf-pack runner`)")
            }
        } catch {
            fail(error)
        }
        // libbpf 1.1 crashes or hangs on some malformed CO-RE records (access string `0:-1`, a
        // local typedef cycle): refused before libbpf sees them. An object the BTF reader cannot
        // parse is left to libbpf, which reports its own error.
        if let parsed = try? BPFObject(parsing: objectBytes, path: objectName) {
            do { try parsed.checkForLibbpf() } catch { fail(BPFLoaderError("\(error); refused before libbpf sees it")) }
        }
        if checkArguments {
            do {
                _ = try eventDecoder(objectBytes: objectBytes, objectName: objectName)
                // Opening (not loading) gives libbpf's list of programs and sections; no privilege needed.
                let opened = try LoadedBPFObject(bytes: objectBytes, name: objectName, btfCustomPath: nil)
                defer { opened.close() }
                _ = try attachTargets(programs: opened.programs, objectName: objectName)
                let request = try plan.request(globals: try ObjectFacts(objectBytes: objectBytes, object: opened).globals, perfFallback: nil)
                _ = try opened.configureMaps(request.mapSizes, perfFallback: nil, kernel: KernelFeatures())
            } catch let usage as UsageError {
                var standardError = StandardError()
                print("btf-run: \(usage)", to: &standardError)
                Glibc.exit(2)
            } catch {
                fail(error)
            }
            print("btf-run: arguments are valid for \(objectName)")
            return
        }

        // A pack trimmed for another build of this object is refused (PackFreshness).
        options.object = .bytes(objectBytes, name: objectName)
        let chosen = chooseBTF(options)
        if verbose >= 1 {
            if let embedded = try? embeddedArguments.get(), !embedded.isEmpty {
                print("btf-run: arguments this runner was built with: \(embedded.joined(separator: " "))", to: &diagnostics)
            }
            // BTFRuntime's steps, then the choice in btf-run's words (which replaces its "chosen:" line).
            for line in chosen.trail where !line.hasPrefix("chosen:") { print("btf-run: " + escapedForTerminal(line), to: &diagnostics) }
            print("btf-run: " + escapedForTerminal(chosen.summary(reason: chosen.btfRunReason)), to: &diagnostics)
        }

        let exitCode: Int32
        do {
            let open = { () throws(BPFLoaderError) -> LoadedBPFObject in
                try LoadedBPFObject(bytes: objectBytes, name: objectName, btfCustomPath: chosen.customPath)
            }
            // --attach and --set checked against the object's programs, sections and globals before anything is loaded.
            let (programs, facts) = try { () throws(BPFLoaderError) -> ([BPFProgramInfo], ObjectFacts) in
                let opened = try open()
                defer { opened.close() }
                return (opened.programs, try ObjectFacts(objectBytes: objectBytes, object: opened))
            }()
            let targets = AttachRequest.withDefaults(try attachTargets(programs: programs, objectName: objectName),
                                                     programs: programs, sampleFrequency: plan.sampleFrequency)
            let kernel = KernelFeatures(kernelBTFPath: options.kernelBTFPath)
            let request = try plan.request(globals: facts.globals, perfFallback: facts.perfFallback(kernel: kernel, btfPath: chosen.customPath))
            let printk = tracePipe && (try? ELFFile(parsing: objectBytes, file: objectName)).map(PrintkUse.calls(in:)) == true
            // Tracefs also tells the plan which tracepoints this kernel has. Mounted, if need be, in
            // btf-run's own mount namespace, on this thread, which also loads, attaches and reads trace_pipe.
            if printk || plan.list || programs.contains(where: \.needsTracefs) || targets.values.joined().contains(where: \.needsTracefs) {
                let mountedTracefs = try Tracefs.mountIfNeeded()
                if mountedTracefs && verbose >= 1 {
                    print("btf-run: mounted tracefs at \(Tracefs.mountPoint) in btf-run's own mount namespace (a tracepoint program or bpf_printk needs it)",
                          to: &diagnostics)
                }
            }
            if plan.list {
                let opened = try open()
                defer { opened.close() }
                let prepared = try PlannedLoad.prepare(opened, request: request, kernel: kernel)
                let listing = ObjectListing(plan: prepared.plan, maps: prepared.maps, globals: facts.globals.variables,
                                            reason: \.btfRunReason, note: { note, map in note.btfRunText(map: map.name) })
                print(json ? listing.json : listing.text)
                throw ListingDone()
            }
            try checkKernelSymbols(facts, kernel: kernel, objectName: objectName)
            let prepared = try PlannedLoad.load(open: open, request: request, kernel: kernel, reason: \.btfRunReason) { note in
                print("btf-run: \(note)", to: &diagnostics)
            }
            let loaded = prepared.object
            defer { loaded.close() }
            reportPlan(prepared, request: request, to: &diagnostics)
            let outcomes = loaded.attachAll(targets: targets)
            for outcome in outcomes {
                let program = "\(outcome.program.name) (section \(outcome.program.section))"
                let target = outcome.target.map { " to \($0)" } ?? ""
                if let failure = outcome.failure {
                    var hint = ""
                    if outcome.needsTarget, let kind = AttachSectionKind(section: outcome.program.section) {
                        hint = "; --attach \(outcome.program.name)=TARGET gives it one (TARGET: \(kind.expectedForm))"
                    }
                    print("btf-run: program \(program) not attached\(target): \(failure)\(hint)", to: &diagnostics)
                } else if verbose >= 1 {
                    var mode = ""
                    if case .xdp(let interface) = outcome.target, let found = LoadedBPFObject.xdpMode(interface: interface) { mode = " (\(found))" }
                    print("btf-run: attached \(program)\(target)\(mode)", to: &diagnostics)
                }
            }
            guard outcomes.contains(where: { $0.failure == nil }) else {
                throw BPFLoaderError("\(objectName): no program could be attached" + (outcomes.isEmpty ? " (the object has none)" : ""))
            }
            let decoder = try eventDecoder(objectBytes: objectBytes, objectName: objectName)
            let maps = loaded.eventMaps
            let printer = EventPrinter(decoder: decoder, format: json ? .json : .text, showMap: maps.count > 1)
            var lost: UInt64 = 0
            let stream = try EventStream(maps: maps, handler: { printer.print($0) }, lost: { [verbose] map, cpu, count in
                lost &+= count
                guard verbose >= 1 else { return }
                var diagnostics = StandardError()
                print("btf-run: \(map): lost \(count) records on CPU \(cpu)", to: &diagnostics)
            })
            defer {
                // Never silent: lost records at exit; -v also the records the type did not fit.
                if lost > 0 { print("btf-run: lost \(lost) records in all (the perf buffer was full; a larger one or fewer events helps)", to: &diagnostics) }
                if verbose >= 1, let decoder {
                    print("btf-run: \(printer.records) records decoded; \(printer.shortRecords) shorter and \(printer.longRecords) longer than \(eventType ?? "the event type") (\(decoder.size) bytes)", to: &diagnostics)
                }
            }
            if verbose >= 1 {
                let names = maps.map { "\($0.name) (\($0.kind == .ringBuffer ? "ring buffer" : "perf buffer"))" }
                print("btf-run: streaming events from " + (names.isEmpty ? "no map (the object has no ring or perf buffer)" : names.joined(separator: ", "))
                      + (duration.map { " for \($0) s" } ?? " until interrupted"), to: &diagnostics)
            }
            let mapPrinter = try MapPrinter(loaded: loaded, objectBytes: objectBytes, objectName: objectName, options: mapOutput.printOptions,
                                            format: json ? .json : .text, eventType: decoder?.eventType)
            if verbose >= 1 && !mapPrinter.maps.isEmpty {
                print("btf-run: printing result maps " + mapPrinter.maps.map(\.name).joined(separator: ", ")
                      + (mapOutput.interval.map { " every \($0) s and at exit" } ?? " at exit"), to: &diagnostics)
            }
            let pipe = printk ? try TracePipe() : nil
            if let pipe, verbose >= 1 { print("btf-run: a program calls bpf_printk: streaming \(pipe.path)", to: &diagnostics) }
            StopRequest.install()
            let run = EventLoop(stream: stream, printer: printer, tracePipe: pipe, maps: mapPrinter,
                                duration: duration.map { .milliseconds(Int64($0 * 1000)) },
                                interval: mapOutput.interval.map { .milliseconds(Int64($0 * 1000)) })
            try run.run(detach: { loaded.detachAll() }, until: { StopRequest.isRequested })
            exitCode = 0
        } catch is ListingDone {
            exitCode = 0
        } catch let usage as UsageError {
            print("btf-run: \(usage)", to: &diagnostics)
            exitCode = 2
        } catch {
            print("btf-run: \(btfRunText(error))", to: &diagnostics)
            exitCode = 1
        }
        chosen.release()
        if verbose >= 1 && exitCode == 0 && !plan.list { print("btf-run: detached", to: &diagnostics) }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    /// The `--attach` targets by program name, checked against the object's programs and sections.
    private func attachTargets(programs: [BPFProgramInfo], objectName: String) throws(BPFLoaderError) -> [String: [AttachTarget]] {
        let requests = try attach.map { argument throws(BPFLoaderError) in try AttachRequest(parsing: argument) }
        return try AttachRequest.resolve(requests, programs: programs, objectName: objectName)
    }

    /// The decoder for `--event-type`, or `nil` without it (events print as hex).
    private func eventDecoder(objectBytes: [UInt8], objectName: String) throws -> EventDecoder? {
        guard let eventType else { return nil }
        let elf: ELFFile
        do { elf = try ELFFile(parsing: objectBytes, file: objectName) } catch {
            throw BPFLoaderError("\(objectName): cannot read the object to decode events: \(error)")
        }
        // The object's BTF, else its DWARF (most tools' event structs are only there).
        let found = try EventDecoder.forObject(elf, typeName: eventType, objectName: objectName)
        if verbose >= 1 && found.source == .dwarf {
            var diagnostics = StandardError()
            print("btf-run: event type \(eventType) is not in the object's BTF; decoding it from the object's DWARF", to: &diagnostics)
        }
        return found.decoder
    }

    /// The BTF for this run; a failure is printed (with the selection's steps under -v) and exits.
    private func chooseBTF(_ options: RuntimeBTFOptions) -> ChosenBTF {
        let result = Result { () throws(BPFLoaderError) -> ChosenBTF in
            try ChosenBTF.choose(btfFile: btf, btfhubTree: btfhub, options: options)
        }
        switch result {
        case .success(let chosen):
            return chosen
        case .failure(let error):
            var diagnostics = StandardError()
            if verbose >= 1 {
                // The steps the selection went through, from the dry run (the error carries only the message).
                let steps = ChosenBTF.explain(btfFile: btf, btfhubTree: btfhub, options: options).lines
                for line in steps where !line.hasPrefix("no choice:") { print("btf-run: " + escapedForTerminal(line), to: &diagnostics) }
            }
            fail(error)
        }
    }
}

func fail(_ error: some Error) -> Never {
    var standardError = StandardError()
    print("btf-run: " + escapedForTerminal(btfRunText(error)), to: &standardError)
    exit(1)
}

