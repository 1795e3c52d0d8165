// swift-tools-version:6.0
import PackageDescription

let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "BTFKit",
    products: [
        .library(name: "BTF", targets: ["BTF"]),
        .library(name: "CORE", targets: ["CORE"]),
        .library(name: "Archive", targets: ["Archive"]),
        .library(name: "Trim", targets: ["Trim"]),
        .executable(name: "btf-dump", targets: ["btf-dump"]),
        .executable(name: "btf-trim", targets: ["btf-trim"]),
        .executable(name: "btfkit-bench", targets: ["btfkit-bench"]),
        .library(name: "BTFRuntime", targets: ["BTFRuntime"]),
        // libbtfkit.so: the C ABI (include/btfkit.h) for C programs built with libbpf; see docs/c-api.md.
        .library(name: "btfkit", type: .dynamic, targets: ["CBTFKit"]),
        .executable(name: "btf-pack", targets: ["btf-pack"]),
        // btf-run: loads a BPF object, attaches its programs, prints its events; `btf-pack runner` embeds it.
        .executable(name: "btf-run", targets: ["btf-run"]),
        .library(name: "BPFLoader", targets: ["BPFLoader"]),
        .library(name: "DWARF", targets: ["DWARF"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Pure-Swift BTF model: reader, writer, ELF and .BTF.ext parsing, text dump. No C dependency.
        .target(name: "BTF"),
        // DWARF type reader: .debug_info types turned into BTF (for types clang left out of .BTF). No C dependency.
        .target(name: "DWARF", dependencies: ["BTF"]),
        // CO-RE relocation engine: libbpf's rules, BTF in, decisions out. No I/O.
        .target(name: "CORE", dependencies: ["BTF", "CLinuxShims"]),
        // btfhub layout, xz/tar streaming (tar in Swift over liblzma and zlib: no libarchive, so the
        // static runner carries no archive library it does not use).
        .target(name: "Archive", dependencies: ["BTF", "CLZMA", "CZlib", "CNettle", "CXXHash"]),
        // Minimizer and the btfhub sweep.
        .target(name: "Trim", dependencies: ["BTF", "CORE", "Archive"]),
        // Runtime selection of the running kernel's BTF from an embedded pack; memfd. No libbpf:
        // what sets libbpf's options lives with the libbpf glue (BPFLoader, CBTFKit).
        .target(name: "BTFRuntime", dependencies: ["BTF", "CORE", "Archive", "CLinuxShims"]),
        // The C ABI over BTFRuntime (@_cdecl); its header lives in include/, for C compilers only.
        .target(name: "CBTFKit", dependencies: ["BTF", "BTFRuntime", "CLibBPF"], exclude: ["include"]),
        // libbpf glue for btf-run: open, load, attach, ring/perf buffers, events decoded from the object's BTF.
        .target(name: "BPFLoader", dependencies: ["BTF", "DWARF", "Archive", "BTFRuntime", "CLibBPF", "CLinuxShims"]),
        // What the command-line front ends share: standard output and error, signal handling.
        .target(name: "CommandSupport", dependencies: ["BTF"]),

        // Debian's C libraries, reached through system-library targets.
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev", "libelf-dev"])]),
        .systemLibrary(name: "CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        // Linux calls Swift's Glibc does not import (memfd_create), as static inline C wrappers.
        .systemLibrary(name: "CLinuxShims"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // SHA-256 for the kernel cache's content keys (GNU Nettle).
        .systemLibrary(name: "CNettle", pkgConfig: "nettle", providers: [.apt(["nettle-dev"])]),
        // XXH3 for the kernel cache's entry checksums: header-only, nothing linked.
        .systemLibrary(name: "CXXHash", providers: [.apt(["libxxhash-dev"])]),

        .executableTarget(name: "btf-dump", dependencies: ["BTF", "CommandSupport", argumentParser]),
        .executableTarget(name: "btf-trim", dependencies: ["BTF", "CORE", "Archive", "Trim", "CommandSupport", "CLinuxShims", argumentParser]),
        .executableTarget(name: "btf-pack", dependencies: ["BTF", "Archive", "BTFRuntime", "Trim", "BPFLoader", "CommandSupport", argumentParser]),
        // Linked fully static (Swift runtime, libbpf, libelf, liblzma, zlib, glibc), stripped in release,
        // by a plain `swift build`: `btf-pack runner` copies it into one file that needs nothing on the
        // target machine (docs/worked-example.md). The static libraries come with the -dev packages.
        .executableTarget(name: "btf-run", dependencies: ["BTF", "Archive", "BTFRuntime", "BPFLoader", "CommandSupport", argumentParser],
                          linkerSettings: [.unsafeFlags(["-static-executable"]),
                                           // swift-argument-parser's FoundationEssentials needs these when linked
                                           // static; the dependency is compiled for the shared runtime, which
                                           // records them as its own dependencies instead.
                                           .linkedLibrary("_FoundationCollections"), .linkedLibrary("_FoundationCShims"),
                                           .unsafeFlags(["-Xlinker", "-s"], .when(configuration: .release))]),
        // Benchmarks print figures beside the reference tools; they are not tests.
        .executableTarget(name: "btfkit-bench", dependencies: ["BTF", "Trim", "Archive", argumentParser]),

        // Test targets, one per module (docs/architecture.md, Tests). What several of them use (the
        // requirement traits, paths to the fixtures and the built tools, helpers that build or run
        // the reference programs) is in TestSupport, a plain target that imports Testing.
        .target(name: "TestSupport", dependencies: ["BTF", "CORE", "Archive", "BTFRuntime"], path: "Tests/TestSupport"),
        // Support/reloc_count.c is a libbpf helper the tests compile and run themselves, not part of the target.
        .testTarget(name: "BTFTests", dependencies: ["BTF", "Trim", "TestSupport"], exclude: ["Support/reloc_count.c"]),
        .testTarget(name: "DWARFTests", dependencies: ["BTF", "DWARF", "BPFLoader", "TestSupport"]),
        .testTarget(name: "CORETests", dependencies: ["BTF", "CORE", "TestSupport"]),
        .testTarget(name: "ArchiveTests", dependencies: ["BTF", "Archive", "TestSupport"]),
        .testTarget(name: "TrimTests", dependencies: ["BTF", "CORE", "Archive", "Trim", "TestSupport"]),
        .testTarget(name: "BTFRuntimeTests", dependencies: ["BTF", "CORE", "Archive", "BTFRuntime", "BPFLoader", "CLibBPF", "TestSupport"]),
        .testTarget(name: "BPFLoaderTests", dependencies: ["BTF", "Archive", "BPFLoader", "CLibBPF", "TestSupport"]),
        // Tests that drive the built tools (btf-trim, btf-pack, btf-run, runners), and hostile input
        // replayed through every reader. Fixtures/fuzz-crashes is their data, not part of the target.
        .testTarget(name: "EndToEndTests", dependencies: ["BTF", "CORE", "Archive", "Trim", "BTFRuntime", "DWARF", "TestSupport"],
                    exclude: ["Fixtures"]),
    ]
)
