import Foundation
import SeqLensAttribution
import SeqLensModels
import SeqLensTensor

// Benchmark harness (never a timed test): prints one JSON object per measurement on stdout.
// Usage:
//   seqlens-bench sgemm
//   seqlens-bench forward  MODEL TOKENS BATCH REPEATS
//   seqlens-bench generate MODEL PROMPT_TOKENS NEW_TOKENS
//   seqlens-bench attribute MODEL METHOD PROMPT NEW_TOKENS [N_STEPS [INTERNAL_BATCH]]
//   seqlens-bench attribute-seq2seq FOLDER METHOD SOURCE TARGET [N_STEPS [INTERNAL_BATCH]]   (forced target)
//   seqlens-bench generate-seq2seq FOLDER SOURCE NEW_TOKENS BEAMS

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    fflush(nil)
}

func peakRSSBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty }.map(String.init) ?? "0") ?? 0
        return kb * 1024
    }
    return 0
}

func loadModel(_ argument: String) throws -> LanguageModel {
    try LanguageModel.load(ModelLocation(argument: argument))
}

func loadEncoderDecoder(_ folder: String) throws -> EncoderDecoderModel {
    guard case .encoderDecoder(let model) = try LoadedModel.load(.path(folder)) else {
        throw ModelError.invalidConfiguration("\(folder) is not an encoder-decoder model")
    }
    return model
}

/// Deterministic pseudo-text token ids (no special tokens).
func syntheticIds(_ count: Int, vocabulary: Int, seed: Int = 1) -> [Int] {
    var state = UInt64(seed)
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return 100 + Int((state >> 33) % UInt64(max(1, vocabulary - 200)))
    }
}

/// FLOPs of one forward over `tokens` positions (2 per multiply-add; weights, attention, head).
func forwardFLOPs(_ info: ModelInfo, intermediate: Int, tokens: Int, context: Int) -> Double {
    let c = Double(info.hiddenSize), l = Double(info.layerCount)
    let kv = Double(info.keyValueHeadCount * (info.hiddenSize / info.headCount))
    let perToken = l * (2 * c * c * 2 + 2 * c * kv * 2 + 2 * c * Double(intermediate) * 3 + 4 * Double(context) * c)
        + 2 * c * Double(info.vocabularySize)
    return perToken * Double(tokens)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    FileHandle.standardError.write(Data("usage: seqlens-bench sgemm|forward|generate|attribute ...\n".utf8))
    exit(2)
}
do {
    switch command {
    case "sgemm":
        for (m, k, n) in [(128, 576, 1536), (1024, 576, 1536), (64, 768, 3072), (1, 576, 49152)] {
            let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
            var c = [Float](repeating: 0, count: m * n)
            var best = Double.infinity
            for _ in 0..<10 {
                let start = now()
                a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                    BLAS.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, a: ap.baseAddress!, lda: k,
                              b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
                }}}
                best = min(best, now() - start)
            }
            emit(["bench": "sgemm", "m": m, "k": k, "n": n, "gflops": 2 * Double(m * n * k) / best / 1e9])
        }
    case "gemv":
        // The LM head of one generated token: W (V × C) times x (C).
        let v = 49152, c = 576
        let w = [Float](repeating: 0.5, count: v * c), x = [Float](repeating: 0.25, count: c)
        var y = [Float](repeating: 0, count: v)
        for (name, run) in [
            ("gemv", { (wp: UnsafePointer<Float>, xp: UnsafePointer<Float>, yp: UnsafeMutablePointer<Float>) in
                BLAS.gemv(transpose: false, rows: v, columns: c, a: wp, lda: c, x: xp, y: yp) }),
            ("gemm_m1", { (wp: UnsafePointer<Float>, xp: UnsafePointer<Float>, yp: UnsafeMutablePointer<Float>) in
                BLAS.gemm(transposeA: false, transposeB: true, m: 1, n: v, k: c, a: xp, lda: c, b: wp, ldb: c, c: yp, ldc: v) }),
        ] {
            var best = Double.infinity
            for _ in 0..<10 {
                let start = now()
                w.withUnsafeBufferPointer { wp in x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                    run(wp.baseAddress!, xp.baseAddress!, yp.baseAddress!) }}}
                best = min(best, now() - start)
            }
            emit(["bench": name, "milliseconds": best * 1000, "gigabytes_per_second": Double(v * c * 4) / best / 1e9])
        }
        // The same product and an MLP-sized one (1536 × 576) with weights in each packed encoding.
        for (rows, columns) in [(v, c), (1536, 576), (576, 576), (192, 576), (3072, 768)] {
            for format in PackedMatrix.Format.allCases where columns % format.blockSize == 0 {
                var state: UInt64 = 7
                let byteCount = rows * columns / format.blockSize * format.blockBytes
                let bytes = (0..<byteCount).map { i -> UInt8 in
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    // Keep every F16/BF16 value and block scale finite and small.
                    return i % 2 == 1 ? 0x3A : UInt8(truncatingIfNeeded: state >> 56)
                }
                let matrix = PackedMatrix(format: format, rows: rows, columns: columns, bytes: bytes)
                let input = [Float](repeating: 0.25, count: columns)
                var output = [Float](repeating: 0, count: rows)
                var best = Double.infinity
                for _ in 0..<20 {
                    let start = now()
                    input.withUnsafeBufferPointer { xp in output.withUnsafeMutableBufferPointer { yp in
                        matrix.multiply(xp.baseAddress!, into: yp.baseAddress!) }}
                    best = min(best, now() - start)
                }
                emit(["bench": "packed_gemv", "format": "\(format)", "rows": rows, "columns": columns,
                      "milliseconds": best * 1000, "gigabytes_per_second": Double(byteCount) / best / 1e9,
                      "weights_per_second": Double(rows * columns) / best, "kernels": PackedMatrix.kernelLevel])
            }
        }
    case "forward":
        let model = try loadModel(arguments[1])
        let tokens = Int(arguments[2])!, batch = Int(arguments[3])!, repeats = Int(arguments[4])!
        let ids = (0..<batch).map { syntheticIds(tokens, vocabulary: model.info.vocabularySize, seed: $0 + 1) }
        let transformer = model.transformer
        var times: [Double] = []
        for _ in 0..<(repeats + 1) {
            let start = now()
            let hidden = transformer.hiddenStates(embeddings: Variable(constant: transformer.embed(ids)),
                                                  positions: Array(0..<tokens), cache: nil, probe: nil)
            _ = transformer.logits(reshape(hidden, [batch * tokens, model.info.hiddenSize]))
            times.append(now() - start)
        }
        let best = times.dropFirst().min()!
        let intermediate = Int(ProcessInfo.processInfo.environment["SEQLENS_BENCH_INTERMEDIATE"] ?? "1536") ?? 1536
        let flops = forwardFLOPs(model.info, intermediate: intermediate, tokens: tokens * batch, context: tokens / 2)
        emit(["bench": "forward", "tokens": tokens, "batch": batch, "seconds": best,
              "tokens_per_second": Double(tokens * batch) / best, "gflops": flops / best / 1e9,
              "peak_rss_bytes": peakRSSBytes()])
    case "generate":
        let model = try loadModel(arguments[1])
        let promptTokens = Int(arguments[2])!, newTokens = Int(arguments[3])!
        let prompt = syntheticIds(promptTokens, vocabulary: model.info.vocabularySize)
        var options = GenerationOptions()
        options.maxNewTokens = newTokens
        options.stopAtEOS = false
        _ = try model.generate(prompt: prompt, options: options)  // warm-up
        let start = now()
        let generation = try model.generate(prompt: prompt, options: options)
        let seconds = now() - start
        emit(["bench": "generate", "prompt_tokens": promptTokens, "new_tokens": generation.tokens.count,
              "seconds": seconds, "tokens_per_second": Double(generation.tokens.count) / seconds,
              "peak_rss_bytes": peakRSSBytes()])
    case "attribute":
        // attribute MODEL METHOD PROMPT NEW_TOKENS [N_STEPS [INTERNAL_BATCH]]: generation included, as in Inseq.
        let model = try loadModel(arguments[1])
        var methodArguments: [String: JSONValue] = [:]
        if arguments.count > 5 { methodArguments["nSteps"] = .int(Int(arguments[5])!) }
        if arguments.count > 6 { methodArguments["internalBatchSize"] = .int(Int(arguments[6])!) }
        let method = try AttributionMethods.make(arguments[2], arguments: .object(methodArguments))
        let newTokens = Int(arguments[4])!
        var request = AttributionRequest(inputs: [arguments[3]])
        request.method = method
        request.generation.maxNewTokens = newTokens
        request.generation.stopAtEOS = false
        request.stepScores = [.probability]
        // SEQLENS_BENCH_PROFILE_LOOPS=N repeats the call first (for a profiler); the figure is one call.
        for _ in 0..<(Int(ProcessInfo.processInfo.environment["SEQLENS_BENCH_PROFILE_LOOPS"] ?? "0") ?? 0) {
            _ = try Attributor(model: model).attribute(request)
        }
        // SEQLENS_BENCH_REPEAT=N times N calls after those and reports their median instead.
        let repeats = max(1, Int(ProcessInfo.processInfo.environment["SEQLENS_BENCH_REPEAT"] ?? "1") ?? 1)
        var times: [Double] = []
        var result = FeatureAttributionOutput(sequenceAttributions: [])
        for _ in 0..<repeats {
            let start = now()
            result = try Attributor(model: model).attribute(request)
            times.append(now() - start)
        }
        let seconds = times.sorted()[times.count / 2]
        let sequence = result.sequenceAttributions[0]
        emit(["bench": "attribute", "method": method.name, "prompt_tokens": sequence.attrPosStart,
              "steps": sequence.attrPosEnd - sequence.attrPosStart, "seconds": seconds,
              "peak_rss_bytes": peakRSSBytes()])
    case "attribute-seq2seq":
        // attribute-seq2seq FOLDER METHOD SOURCE TARGET [N_STEPS [INTERNAL_BATCH]]: source attributions of a forced target.
        let model = try loadEncoderDecoder(arguments[1])
        var methodArguments: [String: JSONValue] = [:]
        if arguments.count > 5 { methodArguments["nSteps"] = .int(Int(arguments[5])!) }
        if arguments.count > 6 { methodArguments["internalBatchSize"] = .int(Int(arguments[6])!) }
        var request = AttributionRequest(inputs: [arguments[3]])
        request.method = try AttributionMethods.make(arguments[2], arguments: .object(methodArguments))
        request.generatedTexts = [arguments[4]]
        request.stepScores = [.probability]
        let start = now()
        let result = try EncoderDecoderAttributor(model: model).attribute(request)
        let seconds = now() - start
        let sequence = result.sequenceAttributions[0]
        emit(["bench": "attribute-seq2seq", "method": request.method.name, "source_tokens": sequence.source.count,
              "steps": sequence.attrPosEnd - sequence.attrPosStart, "seconds": seconds, "peak_rss_bytes": peakRSSBytes()])
    case "generate-seq2seq":
        // generate-seq2seq FOLDER SOURCE NEW_TOKENS BEAMS: one warm-up, then one timed generation.
        let model = try loadEncoderDecoder(arguments[1])
        let source = model.tokenizer.encode(arguments[2], side: .source, addSpecialTokens: true)
        var options = EncoderDecoderGenerationOptions()
        options.maxNewTokens = Int(arguments[3])!
        options.numBeams = Int(arguments[4])!
        _ = try model.generate(source: source, options: options)
        let start = now()
        let generation = try model.generate(source: source, options: options)
        let seconds = now() - start
        emit(["bench": "generate-seq2seq", "source_tokens": source.count, "new_tokens": generation.tokens.count,
              "beams": options.numBeams!, "seconds": seconds,
              "tokens_per_second": Double(generation.tokens.count) / seconds, "peak_rss_bytes": peakRSSBytes()])
    default:
        FileHandle.standardError.write(Data("unknown benchmark \(command)\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("seqlens-bench: \(error)\n".utf8))
    exit(1)
}
