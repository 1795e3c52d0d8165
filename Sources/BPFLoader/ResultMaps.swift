import BTF
import CLibBPF
import Glibc

/// A map whose contents are a program's results (counters, histograms, tables), as libbpf
/// describes it once the object is loaded: what `--map`/`--hide-map` choose among and what the
/// report prints. Ring/perf buffers and libbpf's internal maps (`.rodata`, `.bss`, `.data`,
/// `.kconfig`) are not result maps.
public struct ResultMap: Sendable, Equatable {
    /// How a map's contents are laid out for user space.
    public enum Kind: Sendable, Equatable {
        /// `BPF_MAP_TYPE_HASH`, `LRU_HASH`: entries exist once written.
        case hash
        /// `BPF_MAP_TYPE_ARRAY`: every index exists; cleared by writing zeroes.
        case array
        /// `BPF_MAP_TYPE_PERCPU_HASH`, `LRU_PERCPU_HASH`: one value per possible CPU.
        case perCPUHash
        /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
        case perCPUArray
        /// `BPF_MAP_TYPE_STACK_TRACE`: stack id to an array of instruction pointers.
        case stackTrace

        /// Whether each key holds one value per possible CPU.
        public var isPerCPU: Bool { self == .perCPUHash || self == .perCPUArray }
        /// Whether entries are removed (hash) rather than zeroed (array) to clear the map.
        public var isArray: Bool { self == .array || self == .perCPUArray }
    }

    /// The map's name in the object.
    public var name: String
    /// Its layout.
    public var kind: Kind
    /// Key and value sizes in bytes.
    public var keySize: Int
    public var valueSize: Int
    /// The key and value types in the object's BTF (`__type(key, …)`), `nil` when the map
    /// declares only sizes.
    public var keyType: TypeID?
    public var valueType: TypeID?
    /// Its file descriptor (valid while the object is loaded).
    public var fd: Int32

    public init(name: String, kind: Kind, keySize: Int, valueSize: Int, keyType: TypeID?, valueType: TypeID?, fd: Int32) {
        self.name = name
        self.kind = kind
        self.keySize = keySize
        self.valueSize = valueSize
        self.keyType = keyType
        self.valueType = valueType
        self.fd = fd
    }
}

/// One entry read from a result map: the key's bytes and the value's, one value per possible CPU
/// for per-CPU maps (one otherwise).
public struct MapEntry: Sendable, Equatable {
    public var key: [UInt8]
    public var values: [[UInt8]]

    public init(key: [UInt8], values: [[UInt8]]) {
        self.key = key
        self.values = values
    }
}

extension LoadedBPFObject {
    /// The object's result maps, in the object's order (ring/perf buffers, internal maps and map
    /// kinds without printable contents left out). Valid once loaded.
    public var resultMaps: [ResultMap] {
        var maps: [ResultMap] = []
        var map = bpf_object__next_map(object, nil)
        while let current = map {
            map = bpf_object__next_map(object, current)
            guard !bpf_map__is_internal(current) else { continue }
            let kind: ResultMap.Kind
            switch bpf_map__type(current) {
            case BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH: kind = .hash
            case BPF_MAP_TYPE_ARRAY: kind = .array
            case BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH: kind = .perCPUHash
            case BPF_MAP_TYPE_PERCPU_ARRAY: kind = .perCPUArray
            case BPF_MAP_TYPE_STACK_TRACE: kind = .stackTrace
            default: continue
            }
            let keyType = bpf_map__btf_key_type_id(current)
            let valueType = bpf_map__btf_value_type_id(current)
            maps.append(ResultMap(name: String(cString: bpf_map__name(current)), kind: kind,
                                  keySize: Int(bpf_map__key_size(current)), valueSize: Int(bpf_map__value_size(current)),
                                  keyType: keyType == 0 ? nil : TypeID(keyType), valueType: valueType == 0 ? nil : TypeID(valueType),
                                  fd: bpf_map__fd(current)))
        }
        return maps
    }
}

/// Reads and clears result maps through the map's file descriptor (`bpf_map_get_next_key`,
/// `bpf_map_lookup_elem`, `bpf_map_delete_elem`, `bpf_map_update_elem`).
public enum MapReader {
    /// The number of possible CPUs, the number of values a per-CPU lookup returns.
    public static let possibleCPUs: Int = max(1, Int(libbpf_num_possible_cpus()))

    /// Every entry of `map`. An entry deleted while the keys are walked is skipped; an error
    /// other than that names the map.
    public static func entries(of map: ResultMap) throws(BPFLoaderError) -> [MapEntry] {
        let cpus = map.kind.isPerCPU ? possibleCPUs : 1
        // The kernel copies per-CPU values in 8-byte strides (round_up(value_size, 8)).
        let stride = map.kind.isPerCPU ? (map.valueSize + 7) / 8 * 8 : map.valueSize
        var entries: [MapEntry] = []
        var key = [UInt8](repeating: 0, count: max(map.keySize, 1))
        var next = key
        var value = [UInt8](repeating: 0, count: max(stride * cpus, 1))
        var first = true
        while true {
            let found = first
                ? bpf_map_get_next_key(map.fd, nil, &next)
                : bpf_map_get_next_key(map.fd, key, &next)
            first = false
            if found != 0 {
                let code = errno
                if code == ENOENT { break }
                throw BPFLoaderError("map \(map.name): cannot walk its keys: \(errnoText(code))", errnoCode: code)
            }
            key = next
            if bpf_map_lookup_elem(map.fd, key, &value) != 0 {
                let code = errno
                if code == ENOENT { continue }  // deleted since the key was listed
                throw BPFLoaderError("map \(map.name): cannot read an entry: \(errnoText(code))", errnoCode: code)
            }
            let values = (0 ..< cpus).map { Array(value[$0 * stride ..< $0 * stride + map.valueSize]) }
            entries.append(MapEntry(key: Array(key.prefix(map.keySize)), values: values))
            if entries.count > 10_000_000 { break }  // a guard against a map refilled as fast as it is read
        }
        return entries
    }

    /// Empties `map` the way bcc's tools do between intervals: hash entries deleted, array
    /// entries set to zero.
    public static func clear(_ map: ResultMap, entries: [MapEntry]) throws(BPFLoaderError) {
        let cpus = map.kind.isPerCPU ? possibleCPUs : 1
        let stride = map.kind.isPerCPU ? (map.valueSize + 7) / 8 * 8 : map.valueSize
        let zero = [UInt8](repeating: 0, count: max(stride * cpus, 1))
        for entry in entries {
            let result = map.kind.isArray
                ? bpf_map_update_elem(map.fd, entry.key, zero, 0)
                : bpf_map_delete_elem(map.fd, entry.key)
            if result != 0 && errno != ENOENT {
                let code = errno
                throw BPFLoaderError("map \(map.name): cannot clear an entry: \(errnoText(code))", errnoCode: code)
            }
        }
    }
}
