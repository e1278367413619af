import Foundation

/// One corrupted checkpoint: which fixture it comes from, what was changed, what the daemon must do
/// with it, and how to write it.
struct CheckpointMutant {
    enum Expectation: String {
        /// The checkpoint is broken or self-contradictory: `model/load` must answer -32011.
        case mustFail
        /// It may load (e.g. weights read with another valid interpretation) or be refused; the daemon must survive either way.
        case either
    }

    /// Fixture it was made from: a folder name under Tests/Fixtures/models, or "tiny-llama.gguf".
    var fixture: String
    /// Summary bucket, e.g. "config.value", "safetensors.truncate", "gguf.tensor.dims".
    var kind: String
    /// What exactly was changed, e.g. "num_hidden_layers = -1".
    var detail: String
    var expectation: Expectation
    /// An error message must contain one of these (case-insensitive), or name a tensor of the
    /// fixture when `tensorNamesCount`.
    var mentions: [String]
    var tensorNamesCount = true
    /// The files that differ from the fixture's (name → bytes, nil: removed). For the GGUF fixture the
    /// single name is "model.gguf". Made on demand, so the catalogue holds no copies.
    var files: () -> [String: [UInt8]?]

    var name: String { "\(fixture) \(kind): \(detail)" }
}

/// Builds the mutants of the committed tiny fixtures: truncations, lying lengths, offsets, shapes,
/// dtypes and counts, and config/metadata values out of range or contradicting the tensors.
enum CheckpointMutantCatalogue {
    static let modelsFolder = PackagePaths.root.appendingPathComponent("Tests/Fixtures/models")
    static let safetensorsFixtures = ["tiny-gpt2", "tiny-gpt2-f16", "tiny-llama", "tiny-qwen2", "tiny-llama-sharded"]
    static let ggufFixture = "tiny-llama.gguf"

    /// Words a message may use for a config field instead of its name.
    static let synonyms: [String: [String]] = [
        "n_layer": ["layers"], "num_hidden_layers": ["layers"], "n_head": ["attention heads"], "num_attention_heads": ["attention heads"],
        "num_key_value_heads": ["key/value heads", "kv heads"], "head_dim": ["head dimension"], "n_embd": ["hidden size", "embedding size"],
        "hidden_size": ["hidden size"], "n_positions": ["positions"], "max_position_embeddings": ["positions"],
        "vocab_size": ["vocabulary"], "intermediate_size": ["intermediate size"], "n_inner": ["intermediate size", "inner size"],
    ]

    /// Every mutant, in a fixed order (deterministic for a seed).
    static func all(seed: UInt64 = 0x5EC1E25) throws -> [CheckpointMutant] {
        var random = SeededGenerator(seed: seed)
        var mutants: [CheckpointMutant] = []
        for fixture in safetensorsFixtures { mutants += try folderMutants(fixture, random: &random) }
        mutants += try ggufMutants(random: &random)
        return mutants
    }

    /// The files of a fixture folder, by name.
    static func fixtureFiles(_ fixture: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: modelsFolder.appendingPathComponent(fixture).path)
            .filter { $0 != "reference.json" }.sorted()
    }

    static func read(_ fixture: String, _ file: String) throws -> [UInt8] {
        Array(try Data(contentsOf: modelsFolder.appendingPathComponent(fixture).appendingPathComponent(file)))
    }

    // MARK: - transformers folders

    static func folderMutants(_ fixture: String, random: inout SeededGenerator) throws -> [CheckpointMutant] {
        var mutants: [CheckpointMutant] = []
        let configBytes = try read(fixture, "config.json")
        let config = try JSONSerialization.jsonObject(with: Data(configBytes)) as? [String: Any] ?? [:]
        let modelType = config["model_type"] as? String ?? "?"
        func add(_ kind: String, _ detail: String, _ expectation: CheckpointMutant.Expectation, mentions: [String],
                 tensorNamesCount: Bool = true, _ files: @escaping () -> [String: [UInt8]?]) {
            mutants.append(CheckpointMutant(
                fixture: fixture, kind: kind, detail: detail, expectation: expectation, mentions: mentions,
                tensorNamesCount: tensorNamesCount, files: files))
        }
        func configWith(_ change: @escaping (inout [String: Any]) -> Void) -> () -> [String: [UInt8]?] {
            {
                var changed = config
                change(&changed)
                let data = (try? JSONSerialization.data(withJSONObject: changed, options: [.sortedKeys])) ?? Data()
                return ["config.json": Array(data)]
            }
        }

        // config.json: integer fields set to values out of range, mismatched or of the wrong type.
        struct Field { var key: String; var structural: Bool; var missingLoads: Bool }
        let fields: [Field] =
            modelType == "gpt2"
            ? [
                Field(key: "n_layer", structural: true, missingLoads: false),
                Field(key: "n_head", structural: false, missingLoads: false),
                Field(key: "n_embd", structural: true, missingLoads: false),
                Field(key: "n_positions", structural: true, missingLoads: false),
                Field(key: "n_inner", structural: true, missingLoads: true),
                Field(key: "vocab_size", structural: true, missingLoads: false),
            ]
            : [
                Field(key: "num_hidden_layers", structural: true, missingLoads: false),
                Field(key: "num_attention_heads", structural: true, missingLoads: false),
                Field(key: "num_key_value_heads", structural: true, missingLoads: false),
                Field(key: "head_dim", structural: true, missingLoads: true),
                Field(key: "hidden_size", structural: true, missingLoads: false),
                Field(key: "intermediate_size", structural: true, missingLoads: false),
                Field(key: "max_position_embeddings", structural: false, missingLoads: true),
                Field(key: "vocab_size", structural: true, missingLoads: false),
            ]
        for field in fields {
            let original = config[field.key] as? Int
            // (label, JSON value or nil for "remove", loads legitimately?)
            var values: [(String, Any?, Bool)] = [
                ("-1", -1, false), ("0", 0, false), ("-16", -16, false), ("10^9", 1_000_000_000, false),
                ("2^31", 2_147_483_648, false), ("2^32-1", 4_294_967_295, false), ("2^62", 1 << 62, false),
                ("Int64.max", Int.max, false), ("\"8\" (a string)", "8", false), ("1.5", 1.5, false),
                ("1e300", 1e300, false), ("true", true, false), ("[2]", [2], false),
                ("missing", nil, field.missingLoads), ("null", NSNull(), field.missingLoads),
            ]
            if let original {
                values.append(("original+1 (\(original + 1))", original + 1, false))
                values.append(("original*2 (\(original * 2))", original * 2, false))
                values.append(("1", 1, original == 1))
            } else {
                values.append(("256", 256, field.key == "n_inner"))  // 4 x n_embd: what null means
                values.append(("255", 255, false))
            }
            for (label, value, loads) in values {
                var expectation: CheckpointMutant.Expectation = loads ? .either : .mustFail
                // Not tied to any tensor: a different positive context length or head count is a valid model.
                if !field.structural, let number = value as? Int, number > 0 {
                    if field.key == "max_position_embeddings" { expectation = .either }
                    if field.key == "n_head", 64 % number == 0 { expectation = .either }
                }
                add("config.value", "\(field.key) = \(label)", expectation, mentions: [field.key, "config.json"] + (synonyms[field.key] ?? []),
                    configWith { config in
                        if let value { config[field.key] = value } else { config.removeValue(forKey: field.key) }
                    })
            }
        }
        // Other config.json damage.
        add("config.value", "model_type = \"bogus\"", .mustFail, mentions: ["model_type", "bogus", "architecture"], tensorNamesCount: false,
            configWith { $0["model_type"] = "bogus" })
        add("config.value", "model_type missing", .mustFail, mentions: ["model_type"], tensorNamesCount: false,
            configWith { $0.removeValue(forKey: "model_type") })
        add("config.value", "model_type = 42", .mustFail, mentions: ["model_type"], tensorNamesCount: false,
            configWith { $0["model_type"] = 42 })
        add("config.value", "model_type swapped", .mustFail, mentions: ["config.json", "model_type"],
            configWith { $0["model_type"] = modelType == "gpt2" ? "llama" : "gpt2" })
        if modelType != "gpt2" {
            add("config.value", "rope_parameters.rope_type = \"yarn\"", .mustFail, mentions: ["rope_type", "yarn"], tensorNamesCount: false,
                configWith { $0["rope_parameters"] = ["rope_theta": 10000.0, "rope_type": "yarn"] })
            for theta in [0.0, -1.0] {
                add("config.value", "rope_theta = \(theta)", .either, mentions: ["rope_theta", "config.json"],
                    configWith { $0["rope_parameters"] = ["rope_theta": theta, "rope_type": "default"] })
            }
            add("config.value", "rms_norm_eps = -1", .either, mentions: ["rms_norm_eps", "config.json"], configWith { $0["rms_norm_eps"] = -1.0 })
            let tied = config["tie_word_embeddings"] as? Bool ?? false
            add("config.value", "tie_word_embeddings flipped", tied ? .mustFail : .either,
                mentions: ["tie_word_embeddings", "lm_head"], configWith { $0["tie_word_embeddings"] = !tied })
        } else {
            add("config.value", "layer_norm_epsilon = -1", .either, mentions: ["layer_norm_epsilon", "config.json"],
                configWith { $0["layer_norm_epsilon"] = -1.0 })
        }
        add("config.file", "config.json removed", .mustFail, mentions: ["config.json"], tensorNamesCount: false) { ["config.json": nil] }
        add("config.file", "config.json empty", .mustFail, mentions: ["config.json", "model_type"], tensorNamesCount: false) { ["config.json": []] }
        for text in ["[]", "null", "\"gpt2\"", "{\"model_type\": \"llama\"", String(repeating: "[", count: 100_000),
                     "{\"model_type\": \"\u{00}\"}"] {
            add("config.file", "config.json = \(text.prefix(24).debugDescription)", .mustFail, mentions: ["config.json", "model_type"],
                tensorNamesCount: false) { ["config.json": Array(text.utf8)] }
        }
        for cut in [1, configBytes.count / 3, configBytes.count / 2, configBytes.count - 3] {
            add("config.file", "config.json truncated to \(cut) bytes", .mustFail, mentions: ["config.json", "model_type"],
                tensorNamesCount: false) { ["config.json": Array(configBytes.prefix(cut))] }
        }
        add("config.file", "config.json not UTF-8", .mustFail, mentions: ["config.json", "model_type"], tensorNamesCount: false) {
            ["config.json": Array("{\"model_type\": \"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8)]
        }

        // The safetensors file (the last shard of a sharded checkpoint).
        let files = try fixtureFiles(fixture)
        let weightFiles = files.filter { $0.hasSuffix(".safetensors") }
        let weightFile = weightFiles.last ?? "model.safetensors"
        let weights = try SafetensorsTestFile(bytes: read(fixture, weightFile))
        let size = weights.original.count
        let headerEnd = 8 + weights.headerLength
        let truncationPoints =
            [0, 1, 4, 7, 8, 9, 8 + weights.headerLength / 2, headerEnd - 1, headerEnd, headerEnd + 1, headerEnd + 4]
            + (1...14).map { headerEnd + (size - headerEnd) * $0 / 15 } + [size - 4, size - 1]
        for cut in truncationPoints {
            add("safetensors.truncate", "\(weightFile) truncated to \(cut) of \(size) bytes", .mustFail,
                mentions: [weightFile, "safetensors", "header", "truncat", "end of file"]) {
                [weightFile: Array(weights.original.prefix(cut))]
            }
        }
        let lengths: [(String, UInt64)] = [
            ("0", 0), ("1", 1), ("7", 7), ("real-8", UInt64(weights.headerLength - 8)), ("real+8", UInt64(weights.headerLength + 8)),
            ("file size - 8", UInt64(size - 8)), ("file size", UInt64(size)), ("file size + 1", UInt64(size + 1)),
            ("2^32", 1 << 32), ("2^63", 1 << 63), ("UInt64.max", .max),
        ]
        for (label, length) in lengths {
            add("safetensors.header-length", "\(weightFile) header length = \(label)", .mustFail,
                mentions: [weightFile, "safetensors", "header"]) {
                var bytes = weights.original
                LittleEndian.patch(&bytes, at: 0, length)
                return [weightFile: bytes]
            }
        }
        for (label, header) in [("not JSON", "not json"), ("an array", "[]"), ("no tensors", "{}"), ("nested 10^5", String(repeating: "[", count: 100_000))] {
            add("safetensors.header", "\(weightFile) header \(label)", .mustFail, mentions: [weightFile, "safetensors", "header"]) {
                var json = Array(header.utf8)
                while json.count % 8 != 0 { json.append(0x20) }
                return [weightFile: LittleEndian.bytes(UInt64(json.count)) + json + weights.data]
            }
        }
        add("safetensors.header", "\(weightFile) header not UTF-8", .mustFail, mentions: [weightFile, "safetensors", "header"]) {
            var bytes = weights.original
            bytes[9] = 0xFF
            bytes[10] = 0xFE
            return [weightFile: bytes]
        }
        add("safetensors.trailing", "\(weightFile) with 100 garbage bytes appended", .either, mentions: [weightFile, "safetensors"]) {
            [weightFile: weights.original + [UInt8](repeating: 0xAB, count: 100)]
        }

        // Per tensor: lying dtype, shape and offsets; a few tensors of each file.
        let names = weights.tensorNames
        var chosen = [names.first!, names.last!]
        if let embedding = names.first(where: { $0.contains("embed") || $0.contains("wte") }) { chosen.append(embedding) }
        if let norm = names.first(where: { $0.contains("norm") || $0.contains("ln_") }) { chosen.append(norm) }
        chosen.append(names[Int(random.next() % UInt64(names.count))])
        chosen = chosen.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        let lastByData = names.max { weights.dataRange($0).upperBound < weights.dataRange($1).upperBound }!
        for tensor in chosen {
            let entry = weights.entry(tensor)
            let shape = entry["shape"] as? [Int] ?? []
            let range = weights.dataRange(tensor)
            let dtype = weights.dtype(tensor)
            let mentions = [tensor, tensor.replacingOccurrences(of: "transformer.", with: "")]
            func headerChange(_ kind: String, _ detail: String, _ expectation: CheckpointMutant.Expectation, _ change: @escaping (inout SafetensorsTestFile) -> Void) {
                add(kind, "\(tensor) \(detail)", expectation, mentions: mentions, tensorNamesCount: false) {
                    var copy = weights
                    change(&copy)
                    return [weightFile: copy.serialized()]
                }
            }
            let width = ["F32": 4, "F16": 2, "BF16": 2][dtype] ?? 4
            for other in ["F64", "I8", "BOOL", "BOGUS", "", "F32", "F16", "BF16", "U64"] where other != dtype {
                let sameWidth = (["F32": 4, "F16": 2, "BF16": 2, "I8": 1, "BOOL": 1, "F64": 8, "U64": 8][other] ?? 0) == width
                // Another float of the same width reinterprets the bytes: a valid, different model.
                let expectation: CheckpointMutant.Expectation = sameWidth && ["F32", "F16", "BF16"].contains(other) ? .either : .mustFail
                headerChange("safetensors.dtype", "dtype \(dtype) -> \(other.debugDescription)", expectation) { $0.setEntry(tensor, field: "dtype", other) }
            }
            headerChange("safetensors.dtype", "dtype 7 (a number)", .mustFail) { $0.setEntry(tensor, field: "dtype", 7) }
            let count = shape.reduce(1, *)
            var shapes: [(String, Any, CheckpointMutant.Expectation)] = [
                ("[] (scalar)", [Int](), .mustFail), ("[0]", [0], .mustFail), ("[-1]", [-1], .mustFail),
                ("[2^62]", [1 << 62], .mustFail), ("[2^31, 2^31]", [1 << 31, 1 << 31], .mustFail),
                ("[2^32, 2^32, 2^32]", [1 << 32, 1 << 32, 1 << 32], .mustFail), ("flattened", [count], shape.count == 1 ? .either : .mustFail),
                ("extra dimension of 1", shape + [1], .mustFail), ("\"64\" (a string)", "64", .mustFail), ("[1.5]", [1.5], .mustFail),
                ("first dimension +1", [shape[0] + 1] + shape.dropFirst(), .mustFail),
            ]
            if shape.count == 2 {
                shapes.append(("transposed", [shape[1], shape[0]], shape[0] == shape[1] ? .either : .mustFail))
            }
            for (label, value, expectation) in shapes {
                headerChange("safetensors.shape", "shape \(shape) -> \(label)", expectation) { $0.setEntry(tensor, field: "shape", value) }
            }
            let isLast = tensor == lastByData
            let offsets: [(String, Any, CheckpointMutant.Expectation)] = [
                ("[0, 0]", [0, 0], .mustFail), ("reversed", [range.upperBound, range.lowerBound], .mustFail),
                ("end + \(width)", [range.lowerBound, range.upperBound + width], .mustFail),
                ("shifted by \(width)", [range.lowerBound + width, range.upperBound + width], isLast ? .mustFail : .either),
                ("shifted by 1 (misaligned)", [range.lowerBound + 1, range.upperBound + 1], isLast ? .mustFail : .either),
                ("at 2^62", [1 << 62, (1 << 62) + range.count], .mustFail), ("negative", [-width, range.count - width], .mustFail),
                ("end 2^64-1", [range.lowerBound, UInt64.max], .mustFail), ("three numbers", [range.lowerBound, range.upperBound, 0], .mustFail),
                ("missing", NSNull(), .mustFail), ("end past the file", [range.lowerBound, size], .mustFail),
            ]
            for (label, value, expectation) in offsets {
                headerChange("safetensors.offsets", "data_offsets \(range) -> \(label)", expectation) {
                    if value is NSNull { $0.setEntry(tensor, field: "data_offsets", nil) } else { $0.setEntry(tensor, field: "data_offsets", value) }
                }
            }
            headerChange("safetensors.entry", "removed from the header", .mustFail) { $0.header.removeValue(forKey: tensor) }
            headerChange("safetensors.entry", "entry not an object", .mustFail) { $0.header[tensor] = "x" }

            // Non-finite weights: the first and the last element.
            guard ["F32", "F16", "BF16"].contains(dtype), range.count >= width else { continue }
            let specials: [(String, [UInt8])] =
                switch dtype {
                case "F32": [("NaN", LittleEndian.bytes(Float.nan.bitPattern)), ("+Inf", LittleEndian.bytes(Float.infinity.bitPattern)), ("-Inf", LittleEndian.bytes((-Float.infinity).bitPattern))]
                case "F16": [("NaN", LittleEndian.bytes(UInt16(0x7E00))), ("+Inf", LittleEndian.bytes(UInt16(0x7C00))), ("-Inf", LittleEndian.bytes(UInt16(0xFC00)))]
                default: [("NaN", LittleEndian.bytes(UInt16(0x7FC0))), ("+Inf", LittleEndian.bytes(UInt16(0x7F80))), ("-Inf", LittleEndian.bytes(UInt16(0xFF80)))]
                }
            for (label, pattern) in specials {
                for (position, at) in [("first", range.lowerBound), ("last", range.upperBound - width)] {
                    add("weights.non-finite", "\(tensor) \(position) element = \(label)", .mustFail,
                        mentions: [tensor, "nan", "inf", "finite"], tensorNamesCount: false) {
                        var bytes = weights.original
                        bytes.replaceSubrange((headerEnd + at)..<(headerEnd + at + width), with: pattern)
                        return [weightFile: bytes]
                    }
                }
            }
        }

        // Sharded checkpoints: the index.
        if let indexFile = files.first(where: { $0.hasSuffix(".index.json") }) {
            let index = try JSONSerialization.jsonObject(with: Data(read(fixture, indexFile))) as? [String: Any] ?? [:]
            let map = index["weight_map"] as? [String: String] ?? [:]
            let someTensor = map.keys.sorted()[map.count / 2]
            func indexWith(_ detail: String, _ expectation: CheckpointMutant.Expectation, mentions: [String], _ change: @escaping (inout [String: Any]) -> Void) {
                add("sharded.index", detail, expectation, mentions: mentions + [indexFile]) {
                    var copy = index
                    change(&copy)
                    return [indexFile: Array((try? JSONSerialization.data(withJSONObject: copy, options: [.sortedKeys])) ?? Data())]
                }
            }
            for target in ["missing.safetensors", "/etc/passwd", "../tiny-llama/model.safetensors", "", "config.json", "x\u{0}.safetensors"] {
                indexWith("\(someTensor) -> \(target.debugDescription)", .mustFail, mentions: [someTensor, target.isEmpty ? someTensor : target]) {
                    var map = $0["weight_map"] as? [String: String] ?? [:]
                    map[someTensor] = target
                    $0["weight_map"] = map
                }
            }
            indexWith("weight_map empty", .mustFail, mentions: ["weight_map"]) { $0["weight_map"] = [String: String]() }
            indexWith("weight_map missing", .mustFail, mentions: ["weight_map"]) { $0.removeValue(forKey: "weight_map") }
            indexWith("weight_map an array", .mustFail, mentions: ["weight_map"]) { $0["weight_map"] = [1, 2] }
            // SeqLens reads every shard's header, so a tensor the index forgot is still found in its shard.
            indexWith("\(someTensor) removed", .either, mentions: [someTensor]) {
                var map = $0["weight_map"] as? [String: String] ?? [:]
                map.removeValue(forKey: someTensor)
                $0["weight_map"] = map
            }
            add("sharded.index", "index not JSON", .mustFail, mentions: [indexFile]) { [indexFile: Array("{\"weight_map\": ".utf8)] }
            for shard in weightFiles {
                add("sharded.shard", "\(shard) removed", .mustFail, mentions: [shard]) { [shard: nil] }
            }
        }

        // Tokenizer files.
        let tokenizerBytes = try read(fixture, "tokenizer.json")
        let tokenizer = try JSONSerialization.jsonObject(with: Data(tokenizerBytes)) as? [String: Any] ?? [:]
        func tokenizerWith(_ detail: String, _ expectation: CheckpointMutant.Expectation, mentions: [String], _ change: @escaping (inout [String: Any]) -> Void) {
            add("tokenizer", detail, expectation, mentions: mentions + ["tokenizer.json"], tensorNamesCount: false) {
                var copy = tokenizer
                change(&copy)
                return ["tokenizer.json": Array((try? JSONSerialization.data(withJSONObject: copy, options: [.sortedKeys])) ?? Data())]
            }
        }
        func vocabularyChange(_ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
            { root in
                var model = root["model"] as? [String: Any] ?? [:]
                var vocabulary = model["vocab"] as? [String: Any] ?? [:]
                change(&vocabulary)
                model["vocab"] = vocabulary
                root["model"] = model
            }
        }
        tokenizerWith("vocab id 10^9", .mustFail, mentions: ["vocab", "1000000000"], vocabularyChange { $0["H"] = 1_000_000_000 })
        tokenizerWith("vocab id -1", .mustFail, mentions: ["vocab", "-1"], vocabularyChange { $0["H"] = -1 })
        tokenizerWith("vocab id duplicated", .either, mentions: ["vocab"], vocabularyChange { $0["H"] = 41 })
        tokenizerWith("vocab id a string", .mustFail, mentions: ["vocab"], vocabularyChange { $0["H"] = "40" })
        tokenizerWith("vocab empty", .mustFail, mentions: ["vocab"], vocabularyChange { $0.removeAll() })
        tokenizerWith("added token id 10^9", .mustFail, mentions: ["added", "1000000000"]) {
            $0["added_tokens"] = [["id": 1_000_000_000, "content": "<|x|>", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false]]
        }
        tokenizerWith("added token text already in the vocabulary under another id", .either, mentions: ["added", "H"]) {
            var added = $0["added_tokens"] as? [[String: Any]] ?? []
            added.append(["id": 5, "content": "H", "special": false, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false])
            $0["added_tokens"] = added
        }
        tokenizerWith("added token with empty text", .either, mentions: ["added"]) {
            var added = $0["added_tokens"] as? [[String: Any]] ?? []
            added.append(["id": 7, "content": "", "special": true, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false])
            $0["added_tokens"] = added
        }
        tokenizerWith("merge of unknown tokens", .either, mentions: ["merge"]) {
            var model = $0["model"] as? [String: Any] ?? [:]
            model["merges"] = [["\u{2603}", "\u{2604}"]] + (model["merges"] as? [Any] ?? [])
            $0["model"] = model
        }
        tokenizerWith("merge not a pair", .mustFail, mentions: ["merge"]) {
            var model = $0["model"] as? [String: Any] ?? [:]
            model["merges"] = [["a", "b", "c"]] + (model["merges"] as? [Any] ?? [])
            $0["model"] = model
        }
        tokenizerWith("model type Unigram", .mustFail, mentions: ["Unigram", "model"]) {
            var model = $0["model"] as? [String: Any] ?? [:]
            model["type"] = "Unigram"
            $0["model"] = model
        }
        for cut in [0, tokenizerBytes.count / 2, tokenizerBytes.count - 2] {
            add("tokenizer", "tokenizer.json truncated to \(cut) bytes", .mustFail, mentions: ["tokenizer.json"], tensorNamesCount: false) {
                ["tokenizer.json": Array(tokenizerBytes.prefix(cut))]
            }
        }
        if files.contains("vocab.json") {
            add("tokenizer", "tokenizer.json, vocab.json and merges.txt removed", .mustFail, mentions: ["tokenizer"], tensorNamesCount: false) {
                ["tokenizer.json": nil, "vocab.json": nil, "merges.txt": nil]
            }
            add("tokenizer", "tokenizer.json removed, vocab.json garbage", .mustFail, mentions: ["vocab.json"], tensorNamesCount: false) {
                ["tokenizer.json": nil, "vocab.json": Array("{\"a\": [".utf8)]
            }
        }
        add("generation-config", "generation_config.json garbage", .either, mentions: ["generation_config.json"], tensorNamesCount: false) {
            ["generation_config.json": Array("{\"eos_token_id\": ".utf8)]
        }
        add("generation-config", "generation_config.json eos_token_id 10^9, max_new_tokens -1", .either,
            mentions: ["generation_config.json", "eos_token_id", "max_new_tokens"], tensorNamesCount: false) {
            ["generation_config.json": Array("{\"eos_token_id\": 1000000000, \"max_new_tokens\": -1, \"top_k\": -5}".utf8)]
        }
        return mutants
    }

    // MARK: - GGUF

    static func ggufMutants(random: inout SeededGenerator) throws -> [CheckpointMutant] {
        let base = try GGUFTestFile(bytes: read(".", ggufFixture))
        let bytes = base.original
        var mutants: [CheckpointMutant] = []
        func add(_ kind: String, _ detail: String, _ expectation: CheckpointMutant.Expectation, mentions: [String],
                 tensorNamesCount: Bool = true, _ make: @escaping () -> [UInt8]) {
            mutants.append(CheckpointMutant(
                fixture: ggufFixture, kind: kind, detail: detail, expectation: expectation, mentions: mentions,
                tensorNamesCount: tensorNamesCount, files: { ["model.gguf": make()] }))
        }
        func patched<T: FixedWidthInteger>(_ offset: Int, _ value: T) -> () -> [UInt8] {
            {
                var copy = bytes
                LittleEndian.patch(&copy, at: offset, value)
                return copy
            }
        }
        func rewritten(_ change: @escaping (inout GGUFTestFile) -> Void) -> () -> [UInt8] {
            {
                var copy = base
                change(&copy)
                return copy.serialized()
            }
        }
        let end = base.endOfTensorData
        let structural = ["end of file", "truncat", "offset", "bytes", "count", "length", "size", "header", "magic", "version", "metadata", "type"]
        let ggufSynonyms: [String: [String]] = [
            "head_count": ["attention heads"], "head_count_kv": ["key/value heads", "kv heads"], "key_length": ["head dimension"],
            "block_count": ["layers"], "embedding_length": ["hidden size", "embedding"], "feed_forward_length": ["intermediate size"],
            "context_length": ["positions", "context"], "vocab_size": ["vocabulary"], "tokenizer.ggml.model": ["tokenizer model"],
            "bos_token_id": ["bos token id"], "eos_token_id": ["eos token id"], "padding_token_id": ["padding token id"],
            "tokenizer.ggml.tokens": ["tokens", "vocabulary"], "token_type": ["token types"], "tokenizer.ggml.merges": ["merge"],
        ]

        // Truncations: the header, every metadata key and value, every tensor info, the data.
        var cuts: Set<Int> = [0, 3, 4, 7, 8, 12, 16, 20, 23, 24, base.dataOffset, base.dataOffset + 1, bytes.count - 1]
        for entry in base.keyValues { cuts.formUnion([entry.keyOffset + 4, entry.typeOffset, entry.valueOffset + 1]) }
        for tensor in base.tensors.prefix(6) { cuts.formUnion([tensor.nameOffset + 3, tensor.dimensionsOffset + 5, tensor.offsetOffset]) }
        for step in 1...20 { cuts.insert(base.dataOffset + (end - base.dataOffset) * step / 21) }
        for cut in cuts.sorted() where cut < end {
            add("gguf.truncate", "truncated to \(cut) of \(bytes.count) bytes", .mustFail, mentions: structural) { Array(bytes.prefix(cut)) }
        }
        add("gguf.trailing", "100 garbage bytes appended", .either, mentions: structural) { bytes + [UInt8](repeating: 0xCD, count: 100) }
        // Header fields.
        for (label, value) in [("0", UInt32(0)), ("1", 1), ("4", 4), ("0xFFFFFFFF", .max)] {
            add("gguf.header", "version = \(label)", .mustFail, mentions: ["version"], tensorNamesCount: false, patched(4, value))
        }
        add("gguf.header", "magic GGUF -> GGUG", .mustFail, mentions: ["magic"], tensorNamesCount: false, patched(0, UInt32(0x4755_4747)))
        let tensorCount = UInt64(base.tensors.count), keyValueCount = UInt64(base.keyValues.count)
        for (label, value, expectation) in [
            ("0", UInt64(0), CheckpointMutant.Expectation.mustFail), ("count-1", tensorCount - 1, .either), ("count+1", tensorCount + 1, .mustFail),
            ("2^32", 1 << 32, .mustFail), ("2^63", 1 << 63, .mustFail), ("UInt64.max", .max, .mustFail),
        ] {
            add("gguf.header", "tensor count = \(label)", expectation, mentions: ["tensor count", "tensor"] + structural, patched(8, value))
        }
        for (label, value) in [("0", UInt64(0)), ("count-1", keyValueCount - 1), ("count+1", keyValueCount + 1), ("2^32", 1 << 32), ("2^63", 1 << 63), ("UInt64.max", .max)] {
            add("gguf.header", "metadata count = \(label)", .mustFail, mentions: ["metadata", "general.architecture", "shape"] + structural, patched(16, value))
        }
        // Metadata lengths and types, patched in place.
        for entry in base.keyValues {
            let keyMentions = [entry.key] + structural
            if let count = entry.arrayCount {
                for (label, value) in [("0", UInt64(0)), ("count-1", UInt64(count - 1)), ("count+1", UInt64(count + 1)), ("2^32", 1 << 32), ("2^62", 1 << 62), ("UInt64.max", .max)] {
                    add("gguf.kv.array-count", "\(entry.key) element count = \(label)", .mustFail, mentions: keyMentions, patched(entry.valueOffset + 4, value))
                }
                add("gguf.kv.type", "\(entry.key) element type = 99", .mustFail, mentions: keyMentions, patched(entry.valueOffset, UInt32(99)))
            }
        }
        let stringEntries = base.keyValues.filter { $0.value.type == GGUFTestFile.ValueType.string.rawValue }
        let keyLengthEntries = (base.keyValues.prefix(4) + stringEntries).reduce(into: [GGUFTestFile.KeyValue]()) { list, entry in
            if !list.contains(where: { $0.key == entry.key }) { list.append(entry) }
        }
        for entry in keyLengthEntries {
            let keyLength = UInt64(entry.key.utf8.count)
            for (label, value) in [("0", UInt64(0)), ("+1", keyLength + 1), ("2^63", 1 << 63)] {
                add("gguf.kv.key-length", "\(entry.key) key length = \(label)", .mustFail, mentions: [entry.key] + structural, patched(entry.keyOffset, value))
            }
        }
        for entry in stringEntries {
            let length = LittleEndian.read(entry.value.bytes, at: 0, as: UInt64.self)
            for (label, value) in [("+1", length + 1), ("-1", length - 1), ("2^63", 1 << 63), ("UInt64.max", .max)] {
                add("gguf.kv.string-length", "\(entry.key) value length = \(label)", .mustFail, mentions: [entry.key] + structural, patched(entry.valueOffset, value))
            }
        }
        for entry in base.keyValues where entry.value.type == GGUFTestFile.ValueType.uint32.rawValue {
            add("gguf.kv.type", "\(entry.key) type uint32 -> 99", .mustFail, mentions: [entry.key] + structural, patched(entry.typeOffset, UInt32(99)))
            add("gguf.kv.type", "\(entry.key) type uint32 -> uint64 (reads 4 bytes too many)", .mustFail,
                mentions: [entry.key] + structural, patched(entry.typeOffset, GGUFTestFile.ValueType.uint64.rawValue))
            add("gguf.kv.type", "\(entry.key) type uint32 -> string", .mustFail,
                mentions: [entry.key] + structural, patched(entry.typeOffset, GGUFTestFile.ValueType.string.rawValue))
        }

        // Metadata values (file rewritten, so it stays well-formed).
        typealias V = GGUFTestFile.Value
        let architecture = "llama"
        let dimensionValues: [(String, String, [(String, V?, CheckpointMutant.Expectation)])] = [
            ("\(architecture).block_count", "block_count", [
                ("0", .uint32(0), .mustFail), ("3", .uint32(3), .mustFail), ("10^9", .uint32(1_000_000_000), .mustFail),
                ("2^31", .uint32(1 << 31), .mustFail), ("2^32-1", .uint32(.max), .mustFail), ("-1 (int32)", .int32(-1), .mustFail),
                ("-1 (int64)", .int64(-1), .mustFail), ("2^62 (uint64)", .uint64(1 << 62), .mustFail), ("missing", nil, .mustFail),
                ("\"2\" (a string)", .string("2"), .mustFail), ("1.0 (float32)", .float32(1), .mustFail),
            ]),
            ("\(architecture).attention.head_count", "head_count", [
                ("0", .uint32(0), .mustFail), ("1", .uint32(1), .mustFail), ("3", .uint32(3), .mustFail), ("8", .uint32(8), .mustFail),
                ("2^31", .uint32(1 << 31), .mustFail), ("-1 (int32)", .int32(-1), .mustFail), ("2^62 (uint64)", .uint64(1 << 62), .mustFail),
                ("missing", nil, .mustFail),
            ]),
            ("\(architecture).attention.head_count_kv", "head_count_kv", [
                ("0", .uint32(0), .mustFail), ("1", .uint32(1), .mustFail), ("3", .uint32(3), .mustFail), ("4", .uint32(4), .mustFail),
                ("-1 (int32)", .int32(-1), .mustFail), ("2^62 (uint64)", .uint64(1 << 62), .mustFail), ("missing", nil, .mustFail),
            ]),
            ("\(architecture).embedding_length", "embedding_length", [
                ("0", .uint32(0), .mustFail), ("63", .uint32(63), .mustFail), ("65", .uint32(65), .mustFail), ("128", .uint32(128), .mustFail),
                ("-1 (int32)", .int32(-1), .mustFail), ("2^62 (uint64)", .uint64(1 << 62), .mustFail), ("missing", nil, .mustFail),
            ]),
            ("\(architecture).feed_forward_length", "feed_forward_length", [
                ("0", .uint32(0), .mustFail), ("127", .uint32(127), .mustFail), ("256", .uint32(256), .mustFail),
                ("-1 (int32)", .int32(-1), .mustFail), ("2^62 (uint64)", .uint64(1 << 62), .mustFail),
            ]),
            ("\(architecture).context_length", "context_length", [
                ("0", .uint32(0), .mustFail), ("-1 (int32)", .int32(-1), .mustFail), ("-128 (int64)", .int64(-128), .mustFail),
                ("2^32-1", .uint32(.max), .either), ("2^62 (uint64)", .uint64(1 << 62), .either), ("1", .uint32(1), .either), ("missing", nil, .either),
            ]),
            ("\(architecture).attention.key_length", "key_length", [
                ("-16 (int32)", .int32(-16), .mustFail), ("0", .uint32(0), .mustFail), ("8", .uint32(8), .mustFail),
                ("15", .uint32(15), .mustFail), ("2^31", .uint32(1 << 31), .mustFail),
            ]),
            ("\(architecture).vocab_size", "vocab_size", [
                ("0", .uint32(0), .mustFail), ("511", .uint32(511), .mustFail), ("513", .uint32(513), .mustFail),
                ("2^31", .uint32(1 << 31), .mustFail), ("-1 (int32)", .int32(-1), .mustFail),
            ]),
            ("\(architecture).attention.layer_norm_rms_epsilon", "layer_norm_rms_epsilon", [
                ("NaN", .float32(.nan), .either), ("-1", .float32(-1), .either), ("+Inf", .float32(.infinity), .either),
            ]),
            ("\(architecture).rope.freq_base", "freq_base", [
                ("0", .float32(0), .either), ("-1", .float32(-1), .either), ("NaN", .float32(.nan), .either),
            ]),
            ("general.architecture", "architecture", [
                ("\"gpt2\"", .string("gpt2"), .mustFail), ("\"bogus\"", .string("bogus"), .mustFail), ("\"\"", .string(""), .mustFail),
                ("7 (uint32)", .uint32(7), .mustFail), ("missing", nil, .mustFail),
            ]),
            ("general.alignment", "alignment", [
                ("0", .uint32(0), .mustFail), ("3", .uint32(3), .mustFail), ("2^31", .uint32(1 << 31), .mustFail),
                ("32 (uint64)", .uint64(32), .mustFail), ("16", .uint32(16), .either),
            ]),
            ("tokenizer.ggml.model", "tokenizer.ggml.model", [
                ("\"llama\"", .string("llama"), .mustFail), ("missing", nil, .mustFail), ("1 (uint32)", .uint32(1), .mustFail),
            ]),
            ("tokenizer.ggml.pre", "tokenizer.ggml.pre", [("\"bogus\"", .string("bogus"), .mustFail)]),
            ("tokenizer.ggml.bos_token_id", "bos_token_id", [
                ("512", .uint32(512), .mustFail), ("2^31", .uint32(1 << 31), .mustFail), ("-1 (int32)", .int32(-1), .mustFail),
                ("2^62 (uint64)", .uint64(1 << 62), .mustFail),
            ]),
            ("tokenizer.ggml.eos_token_id", "eos_token_id", [
                ("512", .uint32(512), .mustFail), ("10^9", .uint32(1_000_000_000), .mustFail), ("-1 (int32)", .int32(-1), .mustFail),
            ]),
            ("tokenizer.ggml.padding_token_id", "padding_token_id", [("512", .uint32(512), .mustFail)]),
            ("tokenizer.ggml.tokens", "tokenizer.ggml.tokens", [
                ("3 tokens", .array(of: .string("a"), count: 3), .mustFail), ("missing", nil, .mustFail),
                ("512 copies of one token", .array(of: .string("a"), count: 512), .mustFail), ("an array of uint32", .array(of: .uint32(1), count: 512), .mustFail),
            ]),
            ("tokenizer.ggml.token_type", "token_type", [
                ("511 types", .array(of: .int32(1), count: 511), .mustFail), ("all control (3)", .array(of: .int32(3), count: 512), .either),
                ("all 99", .array(of: .int32(99), count: 512), .either),
            ]),
            ("tokenizer.ggml.merges", "tokenizer.ggml.merges", [
                ("one merge without a space", .array(of: .string("abc"), count: 1), .mustFail), ("missing", nil, .mustFail),
                ("empty", .array(of: .string(""), count: 0), .either),
            ]),
        ]
        for (key, short, values) in dimensionValues {
            for (label, value, expectation) in values {
                add("gguf.kv.value", "\(key) = \(label)", expectation, mentions: [key, short] + (ggufSynonyms[short] ?? []),
                    rewritten { file in if let value { file.set(key, value) } else { file.remove(key) } })
            }
        }
        add("gguf.kv.value", "duplicate key general.architecture", .mustFail, mentions: ["general.architecture", "duplicate"], tensorNamesCount: false,
            rewritten { file in file.keyValues.append(.init(key: "general.architecture", value: .string("llama"))) })

        // Tensor infos, patched in place.
        for (index, tensor) in base.tensors.enumerated() {
            // A lying count or length misaligns the rest of the directory: naming the place that broke is naming the problem.
            let mentions = [tensor.name, "shape", "dimension"] + structural
            let isLast = index == base.tensors.indices.last
            for (label, value) in [("0", UInt32(0)), ("3", UInt32(3)), ("5", UInt32(5)), ("0xFFFFFFFF", UInt32.max)] {
                add("gguf.tensor.dims", "\(tensor.name) dimension count = \(label)", .mustFail, mentions: mentions,
                    patched(tensor.dimensionCountOffset, value))
            }
            let inner = tensor.dimensions[0]
            for (label, value) in [("0", UInt64(0)), ("1", 1), ("+1", inner + 1), ("2x", inner * 2), ("2^32", 1 << 32), ("2^62", 1 << 62), ("UInt64.max", .max)]
            where value != inner {
                add("gguf.tensor.dims", "\(tensor.name) dimension 0 \(inner) -> \(label)", .mustFail, mentions: mentions,
                    patched(tensor.dimensionsOffset, value))
            }
            if tensor.dimensions.count == 2 {
                add("gguf.tensor.dims", "\(tensor.name) dimension 1 -> 2^63", .mustFail, mentions: mentions, patched(tensor.dimensionsOffset + 8, UInt64(1) << 63))
            }
            // Types: another with the same shape reinterprets the bytes (smaller types fit; wider ones may not).
            for (label, value, expectation) in [
                ("F16 (1)", UInt32(1), CheckpointMutant.Expectation.either), ("Q4_0 (2)", 2, .either), ("Q8_0 (8)", 8, .either),
                ("BF16 (30)", 30, .either), ("F64 (28)", 28, isLast ? .mustFail : .either), ("99", 99, .mustFail), ("0xFFFFFFFF", .max, .mustFail),
            ] {
                add("gguf.tensor.type", "\(tensor.name) type F32 -> \(label)", expectation, mentions: mentions, patched(tensor.typeOffset, value))
            }
            let offset = tensor.offset
            for (label, value, expectation) in [
                ("+1 (misaligned)", offset + 1, CheckpointMutant.Expectation.mustFail), ("+32", offset + 32, isLast ? .mustFail : .either),
                ("2^62", UInt64(1) << 62, .mustFail), ("UInt64.max", .max, .mustFail), ("end of data", UInt64(end - base.dataOffset), .mustFail),
            ] {
                add("gguf.tensor.offset", "\(tensor.name) offset \(offset) -> \(label)", expectation, mentions: mentions, patched(tensor.offsetOffset, value))
            }
            if index % 4 == 0 {
                // Without output.weight a GGUF's head is tied to its embeddings (llama.cpp's rule).
                let renamedExpectation: CheckpointMutant.Expectation = tensor.name == "output.weight" ? .either : .mustFail
                add("gguf.tensor.name", "\(tensor.name) renamed (last byte)", renamedExpectation, mentions: mentions + ["missing"]) {
                    var copy = bytes
                    copy[tensor.dimensionCountOffset - 1] ^= 0x01
                    return copy
                }
                add("gguf.tensor.name", "\(tensor.name) name not UTF-8", .mustFail, mentions: mentions + ["UTF-8", "name"]) {
                    var copy = bytes
                    copy[tensor.nameOffset + 8] = 0xFF
                    return copy
                }
                add("gguf.tensor.name", "\(tensor.name) name length 2^63", .mustFail, mentions: mentions + structural,
                    patched(tensor.nameOffset, UInt64(1) << 63))
            }
        }
        if base.tensors.count >= 2 {
            let (first, second) = (base.tensors[0].name, base.tensors[1].name)
            add("gguf.tensor.name", "\(second) renamed to \(first) (duplicate)", .mustFail, mentions: [first, "duplicate"],
                rewritten { file in file.tensors[1].name = first })
        }
        // Non-finite weights.
        var chosen = [0, base.tensors.count - 1, 1, Int(random.next() % UInt64(base.tensors.count))]
        chosen = chosen.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        for index in chosen {
            let tensor = base.tensors[index]
            let start = base.dataOffset + Int(tensor.offset)
            for (label, value) in [("NaN", Float.nan), ("+Inf", .infinity), ("-Inf", -.infinity)] {
                for (position, at) in [("first", start), ("last", start + (tensor.elementCount - 1) * 4)] {
                    add("weights.non-finite", "\(tensor.name) \(position) element = \(label)", .mustFail,
                        mentions: [tensor.name, "nan", "inf", "finite"], tensorNamesCount: false, patched(at, value.bitPattern))
                }
            }
        }
        return mutants
    }

    /// Names a message may use for the fixture's tensors (file names and transformers names).
    static func tensorNames(of fixture: String) -> [String] {
        if fixture.hasSuffix(".gguf") {
            return ((try? GGUFTestFile(bytes: read(".", fixture)).tensors.map(\.name)) ?? []) + ["model.", "lm_head", "blk.", "token_embd", "output.weight", "output_norm"]
        }
        let files = (try? fixtureFiles(fixture)) ?? []
        var names: [String] = []
        for file in files where file.hasSuffix(".safetensors") {
            if let weights = try? SafetensorsTestFile(bytes: read(fixture, file)) { names += weights.tensorNames }
        }
        // GPT-2's names are also written without "transformer.".
        return names + names.map { $0.replacingOccurrences(of: "transformer.", with: "") }
            + ["transformer.", "model.", "lm_head", "wte.", "wpe.", "h.0.", "h.1.", "ln_f."]
    }
}
