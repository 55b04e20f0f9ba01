import Foundation
import Testing

/// `--compute-info`, the kernel set a fresh process ends up with, and threads that never spin.
@Suite("mmpipe compute: kernel choice and threads, end to end")
struct ComputeCLITests {
    /// Variables that would make a child inherit this test process's choice.
    static let blasVariables = ["OPENBLAS_CORETYPE", "MMPIPE_BLAS_RESTARTED", "MMPIPE_BLAS_TEST_DETECTED",
                                "MMPIPE_BLAS_RESTART", "MMPIPE_ISA"]
    static let sseOnlySets: Set<String> = ["katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2",
                                           "penryn", "dunnington", "nehalem", "athlon", "opteron", "opteron_sse3",
                                           "barcelona", "nano", "bobcat"]

    static var cpuFlags: Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(separator: ":")[1].split(separator: " ").map(String.init))
    }

    /// The kernel set named by the `blas:` line.
    static func kernelSet(_ r: CLI.Result) -> String? {
        guard let line = r.lines.first(where: { $0.hasPrefix("blas: ") }) else { return nil }
        return line.dropFirst(6).split(separator: ":").first.map(String.init)
    }

    @Test func computeInfoNamesCPUFeaturesKernelsAndWhy() throws {
        let r = try CLI.run(["--compute-info"], unset: Self.blasVariables)
        #expect(r.status == 0, "\(r.stderr)")
        for prefix in ["cpu: ", "blas: ", "blas library: ", "threads: "] {
            #expect(r.lines.contains { $0.hasPrefix(prefix) }, "no '\(prefix)' line in \(r.lines)")
        }
        #if arch(x86_64)
        let features = r.lines.first { $0.hasPrefix("features: ") } ?? ""
        #expect(features.contains("sse4.2") == Self.cpuFlags.contains("sse4_2"))
        #expect(features.contains("avx2") == Self.cpuFlags.contains("avx2"), "\(features)")
        // The int8 kernel follows the CPU's flags.
        let int8 = r.lines.first { $0.hasPrefix("int8 kernel") } ?? ""
        let vnni = Self.cpuFlags.contains("avx512_vnni") && Self.cpuFlags.contains("avx512bw")
        #expect(int8.hasSuffix(vnni ? "avx512-vnni" : Self.cpuFlags.contains("avx2") ? "avx2" : "portable"), "\(int8)")
        #endif
    }

    /// A process started with no OPENBLAS_* variable, on a CPU with AVX2, runs a kernel set
    /// that uses it (not OpenBLAS's generic SSE fallback), whatever OpenBLAS detects.
    @Test func freshProcessGetsANonGenericKernelSet() throws {
        guard Self.cpuFlags.contains("avx2") && Self.cpuFlags.contains("fma") else { return }
        let r = try CLI.run(["--compute-info"], unset: Self.blasVariables)
        let set = try #require(Self.kernelSet(r), "\(r.lines)")
        #expect(!Self.sseOnlySets.contains(set.lowercased()) && set.lowercased() != "sandybridge", "\(r.lines)")
        let config = r.lines.first { $0.hasPrefix("blas library: ") } ?? ""
        #expect(config.contains(set), "OpenBLAS's own config line disagrees: \(config)")
    }

    /// Where OpenBLAS picks a generic set (simulated: the test variable makes mmpipe take
    /// OpenBLAS's answer as "Prescott"), mmpipe sets the right one and runs itself again,
    /// once; the job then runs on it.
    @Test func genericFallbackIsReplacedByOneRestart() throws {
        guard Self.cpuFlags.contains("avx2") && Self.cpuFlags.contains("fma") else { return }
        let r = try CLI.run(["--compute-info"], environment: ["MMPIPE_BLAS_TEST_DETECTED": "Prescott"], unset: Self.blasVariables)
        #expect(r.status == 0, "\(r.stderr)")
        let blas = r.lines.first { $0.hasPrefix("blas: ") } ?? ""
        #expect(blas.contains("chosen by mmpipe; OpenBLAS picked Prescott"), "\(blas)")
        let set = try #require(Self.kernelSet(r))
        #expect(!Self.sseOnlySets.contains(set.lowercased()))
        #expect((r.lines.first { $0.hasPrefix("blas library: ") } ?? "").contains(set))
        // The restarted program does real work: the sample transcribes as usual.
        let t = try CLI.run(["transcribe", CLI.sample("speech.wav")], environment: ["MMPIPE_BLAS_TEST_DETECTED": "Prescott"],
                            unset: Self.blasVariables)
        #expect(t.status == 0 && t.stdout.contains("John Dashwood"), "\(t.stderr)")
        // With restarts turned off, the fallback is kept and said, with the fix.
        let off = try CLI.run(["--compute-info"], environment: ["MMPIPE_BLAS_TEST_DETECTED": "Prescott", "MMPIPE_BLAS_RESTART": "0"],
                              unset: Self.blasVariables)
        let offLine = off.lines.first { $0.hasPrefix("blas: ") } ?? ""
        #expect(offLine.contains("not restarted") && offLine.contains("set OPENBLAS_CORETYPE="), "\(offLine)")
    }

    /// A user's own OPENBLAS_CORETYPE is kept, even when a better set exists.
    @Test func usersCoreTypeIsKept() throws {
        guard Self.cpuFlags.contains("avx2") && Self.cpuFlags.contains("fma") else { return }
        let r = try CLI.run(["--compute-info"], environment: ["OPENBLAS_CORETYPE": "Haswell", "MMPIPE_BLAS_TEST_DETECTED": "Prescott"],
                            unset: Self.blasVariables)
        #expect(Self.kernelSet(r) == "Haswell", "\(r.lines)")
        #expect(r.lines.contains { $0.contains("OPENBLAS_CORETYPE=Haswell from the environment (kept)") }, "\(r.lines)")
    }

    /// No thread waits by spinning: transcribing the sample makes (far) fewer than 20 000
    /// sched_yield calls, counted by strace over every thread. (OpenBLAS's own pthread
    /// workers made about 600 000 here, 4.5 million on another CPU.)
    @Test func transcriptionDoesNotSpin() throws {
        let strace = URL(fileURLWithPath: "/usr/bin/strace")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("strace-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try CLI.run(["-f", "-qq", "-c", "-e", "trace=sched_yield", "-o", out.path, CLI.binary.path,
                             "transcribe", CLI.sample("speech.wav")], unset: Self.blasVariables, executable: strace)
        #expect(r.status == 0 && r.stdout.contains("John Dashwood"), "\(r.stderr)")
        let summary = try String(contentsOf: out, encoding: .utf8)
        // "% time seconds usecs/call calls errors syscall" rows; no row when never called.
        let calls = summary.split(separator: "\n").first { $0.hasSuffix(" sched_yield") }
            .flatMap { row in row.split(separator: " ").dropLast().last.flatMap { Int($0) } }
            ?? 0
        #expect(calls < 20_000, "sched_yield called \(calls) times:\n\(summary)")
    }

    /// Busy decode workers + compute threads never exceed the cores (`--stats` reports the
    /// most seen at once).
    @Test func statsShowNoOversubscription() throws {
        let r = try CLI.run(["transcribe", "--stats", CLI.sample("speech.wav"), CLI.sample("speech.wav")],
                            unset: Self.blasVariables)
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.errorLines.first { $0.contains("busy threads at most") }, "\(r.stderr)")
        // "... busy threads at most N of C cores"
        let words = line.split(separator: " ")
        let i = try #require(words.firstIndex(of: "most"))
        let peak = Int(words[i + 1]) ?? 99, cores = Int(words[i + 3]) ?? 0
        #expect(peak >= 1 && peak <= cores, "\(line)")
    }
}

/// The set-up scripts say nothing when there is nothing to do (so a bad file's one-line
/// error is all a user of scripts/mmpipe sees).
@Suite("set-up scripts")
struct SetupScriptTests {
    @Test func bootstrapIsSilentWhenEverythingIsThere() throws {
        let script = CLI.repoRoot.appendingPathComponent("scripts/bootstrap").path
        var env = ["PATH": (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/opt/swift/usr/bin"]
        env["MMPIPE_MODELS_DIR"] = ProcessInfo.processInfo.environment["MMPIPE_MODELS_DIR"]
        let r = try CLI.run([script, "--models", "--quiet"], environment: env.compactMapValues { $0 },
                            executable: URL(fileURLWithPath: "/bin/bash"))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.isEmpty && r.stderr.isEmpty, "stdout: \(r.stdout)\nstderr: \(r.stderr)")
        // Without --quiet it reports what it found.
        let loud = try CLI.run([script, "--models"], environment: env.compactMapValues { $0 },
                               executable: URL(fileURLWithPath: "/bin/bash"))
        #expect(loud.status == 0 && loud.stdout.contains("bootstrap: ok") && loud.stdout.contains("present"), "\(loud.stdout)")
    }
}
