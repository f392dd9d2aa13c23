// swift-tools-version: 6.0
import Foundation
import PackageDescription

// Release builds on x86-64 target Haswell (AVX2, FMA, F16C): without it FMA and Float16
// conversions become library calls (see DEVELOPERS.md). The `mixmerge` executable checks the
// CPU at start-up (CPUFeatures) and refuses to run on a CPU that lacks these instructions.
// `MIXMERGE_PORTABLE=1 swift build` builds for baseline x86-64 instead (slower, runs anywhere).
let portable = ProcessInfo.processInfo.environment["MIXMERGE_PORTABLE"] != nil
#if arch(x86_64)
let cpuFlags: [SwiftSetting] = portable ? [] : [.unsafeFlags(["-target-cpu", "haswell"])]
let cpuDefines: [CSetting] = portable ? [] : [.define("MIXMERGE_REQUIRE_X86_HASWELL")]
#else
let cpuFlags: [SwiftSetting] = []
let cpuDefines: [CSetting] = []
#endif
// The numeric targets are optimised in debug builds too: the test suite trains and runs models,
// which unoptimised code does 20–50× slower (it would not fit CI's budget).
let numeric: [SwiftSetting] = cpuFlags + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "mixmerge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mixmerge", targets: ["mixmerge"]),
        .executable(name: "mixmerge-bench", targets: ["mixmerge-bench"]),
        .library(name: "Merging", targets: ["Merging"]),
        .library(name: "Mixing", targets: ["Mixing"]),
        .library(name: "Judging", targets: ["Judging"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "Parquet", targets: ["Parquet"]),
        .library(name: "Jinja", targets: ["Jinja"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Inference", targets: ["Inference"]),
        .library(name: "Serving", targets: ["Serving"]),
        .library(name: "Study", targets: ["Study"]),
        .executable(name: "mixmerge-fake-endpoint", targets: ["mixmerge-fake-endpoint"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Layer 0: start-up check that the CPU has what the binary was compiled for.
        .target(name: "CPUFeatures", cSettings: cpuDefines),
        // Layer 1: dtypes, exact rounding, element kernels, parallel-for.
        .target(name: "Tensors", swiftSettings: numeric),
        // Layer 2: safetensors (mmap read, streaming sharded write), Hugging Face model folders.
        .target(name: "Checkpoints", dependencies: ["Tensors"], swiftSettings: cpuFlags),
        // Layer 2: Jinja templates rendered as transformers renders chat templates (Foundation only).
        .target(name: "Jinja", swiftSettings: cpuFlags),
        // Layer 2: Hugging Face tokenizer.json (BPE) and model folders' tokenizer files, chat templates and
        // special tokens (PromptFormat: conversations → prompt ids, assistant-token masks).
        .target(name: "Tokenizers", dependencies: ["Jinja"], swiftSettings: cpuFlags),
        // Layer 2: Parquet files (mmap, Thrift metadata, every encoding; zlib and zstd from Debian's -dev packages).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        .target(name: "Parquet", dependencies: ["CZlib", "CZstd"], swiftSettings: cpuFlags),
        // Layer 2: data files (JSONL, JSON, CSV, Parquet; folders, globs, hub splits) → records; languages and harm categories.
        .target(
            name: "Datasets",
            dependencies: ["Checkpoints", "Parquet", .product(name: "CSV", package: "CSV.swift")],
            swiftSettings: cpuFlags),
        // Layer 3: the decoder architectures (one file each) over memory-mapped safetensors; KV cache,
        // prefill as GEMM and decode as GEMV (kernels in Tensors).
        .target(name: "Models", dependencies: ["Tensors", "Checkpoints"], swiftSettings: numeric),
        // Layer 3: sampling (transformers' processors), continuous batching, a local model = weights + tokenizer + template.
        .target(
            name: "Inference", dependencies: ["Models", "Tokenizers", "Jinja", "Tensors", "Checkpoints"],
            swiftSettings: numeric),
        // Layer 3: the OpenAI-compatible HTTP server (SwiftNIO) over Inference.
        .target(
            name: "Serving",
            dependencies: [
                "Inference", "Checkpoints", "Jinja",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: cpuFlags),
        // Layer 3: training pieces: data records → examples and batches, AdamW, schedules, SFT/DPO losses.
        .target(name: "Training", dependencies: ["Models", "Tensors", "Checkpoints", "Tokenizers", "Jinja", .product(name: "Yams", package: "Yams")], swiftSettings: numeric),
        // Layer 3: mixture YAML → pool → draws → SFT/DPO JSONL + manifest.
        .target(
            name: "Mixing",
            dependencies: [
                "Datasets", "Checkpoints", "Tensors", .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: cpuFlags),
        // Layer 3: judge templates, verdict parsing, statistics, reports (no I/O, no heavy packages).
        .target(name: "Judging", dependencies: ["Tensors"], swiftSettings: cpuFlags),
        // Layer 3: the run store (SQLite via GRDB), the OpenAI-compatible client (AsyncHTTPClient),
        // generation and judging runs. The only targets with GRDB and AsyncHTTPClient.
        .target(
            name: "Evaluation",
            dependencies: [
                "Judging", "Datasets", "Tensors",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: cpuFlags),
        // Layer 4: a scripted OpenAI-compatible server on loopback for tests and the benchmark.
        .executableTarget(
            name: "mixmerge-fake-endpoint",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        // Layer 3: mergekit YAML -> plan -> per-tensor tasks -> method kernels -> writer.
        .target(
            name: "Merging",
            dependencies: ["Tensors", "Checkpoints", .product(name: "Yams", package: "Yams")],
            swiftSettings: cpuFlags),
        // Layer 4: the study runner: a study file → a checked dependency graph of steps (mix, train, merge,
        // generate, judge, select, report), each cached by a hash of its inputs; composes the capabilities.
        .target(
            name: "Study",
            dependencies: [
                "Mixing", "Merging", "Training", "Evaluation", "Judging", "Serving", "Datasets",
                .product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: cpuFlags),
        // Layer 4: thin command-line front ends.
        .executableTarget(
            name: "mixmerge",
            dependencies: [
                "Merging", "Mixing", "Datasets", "Judging", "Evaluation", "Checkpoints", "CPUFeatures", "Tokenizers", "Jinja",
                "Models", "Inference", "Serving", "Training", "Tensors", "Study",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: cpuFlags),
        .executableTarget(
            name: "mixmerge-bench",
            dependencies: ["Merging", "Mixing", "Datasets", "Checkpoints", "Tensors", "CPUFeatures", "Tokenizers", "Models", "Training"],
            swiftSettings: cpuFlags),
        // Tests' scratch folders, removed when the test process exits.
        .target(name: "TestScratch", path: "Tests/TestScratch"),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"], swiftSettings: cpuFlags),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "TestScratch"], swiftSettings: cpuFlags),
        .testTarget(name: "JinjaTests", dependencies: ["Jinja"], swiftSettings: cpuFlags),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "TestScratch"], swiftSettings: cpuFlags),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Tensors", "Checkpoints", "Tokenizers", "Jinja", "TestScratch"], swiftSettings: cpuFlags),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Tensors", "Checkpoints", "TestScratch"], swiftSettings: cpuFlags),
        .testTarget(
            name: "InferenceTests", dependencies: ["Inference", "Serving", "Models", "Tokenizers", "Tensors", "Checkpoints"],
            swiftSettings: cpuFlags),
        .testTarget(name: "ParquetTests", dependencies: ["Parquet", "TestScratch"], swiftSettings: cpuFlags),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "TestScratch"], swiftSettings: cpuFlags),
        .testTarget(name: "MixingTests", dependencies: ["Mixing", "Datasets", "TestScratch"], swiftSettings: cpuFlags),
        .testTarget(name: "JudgingTests", dependencies: ["Judging"], swiftSettings: cpuFlags),
        .testTarget(name: "MergingTests", dependencies: ["Merging", "Checkpoints", "TestScratch"], swiftSettings: cpuFlags),
        // Runs the built `mixmerge` binary: exit codes, one-line errors, no half-written output.
        .testTarget(
            name: "CLITests", dependencies: ["mixmerge", "mixmerge-fake-endpoint", "Checkpoints", "Evaluation", "Judging", "Jinja", "TestScratch"],
            swiftSettings: cpuFlags),
    ]
)
