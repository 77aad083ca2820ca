/*
 * test_hist.c - the log-linear latency histogram: bucket arithmetic,
 * quantiles against exact quantiles of known samples, merging and interval
 * deltas.
 *
 * Expected quantiles are computed here by sorting the samples, never by the
 * histogram code, and a histogram answer is right when it falls in the same
 * bucket as the exact answer and not below it.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "yard_hist.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-th value of sorted samples by the nearest-rank definition. */
static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n);
    if ((double)rank < q * (double)n)
        rank++;
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static struct yard_hist *hist_of(const uint64_t *v, size_t n)
{
    struct yard_hist *h = calloc(1, sizeof(*h));
    cr_assert_not_null(h);
    for (size_t i = 0; i < n; i++)
        yard_hist_record(h, v[i]);
    return h;
}

static void assert_quantiles_within_a_bucket(uint64_t *v, size_t n, const char *what)
{
    struct yard_hist *h = hist_of(v, n);
    qsort(v, n, sizeof(v[0]), cmp_u64);
    const double qs[] = {0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 1.0};
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        uint64_t want = exact_quantile(v, n, qs[i]);
        uint64_t got = yard_hist_quantile(h, qs[i]);
        cr_assert_geq(got, want, "%s q=%g: %llu below exact %llu", what, qs[i],
                      (unsigned long long)got, (unsigned long long)want);
        cr_assert_eq(yard_hist_bucket(got), yard_hist_bucket(want),
                     "%s q=%g: %llu not in the bucket of exact %llu", what, qs[i],
                     (unsigned long long)got, (unsigned long long)want);
        if (want >= 16)
            cr_assert_leq((double)(got - want), (double)want / 16.0, "%s q=%g", what, qs[i]);
        else
            cr_assert_eq(got, want, "%s q=%g: below 16 ns values are exact", what, qs[i]);
    }
    cr_assert_eq(yard_hist_quantile(h, 1.0), v[n - 1], "%s: q=1 is the maximum", what);
    free(h);
}

Test(hist, bucket_count_matches_the_layout)
{
    /* 16 exact buckets, then 16 per power of two from 2^4 to 2^35 */
    cr_assert_eq(YARD_HIST_BUCKETS, 16 + 32 * 16);
}

Test(hist, bucket_bounds_are_the_inverse_of_bucket)
{
    for (unsigned b = 0; b < YARD_HIST_BUCKETS; b++) {
        uint64_t lo = yard_hist_bucket_low(b), hi = yard_hist_bucket_high(b);
        cr_assert_leq(lo, hi, "bucket %u", b);
        cr_assert_eq(yard_hist_bucket(lo), b, "low of bucket %u is %llu", b,
                     (unsigned long long)lo);
        cr_assert_eq(yard_hist_bucket(hi), b, "high of bucket %u is %llu", b,
                     (unsigned long long)hi);
        if (b + 1 < YARD_HIST_BUCKETS) {
            cr_assert_eq(yard_hist_bucket_low(b + 1), hi + 1, "buckets %u and %u touch", b, b + 1);
            if (lo < 16) {
                cr_assert_eq(lo, hi, "values below 16 ns have their own bucket");
            } else {
                /* width relative to the lower bound at most 1/16 */
                cr_assert_leq((hi - lo + 1) * 16, lo, "bucket %u [%llu, %llu] too wide", b,
                              (unsigned long long)lo, (unsigned long long)hi);
            }
        }
    }
    cr_assert_eq(yard_hist_bucket_low(0), 0);
    cr_assert_eq(yard_hist_bucket_high(YARD_HIST_BUCKETS - 1), UINT64_MAX);
    cr_assert_eq(yard_hist_bucket_low(YARD_HIST_BUCKETS - 1), (1ull << 35) + (15ull << 31));
}

Test(hist, bucket_is_monotone_and_every_value_lies_in_its_bucket)
{
    unsigned prev = 0;
    for (uint64_t v = 0; v < 200000; v++) {
        unsigned b = yard_hist_bucket(v);
        cr_assert(b == prev || b == prev + 1, "bucket(%llu) jumps from %u to %u",
                  (unsigned long long)v, prev, b);
        cr_assert(yard_hist_bucket_low(b) <= v && v <= yard_hist_bucket_high(b));
        prev = b;
    }
    for (int i = 0; i < 1000000; i++) {
        /* spread over every magnitude, not just the top bits */
        uint64_t v = next_random() >> (next_random() % 64);
        unsigned b = yard_hist_bucket(v);
        cr_assert_lt(b, YARD_HIST_BUCKETS);
        cr_assert(yard_hist_bucket_low(b) <= v && v <= yard_hist_bucket_high(b), "%llu in %u",
                  (unsigned long long)v, b);
        cr_assert_leq(yard_hist_bucket(v / 2), b, "monotone at %llu", (unsigned long long)v);
    }
}

Test(hist, values_beyond_the_range_are_clamped_into_the_last_bucket)
{
    cr_assert_eq(yard_hist_bucket(1ull << 36), YARD_HIST_BUCKETS - 1);
    cr_assert_eq(yard_hist_bucket(UINT64_MAX), YARD_HIST_BUCKETS - 1);
    cr_assert_eq(yard_hist_bucket((1ull << 36) - 1), YARD_HIST_BUCKETS - 1);
    cr_assert_eq(yard_hist_bucket(1ull << 35), YARD_HIST_BUCKETS - 16);
}

Test(hist, record_counts_sums_and_keeps_the_maximum)
{
    struct yard_hist h;
    memset(&h, 0, sizeof(h));
    yard_hist_record(&h, 100);
    yard_hist_record(&h, 3);
    yard_hist_record(&h, 100);
    cr_assert_eq(h.count, 3);
    cr_assert_eq(h.sum_ns, 203);
    cr_assert_eq(h.max_ns, 100);
    cr_assert_eq(h.bucket[3], 1);
    cr_assert_eq(h.bucket[yard_hist_bucket(100)], 2);
}

Test(hist, quantiles_of_an_empty_or_constant_histogram)
{
    struct yard_hist h;
    memset(&h, 0, sizeof(h));
    cr_assert_eq(yard_hist_quantile(&h, 0.5), 0);
    cr_assert_eq(yard_hist_quantile(&h, 1.0), 0);
    for (int i = 0; i < 1000; i++)
        yard_hist_record(&h, 1000);
    /* the bucket of 1000 reaches to 1023; the maximum pulls it to 1000 */
    cr_assert_eq(yard_hist_quantile(&h, 0.01), 1000);
    cr_assert_eq(yard_hist_quantile(&h, 0.5), 1000);
    cr_assert_eq(yard_hist_quantile(&h, 1.0), 1000);
}

Test(hist, quantiles_of_a_two_point_distribution_switch_at_the_right_rank)
{
    struct yard_hist h;
    memset(&h, 0, sizeof(h));
    for (int i = 0; i < 90; i++)
        yard_hist_record(&h, 1000);
    for (int i = 0; i < 10; i++)
        yard_hist_record(&h, 10000);
    uint64_t p50 = yard_hist_quantile(&h, 0.5), p90 = yard_hist_quantile(&h, 0.9);
    cr_assert(p50 >= 1000 && p50 <= 1023, "p50 %llu", (unsigned long long)p50);
    cr_assert(p90 >= 1000 && p90 <= 1023, "p90 is the 90th value: %llu", (unsigned long long)p90);
    /* rank 90.5 rounds up to the 91st value, the first of the slow ones */
    cr_assert_eq(yard_hist_quantile(&h, 0.905), 10000);
    cr_assert_eq(yard_hist_quantile(&h, 0.91), 10000);
    cr_assert_leq(yard_hist_quantile(&h, 1e-9), 1023, "the smallest value");
    cr_assert_eq(yard_hist_quantile(&h, 0.99), 10000);
}

Test(hist, quantiles_of_a_uniform_distribution)
{
    size_t n = 99999; /* odd: most q * n are not whole ranks */
    uint64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = i + 1;
    assert_quantiles_within_a_bucket(v, n, "uniform 1..99999");
    free(v);
}

Test(hist, quantiles_of_a_long_tailed_distribution)
{
    /* log-uniform from 1 ns to about 1 s: every magnitude populated */
    size_t n = 200000;
    uint64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (next_random() >> (34 + next_random() % 30)) + (next_random() % 7);
    assert_quantiles_within_a_bucket(v, n, "log-uniform");
    free(v);
}

Test(hist, quantiles_of_a_latency_like_distribution)
{
    /* mostly 2-3 us, 1 % stragglers around 50 us, a few at 2 ms */
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next_random() % 10000;
        if (r < 9900)
            v[i] = 2000 + next_random() % 1000;
        else if (r < 9995)
            v[i] = 40000 + next_random() % 20000;
        else
            v[i] = 2000000 + next_random() % 1000;
    }
    assert_quantiles_within_a_bucket(v, n, "latency-like");
    free(v);
}

static void assert_hist_eq(const struct yard_hist *a, const struct yard_hist *b)
{
    cr_assert_eq(a->count, b->count);
    cr_assert_eq(a->sum_ns, b->sum_ns);
    cr_assert_eq(a->max_ns, b->max_ns);
    for (unsigned i = 0; i < YARD_HIST_BUCKETS; i++)
        cr_assert_eq(a->bucket[i], b->bucket[i], "bucket %u", i);
}

Test(hist, add_equals_recording_both_sets_into_one)
{
    uint64_t a[5000], b[3000], both[8000];
    for (size_t i = 0; i < 5000; i++)
        both[i] = a[i] = next_random() % 100000;
    for (size_t i = 0; i < 3000; i++)
        both[5000 + i] = b[i] = next_random() % 5000000;
    struct yard_hist *ha = hist_of(a, 5000), *hb = hist_of(b, 3000), *hall = hist_of(both, 8000);
    yard_hist_add(ha, hb);
    assert_hist_eq(ha, hall);
    free(ha);
    free(hb);
    free(hall);
}

Test(hist, delta_is_what_was_recorded_in_the_interval)
{
    uint64_t first[4000], second[2500];
    for (size_t i = 0; i < 4000; i++)
        first[i] = 500 + next_random() % 3000000; /* includes the overall maximum... */
    first[0] = 90000000;
    for (size_t i = 0; i < 2500; i++)
        second[i] = next_random() % 10000; /* ...the interval's values are small */

    struct yard_hist *live = hist_of(first, 4000);
    struct yard_hist before = *live;
    for (size_t i = 0; i < 2500; i++)
        yard_hist_record(live, second[i]);

    struct yard_hist *only_second = hist_of(second, 2500);
    struct yard_hist d;
    yard_hist_delta(&d, live, &before);
    cr_assert_eq(d.count, 2500);
    cr_assert_eq(d.sum_ns, only_second->sum_ns);
    for (unsigned i = 0; i < YARD_HIST_BUCKETS; i++)
        cr_assert_eq(d.bucket[i], only_second->bucket[i], "bucket %u", i);
    cr_assert_eq(d.max_ns, live->max_ns, "max is taken from now");

    /* the interval's p99 comes from the interval's values, not from history */
    uint64_t p99 = yard_hist_quantile(&d, 0.99);
    cr_assert_lt(p99, 10000 + 10000 / 16);
    cr_assert_eq(yard_hist_bucket(p99), yard_hist_bucket(yard_hist_quantile(only_second, 0.99)));
    free(live);
    free(only_second);
}

Test(hist, delta_after_a_reset_counts_from_zero)
{
    uint64_t big[100], small[10];
    for (size_t i = 0; i < 100; i++)
        big[i] = 1000 + i;
    for (size_t i = 0; i < 10; i++)
        small[i] = 50 + i;
    struct yard_hist *before = hist_of(big, 100), *now = hist_of(small, 10);
    struct yard_hist d;
    yard_hist_delta(&d, now, before);
    assert_hist_eq(&d, now);
    free(before);
    free(now);
}
