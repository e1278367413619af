import Foundation
import Testing

@testable import SeqLensAttribution

/// Finds Tests/Fixtures/attribution-output from this file's location (the folder that holds
/// Package.swift is the repository root) and reads the reference expectations.
enum OutputFixtures {
    static let directory: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent("Tests/Fixtures/attribution-output")
    }()

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    nonisolated(unsafe) static let expected: [String: Any] = (try? json("expected.json")) ?? [:]

    static var cases: [[String: Any]] { expected["cases"] as? [[String: Any]] ?? [] }

    static func load(_ name: String) throws -> FeatureAttributionOutput {
        try FeatureAttributionOutput.load(from: path(name))
    }
}

/// A reference sequence as the fixture script describes it (see make_output_fixtures.py).
struct ReferenceSequence {
    let raw: [String: Any]

    var source: [TokenWithId] { Self.tokens(raw["source"]) }
    var target: [TokenWithId] { Self.tokens(raw["target"]) }
    var attrPosStart: Int { raw["attr_pos_start"] as? Int ?? -1 }
    var attrPosEnd: Int { raw["attr_pos_end"] as? Int ?? -1 }
    var className: String { raw["class"] as? String ?? "" }

    func tensor(_ side: String) -> AttributionTensor? {
        guard let shape = raw["\(side)_shape"] as? [Int], let values = raw["\(side)_attributions"] as? [Any] else { return nil }
        return AttributionTensor(shape: shape, values: values.map(Self.float))
    }

    var stepScores: [String: [Float]] {
        (raw["step_scores"] as? [String: [Any]] ?? [:]).mapValues { $0.map(Self.float) }
    }

    static func float(_ value: Any) -> Float {
        (value as? NSNumber).map { Float($0.doubleValue) } ?? .nan
    }

    static func tokens(_ value: Any?) -> [TokenWithId] {
        (value as? [[Any]] ?? []).map { TokenWithId($0[0] as? String ?? "", id: ($0[1] as? NSNumber)?.intValue ?? 0) }
    }
}

/// Largest |a - b| relative to the largest |reference|; NaN positions must match exactly.
func relativeDifference(_ actual: AttributionTensor?, _ reference: AttributionTensor?) -> Float {
    guard let actual, let reference else { return actual == nil && reference == nil ? 0 : .infinity }
    guard let difference = actual.maxAbsoluteDifference(to: reference) else { return .infinity }
    let scale = reference.maxAbsoluteValue
    return scale == 0 ? difference : difference / scale
}
