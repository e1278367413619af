// swift-tools-version: 6.0
import PackageDescription

// Layers (../shared/ARCHITECTURE.md), arrows pointing down:
//   seqlens (executable) → SeqLensServer → SeqLensAttribution → SeqLensModels
//   SeqLensModels → SeqLensCheckpoints, SeqLensTokenizers, SeqLensTensor
//   SeqLensCheckpoints, SeqLensTokenizers → SeqLensFiles (opening untrusted paths safely)
// Checkpoints and tokenizers are their own modules so that each builds and tests alone.
let release: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "SeqLens",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "seqlens", targets: ["seqlens"]),
        .library(name: "SeqLensModels", targets: ["SeqLensModels"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CJansson", pkgConfig: "jansson"),
        .target(name: "CAllocator"),
        .target(name: "CPackedKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "SeqLensTensor", dependencies: ["CBLAS", "CAllocator", "CPackedKernels"]),
        .target(name: "SeqLensFiles"),
        .target(name: "SeqLensCheckpoints", dependencies: ["SeqLensFiles"]),
        // Debian's libsentencepiece (C++) behind a C shim: HF's slow tokenizers run the same library.
        .target(name: "CSentencePiece", linkerSettings: [.linkedLibrary("sentencepiece")]),
        .target(name: "SeqLensTokenizers", dependencies: ["SeqLensFiles", "CSentencePiece"]),
        .target(
            name: "SeqLensModels",
            dependencies: ["SeqLensTensor", "SeqLensCheckpoints", "SeqLensTokenizers", "SeqLensFiles"]),
        .target(name: "SeqLensAttribution", dependencies: ["SeqLensModels", "SeqLensFiles"]),
        .target(name: "SeqLensServer", dependencies: ["SeqLensAttribution", "CJansson"]),
        .executableTarget(
            name: "seqlens",
            dependencies: [
                "SeqLensServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "seqlens-bench", dependencies: ["SeqLensAttribution"]),
        // Fuzz targets (scripts/fuzz); a libFuzzer build with -sanitize=fuzzer -D SEQLENS_LIBFUZZER.
        .executableTarget(
            name: "seqlens-fuzz",
            dependencies: ["SeqLensServer", "SeqLensAttribution", "SeqLensModels", "SeqLensCheckpoints", "SeqLensTokenizers"]),
        .testTarget(name: "SeqLensTensorTests", dependencies: ["SeqLensTensor"]),
        .testTarget(name: "SeqLensCheckpointsTests", dependencies: ["SeqLensCheckpoints"]),
        .testTarget(name: "SeqLensTokenizersTests", dependencies: ["SeqLensTokenizers", "SeqLensCheckpoints"]),
        .target(name: "SeqLensTestSupport", path: "Tests/SeqLensTestSupport"),
        .testTarget(name: "SeqLensModelsTests", dependencies: ["SeqLensModels", "SeqLensTestSupport"]),
        .testTarget(name: "SeqLensAttributionTests", dependencies: ["SeqLensAttribution", "SeqLensTestSupport"]),
        .testTarget(name: "SeqLensServerTests", dependencies: ["SeqLensServer"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
