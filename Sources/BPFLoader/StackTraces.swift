import BTF
import CLibBPF
import Glibc

/// Kernel symbols from `/proc/kallsyms`, for naming the addresses of kernel stacks.
public struct KernelSymbols: Sendable {
    /// (address, name) sorted by address.
    let symbols: [(address: UInt64, name: String)]

    /// Reads `path` (`/proc/kallsyms`); addresses shown as zero (no privilege) leave it empty.
    public init(path: String = "/proc/kallsyms") {
        guard let bytes = try? FileIO.read(path) else { symbols = []; return }
        var symbols: [(UInt64, String)] = []
        for line in bytes.split(separator: 10) {
            let fields = line.split(separator: 32, maxSplits: 3)
            guard fields.count >= 3, let address = UInt64(String(decoding: fields[0], as: UTF8.self), radix: 16), address != 0 else { continue }
            let type = fields[1].first ?? 0
            guard [0x54, 0x74, 0x57, 0x77].contains(type) else { continue }  // T t W w: code
            var name = fields[2]
            if let tab = name.firstIndex(of: 9) { name = name[..<tab] }
            symbols.append((address, String(decoding: name, as: UTF8.self)))
        }
        self.symbols = symbols.sorted { $0.0 < $1.0 }
    }

    /// `name+0xoffset` of the symbol at or below `address`, or the address in hex.
    public func name(of address: UInt64) -> String {
        var low = 0, high = symbols.count
        while low < high {
            let middle = (low + high) / 2
            if symbols[middle].address <= address { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return "0x" + String(address, radix: 16) }
        let symbol = symbols[low - 1]
        return symbol.name + "+0x" + String(address - symbol.address, radix: 16)
    }
}

extension MapReader {
    /// The instruction pointers of stack `id` in a stack-trace map (zeros trimmed), or `nil` when
    /// the id is not there (negative ids are bpf_get_stackid's errors).
    public static func stack(_ id: Int64, in map: ResultMap) -> [UInt64]? {
        guard map.kind == .stackTrace, id >= 0, id <= Int64(UInt32.max), map.keySize == 4 else { return nil }
        var key = UInt32(id)
        var ips = [UInt64](repeating: 0, count: max(1, map.valueSize / 8))
        guard bpf_map_lookup_elem(map.fd, &key, &ips) == 0 else { return nil }
        return Array(ips.prefix { $0 != 0 })
    }
}

/// Names stack frames: kernel addresses (the upper half) with `/proc/kallsyms`, user addresses
/// with the file mapped there in `/proc/PID/maps` (when the process is still alive).
public struct StackSymbolizer: Sendable {
    let kernel: KernelSymbols

    public init(kernel: KernelSymbols = KernelSymbols()) {
        self.kernel = kernel
    }

    public func frames(_ ips: [UInt64], pid: Int64?) -> [String] {
        let mappings = ips.contains { $0 < 1 << 63 } ? pid.map(Self.mappings(of:)) ?? [] : []
        return ips.map { ip in
            if ip >= 1 << 63 { return kernel.name(of: ip) }
            let hexadecimal = "0x" + String(ip, radix: 16)
            guard let mapping = mappings.first(where: { $0.start <= ip && ip < $0.end }) else { return hexadecimal }
            return hexadecimal + " (" + mapping.path + "+0x" + String(ip - mapping.start + mapping.offset, radix: 16) + ")"
        }
    }

    static func mappings(of pid: Int64) -> [(start: UInt64, end: UInt64, offset: UInt64, path: String)] {
        guard pid > 0, let bytes = try? FileIO.read("/proc/\(pid)/maps") else { return [] }
        return bytes.split(separator: 10).compactMap { line in
            let fields = line.split(separator: 32, omittingEmptySubsequences: true)
            guard fields.count >= 6 else { return nil }
            let range = fields[0].split(separator: 45)  // '-'
            guard range.count == 2, let start = UInt64(String(decoding: range[0], as: UTF8.self), radix: 16),
                  let end = UInt64(String(decoding: range[1], as: UTF8.self), radix: 16),
                  let offset = UInt64(String(decoding: fields[2], as: UTF8.self), radix: 16) else { return nil }
            return (start, end, offset, String(decoding: fields[5], as: UTF8.self))
        }
    }
}
