/// Layers or heads to keep: an index or a list of indices, negative ones counting from the end
/// (Python's), as Inseq's `select_idx` takes them.
struct IndexSelection: Decodable, Equatable {
    var indices: [Int]

    init(_ indices: [Int]) { self.indices = indices }

    init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer().decode(Int.self) {
            indices = [single]
        } else {
            var list = try decoder.unkeyedContainer()
            var values: [Int] = []
            while !list.isAtEnd { values.append(try list.decode(Int.self)) }
            guard !values.isEmpty else {
                throw MethodArgumentError(decoder.codingPath.argumentPath, "expected an index or a non-empty list of indices")
            }
            indices = values
        }
    }

    /// The indices resolved against `count` entries, in the order given.
    func resolve(count: Int, field: String) throws -> [Int] {
        try indices.map { index in
            let resolved = index < 0 ? count + index : index
            guard (0..<count).contains(resolved) else {
                throw argumentError(field, "index \(index) is out of range for \(count) (valid: \(-count)...\(count - 1))")
            }
            return resolved
        }
    }
}

extension AggregationFunction: MethodArgumentChoice {}
