import Foundation

extension SpecialTokens {
    /// Roles from HF's `tokenizer_config.json` (`bos_token`, `eos_token`, `unk_token`,
    /// `pad_token`, each a string or an AddedToken object), nil when the file does not exist.
    init?(tokenizerConfig url: URL, ids: [String: Int]) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let config = try JSONFields.load(url)
        func role(_ key: String) -> Int? {
            let value = config.object[key]
            let content = (value as? String) ?? ((value as? [String: Any])?["content"] as? String)
            return content.flatMap { ids[$0] }
        }
        self.init(bos: role("bos_token"), eos: role("eos_token"), unk: role("unk_token"), pad: role("pad_token"))
    }
}
