// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "BTFKit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "BTF", targets: ["BTF"]),
        .executable(name: "btf-dump", targets: ["btf-dump"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Pure-Swift BTF model: reader, writer, ELF and .BTF.ext parsing, text dump. No C dependency.
        .target(name: "BTF"),

        // Debian's C libraries, reached through system-library targets.
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev", "libelf-dev"])]),
        .systemLibrary(name: "CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        .executableTarget(name: "btf-dump", dependencies: [
            "BTF", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "BTFTests", dependencies: ["BTF"]),
    ]
)
