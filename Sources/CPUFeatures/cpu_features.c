// Compiled without -target-cpu, so this check itself runs on any x86-64 CPU.
#include "CPUFeatures.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char missing[128];

const char *mixmerge_missing_cpu_features(void) {
    missing[0] = '\0';
#if defined(MIXMERGE_REQUIRE_X86_HASWELL) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx")) strcat(missing, " avx");
    if (!__builtin_cpu_supports("avx2")) strcat(missing, " avx2");
    if (!__builtin_cpu_supports("fma")) strcat(missing, " fma");
    if (!__builtin_cpu_supports("bmi")) strcat(missing, " bmi");
    if (!__builtin_cpu_supports("bmi2")) strcat(missing, " bmi2");
    {
        // F16C has no __builtin_cpu_supports name in every compiler: ask CPUID leaf 1, ECX bit 29.
        unsigned int a = 1, b = 0, c = 0, d = 0;
        __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d) : "c"(0));
        if (!(c & (1u << 29))) strcat(missing, " f16c");
    }
#endif
    // Test hook: pretend these features are missing (exercises the refusal path on any CPU).
    const char *pretend = getenv("MIXMERGE_TEST_MISSING_CPU_FEATURES");
    if (pretend != NULL && pretend[0] != '\0' && strlen(pretend) < 64) {
        strcat(missing, " ");
        strcat(missing, pretend);
    }
    return missing[0] == ' ' ? missing + 1 : missing;
}

// Runs before any Swift code (and so before any AVX2 instruction can execute).
__attribute__((constructor)) static void mixmerge_check_cpu(void) {
    if (getenv("MIXMERGE_SKIP_CPU_CHECK") != NULL) return;
    const char *m = mixmerge_missing_cpu_features();
    if (m[0] != '\0') {
        fprintf(stderr,
                "error: this mixmerge binary was built for x86-64 CPUs with AVX2, FMA and F16C (Haswell or newer); "
                "this CPU lacks: %s. Rebuild for this machine with: MIXMERGE_PORTABLE=1 swift build -c release\n",
                m);
        exit(70);
    }
}

#if defined(__linux__)
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
/// A step of `mixmerge study` runs as a child process with MIXMERGE_DIE_WITH_PARENT set to the
/// runner's pid: if the runner is killed (even with kill -9) the step dies with it, so that a rerun
/// never races an orphan that is still writing the same folder.
__attribute__((constructor)) static void mixmerge_die_with_parent(void) {
    const char *parent = getenv("MIXMERGE_DIE_WITH_PARENT");
    if (parent == NULL || *parent == 0) return;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != (pid_t)atol(parent)) _exit(137);  /* the runner died before the prctl */
}
#endif
