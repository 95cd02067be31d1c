/*
 * bench_opts: a scenario's command line. Every scenario takes --quick,
 * --markdown, --csv DIR and --help, and answers a bad option the same way;
 * each parses its own options with getopt_long() and hands the common ones
 * here. Also the value parsers the scenarios share: numbers, mode lists,
 * count lists.
 */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < min || v > max)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int bench_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    uint64_t v;

    if (bench_parse_u64(s, min, max, &v) != 0)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* The name of mode |i|: entries are |stride| bytes apart. */
static const char *mode_name(const char *const *name0, size_t stride,
                             size_t i)
{
    const char *entry = (const char *)name0 + i * stride;

    return *(const char *const *)(const void *)entry;
}

int bench_parse_modes(const char *s, const char *const *name0, size_t stride,
                      size_t n, unsigned *mask)
{
    *mask = 0;
    if (strcmp(s, "all") == 0) {
        *mask = (1u << n) - 1;
        return 0;
    }
    while (*s != '\0') {
        size_t len = strcspn(s, ","), i;

        for (i = 0; i < n; i++) {
            const char *name = mode_name(name0, stride, i);

            if (strlen(name) == len && strncmp(name, s, len) == 0)
                break;
        }
        if (i == n)
            return -1;
        *mask |= 1u << i;
        s += len;
        if (*s == ',')
            s++;
    }
    return *mask != 0 ? 0 : -1;
}

int bench_parse_counts(const char *s, unsigned *out, size_t max,
                       unsigned limit)
{
    size_t n = 0;

    while (*s != '\0') {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (end == s || errno != 0 || v == 0 || v > limit || n == max)
            return -1;
        out[n++] = (unsigned)v;
        if (*end == ',')
            end++;
        else if (*end != '\0')
            return -1;
        s = end;
    }
    return n > 0 ? (int)n : -1;
}
