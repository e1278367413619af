/// Reads gzip (RFC 1952) and DEFLATE (RFC 1951) data: Inseq gzips whole files
/// (`save(compress=True)`) and, through json_tricks, any saved array that compresses well
/// ("b64.gz:" arrays). A decoder only: SeqLens writes uncompressed files, which Inseq reads.
enum Gzip {
    struct Failure: Error, Equatable {
        var reason: String
    }

    /// Whether `bytes` start with the gzip magic number.
    static func isGzip(_ bytes: some Collection<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        return iterator.next() == 0x1F && iterator.next() == 0x8B
    }

    /// Default for `limit`: DEFLATE expands up to 1032 times, so a few megabytes of hostile input
    /// could otherwise ask for gigabytes. Inseq's files are far smaller.
    static let defaultLimit = 1 << 30

    /// The decompressed content of every member of a gzip stream, CRC and length checked.
    /// - Parameter limit: the most bytes to produce; more is an error (a stream that inflates
    ///   past what its array can hold is corrupt or hostile).
    static func decompress(_ bytes: [UInt8], limit: Int = defaultLimit) throws(Failure) -> [UInt8] {
        var output: [UInt8] = []
        var offset = 0
        repeat {
            offset = try decompressMember(bytes, from: offset, into: &output, limit: limit)
        } while offset < bytes.count && isGzip(bytes[offset...])
        return output
    }

    private static func decompressMember(
        _ bytes: [UInt8], from start: Int, into output: inout [UInt8], limit: Int
    ) throws(Failure) -> Int {
        guard bytes.count - start >= 18, isGzip(bytes[start...]) else { throw Failure(reason: "not a gzip stream") }
        guard bytes[start + 2] == 8 else { throw Failure(reason: "compression method \(bytes[start + 2]) is not DEFLATE") }
        let flags = bytes[start + 3]
        var offset = start + 10
        func skipZeroTerminated() throws(Failure) {
            while offset < bytes.count && bytes[offset] != 0 { offset += 1 }
            guard offset < bytes.count else { throw Failure(reason: "header runs past the end") }
            offset += 1
        }
        if flags & 0x04 != 0 {  // FEXTRA
            guard offset + 2 <= bytes.count else { throw Failure(reason: "header runs past the end") }
            offset += 2 + (Int(bytes[offset]) | Int(bytes[offset + 1]) << 8)
        }
        if flags & 0x08 != 0 { try skipZeroTerminated() }  // FNAME
        if flags & 0x10 != 0 { try skipZeroTerminated() }  // FCOMMENT
        if flags & 0x02 != 0 { offset += 2 }  // FHCRC
        guard offset <= bytes.count else { throw Failure(reason: "header runs past the end") }
        let memberStart = output.count
        var reader = BitReader(bytes: bytes, offset: offset)
        try inflate(&reader, into: &output, limit: limit)
        guard output.count <= limit else { throw Failure(reason: "inflates to more than \(limit) bytes") }
        var end = reader.alignedOffset
        guard end + 8 <= bytes.count else { throw Failure(reason: "missing the CRC and length trailer") }
        func word(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        guard word(end) == CRC32.checksum(output[memberStart...]) else { throw Failure(reason: "CRC mismatch") }
        guard word(end + 4) == UInt32(truncatingIfNeeded: output.count - memberStart) else {
            throw Failure(reason: "length mismatch")
        }
        end += 8
        return end
    }

    /// Decodes a raw DEFLATE stream.
    static func inflate(_ reader: inout BitReader, into output: inout [UInt8], limit: Int = Int.max) throws(Failure) {
        var isLast = false
        while !isLast {
            guard output.count <= limit else { throw Failure(reason: "inflates to more than \(limit) bytes") }
            isLast = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0:
                reader.alignToByte()
                let length = try reader.bits(16)
                let complement = try reader.bits(16)
                guard length == ~complement & 0xFFFF else { throw Failure(reason: "stored block length check failed") }
                try reader.copyBytes(length, into: &output)
            case 1:
                try inflateBlock(&reader, literals: .fixedLiterals, distances: .fixedDistances, into: &output, limit: limit)
            case 2:
                let (literals, distances) = try readDynamicTables(&reader)
                try inflateBlock(&reader, literals: literals, distances: distances, into: &output, limit: limit)
            default:
                throw Failure(reason: "reserved block type")
            }
        }
    }

    private static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
    /// The order in which code-length code lengths are stored.
    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    private static func inflateBlock(
        _ reader: inout BitReader, literals: HuffmanTable, distances: HuffmanTable, into output: inout [UInt8],
        limit: Int
    ) throws(Failure) {
        while true {
            guard output.count <= limit else { throw Failure(reason: "inflates to more than \(limit) bytes") }
            let symbol = try literals.decode(&reader)
            if symbol < 256 {
                output.append(UInt8(symbol))
            } else if symbol == 256 {
                return
            } else {
                let lengthIndex = symbol - 257
                guard lengthIndex < lengthBase.count else { throw Failure(reason: "invalid length symbol \(symbol)") }
                let length = lengthBase[lengthIndex] + (try reader.bits(lengthExtra[lengthIndex]))
                let distanceSymbol = try distances.decode(&reader)
                guard distanceSymbol < distanceBase.count else { throw Failure(reason: "invalid distance symbol \(distanceSymbol)") }
                let distance = distanceBase[distanceSymbol] + (try reader.bits(distanceExtra[distanceSymbol]))
                guard distance <= output.count else { throw Failure(reason: "distance \(distance) before the start") }
                let from = output.count - distance
                for index in 0..<length { output.append(output[from + index]) }
            }
        }
    }

    private static func readDynamicTables(_ reader: inout BitReader) throws(Failure) -> (HuffmanTable, HuffmanTable) {
        let literalCount = try reader.bits(5) + 257
        let distanceCount = try reader.bits(5) + 1
        let codeLengthCount = try reader.bits(4) + 4
        var codeLengthLengths = [Int](repeating: 0, count: 19)
        for index in 0..<codeLengthCount { codeLengthLengths[codeLengthOrder[index]] = try reader.bits(3) }
        let codeLengthTable = try HuffmanTable(lengths: codeLengthLengths)
        var lengths: [Int] = []
        while lengths.count < literalCount + distanceCount {
            let symbol = try codeLengthTable.decode(&reader)
            switch symbol {
            case 0..<16:
                lengths.append(symbol)
            case 16:
                guard let previous = lengths.last else { throw Failure(reason: "repeat with no previous length") }
                lengths += Array(repeating: previous, count: 3 + (try reader.bits(2)))
            case 17:
                lengths += Array(repeating: 0, count: 3 + (try reader.bits(3)))
            default:
                lengths += Array(repeating: 0, count: 11 + (try reader.bits(7)))
            }
        }
        guard lengths.count == literalCount + distanceCount else { throw Failure(reason: "code lengths overrun") }
        return (try HuffmanTable(lengths: Array(lengths[..<literalCount])),
                try HuffmanTable(lengths: Array(lengths[literalCount...])))
    }
}

/// Reads DEFLATE's least-significant-bit-first bit stream.
struct BitReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    private var buffer: UInt64 = 0
    private var count = 0

    init(bytes: [UInt8], offset: Int) {
        self.bytes = bytes
        self.offset = offset
    }

    /// The next `n` (≤ 32) bits, first bit lowest.
    mutating func bits(_ n: Int) throws(Gzip.Failure) -> Int {
        while count < n {
            guard offset < bytes.count else { throw Gzip.Failure(reason: "data ends in the middle of a block") }
            buffer |= UInt64(bytes[offset]) << UInt64(count)
            offset += 1
            count += 8
        }
        let value = Int(buffer & ((1 << UInt64(n)) - 1))
        buffer >>= UInt64(n)
        count -= n
        return value
    }

    /// Drops the bits left in the current byte.
    mutating func alignToByte() {
        let drop = count % 8
        buffer >>= UInt64(drop)
        count -= drop
    }

    /// The offset of the first byte not yet consumed (after the current partial byte).
    var alignedOffset: Int { offset - count / 8 }

    mutating func copyBytes(_ length: Int, into output: inout [UInt8]) throws(Gzip.Failure) {
        alignToByte()
        let start = alignedOffset
        guard start + length <= bytes.count else { throw Gzip.Failure(reason: "stored block runs past the end") }
        output.append(contentsOf: bytes[start..<(start + length)])
        offset = start + length
        buffer = 0
        count = 0
    }
}

/// A canonical Huffman code, decoded bit by bit through per-length counts (RFC 1951 3.2.2).
struct HuffmanTable {
    private var countPerLength = [Int](repeating: 0, count: 16)
    private var symbols: [Int] = []

    init(lengths: [Int]) throws(Gzip.Failure) {
        for length in lengths { countPerLength[length] += 1 }
        countPerLength[0] = 0
        var offsets = [Int](repeating: 0, count: 16)
        for length in 1..<16 { offsets[length] = offsets[length - 1] + countPerLength[length - 1] }
        symbols = [Int](repeating: 0, count: lengths.count)
        for (symbol, length) in lengths.enumerated() where length != 0 {
            symbols[offsets[length]] = symbol
            offsets[length] += 1
        }
        var available = 1
        for length in 1..<16 {
            available = available * 2 - countPerLength[length]
            guard available >= 0 else { throw Gzip.Failure(reason: "over-subscribed Huffman code") }
        }
    }

    func decode(_ reader: inout BitReader) throws(Gzip.Failure) -> Int {
        var code = 0, first = 0, index = 0
        for length in 1..<16 {
            code |= try reader.bits(1)
            let count = countPerLength[length]
            if code - first < count { return symbols[index + code - first] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw Gzip.Failure(reason: "invalid Huffman code")
    }

    static let fixedLiterals = try! HuffmanTable(
        lengths: Array(repeating: 8, count: 144) + Array(repeating: 9, count: 112) + Array(repeating: 7, count: 24)
            + Array(repeating: 8, count: 8))
    static let fixedDistances = try! HuffmanTable(lengths: Array(repeating: 5, count: 30))
}

/// CRC-32 (IEEE, reflected), as gzip's trailer holds it.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
