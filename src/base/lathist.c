/* Quarter-octave latency histogram; see lathist.h for the layout and why. */
#include "base/lathist.h"

#include <string.h>

_Static_assert(sizeof(lathist) <= 700,
               "lathist lives in every connection; keep it compact");

#define LATHIST_OVERFLOW (LATHIST_BUCKETS - 1)

/*
 * The quarter-octave boundaries 2^(k/4), k = 1..3, as 1.63 fixed point, each
 * rounded up. A value whose top bit is bit e, shifted left until that bit is
 * bit 63, compares against these directly; the boundaries are irrational, so
 * "shifted >= ceil(boundary)" is exactly "value > 2^e * 2^(k/4)", with no
 * floating point and no rounding doubt.
 */
static const uint64_t quarter_octave[LATHIST_SUB_BUCKETS] = {
    UINT64_C(0x8000000000000000), /* 2^0, the octave's own start */
    UINT64_C(0x9837f0518db8a970), /* ceil(2^63 * 2^(1/4)) */
    UINT64_C(0xb504f333f9de6485), /* ceil(2^63 * 2^(2/4)) */
    UINT64_C(0xd744fccad69d6af5), /* ceil(2^63 * 2^(3/4)) */
};

/* Index of the highest set bit of |v| (v != 0). */
static unsigned lathist_log2(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return 63u - (unsigned)__builtin_clzll(v);
#else
    unsigned e = 0;
    while (v >>= 1)
        e++;
    return e;
#endif
}

static size_t lathist_bucket_of(uint64_t ns)
{
    unsigned e, k;
    uint64_t mantissa;

    if (ns == 0)
        return 0;
    e = lathist_log2(ns);
    if (e >= LATHIST_OCTAVES)
        return LATHIST_OVERFLOW;
    mantissa = ns << (63 - e);
    k = (unsigned)(mantissa >= quarter_octave[1]) +
        (unsigned)(mantissa >= quarter_octave[2]) +
        (unsigned)(mantissa >= quarter_octave[3]);
    return 1 + (size_t)e * LATHIST_SUB_BUCKETS + k;
}

/* Smallest value in octave |e|, sub-bucket |k|: the least v with
 * v << (63 - e) >= quarter_octave[k], i.e. ceil(quarter_octave[k] / 2^(63-e)),
 * computed without the overflow of the usual (a + d - 1) / d. */
static uint64_t lathist_lower(unsigned e, unsigned k)
{
    unsigned shift = 63 - e;
    uint64_t c = quarter_octave[k];
    uint64_t mask = (UINT64_C(1) << shift) - 1;

    return (c >> shift) + ((c & mask) != 0);
}

/* Largest value that lathist_bucket_of() maps to bucket |b|. For tiny octaves
 * (e < 2) some sub-buckets hold no integer at all; their bound is then below
 * their start, which is harmless because an empty bucket is never the one a
 * rank lands in. */
static uint64_t lathist_upper(size_t b)
{
    unsigned e, k;

    if (b == 0)
        return 0;
    if (b == LATHIST_OVERFLOW)
        return UINT64_MAX; /* unknown; the caller clamps to max_ns */
    e = (unsigned)((b - 1) / LATHIST_SUB_BUCKETS);
    k = (unsigned)((b - 1) % LATHIST_SUB_BUCKETS);
    if (k == LATHIST_SUB_BUCKETS - 1)
        return (UINT64_C(2) << e) - 1; /* the octave's end */
    return lathist_lower(e, k + 1) - 1;
}

/* a + b, stopping at UINT32_MAX rather than wrapping. */
static uint32_t lathist_sat_add(uint32_t a, uint32_t b)
{
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

void tl_lathist_init(lathist *h)
{
    memset(h, 0, sizeof(*h));
}

void tl_lathist_record(lathist *h, uint64_t ns)
{
    size_t b = lathist_bucket_of(ns);

    h->counts[b] = lathist_sat_add(h->counts[b], 1);
    h->count++; /* 64 bits: cannot wrap in any real lifetime */
    if (ns > h->max_ns)
        h->max_ns = ns;
}

uint64_t tl_lathist_percentile(const lathist *h, double pct)
{
    double wanted;
    uint64_t rank, seen = 0;
    size_t b;

    if (h->count == 0)
        return 0;
    if (!(pct > 0.0)) /* also catches NaN */
        pct = 0.0;
    if (pct > 100.0)
        pct = 100.0;

    /* Nearest rank: the ceil(pct% of count)-th smallest sample, at least the
     * first. Multiplying before dividing keeps e.g. 99.9% of 1000 at exactly
     * 999.0 rather than 999.0000000001, which would round up a rank. */
    wanted = pct * (double)h->count / 100.0;
    rank = (uint64_t)wanted;
    if ((double)rank < wanted)
        rank++;
    if (rank == 0)
        rank = 1;
    if (rank > h->count)
        rank = h->count;

    for (b = 0; b < LATHIST_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t upper = lathist_upper(b);
            return upper < h->max_ns ? upper : h->max_ns;
        }
    }
    /* Only reachable after saturation: the buckets hold fewer samples than
     * count says. Every cumulative sum above was an undercount, so the rank
     * lies at or above where we stopped; max_ns is a safe upper bound. */
    return h->max_ns;
}

void tl_lathist_merge(lathist *dst, const lathist *src)
{
    size_t b;

    for (b = 0; b < LATHIST_BUCKETS; b++)
        dst->counts[b] = lathist_sat_add(dst->counts[b], src->counts[b]);
    dst->count += src->count;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
}
