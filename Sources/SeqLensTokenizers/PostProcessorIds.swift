import Foundation

/// What an HF `tokenizer.json` post-processor (`TemplateProcessing`, `RobertaProcessing`,
/// `BertProcessing`, `ByteLevel`, or a `Sequence` of them) adds around a single sequence.
enum PostProcessorIds {
    /// The ids the post-processor puts before and after a single sequence.
    static func read(_ fields: JSONFields?, path: String) throws -> ([Int], [Int]) {
        guard let fields else { return ([], []) }
        switch try fields.string("type") {
        case "ByteLevel":
            return ([], [])
        case "Sequence":
            var prefix: [Int] = []
            var suffix: [Int] = []
            for processor in try fields.objects("processors") {
                let (before, after) = try read(processor, path: path)
                prefix = before + prefix
                suffix += after
            }
            return (prefix, suffix)
        case "RobertaProcessing", "BertProcessing":
            func id(_ key: String) throws -> Int {
                let pair = try fields.array(key)
                guard pair.count == 2, let number = pair[1] as? NSNumber, let id = Int(exactly: number.doubleValue)
                else { throw fields.malformed(key, "must be [token, id]") }
                return id
            }
            return ([try id("cls")], [try id("sep")])
        case "TemplateProcessing":
            let specials = try fields.object("special_tokens")
            var prefix: [Int] = []
            var suffix: [Int] = []
            var seenSequence = false
            for (index, piece) in try fields.array("single").enumerated() {
                let item = JSONFields(
                    path: path, prefix: fields.name("single[\(index)]"), object: piece as? [String: Any] ?? [:])
                if !item.isNull("Sequence") {
                    seenSequence = true
                } else if let special = try item.optionalObject("SpecialToken") {
                    let name = try special.string("id")
                    let entry = try specials.object(name)
                    let ids = try entry.array("ids").map { value -> Int in
                        guard let number = value as? NSNumber, let id = Int(exactly: number.doubleValue) else {
                            throw entry.malformed("ids", "must hold integer ids")
                        }
                        return id
                    }
                    if seenSequence { suffix += ids } else { prefix += ids }
                } else {
                    throw item.malformed("", "must hold a Sequence or a SpecialToken")
                }
            }
            return (prefix, suffix)
        case let other:
            throw TokenizerError.unsupported(path: path, what: "a \(other) post-processor")
        }
    }
}
