import Archive
import Glibc

/// Which BTF the runtime chose (or would choose) and why: the step of the selection chain that
/// decided, the pack entry, the warnings, and every line of the decision for `-v` output.
public struct BTFSelection: Sendable, Equatable {
    /// The steps of the selection chain, in the order they are tried (see docs/selection.md).
    public enum Step: String, Sendable, CaseIterable {
        /// `BTFKIT_BTF=/path` named a BTF file.
        case override = "override"
        /// `BTFKIT_ENTRY=distro/version/arch/release` named a pack entry.
        case namedEntry = "named-entry"
        /// The kernel has `/sys/kernel/btf/vmlinux`: libbpf uses it, nothing is chosen.
        case kernelBTF = "kernel-btf"
        /// os-release `ID`, `VERSION_ID`, `uname -m` and `uname -r` name an entry exactly.
        case exact = "exact"
        /// The release (for this arch) is in the pack once, or only with identical BTF.
        case uniqueRelease = "unique-release"
        /// The release is in the pack several times; its pattern (`.el8`, `-aws` ...) and
        /// os-release (`ID`, `ID_LIKE`, `VERSION_ID`, `UBUNTU_CODENAME`) pick one.
        case releasePattern = "release-pattern"
        /// `BTFKIT_ALLOW_NEAREST=1`: the release is not packed; the nearest release of the same
        /// distribution version is used (its layout may differ).
        case nearestRelease = "nearest-release"

        /// The number the C ABI reports for this step (`BTFKIT_STEP_*` in btfkit.h).
        public var cValue: Int32 {
            switch self {
            case .override: 1
            case .kernelBTF: 2
            case .exact: 3
            case .uniqueRelease: 4
            case .releasePattern: 5
            case .nearestRelease: 6
            case .namedEntry: 7
            }
        }
    }

    /// The step that decided.
    public var step: Step
    /// The pack entry chosen; `nil` for `override` and `kernelBTF`.
    public var entry: KernelIdentity?
    /// The file chosen: the `BTFKIT_BTF` path, or the kernel's BTF; `nil` for a pack entry.
    public var path: String?
    /// The pack the entry comes from, named for messages; `nil` when no pack was read.
    public var pack: String?
    /// Why, in one line.
    public var reason: String
    /// What the user should know about the choice (a distribution mismatch, a nearest release).
    public var warnings: [String]
    /// Every step of the decision, one line each, in order (what `-v` and `which` print).
    public var trail: [String]
    /// The size of the chosen entry's BTF in bytes, when a pack entry was chosen.
    public var btfSize: Int?

    /// A selection made by `step`.
    public init(step: Step, entry: KernelIdentity? = nil, path: String? = nil, pack: String? = nil,
                reason: String, warnings: [String] = [], trail: [String] = []) {
        self.step = step
        self.entry = entry
        self.path = path
        self.pack = pack
        self.reason = reason
        self.warnings = warnings
        self.trail = trail
    }

    /// What was chosen: the entry, the file, or the kernel's own BTF.
    public var chosen: String {
        if let entry { return entry.description }
        if let path { return path }
        return step.rawValue
    }

    /// The trail, the decision and the warnings as lines for a terminal.
    public var explanation: [String] {
        trail + ["chosen: \(chosen)\(btfSize.map { " (\($0) bytes)" } ?? "") [\(step.rawValue)]: \(reason)"]
            + warnings.map { "warning: \($0)" }
    }
}

/// The selection chain over the entries of a pack (no I/O): exact match, unique release,
/// release pattern with os-release, and, only when allowed, the nearest release. See
/// docs/selection.md for the rules and why nearest-release guessing is never automatic.
public enum BTFSelector {
    /// `BTFKIT_ALLOW_NEAREST=1`: when the release is not packed, use the nearest packed release.
    public static let allowNearestVariable = "BTFKIT_ALLOW_NEAREST"
    /// `BTFKIT_ENTRY=distro/version/arch/release`: use this pack entry, whatever the machine says.
    public static let entryVariable = "BTFKIT_ENTRY"

    /// The entry of `pack` for `machine`. Throws `.ambiguousKernel` when the release is packed
    /// several times with different BTF and nothing decides, `.noMatchingKernel` when it is not
    /// packed (unless `allowNearest`); both errors list the candidates, the overrides, and carry
    /// the trail in `explanation`.
    public static func select(for machine: MachineIdentity, in pack: BTFPack, allowNearest: Bool = false) throws(BTFRuntimeError) -> BTFSelection {
        try select(for: machine, among: pack.entries, source: pack.source, allowNearest: allowNearest)
    }

    /// The chain over any set of kernels, e.g. a btfhub tree's: `entries` maps each kernel to a
    /// content key, equal keys meaning byte-identical BTF (give every kernel its own key when
    /// that is unknown); `source` names the set in messages, and `container` is how the trail
    /// and warnings refer to it ("1 exact: X: in the pack", "in the tree").
    public static func select(for machine: MachineIdentity, among entries: [KernelIdentity: Int], source: String,
                              container: String = "the pack", allowNearest: Bool = false) throws(BTFRuntimeError) -> BTFSelection {
        var trail: [String] = []
        func chosen(_ step: Step, _ entry: KernelIdentity, _ reason: String, _ warnings: [String] = []) -> BTFSelection {
            BTFSelection(step: step, entry: entry, pack: source, reason: reason, warnings: warnings, trail: trail)
        }
        typealias Step = BTFSelection.Step
        let arch = machine.arch, release = machine.release

        // 1. Exact.
        if let exact = machine.exactIdentity {
            if entries[exact] != nil {
                trail.append("1 exact: \(exact): in \(container)")
                return chosen(.exact, exact, "os-release and uname name this entry exactly")
            }
            trail.append("1 exact: \(exact): not in \(container)")
        } else {
            trail.append("1 exact: skipped: os-release gives no \(machine.id == nil ? "ID" : "VERSION_ID")")
        }

        // 2. The release alone.
        let sameRelease = entries.keys.filter { $0.release == release && $0.arch == arch }.sorted()
        if sameRelease.count == 1 {
            let entry = sameRelease[0]
            trail.append("2 unique release: \(release) (\(arch)) is in \(container) once: \(entry)")
            return chosen(.uniqueRelease, entry, "the only entry with release \(release) for \(arch)",
                          mismatchWarning(entry, machine, container: container).map { [$0] } ?? [])
        }
        if sameRelease.count > 1 {
            let contents = Set(sameRelease.compactMap { entries[$0] })
            if contents.count == 1 {
                // Same bytes under every name: whichever is taken, libbpf relocates the same way.
                let entry = preferredAmongIdentical(sameRelease, machine)
                trail.append("2 unique release: \(release) (\(arch)) is under \(sameRelease.count) entries with identical BTF: "
                             + list(sameRelease))
                return chosen(.uniqueRelease, entry, "\(sameRelease.count) entries with release \(release) hold identical BTF",
                              mismatchWarning(entry, machine, container: container).map { [$0] } ?? [])
            }
            trail.append("2 unique release: \(release) (\(arch)) is under \(sameRelease.count) entries with different BTF: " + list(sameRelease))

            // 3. The release's pattern, then os-release, decide the collision.
            var candidates = sameRelease
            var patternText = "no pattern recognised in \(release)"
            if let pattern = ReleasePattern.recognize(release) {
                let admitted = candidates.filter(pattern.admits)
                if admitted.isEmpty {
                    trail.append("3 release pattern: \(pattern): fits none of them")
                } else {
                    candidates = admitted
                    patternText = "release pattern \(pattern)"
                    trail.append("3 release pattern: \(pattern): " + list(admitted))
                }
                if admitted.count == 1 {
                    return chosen(.releasePattern, admitted[0], "\(patternText) fits only this entry",
                                  mismatchWarning(admitted[0], machine, container: container).map { [$0] } ?? [])
                }
            } else {
                trail.append("3 release pattern: none recognised in \(release)")
            }
            if let (entry, why) = decideByOSRelease(candidates, machine) {
                trail.append("3 os-release: \(why): \(entry)")
                return chosen(.releasePattern, entry, "\(patternText); \(why)")
            }
            trail.append("3 os-release: \(machine.osReleaseSource == nil ? "none read" : describe(machine)): decides nothing")
            throw error(.ambiguousKernel, errnoCode: ENOTUNIQ, trail: trail,
                        "\(source): kernel release \(release) (\(arch)) is packed under \(candidates.count) entries with different BTF: "
                        + list(candidates) + "; nothing tells which one this machine is (\(machine.osReleaseSource == nil ? "no os-release" : "os-release \(describe(machine))")). "
                        + overrideAdvice(example: candidates[candidates.count - 1], machine: machine))
        }

        // Not packed at all.
        let otherArchs = Set(entries.keys.filter { $0.release == release }.map(\.arch)).sorted()
        trail.append("2 unique release: no entry has release \(release) for \(arch)"
                     + (otherArchs.isEmpty ? "" : " (it is packed for \(otherArchs.joined(separator: ", ")) only)"))
        trail.append("3 release pattern: nothing to choose among")
        let family = nearestFamily(machine, entries.keys)
        // Only builds of the same flavour are near: an -aws kernel's config is not -generic's.
        let flavour = flavourWords(release)
        let sameFlavour = entries.keys.filter { flavourWords($0.release) == flavour }
        let familyMember = family.map { KernelIdentity(distro: $0.distro, version: $0.version, arch: arch, release: release) }
        let nearest = familyMember.map { BTFPack.nearestEntries(to: $0, among: sameFlavour) } ?? []
        let closest = familyMember.map { BTFPack.nearestEntries(to: $0, among: entries.keys) } ?? []  // for the message
        if allowNearest, let entry = nearest.first {
            trail.append("4 nearest release (\(allowNearestVariable)=1): \(entry)")
            return chosen(.nearestRelease, entry, "\(allowNearestVariable)=1 and \(entry.release) is the nearest packed release to \(release) in \(entry.distro)/\(entry.version)",
                          ["\(release) is not in \(container); using \(entry.release) because \(allowNearestVariable)=1: a neighbouring build's type layouts may differ, "
                           + "so CO-RE relocations may be wrong"])
        }
        let flavourText = flavour.isEmpty ? "" : " -\(flavour.joined(separator: "-"))"
        trail.append("4 nearest release: " + (allowNearest ? "no\(flavourText) kernel of \(family.map { "\($0.distro)/\($0.version)/\(arch)" } ?? "one distribution version") in \(container)"
                                                           : "not tried (set \(allowNearestVariable)=1 to allow it)"))
        var message = "\(source): no BTF for kernel "
            + (machine.exactIdentity.map { "\($0)" } ?? "release \(release) (\(arch))")
            + " among its \(entries.count) kernels (\(machine.osReleaseSource == nil ? "no os-release" : "os-release \(describe(machine))"))"
        if !closest.isEmpty {
            message += "; closest entries: " + list(closest)
        } else {
            let families = Set(entries.keys.map { "\($0.distro)/\($0.version)/\($0.arch)" }).sorted()
            if !families.isEmpty {
                message += "; it holds " + families.prefix(8).joined(separator: ", ") + (families.count > 8 ? ", ..." : "")
            }
        }
        message += "; no distribution's entry has release \(release)" + (otherArchs.isEmpty ? "" : " for \(arch) (only for \(otherArchs.joined(separator: ", ")))")
        if !nearest.isEmpty && !allowNearest {
            message += "; \(allowNearestVariable)=1 would use \(nearest[0]) (a neighbouring build: its layouts may differ)"
        } else if allowNearest {
            message += family == nil
                ? "; \(allowNearestVariable)=1 is set, but no one distribution version of \(container) is this kernel's "
                    + "(neither os-release nor the release's pattern names one), so no release is near"
                : "; \(allowNearestVariable)=1 is set, but \(family.map { "\($0.distro)/\($0.version)/\(arch)" } ?? "") has no\(flavourText) kernel"
        }
        message += "; give a BTF file for this kernel with BTFKIT_BTF=/path/to/vmlinux.btf"
        throw error(.noMatchingKernel, errnoCode: ENOENT, trail: trail, message)
    }

    /// The entry `BTFKIT_ENTRY` names, which must be in the pack.
    public static func select(named entry: KernelIdentity, in pack: BTFPack) throws(BTFRuntimeError) -> BTFSelection {
        let trail = ["\(entryVariable)=\(entry)"]
        guard pack.entries[entry] != nil else {
            throw error(.noMatchingKernel, errnoCode: ENOENT, trail: trail,
                        "\(entryVariable)=\(entry): \(pack.missingEntryError(for: entry).description)")
        }
        return BTFSelection(step: .namedEntry, entry: entry, pack: pack.source, reason: "named by \(entryVariable)", trail: trail)
    }

    // MARK: - Helpers

    /// A warning when `entry` is not the machine's distribution and version (RHEL's `8.4` is `8`).
    static func mismatchWarning(_ entry: KernelIdentity, _ machine: MachineIdentity, container: String = "the pack") -> String? {
        if let id = machine.id, id == entry.distro, let version = machine.versionID, ReleasePattern.version(entry.version, matches: version) {
            return nil
        }
        let said = machine.osReleaseSource == nil ? "no os-release was read" : "os-release says \(describe(machine))"
        return "the distribution did not match: \(said), but \(container) files kernel \(entry.release) under \(entry.distro)/\(entry.version); "
            + "using it because the release is the same"
            + (readUnderHostRoot(machine) ? "" : " (in a container, \(RunningKernel.hostRootVariable)=/host reads the host's os-release)")
    }

    /// Among entries with identical BTF: the machine's own distribution and version if present,
    /// else its distribution, else the first.
    static func preferredAmongIdentical(_ entries: [KernelIdentity], _ machine: MachineIdentity) -> KernelIdentity {
        let sameDistro = entries.filter { $0.distro == machine.id }
        if let version = machine.versionID, let exact = sameDistro.first(where: { ReleasePattern.version($0.version, matches: version) }) {
            return exact
        }
        return sameDistro.first ?? entries[0]
    }

    /// The one candidate os-release points at, and why: the distribution by `ID`, else the first
    /// `ID_LIKE` word that names one; then the version by `VERSION_ID` (major number for RHEL's
    /// `8.4`) or Ubuntu codename. `VERSION_ID` counts only for the distribution it belongs to
    /// (or when there is no `ID`): Alpine's `3.18` says nothing about Ubuntu's directories.
    static func decideByOSRelease(_ candidates: [KernelIdentity], _ machine: MachineIdentity) -> (KernelIdentity, String)? {
        var narrowed = candidates
        var why: [String] = []
        var versionApplies = machine.id == nil
        if let id = machine.id {
            let like = machine.osRelease?.fields["ID_LIKE"].map { $0.split(separator: " ").map(String.init) } ?? []
            for (index, name) in ([id] + like).enumerated() {
                let matching = candidates.filter { $0.distro == name }
                if !matching.isEmpty {
                    narrowed = matching
                    why.append(index == 0 ? "os-release ID=\(id)" : "os-release ID_LIKE names \(name)")
                    versionApplies = true
                    break
                }
            }
        }
        if narrowed.count == 1, !why.isEmpty { return (narrowed[0], why.joined(separator: ", ") + " picks it") }
        guard versionApplies else { return nil }
        var versions: [(String, String)] = []
        if let version = machine.versionID { versions.append((version, "VERSION_ID=\(version)")) }
        let fields = machine.osRelease?.fields ?? [:]
        if let codename = fields["UBUNTU_CODENAME"] ?? (machine.id == "ubuntu" ? fields["VERSION_CODENAME"] : nil),
           let version = ReleasePattern.ubuntuCodenames[codename] {
            versions.append((version, "UBUNTU_CODENAME=\(codename) (\(version))"))
        }
        for (version, text) in versions {
            let matching = narrowed.filter { ReleasePattern.version($0.version, matches: version) }
            if matching.count == 1 { return (matching[0], (why + ["os-release \(text)"]).joined(separator: ", ") + " picks it") }
        }
        return nil
    }

    /// The distribution and version whose releases are near the machine's: its own when the pack
    /// has that family for this arch; else the one family the release pattern (and os-release `ID`)
    /// leaves; else none, so that no release of another distribution is ever called near.
    static func nearestFamily(_ machine: MachineIdentity, _ kernels: some Sequence<KernelIdentity>) -> (distro: String, version: String)? {
        let families = Set(kernels.filter { $0.arch == machine.arch }.map { "\($0.distro)/\($0.version)" })
        if let id = machine.id, let version = machine.versionID, families.contains("\(id)/\(version)") { return (id, version) }
        guard let pattern = ReleasePattern.recognize(machine.release) else { return nil }
        var fitting = families.filter { family in
            let parts = family.split(separator: "/", maxSplits: 1).map(String.init)
            return pattern.admits(KernelIdentity(distro: parts[0], version: parts[1], arch: machine.arch, release: machine.release))
        }
        if fitting.count > 1, let id = machine.id {
            let own = fitting.filter { $0.hasPrefix(id + "/") }
            if !own.isEmpty { fitting = own }
            if fitting.count > 1, let version = machine.versionID {
                fitting = fitting.filter { ReleasePattern.version(String($0.split(separator: "/")[1]), matches: version) }
            }
        }
        guard fitting.count == 1, let family = fitting.first else { return nil }
        let parts = family.split(separator: "/", maxSplits: 1).map(String.init)
        return (parts[0], parts[1])
    }

    /// A release's flavour: its dash-separated words from the first that starts with a letter
    /// (`generic` in `5.4.0-26-generic`, `cloud amd64` in `4.19.0-17-cloud-amd64`; none in
    /// `4.18.0-305.el8.x86_64`).
    static func flavourWords(_ release: String) -> [Substring] {
        let words = release.split(separator: "-")
        guard let first = words.firstIndex(where: { $0.first?.isLetter == true }) else { return [] }
        return Array(words[first...])
    }

    /// What to set when the automatic choice fails.
    static func overrideAdvice(example: KernelIdentity, machine: MachineIdentity) -> String {
        var advice = "Choose one with \(entryVariable)=\(example)"
        if !readUnderHostRoot(machine) {
            advice += ", or, in a container, let the runtime read the host's os-release with \(RunningKernel.hostRootVariable)=/host "
                + "(the host's / mounted there) or \(RunningKernel.osReleaseFileVariable)=FILE"
        }
        return advice + ", or give a BTF file with BTFKIT_BTF=/path/to/vmlinux.btf"
    }

    /// Whether os-release was read under a host root already (so suggesting one is pointless).
    static func readUnderHostRoot(_ machine: MachineIdentity) -> Bool {
        machine.osReleaseSource?.contains("(host root ") == true
    }

    static func describe(_ machine: MachineIdentity) -> String {
        "ID=\(machine.id ?? "(none)") VERSION_ID=\(machine.versionID ?? "(none)")" + (machine.osReleaseSource.map { " from \($0)" } ?? "")
    }

    static func list(_ entries: [KernelIdentity]) -> String { entries.map(\.description).joined(separator: ", ") }

    static func error(_ kind: BTFRuntimeError.Kind, errnoCode: Int32, trail: [String], _ message: String) -> BTFRuntimeError {
        var error = BTFRuntimeError(kind, message, errnoCode: errnoCode)
        error.explanation = trail + ["no choice: \(message)"]
        return error
    }
}
