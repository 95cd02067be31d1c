/*
 * tickless-bench: measurements of tickless against OpenSSL alone and
 * OpenSSL's own thread assist, one subcommand per scenario.
 *
 *   tickless-bench SCENARIO [options]    one scenario (see --help)
 *   tickless-bench all [--markdown]      every scenario with its defaults
 */
#include "bench.h"

#include <string.h>

static const bench_scenario *const scenarios[] = {
    &bench_scale,
    &bench_wake,
    &bench_rearm,
};

#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void usage(FILE *out, int verbose)
{
    size_t i;

    fprintf(out,
            "usage: tickless-bench SCENARIO [options]\n"
            "       tickless-bench all [--markdown]\n"
            "       tickless-bench SCENARIO --help\n"
            "scenarios:\n");
    for (i = 0; i < NSCENARIOS; i++)
        fprintf(out, "  %-10s %s\n", scenarios[i]->name,
                scenarios[i]->summary);
    for (i = 0; verbose && i < NSCENARIOS; i++) {
        fprintf(out, "\n");
        scenarios[i]->usage(out);
    }
}

/* Every scenario with its defaults; --markdown is passed on. */
static int run_all(int argc, char **argv)
{
    int markdown = 0, worst = BENCH_EXIT_OK, i;
    size_t k;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--markdown") != 0) {
            usage(stderr, 0);
            return BENCH_EXIT_USAGE;
        }
        markdown = 1;
    }
    for (k = 0; k < NSCENARIOS; k++) {
        char *args[3];
        int rc;

        args[0] = (char *)scenarios[k]->name;
        args[1] = markdown ? "--markdown" : NULL;
        args[2] = NULL;
        if (k > 0)
            printf("\n");
        rc = scenarios[k]->run(markdown ? 2 : 1, args);
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
