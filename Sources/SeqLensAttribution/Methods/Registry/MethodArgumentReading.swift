/// Bounds every method shares, so that one request cannot ask for unbounded work.
public enum MethodLimits {
    /// Integration points, samples, perturbations.
    public static let steps = 10_000
    public static let samples = 10_000
}

extension KeyedDecodingContainer {
    /// The argument `key`, or `fallback` when it is absent or null.
    func argument<T: Decodable>(_ key: Key, default fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }

    /// An optional argument.
    func argument<T: Decodable>(_ key: Key) throws -> T? { try decodeIfPresent(T.self, forKey: key) }

    /// An integer argument within `range`.
    func argument(_ key: Key, default fallback: Int, in range: ClosedRange<Int>) throws -> Int {
        let value = try decodeIfPresent(Int.self, forKey: key) ?? fallback
        try check(value, in: range, key)
        return value
    }

    /// An optional integer argument within `range`.
    func argument(_ key: Key, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = try decodeIfPresent(Int.self, forKey: key) else { return nil }
        try check(value, in: range, key)
        return value
    }

    /// A real argument within `range`.
    func argument(_ key: Key, default fallback: Double, in range: ClosedRange<Double>) throws -> Double {
        let value = try decodeIfPresent(Double.self, forKey: key) ?? fallback
        guard range.contains(value) else {
            throw MethodArgumentError((codingPath + [key]).argumentPath, "expected a number in \(range), got \(value)")
        }
        return value
    }

    private func check(_ value: Int, in range: ClosedRange<Int>, _ key: Key) throws {
        guard range.contains(value) else {
            let bounds = range.upperBound == Int.max ? "at least \(range.lowerBound)" : "in \(range.lowerBound)...\(range.upperBound)"
            throw MethodArgumentError((codingPath + [key]).argumentPath, "expected an integer \(bounds), got \(value)")
        }
    }
}

/// An error about one argument, outside decoding (checks against the model).
func argumentError(_ field: String, _ message: String) -> AttributionError {
    .invalidMethodArgument(MethodArgumentError(field, message))
}
