import BTF
import CLibBPF
import Glibc

/// One program of an opened object, as libbpf describes it.
public struct BPFProgramInfo: Sendable, Equatable {
    /// The program's (function's) name.
    public var name: String
    /// Its ELF section, which tells libbpf how to attach it (`tracepoint/syscalls/sys_enter_execve`).
    public var section: String

    /// A description with `name` and `section`.
    public init(name: String, section: String) {
        self.name = name
        self.section = section
    }

    /// Whether attaching needs tracefs (libbpf's `tp/` and `tracepoint/` sections read the
    /// tracepoint's id from `events/<category>/<name>/id` there).
    public var needsTracefs: Bool { section.hasPrefix("tracepoint/") || section.hasPrefix("tp/") }
}

/// What happened to one program (at one target) when `attachAll` tried it.
public struct AttachOutcome: Sendable {
    /// The program.
    public var program: BPFProgramInfo
    /// The target given explicitly (`--attach`); `nil` when libbpf attached by the section name.
    public var target: AttachTarget?
    /// `nil` when attached; otherwise why not, in libbpf's words.
    public var failure: String?
    /// Whether it failed because libbpf cannot attach the section by itself (no target in the
    /// section name, `EOPNOTSUPP`): a target given explicitly may do.
    public var needsTarget = false
}

/// A BPF object opened with libbpf (`bpf_object__open_file` / `bpf_object__open_mem`), loaded,
/// attached; closing it (or dropping it) detaches every link and frees the object.
public final class LoadedBPFObject {
    /// The object's name in messages (its path, or a description of the embedded copy).
    public let name: String
    let object: OpaquePointer
    var links: [OpaquePointer] = []
    /// Detaches what is not a bpf_link (an XDP program, a tc filter and its clsact qdisc).
    var detachers: [() -> Void] = []
    /// The bytes `bpf_object__open_mem` was given; libbpf may refer to them until the object is closed.
    private let memoryImage: UnsafeMutableRawBufferPointer?
    /// `btf_custom_path` must outlive `bpf_object__load`; kept here until `close`.
    private let customPath: UnsafeMutablePointer<CChar>?
    private var isClosed = false

    /// Opens the object file at `path`; `btfCustomPath` is `bpf_object_open_opts.btf_custom_path`
    /// (the BTF CO-RE relocations are resolved against; `nil`: the kernel's own).
    public convenience init(path: String, btfCustomPath: String?) throws(BPFLoaderError) {
        try self.init(name: path, image: nil, path: path, btfCustomPath: btfCustomPath)
    }

    /// Opens an object held in memory (an object embedded in the runner); `name` names it in messages.
    public convenience init(bytes: [UInt8], name: String, btfCustomPath: String?) throws(BPFLoaderError) {
        try self.init(name: name, image: bytes, path: nil, btfCustomPath: btfCustomPath)
    }

    private init(name: String, image: [UInt8]?, path: String?, btfCustomPath: String?) throws(BPFLoaderError) {
        self.name = name
        customPath = btfCustomPath.flatMap { strdup($0) }
        var opts = bpf_object_open_opts()
        // LIBBPF_OPTS is a macro Swift cannot import: it zeroes the struct and sets `sz`, which
        // libbpf checks to know which fields this caller knows about.
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        opts.btf_custom_path = UnsafePointer(customPath)
        let mark = LibBPFLog.mark
        var opened: OpaquePointer?
        if let image {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(image.count, 1), alignment: 8)
            buffer.copyBytes(from: image)
            memoryImage = buffer
            opened = name.withCString { objectName in
                opts.object_name = objectName
                return bpf_object__open_mem(buffer.baseAddress, image.count, &opts)
            }
        } else {
            memoryImage = nil
            opened = bpf_object__open_file(path!, &opts)
        }
        guard let opened else {
            let code = errno
            memoryImage?.deallocate()
            free(customPath)
            throw BPFLoaderError("\(name): libbpf cannot open the object: \(errnoText(code))" + Self.because(since: mark), errnoCode: code)
        }
        object = opened
    }

    deinit { close() }

    static func because(since mark: Int) -> String {
        let explanation = LibBPFLog.explanation(since: mark)
        return explanation.isEmpty ? "" : " (libbpf: \(explanation))"
    }

    /// The object's programs, in the order libbpf lists them.
    public var programs: [BPFProgramInfo] {
        programHandles.map { BPFProgramInfo(name: String(cString: bpf_program__name($0)), section: String(cString: bpf_program__section_name($0))) }
    }

    var programHandles: [OpaquePointer] {
        var handles: [OpaquePointer] = []
        var program = bpf_object__next_program(object, nil)
        while let current = program {
            handles.append(current)
            program = bpf_object__next_program(object, current)
        }
        return handles
    }

    /// `bpf_object__load`: relocates (CO-RE, against the BTF given at open), creates maps, loads
    /// programs into the kernel. The error quotes libbpf's last log lines.
    public func load() throws(BPFLoaderError) {
        let mark = LibBPFLog.mark
        let result = bpf_object__load(object)
        if result != 0 {
            // libbpf's own explanation of EPERM talks about RLIMIT_MEMLOCK; the usual cause is privilege.
            let privilege = abs(result) == EPERM && geteuid() != 0
                ? "; loading BPF programs needs root (or CAP_BPF and CAP_PERFMON): run it with sudo" : ""
            throw BPFLoaderError("\(name): libbpf cannot load the object: \(errnoText(result))" + privilege + Self.because(since: mark),
                                 errnoCode: abs(result))
        }
    }

    /// Attaches every program, keeping the links. A program with entries in `targets` (by
    /// program name, from `AttachRequest.resolve`) is attached at each of them, one outcome per
    /// target; every other program goes through `bpf_program__attach`, one outcome each. A
    /// program libbpf cannot auto-attach (a section without a target, `SEC("kprobe")`, a
    /// `uprobe` without a binary ...) gets its reason, the others stay attached.
    public func attachAll(targets: [String: [AttachTarget]] = [:]) -> [AttachOutcome] {
        // A program the plan left out (autoload off) was not loaded: nothing to attach.
        programHandles.filter { bpf_program__autoload($0) }.flatMap { handle -> [AttachOutcome] in
            let info = BPFProgramInfo(name: String(cString: bpf_program__name(handle)), section: String(cString: bpf_program__section_name(handle)))
            if let explicit = targets[info.name], !explicit.isEmpty {
                return explicit.map { target in
                    let mark = LibBPFLog.mark
                    errno = 0
                    if attach(handle, to: target) {
                        return AttachOutcome(program: info, target: target, failure: nil)
                    }
                    let code = errno
                    return AttachOutcome(program: info, target: target, failure: errnoText(code == 0 ? EINVAL : code) + Self.because(since: mark))
                }
            }
            let mark = LibBPFLog.mark
            errno = 0
            if let link = bpf_program__attach(handle) {
                links.append(link)
                return [AttachOutcome(program: info, target: nil, failure: nil)]
            }
            let code = errno
            var reason = errnoText(code == 0 ? EOPNOTSUPP : code)
            let needsTarget = code == EOPNOTSUPP || code == 0
            if needsTarget {
                reason += " (libbpf cannot attach section '\(info.section)' by itself; it needs a target in the section name)"
            }
            return [AttachOutcome(program: info, target: nil, failure: reason + Self.because(since: mark), needsTarget: needsTarget)]
        }
    }

    /// Attaches at an explicit target, keeping the link(s); `false` with errno set on failure.
    private func attach(_ handle: OpaquePointer, to target: AttachTarget) -> Bool {
        if case .perfEvent = target { return attachKind(handle, to: target) }
        if case .xdp = target { return attachKind(handle, to: target) }
        if case .tc = target { return attachKind(handle, to: target) }
        if case .usdt = target { return attachKind(handle, to: target) }
        guard let link = libbpfAttach(handle, to: target) else { return false }
        links.append(link)
        return true
    }

    /// libbpf's attach call for an explicit target; `nil` with errno set on failure.
    private func libbpfAttach(_ handle: OpaquePointer, to target: AttachTarget) -> OpaquePointer? {
        switch target {
        case .uprobe(let binary, let function, let offset, let retprobe):
            // LIBBPF_OPTS (see init): zeroed, `sz` set.
            var opts = bpf_uprobe_opts()
            opts.sz = MemoryLayout<bpf_uprobe_opts>.size
            opts.retprobe = retprobe
            return binary.withCString { path in
                guard let function else {
                    return bpf_program__attach_uprobe_opts(handle, -1, path, offset, &opts)  // pid -1: every process
                }
                return function.withCString { name in
                    opts.func_name = name
                    return bpf_program__attach_uprobe_opts(handle, -1, path, offset, &opts)
                }
            }
        case .kprobe(let function, let offset, let retprobe):
            var opts = bpf_kprobe_opts()
            opts.sz = MemoryLayout<bpf_kprobe_opts>.size
            opts.offset = offset
            opts.retprobe = retprobe
            return bpf_program__attach_kprobe_opts(handle, function, &opts)
        case .tracepoint(let category, let name):
            return bpf_program__attach_tracepoint(handle, category, name)
        case .rawTracepoint(let name):
            return bpf_program__attach_raw_tracepoint(handle, name)
        case .perfEvent, .xdp, .tc, .usdt:
            return nil  // attachKind (AttachKinds.swift)
        }
    }

    /// The object's maps that carry events to user space: ring buffers and perf event arrays.
    public var eventMaps: [EventMap] {
        var maps: [EventMap] = []
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            let name = String(cString: bpf_map__name(current))
            switch bpf_map__type(current) {
            case BPF_MAP_TYPE_RINGBUF: maps.append(EventMap(name: name, kind: .ringBuffer, fd: bpf_map__fd(current)))
            case BPF_MAP_TYPE_PERF_EVENT_ARRAY: maps.append(EventMap(name: name, kind: .perfBuffer, fd: bpf_map__fd(current)))
            default: break
            }
            map = bpf_object__next_map(object, current)
        }
        return maps
    }

    /// Detaches every program; the maps stay readable until `close` (a final report then reads
    /// contents that no longer change).
    public func detachAll() {
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
    }

    /// Detaches every link and closes the object. Safe to call more than once.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        for detach in detachers.reversed() { detach() }
        detachers.removeAll()
        for link in links { bpf_link__destroy(link) }
        links.removeAll()
        bpf_object__close(object)
        memoryImage?.deallocate()
        free(customPath)
    }
}

/// A map events come through.
public struct EventMap: Sendable, Equatable {
    /// How user space reads it.
    public enum Kind: Sendable, Equatable {
        /// `BPF_MAP_TYPE_RINGBUF`, read with libbpf's `ring_buffer`.
        case ringBuffer
        /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`, read with libbpf's `perf_buffer`.
        case perfBuffer
    }

    /// The map's name in the object.
    public var name: String
    /// Its type.
    public var kind: Kind
    /// Its file descriptor (valid once the object is loaded).
    public var fd: Int32
}
