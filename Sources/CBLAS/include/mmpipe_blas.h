#ifndef MMPIPE_BLAS_H
#define MMPIPE_BLAS_H
/* OpenBLAS, loaded by this module and nowhere else, and the choice of its kernel set.
 *
 * OpenBLAS reads its environment (OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS) once, when it is
 * loaded, and picks its kernels from the CPU it recognises. Debian 12's 0.3.21 does not
 * recognise some newer CPUs and falls back to generic SSE3 kernels ("Prescott"), 5-10x
 * slower. So the library is not linked: a constructor of this module (run before main, in
 * every program that links TensorCore: the CLI, the benchmark, the test binaries) loads it
 * single-threaded (TensorCore's own pool does the threading), compares the kernel set it
 * chose with what the CPU supports (cpuid), and where OpenBLAS chose less, sets
 * OPENBLAS_CORETYPE and executes the program again, once, before any work. A value the user
 * set is always kept. Only TensorCore calls these. */
#include <stddef.h>
#include <stdint.h>

/* ---- CPU features (x86-64 cpuid; elsewhere all zero) ---------------------------------- */

/* The raw cpuid/xgetbv values the features are decoded from (synthetic in tests). */
typedef struct {
    char vendor[13];          /* leaf 0 EBX EDX ECX, e.g. "GenuineIntel" */
    uint32_t max_leaf;        /* leaf 0 EAX */
    uint32_t leaf1_eax, leaf1_ecx, leaf1_edx;
    uint32_t leaf7_ebx, leaf7_ecx, leaf7_edx;  /* leaf 7 subleaf 0 */
    uint32_t leaf7_1_eax;     /* leaf 7 subleaf 1 */
    uint64_t xcr0;            /* xgetbv(0): register state the OS saves */
} mmpipe_cpuid;

typedef struct {
    int x86;                  /* 1 on x86-64 */
    int intel, amd;
    int family, model, stepping;   /* display family / model */
    int sse3, ssse3, sse41, sse42;
    int avx, avx2, fma, f16c;      /* usable: CPU has it and the OS saves YMM state */
    int avx512f, avx512cd, avx512bw, avx512dq, avx512vl;  /* usable: and ZMM state */
    int avx512_bf16, avx512_vnni, avx_vnni;
    int amx_tile, amx_bf16, amx_int8;
} mmpipe_cpu_features;

/* Reads this CPU's cpuid values (all zero off x86-64). */
void mmpipe_cpuid_read(mmpipe_cpuid *out);
/* Decodes features from cpuid values. */
void mmpipe_cpu_decode(const mmpipe_cpuid *in, mmpipe_cpu_features *out);

/* Instruction-set levels of mmpipe's own kernels: 2 AVX-512 (F, CD, BW, DQ, VL), 1 AVX2 (with
 * FMA and F16C), 0 portable (no SIMD beyond x86-64's baseline). */
int mmpipe_isa_level(const mmpipe_cpu_features *f);
/* MMPIPE_ISA's spelling of a level: "avx512", "avx2", "portable"; -1 for NULL or empty,
 * -2 for anything else. */
int mmpipe_isa_parse(const char *name);
/* Clears every feature above a level (for MMPIPE_ISA: the kernels then see a lesser CPU). */
void mmpipe_cpu_cap(mmpipe_cpu_features *f, int level);

/* The best OpenBLAS 0.3.21 kernel set for these features, as OPENBLAS_CORETYPE spells it:
 * AVX-512 F/CD/BW/DQ/VL -> "SkylakeX" ("Cooperlake" with AVX512_BF16); AVX2 + FMA ->
 * "Haswell" ("Zen" on AMD); AVX (Intel) -> "Sandybridge"; else, and on AMD before Zen
 * (family < 17h), NULL: keep OpenBLAS's choice. */
const char *mmpipe_blas_kernel_for(const mmpipe_cpu_features *f);

/* How capable an OpenBLAS kernel set name is: 4 AVX-512, 3 AVX2/FMA, 2 AVX, 1 SSE-only and
 * older, 0 unknown (never replaced). */
int mmpipe_blas_kernel_rank(const char *name);

/* ---- the loaded library --------------------------------------------------------------- */

typedef enum {
    MMPIPE_BLAS_OWN_CHOICE = 0,    /* OpenBLAS's own choice, kept (as good as the CPU allows,
                                      or no better one is known) */
    MMPIPE_BLAS_FROM_ENV = 1,      /* OPENBLAS_CORETYPE set by the user: kept */
    MMPIPE_BLAS_CHOSEN = 2,        /* set by mmpipe and the process executed again */
    MMPIPE_BLAS_FALLBACK_KEPT = 3  /* OpenBLAS chose less, and no restart was possible or allowed */
} mmpipe_blas_reason;

typedef struct {
    int loaded;                    /* 0: OpenBLAS could not be loaded (see error) */
    const char *library;           /* the file name dlopen was given */
    const char *error;             /* dlerror() text when not loaded, or why a restart failed */
    mmpipe_blas_reason reason;
    const char *best;              /* mmpipe_blas_kernel_for(this CPU), or NULL */
    const char *detected;          /* what OpenBLAS picked by itself, when known (else NULL) */
    const char *env_coretype;      /* OPENBLAS_CORETYPE as the process found it, or NULL */
    int isa_cap;                   /* MMPIPE_ISA's level when it lowered best, else -1 */
} mmpipe_blas_state;

/* The state after loading (loads now if the constructor did not run). */
const mmpipe_blas_state *mmpipe_blas_state_get(void);

/* OpenBLAS's entry points (valid when state->loaded). Row-major sgemm. */
void mmpipe_blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta,
                       float *c, int ldc);
/* Row-major dgemm (the double-precision fits of Models/Heads). */
void mmpipe_blas_dgemm(int trans_a, int trans_b, int m, int n, int k, double alpha,
                       const double *a, int lda, const double *b, int ldb, double beta,
                       double *c, int ldc);
void mmpipe_blas_set_threads(int n);
const char *mmpipe_blas_corename(void);
const char *mmpipe_blas_config(void);

#endif
