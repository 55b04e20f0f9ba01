/* CPU features from cpuid, and the OpenBLAS kernel set they call for. */
#include "mmpipe_blas.h"
#include <string.h>
#include <strings.h>

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void mmpipe_cpuid_read(mmpipe_cpuid *out) {
    memset(out, 0, sizeof *out);
    uint32_t a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    out->max_leaf = a;
    memcpy(out->vendor, &b, 4);
    memcpy(out->vendor + 4, &d, 4);
    memcpy(out->vendor + 8, &c, 4);
    out->vendor[12] = 0;
    __cpuid(1, a, b, c, d);
    out->leaf1_eax = a;
    out->leaf1_ecx = c;
    out->leaf1_edx = d;
    if (out->max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        out->leaf7_ebx = b;
        out->leaf7_ecx = c;
        out->leaf7_edx = d;
        uint32_t sub = a;
        if (sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            out->leaf7_1_eax = a;
        }
    }
    if (out->leaf1_ecx & (1u << 27)) out->xcr0 = read_xcr0();   /* OSXSAVE */
}
#else
void mmpipe_cpuid_read(mmpipe_cpuid *out) { memset(out, 0, sizeof *out); }
#endif

#define BIT(r, n) (((r) >> (n)) & 1u)

void mmpipe_cpu_decode(const mmpipe_cpuid *in, mmpipe_cpu_features *f) {
    memset(f, 0, sizeof *f);
    if (in->max_leaf == 0) return;
    f->x86 = 1;
    f->intel = strcmp(in->vendor, "GenuineIntel") == 0;
    f->amd = strcmp(in->vendor, "AuthenticAMD") == 0 || strcmp(in->vendor, "HygonGenuine") == 0;
    uint32_t eax = in->leaf1_eax;
    int base_family = (eax >> 8) & 0xf, base_model = (eax >> 4) & 0xf;
    f->family = base_family == 0xf ? base_family + (int)((eax >> 20) & 0xff) : base_family;
    f->model = (base_family == 0x6 || base_family == 0xf) ? base_model + (int)(((eax >> 16) & 0xf) << 4) : base_model;
    f->stepping = eax & 0xf;

    uint32_t c1 = in->leaf1_ecx, b7 = in->leaf7_ebx, c7 = in->leaf7_ecx, d7 = in->leaf7_edx;
    f->sse3 = BIT(c1, 0);
    f->ssse3 = BIT(c1, 9);
    f->sse41 = BIT(c1, 19);
    f->sse42 = BIT(c1, 20);
    /* AVX state (XMM + YMM) and AVX-512 state (opmask, ZMM upper halves, ZMM16-31) must be
     * saved by the OS, or the instructions fault. */
    int osxsave = BIT(c1, 27);
    int ymm = osxsave && (in->xcr0 & 0x6) == 0x6;
    int zmm = ymm && (in->xcr0 & 0xe0) == 0xe0;
    int tiles = osxsave && (in->xcr0 & 0x60000) == 0x60000;
    f->avx = ymm && BIT(c1, 28);
    f->fma = f->avx && BIT(c1, 12);
    f->f16c = f->avx && BIT(c1, 29);
    f->avx2 = f->avx && BIT(b7, 5);
    f->avx512f = zmm && BIT(b7, 16);
    f->avx512dq = f->avx512f && BIT(b7, 17);
    f->avx512cd = f->avx512f && BIT(b7, 28);
    f->avx512bw = f->avx512f && BIT(b7, 30);
    f->avx512vl = f->avx512f && BIT(b7, 31);
    f->avx512_vnni = f->avx512f && BIT(c7, 11);
    f->avx512_bf16 = f->avx512f && BIT(in->leaf7_1_eax, 5);
    f->avx_vnni = f->avx && BIT(in->leaf7_1_eax, 4);
    f->amx_tile = tiles && BIT(d7, 24);
    f->amx_bf16 = f->amx_tile && BIT(d7, 22);
    f->amx_int8 = f->amx_tile && BIT(d7, 25);
}

int mmpipe_isa_level(const mmpipe_cpu_features *f) {
    if (f->avx512f && f->avx512cd && f->avx512bw && f->avx512dq && f->avx512vl && f->avx2 && f->fma && f->f16c) return 2;
    if (f->avx2 && f->fma && f->f16c) return 1;
    return 0;
}

int mmpipe_isa_parse(const char *name) {
    if (!name || !*name) return -1;
    if (strcasecmp(name, "avx512") == 0) return 2;
    if (strcasecmp(name, "avx2") == 0) return 1;
    if (strcasecmp(name, "portable") == 0) return 0;
    return -2;
}

void mmpipe_cpu_cap(mmpipe_cpu_features *f, int level) {
    if (level < 2) {
        f->avx512f = f->avx512cd = f->avx512bw = f->avx512dq = f->avx512vl = 0;
        f->avx512_bf16 = f->avx512_vnni = 0;
        f->amx_tile = f->amx_bf16 = f->amx_int8 = 0;
    }
    if (level < 1) f->avx = f->avx2 = f->fma = f->f16c = f->avx_vnni = 0;
}

const char *mmpipe_blas_kernel_for(const mmpipe_cpu_features *f) {
    if (!f->x86) return NULL;
    if (f->avx512f && f->avx512cd && f->avx512bw && f->avx512dq && f->avx512vl)
        return f->avx512_bf16 ? "Cooperlake" : "SkylakeX";
    /* AMD before Zen (Bulldozer ... Excavator) has kernel sets of its own in OpenBLAS,
     * which it recognises: keep them. */
    if (f->amd && f->family < 0x17) return NULL;
    if (f->avx2 && f->fma) return f->amd ? "Zen" : "Haswell";
    if (f->avx && f->intel) return "Sandybridge";
    return NULL;
}

int mmpipe_blas_kernel_rank(const char *name) {
    if (!name) return 0;
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", 0};
    static const char *const avx2[] = {"Haswell", "Zen", 0};
    static const char *const avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator", 0};
    static const char *const sse[] = {"Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom",
                                      "Core2", "Penryn", "Dunnington", "Nehalem", "Athlon", "Opteron",
                                      "Opteron_SSE3", "Barcelona", "Nano", "Bobcat", 0};
    static const char *const *const tiers[] = {sse, avx, avx2, avx512};
    for (int t = 0; t < 4; t++)
        for (const char *const *n = tiers[t]; *n; n++)
            if (strcasecmp(*n, name) == 0) return t + 1;
    return 0;
}
