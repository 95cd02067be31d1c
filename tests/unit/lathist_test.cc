// Unit tests for src/base/lathist.c: the per-connection latency histogram.
//
// The documented contract is checked against exact answers: a sorted array
// of the same samples gives the true nearest-rank percentile, and the
// histogram's answer must be at least that and below 2^(1/4) (1.1892) times
// it, for every percentile asked, over several shapes of distribution.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

extern "C" {
#include "base/lathist.h"
}

namespace {

// 2^(1/4): the documented worst-case ratio (exclusive) of answer to truth.
const long double kBound = 1.18920711500272106671749997056047591529L;

// Percentiles asked, in tenths of a percent so the test can compute ranks in
// exact integer arithmetic and not share the implementation's floating point.
const int kPerMille[] = {0, 1, 10, 100, 250, 500, 750, 900, 950,
                         990, 999, 1000};

// True nearest-rank percentile: the ceil(p * n)-th smallest, at least the
// first.
uint64_t TruePercentile(const std::vector<uint64_t> &sorted, int per_mille)
{
    uint64_t n = sorted.size();
    uint64_t rank = (static_cast<uint64_t>(per_mille) * n + 999) / 1000;
    if (rank == 0)
        rank = 1;
    return sorted[rank - 1];
}

::testing::AssertionResult WithinBound(uint64_t got, uint64_t truth)
{
    if (got < truth)
        return ::testing::AssertionFailure()
               << got << " is below the true value " << truth;
    if (truth == 0 ? got != 0
                   : static_cast<long double>(got) >=
                         static_cast<long double>(truth) * kBound)
        return ::testing::AssertionFailure()
               << got << " is 2^(1/4) or more above the true value " << truth;
    return ::testing::AssertionSuccess();
}

// Records |samples| and checks every percentile in kPerMille.
void CheckAgainstTruth(std::vector<uint64_t> samples)
{
    lathist h;
    tl_lathist_init(&h);
    for (uint64_t v : samples)
        tl_lathist_record(&h, v);
    std::sort(samples.begin(), samples.end());
    ASSERT_EQ(samples.size(), h.count);
    ASSERT_EQ(samples.back(), h.max_ns);
    for (int pm : kPerMille) {
        uint64_t truth = TruePercentile(samples, pm);
        uint64_t got = tl_lathist_percentile(&h, pm / 10.0);
        EXPECT_TRUE(WithinBound(got, truth)) << "at " << pm / 10.0 << "%";
        EXPECT_LE(got, h.max_ns);
    }
    EXPECT_EQ(samples.back(), tl_lathist_percentile(&h, 100.0));
}

// Index of the bucket a value lands in, found by observation so the test
// does not depend on the layout.
size_t BucketOf(uint64_t ns)
{
    lathist h;
    tl_lathist_init(&h);
    tl_lathist_record(&h, ns);
    for (size_t b = 0; b < LATHIST_BUCKETS; b++)
        if (h.counts[b] != 0)
            return b;
    ADD_FAILURE() << "no bucket counted " << ns;
    return 0;
}

// The histogram's answer for a single sample |v| when the max clamp cannot
// hide the bucket's upper end: v plus one huge sample, asked for the 50th
// percentile (rank 1 of 2).
uint64_t UpperEndFor(uint64_t v)
{
    lathist h;
    tl_lathist_init(&h);
    tl_lathist_record(&h, v);
    tl_lathist_record(&h, UINT64_MAX);
    return tl_lathist_percentile(&h, 50.0);
}

TEST(LathistTest, FitsTheSizeBudget)
{
    EXPECT_LE(sizeof(lathist), 700u);
}

TEST(LathistTest, EmptyReturnsZero)
{
    lathist h;
    std::memset(&h, 0xA5, sizeof(h));
    tl_lathist_init(&h);
    EXPECT_EQ(0u, h.count);
    EXPECT_EQ(0u, h.max_ns);
    for (double pct : {0.0, 50.0, 99.0, 100.0})
        EXPECT_EQ(0u, tl_lathist_percentile(&h, pct));
}

TEST(LathistTest, SmallValuesAreExact)
{
    // Below 8 every bucket holds a single integer.
    for (uint64_t v = 0; v < 8; v++)
        EXPECT_EQ(v, UpperEndFor(v)) << v;
}

TEST(LathistTest, SingleSampleIsReportedExactly)
{
    // The clamp to the exact max makes any one-sample histogram exact.
    for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{1000},
                       uint64_t{123456789}, uint64_t{1} << 41,
                       uint64_t{1} << 60, UINT64_MAX}) {
        lathist h;
        tl_lathist_init(&h);
        tl_lathist_record(&h, v);
        EXPECT_EQ(1u, h.count);
        EXPECT_EQ(v, h.max_ns);
        for (double pct : {0.0, 50.0, 100.0})
            EXPECT_EQ(v, tl_lathist_percentile(&h, pct)) << v << " " << pct;
    }
}

TEST(LathistTest, BucketUpperEndsRespectTheBoundEverywhere)
{
    // Every value up to 2^17 exhaustively, then every octave up to 2^40 at
    // and around its start and its quarter-octave boundaries, where an
    // off-by-one in the bucket edges would show.
    std::vector<uint64_t> values;
    for (uint64_t v = 0; v <= (uint64_t{1} << 17); v++)
        values.push_back(v);
    for (int e = 17; e <= 40; e++) {
        for (int k = 0; k <= 4; k++) {
            long double edge = std::ldexp(std::pow(2.0L, k / 4.0L), e);
            uint64_t c = static_cast<uint64_t>(edge);
            for (uint64_t d = 0; d < 5; d++) {
                for (uint64_t v : {c - d, c + d})
                    if (v < (uint64_t{1} << 41)) // the resolved range
                        values.push_back(v);
            }
        }
    }
    uint64_t prev_upper = 0;
    std::sort(values.begin(), values.end());
    for (uint64_t v : values) {
        uint64_t upper = UpperEndFor(v);
        ASSERT_TRUE(WithinBound(upper, v)) << "value " << v;
        // Larger values never get a smaller answer.
        ASSERT_LE(prev_upper, upper) << "value " << v;
        prev_upper = upper;
    }
}

TEST(LathistTest, FourBucketsPerOctave)
{
    // One octave spans exactly 4 buckets, at the quarter-octave points.
    const uint64_t e = 20;
    const size_t first = BucketOf(uint64_t{1} << e);
    EXPECT_EQ(first + 4, BucketOf(uint64_t{1} << (e + 1)));
    EXPECT_EQ(first, BucketOf(1246974)); // floor(2^20.25) = 1246974.2
    EXPECT_EQ(first + 1, BucketOf(1246975));
    EXPECT_EQ(first + 1, BucketOf(1482910)); // 2^20.5 = 1482910.4
    EXPECT_EQ(first + 2, BucketOf(1482911));
    EXPECT_EQ(first + 2, BucketOf(1763487)); // 2^20.75 = 1763487.2
    EXPECT_EQ(first + 3, BucketOf(1763488));
    EXPECT_EQ(first + 3, BucketOf((uint64_t{1} << (e + 1)) - 1));
}

TEST(LathistTest, ResolvesAtLeastTo2Pow40)
{
    // Values to 2^41 - 1 keep the bound; beyond, one overflow bucket.
    EXPECT_TRUE(WithinBound(UpperEndFor(uint64_t{1} << 40), uint64_t{1} << 40));
    uint64_t top = (uint64_t{1} << 41) - 1;
    EXPECT_TRUE(WithinBound(UpperEndFor(top), top));
    EXPECT_EQ(LATHIST_BUCKETS - 1, BucketOf(uint64_t{1} << 41));
    EXPECT_EQ(LATHIST_BUCKETS - 1, BucketOf(UINT64_MAX));
}

TEST(LathistTest, BeyondRangeIsStillAnUpperBoundClampedToMax)
{
    lathist h;
    tl_lathist_init(&h);
    const uint64_t big = uint64_t{1} << 45, bigger = uint64_t{1} << 50;
    tl_lathist_record(&h, 1000);
    tl_lathist_record(&h, big);
    tl_lathist_record(&h, bigger);
    EXPECT_TRUE(WithinBound(tl_lathist_percentile(&h, 0.0), 1000));
    uint64_t p50 = tl_lathist_percentile(&h, 50.0); // true value: big
    EXPECT_GE(p50, big);
    EXPECT_LE(p50, bigger);
    EXPECT_EQ(bigger, tl_lathist_percentile(&h, 100.0));
}

TEST(LathistTest, PercentileArgumentIsClamped)
{
    lathist h;
    tl_lathist_init(&h);
    for (uint64_t v = 1; v <= 100; v++)
        tl_lathist_record(&h, v * 1000);
    uint64_t p0 = tl_lathist_percentile(&h, 0.0);
    EXPECT_TRUE(WithinBound(p0, 1000));
    EXPECT_EQ(p0, tl_lathist_percentile(&h, -5.0));
    EXPECT_EQ(p0, tl_lathist_percentile(&h, std::nan("")));
    EXPECT_EQ(100000u, tl_lathist_percentile(&h, 100.0));
    EXPECT_EQ(100000u, tl_lathist_percentile(&h, 250.0));
    const double inf = std::numeric_limits<double>::infinity();
    EXPECT_EQ(100000u, tl_lathist_percentile(&h, inf));
}

TEST(LathistTest, RanksAreNearestRank)
{
    // 999 samples of 1 and one of 1000: the 99.9th percentile is the 999th
    // sample (1), even though 99.9 is inexact in binary and a sloppy
    // ceil(0.999 * 1000) gives 1000.
    lathist h;
    tl_lathist_init(&h);
    for (int i = 0; i < 999; i++)
        tl_lathist_record(&h, 1);
    tl_lathist_record(&h, 1000);
    EXPECT_EQ(1u, tl_lathist_percentile(&h, 99.9));
    EXPECT_EQ(1000u, tl_lathist_percentile(&h, 99.95));
    EXPECT_EQ(1000u, tl_lathist_percentile(&h, 100.0));

    // Two samples: up to 50% is the first, anything above is the second.
    tl_lathist_init(&h);
    tl_lathist_record(&h, 3);
    tl_lathist_record(&h, 7);
    EXPECT_EQ(3u, tl_lathist_percentile(&h, 50.0));
    EXPECT_EQ(7u, tl_lathist_percentile(&h, 50.01));
}

TEST(LathistTest, RandomDistributionsWithinBound)
{
    std::mt19937_64 rng(20240601);
    const size_t n = 20000;

    std::uniform_int_distribution<uint64_t> small(0, 50);
    std::uniform_int_distribution<uint64_t> micros(1000, 5000000);
    std::uniform_real_distribution<double> log_exp(0.0, 40.0);
    std::exponential_distribution<double> expo(1.0 / 200000.0);
    std::lognormal_distribution<double> lognorm(12.0, 2.0);

    std::vector<std::vector<uint64_t>> sets(6);
    for (size_t i = 0; i < n; i++) {
        sets[0].push_back(small(rng));
        sets[1].push_back(micros(rng));
        sets[2].push_back(static_cast<uint64_t>(std::exp2(log_exp(rng))));
        sets[3].push_back(static_cast<uint64_t>(expo(rng)));
        sets[4].push_back(
            std::min<uint64_t>(static_cast<uint64_t>(lognorm(rng)),
                               uint64_t{1} << 40));
        // Bimodal: mostly prompt, a few very late (a stalled assist).
        sets[5].push_back(i % 100 == 0 ? 50000000 + (rng() % 1000000)
                                       : 20000 + (rng() % 5000));
    }
    for (size_t s = 0; s < sets.size(); s++) {
        SCOPED_TRACE("distribution " + std::to_string(s));
        CheckAgainstTruth(sets[s]);
    }
    // Small sample counts, where rank rounding matters most.
    for (size_t len = 1; len <= 12; len++) {
        SCOPED_TRACE("length " + std::to_string(len));
        std::vector<uint64_t> v;
        for (size_t i = 0; i < len; i++)
            v.push_back(micros(rng));
        CheckAgainstTruth(v);
    }
}

TEST(LathistTest, CountersSaturateInsteadOfWrapping)
{
    // 4 billion real records would take too long; start just below the limit
    // (the struct is transparent, so the test can set it up directly).
    lathist h;
    tl_lathist_init(&h);
    const size_t b = BucketOf(10);
    h.counts[b] = UINT32_MAX - 1;
    h.count = UINT32_MAX - 1;
    h.max_ns = 10;
    for (int i = 0; i < 3; i++)
        tl_lathist_record(&h, 10);
    EXPECT_EQ(UINT32_MAX, h.counts[b]);          // stuck, not wrapped to 1
    EXPECT_EQ(uint64_t{UINT32_MAX} + 2, h.count); // the total stays exact
    EXPECT_EQ(10u, tl_lathist_percentile(&h, 50.0));

    // Merge saturates too: doubling the histogram leaves the bucket at the
    // limit, so the buckets now hold half the samples that count claims. An
    // answer must still never be below the truth.
    tl_lathist_merge(&h, &h);
    EXPECT_EQ(UINT32_MAX, h.counts[b]);
    EXPECT_EQ(2 * (uint64_t{UINT32_MAX} + 2), h.count);
    tl_lathist_record(&h, 1000);
    for (double pct : {0.0, 50.0, 99.0}) {
        uint64_t got = tl_lathist_percentile(&h, pct);
        EXPECT_GE(got, 10u) << pct; // the true value at these ranks is 10
        EXPECT_LE(got, 1000u) << pct;
    }
    EXPECT_EQ(1000u, tl_lathist_percentile(&h, 100.0));
}

TEST(LathistTest, MergeEqualsRecordingEverything)
{
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> lognorm(10.0, 3.0);
    lathist a, b, all;
    tl_lathist_init(&a);
    tl_lathist_init(&b);
    tl_lathist_init(&all);
    for (int i = 0; i < 5000; i++) {
        uint64_t v = static_cast<uint64_t>(lognorm(rng));
        tl_lathist_record(i % 3 == 0 ? &a : &b, v);
        tl_lathist_record(&all, v);
    }
    tl_lathist_merge(&a, &b);
    EXPECT_EQ(0, std::memcmp(a.counts, all.counts, sizeof(a.counts)));
    EXPECT_EQ(all.count, a.count);
    EXPECT_EQ(all.max_ns, a.max_ns);
    for (int pm : kPerMille)
        EXPECT_EQ(tl_lathist_percentile(&all, pm / 10.0),
                  tl_lathist_percentile(&a, pm / 10.0));
}

TEST(LathistTest, MergeWithEmpty)
{
    lathist h, empty, copy;
    tl_lathist_init(&h);
    tl_lathist_init(&empty);
    for (uint64_t v = 1; v < 2000; v += 7)
        tl_lathist_record(&h, v * v);
    std::memcpy(&copy, &h, sizeof(h));

    tl_lathist_merge(&h, &empty); // adds nothing
    EXPECT_EQ(0, std::memcmp(&copy, &h, sizeof(h)));

    tl_lathist_merge(&empty, &h); // into empty: a copy
    EXPECT_EQ(0, std::memcmp(&copy, &empty, sizeof(h)));
    EXPECT_EQ(tl_lathist_percentile(&h, 90.0),
              tl_lathist_percentile(&empty, 90.0));
}

} // namespace
