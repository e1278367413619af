/// A token as Inseq keeps it: its vocabulary string (e.g. "Ġworld") and its id. Tokens made by
/// merging (subwords, spans, pairs) have id -1, as in Inseq.
public struct TokenWithId: Sendable, Hashable, CustomStringConvertible {
    public var token: String
    public var id: Int

    public init(_ token: String, id: Int) {
        self.token = token
        self.id = id
    }

    public var description: String { token }
}
