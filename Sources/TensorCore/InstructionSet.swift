import CBLAS
import CKernels
import Foundation

/// The instruction-set levels of mmpipe's own kernels. Each level is a complete path: every
/// kernel has a version for it, and the suite runs each (`MMPIPE_ISA`).
public enum InstructionSet: Int, Comparable, CaseIterable, Sendable, CustomStringConvertible {
    /// x86-64's baseline (SSE2) or another architecture: portable loops.
    case portable = 0
    /// AVX2 with FMA and F16C (Intel Haswell, AMD Zen and later).
    case avx2 = 1
    /// AVX-512 F, CD, BW, DQ and VL (Intel Skylake-SP, AMD Zen 4 and later).
    case avx512 = 2

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// As `MMPIPE_ISA` spells it.
    public var description: String {
        switch self {
        case .portable: "portable"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }

    /// `MMPIPE_ISA`'s value, or nil for a word that is not a level.
    public init?(name: String) {
        let v = mmpipe_isa_parse(name)
        guard v >= 0, let level = InstructionSet(rawValue: Int(v)) else { return nil }
        self = level
    }

    /// The highest level these features allow.
    public init(_ features: CPUFeatureSet) {
        self = features.level
    }
}

/// CPU features the kernels of `CKernels` use, decided once: the CPU's (cpuid, with the OS's
/// saved register state), lowered to `MMPIPE_ISA` when that names a lower level.
public enum CPUFeatures {
    /// The best level this CPU offers.
    public static let best: InstructionSet = InstructionSet(CPUFeatureSet.current)

    /// `MMPIPE_ISA` as the process found it (nil: unset or empty).
    public static let requested: String? = {
        let v = ProcessInfo.processInfo.environment["MMPIPE_ISA"]?.trimmingCharacters(in: .whitespaces)
        return v?.isEmpty == false ? v : nil
    }()

    /// The level every kernel uses: `MMPIPE_ISA` when it is a level at most `best`, else `best`.
    public static let isa: InstructionSet = {
        guard let requested, let level = InstructionSet(name: requested) else { return best }
        return min(level, best)
    }()

    /// Why `MMPIPE_ISA` cannot be honoured (nil when it is unset or fine): one line for the
    /// front ends to refuse with.
    public static var problem: String? {
        guard let requested else { return nil }
        guard let level = InstructionSet(name: requested) else {
            return "MMPIPE_ISA=\(requested) is not an instruction set: use avx512, avx2 or portable (or unset it)"
        }
        if level > best {
            let have = CPUFeatureSet.current.features.filter { $0.hasPrefix("avx") }.joined(separator: " ")
            return "MMPIPE_ISA=\(requested) is above what this CPU has (at most \(best); its features: \(have.isEmpty ? "no AVX" : have)); use \(best) or lower, or unset it"
        }
        return nil
    }

    /// The features the kernels may use (the CPU's, capped at `isa`).
    public static let usable: Set<String> = Set(CPUFeatureSet.current.capped(at: isa).features)

    /// AVX2, FMA and F16C: the AVX2 kernels and half-precision weights.
    public static let avx2FMAF16C: Bool = isa >= .avx2
    /// AVX2 with FMA: the int8 kernel with `vpmaddubsw`, the vector maths.
    public static let avx2FMA: Bool = isa >= .avx2
    /// AVX-512F: the few-query attention kernels of decoding steps, the AVX-512 products.
    public static let avx512F: Bool = isa >= .avx512
    /// AVX-512 (F, BW) with VNNI: the int8 kernel with `vpdpbusd`.
    public static let avx512VNNI: Bool = isa >= .avx512 && usable.contains("avx512_vnni")
    /// AVX-512 BF16 (with VL and BW): the int8 compute type's attention weights times values
    /// (`Tensor.attention`'s `lowPrecision`) with `vdpbf16ps`.
    public static let avx512BF16: Bool = isa >= .avx512 && usable.contains("avx512_bf16")

    /// Which int8 kernel `Tensor.linear` runs here.
    public static var int8Kernel: String { avx512VNNI ? "avx512-vnni" : avx2FMA ? "avx2" : "portable" }

    /// The level handed to the C kernels.
    static var kernelLevel: Int32 { Int32(isa.rawValue) }
}
