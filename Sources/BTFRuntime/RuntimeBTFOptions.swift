import Archive
import Glibc

/// How `RuntimeBTF.ensure` (and `RuntimeBTF.which`) decide; the defaults are those of a real run.
/// Each setting that has an environment variable is also read from it when left unset here;
/// a value set here wins over the environment.
public struct RuntimeBTFOptions: Sendable {
    /// Where the pack is; by default the running executable's own `.btfkit.pack` section.
    public var pack: PackSource = .embedded
    /// The kernel's own BTF; when this file exists nothing else is done.
    public var kernelBTFPath = "/sys/kernel/btf/vmlinux"
    /// The os-release files to read `ID` and `VERSION_ID` from, first readable one wins.
    public var osReleasePaths = RunningKernel.osReleasePaths
    /// A directory holding the host's root (a container's bind mount of `/`): os-release is read
    /// as `hostRoot` + each of `osReleasePaths`. `nil`: `BTFKIT_HOST_ROOT`, else `/`.
    /// `uname` still gives the release and machine: in a container they are the host's.
    public var hostRoot: String?
    /// The os-release file to read, instead of `osReleasePaths`. `nil`: `BTFKIT_OS_RELEASE`.
    public var osReleaseFile: String?
    /// Use the nearest packed release of the machine's distribution version when its own release
    /// is not packed (a warning says so). `false`: `BTFKIT_ALLOW_NEAREST=1` can still allow it.
    public var allowNearest = false
    /// Use this pack entry, whatever the machine says. `nil`: `BTFKIT_ENTRY=distro/version/arch/release`.
    public var entry: KernelIdentity?
    /// The kernel to look for instead of the running one (tests, tools).
    public var identity: KernelIdentity?
    /// os-release `ID` to use instead of the file's (`btf-pack which --id`); empty means unknown.
    public var osReleaseID: String?
    /// os-release `VERSION_ID` to use instead of the file's (`btf-pack which --version-id`); empty means unknown.
    public var osReleaseVersionID: String?
    /// `false`: go to the pack even when the kernel has its own BTF, as `BTFKIT_FORCE_EMBEDDED=1`
    /// does (`btf-pack which` shows the pack's choice on a machine with BTF).
    public var useKernelBTF = true
    /// `uname -m` and `uname -r` to use instead of the kernel's answers (tests, `btf-pack which
    /// --arch/--release`); os-release is still read.
    public var uname: (machine: String, release: String)?
    /// A possibly partial machine identity to look for instead of the running one (`btf-pack which`
    /// with some of `--id`, `--version-id`); `identity`, when set, wins.
    public var machine: MachineIdentity?
    /// Overrides the process environment for every `BTFKIT_*` variable (tests).
    public var environment: [String: String]?
    /// Use a temporary file even where memfd works (tests of the fallback).
    public var forceTemporaryFile = false
    /// The BPF object the BTF is for. When set, and the pack records what its kernels were trimmed
    /// for, every CO-RE relocation of the object must be among those: otherwise the pack is stale
    /// and refused (`stalePack`), unless `BTFKIT_ALLOW_STALE=1` (then a warning says so).
    public var object: BPFObjectSource?

    /// The defaults of a real run.
    public init() {}

    /// `BTFKIT_BTF`: the path of a BTF file to use instead of anything else.
    public static let btfOverrideVariable = "BTFKIT_BTF"
    /// `BTFKIT_FORCE_EMBEDDED=1`: use the pack even when the kernel has its own BTF.
    public static let forceEmbeddedVariable = "BTFKIT_FORCE_EMBEDDED"

    /// The variable's value from `environment` when given, else from the process environment.
    public func environmentValue(_ name: String) -> String? {
        if let environment { return environment[name] }
        return getenv(name).map { String(cString: $0) }
    }

    /// Whether the variable is set to something other than empty or `0`.
    public func environmentFlag(_ name: String) -> Bool {
        environmentValue(name).map { !$0.isEmpty && $0 != "0" } ?? false
    }

    /// A non-empty environment value.
    public func nonEmptyEnvironmentValue(_ name: String) -> String? {
        environmentValue(name).flatMap { $0.isEmpty ? nil : $0 }
    }
}

extension RuntimeBTFOptions {
    /// The machine to select for: `identity` or `machine` when given, else uname and os-release
    /// (under `hostRoot` / `BTFKIT_HOST_ROOT`, or `osReleaseFile` / `BTFKIT_OS_RELEASE`), with
    /// `osReleaseID` / `osReleaseVersionID` replacing what the file says. Each source read is
    /// added to `trail`.
    public func machineIdentity(trail: inout [String]) throws(BTFRuntimeError) -> MachineIdentity {
        var machine: MachineIdentity
        if let identity {
            machine = MachineIdentity(identity)
            trail.append("identity given: \(identity)")
        } else if let given = self.machine {
            machine = given
            trail.append("identity given: \(given)")
        } else {
            machine = try RunningKernel.machineIdentity(
                osReleasePaths: osReleasePaths,
                hostRoot: hostRoot ?? nonEmptyEnvironmentValue(RunningKernel.hostRootVariable),
                osReleaseFile: osReleaseFile ?? nonEmptyEnvironmentValue(RunningKernel.osReleaseFileVariable),
                machine: uname?.machine, release: uname?.release, notes: &trail)
            trail.append("\(uname == nil ? "uname" : "uname (given)"): machine \(machine.machine) (btfhub arch \(machine.arch)), release \(machine.release)")
            if osReleaseID != nil || osReleaseVersionID != nil {
                // The file's ID_LIKE and codenames describe another system than the one given.
                machine.osRelease = nil
                let given = [osReleaseID.map { _ in "ID" }, osReleaseVersionID.map { _ in "VERSION_ID" }].compactMap { $0 }
                machine.osReleaseSource = given.count == 2 || machine.osReleaseSource == nil ? "the caller"
                    : "\(machine.osReleaseSource ?? ""), \(given[0]) from the caller"
            }
            if let id = osReleaseID {
                machine.id = id.isEmpty ? nil : id
                trail.append("ID given: \(machine.id ?? "(unknown)")")
            }
            if let versionID = osReleaseVersionID {
                machine.versionID = versionID.isEmpty ? nil : versionID
                trail.append("VERSION_ID given: \(machine.versionID ?? "(unknown)")")
            }
        }
        return machine
    }

    /// Whether nearest-release selection is allowed (`allowNearest` or `BTFKIT_ALLOW_NEAREST=1`).
    public var allowsNearest: Bool {
        allowNearest || environmentFlag(BTFSelector.allowNearestVariable)
    }
}
