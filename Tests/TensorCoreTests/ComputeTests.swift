import Foundation
import Testing
import TensorCore

/// Values in [-1, 1], deterministic per shape and seed.
private func det(_ shape: [Int], _ seed: Int) -> Tensor {
    Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { Float(($0 * 7919 + seed * 104_729) % 2001 - 1000) / 1000 })
}

/// The kernel choice (cpuid -> OpenBLAS kernel set), the compute pool and its core budget,
/// and products split over the pool.
@Suite("Compute: kernel choice, pool, split products")
struct ComputeTests {
    // cpuid bits (leaf 1 ECX; leaf 7 EBX / ECX / EDX; leaf 7.1 EAX).
    static let sse = UInt32(1 << 0 | 1 << 9 | 1 << 19 | 1 << 20)
    static let osxsave = UInt32(1 << 27), avx = UInt32(1 << 28), fma = UInt32(1 << 12), f16c = UInt32(1 << 29)
    static let avx2 = UInt32(1 << 5)
    static let avx512 = UInt32(1 << 16 | 1 << 17 | 1 << 28 | 1 << 30 | 1 << 31)   // F DQ CD BW VL
    static let bf16 = UInt32(1 << 5), avxVNNI = UInt32(1 << 4)
    static let amx = UInt32(1 << 22 | 1 << 24 | 1 << 25)
    static let ymmState: UInt64 = 0x7, zmmState: UInt64 = 0xe7, amxState: UInt64 = 0x600e7

    /// Leaf 1 EAX for a display family and model (Intel/AMD encoding of the extended fields).
    static func signature(family: Int, model: Int, stepping: Int = 1) -> UInt32 {
        let baseFamily = min(family, 0xf), extFamily = family > 0xf ? family - 0xf : 0
        return UInt32(extFamily << 20 | (model >> 4) << 16 | baseFamily << 8 | (model & 0xf) << 4 | stepping)
    }

    static func cpu(_ vendor: String, family: Int, model: Int, ecx: UInt32, ebx7: UInt32 = 0, edx7: UInt32 = 0,
                    eax71: UInt32 = 0, xcr0: UInt64) -> CPUFeatureSet {
        CPUFeatureSet(CPUIDValues(vendor: vendor, maxLeaf: 0x20, leaf1EAX: signature(family: family, model: model),
                                  leaf1ECX: ecx, leaf7EBX: ebx7, leaf7EDX: edx7, leaf7Sub1EAX: eax71, xcr0: xcr0))
    }

    @Test func kernelTableFromSyntheticCPUID() {
        let avxECX = Self.sse | Self.osxsave | Self.avx | Self.fma | Self.f16c
        // Intel Xeon family 6 model 207 (0xCF, Emerald Rapids): the CPU Debian's OpenBLAS
        // 0.3.21 does not know (it picks Prescott). AVX-512 with BF16, AMX.
        let emerald = Self.cpu("GenuineIntel", family: 6, model: 207, ecx: avxECX, ebx7: Self.avx2 | Self.avx512,
                               edx7: Self.amx, eax71: Self.bf16 | Self.avxVNNI, xcr0: Self.amxState)
        #expect(emerald.family == 6 && emerald.model == 207)
        #expect(emerald.bestKernels == "Cooperlake")
        #expect(emerald.features.contains("amx_bf16") && emerald.features.contains("avx512_bf16"))
        // Skylake-SP (model 0x55): AVX-512 without BF16.
        let skx = Self.cpu("GenuineIntel", family: 6, model: 0x55, ecx: avxECX, ebx7: Self.avx2 | Self.avx512, xcr0: Self.zmmState)
        #expect(skx.bestKernels == "SkylakeX")
        // The same CPU where the OS does not save the AVX-512 registers: AVX2 only.
        let noZMM = Self.cpu("GenuineIntel", family: 6, model: 0x55, ecx: avxECX, ebx7: Self.avx2 | Self.avx512, xcr0: Self.ymmState)
        #expect(noZMM.bestKernels == "Haswell" && !noZMM.features.contains("avx512f"))
        // ... or not even AVX (no OSXSAVE): nothing better than OpenBLAS's own choice.
        let noOS = Self.cpu("GenuineIntel", family: 6, model: 0x55, ecx: Self.sse | Self.avx | Self.fma, ebx7: Self.avx2, xcr0: 0)
        #expect(noOS.bestKernels == nil && !noOS.features.contains("avx"))
        // AMD: Zen 4 (family 25 = 19h) with AVX-512 + BF16, Zen 2 (17h) AVX2 only.
        let zen4 = Self.cpu("AuthenticAMD", family: 25, model: 17, ecx: avxECX, ebx7: Self.avx2 | Self.avx512,
                            eax71: Self.bf16, xcr0: Self.zmmState)
        #expect(zen4.family == 25 && zen4.model == 17 && zen4.bestKernels == "Cooperlake")
        let zen2 = Self.cpu("AuthenticAMD", family: 0x17, model: 0x31, ecx: avxECX, ebx7: Self.avx2, xcr0: Self.ymmState)
        #expect(zen2.bestKernels == "Zen")
        // AMD before Zen (Excavator, 15h) and SSE-only CPUs keep OpenBLAS's choice.
        let excavator = Self.cpu("AuthenticAMD", family: 0x15, model: 0x60, ecx: avxECX, ebx7: Self.avx2, xcr0: Self.ymmState)
        #expect(excavator.bestKernels == nil)
        let haswell = Self.cpu("GenuineIntel", family: 6, model: 0x3c, ecx: avxECX, ebx7: Self.avx2, xcr0: Self.ymmState)
        #expect(haswell.bestKernels == "Haswell")
        let sandy = Self.cpu("GenuineIntel", family: 6, model: 0x2a, ecx: Self.sse | Self.osxsave | Self.avx, xcr0: Self.ymmState)
        #expect(sandy.bestKernels == "Sandybridge")
        let core2 = Self.cpu("GenuineIntel", family: 6, model: 0x17, ecx: Self.sse, xcr0: 0)
        #expect(core2.bestKernels == nil && core2.features == ["sse3", "ssse3", "sse4.1", "sse4.2"])
        // Not x86 (cpuid reads as zeros).
        let none = CPUFeatureSet(CPUIDValues(vendor: "", maxLeaf: 0, leaf1EAX: 0, leaf1ECX: 0, xcr0: 0))
        #expect(!none.isX86 && none.bestKernels == nil)
    }

    @Test func kernelRanksOrderTheSets() {
        #expect(CPUFeatureSet.kernelRank("Prescott") == 1)
        #expect(CPUFeatureSet.kernelRank("sandybridge") == 2)
        #expect(CPUFeatureSet.kernelRank("Haswell") == 3 && CPUFeatureSet.kernelRank("ZEN") == 3)
        #expect(CPUFeatureSet.kernelRank("SkylakeX") == 4 && CPUFeatureSet.kernelRank("Cooperlake") == 4)
        // Names mmpipe does not know (other architectures, newer sets) are never replaced.
        #expect(CPUFeatureSet.kernelRank("ARMV8") == 0 && CPUFeatureSet.kernelRank("NeoverseN1") == 0)
    }

    /// This CPU's decoded features agree with what the kernel reports in /proc/cpuinfo.
    @Test func thisCPUAgreesWithProcCpuinfo() throws {
        let cpu = CPUFeatureSet.current
        guard cpu.isX86, let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(flagsLine.split(separator: ":")[1].split(separator: " ").map(String.init))
        for (ours, kernels) in [("avx", "avx"), ("avx2", "avx2"), ("fma", "fma"), ("f16c", "f16c"), ("avx512f", "avx512f"),
                                ("avx512bw", "avx512bw"), ("avx512vl", "avx512vl"), ("avx512_bf16", "avx512_bf16"),
                                ("sse4.2", "sse4_2")] {
            #expect(cpu.features.contains(ours) == flags.contains(kernels), "\(ours) vs /proc/cpuinfo \(kernels)")
        }
        // Whatever was chosen, the kernel set in use is at least as good as OpenBLAS's choice
        // and, unless the user set one, not below what the CPU supports; under MMPIPE_ISA,
        // exactly the capped CPU's set.
        let choice = BLASChoice.current
        let capped = cpu.capped(at: CPUFeatures.isa)
        if choice.reason != .fromEnvironment, let best = capped.bestKernels {
            if CPUFeatures.isa < cpu.level {
                #expect(choice.isaCapped && choice.inUse.lowercased() == best.lowercased(), "\(choice.explanation)")
            } else {
                #expect(CPUFeatureSet.kernelRank(choice.inUse) >= CPUFeatureSet.kernelRank(best), "\(choice.explanation)")
            }
        }
        if CPUFeatures.isa == .portable && cpu.level > .portable {
            #expect(choice.isaCapped && choice.inUse == "Prescott", "\(choice.explanation)")
        }
    }

    @Test func poolRunsEveryPartOnceAndNests() {
        for parts in [1, 2, 3, 7, 64, 1000] {
            var counts = [Int](repeating: 0, count: parts)
            counts.withUnsafeMutableBufferPointer { c in
                let base = c.baseAddress!
                Compute.parallelParts(parts) { p in base[p] += 1 }
            }
            #expect(counts == [Int](repeating: 1, count: parts))
        }
        // A part that starts another parallel loop: the inner one runs on that thread.
        let outer = 4, inner = 50
        var grid = [Int](repeating: 0, count: outer * inner)
        grid.withUnsafeMutableBufferPointer { g in
            let base = g.baseAddress!
            Compute.parallelParts(outer) { o in
                Compute.parallelFor(inner) { i in base[o * inner + i] += 1 }
            }
        }
        #expect(grid.allSatisfy { $0 == 1 })
    }

    /// Several threads using the pool at once (one gets it, the others run their parts
    /// themselves): every result is right.
    @Test func concurrentCallersGetTheirOwnResults() {
        let callers = 4, n = 20_000
        final class Sums: @unchecked Sendable { var values = [Double](repeating: 0, count: 4) }
        let sums = Sums()
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            var partial = [Double](repeating: 0, count: 8)
            partial.withUnsafeMutableBufferPointer { pp in
                let base = pp.baseAddress!
                for _ in 0..<20 {
                    Compute.parallelParts(8) { p in
                        var s = 0.0
                        for i in stride(from: p, to: n, by: 8) { s += Double(i * (c + 1)) }
                        base[p] = s
                    }
                }
            }
            sums.values[c] = partial.reduce(0, +)
        }
        for c in 0..<callers {
            #expect(sums.values[c] == Double((c + 1) * n * (n - 1) / 2))
        }
    }

    /// A thread holding a core (a busy decoder) leaves the pool one helper fewer: busy
    /// threads never exceed the cores. The peak is process-wide and other suites run in
    /// parallel (a caller outside any core counts as busy), so a clean measurement out of up
    /// to five counts; an oversubscribing pool exceeds the cores every time.
    @Test func busyCoresAreNotOversubscribed() {
        let cores = Compute.cores
        var peaks: [Int] = []
        for _ in 0..<5 {
            let (peak, out) = Self.peakWithCoresHeld(cores)
            #expect(out.allSatisfy { $0 == out[0] && $0 > 0 })
            peaks.append(peak)
            if peak <= cores { break }
        }
        #expect(peaks.contains { $0 <= cores }, "peaks \(peaks) busy threads on \(cores) cores")
    }

    static func peakWithCoresHeld(_ cores: Int) -> (Int, [Float]) {
        Compute.resetPeakBusy()
        // Every core but one held by another thread (none on one core: the job's own
        // thread then needs the only one).
        let holders = cores - 1
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for _ in 0..<holders {
            group.enter()
            Thread {
                Compute.occupyingCore {
                    started.signal()
                    release.wait()
                }
                group.leave()
            }.start()
        }
        for _ in 0..<holders { started.wait() }
        var out = [Float](repeating: 0, count: 256)
        Compute.occupyingCore {
            out.withUnsafeMutableBufferPointer { o in
                let base = o.baseAddress!
                Compute.parallelParts(256) { p in
                    var s: Float = 0
                    for i in 0..<20_000 { s += Float(i % 7) }
                    base[p] = s
                }
            }
        }
        let peak = Compute.peakBusyThreads
        for _ in 0..<holders { release.signal() }
        group.wait()
        return (peak, out)
    }

    /// Products large enough to be split over the pool (by rows and by columns, with
    /// transposed operands) against a float64 reference.
    @Test func splitProductsMatchAReference() {
        for (m, k, n) in [(301, 129, 517), (517, 96, 130), (9, 700, 2048), (2048, 64, 17)] {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                let a0 = det(transA ? [k, m] : [m, k], 1), b0 = det(transB ? [n, k] : [k, n], 2)
                let a = transA ? a0.transposed() : a0, b = transB ? b0.transposed() : b0
                let c = Tensor.matmul(a, b)
                let ac = a.contiguous().scalars, bc = b.contiguous().scalars, cs = c.scalars
                var maxErr = 0.0
                for i in stride(from: 0, to: m, by: max(1, m / 17)) {
                    for j in stride(from: 0, to: n, by: max(1, n / 13)) {
                        var s = 0.0
                        for t in 0..<k { s += Double(ac[i * k + t]) * Double(bc[t * n + j]) }
                        maxErr = max(maxErr, abs(s - Double(cs[i * n + j])))
                    }
                }
                #expect(maxErr < 1e-3, "\(m)x\(k)x\(n) transA \(transA) transB \(transB): max abs error \(maxErr)")
            }
        }
    }
}

/// 3x3 "same" convolutions large enough for the Winograd F(2x2, 3x3) path, odd sizes
/// included (partial tiles), with bias, residual and ReLU, against a float64 direct sum.
@Suite("Winograd 3x3 convolution")
struct WinogradTests {
    @Test(arguments: [(2, 16, 24, 7, 7), (1, 32, 16, 13, 11), (3, 16, 20, 12, 10), (1, 24, 32, 15, 16)])
    func matchesDirectConvolution(_ shape: (Int, Int, Int, Int, Int)) {
        let (n, c, o, h, w) = shape
        let x = det([n, c, h, w], 1), wt = det([o, c, 3, 3], 2), b = det([o], 3)
        let res = det([n, o, h, w], 4)
        let y = Tensor.fusedConv2d(x, weight: wt, bias: b, stride: 1, padTop: 1, padLeft: 1, outHeight: h, outWidth: w,
                                   residual: res, activation: .relu)
        let plain = Tensor.conv2d(x, weight: wt, bias: nil, Conv2DGeometry(stride: (1, 1), padding: (1, 1)))
        let xs = x.scalars, ws = wt.scalars, bs = b.scalars, rs = res.scalars, ys = y.scalars, ps = plain.scalars
        var maxErr = 0.0, maxPlain = 0.0
        for img in 0..<n {
            for oc in 0..<o {
                for yy in 0..<h {
                    for xx in 0..<w {
                        var s = 0.0
                        for ic in 0..<c {
                            for ky in 0..<3 {
                                let iy = yy + ky - 1
                                if iy < 0 || iy >= h { continue }
                                for kx in 0..<3 {
                                    let ix = xx + kx - 1
                                    if ix < 0 || ix >= w { continue }
                                    s += Double(xs[((img * c + ic) * h + iy) * w + ix]) * Double(ws[((oc * c + ic) * 3 + ky) * 3 + kx])
                                }
                            }
                        }
                        let at = ((img * o + oc) * h + yy) * w + xx
                        maxPlain = max(maxPlain, abs(s - Double(ps[at])))
                        let fused = max(0, s + Double(bs[oc]) + Double(rs[at]))
                        maxErr = max(maxErr, abs(fused - Double(ys[at])))
                    }
                }
            }
        }
        #expect(maxErr < 2e-4 && maxPlain < 2e-4, "\(shape): fused max abs error \(maxErr), plain \(maxPlain)")
    }
}
