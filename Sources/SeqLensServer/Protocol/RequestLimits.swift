/// The most work one request may ask for. A request above a limit is answered -32602 naming the
/// field and the limit, before anything is computed; protocol/README.md ("Limits") lists them.
///
/// They bound what a client can make the daemon do in one request, so that no request wedges the
/// compute queue for hours or exhausts memory before its first cancellation point.
public enum RequestLimits {
    /// Elements of any one array parameter (texts, ids, ...).
    public static let arrayElements = 100_000
    /// Texts per `generate` or `attribute` request.
    public static let inputs = 1_000
    /// Integration points of integrated-gradients methods (`nSteps`). Computing Gauss–Legendre
    /// nodes is quadratic in the count: 10,000 points take well under a second.
    public static let integrationSteps = 10_000
    /// Samples of sampling methods and Monte Carlo dropout passes (`nSamples`, `nMcdSteps`).
    public static let samples = 10_000
    /// Default largest message body (`--max-message-bytes`). Parsing a body costs up to about 40
    /// times its size in memory (a 50 MB array of zeros peaked at 1.77 GB), so 16 MiB bounds one
    /// message near 0.6 GB.
    public static let messageBytes = 16 << 20
}
