/* Time in tickless: unsigned 64-bit nanoseconds on CLOCK_MONOTONIC, with
 * CLOCK_NEVER for "no deadline". The clock is injectable (a function pointer
 * in the shard) so timer logic can be tested without sleeping. */
#ifndef TICKLESS_BASE_CLOCK_H
#define TICKLESS_BASE_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CLOCK_NEVER UINT64_MAX
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_SEC UINT64_C(1000000000)

typedef uint64_t (*clock_fn)(void);

uint64_t tl_clock_now_ns(void);

/* Clock |id| (a CPU-time clock, say) in nanoseconds; 0 if it cannot be
 * read. */
uint64_t tl_clock_read_ns(clockid_t id);

/* now + timeout_ms, where a negative timeout means CLOCK_NEVER. */
uint64_t tl_clock_deadline_after_ms(int timeout_ms);

/* Saturating a + b. */
static inline uint64_t clock_add(uint64_t a, uint64_t b)
{
    return a > CLOCK_NEVER - b ? CLOCK_NEVER : a + b;
}

struct timespec tl_clock_to_timespec(uint64_t ns);

#endif
