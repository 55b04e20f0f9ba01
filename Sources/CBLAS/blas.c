/* Loads OpenBLAS single-threaded and makes sure it runs the best kernel set for this CPU
 * (see mmpipe_blas.h). */
#define _GNU_SOURCE
#include "mmpipe_blas.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set by mmpipe before it executes itself again: "DETECTED>CHOSEN". */
#define RESTART_MARK "MMPIPE_BLAS_RESTARTED"
/* "0" turns the restart off (a program embedding TensorCore that must not be re-executed). */
#define RESTART_SWITCH "MMPIPE_BLAS_RESTART"
/* For tests only: behave as if OpenBLAS had picked this kernel set by itself. */
#define TEST_DETECTED "MMPIPE_BLAS_TEST_DETECTED"

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                         float, float *, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *, int,
                         double, double *, int);
typedef void (*set_threads_fn)(int);
typedef char *(*name_fn)(void);

static sgemm_fn p_sgemm;
static dgemm_fn p_dgemm;
static set_threads_fn p_set_threads;
static name_fn p_corename, p_config;

static mmpipe_blas_state state;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int boot_argc;
static char **boot_argv;
static char message[512];
static char detected_buf[64];

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void *resolve(void *h, const char *name) {
    void *p = dlsym(h, name);
    if (!p && !state.error) {
        snprintf(message, sizeof message, "%s has no symbol %s", state.library, name);
        state.error = message;
    }
    return p;
}

static void boot(void) {
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    state.env_coretype = (coretype && *coretype) ? strdup(coretype) : NULL;
    const char *mark = getenv(RESTART_MARK);

    /* Load with one thread: TensorCore's pool does the threading, and OpenBLAS's own idle
     * workers would spin in sched_yield. The variable is put back as it was, so programs
     * this process starts see the environment the user gave it. */
    char *saved_threads = dup_or_null(getenv("OPENBLAS_NUM_THREADS"));
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so", NULL};
    void *h = NULL;
    for (const char *const *n = names; *n && !h; n++) {
        state.library = *n;
        h = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
    }
    if (saved_threads) setenv("OPENBLAS_NUM_THREADS", saved_threads, 1);
    else unsetenv("OPENBLAS_NUM_THREADS");
    free(saved_threads);
    if (!h) {
        state.library = names[0];
        snprintf(message, sizeof message, "%s", dlerror());
        state.error = message;
        return;
    }
    p_sgemm = (sgemm_fn)resolve(h, "cblas_sgemm");
    p_dgemm = (dgemm_fn)resolve(h, "cblas_dgemm");
    p_set_threads = (set_threads_fn)resolve(h, "openblas_set_num_threads");
    p_corename = (name_fn)resolve(h, "openblas_get_corename");
    p_config = (name_fn)resolve(h, "openblas_get_config");
    if (state.error) return;
    state.loaded = 1;
    p_set_threads(1);

    mmpipe_cpuid raw;
    mmpipe_cpu_features f;
    mmpipe_cpuid_read(&raw);
    mmpipe_cpu_decode(&raw, &f);
    /* MMPIPE_ISA below what the CPU has: OpenBLAS gets the kernel set of the lesser CPU too
     * (SSE3's "Prescott" for the portable level). */
    state.isa_cap = -1;
    int cap = mmpipe_isa_parse(getenv("MMPIPE_ISA"));
    if (cap >= 0 && cap < mmpipe_isa_level(&f)) {
        mmpipe_cpu_cap(&f, cap);
        state.isa_cap = cap;
    }
    state.best = mmpipe_blas_kernel_for(&f);
    if (state.isa_cap == 0 && f.x86) state.best = "Prescott";

    const char *picked = p_corename();
    const char *fake = getenv(TEST_DETECTED);
    if (fake && *fake && !state.env_coretype) picked = fake;

    if (state.env_coretype) {
        /* Ours only if it is exactly what the restart mark says mmpipe set. */
        const char *gt = mark ? strchr(mark, '>') : NULL;
        if (gt && strcmp(gt + 1, state.env_coretype) == 0) {
            size_t len = (size_t)(gt - mark);
            if (len >= sizeof detected_buf) len = sizeof detected_buf - 1;
            memcpy(detected_buf, mark, len);
            detected_buf[len] = 0;
            state.detected = detected_buf;
            state.reason = MMPIPE_BLAS_CHOSEN;
        } else {
            state.reason = MMPIPE_BLAS_FROM_ENV;
        }
        return;
    }
    snprintf(detected_buf, sizeof detected_buf, "%s", picked);
    state.detected = detected_buf;
    int have = mmpipe_blas_kernel_rank(picked), want = mmpipe_blas_kernel_rank(state.best);
    if (!(have > 0 && (want > have || (state.isa_cap >= 0 && want > 0 && want < have)))) {
        state.reason = MMPIPE_BLAS_OWN_CHOICE;
        return;
    }
    state.reason = MMPIPE_BLAS_FALLBACK_KEPT;
    const char *sw = getenv(RESTART_SWITCH);
    if (sw && strcmp(sw, "0") == 0) {
        state.error = RESTART_SWITCH "=0: not restarted";
        return;
    }
    if (mark) {
        state.error = "already restarted once";
        return;
    }
    if (!boot_argv || boot_argc < 1) {
        state.error = "no program arguments to restart with";
        return;
    }
    /* Nothing has run yet (this is a constructor): execute this same program again with
     * the kernel set named; OpenBLAS reads it when it loads. */
    char markv[160];
    snprintf(markv, sizeof markv, "%s>%s", detected_buf, state.best);
    setenv("OPENBLAS_CORETYPE", state.best, 1);
    setenv(RESTART_MARK, markv, 1);
    execv("/proc/self/exe", boot_argv);
    snprintf(message, sizeof message, "could not execute /proc/self/exe again: %s", strerror(errno));
    state.error = message;
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(RESTART_MARK);
}

/* glibc passes the program's arguments to constructors of the main program. */
__attribute__((constructor)) static void mmpipe_blas_boot(int argc, char **argv, char **envp) {
    (void)envp;
    boot_argc = argc;
    boot_argv = argv;
    pthread_once(&once, boot);
}

const mmpipe_blas_state *mmpipe_blas_state_get(void) {
    pthread_once(&once, boot);
    return &state;
}

static void require(void) {
    if (__builtin_expect(state.loaded, 1)) return;
    mmpipe_blas_state_get();
    if (state.loaded) return;
    fprintf(stderr, "mmpipe: cannot load OpenBLAS (%s): %s; install Debian's libopenblas0 (scripts/bootstrap does)\n",
            state.library ? state.library : "libopenblas.so.0", state.error ? state.error : "unknown error");
    exit(70);
}

void mmpipe_blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta,
                       float *c, int ldc) {
    require();
    /* CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112. */
    p_sgemm(101, trans_a ? 112 : 111, trans_b ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void mmpipe_blas_dgemm(int trans_a, int trans_b, int m, int n, int k, double alpha,
                       const double *a, int lda, const double *b, int ldb, double beta,
                       double *c, int ldc) {
    require();
    p_dgemm(101, trans_a ? 112 : 111, trans_b ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void mmpipe_blas_set_threads(int n) {
    require();
    p_set_threads(n);
}

const char *mmpipe_blas_corename(void) {
    require();
    return p_corename();
}

const char *mmpipe_blas_config(void) {
    require();
    return p_config();
}
