import BTF
import CLibBPF
import CLinuxShims
import Glibc

/// The perf events a `perf_event` program may sample on (`--attach PROG=EVENT[:HZ]`).
public enum PerfEventKind: String, Sendable, Equatable, CaseIterable {
    /// `PERF_COUNT_SW_CPU_CLOCK`: a software timer, available everywhere (bcc's profile uses it).
    case cpuClock = "cpu-clock"
    /// `PERF_COUNT_SW_TASK_CLOCK`.
    case taskClock = "task-clock"
    /// `PERF_COUNT_SW_PAGE_FAULTS`.
    case pageFaults = "page-faults"
    /// `PERF_COUNT_HW_CPU_CYCLES`: needs a hardware PMU (absent in most virtual machines).
    case cycles

    /// `perf_event_attr.type` and `.config`.
    var typeAndConfig: (UInt32, UInt64) {
        switch self {
        case .cpuClock: (1, 0)    // PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK
        case .taskClock: (1, 1)   // PERF_COUNT_SW_TASK_CLOCK
        case .pageFaults: (1, 2)  // PERF_COUNT_SW_PAGE_FAULTS
        case .cycles: (0, 0)      // PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES
        }
    }
}

extension AttachTarget {
    /// The default sampling frequency of `perf_event` programs (bcc's profile samples at 49 Hz,
    /// off the 50/100 Hz of timers so as not to sample in lockstep with them).
    public static let defaultSampleFrequency = 49

    /// TARGET of `--attach` for the kinds of this file.
    static func parseNetworkOrEvent(_ target: String, for kind: AttachSectionKind, _ malformed: (String) -> BPFLoaderError) throws(BPFLoaderError) -> AttachTarget {
        let parts = target.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch kind {
        case .perfEvent:
            guard parts.count <= 2, let event = PerfEventKind(rawValue: parts[0]) else {
                throw malformed("'\(parts[0])' is not a perf event this runner knows")
            }
            var frequency = defaultSampleFrequency
            if parts.count == 2 {
                guard let hz = Int(parts[1]), hz > 0 else { throw malformed("'\(parts[1])' is not a frequency in Hz") }
                frequency = hz
            }
            return .perfEvent(event: event, frequency: frequency)
        case .xdp:
            guard parts.count == 1, target.utf8.count < 16 else { throw malformed("'\(target)' is not an interface name") }
            return .xdp(interface: target)
        case .tc:
            guard parts.count == 2, !parts[0].isEmpty, parts[1] == "ingress" || parts[1] == "egress" else {
                throw malformed("expected the interface and ingress or egress")
            }
            return .tc(interface: parts[0], egress: parts[1] == "egress")
        case .usdt:
            // BINARY may hold ':'; PROVIDER and NAME do not.
            guard parts.count >= 3, !parts.suffix(2).contains(where: \.isEmpty) else { throw malformed("expected BINARY:PROVIDER:NAME") }
            let binary = parts.dropLast(2).joined(separator: ":")
            guard !binary.isEmpty else { throw malformed("BINARY is empty") }
            return .usdt(binary: binary, provider: parts[parts.count - 2], name: parts[parts.count - 1])
        default:
            throw malformed("not a perf_event, xdp, tc or usdt program")
        }
    }
}

extension AttachRequest {
    /// `--attach` targets completed with the defaults of kinds libbpf cannot attach by itself:
    /// a `perf_event` program without one samples `cpu-clock` at `sampleFrequency` Hz.
    public static func withDefaults(_ targets: [String: [AttachTarget]], programs: [BPFProgramInfo], sampleFrequency: Int) -> [String: [AttachTarget]] {
        var result = targets
        for program in programs where AttachSectionKind(section: program.section) == .perfEvent && (result[program.name] ?? []).isEmpty {
            result[program.name] = [.perfEvent(event: .cpuClock, frequency: sampleFrequency)]
        }
        return result
    }
}

/// The CPUs listed in a sysfs CPU list (`0-3,6`), for `/sys/devices/system/cpu/online`.
func parseCPUList(_ text: String) -> [Int32] {
    var cpus: [Int32] = []
    for range in text.trimmingCharacters(in: " \n").split(separator: ",") {
        let ends = range.split(separator: "-").compactMap { Int32($0) }
        if ends.count == 1 { cpus.append(ends[0]) } else if ends.count == 2, ends[0] <= ends[1] { cpus += Array(ends[0] ... ends[1]) }
    }
    return cpus
}

extension LoadedBPFObject {
    /// Attaches at a perf event, XDP, tc or USDT target; `false` with errno set on failure.
    func attachKind(_ handle: OpaquePointer, to target: AttachTarget) -> Bool {
        switch target {
        case .perfEvent(let event, let frequency): return attachPerfEvent(handle, event: event, frequency: frequency)
        case .xdp(let interface):
            guard let index = interfaceIndex(interface) else { return false }
            // A bpf_link: the kernel uses driver mode where the driver has it, else generic (skb) mode.
            guard let link = bpf_program__attach_xdp(handle, index) else { return false }
            links.append(link)
            return true
        case .tc(let interface, let egress):
            guard let index = interfaceIndex(interface) else { return false }
            return attachTC(handle, interfaceIndex: index, egress: egress)
        case .usdt(let binary, let provider, let name):
            guard let link = bpf_program__attach_usdt(handle, -1, binary, provider, name, nil) else { return false }
            links.append(link)
            return true
        default:
            errno = EINVAL
            return false
        }
    }

    private func interfaceIndex(_ name: String) -> Int32? {
        let index = if_nametoindex(name)
        guard index != 0 else {
            errno = ENODEV
            return nil
        }
        return Int32(index)
    }

    /// One perf event per online CPU (`perf_event_open`, frequency mode), each with the program
    /// attached (libbpf owns the event's fd and closes it with the link).
    private func attachPerfEvent(_ handle: OpaquePointer, event: PerfEventKind, frequency: Int) -> Bool {
        let online = (try? FileIO.read("/sys/devices/system/cpu/online")).map { parseCPUList(String(decoding: $0, as: UTF8.self)) } ?? []
        let cpus = online.isEmpty ? Array(0 ..< Int32(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))) : online
        var attached: [OpaquePointer] = []
        for cpu in cpus {
            var attr = perf_event_attr()
            attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
            (attr.type, attr.config) = event.typeAndConfig
            attr.freq = 1
            attr.sample_freq = UInt64(frequency)
            let fd = btfkit_perf_event_open(&attr, -1, cpu, -1, UInt(PERF_FLAG_FD_CLOEXEC))
            guard fd >= 0 else {
                let code = errno
                for link in attached { bpf_link__destroy(link) }
                errno = code
                return false
            }
            guard let link = bpf_program__attach_perf_event(handle, fd) else {
                let code = errno
                Glibc.close(fd)
                for link in attached { bpf_link__destroy(link) }
                errno = code
                return false
            }
            attached.append(link)
        }
        links += attached
        return true
    }

    /// A tc filter on the interface's clsact qdisc (created when absent, and then removed again
    /// when the object is closed; a qdisc that was there is left).
    private func attachTC(_ handle: OpaquePointer, interfaceIndex: Int32, egress: Bool) -> Bool {
        let point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS
        let created = Self.withTCHook(interfaceIndex, point) { bpf_tc_hook_create($0) }
        guard created == 0 || created == -EEXIST else {
            errno = -created
            return false
        }
        var filterHandle: UInt32 = 0, priority: UInt32 = 0
        let programFD = bpf_program__fd(handle)
        let result = Self.withTCHook(interfaceIndex, point) { hook in
            Self.withTCOptions { opts in
                opts.pointee.prog_fd = programFD
                let result = bpf_tc_attach(hook, opts)
                (filterHandle, priority) = (opts.pointee.handle, opts.pointee.priority)
                return result
            }
        }
        guard result == 0 else {
            if created == 0 { Self.destroyClsact(interfaceIndex) }
            errno = -result
            return false
        }
        detachers.append {
            _ = Self.withTCHook(interfaceIndex, point) { hook in
                Self.withTCOptions { opts in
                    opts.pointee.handle = filterHandle
                    opts.pointee.priority = priority
                    return bpf_tc_detach(hook, opts)
                }
            }
            if created == 0 { Self.destroyClsact(interfaceIndex) }
        }
        return true
    }

    /// A zeroed `bpf_tc_hook` (padding included: libbpf refuses non-zero bytes past the fields it
    /// knows, and a Swift struct's padding is undefined).
    private static func withTCHook(_ index: Int32, _ point: bpf_tc_attach_point, _ body: (UnsafeMutablePointer<bpf_tc_hook>) -> Int32) -> Int32 {
        let hook = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<bpf_tc_hook>.size, alignment: 8)
        defer { hook.deallocate() }
        memset(hook, 0, MemoryLayout<bpf_tc_hook>.size)
        let typed = hook.bindMemory(to: bpf_tc_hook.self, capacity: 1)
        typed.pointee.sz = MemoryLayout<bpf_tc_hook>.size
        typed.pointee.ifindex = index
        typed.pointee.attach_point = point
        return body(typed)
    }

    /// A zeroed `bpf_tc_opts` (see `withTCHook`).
    private static func withTCOptions(_ body: (UnsafeMutablePointer<bpf_tc_opts>) -> Int32) -> Int32 {
        let opts = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<bpf_tc_opts>.size, alignment: 8)
        defer { opts.deallocate() }
        memset(opts, 0, MemoryLayout<bpf_tc_opts>.size)
        let typed = opts.bindMemory(to: bpf_tc_opts.self, capacity: 1)
        typed.pointee.sz = MemoryLayout<bpf_tc_opts>.size
        return body(typed)
    }

    private static func destroyClsact(_ index: Int32) {
        _ = withTCHook(index, bpf_tc_attach_point(rawValue: BPF_TC_INGRESS.rawValue | BPF_TC_EGRESS.rawValue)) { bpf_tc_hook_destroy($0) }
    }

    /// The mode the XDP program on `interface` runs in (`driver`, `generic`, `offload`), for -v.
    public static func xdpMode(interface: String) -> String? {
        let index = if_nametoindex(interface)
        guard index != 0 else { return nil }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<bpf_xdp_query_opts>.size, alignment: 8)
        defer { raw.deallocate() }
        memset(raw, 0, MemoryLayout<bpf_xdp_query_opts>.size)  // padding too: libbpf checks it
        let opts = raw.bindMemory(to: bpf_xdp_query_opts.self, capacity: 1)
        opts.pointee.sz = MemoryLayout<bpf_xdp_query_opts>.size
        guard bpf_xdp_query(Int32(index), 0, opts) == 0 else { return nil }
        switch opts.pointee.attach_mode {
        case 1: return "driver mode"   // XDP_ATTACHED_DRV
        case 2: return "generic mode"  // XDP_ATTACHED_SKB
        case 3: return "offload mode"  // XDP_ATTACHED_HW
        case 4: return "multiple modes"
        default: return nil
        }
    }
}
