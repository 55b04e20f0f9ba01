import CBLAS
import CKernels
import Foundation

/// The raw cpuid values that decide the BLAS kernel set (this CPU's, or synthetic ones in tests).
public struct CPUIDValues: Sendable, Equatable {
    public var vendor: String
    public var maxLeaf: UInt32
    public var leaf1EAX: UInt32, leaf1ECX: UInt32, leaf1EDX: UInt32
    public var leaf7EBX: UInt32, leaf7ECX: UInt32, leaf7EDX: UInt32
    public var leaf7Sub1EAX: UInt32
    /// xgetbv(0): the register state the OS saves (bits 1-2 XMM/YMM, 5-7 AVX-512, 17-18 AMX).
    public var xcr0: UInt64

    public init(vendor: String, maxLeaf: UInt32, leaf1EAX: UInt32, leaf1ECX: UInt32, leaf1EDX: UInt32 = 0,
                leaf7EBX: UInt32 = 0, leaf7ECX: UInt32 = 0, leaf7EDX: UInt32 = 0, leaf7Sub1EAX: UInt32 = 0,
                xcr0: UInt64) {
        self.vendor = vendor
        self.maxLeaf = maxLeaf
        self.leaf1EAX = leaf1EAX
        self.leaf1ECX = leaf1ECX
        self.leaf1EDX = leaf1EDX
        self.leaf7EBX = leaf7EBX
        self.leaf7ECX = leaf7ECX
        self.leaf7EDX = leaf7EDX
        self.leaf7Sub1EAX = leaf7Sub1EAX
        self.xcr0 = xcr0
    }

    /// This CPU's values (all zero off x86-64).
    public static var current: CPUIDValues {
        var raw = mmpipe_cpuid()
        mmpipe_cpuid_read(&raw)
        let vendor = withUnsafeBytes(of: raw.vendor) { b in
            String(decoding: b.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return CPUIDValues(vendor: vendor, maxLeaf: raw.max_leaf, leaf1EAX: raw.leaf1_eax, leaf1ECX: raw.leaf1_ecx,
                           leaf1EDX: raw.leaf1_edx, leaf7EBX: raw.leaf7_ebx, leaf7ECX: raw.leaf7_ecx,
                           leaf7EDX: raw.leaf7_edx, leaf7Sub1EAX: raw.leaf7_1_eax, xcr0: raw.xcr0)
    }

    var raw: mmpipe_cpuid {
        var r = mmpipe_cpuid()
        withUnsafeMutableBytes(of: &r.vendor) { b in
            for (i, c) in vendor.utf8.prefix(12).enumerated() { b[i] = c }
        }
        r.max_leaf = maxLeaf
        r.leaf1_eax = leaf1EAX
        r.leaf1_ecx = leaf1ECX
        r.leaf1_edx = leaf1EDX
        r.leaf7_ebx = leaf7EBX
        r.leaf7_ecx = leaf7ECX
        r.leaf7_edx = leaf7EDX
        r.leaf7_1_eax = leaf7Sub1EAX
        r.xcr0 = xcr0
        return r
    }
}

/// The CPU features that matter for the kernels, decoded from cpuid.
public struct CPUFeatureSet: Sendable, Equatable {
    public let isX86: Bool
    public let vendor: String
    public let family: Int, model: Int, stepping: Int
    /// Usable features (the CPU has them and the OS saves their registers), lower case, in
    /// a fixed order: sse3 ssse3 sse4.1 sse4.2 avx avx2 fma f16c avx512f avx512cd avx512bw
    /// avx512dq avx512vl avx512_bf16 avx512_vnni avx_vnni amx_tile amx_bf16 amx_int8.
    public let features: [String]
    /// The OpenBLAS kernel set these features call for (nil: keep OpenBLAS's choice).
    public let bestKernels: String?

    /// The highest level of mmpipe's kernels these features allow.
    public let level: InstructionSet
    private let values: CPUIDValues
    private let cap: Int32

    public init(_ values: CPUIDValues) {
        self.init(values, cap: -1)
    }

    private init(_ values: CPUIDValues, cap: Int32) {
        var raw = values.raw
        var f = mmpipe_cpu_features()
        mmpipe_cpu_decode(&raw, &f)
        if cap >= 0 { mmpipe_cpu_cap(&f, cap) }
        self.values = values
        self.cap = cap
        isX86 = f.x86 != 0
        vendor = values.vendor
        family = Int(f.family)
        model = Int(f.model)
        stepping = Int(f.stepping)
        let named: [(String, Int32)] = [
            ("sse3", f.sse3), ("ssse3", f.ssse3), ("sse4.1", f.sse41), ("sse4.2", f.sse42), ("avx", f.avx),
            ("avx2", f.avx2), ("fma", f.fma), ("f16c", f.f16c), ("avx512f", f.avx512f), ("avx512cd", f.avx512cd),
            ("avx512bw", f.avx512bw), ("avx512dq", f.avx512dq), ("avx512vl", f.avx512vl),
            ("avx512_bf16", f.avx512_bf16), ("avx512_vnni", f.avx512_vnni), ("avx_vnni", f.avx_vnni),
            ("amx_tile", f.amx_tile), ("amx_bf16", f.amx_bf16), ("amx_int8", f.amx_int8),
        ]
        features = named.filter { $0.1 != 0 }.map(\.0)
        bestKernels = mmpipe_blas_kernel_for(&f).map { String(cString: $0) }
        level = InstructionSet(rawValue: Int(mmpipe_isa_level(&f))) ?? .portable
    }

    /// The same CPU with every feature above `level` taken away (`MMPIPE_ISA`).
    public func capped(at level: InstructionSet) -> CPUFeatureSet {
        level >= self.level ? self : CPUFeatureSet(values, cap: Int32(level.rawValue))
    }

    public static var current: CPUFeatureSet { CPUFeatureSet(.current) }

    /// 4 AVX-512, 3 AVX2/FMA, 2 AVX, 1 older SSE sets, 0 unknown (never replaced).
    public static func kernelRank(_ name: String) -> Int { Int(mmpipe_blas_kernel_rank(name)) }
}

/// How the BLAS kernel set in use was chosen.
public struct BLASChoice: Sendable {
    public enum Reason: Sendable, Equatable {
        /// OpenBLAS's own choice, kept: as good as this CPU allows, or none better is known.
        case ownChoice
        /// `OPENBLAS_CORETYPE` came from the environment: kept.
        case fromEnvironment
        /// Chosen by mmpipe (OpenBLAS had picked `detected`), and the program executed again.
        case chosen
        /// OpenBLAS picked less than the CPU supports, and the program could not be restarted.
        case fallbackKept
    }

    public let reason: Reason
    /// The kernel set in use (`openblas_get_corename`).
    public let inUse: String
    /// What OpenBLAS picked by itself, where known.
    public let detected: String?
    /// The best set for this CPU's features, if one is known.
    public let best: String?
    /// `OPENBLAS_CORETYPE` as the process found it.
    public let environmentValue: String?
    public let note: String?
    public let library: String
    public let config: String
    /// `MMPIPE_ISA` lowered the kernel set.
    public var isaCapped = false

    public static var current: BLASChoice {
        let s = mmpipe_blas_state_get()!.pointee
        func str(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }
        let reason: Reason
        switch s.reason {
        case MMPIPE_BLAS_FROM_ENV: reason = .fromEnvironment
        case MMPIPE_BLAS_CHOSEN: reason = .chosen
        case MMPIPE_BLAS_FALLBACK_KEPT: reason = .fallbackKept
        default: reason = .ownChoice
        }
        var choice = BLASChoice(reason: reason, inUse: BLAS.coreName, detected: str(s.detected), best: str(s.best),
                                environmentValue: str(s.env_coretype), note: str(s.error),
                                library: str(s.library) ?? "libopenblas.so.0", config: BLAS.config)
        choice.isaCapped = s.isa_cap >= 0
        return choice
    }

    /// One sentence: the kernel set in use and why.
    public var explanation: String {
        switch reason {
        case .ownChoice:
            if let best, CPUFeatureSet.kernelRank(best) > CPUFeatureSet.kernelRank(inUse) {
                return "\(inUse): OpenBLAS's own choice (kept: mmpipe does not know how \(inUse) compares with \(best))"
            }
            return "\(inUse): OpenBLAS's own choice, the best set for this CPU's features"
        case .fromEnvironment:
            var s = "\(inUse): OPENBLAS_CORETYPE=\(environmentValue ?? "") from the environment (kept)"
            if let best, CPUFeatureSet.kernelRank(best) > CPUFeatureSet.kernelRank(inUse) {
                s += "; this CPU supports \(best)"
            }
            if let v = environmentValue, v.lowercased() != inUse.lowercased() {
                s += "; OpenBLAS did not accept \(v)"
            }
            return s
        case .chosen where isaCapped:
            return "\(inUse): chosen by mmpipe for MMPIPE_ISA (OpenBLAS picked \(detected ?? "another set") for this CPU), "
                + "OPENBLAS_CORETYPE=\(environmentValue ?? inUse) set and the program started again"
        case .chosen:
            var s = "\(inUse): chosen by mmpipe; OpenBLAS picked \(detected ?? "a generic set") for this CPU, so "
                + "OPENBLAS_CORETYPE=\(environmentValue ?? inUse) was set and the program started again"
            if let v = environmentValue, v.lowercased() != inUse.lowercased() {
                s += " (OpenBLAS did not accept \(v))"
            }
            return s
        case .fallbackKept:
            return "\(inUse): OpenBLAS's choice, slower than this CPU allows (\(best ?? "?")): \(note ?? "not restarted"); "
                + "set OPENBLAS_CORETYPE=\(best ?? "?") to use it"
        }
    }
}

extension Compute {
    /// The lines `mmpipe --compute-info` prints: CPU, its features, the kernel set and why,
    /// the threads.
    public static var report: [String] {
        let cpu = CPUFeatureSet.current
        let choice = BLASChoice.current
        var lines: [String] = []
        var name = "unknown"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") || $0.hasPrefix("Model") }),
           let colon = line.firstIndex(of: ":") {
            name = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if cpu.isX86 {
            lines.append("cpu: \(name) (\(cpu.vendor), family \(cpu.family) model \(cpu.model) stepping \(cpu.stepping)), \(cores) core\(cores == 1 ? "" : "s")")
            lines.append("features: \(cpu.features.joined(separator: " "))")
            lines.append("best kernel set for these features: \(cpu.bestKernels ?? "none known (OpenBLAS's own choice is kept)")")
        } else {
            lines.append("cpu: \(name), \(cores) cores (not x86-64: OpenBLAS's own kernel choice is kept)")
        }
        let isa = CPUFeatures.isa
        let why = CPUFeatures.requested == nil ? "the CPU's best" : isa < CPUFeatures.best
            ? "MMPIPE_ISA=\(CPUFeatures.requested!); the CPU's best is \(CPUFeatures.best)"
            : "MMPIPE_ISA=\(CPUFeatures.requested!), the CPU's best"
        lines.append("instruction set: \(isa) (\(why))")
        lines.append("matrix products: mmpipe's \(isa) kernels, one summation order per element "
            + "(results do not depend on batch, threads or \(isa == .portable ? "layout" : "avx2 vs avx512"))")
        lines.append("blas: \(choice.explanation) (double-precision products: the heads' fit)")
        lines.append("blas library: \(choice.library), \(choice.config)")
        lines.append("int8 kernel (--compute-type int8): \(CPUFeatures.int8Kernel)")
        lines.append("int8 encoder attention (--compute-type int8): int8 scores, bfloat16 weights x values on "
            + (CPUFeatures.avx512BF16 ? "avx512-bf16" : "float32 products (no AVX-512 BF16)"))
        lines.append("threads: \(threads) in mmpipe's compute pool (MMPIPE_THREADS or --threads, else the cores); "
            + "OpenBLAS runs single-threaded inside it, idle threads sleep")
        return lines
    }
}
