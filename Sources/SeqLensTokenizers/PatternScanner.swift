/// The split patterns of `PreTokenizerKind`, matched by hand.
///
/// Each `...Match(at:)` returns the end of the match that the regular expression finds at `start`
/// (first matching alternative, greedy quantifiers with backtracking). Every character is covered
/// by some alternative, so a match is never empty. `end` bounds the text, as if it ended there.
struct PatternScanner {
    let scalars: UnsafeBufferPointer<Unicode.Scalar>
    let classes: UnsafeBufferPointer<CharacterClass>
    var end: Int

    init(scalars: UnsafeBufferPointer<Unicode.Scalar>, classes: UnsafeBufferPointer<CharacterClass>, end: Int) {
        self.scalars = scalars
        self.classes = classes
        self.end = end
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    func gpt2Match(at start: Int) -> Int {
        if let stop = contraction(at: start, ignoringCase: false) { return stop }
        // ` ?X+`: the optional space only sticks when an X follows it.
        let afterSpace = scalars[start] == " " && start + 1 < end ? start + 1 : start
        let first = classes[afterSpace]
        if first.contains(.letter) { return run(from: afterSpace, of: .letter) }
        if first.contains(.number) { return run(from: afterSpace, of: .number) }
        if isOther(first) { return runOfOther(from: afterSpace) }
        return whitespaceMatch(at: start)
    }

    /// Llama-3's pattern, with `\p{N}{1,maxDigits}` (Qwen2's pattern when `maxDigits` is 1).
    func llama3Match(at start: Int, maxDigits: Int) -> Int {
        if let stop = contraction(at: start, ignoringCase: true) { return stop }
        let first = classes[start]
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if !first.contains(.letter) && !first.contains(.number) && !first.contains(.lineBreak)
            && start + 1 < end && classes[start + 1].contains(.letter)
        {
            return run(from: start + 1, of: .letter)
        }
        if first.contains(.letter) { return run(from: start, of: .letter) }
        // `\p{N}{1,3}`
        if first.contains(.number) {
            var stop = start + 1
            while stop < end && stop - start < maxDigits && classes[stop].contains(.number) { stop += 1 }
            return stop
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let afterSpace = scalars[start] == " " && start + 1 < end ? start + 1 : start
        if isOther(classes[afterSpace]) {
            return run(from: runOfOther(from: afterSpace), of: .lineBreak)
        }
        // `\s*[\r\n]+`: backtracking leaves the match at the last line break of the whitespace run.
        let whitespaceEnd = run(from: start, of: .whitespace)
        var lastBreak = whitespaceEnd - 1
        while lastBreak >= start && !classes[lastBreak].contains(.lineBreak) { lastBreak -= 1 }
        if lastBreak >= start { return lastBreak + 1 }
        return whitespaceMatch(at: start)
    }

    /// `\s+(?!\S)|\s+`: a whitespace run, less its last character when a non-space follows it
    /// (that character then leads the next piece).
    private func whitespaceMatch(at start: Int) -> Int {
        let stop = run(from: start, of: .whitespace)
        if stop == start { return start + 1 }  // unreachable: every class is covered above
        if stop == end || stop - start == 1 { return stop }
        return stop - 1
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, optionally case-insensitive as Oniguruma's `(?i:...)` is (Unicode
    /// case folding: the long s `ſ` folds to `s`).
    private func contraction(at start: Int, ignoringCase: Bool) -> Int? {
        guard scalars[start] == "'", start + 1 < end else { return nil }
        func letter(_ index: Int) -> Unicode.Scalar? {
            guard index < end else { return nil }
            let scalar = scalars[index]
            guard ignoringCase else { return scalar }
            if scalar == "\u{17F}" { return "s" }
            if scalar.value >= 0x41 && scalar.value <= 0x5A { return Unicode.Scalar(scalar.value + 0x20) }
            return scalar
        }
        switch letter(start + 1) {
        case "s", "t", "m", "d":
            return start + 2
        case "r", "v":
            return letter(start + 2) == "e" ? start + 3 : nil
        case "l":
            return letter(start + 2) == "l" ? start + 3 : nil
        default:
            return nil
        }
    }

    /// `[^\s\p{L}\p{N}]`
    private func isOther(_ characterClass: CharacterClass) -> Bool {
        characterClass.isDisjoint(with: [.letter, .number, .whitespace])
    }

    private func runOfOther(from start: Int) -> Int {
        var stop = start
        while stop < end && isOther(classes[stop]) { stop += 1 }
        return stop
    }

    private func run(from start: Int, of characterClass: CharacterClass) -> Int {
        var stop = start
        while stop < end && classes[stop].contains(characterClass) { stop += 1 }
        return stop
    }
}
