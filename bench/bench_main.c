/*
 * tickless-bench: measurements of tickless against OpenSSL alone and
 * OpenSSL's own thread assist, one subcommand per scenario.
 *
 *   tickless-bench SCENARIO [options]    one scenario (see --help)
 *   tickless-bench all [--quick] [--markdown] [--csv DIR] [--plot DIR]
 *                                        every scenario in turn; the options
 *                                        are passed on to each; then charts
 *   tickless-bench plot CSV_DIR OUT_DIR  charts of an earlier run
 */
#include "bench.h"

#include <string.h>

/* In the order `all` runs them: the user-visible effects first (busy
 * application, DTLS handshakes under loss), then latency and throughput,
 * then the cost at scale and per tick. */
static const bench_scenario *const scenarios[] = {
    &bench_busy, &bench_dtls_handshake, &bench_wake, &bench_rearm,
    &bench_rtt, &bench_bulk, &bench_scale, &bench_server_scale,
    &bench_tick_cost,
};

#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void usage(FILE *out, int verbose)
{
    size_t i;

    fprintf(out,
            "usage: tickless-bench SCENARIO [options]\n"
            "       tickless-bench all [--quick] [--markdown] [--csv DIR]"
            " [--plot DIR]\n"
            "       tickless-bench plot CSV_DIR OUT_DIR\n"
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
 * (--quick, --markdown, --csv DIR) passed on and its own defaults; then,
 * with --plot DIR, the charts (the CSVs go to DIR too unless --csv says
 * otherwise). */
#define ALL_MAX_ARGS 6

static int run_all(int argc, char **argv)
{
    char *pass[ALL_MAX_ARGS];
    const char *csv_dir = NULL, *plot_dir = NULL;
    int npass = 0, worst = BENCH_EXIT_OK, i;
    size_t k;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0
            || strcmp(argv[i], "--markdown") == 0) {
            pass[npass++] = argv[i];
        } else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
            csv_dir = argv[++i];
        } else if (strcmp(argv[i], "--plot") == 0 && i + 1 < argc) {
            plot_dir = argv[++i];
        } else {
            usage(stderr, 0);
            return BENCH_EXIT_USAGE;
        }
        if (npass > ALL_MAX_ARGS - 3) {
            usage(stderr, 0);
            return BENCH_EXIT_USAGE;
        }
    }
    if (csv_dir == NULL)
        csv_dir = plot_dir;
    if (csv_dir != NULL) {
        pass[npass++] = "--csv";
        pass[npass++] = (char *)csv_dir;
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
    if (plot_dir != NULL && bench_plot(csv_dir, plot_dir) != 0
        && worst < BENCH_EXIT_FAILED)
        worst = BENCH_EXIT_FAILED;
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
    if (strcmp(argv[1], bench_plot_cmd.name) == 0)
        return bench_plot_cmd.run(argc - 1, argv + 1);
    for (i = 0; i < NSCENARIOS; i++)
        if (strcmp(argv[1], scenarios[i]->name) == 0)
            return scenarios[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "tickless-bench: unknown scenario '%s'\n", argv[1]);
    usage(stderr, 0);
    return BENCH_EXIT_USAGE;
}
