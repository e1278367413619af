import Foundation
import SeqLensAttribution
import SeqLensCheckpoints
import SeqLensServer
import SeqLensTokenizers

/// The fuzz targets: each takes one input of arbitrary bytes and drives one parser with it.
///
/// A target must never trap, hang or allocate without bound on any input; throwing is the
/// expected answer to a malformed one. Where a parse succeeds, the target goes on to use what came
/// back (reads every tensor, encodes text with the tokenizer) and checks invariants a caller relies
/// on with `check`, which traps like any other bug.
enum FuzzTargets {
    struct Target: Sendable {
        let name: String
        /// What the input is, for `seqlens-fuzz --list`.
        let summary: String
        let run: @Sendable (UnsafeRawBufferPointer) -> Void
    }

    static let all: [Target] = [
        Target(name: "framer", summary: "bytes on the daemon's stdin (LSP frames)", run: framer),
        Target(name: "json", summary: "one message body for JanssonCodec.decode", run: json),
        Target(name: "params", summary: "a JSON request whose params ParamsReader reads", run: params),
        Target(name: "safetensors", summary: "a .safetensors file", run: safetensors),
        Target(name: "safetensors-index", summary: "model.safetensors.index.json beside two shards", run: safetensorsIndex),
        Target(name: "gguf", summary: "a .gguf file (tensors and tokenizer metadata)", run: gguf),
        Target(name: "tokenizer-json", summary: "an HF tokenizer.json", run: tokenizerJSON),
        Target(name: "vocab-merges", summary: "vocab.json, a NUL byte, merges.txt", run: vocabMerges),
        Target(name: "unigram-json", summary: "a SentencePiece Unigram tokenizer.json", run: unigramJSON),
        Target(name: "tokenizer-encode", summary: "text for the fixture tokenizers", run: tokenizerEncode),
        Target(name: "inseq-json", summary: "an Inseq attribution file (JSON or gzip)", run: inseqJSON),
    ]

    static func named(_ name: String) -> Target? { all.first { $0.name == name } }

    /// Set SEQLENS_FUZZ_VERBOSE=1 to see why each input was refused (to check that seeds parse).
    static let verbose = ProcessInfo.processInfo.environment["SEQLENS_FUZZ_VERBOSE"] == "1"

    /// The value `body` returns, or nil when it throws (the error printed when verbose).
    static func parsed<T>(_ body: () throws -> T) -> T? {
        do {
            let value = try body()
            if verbose { printError("  parsed \(T.self)") }
            return value
        } catch {
            if verbose { printError("  refused: \(error)") }
            return nil
        }
    }

    /// Traps with `message` unless `condition` holds: a broken invariant is a bug like a crash.
    static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition {
            printError("seqlens-fuzz: invariant broken: \(message())")
            abort()
        }
    }

    // MARK: Protocol

    static func framer(_ input: UnsafeRawBufferPointer) {
        // The first byte picks the chunk size, so that frames split across reads are covered.
        guard let first = input.first else { return }
        let chunk = Int(first % 64) + 1
        let bytes = UnsafeRawBufferPointer(rebasing: input.dropFirst())
        var framer = MessageFramer(maximumMessageBytes: 4096)
        var delivered = 0
        func drain() {
            while let event = framer.nextEvent() {
                switch event {
                case .message(let body):
                    delivered += body.count
                    // What the server does with a body: decode it, resynchronize when it runs long.
                    if let decoded = try? JanssonCodec.decode(body), decoded.consumedBytes < body.count {
                        framer.resynchronize(returning: Array(body[decoded.consumedBytes...]))
                    }
                case .broken(let error, let body):
                    delivered += body.count
                    _ = error.description
                }
                check(framer.bufferedByteCount <= bytes.count, "framer holds more bytes than it was given")
            }
        }
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunk)
            framer.append(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
            offset = end
            drain()
        }
        if let event = framer.finish() {
            if case .broken(let error, _) = event { _ = error.description }
        }
        check(framer.bufferedByteCount == 0, "finish left bytes in the buffer")
        _ = delivered
    }

    static func json(_ input: UnsafeRawBufferPointer) {
        guard let decoded = parsed({ try JanssonCodec.decode(input) }) else { return }
        check(decoded.consumedBytes >= 0 && decoded.consumedBytes <= input.count, "consumedBytes out of range")
        // What is decoded must encode, and the encoding must decode again to the same shape.
        let encoded = JanssonCodec.encode(decoded.value)
        do {
            let again = try JanssonCodec.decode(encoded)
            check(shape(of: again.value) == shape(of: decoded.value), "re-decoded value differs in structure")
        } catch {
            check(false, "encoded value does not decode: \(error)")
        }
    }

    /// The value with numbers erased (reals are written with 9 significant digits, so they may
    /// change value on a round trip, and an integral real may come back as an integer).
    static func shape(of value: RPCValue) -> RPCValue {
        switch value {
        case .integer, .number: .integer(0)
        case .array(let elements): .array(elements.map(shape))
        case .object(let members): .object(members.mapValues(shape))
        default: value
        }
    }

    static func params(_ input: UnsafeRawBufferPointer) {
        guard let decoded = try? JanssonCodec.decode(input) else { return }
        let params = decoded.value["params"] ?? decoded.value
        readAll(params, depth: 0)
    }

    private static let fieldNames = [
        "text", "texts", "ids", "model", "path", "nSteps", "maxNewTokens", "temperature", "topK", "topP", "seed",
        "method", "stepScores", "layer", "a", "",
    ]

    /// Reads every field of `params` as every kind ParamsReader offers, formatting each error.
    private static func readAll(_ params: RPCValue, depth: Int) {
        let reader: ParamsReader
        do throws(RPCError) {
            reader = try ParamsReader(params)
        } catch {
            _ = error.message
            return
        }
        func attempt<T>(_ body: () throws(RPCError) -> T) {
            do throws(RPCError) { _ = try body() } catch { _ = error.message }
        }
        for field in Set(fieldNames + reader.members.keys.prefix(32)) {
            _ = reader.contains(field)
            attempt { () throws(RPCError) in try reader.optional(field, as: String.self) }
            attempt { () throws(RPCError) in try reader.optional(field, as: Int.self) }
            attempt { () throws(RPCError) in try reader.optional(field, as: Bool.self) }
            attempt { () throws(RPCError) in try reader.optional(field, as: Double.self) }
            attempt { () throws(RPCError) in try reader.required(field, as: Int.self) }
            attempt { () throws(RPCError) in try reader.optional(field, in: 1...1000) }
            attempt { () throws(RPCError) in try reader.optional(field, in: 0.0...1.0) }
            attempt { () throws(RPCError) in try reader.optionalArray(field, of: Int.self) }
            attempt { () throws(RPCError) in try reader.optionalArray(field, of: String.self) }
            attempt { () throws(RPCError) in try reader.requiredArray(field, of: Double.self) }
            attempt { () throws(RPCError) in try reader.requiredNestedArray(field, of: Int.self) }
            if depth < 4, let nested = reader.members[field], case .object = nested {
                readAll(nested, depth: depth + 1)
            }
        }
        attempt { () throws(RPCError) in try reader.rejectUnknownFields(["text", "model"]) }
    }

    // MARK: Checkpoints

    static func safetensors(_ input: UnsafeRawBufferPointer) {
        let path = Scratch.write(input, as: "model.safetensors")
        guard let checkpoint = parsed({ try SafetensorsCheckpoint(path: path) }) else { return }
        readTensors(checkpoint)
        for name in checkpoint.tensorNames { _ = try? checkpoint.rawBytes(name) }
    }

    static func safetensorsIndex(_ input: UnsafeRawBufferPointer) {
        let folder = Scratch.folder("sharded")
        for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
            Scratch.copyOnce(fixtures.appendingPathComponent("checkpoints/sharded/\(shard)").path, to: folder + "/" + shard)
        }
        Scratch.write(input, as: "sharded/model.safetensors.index.json")
        guard let checkpoint = parsed({ try SafetensorsCheckpoint(path: folder) }) else { return }
        readTensors(checkpoint)
    }

    static func gguf(_ input: UnsafeRawBufferPointer) {
        let path = Scratch.write(input, as: "model.gguf")
        guard let file = parsed({ try GGUFFile(path: path) }) else { return }
        check(file.dataOffset <= max(file.file.size, file.dataOffset), "data offset")
        readTensors(file)
        for name in file.tensorNames { _ = try? file.rawBytes(name) }
        for key in file.metadataKeys {
            let value = file.metadata[key]
            _ = value?.int
            _ = value?.double
            _ = value?.strings
            _ = value?.ints
            _ = value?.floats
        }
        if let tokenizer = parsed({ try ggufTokenizer(file.metadata) }) ?? nil { exercise(tokenizer) }
    }

    /// What ModelLoader does with a GGUF file's tokenizer metadata (token types that do not fit
    /// Int32 are refused here; see the report on ModelLoader's `Int32($0)`).
    static func ggufTokenizer(_ meta: [String: GGUFValue]) throws -> ByteLevelBPETokenizer? {
        guard let tokens = meta["tokenizer.ggml.tokens"]?.strings, let merges = meta["tokenizer.ggml.merges"]?.strings
        else { return nil }
        var types: [Int32]?
        if let raw = meta["tokenizer.ggml.token_type"]?.ints {
            let narrowed = raw.compactMap { Int32(exactly: $0) }
            guard narrowed.count == raw.count else { return nil }
            types = narrowed
        }
        return try ByteLevelBPETokenizer(
            ggufTokens: tokens, tokenTypes: types, merges: merges, preTokenizer: meta["tokenizer.ggml.pre"]?.string,
            bosTokenId: meta["tokenizer.ggml.bos_token_id"]?.int, eosTokenId: meta["tokenizer.ggml.eos_token_id"]?.int,
            unknownTokenId: meta["tokenizer.ggml.unknown_token_id"]?.int,
            paddingTokenId: meta["tokenizer.ggml.padding_token_id"]?.int,
            addBOS: meta["tokenizer.ggml.add_bos_token"]?.bool, addEOS: meta["tokenizer.ggml.add_eos_token"]?.bool)
    }

    /// Converts every tensor the store can convert, checking the count against the shape.
    static func readTensors(_ store: some TensorStore) {
        for name in store.tensorNames {
            guard let info = store.info(name) else {
                check(false, "listed tensor '\(name)' has no info")
                return
            }
            check(info.shape.allSatisfy { $0 >= 0 }, "negative dimension in \(info.shape)")
            guard let values = parsed({ try store.floats(name) }) else { continue }
            check(values.count == info.elementCount, "\(values.count) floats for shape \(info.shape)")
        }
        _ = try? store.floats("no such tensor")
    }

    // MARK: Tokenizers

    static func tokenizerJSON(_ input: UnsafeRawBufferPointer) {
        guard let tokenizer = parsed({ try ByteLevelBPETokenizer(tokenizerJSONData: Data(input)) }) else { return }
        exercise(tokenizer)
    }

    static func unigramJSON(_ input: UnsafeRawBufferPointer) {
        let path = Scratch.write(input, as: "tokenizer.json")
        guard let tokenizer = parsed({ try UnigramTokenizer(tokenizerJSON: URL(fileURLWithPath: path)) }) else { return }
        exercise(tokenizer)
    }

    static func vocabMerges(_ input: UnsafeRawBufferPointer) {
        let split = input.firstIndex(of: 0) ?? input.count
        let vocab = Scratch.write(UnsafeRawBufferPointer(rebasing: input[..<split]), as: "vocab.json")
        let merges = Scratch.write(
            UnsafeRawBufferPointer(rebasing: input[min(input.count, split + 1)...]), as: "merges.txt")
        guard
            let tokenizer = parsed({
                try ByteLevelBPETokenizer(vocabJSON: URL(fileURLWithPath: vocab), mergesTXT: URL(fileURLWithPath: merges))
            })
        else { return }
        exercise(tokenizer)
    }

    /// Tests/Fixtures in the checkout this binary was built from.
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/Fixtures")

    /// The fixture tokenizers, loaded once.
    static let fixtureTokenizers: [ByteLevelBPETokenizer] = {
        let root = fixtures
        let models = root.appendingPathComponent("models/tiny-gpt2")
        var loaded: [ByteLevelBPETokenizer] = []
        if let llama3 = try? ByteLevelBPETokenizer(
            tokenizerJSON: root.appendingPathComponent("tokenizers/tiny-llama3-tokenizer.json"))
        {
            loaded.append(llama3)
        }
        if let gpt2 = try? ByteLevelBPETokenizer(tokenizerJSON: models.appendingPathComponent("tokenizer.json")) {
            loaded.append(gpt2)
        }
        if let vocab = try? ByteLevelBPETokenizer(
            vocabJSON: models.appendingPathComponent("vocab.json"), mergesTXT: models.appendingPathComponent("merges.txt"))
        {
            loaded.append(vocab)
        }
        check(!loaded.isEmpty, "no fixture tokenizer under \(root.path)")
        return loaded
    }()

    static func tokenizerEncode(_ input: UnsafeRawBufferPointer) {
        let text = String(decoding: input, as: UTF8.self)
        for tokenizer in fixtureTokenizers {
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            checkIds(ids, tokenizer)
            _ = tokenizer.decode(ids, skipSpecialTokens: true)
            // Ids from a client: anything, including negative and past the vocabulary.
            let raw = stride(from: 0, to: input.count - 1, by: 2).map { Int(Int16(input[$0]) << 8 | Int16(input[$0 + 1])) }
            _ = tokenizer.decode(raw, skipSpecialTokens: false)
            _ = raw.map(tokenizer.tokenString)
        }
    }

    static let sampleTexts = [
        "", "Hello world", " The capital of France is", "<|endoftext|>x<|endoftext|>", "a  b\n\n\tc",
        "I'm 12345 ÿ😀\u{0}", "<|begin_of_text|>Hi<|eot_id|>", "[MASK] word", "'s'll'VE",
    ]

    /// Encodes and decodes sample texts; every id must lie in the vocabulary.
    static func exercise(_ tokenizer: some Tokenizer) {
        for text in sampleTexts {
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            checkIds(ids, tokenizer)
            _ = tokenizer.decode(ids, skipSpecialTokens: false)
            _ = tokenizer.decode(ids, skipSpecialTokens: true)
            _ = tokenizer.tokenStrings(ids)
        }
        let size = tokenizer.vocabularySize
        _ = tokenizer.decode([-1, 0, 1, size - 1, size, Int.max, Int.min], skipSpecialTokens: false)
        for id in [-1, 0, size - 1, size] {
            let token = tokenizer.tokenString(id)
            _ = tokenizer.isSpecial(id)
            if !token.isEmpty, let back = tokenizer.id(of: token) {
                check(back >= 0 && back < size, "id(of:) gave \(back) outside \(size) tokens")
            }
        }
        for id in [tokenizer.specialTokens.bos, tokenizer.specialTokens.eos, tokenizer.specialTokens.unk].compactMap({ $0 }) {
            check(id >= 0 && id < size, "special token id \(id) outside \(size) tokens")
        }
    }

    static func checkIds(_ ids: [Int], _ tokenizer: some Tokenizer) {
        let size = tokenizer.vocabularySize
        for id in ids { check(id >= 0 && id < size, "encode gave id \(id) outside \(size) tokens") }
    }

    // MARK: Attribution files

    static func inseqJSON(_ input: UnsafeRawBufferPointer) {
        let bytes = [UInt8](input)
        if bytes.starts(with: [0x1F, 0x8B]) {
            let path = Scratch.write(input, as: "attribution.json.gz")
            if let output = parsed({ try FeatureAttributionOutput.load(from: path) }) { use(output) }
        } else if let output = parsed({ try FeatureAttributionOutput.load(inseqJSON: bytes) }) {
            use(output)
        }
    }

    /// Saves a loaded output again, which walks every tensor it holds.
    static func use(_ output: FeatureAttributionOutput) {
        let text = output.inseqJSON()
        _ = try? FeatureAttributionOutput.load(inseqJSON: Array(text.utf8))
    }
}

/// Writes one line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
