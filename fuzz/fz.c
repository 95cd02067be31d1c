/* fz: see fz.h. */
#include "fz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void (*fz_die_hook)(void);

void fz_die(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz: finding: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (fz_die_hook != NULL)
        fz_die_hook();
    abort();
}

void fz_note(const char *fmt, ...)
{
    static int verbose = -1;
    va_list ap;

    if (verbose < 0)
        verbose = getenv("TICKLESS_FUZZ_VERBOSE") != NULL;
    if (!verbose)
        return;
    fputs("fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

uint64_t fz_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void fz_bounded(const char *what, uint64_t t0_ns, int timeout_ms)
{
    uint64_t took_ms = (fz_now_ns() - t0_ns) / 1000000u;

    if (timeout_ms >= 0 && took_ms > (uint64_t)timeout_ms + FZ_SLACK_MS)
        fz_die("%s took %llu ms with a timeout of %d ms (hung)", what,
               (unsigned long long)took_ms, timeout_ms);
}

void fz_expect_rc(const char *what, int rc, unsigned allowed)
{
    if (rc > 0 || rc < TICKLESS_ERR_MIN_ || !(allowed & FZ_RC(rc)))
        fz_die("%s returned %d (%s), not one of the documented codes", what,
               rc, tickless_err_name(rc));
}

uint8_t fz_u8(fz_in *in)
{
    uint8_t v = 0;

    if (in->n > 0) {
        v = in->p[0];
        in->p++;
        in->n--;
    }
    return v;
}

uint16_t fz_u16(fz_in *in)
{
    uint16_t hi = fz_u8(in);

    return (uint16_t)(hi << 8 | fz_u8(in));
}

size_t fz_take(fz_in *in, size_t want, const uint8_t **out)
{
    size_t n = want < in->n ? want : in->n;

    *out = in->p;
    in->p += n;
    in->n -= n;
    return n;
}
