/// GPT-2's reversible spelling of bytes as printable characters (`bytes_to_unicode` in OpenAI's
/// `encoder.py`, `ByteLevel` in HF `tokenizers`).
///
/// Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls, space, soft hyphen...)
/// take U+0100 onwards in byte order, so space is "Ġ" (U+0120) and newline "Ċ" (U+010A).
enum ByteLevelAlphabet {
    /// The character that spells each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if standsForItself(UInt8(byte)) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                // 256 + n is below U+0200, always a valid scalar.
                table[byte] = Unicode.Scalar(next) ?? " "
                next += 1
            }
        }
        return table
    }()

    /// The one-character strings that spell each byte.
    static let stringForByte: [String] = scalarForByte.map { String(Character($0)) }

    /// The byte a character spells, or nil for a character outside the alphabet.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let value = scalar.value
        if value < 256 { return standsForItself(UInt8(value)) ? UInt8(value) : nil }
        return value < 256 + 68 ? byteForShiftedScalar[Int(value) - 256] : nil
    }

    /// The bytes a byte-level token spells, or nil if one of its characters is outside the alphabet.
    static func bytes(spelledBy token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            guard let byte = byte(for: scalar) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// Spells `bytes` in the alphabet.
    static func spell<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var view = String.UnicodeScalarView()
        for byte in bytes { view.append(scalarForByte[Int(byte)]) }
        return String(view)
    }

    /// Whether every character of `token` belongs to the alphabet.
    static func isSpelled(_ token: String) -> Bool {
        token.unicodeScalars.allSatisfy { byte(for: $0) != nil }
    }

    private static func standsForItself(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    private static let byteForShiftedScalar: [UInt8] = {
        var table: [UInt8] = []
        for byte in 0..<256 where !standsForItself(UInt8(byte)) { table.append(UInt8(byte)) }
        return table
    }()
}
