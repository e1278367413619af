/// Byte-level BPE as GPT-2, Llama-3, Qwen2 and SmolLM use it, giving the same ids as HF `tokenizers`.
///
/// Encoding: added tokens are cut out of the text first; the rest is split by the pre-tokenizer's
/// pattern, each piece spelled in GPT-2's byte alphabet, then merged by BPE; the post-processor's
/// tokens (e.g. BOS) surround the result when asked. Decoding concatenates the bytes the tokens
/// spell and reads them as UTF-8.
public struct ByteLevelBPETokenizer: Tokenizer {
    /// Raw vocabulary strings by id ("" for an unused id).
    private let tokens: [String]
    private let idsByToken: [String: Int]
    /// The model's own vocabulary (no added tokens), kept only where `ignoreMerges` needs it.
    private let modelIds: [String: Int]
    private let merger: BytePairMerger
    /// The vocabulary id of each byte's one-character token, or -1 where there is none.
    private let byteTokenIds: [Int32]
    private let unknownId: Int32?
    private let ignoreMerges: Bool
    private let addedTokens: AddedTokenMatcher
    /// Added tokens by id, for decoding (their text is taken as written unless it is byte-spelled).
    private let addedContent: [Int: String]
    private let special: Set<Int>
    private let prefix: [Int]
    private let suffix: [Int]

    /// The split pattern applied before BPE.
    public let preTokenizer: PreTokenizerKind
    public let specialTokens: SpecialTokens
    public var vocabularySize: Int { tokens.count }

    /// Builds a tokenizer from its parts; the loaders (`init(tokenizerJSON:)`, ...) call this.
    /// - Parameters:
    ///   - vocabulary: Byte-level spelled token strings by id.
    ///   - merges: Pairs of token strings, best (lowest rank) first.
    ///   - addedTokens: Tokens matched whole in the text; those not in `vocabulary` are added to it.
    ///   - preTokenizer: The split pattern.
    ///   - specialTokens: The ids with roles.
    ///   - prefix: Ids put before the text when encoding with `addSpecialTokens` (e.g. BOS).
    ///   - suffix: Ids put after it.
    ///   - unknownTokenId: What a byte missing from the vocabulary becomes (dropped when nil).
    ///   - ignoreMerges: Take a whole piece that is itself a token without merging (Llama-3).
    ///   - source: Names the origin in error messages.
    /// - Throws: `TokenizerError` when a merge names a token missing from the vocabulary or ids clash.
    public init(
        vocabulary: [String: Int], merges: [(String, String)], addedTokens: [AddedToken] = [],
        preTokenizer: PreTokenizerKind, specialTokens: SpecialTokens = SpecialTokens(),
        prefix: [Int] = [], suffix: [Int] = [], unknownTokenId: Int? = nil, ignoreMerges: Bool = false,
        source: String = "<memory>"
    ) throws {
        let addedTokens = Self.resolvedAddedTokens(addedTokens, vocabulary: vocabulary)
        var idsByToken = vocabulary
        for token in addedTokens { idsByToken[token.content] = token.id }
        // Ids index an array: a hostile file must not make it huge. Real vocabularies stay far below.
        // Ids also travel as Int32 through the merge loop.
        let idLimit = min(Int(Int32.max), max(1 << 20, 4 * idsByToken.count))
        let maximumId = idsByToken.values.max() ?? -1
        let roleIds = [specialTokens.bos, specialTokens.eos, specialTokens.unk, specialTokens.pad, unknownTokenId]
        let allIds = idsByToken.values + prefix + suffix + roleIds.compactMap { $0 }
        if let bad = allIds.first(where: { $0 < 0 || $0 >= idLimit || $0 > maximumId }) {
            throw TokenizerError.inconsistentVocabulary(
                path: source, reason: "token id \(bad) is out of range for \(idsByToken.count) tokens")
        }
        var tokens = [String](repeating: "", count: maximumId + 1)
        for (token, id) in vocabulary {
            guard tokens[id].isEmpty else {
                throw TokenizerError.inconsistentVocabulary(
                    path: source, reason: "tokens '\(tokens[id])' and '\(token)' share id \(id)")
            }
            tokens[id] = token
        }
        // In range: every resolved id is a value of idsByToken, checked above.
        for token in addedTokens where tokens[token.id].isEmpty { tokens[token.id] = token.content }

        var mergeTable: [UInt64: BytePairMerger.Merge] = [:]
        mergeTable.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            func id(_ token: String) throws -> Int32 {
                guard let id = vocabulary[token] else {
                    throw TokenizerError.unknownMergeToken(path: source, merge: "\(left) \(right)", token: token)
                }
                return Int32(id)
            }
            let key = BytePairMerger.key(try id(left), try id(right))
            let result = try id(left + right)
            // A repeated pair keeps its first (best) rank, as HF's merge map does.
            if mergeTable[key] == nil { mergeTable[key] = .init(rank: UInt32(rank), result: result) }
        }

        self.tokens = tokens
        self.idsByToken = idsByToken
        self.modelIds = ignoreMerges ? vocabulary : [:]
        self.merger = BytePairMerger(merges: mergeTable)
        self.byteTokenIds = ByteLevelAlphabet.stringForByte.map { vocabulary[$0].map(Int32.init) ?? -1 }
        self.unknownId = unknownTokenId.map(Int32.init)
        self.ignoreMerges = ignoreMerges
        self.addedTokens = AddedTokenMatcher(addedTokens)
        self.addedContent = Dictionary(addedTokens.map { ($0.id, $0.content) }, uniquingKeysWith: { first, _ in first })
        self.special = Set(addedTokens.filter(\.special).map(\.id))
        self.prefix = prefix
        self.suffix = suffix
        self.preTokenizer = preTokenizer
        self.specialTokens = specialTokens
    }

    /// The added tokens as HF `AddedVocabulary::add_tokens` (tokenizers 0.21) keeps them, so that
    /// a hostile or careless file cannot give one text two ids or one id two texts:
    /// - an empty content is dropped;
    /// - a content already in `vocabulary` takes the vocabulary's id (HF ignores the written id
    ///   and only warns);
    /// - a content repeated keeps its first id and takes the flags of its last occurrence;
    /// - a new content keeps its written id when no other token holds it, else takes the next id
    ///   past every id so far (HF always numbers new contents that way; files agree with it when
    ///   their ids are consistent).
    static func resolvedAddedTokens(_ tokens: [AddedToken], vocabulary: [String: Int]) -> [AddedToken] {
        var resolved: [AddedToken] = []
        var indexByContent: [String: Int] = [:]
        var usedIds = Set(vocabulary.values)
        var nextId = (vocabulary.values.max() ?? -1) + 1
        for var token in tokens where !token.content.isEmpty {
            if let index = indexByContent[token.content] {
                token.id = resolved[index].id
                resolved[index] = token
                continue
            }
            if let id = vocabulary[token.content] {
                token.id = id
            } else if usedIds.contains(token.id) {
                token.id = nextId
            }
            usedIds.insert(token.id)
            // A negative or huge written id is refused by the range check in init.
            if token.id < Int.max { nextId = max(nextId, token.id + 1) }
            indexByContent[token.content] = resolved.count
            resolved.append(token)
        }
        return resolved
    }

    // MARK: Tokenizer

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids: [Int] = addSpecialTokens ? prefix : []
        let utf8 = Array(text.utf8)
        utf8.withUnsafeBufferPointer { bytes in
            var encoder = WordEncoder(tokenizer: self)
            let segments: [TextSegment] = addedTokens.isEmpty ? [.text(0..<bytes.count)] : addedTokens.split(bytes)
            for segment in segments {
                switch segment {
                case .token(let id): ids.append(id)
                case .text(let range): encoder.encode(UnsafeBufferPointer(rebasing: bytes[range]), into: &ids)
                }
            }
        }
        if addSpecialTokens { ids += suffix }
        return ids
    }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0 && id < tokens.count else { continue }
            if skipSpecialTokens && special.contains(id) { continue }
            let token = addedContent[id] ?? tokens[id]
            // HF's ByteLevel decoder: a token with a character outside the alphabet is taken as written.
            if let spelled = ByteLevelAlphabet.bytes(spelledBy: token) {
                bytes += spelled
            } else {
                bytes += token.utf8
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func tokenString(_ id: Int) -> String {
        id >= 0 && id < tokens.count ? tokens[id] : ""
    }

    public func id(of token: String) -> Int? { idsByToken[token] }

    public func isSpecial(_ id: Int) -> Bool { special.contains(id) }

    // MARK: Encoding plain text

    /// Pre-tokenizes and merges plain text (no added tokens), caching the ids of each distinct piece.
    private struct WordEncoder {
        let tokenizer: ByteLevelBPETokenizer
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        var scalars: [Unicode.Scalar] = []
        var classes: [CharacterClass] = []
        var scalarOffsets: [Int] = []
        var symbols: [Int32] = []

        init(tokenizer: ByteLevelBPETokenizer) { self.tokenizer = tokenizer }

        mutating func encode(_ text: UnsafeBufferPointer<UInt8>, into ids: inout [Int]) {
            decodeScalars(text)
            var pieces: [Range<Int>] = []
            var pieceStart = 0
            scalars.withUnsafeBufferPointer { scalars in
                classes.withUnsafeBufferPointer { classes in
                    tokenizer.preTokenizer.forEachPieceEnd(scalars, classes) { end in
                        pieces.append(scalarOffsets[pieceStart]..<scalarOffsets[end])
                        pieceStart = end
                    }
                }
            }
            let bytes = Array(text)
            for piece in pieces {
                let word = bytes[piece]
                if let cached = cache[word] {
                    for id in cached { ids.append(Int(id)) }
                    continue
                }
                let merged = merge(word)
                if cache.count < 100_000 { cache[word] = merged }
                for id in merged { ids.append(Int(id)) }
            }
        }

        private mutating func merge(_ word: ArraySlice<UInt8>) -> [Int32] {
            if tokenizer.ignoreMerges, let id = tokenizer.modelIds[ByteLevelAlphabet.spell(word)] {
                return [Int32(id)]
            }
            symbols.removeAll(keepingCapacity: true)
            for byte in word {
                let id = tokenizer.byteTokenIds[Int(byte)]
                if id >= 0 {
                    symbols.append(id)
                } else if let unknown = tokenizer.unknownId {
                    symbols.append(unknown)
                }
            }
            tokenizer.merger.merge(&symbols)
            return symbols
        }

        /// Fills `scalars`, their classes and UTF-8 offsets (one past the end included) for `text`.
        private mutating func decodeScalars(_ text: UnsafeBufferPointer<UInt8>) {
            scalars.removeAll(keepingCapacity: true)
            classes.removeAll(keepingCapacity: true)
            scalarOffsets.removeAll(keepingCapacity: true)
            var offset = 0
            var decoder = UTF8()
            var iterator = text.makeIterator()
            while case .scalarValue(let scalar) = decoder.decode(&iterator) {
                scalars.append(scalar)
                classes.append(CharacterClass.of(scalar))
                scalarOffsets.append(offset)
                offset += UTF8.width(scalar)
            }
            scalarOffsets.append(offset)
        }
    }
}
