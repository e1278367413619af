/// Checks on the sizes a checkpoint declares, made before anything is allocated, divided or
/// indexed with them: a configuration is untrusted input.
///
/// Each size must be positive (or zero where the field allows it) and below a bound far above any
/// real model; products of sizes are computed with overflow checks; the layer count must match
/// the tensors actually present, so that a config claiming 10^9 layers is refused before a
/// billion-element array is reserved.
enum DimensionChecks {
    /// Bounds far above real models (the largest open models have about 128 layers, a 256k
    /// vocabulary, a hidden size of 16k and 128 heads); they exist to refuse absurd values early.
    static let maximumLayers = 4_096
    static let maximumWidth = 1 << 20
    static let maximumVocabulary = 1 << 24
    static let maximumHeads = 4_096
    /// The longest context a checkpoint may declare (real ones: up to about a million positions).
    static let maximumPositions = 1 << 22

    /// `value`, when it lies in `1...limit`.
    /// - Throws: `ModelError.invalidConfiguration` naming `field` and the value.
    static func positive(_ value: Int, _ field: String, atMost limit: Int) throws -> Int {
        guard value >= 1 else {
            throw ModelError.invalidConfiguration("\(field) must be a positive integer, got \(value)")
        }
        guard value <= limit else {
            throw ModelError.invalidConfiguration("\(field) is \(value), more than the supported \(limit)")
        }
        return value
    }

    /// `a × b`, or an error naming what overflowed.
    static func product(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow, result <= Int(Int32.max) else {
            throw ModelError.invalidConfiguration("\(what()) (\(a) × \(b)) is too large")
        }
        return result
    }

    /// Throws unless the checkpoint holds layer `count - 1` and not layer `count` (judged by a
    /// weight every layer has, `name(i)`): the declared layer count must be the file's.
    static func checkLayers(_ count: Int, field: String, in weights: WeightSource, probe name: (Int) -> String) throws {
        _ = try positive(count, field, atMost: maximumLayers)
        guard weights.contains(name(count - 1)) else {
            throw ModelError.invalidConfiguration(
                "\(field) is \(count), but the checkpoint has no tensor '\(name(count - 1))' for the last of them")
        }
        guard !weights.contains(name(count)) else {
            throw ModelError.invalidConfiguration(
                "\(field) is \(count), but the checkpoint has more layers (it has '\(name(count))')")
        }
    }

    /// A finite, non-negative number (a norm's ε, a rotary base, a dropout rate).
    static func nonNegative(_ value: Float, _ field: String) throws -> Float {
        guard value.isFinite, value >= 0 else {
            throw ModelError.invalidConfiguration("\(field) must be a finite non-negative number, got \(value)")
        }
        return value
    }
}
