import Foundation
import Testing

@testable import SeqLensCheckpoints

/// The real default model, against slices gguf-py dequantized (smollm2.expected.json).
/// Skipped, with a message, when scripts/fetch-models.sh has not fetched the file.
@Suite(
    "SmolLM2-135M-Instruct Q4_1 GGUF",
    .enabled(
        if: FileManager.default.fileExists(atPath: Fixtures.smolLM2Path),
        "model file missing: \(Fixtures.smolLM2Path); run scripts/fetch-models.sh"))
struct SmolLM2Tests {
    let file: GGUFFile
    let expected: [String: Any]

    init() throws {
        file = try GGUFFile(path: Fixtures.smolLM2Path)
        expected = try Fixtures.json("smollm2.expected.json")
    }

    @Test func header() throws {
        let metadata = try #require(expected["metadata"] as? [String: Any])
        #expect(file.version == UInt32(try #require(expected["version"] as? Int)))
        #expect(file.tensorNames.count == (try #require(expected["tensor_count"] as? Int)))
        #expect(file.alignment == (try #require(expected["alignment"] as? Int)))
        #expect(file.dataOffset == (try #require(expected["data_offset"] as? Int)))
        #expect(file.metadata["general.architecture"]?.string == (try #require(metadata["general.architecture"] as? String)))
        #expect(file.metadata["llama.block_count"]?.int == (try #require(metadata["llama.block_count"] as? Int)))
        #expect(file.metadata["llama.embedding_length"]?.int == (try #require(metadata["llama.embedding_length"] as? Int)))
        #expect(
            file.metadata["llama.attention.head_count_kv"]?.int
                == (try #require(metadata["llama.attention.head_count_kv"] as? Int)))
        #expect(file.metadata["llama.rope.freq_base"]?.double == (try #require(metadata["llama.rope.freq_base"] as? Double)))
        let tokens = try #require(file.metadata["tokenizer.ggml.tokens"]?.strings)
        #expect(tokens.count == (try #require(metadata["tokenizer.ggml.tokens.count"] as? Int)))
        #expect(Array(tokens.prefix(8)) == (try #require(metadata["tokenizer.ggml.tokens.first"] as? [String])))
        #expect(file.metadata["tokenizer.ggml.merges"]?.strings?.count == (try #require(metadata["tokenizer.ggml.merges.count"] as? Int)))
    }

    @Test("tensor slices equal gguf-py's dequantization bit for bit")
    func tensorSlices() throws {
        let tensors = try #require(expected["tensors"] as? [[String: Any]])
        #expect(tensors.count >= 3)
        for tensor in tensors {
            let name = try #require(tensor["name"] as? String)
            let info = try #require(file.info(name))
            #expect(info.shape == (try #require(tensor["shape"] as? [Int])), "\(name) shape")
            #expect(info.dtype.description == (try #require(tensor["type"] as? String)))
            let values = try file.floats(name)
            #expect(values.count == info.elementCount)
            for slice in try #require(tensor["slices"] as? [[String: Any]]) {
                let start = try #require(slice["start"] as? Int)
                let want = try #require(slice["values"] as? [Double]).map(Float.init)
                expectBitIdentical(Array(values[start..<start + want.count]), want, "\(name)[\(start)...]")
            }
            let sum = values.reduce(0.0) { $0 + Double($1) }
            let wantSum = try #require(tensor["sum"] as? Double)
            #expect(abs(sum - wantSum) <= 1e-6 * max(1, abs(wantSum)), "\(name) sum \(sum) vs \(wantSum)")
        }
    }

    @Test("dequantize every tensor (prints throughput; no timing assertion)")
    func wholeFileThroughput() throws {
        let clock = ContinuousClock()
        let parseTime = try clock.measure { _ = try GGUFFile(path: Fixtures.smolLM2Path) }
        let largest = file.tensorNames.compactMap { file.info($0)?.elementCount }.max() ?? 0
        var buffer = [Float](repeating: 0, count: largest)
        var elements = 0
        var storedBytes = 0
        let elapsed = try clock.measure {
            for name in file.tensorNames {
                let count = file.info(name)?.elementCount ?? 0
                try buffer.withUnsafeMutableBufferPointer { out in
                    try file.floats(name, into: UnsafeMutableBufferPointer(rebasing: out[0..<count]))
                }
                elements += count
                storedBytes += try file.rawBytes(name).count
            }
        }
        func inSeconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
        }
        let seconds = inSeconds(elapsed)
        #expect(elements > 100_000_000)
        let lastTensorFinite = buffer.prefix(1000).allSatisfy { $0.isFinite }
        #expect(lastTensorFinite)
        #if DEBUG
            let build = "debug build"
        #else
            let build = "release build"
        #endif
        func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
        print(
            "SmolLM2 Q4_1 dequantization (\(build), \(ProcessInfo.processInfo.activeProcessorCount) threads): "
                + "\(file.tensorNames.count) tensors, \(fixed(Double(elements) / 1e6, 1)) M elements from "
                + "\(fixed(Double(storedBytes) / 1e6, 1)) MB in \(fixed(seconds, 3)) s = "
                + "\(fixed(Double(elements) / seconds / 1e6, 0)) M elements/s, "
                + "\(fixed(Double(elements) * 4 / seconds / 1e6, 0)) MB/s of float32 output; "
                + "parsing the header and metadata took \(fixed(inSeconds(parseTime) * 1000, 1)) ms")
    }
}
