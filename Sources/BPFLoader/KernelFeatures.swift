import BTF
import CLibBPF
import Glibc

/// What the running kernel offers a program plan: its own BTF, tracepoints, kprobes, program and
/// map types, fentry and tp_btf. Each question is asked of the kernel the way bcc's libbpf-tools
/// loaders ask it (`probe_tp_btf`, `fentry_can_attach`, `libbpf_probe_bpf_*`), and the answer is
/// cached: a plan asks the same question for every twin.
public final class KernelFeatures {
    /// Where the kernel's own BTF is read (`/sys/kernel/btf/vmlinux`).
    public let kernelBTFPath: String
    /// Whether the kernel has BTF of its own that libbpf can read: `tp_btf`, `fentry`, `lsm` ...
    /// need it (a `btf_custom_path` file cannot stand in for it: the kernel checks attach ids
    /// against its own BTF).
    public let hasKernelBTF: Bool
    private var vmlinux: OpaquePointer?
    private var vmlinuxLoaded = false
    private var cache: [String: Bool] = [:]

    /// Features of this kernel; `kernelBTFPath` is where its BTF would be.
    public init(kernelBTFPath: String = "/sys/kernel/btf/vmlinux") {
        self.kernelBTFPath = kernelBTFPath
        hasKernelBTF = access(kernelBTFPath, R_OK) == 0
    }

    deinit { if let vmlinux { btf__free(vmlinux) } }

    private func cached(_ key: String, _ probe: () -> Bool) -> Bool {
        if let known = cache[key] { return known }
        let answer = probe()
        cache[key] = answer
        return answer
    }

    /// The kernel's BTF as libbpf reads it (for attach ids), or nil without one.
    private var kernelBTF: OpaquePointer? {
        if !vmlinuxLoaded {
            vmlinuxLoaded = true
            if hasKernelBTF {
                let parsed = btf__parse(kernelBTFPath, nil)
                if libbpf_get_error(UnsafeRawPointer(parsed)) == 0 { vmlinux = parsed }
            }
        }
        return vmlinux
    }

    /// Whether the kernel can load programs of `type` (`libbpf_probe_bpf_prog_type`). Without
    /// privilege every probe fails: the answer is then yes, and the load says what is wrong.
    public func supportsProgramType(_ type: bpf_prog_type) -> Bool {
        cached("prog \(type.rawValue)") { libbpf_probe_bpf_prog_type(type, nil) != 0 || !Self.isPrivileged }
    }

    /// Whether the kernel can create maps of `type` (`libbpf_probe_bpf_map_type`); as for program
    /// types, yes when probing is not possible.
    public func supportsMapType(_ type: bpf_map_type) -> Bool {
        cached("map \(type.rawValue)") { libbpf_probe_bpf_map_type(type, nil) != 0 || !Self.isPrivileged }
    }

    /// Whether probes can be believed: root (CAP_BPF alone is rare enough not to be guessed at here).
    static var isPrivileged: Bool { geteuid() == 0 }

    /// Whether the kernel has ring buffers (5.8 and later).
    public var hasRingBuffer: Bool { supportsMapType(BPF_MAP_TYPE_RINGBUF) }

    /// Whether the kernel has kprobes: the perf `kprobe` event source libbpf attaches through, or
    /// the tracefs `kprobe_events` file of older kernels.
    public var hasKprobes: Bool {
        cached("kprobes") {
            access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0
                || access(Tracefs.mountPoint + "/kprobe_events", F_OK) == 0
                || access(Tracefs.debugfsPath + "/kprobe_events", F_OK) == 0
        }
    }

    /// Whether `function` is a kernel function a kprobe can be put on (listed in
    /// `available_filter_functions`, else in `/proc/kallsyms`); `nil` when neither can be read.
    public func kernelFunctionExists(_ function: String) -> Bool? {
        let functions = cachedFunctions
        guard !functions.isEmpty else { return nil }
        return functions.contains(function)
    }

    private lazy var cachedFunctions: Set<String> = {
        for place in [Tracefs.mountPoint, Tracefs.debugfsPath] {
            if let text = try? FileIO.read(place + "/available_filter_functions"), !text.isEmpty {
                // Lines are `name` or `name [module]`.
                return Set(String(decoding: text, as: UTF8.self).split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
            }
        }
        guard let text = try? FileIO.read("/proc/kallsyms") else { return [] }
        var names = Set<String>()
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 3)
            if fields.count >= 3, fields[1] == "t" || fields[1] == "T" { names.insert(String(fields[2])) }
        }
        return names
    }()

    /// Whether the tracepoint `category/name` exists (tracefs `events/<category>/<name>`); `nil`
    /// when tracefs is not mounted.
    public func tracepointExists(category: String, name: String) -> Bool? {
        guard let events = tracefsEvents else { return nil }
        return access("\(events)/\(category)/\(name)", F_OK) == 0
    }

    /// Whether some category of tracefs has the tracepoint `name` (what a raw tracepoint names);
    /// `nil` when tracefs is not mounted.
    public func rawTracepointExists(_ name: String) -> Bool? {
        guard let events = tracefsEvents else { return nil }
        return cached("raw_tp \(name)") {
            guard let directory = opendir(events) else { return false }
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                let category = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if category.hasPrefix(".") { continue }
                if access("\(events)/\(category)/\(name)", F_OK) == 0 { return true }
            }
            return false
        }
    }

    private var tracefsEvents: String? {
        for place in [Tracefs.mountPoint, Tracefs.debugfsPath] where access(place + "/events", F_OK) == 0 { return place + "/events" }
        return nil
    }

    /// Whether a `tp_btf/<name>` program can load: the kernel has BTF with a `btf_trace_<name>`
    /// typedef and loads a trivial BPF_TRACE_RAW_TP program against it (libbpf-tools' `probe_tp_btf`).
    public func supportsBTFTracepoint(_ name: String) -> Bool {
        cached("tp_btf \(name)") {
            guard let btf = kernelBTF else { return false }
            let id = btf__find_by_name_kind(btf, "btf_trace_" + name, UInt32(BTFKind.typedef.rawValue))
            guard id > 0 else { return false }
            return probeTracingLoad(attachType: BPF_TRACE_RAW_TP, btfID: UInt32(id), attach: false)
        }
    }

    /// Whether an `fentry`/`fexit` program on `function` can load and attach: the kernel has BTF
    /// naming the function and BPF trampolines (libbpf-tools' `fentry_can_attach`, which also
    /// attaches: some kernels load fentry programs but cannot attach them).
    public func supportsFentry(_ function: String, exit: Bool) -> Bool {
        cached("fentry \(exit) \(function)") {
            guard let btf = kernelBTF else { return false }
            let id = btf__find_by_name_kind(btf, function, UInt32(BTFKind.function.rawValue))
            guard id > 0 else { return false }
            return probeTracingLoad(attachType: exit ? BPF_TRACE_FEXIT : BPF_TRACE_FENTRY, btfID: UInt32(id), attach: true)
        }
    }

    /// Whether the kernel can load (and, with `attach`, attach) `r0 = 0; exit` as a tracing program.
    private func probeTracingLoad(attachType: bpf_attach_type, btfID: UInt32, attach: Bool) -> Bool {
        // BPF_MOV64_IMM(BPF_REG_0, 0); BPF_EXIT_INSN()
        var instructions = [bpf_insn(), bpf_insn()]
        instructions[0].code = 0xb7
        instructions[1].code = 0x95
        var opts = bpf_prog_load_opts()
        opts.sz = MemoryLayout<bpf_prog_load_opts>.size  // LIBBPF_OPTS: zeroed, `sz` set
        opts.expected_attach_type = attachType
        opts.attach_btf_id = btfID
        let fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, nil, "GPL", &instructions, 2, &opts)
        // Without privilege nothing can be learnt here: the load will say so.
        guard fd >= 0 else { return !Self.isPrivileged }
        defer { Glibc.close(fd) }
        guard attach else { return true }
        let link = bpf_raw_tracepoint_open(nil, fd)
        guard link >= 0 else { return false }
        Glibc.close(link)
        return true
    }

    /// `/proc/sys/kernel/pid_max`, or 32768 (the kernel's default) when it cannot be read.
    public var pidMax: Int {
        guard let text = try? FileIO.read("/proc/sys/kernel/pid_max"),
              let value = Int(String(decoding: text, as: UTF8.self).trimmingCharacters(in: " \n")) else { return 32768 }
        return value
    }

    /// The number of CPUs the kernel may bring online (`libbpf_num_possible_cpus`).
    public var possibleCPUs: Int { max(1, Int(libbpf_num_possible_cpus())) }
}

extension String {
    /// The string without leading and trailing characters of `set`.
    func trimmingCharacters(in set: String) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
