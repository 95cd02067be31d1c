/*
 * ts_util: clocks, sleeping and a position-dependent byte pattern.
 *
 * The pattern lets a test check any slice of a long stream on its own: the
 * byte at stream offset i depends on i alone, and on more than i mod 256, so
 * a slice that was duplicated, dropped or shifted by any whole number of
 * bytes (up to 2^64) does not match by accident.
 */
#ifndef TS_UTIL_H
#define TS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t ts_now_ns(void);

/* Sleeps |ms| milliseconds, resuming after signals. */
void ts_sleep_ms(unsigned ms);

/* Writes the pattern for stream bytes [offset, offset + len) into |buf|. */
void ts_fill_pattern(uint8_t *buf, size_t len, uint64_t offset);

/*
 * Checks |buf| against the pattern for stream bytes [offset, offset + len).
 * Returns the index in |buf| of the first wrong byte, or |len| if all match.
 */
size_t ts_check_pattern(const uint8_t *buf, size_t len, uint64_t offset);

/* splitmix64: one step of a tiny, good, seedable PRNG. Updates *state. */
uint64_t ts_splitmix64(uint64_t *state);

#ifdef __cplusplus
}
#endif

#endif /* TS_UTIL_H */
