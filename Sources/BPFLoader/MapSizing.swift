import BTF
import CLibBPF
import Glibc

/// `--max-entries MAP=N` and `--value-size MAP=N`: sizes the user gives maps, by name.
public struct MapSizeOverrides: Sendable, Equatable {
    /// `max_entries` by map name.
    public var maxEntries: [String: UInt32] = [:]
    /// `value_size` by map name.
    public var valueSizes: [String: UInt32] = [:]

    /// No overrides.
    public init() {}

    /// Parses the options' `MAP=N` values (N decimal or 0x hexadecimal, positive); a later value
    /// for a map replaces an earlier one (the command line overrides a runner's defaults).
    public init(maxEntries: [String], valueSizes: [String]) throws(BPFLoaderError) {
        self.maxEntries = try Self.parse(maxEntries, kind: .maxEntries)
        self.valueSizes = try Self.parse(valueSizes, kind: .valueSize)
    }

    private static func parse(_ arguments: [String], kind: RunInput.Kind) throws(BPFLoaderError) -> [String: UInt32] {
        var result: [String: UInt32] = [:]
        for argument in arguments {
            guard let equals = argument.lastIndex(of: "="), equals != argument.startIndex else {
                throw BPFLoaderError("expected MAP=N", input: RunInput(kind, argument, malformed: true), remedy: .example("start=65536"))
            }
            let text = String(argument[argument.index(after: equals)...])
            guard let value = AttachTarget.parseOffset(text), value > 0, value <= Int(UInt32.max) else {
                throw BPFLoaderError("'\(text)' is not a size from 1 to \(UInt32.max)", input: RunInput(kind, argument, malformed: true))
            }
            result[String(argument[..<equals])] = UInt32(value)
        }
        return result
    }

    /// The map names these overrides name.
    var names: Set<String> { Set(maxEntries.keys).union(valueSizes.keys) }
}

/// What the loader does with one map: its declared and final sizes and type, and why.
public struct MapDecision: Sendable, Equatable {
    /// The map's name.
    public var name: String
    /// Its type as libbpf spells it, as declared and as created (`ringbuf` → `perf_event_array`).
    public var declaredType: String
    public var type: String
    /// The key's and value's types (from the object's BTF; empty when the map has none).
    public var keyType: String
    public var valueType: String
    /// Sizes as declared and as created.
    public var keySize: UInt32
    public var declaredValueSize: UInt32
    public var valueSize: UInt32
    public var declaredMaxEntries: UInt32
    public var maxEntries: UInt32
    /// Why sizes or type changed (empty when nothing did).
    public var notes: [MapNote]
}

/// Why the loader changed a map's size or type.
public enum MapNote: Sendable, Equatable, CustomStringConvertible {
    /// A ring buffer created as a perf event array (one entry per CPU), and why.
    case perfFallback(String)
    /// `max_entries` the user gave (`MapSizeOverrides`; btf-run's `--max-entries`).
    case maxEntriesGiven(UInt32)
    /// `max_entries` declared 0: the loader's default, and why that one; the user may give another.
    case maxEntriesDefault(UInt32, why: String)
    /// `value_size` the user gave (btf-run's `--value-size`).
    case valueSizeGiven(UInt32)
    /// A stack-trace map's `value_size` declared 0: 127 frames of 8 bytes; the user may give another.
    case stackTraceValueSizeDefault(UInt32)

    /// The note in words naming no option.
    public var description: String {
        switch self {
        case .perfFallback(let why): "ring buffer created as a perf event array (one entry per CPU): \(why)"
        case .maxEntriesGiven(let entries): "max_entries \(entries) as given"
        case .maxEntriesDefault(let entries, let why): "declared with max_entries 0: \(entries) (\(why))"
        case .valueSizeGiven(let size): "value_size \(size) as given"
        case .stackTraceValueSizeDefault(let size): "declared with value_size 0: \(size) (127 frames of 8 bytes)"
        }
    }
}

/// Sizes for maps declared with 0 (their sizes are a tool's loader's to set), as libbpf-tools'
/// loaders set them.
public enum MapDefaults {
    /// Stack-trace maps: 127 frames (`PERF_MAX_STACK_DEPTH`) of 8-byte addresses per stack.
    public static let stackTraceValueSize: UInt32 = 127 * 8
    /// Hash maps with a 4-byte key (libbpf-tools key these by pid or tid, `start` maps) get
    /// `/proc/sys/kernel/pid_max` entries, at most this many (hash maps are preallocated).
    public static let pidKeyedCap: UInt32 = 131072
    /// Every other map declared with 0 entries.
    public static let maxEntries: UInt32 = 10240
}

extension LoadedBPFObject {
    /// The maps the user sizes (every map but libbpf's internal `.rodata`/`.data`/`.bss`/`.kconfig` ones).
    var userMaps: [OpaquePointer] {
        var maps: [OpaquePointer] = []
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            if !bpf_map__is_internal(current) { maps.append(current) }
            map = bpf_object__next_map(object, current)
        }
        return maps
    }

    /// Sizes and types the object's maps before `load`: `overrides` first; a size declared 0
    /// gets its `MapDefaults`; with `perfFallback` (a reason) ring buffers become perf event arrays
    /// (key and value 4 bytes, one entry per CPU, as libbpf-tools' `bpf_buffer__new` does). Throws
    /// for an override naming no map. Returns what was done to each map.
    public func configureMaps(_ overrides: MapSizeOverrides, perfFallback: String?, kernel: KernelFeatures) throws(BPFLoaderError) -> [MapDecision] {
        let maps = userMaps
        let names = maps.map { String(cString: bpf_map__name($0)) }
        for unknown in overrides.names.sorted() where !names.contains(unknown) {
            throw BPFLoaderError("\(name) has no map named '\(unknown)'; its maps are \(names.joined(separator: ", "))", input: RunInput(.mapSize, unknown))
        }
        let btf = bpf_object__btf(object)
        func typeName(_ id: UInt32) -> String {
            guard let btf, id != 0 else { return "" }
            return Self.describe(btf: btf, id: id)
        }
        return maps.enumerated().map { index, map in
            let mapName = names[index]
            let declaredType = bpf_map__type(map)
            var decision = MapDecision(name: mapName, declaredType: Self.mapTypeName(declaredType), type: Self.mapTypeName(declaredType),
                                       keyType: typeName(bpf_map__btf_key_type_id(map)), valueType: typeName(bpf_map__btf_value_type_id(map)),
                                       keySize: bpf_map__key_size(map), declaredValueSize: bpf_map__value_size(map), valueSize: bpf_map__value_size(map),
                                       declaredMaxEntries: bpf_map__max_entries(map), maxEntries: bpf_map__max_entries(map), notes: [])
            if declaredType == BPF_MAP_TYPE_RINGBUF, let perfFallback {
                // libbpf-tools' compat.c: the BPF side writes with bpf_perf_event_output when
                // bpf_core_type_exists(struct bpf_ringbuf) is false; user space reads a perf buffer.
                bpf_map__set_type(map, BPF_MAP_TYPE_PERF_EVENT_ARRAY)
                bpf_map__set_key_size(map, 4)
                bpf_map__set_value_size(map, 4)
                bpf_map__set_max_entries(map, UInt32(kernel.possibleCPUs))
                decision.type = Self.mapTypeName(BPF_MAP_TYPE_PERF_EVENT_ARRAY)
                decision.keySize = 4
                decision.valueSize = 4
                decision.maxEntries = UInt32(kernel.possibleCPUs)
                decision.notes.append(.perfFallback(perfFallback))
                return decision
            }
            if let entries = overrides.maxEntries[mapName] {
                bpf_map__set_max_entries(map, entries)
                decision.maxEntries = entries
                decision.notes.append(.maxEntriesGiven(entries))
            } else if decision.declaredMaxEntries == 0 && declaredType != BPF_MAP_TYPE_PERF_EVENT_ARRAY {
                // (libbpf gives a perf event array declared with 0 one entry per CPU itself.)
                let entries: UInt32
                let why: String
                let hashes = [BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH]
                if hashes.contains(declaredType) && decision.keySize == 4 {
                    let pidMax = UInt32(clamping: kernel.pidMax)
                    entries = min(pidMax, MapDefaults.pidKeyedCap)
                    why = "a hash map with a 4-byte key (a pid): /proc/sys/kernel/pid_max \(pidMax), at most \(MapDefaults.pidKeyedCap)"
                } else {
                    entries = MapDefaults.maxEntries
                    why = "the default"
                }
                bpf_map__set_max_entries(map, entries)
                decision.maxEntries = entries
                decision.notes.append(.maxEntriesDefault(entries, why: why))
            }
            if let size = overrides.valueSizes[mapName] {
                bpf_map__set_value_size(map, size)
                decision.valueSize = size
                decision.notes.append(.valueSizeGiven(size))
            } else if decision.declaredValueSize == 0 && declaredType == BPF_MAP_TYPE_STACK_TRACE {
                bpf_map__set_value_size(map, MapDefaults.stackTraceValueSize)
                decision.valueSize = MapDefaults.stackTraceValueSize
                decision.notes.append(.stackTraceValueSizeDefault(MapDefaults.stackTraceValueSize))
            }
            return decision
        }
    }

    /// The map type as libbpf spells it (`hash`, `ringbuf`, `stack_trace` ...).
    static func mapTypeName(_ type: bpf_map_type) -> String {
        libbpf_bpf_map_type_str(type).map { String(cString: $0) } ?? "type \(type.rawValue)"
    }

    /// A type of libbpf's copy of the object's BTF, as C names it (`u32`, `struct key_t`, `u64[127]`).
    static func describe(btf: OpaquePointer, id: UInt32, depth: Int = 0) -> String {
        guard depth < 16, let t = btf__type_by_id(btf, id) else { return "void" }
        let kind = BTFKind(rawValue: UInt8((t.pointee.info >> 24) & 0x1f))
        let name = btf__name_by_offset(btf, t.pointee.name_off).map { String(cString: $0) } ?? ""
        let inner = t.pointee.size  // the union's `type` for reference kinds
        switch kind {
        case .const: return "const " + describe(btf: btf, id: inner, depth: depth + 1)
        case .volatile: return "volatile " + describe(btf: btf, id: inner, depth: depth + 1)
        case .pointer: return describe(btf: btf, id: inner, depth: depth + 1) + " *"
        case .array:
            let array = UnsafeRawPointer(t + 1).assumingMemoryBound(to: btf_array.self).pointee
            return describe(btf: btf, id: array.type, depth: depth + 1) + "[\(array.nelems)]"
        case .structure: return "struct " + (name.isEmpty ? "(anon)" : name)
        case .union: return "union " + (name.isEmpty ? "(anon)" : name)
        case .enumeration, .enum64: return "enum " + (name.isEmpty ? "(anon)" : name)
        default: return name.isEmpty ? "?" : name
        }
    }

    /// Whether the BTF file at `path` has `struct bpf_ringbuf` (the type libbpf-tools' BPF side
    /// checks with `bpf_core_type_exists` before using a ring buffer); nil when it cannot be read.
    public static func btfHasRingBuffer(path: String) -> Bool? {
        let btf = btf__parse(path, nil)
        guard libbpf_get_error(UnsafeRawPointer(btf)) == 0, let btf else { return nil }
        defer { btf__free(btf) }
        return btf__find_by_name_kind(btf, "bpf_ringbuf", UInt32(BTFKind.structure.rawValue)) > 0
    }
}
