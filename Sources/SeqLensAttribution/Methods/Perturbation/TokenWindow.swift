/// A length in tokens, written as Captum's shape tuples are: `n`, `[n]`, or `[n, hidden size]`
/// (whole embeddings: the only window over the hidden dimension SeqLens takes).
struct TokenWindow: Decodable, Equatable {
    var tokens: Int
    var hidden: Int?

    init(tokens: Int) { self.tokens = tokens }

    init(from decoder: any Decoder) throws {
        let path = decoder.codingPath.argumentPath
        if let single = try? decoder.singleValueContainer().decode(Int.self) {
            tokens = single
        } else {
            var list = try decoder.unkeyedContainer()
            guard let count = list.count, (1...2).contains(count) else {
                throw MethodArgumentError(path, "expected a number of tokens n, [n] or [n, hidden size]")
            }
            tokens = try list.decode(Int.self)
            if count == 2 { hidden = try list.decode(Int.self) }
        }
        guard tokens >= 1 else { throw MethodArgumentError(path, "expected at least 1 token, got \(tokens)") }
    }

    /// The hidden part, if given, must cover whole embeddings.
    func check(hiddenSize: Int, field: String) throws {
        if let hidden, hidden != hiddenSize {
            throw argumentError(field, "windows cover whole token embeddings: the second size must be the hidden size \(hiddenSize), got \(hidden)")
        }
    }
}
