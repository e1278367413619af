/// Writes JSON byte for byte as Python's `json.dumps(value, indent=indent, sort_keys=True,
/// allow_nan=True)` does with its defaults (`ensure_ascii=True`, separators "," and ": "), which
/// is how Inseq's `FeatureAttributionOutput.save` writes its files.
struct PythonJSONWriter {
    /// Spaces per level; nil writes one line with ", " and ": " separators like `json.dumps`.
    var indent: Int? = 4

    func string(_ value: JSONValue) -> String {
        var out = ""
        write(value, level: 0, into: &out)
        return out
    }

    private func write(_ value: JSONValue, level: Int, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .int(let number): out += String(number)
        case .double(let number): out += Self.pythonFloatRepr(number)
        case .string(let text): Self.writeString(text, into: &out)
        case .array(let elements):
            if elements.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (index, element) in elements.enumerated() {
                out += index == 0 ? "" : ","
                newline(level + 1, into: &out, afterComma: index > 0)
                write(element, level: level + 1, into: &out)
            }
            newline(level, into: &out, afterComma: false)
            out += "]"
        case .object(let members):
            if members.isEmpty {
                out += "{}"
                return
            }
            out += "{"
            // Python sorts str keys by code point.
            let keys = members.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            for (index, key) in keys.enumerated() {
                out += index == 0 ? "" : ","
                newline(level + 1, into: &out, afterComma: index > 0)
                Self.writeString(key, into: &out)
                out += ": "
                write(members[key] ?? .null, level: level + 1, into: &out)
            }
            newline(level, into: &out, afterComma: false)
            out += "}"
        }
    }

    private func newline(_ level: Int, into out: inout String, afterComma: Bool) {
        if let indent {
            out += "\n"
            out += String(repeating: " ", count: indent * level)
        } else if afterComma {
            out += " "
        }
    }

    /// Python's `ensure_ascii` escaping: only printable ASCII (space to "~") stays literal.
    static func writeString(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value >= 0x20 && scalar.value <= 0x7E {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value > 0xFFFF {
                    let offset = scalar.value - 0x10000
                    out += hexEscape(0xD800 + (offset >> 10))
                    out += hexEscape(0xDC00 + (offset & 0x3FF))
                } else {
                    out += hexEscape(scalar.value)
                }
            }
        }
        out += "\""
    }

    private static func hexEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// Python's `float.__repr__`: the shortest round-tripping digits, positional notation for
    /// decimal exponents -4 ..< 16 (with ".0" when integral), else "d.ddde+XX" / "de-XX".
    static func pythonFloatRepr(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description also gives the shortest round-tripping digits; only the layout differs.
        var text = Swift.abs(value).description
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        var digits = text.replacingOccurrences(".", "")
        let pointPosition = (text.firstIndex(of: ".").map { text.distance(from: text.startIndex, to: $0) } ?? text.count)
        // value = 0.digits x 10^(pointPosition + exponent)
        var decimalPoint = pointPosition + exponent
        while digits.hasPrefix("0") && digits.count > 1 {
            digits.removeFirst()
            decimalPoint -= 1
        }
        while digits.hasSuffix("0") && digits.count > 1 { digits.removeLast() }
        let sci = decimalPoint - 1  // exponent in d.ddd x 10^sci
        var body: String
        if sci < -4 || sci >= 16 {
            body = String(digits.prefix(1))
            if digits.count > 1 { body += "." + digits.dropFirst() }
            body += (sci < 0 ? "e-" : "e+") + (Swift.abs(sci) < 10 ? "0" : "") + String(Swift.abs(sci))
        } else if decimalPoint <= 0 {
            body = "0." + String(repeating: "0", count: -decimalPoint) + digits
        } else if decimalPoint >= digits.count {
            body = digits + String(repeating: "0", count: decimalPoint - digits.count) + ".0"
        } else {
            let split = digits.index(digits.startIndex, offsetBy: decimalPoint)
            body = digits[..<split] + "." + digits[split...]
        }
        return value < 0 ? "-" + body : body
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for character in self { if character == target { out += replacement } else { out.append(character) } }
        return out
    }
}
