import Archive
import BTF
import BTFRuntime
import Foundation
@testable import TestSupport
import Testing

/// The selection chain (docs/selection.md) against packs laid out like real btfhub deployments:
/// containers, Ubuntu releases under two versions, CentOS kernels filed under Oracle Linux,
/// arm64, missing VERSION_ID, kernels the pack lacks. Every case names the entry and the step.
@Suite("Selection: finding the right BTF in real deployments")
struct SelectionTests {
    /// What a case expects: an entry chosen by a step (with or without a warning), or an error.
    enum Expected {
        case chosen(String, BTFSelection.Step, warns: Bool)
        case failure(BTFRuntimeError.Kind, mentions: [String])
    }

    struct Case: CustomStringConvertible {
        var name: String
        /// `distro/version/arch/release=tag`: entries with the same tag hold identical BTF.
        var pack: [String]
        var machine: MachineIdentity
        var allowNearest = false
        var expected: Expected
        var description: String { name }
    }

    static let awsRelease = "5.4.0-1029-aws"
    static let el8Release = "4.18.0-305.el8.x86_64"
    /// The Ubuntu collision: the same release under 18.04 (HWE) and 20.04, different BTF.
    static let ubuntuCollision = ["ubuntu/18.04/x86_64/\(awsRelease)=aws18", "ubuntu/20.04/x86_64/\(awsRelease)=aws20",
                                  "ubuntu/20.04/x86_64/5.4.0-26-generic=g26", "ubuntu/20.04/x86_64/5.4.0-100-generic=g100"]

    static func machine(_ id: String?, _ version: String?, _ machine: String = "x86_64", release: String,
                        osRelease text: String? = nil) -> MachineIdentity {
        let parsed = text.map { OSRelease(parsing: $0) }
        return MachineIdentity(id: id, versionID: version, machine: machine, release: release, osRelease: parsed,
                               osReleaseSource: id == nil && version == nil && text == nil ? nil : "test")
    }

    static let cases: [Case] = [
        // Exact hits.
        Case(name: "exact: ubuntu 20.04 aws kernel", pack: ubuntuCollision,
             machine: machine("ubuntu", "20.04", release: awsRelease),
             expected: .chosen("ubuntu/20.04/x86_64/\(awsRelease)", .exact, warns: false)),
        Case(name: "exact: ubuntu 18.04 (HWE) picks its own directory in the collision", pack: ubuntuCollision,
             machine: machine("ubuntu", "18.04", release: awsRelease),
             expected: .chosen("ubuntu/18.04/x86_64/\(awsRelease)", .exact, warns: false)),

        // A container's os-release (Alpine) on an Ubuntu host.
        Case(name: "container os-release, unique release: used, with a warning", pack: ubuntuCollision,
             machine: machine("alpine", "3.18", release: "5.4.0-26-generic"),
             expected: .chosen("ubuntu/20.04/x86_64/5.4.0-26-generic", .uniqueRelease, warns: true)),
        Case(name: "container os-release, colliding release: an error naming both entries and the overrides", pack: ubuntuCollision,
             machine: machine("alpine", "3.18", release: awsRelease),
             expected: .failure(.ambiguousKernel, mentions: ["ubuntu/18.04/x86_64/\(awsRelease)", "ubuntu/20.04/x86_64/\(awsRelease)",
                                                              "BTFKIT_ENTRY=", "BTFKIT_HOST_ROOT=/host", "BTFKIT_BTF="])),
        Case(name: "colliding release with identical BTF: either is right", pack: ["ubuntu/18.04/x86_64/\(awsRelease)=same",
                                                                                 "ubuntu/20.04/x86_64/\(awsRelease)=same"],
             machine: machine("alpine", "3.18", release: awsRelease),
             expected: .chosen("ubuntu/18.04/x86_64/\(awsRelease)", .uniqueRelease, warns: true)),
        Case(name: "Ubuntu derivative: UBUNTU_CODENAME=focal picks 20.04", pack: ubuntuCollision,
             machine: machine("linuxmint", "20.3", release: awsRelease,
                              osRelease: "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=\"20.3\"\nUBUNTU_CODENAME=focal\n"),
             expected: .chosen("ubuntu/20.04/x86_64/\(awsRelease)", .releasePattern, warns: false)),
        Case(name: "ubuntu without VERSION_ID in the collision: an error", pack: ubuntuCollision,
             machine: machine("ubuntu", nil, release: awsRelease),
             expected: .failure(.ambiguousKernel, mentions: ["ubuntu/18.04/x86_64/\(awsRelease)", "ubuntu/20.04/x86_64/\(awsRelease)"])),
        Case(name: "no os-release, VERSION_ID alone given (no ID): the version directory decides", pack: ubuntuCollision,
             machine: machine(nil, "18.04", release: awsRelease),
             expected: .chosen("ubuntu/18.04/x86_64/\(awsRelease)", .releasePattern, warns: false)),

        // CentOS kernels and Oracle Linux entries.
        Case(name: "el8 release under ol/8 only: used for CentOS, with a warning",
             pack: ["ol/8/x86_64/\(el8Release)=ol", "centos/8/x86_64/4.18.0-240.el8.x86_64=c240"],
             machine: machine("centos", "8", release: el8Release),
             expected: .chosen("ol/8/x86_64/\(el8Release)", .uniqueRelease, warns: true)),
        Case(name: "el8 release under centos/8 and ol/8: CentOS gets its own",
             pack: ["ol/8/x86_64/\(el8Release)=ol", "centos/8/x86_64/\(el8Release)=centos"],
             machine: machine("centos", "8", release: el8Release),
             expected: .chosen("centos/8/x86_64/\(el8Release)", .exact, warns: false)),
        Case(name: "el8 release under centos/8 and ol/8: Rocky 8.4 follows ID_LIKE to centos",
             pack: ["ol/8/x86_64/\(el8Release)=ol", "centos/8/x86_64/\(el8Release)=centos"],
             machine: machine("rocky", "8.4", release: el8Release, osRelease: "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"8.4\"\n"),
             expected: .chosen("centos/8/x86_64/\(el8Release)", .releasePattern, warns: false)),
        Case(name: "el8 release under rhel/8 and ol/8: RHEL's VERSION_ID=8.4 is directory 8",
             pack: ["ol/8/x86_64/\(el8Release)=ol", "rhel/8/x86_64/\(el8Release)=rhel"],
             machine: machine("rhel", "8.4", release: el8Release),
             expected: .chosen("rhel/8/x86_64/\(el8Release)", .releasePattern, warns: false)),
        Case(name: "el8 release under centos/8 and ol/8, container os-release: an error",
             pack: ["ol/8/x86_64/\(el8Release)=ol", "centos/8/x86_64/\(el8Release)=centos"],
             machine: machine("alpine", "3.18", release: el8Release),
             expected: .failure(.ambiguousKernel, mentions: ["centos/8/x86_64/\(el8Release)", "ol/8/x86_64/\(el8Release)"])),
        Case(name: "the release pattern (.el8) rules out a mislabelled entry",
             pack: ["centos/8/x86_64/\(el8Release)=centos", "fedora/34/x86_64/\(el8Release)=fedora"],
             machine: machine("alpine", "3.18", release: el8Release),
             expected: .chosen("centos/8/x86_64/\(el8Release)", .releasePattern, warns: true)),
        Case(name: "el8uek is Oracle's own kernel",
             pack: ["ol/8/x86_64/5.4.17-2102.201.3.el8uek.x86_64=uek", "centos/8/x86_64/5.4.17-2102.201.3.el8uek.x86_64=odd"],
             machine: machine(nil, nil, release: "5.4.17-2102.201.3.el8uek.x86_64"),
             expected: .chosen("ol/8/x86_64/5.4.17-2102.201.3.el8uek.x86_64", .releasePattern, warns: true)),

        // Architectures.
        Case(name: "aarch64 is btfhub's arm64",
             pack: ["ubuntu/20.04/arm64/5.4.0-26-generic=arm", "ubuntu/20.04/x86_64/5.4.0-26-generic=x86"],
             machine: machine("ubuntu", "20.04", "aarch64", release: "5.4.0-26-generic"),
             expected: .chosen("ubuntu/20.04/arm64/5.4.0-26-generic", .exact, warns: false)),
        Case(name: "aarch64 with a container os-release: the arm64 entry, never the x86_64 one",
             pack: ["ubuntu/20.04/arm64/5.4.0-26-generic=arm", "ubuntu/20.04/x86_64/5.4.0-26-generic=x86"],
             machine: machine("alpine", "3.18", "aarch64", release: "5.4.0-26-generic"),
             expected: .chosen("ubuntu/20.04/arm64/5.4.0-26-generic", .uniqueRelease, warns: true)),
        Case(name: "a release packed for x86_64 only, on aarch64: an error saying so",
             pack: ["ubuntu/20.04/x86_64/5.4.0-26-generic=x86"],
             machine: machine("ubuntu", "20.04", "aarch64", release: "5.4.0-26-generic"),
             expected: .failure(.noMatchingKernel, mentions: ["only for x86_64"])),

        // Missing VERSION_ID.
        Case(name: "Debian without VERSION_ID (sid): the release alone finds it, with a warning",
             pack: ["debian/10/x86_64/4.19.0-17-amd64=d17", "debian/10/x86_64/4.19.0-18-amd64=d18"],
             machine: machine("debian", nil, release: "4.19.0-17-amd64"),
             expected: .chosen("debian/10/x86_64/4.19.0-17-amd64", .uniqueRelease, warns: true)),

        // A kernel the pack lacks; nearest only when allowed.
        Case(name: "absent kernel: an error naming the closest entries and BTFKIT_ALLOW_NEAREST", pack: ubuntuCollision,
             machine: machine("ubuntu", "20.04", release: "5.4.0-99-generic"),
             expected: .failure(.noMatchingKernel, mentions: ["no BTF for kernel ubuntu/20.04/x86_64/5.4.0-99-generic", "closest entries",
                                                              "BTFKIT_ALLOW_NEAREST=1 would use ubuntu/20.04/x86_64/5.4.0-100-generic", "BTFKIT_BTF="])),
        Case(name: "absent kernel, nearest allowed: the nearest release, with a warning", pack: ubuntuCollision,
             machine: machine("ubuntu", "20.04", release: "5.4.0-99-generic"), allowNearest: true,
             expected: .chosen("ubuntu/20.04/x86_64/5.4.0-100-generic", .nearestRelease, warns: true)),
        Case(name: "absent kernel, nearest allowed, container os-release: the release pattern's only family",
             pack: ["ubuntu/20.04/x86_64/5.4.0-26-generic=g26", "ubuntu/20.04/x86_64/5.4.0-100-generic=g100", "debian/10/x86_64/4.19.0-17-amd64=d"],
             machine: machine("alpine", "3.18", release: "5.4.0-99-generic"), allowNearest: true,
             expected: .chosen("ubuntu/20.04/x86_64/5.4.0-100-generic", .nearestRelease, warns: true)),
        Case(name: "absent kernel, nearest allowed, but two Ubuntu versions could be meant: an error", pack: ubuntuCollision,
             machine: machine("alpine", "3.18", release: "5.4.0-99-generic"), allowNearest: true,
             expected: .failure(.noMatchingKernel, mentions: ["no BTF for kernel alpine/3.18/x86_64/5.4.0-99-generic",
                                                              "BTFKIT_ALLOW_NEAREST=1"])),
        Case(name: "absent aws kernel, nearest allowed: the nearest aws build, not a closer-numbered generic one",
             pack: ubuntuCollision + ["ubuntu/20.04/x86_64/5.4.0-1031-generic=g1031"],
             machine: machine("ubuntu", "20.04", release: "5.4.0-1030-aws"), allowNearest: true,
             expected: .chosen("ubuntu/20.04/x86_64/\(awsRelease)", .nearestRelease, warns: true)),
        Case(name: "absent lowlatency kernel, nearest allowed, only generic builds: an error", pack: ubuntuCollision,
             machine: machine("ubuntu", "20.04", release: "5.4.0-100-lowlatency"), allowNearest: true,
             expected: .failure(.noMatchingKernel, mentions: ["ubuntu/20.04/x86_64 has no -lowlatency kernel"])),
        Case(name: "nearest never resolves a collision", pack: ubuntuCollision,
             machine: machine("alpine", "3.18", release: awsRelease), allowNearest: true,
             expected: .failure(.ambiguousKernel, mentions: [awsRelease])),
        Case(name: "absent kernel, unknown distribution and no pattern: nothing is near", pack: ubuntuCollision,
             machine: machine(nil, nil, release: "6.6.1-custom"), allowNearest: true,
             expected: .failure(.noMatchingKernel, mentions: ["6.6.1-custom"])),
    ]

    @Test("the chain on a table of machines and packs", arguments: cases)
    func table(_ testCase: Case) throws {
        let pack = try Self.pack(testCase.pack)
        let outcome: Result<BTFSelection, BTFRuntimeError>
        do throws(BTFRuntimeError) {
            outcome = .success(try BTFSelector.select(for: testCase.machine, in: pack, allowNearest: testCase.allowNearest))
        } catch {
            outcome = .failure(error)
        }
        switch (outcome, testCase.expected) {
        case (.success(let selection), .chosen(let entry, let step, let warns)):
            let trail = selection.explanation.joined(separator: "\n")
            #expect(selection.entry?.description == entry, "\(trail)")
            #expect(selection.step == step, "\(trail)")
            #expect(selection.warnings.isEmpty == !warns, "warnings: \(selection.warnings)")
            // The explanation names the step that decided, and the BTF is the entry's own.
            #expect(selection.explanation.contains { $0.contains("[\(step.rawValue)]") })
            #expect(pack.btf(for: try #require(selection.entry)) == Self.btf(tag: Self.tag(of: entry, in: testCase.pack)))
        case (.success(let selection), .failure):
            Issue.record("chose \(selection.chosen) [\(selection.step)], expected an error:\n\(selection.explanation.joined(separator: "\n"))")
        case (.failure(let error), .chosen):
            Issue.record("failed: \(error.message)\n\(error.explanation.joined(separator: "\n"))")
        case (.failure(let error), .failure(let kind, let mentions)):
            #expect(error.kind == kind, "\(error.message)")
            #expect(error.errnoCode == (kind == .ambiguousKernel ? ENOTUNIQ : ENOENT))
            for text in mentions {
                #expect(error.message.contains(text), "\(text) missing from: \(error.message)")
            }
            #expect(error.explanation.last?.hasPrefix("no choice: ") == true)
        }
    }

    @Test("release patterns: .el8, .el7, .el8uek, .amzn2, .fc34, .deb10, Debian and Ubuntu flavours, SUSE")
    func releasePatterns() {
        let expectations: [(String, [String]?, String?)] = [
            ("4.18.0-147.0.3.el8_1.x86_64", ReleasePattern.enterpriseLinuxForTests, "8"),
            ("3.10.0-1160.el7.x86_64", ReleasePattern.enterpriseLinuxForTests, "7"),
            ("5.4.17-2102.201.3.el8uek.x86_64", ["ol"], "8"),
            ("4.14.225-168.357.amzn2.x86_64", ["amzn"], "2"),
            ("4.14.77-70.59.amzn1.x86_64", ["amzn"], "2018"),
            ("5.11.12-300.fc34.x86_64", ["fedora"], "34"),
            ("5.10.0-0.deb10.16-amd64", ["debian"], "10"),
            ("4.19.0-17-cloud-amd64", ["debian"], nil),
            ("6.1.0-13-rt-arm64", ["debian"], nil),
            ("5.4.0-1029-aws", ["ubuntu"], nil),
            ("5.15.0-1004-intel-iotg", ["ubuntu"], nil),
            ("5.3.18-57-default", ["sles", "opensuse-leap", "opensuse"], nil),
            ("6.18.44-custom", nil, nil),
        ]
        for (release, distros, version) in expectations {
            let pattern = ReleasePattern.recognize(release)
            #expect(pattern?.distros == distros, "\(release): \(String(describing: pattern))")
            #expect(pattern?.version == version, "\(release): \(String(describing: pattern))")
        }
    }

    // MARK: - Through RuntimeBTF: host root, os-release file, environment

    /// A fake root with an os-release, the layout a container sees with the host's / mounted.
    static func root(etc: String?, usrLib: String? = nil) throws -> String {
        let root = PackFixtures.temporaryPath("root")
        for (path, text) in [("etc/os-release", etc), ("usr/lib/os-release", usrLib)] {
            guard let text else { continue }
            try FileManager.default.createDirectory(atPath: root + "/" + (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root + "/" + path, atomically: true, encoding: .utf8)
        }
        return root
    }

    static func options(pack: [String], release: String, machine: String = "x86_64") throws -> RuntimeBTFOptions {
        var options = RuntimeBTFOptions()
        options.pack = .bytes(try PackWriter.pack(pack.map(Self.input)).bytes, description: "test pack")
        options.kernelBTFPath = "/nonexistent/vmlinux"
        options.uname = (machine, release)
        options.environment = [:]
        return options
    }

    @Test("container: its own os-release gives a warning or an error; the host root, BTFKIT_HOST_ROOT and BTFKIT_OS_RELEASE give the exact entry")
    func hostRoot() throws {
        let container = try Self.root(etc: "ID=alpine\nVERSION_ID=3.18.4\n")
        let host = try Self.root(etc: "NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"20.04\"\n")
        let hostWithUsrLibOnly = try Self.root(etc: nil, usrLib: "ID=ubuntu\nVERSION_ID=\"18.04\"\n")

        // Without the host root: the container's os-release.
        var options = try Self.options(pack: Self.ubuntuCollision, release: Self.awsRelease)
        options.osReleasePaths = [container + "/etc/os-release", container + "/usr/lib/os-release"]
        let ambiguous = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.which(options) }
        #expect(ambiguous?.kind == .ambiguousKernel)
        #expect(ambiguous?.message.contains("ID=alpine VERSION_ID=3.18.4 from \(container)/etc/os-release") == true, "\(ambiguous?.message ?? "")")
        #expect(ambiguous?.explanation.contains("os-release: \(container)/etc/os-release: ID=alpine VERSION_ID=3.18.4") == true)
        options.uname = ("x86_64", "5.4.0-26-generic")
        let unique = try RuntimeBTF.which(options)
        #expect(unique.step == .uniqueRelease && unique.entry?.description == "ubuntu/20.04/x86_64/5.4.0-26-generic")
        #expect(unique.warnings.first?.contains("the distribution did not match") == true)

        // The host root, as an option (btf-run --host-root) and from the environment.
        options = try Self.options(pack: Self.ubuntuCollision, release: Self.awsRelease)
        options.hostRoot = host
        let viaOption = try RuntimeBTF.which(options)
        #expect(viaOption.step == .exact && viaOption.entry?.description == "ubuntu/20.04/x86_64/\(Self.awsRelease)")
        #expect(viaOption.trail.contains("os-release: \(host)/etc/os-release (host root \(host)): ID=ubuntu VERSION_ID=20.04"), "\(viaOption.trail)")
        #expect(viaOption.warnings.isEmpty)

        options.hostRoot = nil
        options.environment = ["BTFKIT_HOST_ROOT": hostWithUsrLibOnly + "/"]
        let viaEnvironment = try RuntimeBTF.which(options)
        #expect(viaEnvironment.step == .exact && viaEnvironment.entry?.description == "ubuntu/18.04/x86_64/\(Self.awsRelease)",
                "usr/lib/os-release under the host root is the fallback: \(viaEnvironment.trail)")
        // The option wins over the environment.
        options.hostRoot = host
        #expect(try RuntimeBTF.which(options).entry?.version == "20.04")

        options = try Self.options(pack: Self.ubuntuCollision, release: Self.awsRelease)
        options.environment = ["BTFKIT_OS_RELEASE": hostWithUsrLibOnly + "/usr/lib/os-release", "BTFKIT_HOST_ROOT": host]
        let viaFile = try RuntimeBTF.which(options)
        #expect(viaFile.entry?.version == "18.04", "BTFKIT_OS_RELEASE names the file, before the host root")

        // The host's /etc/os-release an absolute link to /usr/lib/os-release (as on some hosts):
        // followed inside the host root, not to this machine's own /usr/lib/os-release.
        let linkedHost = try Self.root(etc: nil, usrLib: "ID=ubuntu\nVERSION_ID=18.04\n")
        try FileManager.default.createDirectory(atPath: linkedHost + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: linkedHost + "/etc/os-release", withDestinationPath: "/usr/lib/os-release")
        options = try Self.options(pack: Self.ubuntuCollision, release: Self.awsRelease)
        options.hostRoot = linkedHost
        let linked = try RuntimeBTF.which(options)
        #expect(linked.entry?.version == "18.04", "\(linked.trail)")
        #expect(linked.trail.contains("os-release: \(linkedHost)/usr/lib/os-release (host root \(linkedHost)): ID=ubuntu VERSION_ID=18.04"), "\(linked.trail)")
        // A relative link climbing past the root stays inside it.
        try FileManager.default.removeItem(atPath: linkedHost + "/etc/os-release")
        try FileManager.default.createSymbolicLink(atPath: linkedHost + "/etc/os-release", withDestinationPath: "../../../../usr/lib/os-release")
        #expect(try RuntimeBTF.which(options).entry?.version == "18.04")

        // A host root without any os-release: the release alone, and a trail that says why.
        options = try Self.options(pack: Self.ubuntuCollision, release: "5.4.0-26-generic")
        options.hostRoot = PackFixtures.temporaryPath("empty-root")
        let bare = try RuntimeBTF.which(options)
        #expect(bare.step == .uniqueRelease)
        #expect(bare.trail.contains { $0.contains("none readable") })
        #expect(bare.warnings.first?.contains("no os-release was read") == true)
    }

    @Test("ensure exposes the chosen entry; BTFKIT_ENTRY, BTFKIT_ALLOW_NEAREST and BTFKIT_BTF from the environment")
    func ensureAndEnvironment() throws {
        let host = try Self.root(etc: "ID=ubuntu\nVERSION_ID=20.04\n")
        var options = try Self.options(pack: Self.ubuntuCollision, release: "5.4.0-99-generic")
        options.hostRoot = host
        #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }

        options.environment = ["BTFKIT_ALLOW_NEAREST": "1"]
        let nearest = try RuntimeBTF.ensure(options)
        #expect(nearest.choice == .packed(KernelIdentity(distro: "ubuntu", version: "20.04", arch: "x86_64", release: "5.4.0-100-generic"), pack: "test pack"))
        #expect(nearest.selection.step == .nearestRelease)
        #expect(try FileIO.read(try #require(nearest.customPath)) == Self.btf(tag: "g100"))
        nearest.release()
        options.environment = ["BTFKIT_ALLOW_NEAREST": "0"]
        #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }

        // BTFKIT_ENTRY picks an entry whatever the machine says, even when the kernel has BTF.
        options.kernelBTFPath = "/"
        options.environment = ["BTFKIT_ENTRY": "ubuntu/18.04/aarch64/\(Self.awsRelease)"]
        let missingNamed = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(missingNamed?.message.contains("BTFKIT_ENTRY=ubuntu/18.04/arm64/\(Self.awsRelease)") == true, "aarch64 is spelled arm64")
        options.environment = ["BTFKIT_ENTRY": "ubuntu/18.04/x86_64/\(Self.awsRelease)"]
        let named = try RuntimeBTF.ensure(options)
        #expect(named.selection.step == .namedEntry)
        #expect(try FileIO.read(try #require(named.customPath)) == Self.btf(tag: "aws18"))
        named.release()
        options.environment = ["BTFKIT_ENTRY": "ubuntu/18.04"]
        let malformed = #expect(throws: BTFRuntimeError.self) { try RuntimeBTF.ensure(options) }
        #expect(malformed?.kind == .badOverride)

        // The kernel's BTF, then BTFKIT_BTF, are steps too.
        options.environment = [:]
        let kernel = try RuntimeBTF.which(options)
        #expect(kernel.step == .kernelBTF && kernel.entry == nil && kernel.path == "/")
        options.environment = ["BTFKIT_BTF": "/", "BTFKIT_ENTRY": "ubuntu/18.04/x86_64/\(Self.awsRelease)"]
        let override = try RuntimeBTF.which(options)
        #expect(override.step == .override && override.path == "/")
    }

    @Test("btf-pack which: the trail on stdout, the chosen entry, status 1 and the error on a collision; executables with an embedded pack")
    func whichCommand() throws {
        let tool = try PackFixtures.product("btf-pack")
        let packPath = PackFixtures.temporaryPath("which.tar.xz")
        try FileIO.writeAtomically(try PackWriter.pack(Self.ubuntuCollision.map(Self.input)).bytes, to: packPath)
        let hit = try PackFixtures.runWithEnvironment(tool, ["which", packPath, "--id", "ubuntu", "--version-id", "18.04",
                                                              "--arch", "x86_64", "--release", Self.awsRelease], [:])
        #expect(hit.status == 0, "\(hit.stderr)")
        #expect(hit.stdout.contains("1 exact: ubuntu/18.04/x86_64/\(Self.awsRelease): in the pack"), "\(hit.stdout)")
        #expect(hit.stdout.contains("chosen: ubuntu/18.04/x86_64/\(Self.awsRelease) (\(Self.btf(tag: "aws18").count) bytes) [exact]"), "\(hit.stdout)")

        let collision = try PackFixtures.runWithEnvironment(tool, ["which", packPath, "--id", "alpine", "--version-id", "3.18",
                                                                    "--release", Self.awsRelease], [:])
        #expect(collision.status == 1)
        #expect(collision.stdout.contains("3 release pattern: Ubuntu flavour -aws → ubuntu"), "\(collision.stdout)")
        #expect(collision.stderr.contains("is packed under 2 entries with different BTF"), "\(collision.stderr)")

        let nearest = try PackFixtures.runWithEnvironment(tool, ["which", packPath, "--id", "ubuntu", "--version-id", "20.04",
                                                                  "--release", "5.4.0-99-generic", "--allow-nearest"], [:])
        #expect(nearest.status == 0 && nearest.stdout.contains("[nearest-release]") && nearest.stdout.contains("warning: "), "\(nearest.stdout)")

        // An executable carrying the pack: the section is read.
        let binary = PackFixtures.temporaryPath("which-embedded")
        let embed = try TestSupport.run(tool, ["embed", packPath, "--into", tool, "-o", binary])
        #expect(embed.status == 0, "\(embed.stderr)")
        let embedded = try PackFixtures.runWithEnvironment(tool, ["which", binary, "--id", "ubuntu", "--version-id", "20.04",
                                                                   "--arch", "aarch64", "--release", "5.4.0-26-generic"], [:])
        #expect(embedded.status == 1)
        #expect(embedded.stdout.contains("pack: section .btfkit.pack of \(binary)"), "\(embedded.stdout)")
        #expect(embedded.stderr.contains("only for x86_64"), "\(embedded.stderr)")
    }

    @Test("C ABI: btfkit_last_step/entry/explanation report the step; warnings on stderr; -ENOTUNIQ for a collision")
    func cABI() throws {
        let source = #"""
        #include <bpf/libbpf.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include "btfkit.h"

        /* argv[1]: a pack file. Prints the step, the entry and the explanation. */
        int main(int argc, char **argv) {
            FILE *f = fopen(argv[1], "rb");
            if (!f) return 9;
            static unsigned char pack[1 << 20];
            size_t size = fread(pack, 1, sizeof pack, f);
            fclose(f);
            LIBBPF_OPTS(bpf_object_open_opts, opts);
            int err = btfkit_ensure_core_btf_from_pack(&opts, pack, size);
            printf("err=%d step=%d entry=%s\n", err, btfkit_last_step(), btfkit_last_entry());
            printf("%s\n", btfkit_last_explanation());
            btfkit_clean_core_btf(&opts);
            return 0;
        }
        """#
        let sourcePath = PackFixtures.temporaryPath("which.c")
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let library = try PackFixtures.product("libbtfkit.so")
        let libraryDirectory = (library as NSString).deletingLastPathComponent
        let program = PackFixtures.temporaryPath("which-c")
        let build = try TestSupport.run("cc", [sourcePath, "-I", TestSupport.packageRoot + "/Sources/CBTFKit/include",
                                               "-L", libraryDirectory, "-lbtfkit", "-lbpf", "-Wl,-rpath," + libraryDirectory, "-o", program])
        try #require(build.status == 0, "cc failed: \(build.stderr)")

        // The running kernel's release, packed under a distribution this machine is not.
        let (machine, release) = try RunningKernel.uname()
        let arch = KernelIdentity.btfhubArch(forMachine: machine)
        let packPath = PackFixtures.temporaryPath("c-abi.tar.xz")
        try FileIO.writeAtomically(try PackWriter.pack(["fakedistro/1/\(arch)/\(release)=one"].map(Self.input)).bytes, to: packPath)
        let stranger = try Self.root(etc: "ID=otherdistro\nVERSION_ID=7\n")
        let unique = try PackFixtures.runWithEnvironment(program, [packPath], ["BTFKIT_FORCE_EMBEDDED": "1", "BTFKIT_HOST_ROOT": stranger])
        #expect(unique.stdout.contains("err=0 step=4 entry=fakedistro/1/\(arch)/\(release)"), "\(unique.stdout) \(unique.stderr)")
        #expect(unique.stdout.contains("2 unique release: \(release) (\(arch)) is in the pack once"), "\(unique.stdout)")
        #expect(unique.stderr.contains("btfkit: warning: the distribution did not match"), "\(unique.stderr)")

        let own = try Self.root(etc: "ID=fakedistro\nVERSION_ID=1\n")
        let exact = try PackFixtures.runWithEnvironment(program, [packPath], ["BTFKIT_FORCE_EMBEDDED": "1", "BTFKIT_OS_RELEASE": own + "/etc/os-release"])
        #expect(exact.stdout.contains("err=0 step=3 entry=fakedistro/1/\(arch)/\(release)"), "\(exact.stdout) \(exact.stderr)")
        #expect(exact.stderr.isEmpty, "\(exact.stderr)")

        try FileIO.writeAtomically(try PackWriter.pack(["fakedistro/1/\(arch)/\(release)=one", "fakedistro/2/\(arch)/\(release)=two"]
            .map(Self.input)).bytes, to: packPath)
        let collision = try PackFixtures.runWithEnvironment(program, [packPath], ["BTFKIT_FORCE_EMBEDDED": "1", "BTFKIT_HOST_ROOT": stranger])
        #expect(collision.stdout.contains("err=-\(ENOTUNIQ) step=0 entry=\n"), "\(collision.stdout)")
        #expect(collision.stdout.contains("no choice: "), "\(collision.stdout)")

        let kernelBTF = try PackFixtures.runWithEnvironment(program, [packPath], [:])
        if access("/sys/kernel/btf/vmlinux", R_OK) == 0 {
            #expect(kernelBTF.stdout.contains("err=0 step=2 entry=\n"), "\(kernelBTF.stdout)")
        }
    }

    // MARK: - Helpers

    /// A pack of `entries` (`distro/version/arch/release=tag`), read back as the runtime reads it.
    static func pack(_ entries: [String]) throws -> BTFPack {
        try BTFPack(bytes: try PackWriter.pack(entries.map(input)).bytes, source: "test pack")
    }

    static func input(_ entry: String) -> PackInput {
        let (path, tag) = split(entry)
        let parts = path.split(separator: "/").map(String.init)
        return PackInput(identity: KernelIdentity(distro: parts[0], version: parts[1], arch: parts[2], release: parts[3]), btf: btf(tag: tag))
    }

    static func split(_ entry: String) -> (path: String, tag: String) {
        let halves = entry.split(separator: "=", maxSplits: 1).map(String.init)
        return (halves[0], halves[1])
    }

    static func tag(of entry: String, in pack: [String]) -> String {
        pack.map(split).first { $0.path == entry }?.tag ?? ""
    }

    /// A real, tiny BTF whose one type is named `tag`: distinct tags give distinct files.
    static func btf(tag: String) -> [UInt8] {
        var builder = BTFBuilder()
        let intEncoding: UInt32 = 1 << 24 | 32  // BTF_INT_SIGNED, 32 bits
        builder.add(TypeRecord(kind: .int, name: builder.addString("int_\(tag)"), sizeOrType: 4, extra: [intEncoding]))
        return builder.build().serialized()
    }
}

extension ReleasePattern {
    /// The distributions `.elN` stands for, as the tests expect them.
    static let enterpriseLinuxForTests = ["centos", "rhel", "ol", "rocky", "almalinux"]
}
