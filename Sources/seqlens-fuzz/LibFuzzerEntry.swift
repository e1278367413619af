// The libFuzzer entry points, compiled in only for a fuzzing build (scripts/fuzz passes
// `-sanitize=fuzzer,address -D SEQLENS_LIBFUZZER -enable-experimental-feature Extern`). The target
// is chosen with the environment variable SEQLENS_FUZZ_TARGET.
//
// SwiftPM links an executable with `main` renamed to `seqlens_fuzz_main` (so that tests could link
// the module), which keeps libFuzzer's own `main` out; this one hands over to libFuzzer's driver.
#if SEQLENS_LIBFUZZER
    import Foundation

    @_extern(c, "LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    @_cdecl("seqlens_fuzz_main")
    public func fuzzerMain(
        _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> Int32 {
        var count = argc
        var arguments = argv
        return runFuzzerDriver(&count, &arguments) { data, size in fuzzerTestOneInput(data, size) }
    }

    nonisolated(unsafe) private var selectedTarget: FuzzTargets.Target?

    @_cdecl("LLVMFuzzerInitialize")
    public func fuzzerInitialize(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
    ) -> Int32 {
        let name = ProcessInfo.processInfo.environment["SEQLENS_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTargets.named(name) else {
            let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
            printError("seqlens-fuzz: set SEQLENS_FUZZ_TARGET to one of: \(names)")
            exit(2)
        }
        selectedTarget = target
        return 0
    }

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        guard let target = selectedTarget else { return 0 }
        target.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }
#endif
