import Foundation

/// The SentencePiece unigram model as HF `tokenizers` runs it (models/unigram/model.rs,
/// `encode_optimized`): the segmentation of a pre-token into pieces with the highest total score
/// (Viterbi over a byte trie of the pieces), a character no piece starts with scored
/// `min score - 10` as unknown, runs of unknown characters fused into one `unk` token, and, with
/// byte fallback, an unknown run spelled as `<0xXX>` byte pieces when they all exist.
struct UnigramModel: Sendable {
    /// HF's K_UNK_PENALTY.
    static let unknownPenalty = 10.0

    let pieces: [String]
    let scores: [Double]
    let unknownID: Int?
    let byteFallback: Bool
    private let trie: ByteTrie
    private let minimumScore: Double
    /// The id of each byte's `<0xXX>` piece, where the vocabulary has it.
    private let byteIDs: [Int?]

    init(pieces: [String], scores: [Double], unknownID: Int?, byteFallback: Bool) {
        self.pieces = pieces
        self.scores = scores
        self.unknownID = unknownID
        self.byteFallback = byteFallback
        var trie = ByteTrie()
        // A repeated piece keeps its last id, as HF's token_to_ids map does.
        for (id, piece) in pieces.enumerated() { trie.insert(Array(piece.utf8), id: id) }
        self.trie = trie
        minimumScore = scores.min() ?? 0
        byteIDs = (0..<256).map { trie.id(of: Array(String(format: "<0x%02X>", $0).utf8)) }
    }

    func id(of piece: String) -> Int? { trie.id(of: Array(piece.utf8)) }

    /// The ids of one pre-token. Pieces keep the trie's ids (byte-exact, unlike String keys,
    /// which Swift compares up to canonical equivalence).
    func encode(_ text: String, into ids: inout [Int]) {
        for (piece, id) in segment(Array(text.utf8)) {
            if let id {
                ids.append(id)
                continue
            }
            if byteFallback {
                let bytes = piece.compactMap { byteIDs[Int($0)] }
                if bytes.count == piece.count {
                    ids += bytes
                    continue
                }
            }
            if let unknownID { ids.append(unknownID) }
        }
    }

    /// The best segmentation: each piece's bytes with its id, nil for a fused run of unknowns.
    private func segment(_ bytes: [UInt8]) -> [(bytes: [UInt8], id: Int?)] {
        let n = bytes.count
        guard n > 0 else { return [] }
        struct Node {
            var id = -1
            var score = 0.0
            var start: Int?
        }
        var best = [Node](repeating: Node(), count: n + 1)
        let unknownScore = minimumScore - Self.unknownPenalty
        var start = 0
        while start < n {
            let reached = best[start].score
            let characterLength = utf8Length(bytes[start])
            var singleCharacterPiece = false
            trie.prefixes(of: bytes, from: start) { end, id in
                let candidate = scores[id] + reached
                if best[end].start == nil || candidate > best[end].score {
                    best[end] = Node(id: id, score: candidate, start: start)
                }
                if end - start == characterLength { singleCharacterPiece = true }
            }
            let end = min(start + characterLength, n)
            if !singleCharacterPiece {
                let candidate = unknownScore + reached
                if best[end].start == nil || candidate > best[end].score {
                    best[end] = Node(id: unknownID ?? -1, score: candidate, start: start)
                }
            }
            start = end
        }
        var result: [(bytes: [UInt8], id: Int?)] = []
        var unknownRun: [[UInt8]] = []
        func flushUnknowns() {
            guard !unknownRun.isEmpty else { return }
            // HF looks the fused string up: a run that spells a piece exactly (a literal "<unk>") is it.
            let run = Array(unknownRun.reversed().joined())
            result.append((run, trie.id(of: run)))
            unknownRun = []
        }
        var end = n
        while end > 0, let begin = best[end].start {
            let piece = Array(bytes[begin..<end])
            if best[end].id == unknownID || best[end].id < 0 {
                unknownRun.append(piece)
            } else {
                flushUnknowns()
                result.append((piece, best[end].id))
            }
            end = begin
        }
        flushUnknowns()
        return result.reversed()
    }

    private func utf8Length(_ lead: UInt8) -> Int {
        switch lead {
        case 0xF0...: 4
        case 0xE0...: 3
        case 0xC0...: 2
        default: 1
        }
    }
}

/// A trie over the pieces' UTF-8 bytes, walked from a position to find every piece that starts
/// there, shortest first (the order HF's `common_prefix_search` yields them).
struct ByteTrie: Sendable {
    private var children: [Int: Int] = [:]  // node * 256 + byte -> child node
    private var pieceIDs: [Int] = [-1]  // per node; -1 where no piece ends

    mutating func insert(_ bytes: [UInt8], id: Int) {
        guard !bytes.isEmpty else { return }
        var node = 0
        for byte in bytes {
            let key = node * 256 + Int(byte)
            if let child = children[key] {
                node = child
            } else {
                pieceIDs.append(-1)
                children[key] = pieceIDs.count - 1
                node = pieceIDs.count - 1
            }
        }
        pieceIDs[node] = id
    }

    /// The id of the piece spelled exactly by `bytes`.
    func id(of bytes: [UInt8]) -> Int? {
        var node = 0
        for byte in bytes {
            guard let child = children[node * 256 + Int(byte)] else { return nil }
            node = child
        }
        return node > 0 && pieceIDs[node] >= 0 ? pieceIDs[node] : nil
    }

    func prefixes(of bytes: [UInt8], from start: Int, _ body: (_ end: Int, _ id: Int) -> Void) {
        var node = 0
        var position = start
        while position < bytes.count, let child = children[node * 256 + Int(bytes[position])] {
            node = child
            position += 1
            if pieceIDs[node] >= 0 { body(position, pieceIDs[node]) }
        }
    }
}
