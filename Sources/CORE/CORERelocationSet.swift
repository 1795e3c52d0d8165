import BTF

/// What BPF objects ask of a kernel's BTF, independent of their code: one line per CO-RE
/// relocation that reads the target BTF, its kind and the local type and access path it names
/// (`byte_off task_struct.real_parent`, `type_exists struct bpf_ringbuf`,
/// `enumval_value enum bpf_func_id::BPF_FUNC_ringbuf_output`). Two builds of one program whose
/// relocations ask for the same things have equal sets, whatever their instructions; a pack
/// trimmed for one set serves every object whose set is a subset of it.
public struct CORERelocationSet: Sendable, Equatable {
    /// The relocation lines, without duplicates.
    public private(set) var relocations: Set<String>

    /// The relocations of `objects`. `local_type_id` relocations are left out: libbpf answers
    /// them from the object's own BTF, so no trimming depends on them.
    public init(objects: [BPFObject]) {
        relocations = []
        for object in objects {
            guard let ext = object.ext else { continue }
            let local = COREBTF(object.btf)
            for section in ext.coreRelocations {
                for relocation in section.records where relocation.kind != .typeIDLocal {
                    let spec = try? CORESpec.parse(relocation: relocation, in: local)
                    relocations.insert("\(relocation.kind) " + CORESpec.displayName(of: relocation, spec: spec, in: object.btf))
                }
            }
        }
    }

    /// A set read back from its lines (a pack's record of what it was trimmed for).
    public init(relocations: some Sequence<String>) {
        self.relocations = Set(relocations)
    }

    /// The lines, sorted.
    public var sorted: [String] { relocations.sorted() }

    /// `fnv1a64:` and 16 hex digits: FNV-1a over the sorted lines, each ended by a newline.
    public var digest: String { CORERelocationSet.digest(of: sorted) }

    /// The digest of lines already sorted (what `digest` computes).
    public static func digest(of sortedLines: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for line in sortedLines {
            for byte in line.utf8 + [0x0a] {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
        }
        let hex = String(hash, radix: 16)
        return "fnv1a64:" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The relocations of this set that `other` lacks, sorted.
    public func missing(from other: CORERelocationSet) -> [String] {
        relocations.subtracting(other.relocations).sorted()
    }
}
