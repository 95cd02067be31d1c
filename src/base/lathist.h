/* A compact latency histogram: how late the assist ran each timer.
 *
 * The precision/size trade-off
 * ----------------------------
 * One lives in every connection, so it must stay small (under 700 bytes) and
 * recording must be a handful of instructions under the connection mutex.
 * What we report is p50/p99 lateness, where "about 1.2 ms" is as useful as
 * "1.183 ms" but the spread runs from nanoseconds to seconds. So buckets are
 * logarithmic: each power of two [2^e, 2^(e+1)) is cut into 4 sub-buckets at
 * the quarter-octave points 2^e * 2^(k/4), k = 1, 2, 3. Every bucket's upper
 * end is then less than 2^(1/4) = 1.1892 times its lower end, so a reported
 * value is never below the truth and at most 18.92% above it, with the same
 * relative precision at 300 ns and at 3 s. (Linear sub-buckets, as in
 * HdrHistogram, would be cheaper by three compares but up to 25% off in the
 * first quarter of each octave.)
 *
 * Zero has a bucket of its own; octaves 2^0 .. 2^40 are resolved, so values
 * up to 2^41 - 1 ns (36 minutes) keep the 18.92% bound; anything larger lands
 * in one overflow bucket, reported as the exact max_ns. 166 buckets of 32-bit
 * counters plus two 64-bit fields make 680 bytes. 32 bits is 4 billion
 * samples per bucket; past that a counter saturates (it never wraps, which
 * would make a busy bucket look empty), and percentiles stay upper bounds
 * but may overshoot by more than 18.92%.
 *
 * Thread-safety: none; the caller locks (the connection mutex for a
 * connection's histogram).
 */
#ifndef TICKLESS_BASE_LATHIST_H
#define TICKLESS_BASE_LATHIST_H

#include <stdint.h>

#define LATHIST_SUB_BUCKETS 4 /* per power of two */
#define LATHIST_OCTAVES 41    /* 2^0 .. 2^40: values below 2^41 ns resolved */
/* zero, the octaves, and the overflow bucket */
#define LATHIST_BUCKETS (1 + LATHIST_OCTAVES * LATHIST_SUB_BUCKETS + 1)

typedef struct lathist {
    uint32_t counts[LATHIST_BUCKETS]; /* saturate at UINT32_MAX */
    uint64_t count;                   /* samples recorded (exact) */
    uint64_t max_ns;                  /* largest sample (exact) */
} lathist;

/* tl_lathist_init() empties |h|. */
void tl_lathist_init(lathist *h);

/* tl_lathist_record() adds one sample of |ns| nanoseconds. Cannot fail. */
void tl_lathist_record(lathist *h, uint64_t ns);

/* tl_lathist_percentile() returns a value v such that at least |pct| percent of
 * the samples are <= v: the upper end of the bucket holding the sample of
 * rank ceil(pct/100 * count) (the nearest-rank percentile), clamped to
 * max_ns. v is never below that sample and, unless a counter saturated or
 * the sample is beyond 2^41 ns, below 1.1892 times it. pct is clamped to
 * [0, 100] (NaN counts as 0); pct 0 gives the smallest sample's bucket, 100
 * gives max_ns exactly.
 * Returns 0 if |h| is empty. */
uint64_t tl_lathist_percentile(const lathist *h, double pct);

/* tl_lathist_merge() adds the samples of |src| to |dst| (counters saturate).
 * |src| is unchanged; |dst| == |src| doubles every count. */
void tl_lathist_merge(lathist *dst, const lathist *src);

#endif /* TICKLESS_BASE_LATHIST_H */
