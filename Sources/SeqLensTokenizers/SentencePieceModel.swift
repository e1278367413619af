import CSentencePiece
import Foundation
import SeqLensFiles

/// A SentencePiece model (a serialized `ModelProto`: pieces, scores, types and the normalizer with
/// its precompiled charsmap), run by Debian's libsentencepiece, the implementation that HF's
/// slow tokenizers (Marian, T5, mBART, M2M100) call, so its pieces are theirs by construction.
///
/// Immutable after loading; libsentencepiece's encode and decode are const and safe to share.
public final class SentencePieceModel: @unchecked Sendable {
    /// One piece of an encoding: its id in the SentencePiece model, its text (e.g. "▁the") and
    /// the UTF-8 byte range of the original text it stands for.
    public struct Piece: Sendable, Equatable {
        public var id: Int
        public var text: String
        public var bytes: Range<Int>
    }

    private let handle: OpaquePointer
    /// Where the model came from, for messages.
    public let path: String

    /// Loads a `.spm` / `.model` file (at most 64 MiB, a regular file).
    /// - Throws: `TokenizerError.unreadableFile` or `.malformedField` for a corrupt model.
    public convenience init(path: String) throws(TokenizerError) {
        let data: Data
        do {
            data = try RegularFile.contents(of: path, limit: 64 << 20)
        } catch {
            throw .unreadableFile(path: path, reason: error.reason)
        }
        try self.init(serialized: data, path: path)
    }

    /// Loads a model from the bytes of its file.
    public init(serialized data: Data, path: String) throws(TokenizerError) {
        var message: UnsafeMutablePointer<CChar>?
        let loaded = data.withUnsafeBytes { bytes in
            seqlens_spm_load(bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, &message)
        }
        guard let loaded else {
            let reason = message.map { String(cString: $0) } ?? "unknown error"
            free(message)
            throw .malformedField(path: path, field: "ModelProto", reason: "is not a valid SentencePiece model (\(reason))")
        }
        handle = loaded
        self.path = path
    }

    deinit { seqlens_spm_free(handle) }

    public var pieceCount: Int { Int(seqlens_spm_piece_count(handle)) }

    /// The piece text of `id`; nil outside the model.
    public func piece(_ id: Int) -> String? {
        guard id >= 0, id < pieceCount else { return nil }
        var length = 0
        guard let text = seqlens_spm_id_to_piece(handle, Int32(id), &length) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
    }

    /// The model's unknown-piece id (SentencePiece always has one).
    public var unknownID: Int { Int(seqlens_spm_special_id(handle, 0)) }

    /// Whether `id` is a control piece (`<s>`, `</s>`): it spells no text.
    public func isControl(_ id: Int) -> Bool { seqlens_spm_piece_type(handle, Int32(id)) == 3 }

    /// The pieces of `text`, after the model's normalizer, with their byte ranges in `text`.
    public func encode(_ text: String) -> [Piece] {
        var text = text
        return text.withUTF8 { bytes -> [Piece] in
            guard let encoding = bytes.withMemoryRebound(to: CChar.self, { seqlens_spm_encode(handle, $0.baseAddress, $0.count, nil) })
            else { return [] }
            defer { seqlens_spm_encoding_free(encoding) }
            return (0..<seqlens_spm_encoding_count(encoding)).map { index in
                var id: Int32 = 0, piece: UnsafePointer<CChar>?, length = 0, begin: UInt32 = 0, end: UInt32 = 0
                seqlens_spm_encoding_piece(encoding, index, &id, &piece, &length, &begin, &end)
                let text = piece.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: length), as: UTF8.self) } ?? ""
                return Piece(id: Int(id), text: text, bytes: Int(begin)..<Int(max(begin, end)))
            }
        }
    }

    /// The text that `pieces` spell (SentencePiece's decoder: "▁" becomes a space, the leading
    /// one dropped, byte pieces joined into UTF-8).
    public func decode(pieces: [String]) -> String {
        guard !pieces.isEmpty else { return "" }
        let utf8 = pieces.map { Array($0.utf8) }
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        var storage = utf8.map { bytes -> UnsafeMutablePointer<CChar> in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, bytes.count))
            bytes.withUnsafeBufferPointer { b in
                b.withMemoryRebound(to: CChar.self) { if let base = $0.baseAddress { p.update(from: base, count: bytes.count) } }
            }
            return p
        }
        defer { storage.forEach { $0.deallocate() }; storage.removeAll() }
        for (pointer, bytes) in zip(storage, utf8) {
            pointers.append(UnsafePointer(pointer))
            lengths.append(bytes.count)
        }
        var length = 0
        guard let text = seqlens_spm_decode_pieces(handle, pointers, lengths, pieces.count, &length, nil) else { return "" }
        defer { free(text) }
        return String(decoding: UnsafeRawBufferPointer(start: text, count: length), as: UTF8.self)
    }
}
