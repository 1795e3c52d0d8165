import ArgumentParser
import BPFLoader
import BTF

/// btf-run's options that shape what is loaded: program choice, globals, map sizes, `--list`.
struct PlanOptions: ParsableArguments {
    @Flag(help: "List the object's programs (what this kernel will load and why), maps (types, sizes) and globals (defaults), and exit; with --json as one JSON object.")
    var list = false

    @Option(name: .customLong("disable"), help: ArgumentHelp("Do not load the programs matching this glob (repeatable).", valueName: "PROG"))
    var disable: [String] = []

    @Option(name: .customLong("enable"), help: ArgumentHelp("Load the programs matching this glob even where btf-run would not (a twin, a missing feature, --disable) (repeatable).", valueName: "PROG"))
    var enable: [String] = []

    @Option(name: .customLong("set"), help: ArgumentHelp("Set a global of .rodata, .data or .bss before loading (repeatable): integers (decimal, 0x), bool, enumerators by name or value, char arrays as strings, other arrays as comma lists.", valueName: "NAME=VALUE"))
    var set: [String] = []

    @Option(name: .customLong("max-entries"), help: ArgumentHelp("Create MAP with N entries (repeatable).", valueName: "MAP=N"))
    var maxEntries: [String] = []

    @Option(name: .customLong("value-size"), help: ArgumentHelp("Create MAP with N-byte values (repeatable).", valueName: "MAP=N"))
    var valueSize: [String] = []

    @Option(name: .customLong("sample-freq"), help: ArgumentHelp("Sample perf_event programs attached without --attach at this frequency on every online CPU (software cpu-clock).", valueName: "HZ"))
    var sampleFrequency: Int = AttachTarget.defaultSampleFrequency

    func validate() throws {
        guard sampleFrequency > 0 else { throw ValidationError("--sample-freq must be a positive number of samples per second") }
        do { _ = try MapSizeOverrides(maxEntries: maxEntries, valueSizes: valueSize) } catch { throw ValidationError(btfRunText(error)) }
        for argument in set where !argument.contains("=") {
            throw ValidationError("--set '\(argument)': expected NAME=VALUE (e.g. targ_pid=1234)")
        }
    }

    /// The request for `PlannedLoad`, with `--set` checked against the object's globals (an error
    /// naming the variable and its type, before anything is loaded).
    func request(globals: GlobalVariables, perfFallback: String?) throws -> LoadRequest {
        var request = LoadRequest()
        request.disable = disable
        request.enable = enable
        do { request.assignments = try globals.assignments(parsing: set) } catch { throw UsageError(error) }
        request.mapSizes = try MapSizeOverrides(maxEntries: maxEntries, valueSizes: valueSize)
        request.perfFallback = perfFallback
        return request
    }
}

/// The object's globals and the facts `--list` and the run need about it, read from its ELF and BTF.
struct ObjectFacts {
    let btf: BTF
    let globals: GlobalVariables

    /// The facts of `object` (opened from `objectBytes`).
    init(objectBytes: [UInt8], object: LoadedBPFObject) throws(BPFLoaderError) {
        do {
            btf = try BTF(elf: try ELFFile(parsing: objectBytes, file: object.name))
        } catch {
            throw BPFLoaderError("\(object.name): cannot read the object's BTF: \(error)")
        }
        globals = GlobalVariables(btf: btf, object: object)
    }

    /// Whether the object checks for `struct bpf_ringbuf` (`bpf_core_type_exists`, libbpf-tools'
    /// compat layer), so that its BPF side writes to a perf event array where that type is absent.
    var hasRingBufferCompat: Bool {
        btf.typeIDs.contains { btf.kind($0) == .structure && btf.name($0) == "bpf_ringbuf" }
    }

    /// Why ring buffers become perf event arrays on this run, or nil: the kernel has none (probed),
    /// or the object has libbpf-tools' compat check and the chosen BTF lacks `struct bpf_ringbuf`.
    func perfFallback(kernel: KernelFeatures, btfPath: String?) -> String? {
        if !kernel.hasRingBuffer { return "this kernel has no ring buffers (they came in 5.8)" }
        if hasRingBufferCompat, let btfPath, LoadedBPFObject.btfHasRingBuffer(path: btfPath) == false {
            return "the BTF chosen for this kernel has no struct bpf_ringbuf, so the object's bpf_core_type_exists check takes its perf-buffer path"
        }
        return nil
    }
}

/// A value the user gave that does not fit the object (`--set` of an unknown global, a wrong type,
/// out of range): btf-run exits 2, as for a malformed option, before anything is loaded.
struct UsageError: Error, CustomStringConvertible {
    let error: BPFLoaderError
    init(_ error: BPFLoaderError) { self.error = error }
    var description: String { btfRunText(error) }
}
