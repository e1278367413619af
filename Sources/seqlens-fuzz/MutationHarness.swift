// The deterministic mutation harness: the same targets as the libFuzzer build, driven by seeded
// byte-level mutations of a corpus, for toolchains or builds without the fuzzer sanitizer. Build it
// in debug, where overflow and bounds checks trap: a trap there is undefined behaviour in the
// -Ounchecked release build.
//
//   seqlens-fuzz list
//   seqlens-fuzz run TARGET FILE...
//   seqlens-fuzz mutate TARGET DIR... [--seconds S] [--runs N] [--seed N] [--max-len BYTES]
//                                     [--timeout S] [--memory-mb MB] [--crash-dir DIR]
//
// `run` runs each file once (regression inputs). `mutate` derives inputs from every file in the
// DIRs. A crash, a trap, an input running past --timeout or an allocation past --memory-mb ends the
// process non-zero after writing the input to --crash-dir (default: the working directory) and
// printing its path.
#if !SEQLENS_LIBFUZZER
    #if canImport(Glibc)
        import Glibc
    #elseif canImport(Darwin)
        import Darwin
    #endif
    import Foundation
    import SeqLensModels

    @main
    struct SeqLensFuzz {
        static func main() {
            var arguments = Array(CommandLine.arguments.dropFirst())
            guard let command = arguments.first else { usage() }
            arguments.removeFirst()
            switch command {
            case "list":
                for target in FuzzTargets.all { print("\(target.name)\t\(target.summary)") }
            case "run":
                // The inputs are files already: nothing to save, and the Swift runtime's own
                // backtrace (SWIFT_BACKTRACE=enable=yes) shows where a crash happened.
                guard let target = arguments.first.flatMap(FuzzTargets.named) else { usage() }
                CrashReport.limitMemory(megabytes: 4096)
                for path in arguments.dropFirst() {
                    guard let input = FileManager.default.contents(atPath: path) else {
                        fail("cannot read \(path)")
                    }
                    printError("\(target.name): \(path)")
                    CrashReport.run(target, [UInt8](input), label: path)
                }
            case "mutate":
                mutate(arguments)
            default:
                usage()
            }
        }

        static func mutate(_ arguments: [String]) {
            guard let target = arguments.first.flatMap(FuzzTargets.named) else { usage() }
            var folders: [String] = []
            var seconds = 10.0, runs = Int.max, seed: UInt64 = 1, maxLength = 65536, timeout = 10.0, memoryMB = 4096
            var crashDirectory = "."
            var index = 1
            func value() -> String {
                index += 1
                guard index < arguments.count else { usage() }
                return arguments[index]
            }
            while index < arguments.count {
                switch arguments[index] {
                case "--seconds": seconds = Double(value()) ?? seconds
                case "--runs": runs = Int(value()) ?? runs
                case "--seed": seed = UInt64(value()) ?? seed
                case "--max-len": maxLength = Int(value()) ?? maxLength
                case "--timeout": timeout = Double(value()) ?? timeout
                case "--memory-mb": memoryMB = Int(value()) ?? memoryMB
                case "--crash-dir": crashDirectory = value()
                case let folder: folders.append(folder)
                }
                index += 1
            }
            var corpus: [[UInt8]] = []
            for folder in folders {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
                for name in names.sorted() {
                    if let data = FileManager.default.contents(atPath: folder + "/" + name) {
                        corpus.append(Array([UInt8](data).prefix(maxLength)))
                    }
                }
            }
            if corpus.isEmpty { corpus = [[]] }
            CrashReport.install(target: target.name, crashDirectory: crashDirectory, memoryMB: memoryMB)
            CrashReport.startWatchdog(timeout: timeout)
            for (number, input) in corpus.enumerated() { CrashReport.run(target, input, label: "seed \(number)") }

            var mutator = Mutator(seed: seed, corpus: corpus, maxLength: maxLength)
            let start = Date()
            var executed = 0
            var current = corpus[0]
            while executed < runs && Date().timeIntervalSince(start) < seconds {
                // A random walk from a seed: a few mutations stacked, then back to a fresh seed.
                if executed % 8 == 0 { current = mutator.pick() }
                current = mutator.mutate(current)
                CrashReport.run(target, current, label: "mutation \(executed) (seed \(seed))")
                executed += 1
            }
            let elapsed = Date().timeIntervalSince(start)
            print("\(target.name): \(executed) inputs in \(String(format: "%.1f", elapsed)) s, no crash")
        }

        static func usage() -> Never {
            fail("usage: seqlens-fuzz list | run TARGET FILE... | mutate TARGET DIR... [--seconds S] [--runs N] [--seed N] [--max-len BYTES] [--timeout S] [--memory-mb MB] [--crash-dir DIR]")
        }

        static func fail(_ message: String) -> Never {
            printError("seqlens-fuzz: \(message)")
            exit(2)
        }
    }

    /// Keeps the input being run where a signal handler can save it, and watches for hangs.
    enum CrashReport {
        nonisolated(unsafe) static var input: UnsafeMutablePointer<UInt8> = .allocate(capacity: 1)
        nonisolated(unsafe) static var inputCapacity = 1
        nonisolated(unsafe) static var inputCount = 0
        /// Where the crashing input goes, as a C string (no allocation in the handler).
        nonisolated(unsafe) static var crashPath: UnsafeMutablePointer<CChar>?
        nonisolated(unsafe) static var timeoutPath: UnsafeMutablePointer<CChar>?
        /// Monotonic start of the current input in nanoseconds; 0 when none runs.
        nonisolated(unsafe) static var startedAt: UInt64 = 0

        static func install(target: String, crashDirectory: String, memoryMB: Int) {
            let directory = URL(fileURLWithPath: crashDirectory).standardizedFileURL.path
            crashPath = strdup("\(directory)/crash-\(target)-\(getpid())")
            timeoutPath = strdup("\(directory)/timeout-\(target)-\(getpid())")
            limitMemory(megabytes: memoryMB)
            // The handler runs on its own stack, so that a stack overflow is reported too.
            let stackSize = 1 << 16
            var stack = stack_t(ss_sp: UnsafeMutableRawPointer.allocate(byteCount: stackSize, alignment: 16), ss_flags: 0, ss_size: stackSize)
            sigaltstack(&stack, nil)
            for number in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
                var action = sigaction()
                action.__sigaction_handler.sa_handler = { number in
                    CrashReport.save(to: CrashReport.crashPath, reason: "crashed (signal \(number))")
                    signal(number, SIG_DFL)
                    raise(number)
                }
                action.sa_flags = Int32(SA_ONSTACK)
                sigaction(number, &action, nil)
            }
        }

        /// Caps the address space, so that a runaway allocation fails (and is reported) at once.
        static func limitMemory(megabytes: Int) {
            var limit = rlimit(rlim_cur: rlim_t(megabytes) << 20, rlim_max: rlim_t(megabytes) << 20)
            setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        }

        static func startWatchdog(timeout: Double) {
            let limit = UInt64(timeout * 1e9)
            let thread = Thread {
                while true {
                    usleep(200_000)
                    let started = CrashReport.startedAt
                    if started != 0 && DispatchTime.now().uptimeNanoseconds - started > limit {
                        CrashReport.save(to: CrashReport.timeoutPath, reason: "ran past the \(timeout) s timeout")
                        _exit(3)
                    }
                }
            }
            thread.start()
        }

        static func run(_ target: FuzzTargets.Target, _ bytes: [UInt8], label: String) {
            if bytes.count > inputCapacity {
                input.deallocate()
                inputCapacity = bytes.count
                input = .allocate(capacity: inputCapacity)
            }
            bytes.withUnsafeBufferPointer { source in
                if let base = source.baseAddress { input.update(from: base, count: source.count) }
            }
            inputCount = bytes.count
            startedAt = DispatchTime.now().uptimeNanoseconds
            bytes.withUnsafeBytes { target.run($0) }
            startedAt = 0
        }

        /// Writes the current input to `path`; only async-signal-safe calls once the message is built.
        static func save(to path: UnsafeMutablePointer<CChar>?, reason: String) {
            guard let path else { return }
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            if fd >= 0 {
                _ = write(fd, input, inputCount)
                close(fd)
            }
            var message = "seqlens-fuzz: input \(reason); saved to "
            message += String(cString: path) + "\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
        }
    }

    /// Seeded byte-level mutations (splitmix64), in the spirit of libFuzzer's mutators.
    struct Mutator {
        private var random: SplitMix64
        let corpus: [[UInt8]]
        let maxLength: Int

        init(seed: UInt64, corpus: [[UInt8]], maxLength: Int) {
            random = SplitMix64(seed: seed)
            self.corpus = corpus
            self.maxLength = maxLength
        }

        mutating func next() -> UInt64 { random.next() }

        mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(next() % UInt64(bound)) }

        mutating func pick() -> [UInt8] { corpus[below(corpus.count)] }

        static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x0A, 0x0D, 0x22, 0x5C, 0x30, 0x39, 0x2D]
        static let interestingIntegers: [UInt64] = [
            0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
            0x1_0000_0000, 1 << 40, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, .max, .max - 7,
        ]
        static let interestingTexts: [String] = [
            "-1", "0", "-0", "1.5", "1e308", "-1e308", "4294967296", "2147483648", "9223372036854775807",
            "9223372036854775808", "18446744073709551615", "99999999999999999999999", "null", "true", "\"\"", "[]",
            "{}", "[[[[[[[[[[[[[[[[", "{\"a\":", "\\u0000", "\\ud800", "NaN", "Infinity", ",", ":", "\r\n\r\n",
            "Content-Length: 10\r\n\r\n", "Content-Length: 99999999999999999999\r\n\r\n",
        ]

        mutating func mutate(_ input: [UInt8]) -> [UInt8] {
            var bytes = input
            for _ in 0..<(1 + below(4)) { mutateOnce(&bytes) }
            if bytes.count > maxLength { bytes.removeLast(bytes.count - maxLength) }
            return bytes
        }

        private mutating func mutateOnce(_ bytes: inout [UInt8]) {
            let position = below(bytes.count + 1)
            switch below(12) {
            case 0 where !bytes.isEmpty:
                bytes[below(bytes.count)] ^= UInt8(1) << UInt8(below(8))
            case 1 where !bytes.isEmpty:
                bytes[below(bytes.count)] = UInt8(truncatingIfNeeded: next())
            case 2 where !bytes.isEmpty:
                bytes[below(bytes.count)] = Self.interestingBytes[below(Self.interestingBytes.count)]
            case 3:
                // An interesting integer, little-endian, of 1, 2, 4 or 8 bytes (lengths and counts).
                let width = [1, 2, 4, 8][below(4)]
                var value = Self.interestingIntegers[below(Self.interestingIntegers.count)]
                if below(4) == 0 { value = UInt64(bytes.count) &+ UInt64(below(17)) &- 8 }
                let at = below(max(1, bytes.count - width + 1))
                for k in 0..<width {
                    let byte = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k)))
                    if at + k < bytes.count { bytes[at + k] = byte } else { bytes.append(byte) }
                }
            case 4 where !bytes.isEmpty:
                let count = 1 + below(min(bytes.count - position + 1, 64))
                bytes.removeSubrange(position..<min(bytes.count, position + count))
            case 5:
                let random = (0..<(1 + below(16))).map { _ in UInt8(truncatingIfNeeded: next()) }
                bytes.insert(contentsOf: random, at: position)
            case 6 where !bytes.isEmpty:
                bytes.removeLast(bytes.count - below(bytes.count))
            case 7:
                let other = pick()
                let cut = below(other.count + 1)
                bytes = Array(bytes[..<position]) + other[cut...]
            case 8:
                let text = Array(Self.interestingTexts[below(Self.interestingTexts.count)].utf8)
                if let digits = digitRun(in: bytes, near: position) {
                    bytes.replaceSubrange(digits, with: text)
                } else {
                    bytes.insert(contentsOf: text, at: position)
                }
            case 9 where !bytes.isEmpty:
                let from = below(bytes.count)
                let count = 1 + below(min(bytes.count - from, 256))
                bytes.insert(contentsOf: bytes[from..<(from + count)], at: position)
            case 10 where bytes.count > 1:
                let from = below(bytes.count), to = below(bytes.count)
                let count = 1 + below(min(bytes.count - max(from, to), 32))
                let chunk = Array(bytes[from..<(from + count)])
                bytes.replaceSubrange(to..<(to + count), with: chunk)
            default:
                bytes.insert(Self.interestingBytes[below(Self.interestingBytes.count)], at: position)
            }
        }

        /// The run of ASCII digits at or after `position`, if one starts within 64 bytes.
        private func digitRun(in bytes: [UInt8], near position: Int) -> Range<Int>? {
            let isDigit = { (byte: UInt8) in byte >= 0x30 && byte <= 0x39 }
            guard let start = bytes[position...].prefix(64).firstIndex(where: isDigit) else { return nil }
            let end = bytes[start...].firstIndex { !isDigit($0) } ?? bytes.count
            return start..<end
        }
    }
#endif
