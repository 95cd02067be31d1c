/*
 * tickless-bench: measurements of tickless against OpenSSL alone and
 * OpenSSL's own thread assist, one subcommand per scenario.
 *
 *   tickless-bench SCENARIO [options]    one scenario (see --help)
 *   tickless-bench all [--quick] [--markdown] [--csv DIR]
 *                                        every scenario in turn; the options
 *                                        are passed on to each
 */
#include "bench.h"

#include <string.h>

/* In the order `all` runs them: the user-visible effects first (busy
 * application, DTLS handshakes under loss), then latency and throughput,
 * then the cost at scale and per tick. */
static const bench_scenario *const scenarios[] = {
    &bench_busy, &bench_dtls_handshake, &bench_wake, &bench_rearm,
    &bench_rtt, &bench_bulk, &bench_scale, &bench_tick_cost,
};

#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void usage(FILE *out, int verbose)
{
    size_t i;

    fprintf(out,
            "usage: tickless-bench SCENARIO [options]\n"
            "       tickless-bench all [--quick] [--markdown] [--csv DIR]\n"
            "       tickless-bench SCENARIO --help\n"
            "scenarios:\n");
    for (i = 0; i < NSCENARIOS; i++)
        fprintf(out, "  %-14s %s\n", scenarios[i]->name,
                scenarios[i]->summary);
    for (i = 0; verbose && i < NSCENARIOS; i++) {
        fprintf(out, "\n");
        scenarios[i]->usage(out);
    }
}

/* Every scenario in turn, each with the options every scenario takes
 * (--quick, --markdown, --csv DIR) passed on and its own defaults. */
#define ALL_MAX_ARGS 6

static int run_all(int argc, char **argv)
{
    char *pass[ALL_MAX_ARGS];
    int npass = 0, worst = BENCH_EXIT_OK, i;
    size_t k;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0
            || strcmp(argv[i], "--markdown") == 0) {
            pass[npass++] = argv[i];
        } else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
            pass[npass++] = argv[i++];
            pass[npass++] = argv[i];
        } else {
            usage(stderr, 0);
            return BENCH_EXIT_USAGE;
        }
        if (npass > ALL_MAX_ARGS - 2) {
            usage(stderr, 0);
            return BENCH_EXIT_USAGE;
        }
    }
    for (k = 0; k < NSCENARIOS; k++) {
        char *args[ALL_MAX_ARGS + 1];
        int rc;

        args[0] = (char *)scenarios[k]->name;
        for (i = 0; i < npass; i++)
            args[i + 1] = pass[i];
        args[npass + 1] = NULL;
        if (k > 0)
            printf("\n");
        fflush(stdout);
        rc = scenarios[k]->run(npass + 1, args);
        if (rc > worst)
            worst = rc;
    }
    return worst;
}

int main(int argc, char **argv)
{
    size_t i;

    if (argc < 2 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout, argc >= 2);
        return argc < 2 ? BENCH_EXIT_USAGE : BENCH_EXIT_OK;
    }
    if (strcmp(argv[1], "all") == 0)
        return run_all(argc - 1, argv + 1);
    for (i = 0; i < NSCENARIOS; i++)
        if (strcmp(argv[1], scenarios[i]->name) == 0)
            return scenarios[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "tickless-bench: unknown scenario '%s'\n", argv[1]);
    usage(stderr, 0);
    return BENCH_EXIT_USAGE;
}
