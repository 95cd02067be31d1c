/*
 * bench_opts: a scenario's command line. Every scenario takes --quick,
 * --markdown, --csv DIR and --help, and answers a bad option the same way;
 * each parses its own options with getopt_long() and hands the common ones
 * here.
 */
#include "bench.h"

int bench_opts_common(int c, bench_common_opts *co, void (*usage)(FILE *),
                      int *rc)
{
    switch (c) {
    case BENCH_OPT_QUICK:
        co->quick = 1;
        return 1;
    case BENCH_OPT_MARKDOWN:
        co->markdown = 1;
        return 1;
    case BENCH_OPT_CSV:
        co->csv_dir = optarg;
        return 1;
    case BENCH_OPT_HELP:
        usage(stdout);
        *rc = BENCH_EXIT_OK;
        return 0;
    default:
        /* getopt_long() has named the option; no "bad option" line. */
        usage(stderr);
        *rc = BENCH_EXIT_USAGE;
        return 0;
    }
}

int bench_opts_bad(const char *scenario, void (*usage)(FILE *))
{
    fprintf(stderr, "%s: bad option or value\n", scenario);
    usage(stderr);
    return BENCH_EXIT_USAGE;
}
