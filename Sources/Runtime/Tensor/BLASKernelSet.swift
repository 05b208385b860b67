import CKernels
import COpenBLAS
import Foundation

/// Which of OpenBLAS's kernel sets runs the matrix products, and the better one for this CPU when OpenBLAS chose
/// badly. OpenBLAS picks its kernels once, when the library loads, from the CPU model it finds; a release older than
/// the CPU does not know the model and falls back to its SSE3 "Prescott" kernels — Debian 12's OpenBLAS 0.3.21 on an
/// Emerald Rapids Xeon does, and runs prefill 4× and decoding 2× slower there than with its AVX-512 kernels. The
/// choice can only be made through `OPENBLAS_CORETYPE` before the library loads, so the `teleguard` command starts
/// itself again with it set (`relaunchArguments`); a library user sets it in the environment.
public enum BLASKernelSet {
    /// OpenBLAS's name for the kernels in use, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var current: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// OpenBLAS x86 kernel sets older than AVX: what it falls back to for a CPU it does not recognise.
    static let preAVX: Set<String> = ["katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn",
                                      "dunnington", "nehalem", "opteron", "opteron_sse3", "barcelona", "bobcat", "nano"]

    /// The `OPENBLAS_CORETYPE` to run with instead of `current`, or nil when `current` already fits: only a pre-AVX
    /// fallback is replaced, by SkylakeX on AVX-512 CPUs and Haswell on AVX2+FMA ones.
    public static func better(than current: String, avx512: Bool, avx2: Bool) -> String? {
        guard preAVX.contains(current.lowercased()) else { return nil }
        if avx512 { return "SkylakeX" }
        if avx2 { return "Haswell" }
        return nil
    }

    /// `better(than:avx512:avx2:)` for this CPU.
    public static func better(than kernels: String) -> String? {
        better(than: kernels, avx512: tg_cpu_has_avx512_skylakex() != 0, avx2: tg_cpu_has_avx2_fma() != 0)
    }

    /// `better(than:)` for this process; nil when the user chose `OPENBLAS_CORETYPE` themselves.
    public static func recommended(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        return better(than: current)
    }

    /// Replaces this process by itself with `OPENBLAS_CORETYPE` set when `recommended` names a better kernel set
    /// (same arguments, environment and open files; nothing has run yet). Returns when there is nothing to do or
    /// the relaunch fails, and the program then goes on with the kernels it has.
    public static func relaunchIfBetterKernelsExist() {
        #if os(Linux)
        guard let kernels = recommended() else { return }
        setenv("OPENBLAS_CORETYPE", kernels, 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        // exec keeps the calling thread's signal mask, and this may be a worker thread that blocks SIGINT/SIGTERM:
        // the new program must start with none blocked, as from a shell.
        var none = sigset_t()
        sigemptyset(&none)
        var previous = sigset_t()
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        execv("/proc/self/exe", &argv)
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        // Only reached when exec failed: carry on as we are (the variable would change nothing now).
        unsetenv("OPENBLAS_CORETYPE")
        for pointer in argv { free(pointer) }
        #endif
    }
}
