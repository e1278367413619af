import Foundation
import SeqLensFiles

/// Inseq's JSON format (inseq/utils/serialization.py, json_advanced_dumps as called by
/// `FeatureAttributionOutput.save`): Python `json.dumps(indent=4, sort_keys=True, allow_nan=True)`;
/// each object is {"__instance_type__": [module, class], "attributes": {...}} unless
/// `use_primitives`; fields starting with "_" are not saved; tensors are base64 safetensors blobs.
extension FeatureAttributionOutput {
    private static let attributionModule = "inseq.data.attribution"
    private static let typingModule = "inseq.utils.typing"

    /// The file text that Inseq's `save(path, use_primitives=..., scores_precision=...)` writes.
    ///
    /// - Parameters:
    ///   - usePrimitives: plain dictionaries without class markers; Inseq cannot load those.
    ///   - scoresPrecision: the dtype tensors are stored in.
    public func inseqJSON(usePrimitives: Bool = false, scoresPrecision: ScorePrecision = .float32) -> String {
        func instance(_ module: String, _ name: String, _ attributes: [String: JSONValue]) -> JSONValue {
            if usePrimitives { return .object(attributes) }
            return .object([
                "__instance_type__": .array([.string(module), .string(name)]),
                "attributes": .object(attributes),
            ])
        }
        func tensor(_ value: AttributionTensor?) -> JSONValue {
            value.map { .string(SafetensorsBlob.encode($0, precision: scoresPrecision)) } ?? .null
        }
        func tokens(_ list: [TokenWithId]) -> JSONValue {
            .array(list.map { instance(Self.typingModule, "TokenWithId", ["id": .int($0.id), "token": .string($0.token)]) })
        }
        let sequences = sequenceAttributions.map { sequence in
            instance(
                Self.attributionModule, sequence.kind.rawValue,
                [
                    "attr_pos_end": .int(sequence.attrPosEnd),
                    "attr_pos_start": .int(sequence.attrPosStart),
                    "sequence_scores": .object(sequence.sequenceScores.mapValues(tensor)),
                    "source": tokens(sequence.source),
                    "source_attributions": tensor(sequence.sourceAttributions),
                    "step_scores": .object(sequence.stepScores.mapValues(tensor)),
                    "target": tokens(sequence.target),
                    "target_attributions": tensor(sequence.targetAttributions),
                ])
        }
        // Inseq converts only the sequence outputs to safetensors blobs; step outputs keep
        // json_tricks' array form, in float32 whatever the scores precision.
        func array(_ value: AttributionTensor?) -> JSONValue {
            value.map { NumpyArrayJSON.encode($0, usePrimitives: usePrimitives) } ?? .null
        }
        let steps = stepAttributions.map { list in
            JSONValue.array(list.map { step in
                instance(
                    Self.attributionModule, step.kind.stepClassName,
                    [
                        "prefix": .array(step.prefix.map(tokens)),
                        "sequence_scores": .object(step.sequenceScores.mapValues(array)),
                        "source": step.source.map { .array($0.map(tokens)) } ?? .null,
                        "source_attributions": array(step.sourceAttributions),
                        "step_scores": .object(step.stepScores.mapValues(array)),
                        "target": .array(step.target.map(tokens)),
                        "target_attributions": array(step.targetAttributions),
                    ])
            })
        }
        let root = instance(
            Self.attributionModule, "FeatureAttributionOutput",
            [
                "info": .object(info),
                "sequence_attributions": .array(sequences),
                "step_attributions": steps ?? .null,
            ])
        return PythonJSONWriter(indent: 4).string(root)
    }

    /// Saves as Inseq's `FeatureAttributionOutput.save` does.
    ///
    /// - Parameters:
    ///   - path: the file to write (e.g. "out.json"); a relative path is taken relative to the
    ///     current directory (the daemon checks its paths itself and passes an `OutputFile`).
    ///   - overwrite: replace an existing file instead of throwing `fileExists`.
    ///   - usePrimitives: see `inseqJSON(usePrimitives:scoresPrecision:)`.
    ///   - splitSequences: one file per sequence, named "<path before .json>_<index>.json", with
    ///     info's input_texts and generated_texts cut to that sequence.
    ///   - scoresPrecision: float32 (exact) or float16.
    /// - Throws: `AttributionOutputError.fileExists` or `.fileAccess`.
    public func save(
        to path: String, overwrite: Bool = false, usePrimitives: Bool = false, splitSequences: Bool = false,
        scoresPrecision: ScorePrecision = .float32
    ) throws(AttributionOutputError) {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        try save(
            to: OutputFile(absolute, overwrite: overwrite), overwrite: overwrite, usePrimitives: usePrimitives,
            splitSequences: splitSequences, scoresPrecision: scoresPrecision)
    }

    /// Saves to a checked destination (see `save(to:overwrite:...)` for the parameters).
    public func save(
        to file: OutputFile, overwrite: Bool = false, usePrimitives: Bool = false, splitSequences: Bool = false,
        scoresPrecision: ScorePrecision = .float32
    ) throws(AttributionOutputError) {
        var outputs: [(OutputFile, FeatureAttributionOutput)] = []
        if splitSequences {
            let stem = file.path.components(separatedBy: ".json").first ?? file.path
            for (index, sequence) in sequenceAttributions.enumerated() {
                var single = FeatureAttributionOutput(sequenceAttributions: [sequence], info: info)
                for key in ["input_texts", "generated_texts"] {
                    if let texts = info[key]?.arrayValue, index < texts.count { single.info[key] = .array([texts[index]]) }
                }
                outputs.append((try OutputFile("\(stem)_\(index).json", root: file.root, overwrite: overwrite), single))
            }
        } else {
            outputs.append((file, self))
        }
        for (destination, output) in outputs {
            let text = output.inseqJSON(usePrimitives: usePrimitives, scoresPrecision: scoresPrecision)
            try destination.write(Data(text.utf8), overwrite: overwrite)
        }
    }

    /// Loads a file that Inseq's `save` (or SeqLens's) wrote, with or without class markers.
    ///
    /// - Throws: `AttributionOutputError` naming the file problem or the malformed field.
    public static func load(from path: String) throws(AttributionOutputError) -> FeatureAttributionOutput {
        let data: Data
        do {
            data = try RegularFile.contents(of: path, limit: 1 << 30)
        } catch {
            throw .fileAccess(path: path, reason: error.reason)
        }
        var bytes = [UInt8](data)
        if Gzip.isGzip(bytes) {  // save(compress=True)
            do {
                bytes = try Gzip.decompress(bytes)
            } catch {
                throw .invalidGzip(field: path, reason: error.reason)
            }
        }
        return try load(inseqJSON: bytes)
    }

    /// Parses the text of an Inseq attribution file.
    public static func load(inseqJSON bytes: [UInt8]) throws(AttributionOutputError) -> FeatureAttributionOutput {
        let root = try PythonJSONParser.parse(bytes)
        let (_, attributes) = try unwrapInstance(root, field: "root")
        guard let sequences = attributes["sequence_attributions"]?.arrayValue else {
            throw .unexpectedStructure(field: "sequence_attributions", expected: "a list")
        }
        let info = attributes["info"]?.objectValue ?? [:]
        var stepAttributions: [FeatureAttributionStepOutput]?
        if let steps = attributes["step_attributions"], !steps.isNull {
            guard let list = steps.arrayValue else {
                throw .unexpectedStructure(field: "step_attributions", expected: "a list or null")
            }
            var decodedSteps: [FeatureAttributionStepOutput] = []
            for (index, step) in list.enumerated() {
                decodedSteps.append(try decodeStep(step, field: "step_attributions[\(index)]"))
            }
            stepAttributions = decodedSteps
        }
        var decoded: [FeatureAttributionSequenceOutput] = []
        for (index, sequence) in sequences.enumerated() {
            decoded.append(try decodeSequence(sequence, field: "sequence_attributions[\(index)]"))
        }
        return FeatureAttributionOutput(sequenceAttributions: decoded, stepAttributions: stepAttributions, info: info)
    }

    /// Splits {"__instance_type__": [module, name], "attributes": {...}} (or a plain object).
    private static func unwrapInstance(
        _ value: JSONValue, field: String
    ) throws(AttributionOutputError) -> (className: String?, attributes: [String: JSONValue]) {
        guard let object = value.objectValue else { throw .unexpectedStructure(field: field, expected: "an object") }
        guard let type = object["__instance_type__"] else { return (nil, object) }
        guard let pair = type.arrayValue, pair.count == 2, let name = pair[1].stringValue else {
            throw .unexpectedStructure(field: "\(field).__instance_type__", expected: "[module, class name]")
        }
        return (name, object["attributes"]?.objectValue ?? [:])
    }

    private static func decodeSequence(
        _ value: JSONValue, field: String
    ) throws(AttributionOutputError) -> FeatureAttributionSequenceOutput {
        let (className, attributes) = try unwrapInstance(value, field: field)
        func tokens(_ key: String) throws(AttributionOutputError) -> [TokenWithId] {
            try decodeTokens(attributes[key], field: "\(field).\(key)")
        }
        func tensor(_ key: String) throws(AttributionOutputError) -> AttributionTensor? {
            guard let entry = attributes[key], !entry.isNull else { return nil }
            guard let text = entry.stringValue else {
                throw .unexpectedStructure(field: "\(field).\(key)", expected: "a base64 safetensors string or null")
            }
            return try SafetensorsBlob.decode(text, field: "\(field).\(key)")
        }
        func tensorDictionary(_ key: String) throws(AttributionOutputError) -> [String: AttributionTensor] {
            try decodeMembers(attributes[key], field: "\(field).\(key)") { item, path throws(AttributionOutputError) in
                guard let text = item.stringValue else {
                    throw .unexpectedStructure(field: path, expected: "a base64 safetensors string")
                }
                return try SafetensorsBlob.decode(text, field: path)
            }
        }
        let source = try tokens("source")
        let target = try tokens("target")
        let sourceAttributions = try tensor("source_attributions")
        let targetAttributions = try tensor("target_attributions")
        let kind: SequenceOutputKind
        if let className {
            guard let known = SequenceOutputKind(rawValue: className) else {
                throw .unexpectedStructure(field: "\(field).__instance_type__", expected: "an Inseq sequence output class, not \(className)")
            }
            kind = known
        } else {
            kind = ((sourceAttributions ?? targetAttributions)?.rank ?? 2) > 2 ? .granular : .coarse
        }
        let start = attributes["attr_pos_start"]?.intValue ?? 0
        let end = attributes["attr_pos_end"]?.intValue
        let output = FeatureAttributionSequenceOutput(
            source: source, target: target, sourceAttributions: sourceAttributions,
            targetAttributions: targetAttributions, stepScores: try tensorDictionary("step_scores"),
            sequenceScores: try tensorDictionary("sequence_scores"), attrPosStart: start, attrPosEnd: end, kind: kind)
        try output.validateShapes(field: field)
        return output
    }

    /// A {name: tensor} object (step or sequence scores); absent or null is empty.
    private static func decodeMembers(
        _ entry: JSONValue?, field: String,
        _ decode: (JSONValue, String) throws(AttributionOutputError) -> AttributionTensor
    ) throws(AttributionOutputError) -> [String: AttributionTensor] {
        guard let entry, !entry.isNull else { return [:] }
        guard let members = entry.objectValue else { throw .unexpectedStructure(field: field, expected: "an object of tensors") }
        var out: [String: AttributionTensor] = [:]
        for (name, item) in members { out[name] = try decode(item, "\(field).\(name)") }
        return out
    }

    /// A list of TokenWithId objects.
    private static func decodeTokens(_ value: JSONValue?, field: String) throws(AttributionOutputError) -> [TokenWithId] {
        guard let list = value?.arrayValue else { throw .unexpectedStructure(field: field, expected: "a list of tokens") }
        var out: [TokenWithId] = []
        for (index, item) in list.enumerated() {
            let (_, token) = try unwrapInstance(item, field: "\(field)[\(index)]")
            guard let text = token["token"]?.stringValue, let id = token["id"]?.intValue else {
                throw .unexpectedStructure(field: "\(field)[\(index)]", expected: "{token, id}")
            }
            out.append(TokenWithId(text, id: id))
        }
        return out
    }

    /// One entry of `step_attributions`: tokens batched as lists of lists, json_tricks arrays.
    private static func decodeStep(_ value: JSONValue, field: String) throws(AttributionOutputError) -> FeatureAttributionStepOutput {
        let (className, attributes) = try unwrapInstance(value, field: field)
        func batchedTokens(_ key: String) throws(AttributionOutputError) -> [[TokenWithId]]? {
            guard let entry = attributes[key], !entry.isNull else { return nil }
            guard let list = entry.arrayValue else {
                throw .unexpectedStructure(field: "\(field).\(key)", expected: "a list of token lists")
            }
            var out: [[TokenWithId]] = []
            for (index, sequence) in list.enumerated() {
                out.append(try decodeTokens(sequence, field: "\(field).\(key)[\(index)]"))
            }
            return out
        }
        func array(_ key: String) throws(AttributionOutputError) -> AttributionTensor? {
            guard let entry = attributes[key], !entry.isNull else { return nil }
            return try NumpyArrayJSON.decode(entry, field: "\(field).\(key)")
        }
        func arrays(_ key: String) throws(AttributionOutputError) -> [String: AttributionTensor] {
            try decodeMembers(attributes[key], field: "\(field).\(key)") { item, path throws(AttributionOutputError) in
                try NumpyArrayJSON.decode(item, field: path)
            }
        }
        var kind = SequenceOutputKind.granular
        if let className {
            guard let known = SequenceOutputKind(stepClassName: className) else {
                throw .unexpectedStructure(field: "\(field).__instance_type__", expected: "an Inseq step output class, not \(className)")
            }
            kind = known
        }
        return FeatureAttributionStepOutput(
            source: try batchedTokens("source"), prefix: try batchedTokens("prefix") ?? [],
            target: try batchedTokens("target") ?? [], sourceAttributions: try array("source_attributions"),
            targetAttributions: try array("target_attributions"), stepScores: try arrays("step_scores"),
            sequenceScores: try arrays("sequence_scores"), kind: kind)
    }
}

extension FeatureAttributionSequenceOutput {
    /// Checks what aggregation and rendering rely on, so that a malformed file fails at load.
    func validateShapes(field: String) throws(AttributionOutputError) {
        guard attrPosStart >= 0, attrPosStart <= attrPosEnd else {
            throw .shapeMismatch("\(field): attr_pos_start \(attrPosStart), attr_pos_end \(attrPosEnd)")
        }
        if let tensor = sourceAttributions {
            guard tensor.rank >= 2, tensor.shape[0] == source.count, tensor.shape[1] == stepCount else {
                throw .shapeMismatch("\(field).source_attributions \(tensor.shape) for \(source.count) source tokens and \(stepCount) steps")
            }
        }
        if let tensor = targetAttributions {
            guard tensor.rank >= 2, tensor.shape[0] <= target.count, tensor.shape[1] == stepCount else {
                throw .shapeMismatch("\(field).target_attributions \(tensor.shape) for \(target.count) target tokens and \(stepCount) steps")
            }
        }
        for (name, scores) in stepScores where scores.shape != [stepCount] {
            throw .shapeMismatch("\(field).step_scores.\(name) \(scores.shape) for \(stepCount) steps")
        }
    }
}
