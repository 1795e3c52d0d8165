import BTF

/// What libbpf would do with one CO-RE relocation against one target BTF.
public enum CORERelocationOutcome: Sendable, Equatable {
    /// Resolved: the value libbpf patches into the instruction (offset, size, 0/1 existence,
    /// shift amount, type id, type size, enumerator value ...).
    case resolved(UInt64)
    /// No candidate matched (or the field/enumerator is missing), or the load/store size cannot be
    /// adjusted: libbpf poisons the instruction (existence relocations resolve to 0 instead, as
    /// `.resolved(0)`).
    case poisoned(COREFailure)
    /// libbpf fails the load because two matching candidates disagree (on the field's offset or on
    /// the value): the failure's problem is `.ambiguity`, with both candidates.
    case ambiguous(COREFailure)
    /// libbpf fails the load for another reason: an invalid access spec, a bitfield too big to
    /// load, an instruction that does not fit ...
    case failed(COREFailure)

    /// Whether libbpf fails the load on this relocation (ambiguity or other failure).
    public var failsLoad: Bool {
        switch self {
        case .ambiguous, .failed: true
        case .resolved, .poisoned: false
        }
    }

    /// Why it is not resolved, `nil` when it is.
    public var failure: COREFailure? {
        switch self {
        case .resolved: nil
        case .poisoned(let failure), .ambiguous(let failure), .failed(let failure): failure
        }
    }
}

/// The decision for one relocation, with the specs the minimizer needs.
public struct CORERelocationResult: Sendable {
    public var relocation: CORERelocation
    /// The program section the relocation belongs to (e.g. "tracepoint/syscalls/sys_enter_execve").
    public var sectionName: String
    /// The parsed local spec, `nil` if the access string itself is invalid.
    public var localSpec: CORESpec?
    /// One spec per target candidate that matched, in candidate order (several when libbpf had
    /// to check that all candidates agree). Empty when poisoned. When the relocation failed on a
    /// candidate (ambiguity with the first, a bitfield too big to load), the last spec is that one.
    public var targetSpecs: [CORESpec]
    public var outcome: CORERelocationOutcome

    /// The index of the relocation within its section's records (libbpf's `relo #N`).
    public var relocationIndex: Int = 0
    /// The candidates tried, in libbpf's order: target types of the same essential name and a
    /// compatible kind, minus those pruned by earlier relocations of the same local type.
    public var candidateIDs: [TypeID] = []
    /// libbpf's `bpf_core_relo_res` for the outcome (`nil` when the relocation failed): what
    /// `patch(instruction:)` needs to reproduce libbpf's instruction patching.
    public var value: CORERelocationValue?

    public init(relocation: CORERelocation, sectionName: String, localSpec: CORESpec?,
                targetSpecs: [CORESpec], outcome: CORERelocationOutcome) {
        self.relocation = relocation; self.sectionName = sectionName; self.localSpec = localSpec
        self.targetSpecs = targetSpecs; self.outcome = outcome
    }
}

/// Candidate index and relocation resolution against one target (kernel) BTF.
/// Build once per kernel; reuse for every object and relocation.
///
/// Reproduces libbpf 1.1's `bpf_object__relocate_core` as far as it depends on BTF: the candidate
/// search by essential name (`bpf_core_find_cands`), the per-object candidate cache that later
/// relocations of the same local type see pruned to the candidates that matched
/// (`bpf_core_calc_relo_insn`), spec parsing and matching, and value computation. Unlike libbpf,
/// which stops the load at the first failed relocation, every relocation gets an outcome.
///
/// `outcome` is libbpf's decision from the BTF alone. What libbpf then does to the instruction
/// (check that it holds the compiler's value, poison a load whose size cannot be adjusted) is
/// `patch(instruction:)`.
///
/// Known differences from libbpf, all outside what a compiled object and a sane BTF produce:
/// - relocations of programs libbpf does not load (`SEC("?...")`, autoload turned off, weak
///   subprograms replaced at link time) are resolved here; libbpf skips them, so they do not prune
///   its candidate cache;
/// - after a failed relocation libbpf stops; here later relocations see the candidate cache as if
///   libbpf had carried on (a failure never prunes it);
/// - a negative index in an access string (undefined behaviour in libbpf) and a bitfield whose
///   type has size 0 (a division by zero in libbpf) are failures here.
public struct CORERelocator: Sendable {
    public let target: BTF
    let targetView: COREBTF
    private let index: CandidateIndex

    public init(target: BTF) {
        self.target = target
        targetView = COREBTF(target)
        index = CandidateIndex(target)
    }

    /// A relocator whose candidate index holds only the types named `candidateNames` (essential
    /// names, as `SharedRelocationShapes.candidateNames` gives them) of a kind CO-RE compatible with
    /// one of `candidateKinds`: cheaper to build, and other names and kinds are still found, by a
    /// scan over every type.
    public init(target: BTF, candidateNames: Set<[UInt8]>, candidateKinds: Set<BTFKind>) {
        self.target = target
        targetView = COREBTF(target)
        index = CandidateIndex(target, names: candidateNames, kinds: candidateKinds)
    }

    /// libbpf's candidate search for one local type: target types with a CO-RE compatible kind and
    /// the same non-empty essential name, in id order. `nil` for an anonymous local type (libbpf
    /// fails the relocation: "target candidate search failed").
    public func candidates(for localType: TypeID, in local: BTF) -> [TypeID]? {
        guard local.isValid(localType), localType != .void else { return nil }
        let name = local.typeName(localType)
        guard !name.isEmpty else { return nil }
        return index.candidates(essentialName: name.prefix(essentialNameLength(name)),
                                localKind: local.coreKind(localType), in: target)
    }

    /// Resolves every CO-RE relocation of `object` against the target, in `.BTF.ext` order.
    public func resolveAll(in object: BPFObject) -> [CORERelocationResult] {
        var unshared = SharedMatches()
        return resolveAll(in: object, shapes: nil, shared: &unshared)
    }

    /// `resolveAll(in:)` for one of several objects resolved against this target: candidates are
    /// matched once per relocation shape (`SharedRelocationShapes`, this object's row) and remembered
    /// in `shared` for the other objects. The results are those of `resolveAll(in:)`.
    public func resolveAll(in object: BPFObject, shapes: [Int?]?, shared: inout SharedMatches) -> [CORERelocationResult] {
        guard let ext = object.ext else { return [] }
        let local = COREBTF(object.btf)
        // libbpf's cand_cache: one candidate list per local type id for the whole object, pruned
        // as relocations are resolved in order.
        var candidateCache: [TypeID: [TypeID]?] = [:]
        var results: [CORERelocationResult] = []
        for section in ext.coreRelocations {
            let sectionName = object.btf.string(section.sectionNameOffset)
            for (relocationIndex, relocation) in section.records.enumerated() {
                let shape = shapes.flatMap { results.count < $0.count ? $0[results.count] : nil }
                var result = resolve(relocation, local: local, candidateCache: &candidateCache, shape: shape, shared: &shared)
                result.sectionName = sectionName
                result.relocationIndex = relocationIndex
                results.append(result)
            }
        }
        return results
    }

    /// libbpf's `bpf_core_resolve_relo` + `bpf_core_calc_relo_insn` for one relocation.
    private func resolve(_ relocation: CORERelocation, local: COREBTF, candidateCache: inout [TypeID: [TypeID]?],
                         shape: Int?, shared: inout SharedMatches) -> CORERelocationResult {
        var result = CORERelocationResult(relocation: relocation, sectionName: "", localSpec: nil,
                                          targetSpecs: [], outcome: .resolved(0))
        func fail(_ problem: COREFailure.Problem) -> CORERelocationResult {
            result.outcome = .failed(COREFailure(problem))
            return result
        }
        func fail(_ failure: COREFailure, in step: COREFailure.Step) -> CORERelocationResult {
            result.outcome = .failed(COREFailure(failure.problem, step: step))
            return result
        }
        let localID = relocation.typeID
        guard local.btf.isValid(localID) else { return fail(.missingLocalType(localID)) }
        // BTFKit lumps every kind number it does not know into `unknown`, so it cannot compare one
        // the way libbpf compares kind numbers: refuse rather than guess.
        if local.btf.coreKind(localID) == .unknown {
            return fail(.unknownLocalKind(localID, kindNumber: local.btf.type(localID).kindNumber))
        }

        var candidates: [TypeID] = []
        if relocation.kind != .typeIDLocal {
            if candidateCache[localID] == nil {
                candidateCache[localID] = .some(sharedCandidates(for: localID, in: local.btf, shared: &shared))
            }
            guard let cached = candidateCache[localID]!, localID != .void else {
                return fail(.anonymousLocalType(localID))
            }
            candidates = cached
        }
        result.candidateIDs = candidates

        let localSpec: CORESpec
        do { localSpec = try CORESpec.parse(relocation: relocation, in: local) } catch {
            return fail(error, in: .parsingLocalSpec)
        }
        result.localSpec = localSpec

        if relocation.kind == .typeIDLocal {
            var value = CORERelocationValue()
            value.validate = false
            value.originalValue = UInt64(localID.rawValue)
            value.newValue = UInt64(localID.rawValue)
            result.value = value
            result.outcome = .resolved(value.newValue)
            return result
        }

        // Relocations asking the same as an earlier object's over the same candidates: when those all
        // agreed, only the local value is this object's own.
        let resolution = shape.flatMap { sharedResolution(localSpec, local: local, candidates: candidates, shape: $0, shared: &shared) }
        if let resolution, let targetValue = resolution.firstTargetValue,
           let localSide = try? calcLocalSide(relocation.kind, localSpec: localSpec, local: local) {
            result.targetSpecs = resolution.targetSpecs
            candidateCache[localID] = .some(resolution.matched)
            let value = combine(relocation.kind, localSide: localSide, newValue: targetValue, local: local, target: targetView)
            result.value = value
            result.outcome = .resolved(value.newValue)
            return result
        }

        var chosen: CORERelocationValue?
        var firstBitOffset = 0
        var firstID = TypeID.void
        var matched: [TypeID] = []
        var localSide: LocalSideValue?
        // When the shared resolution found no candidate matching, there is nothing to walk.
        let classes = shape == nil ? nil : shared.classes(of: candidates, for: relocation.kind, in: target)
        for (position, candidate) in (resolution?.matched.isEmpty == true ? [] : candidates).enumerated() {
            let candidateSpec: CORESpec?
            do {
                candidateSpec = try match(localSpec, local: local, candidate: candidate, shape: shape,
                                          candidateClass: classes?[position], shared: &shared)
            } catch {
                return fail(error, in: .matchingCandidate(candidate))
            }
            guard let candidateSpec else { continue }
            // Recorded before the value is computed: a failure on this candidate (a bitfield too big
            // to load) needs it kept to be reproduced.
            result.targetSpecs.append(candidateSpec)
            let value: CORERelocationValue
            do {
                value = try sharedValue(relocation.kind, localSpec: localSpec, local: local, targetSpec: candidateSpec,
                                        candidate: candidate, shape: shape, localSide: &localSide, shared: &shared)
            } catch {
                return fail(error, in: .computingValue)
            }
            if let first = chosen {
                func side(_ id: TypeID, _ value: UInt64, poisons: Bool = false) -> COREAmbiguity.Candidate {
                    COREAmbiguity.Candidate(typeID: id, name: target.name(id), value: value, poisons: poisons)
                }
                if candidateSpec.bitOffset != firstBitOffset {
                    let offset = { (bits: Int) in UInt64(UInt32(truncatingIfNeeded: bits)) }
                    result.outcome = .ambiguous(COREFailure(.ambiguity(COREAmbiguity(
                        .fieldOffset, first: side(firstID, offset(firstBitOffset)),
                        other: side(candidate, offset(candidateSpec.bitOffset))))))
                    return result
                }
                if value.poison != first.poison || value.newValue != first.newValue {
                    result.outcome = .ambiguous(COREFailure(.ambiguity(COREAmbiguity(
                        .decision, first: side(firstID, first.newValue, poisons: first.poison),
                        other: side(candidate, value.newValue, poisons: value.poison)))))
                    return result
                }
            } else {
                chosen = value
                firstBitOffset = candidateSpec.bitOffset
                firstID = candidate
            }
            matched.append(candidate)
        }

        // Later relocations of this local type only see the candidates that matched (if any did).
        if !matched.isEmpty { candidateCache[localID] = .some(matched) }

        if let chosen {
            result.value = chosen
            result.outcome = .resolved(chosen.newValue)
            return result
        }
        let value: CORERelocationValue
        do {
            value = try calcRelocation(relocation.kind, localSpec: localSpec, local: local,
                                       targetSpec: nil, target: targetView)
        } catch {
            return fail(error, in: .computingValue)
        }
        result.value = value
        result.outcome = value.poison
            ? .poisoned(COREFailure(.noMatchingTarget(candidateCount: candidates.count)))
            : .resolved(value.newValue)
        return result
    }
}
