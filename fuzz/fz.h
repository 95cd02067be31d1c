/*
 * fz: what the fuzz targets share: how a finding is reported, the bounds
 * every tickless call is held to, and a reader over the fuzzer's bytes.
 *
 * A finding is a call to fz_die(): it prints what was wrong and aborts, and
 * libFuzzer saves the input that led there (a crash-* artifact). The
 * targets never ignore a surprise: a return code outside the documented
 * set, a call that outlived its timeout, a connection that stopped serving.
 */
#ifndef FZ_H
#define FZ_H

#include <stddef.h>
#include <stdint.h>

#include "tickless/tickless.h"

/* How much longer than its timeout a tickless call may take before it
 * counts as hung: generous, for sanitizers on two busy cores. */
#define FZ_SLACK_MS 3000

/* Called by fz_die() before it aborts, to print what the target knows
 * (e.g. what each thread was doing). NULL: none. */
extern void (*fz_die_hook)(void);

/* Prints "fuzz: finding: ..." and aborts. */
__attribute__((format(printf, 1, 2), noreturn)) void fz_die(const char *fmt,
                                                            ...);

/* Prints a progress line on stderr when TICKLESS_FUZZ_VERBOSE is set. */
__attribute__((format(printf, 1, 2))) void fz_note(const char *fmt, ...);

/* CLOCK_MONOTONIC in ns. */
uint64_t fz_now_ns(void);

/* Dies unless a call that started at |t0_ns| with |timeout_ms| (>= 0)
 * returned within the timeout plus FZ_SLACK_MS. */
void fz_bounded(const char *what, uint64_t t0_ns, int timeout_ms);

/* One bit per return code: FZ_RC(0), FZ_RC(TICKLESS_ERR_TIMEOUT), ... */
#define FZ_RC(code) (1u << (unsigned)-(code))

/* Dies unless |rc| is one of |allowed| (FZ_RC bits). */
void fz_expect_rc(const char *what, int rc, unsigned allowed);

/* The fuzzer's bytes, consumed from the front. Reads past the end give
 * zeros, so every input decodes to something. */
typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

uint8_t fz_u8(fz_in *in);
uint16_t fz_u16(fz_in *in); /* big-endian */
/* Up to |want| bytes: *out points at them; returns how many there were. */
size_t fz_take(fz_in *in, size_t want, const uint8_t **out);

#endif /* FZ_H */
