import Foundation
import SeqLensModels

/// A model without weights for testing the daemon (framing, scheduling, cancellation, budget)
/// without the engine: loaded from paths like `synthetic:name?memory=1000&delayMs=20`, and only
/// when the daemon runs with `SEQLENS_SYNTHETIC_MODELS=1`.
///
/// Tokens are UTF-8 bytes (ids 0...255) plus BOS 256 and EOS 257. Generation continues the
/// alphabet from the last letter of the prompt ("abc" -> "defg..."), each token with probability 0.5
/// and alternatives the following letters. Options: `memory` (bytes), `delayMs` (per token),
/// `maxPositions`, `eosAfter` (tokens before EOS), `fail` (load throws an invalid configuration).
public final class SyntheticModel: ResidentModel {
    public static let scheme = "synthetic:"
    public static let bos = 256
    public static let eos = 257

    public let summary: ModelSummary
    let delay: Double
    let eosAfter: Int?

    /// - Returns: nil when `specification` does not start with `synthetic:`.
    /// - Throws: `ModelError.invalidConfiguration` for a bad option or `fail=1`.
    public init?(specification: String) throws {
        guard specification.hasPrefix(Self.scheme) else { return nil }
        let body = specification.dropFirst(Self.scheme.count)
        let parts = body.split(separator: "?", maxSplits: 1)
        var options: [String: Int] = [:]
        for pair in parts.count > 1 ? parts[1].split(separator: "&") : [] {
            let keyValue = pair.split(separator: "=", maxSplits: 1)
            guard keyValue.count == 2, let value = Int(keyValue[1]) else {
                throw ModelError.invalidConfiguration("synthetic model option '\(pair)' is not name=integer")
            }
            options[String(keyValue[0])] = value
        }
        if options["fail"] == 1 { throw ModelError.invalidConfiguration("synthetic model asked to fail loading") }
        delay = Double(options["delayMs"] ?? 0) / 1000
        eosAfter = options["eosAfter"]
        summary = ModelSummary(
            architecture: "synthetic", layers: 2, heads: 4, keyValueHeads: 2, hiddenSize: 8, vocabularySize: 258,
            maxPositions: options["maxPositions"] ?? 1024, memoryBytes: options["memory"] ?? 1 << 20,
            specialTokens: ["bos": Self.bos, "eos": Self.eos], source: specification)
    }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        (addSpecialTokens ? [Self.bos] : []) + text.utf8.map(Int.init)
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        var text = ""
        for id in ids {
            if let byte = UInt8(exactly: id) {
                bytes.append(byte)
                continue
            }
            text += String(decoding: bytes, as: UTF8.self)
            bytes = []
            if !skipSpecialTokens { text += id == Self.bos ? "<s>" : "</s>" }
        }
        return text + String(decoding: bytes, as: UTF8.self)
    }

    public func tokenStrings(_ ids: [Int]) -> [String] {
        ids.map { id in
            switch id {
            case Self.bos: "<s>"
            case Self.eos: "</s>"
            case 0x21..<0x7F: String(UnicodeScalar(UInt8(id)))
            case 0x20: "Ġ"
            default: "<0x" + String(id, radix: 16, uppercase: true) + ">"
            }
        }
    }

    public func continuation(
        of prompt: [Int], options: GenerationOptions, onToken: (GeneratedToken, Int) throws -> Void
    ) throws -> GenerationOutcome {
        let letterA = Int(UInt8(ascii: "a"))
        let lastLetter = prompt.last { (letterA..<letterA + 26).contains($0) }
        var offset = lastLetter.map { $0 - letterA + 1 } ?? 0
        if options.doSample { offset += Int(options.seed % 26) }
        var tokens: [GeneratedToken] = []
        var stopReason = StopReason.maxNewTokens
        for index in 0..<options.maxNewTokens {
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            let isEnd = eosAfter == index
            let id = isEnd ? Self.eos : letterA + (offset + index) % 26
            let alternatives = (0..<options.returnTopK).map { rank in
                let alternative = rank == 0 ? id : letterA + (offset + index + rank) % 26
                return TokenProbability(
                    id: alternative, token: tokenStrings([alternative])[0], probability: 0.5 / Float(1 << rank))
            }
            let token = GeneratedToken(id: id, token: tokenStrings([id])[0], probability: 0.5, alternatives: alternatives)
            tokens.append(token)
            try onToken(token, index)
            if isEnd && options.stopAtEOS {
                stopReason = .endOfSequence
                break
            }
        }
        return GenerationOutcome(
            promptIds: prompt, tokens: tokens, text: decode(tokens.map(\.id), skipSpecialTokens: true),
            stopReason: stopReason)
    }
}
