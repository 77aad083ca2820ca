/*
 * yard_hist.h - log-linear latency histograms that live in shared memory.
 *
 * A value in nanoseconds falls into one of YARD_HIST_BUCKETS buckets: values
 * below 16 ns each have their own bucket; above that every power of two is
 * split into 16 equal sub-buckets, so any bucket is at most 1/16 (6.25 %)
 * wide relative to its lower bound. Recording is one clz, two shifts and an
 * increment: cheap enough for every message on the hot path. A histogram has
 * a single writer (its lcore); readers copy it and subtract snapshots to get
 * percentiles over an interval.
 */
#ifndef YARD_HIST_H
#define YARD_HIST_H

#include <stdint.h>

#define YARD_HIST_SUB_BITS 4
#define YARD_HIST_SUB      (1u << YARD_HIST_SUB_BITS)
#define YARD_HIST_MAX_EXP  35 /* 2^36 ns is about 68 s: anything longer is clamped */
#define YARD_HIST_BUCKETS \
    (YARD_HIST_SUB + (YARD_HIST_MAX_EXP - YARD_HIST_SUB_BITS + 1) * YARD_HIST_SUB)

struct yard_hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t max_ns;
    uint64_t bucket[YARD_HIST_BUCKETS];
};

/* Bucket index for a value in nanoseconds. */
static inline unsigned yard_hist_bucket(uint64_t ns)
{
    if (ns < YARD_HIST_SUB)
        return (unsigned)ns;
    unsigned exp = 63u - (unsigned)__builtin_clzll(ns);
    if (exp > YARD_HIST_MAX_EXP)
        return YARD_HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(ns >> (exp - YARD_HIST_SUB_BITS)) & (YARD_HIST_SUB - 1);
    return YARD_HIST_SUB + (exp - YARD_HIST_SUB_BITS) * YARD_HIST_SUB + sub;
}

/* Smallest value (ns) that falls into bucket b. */
static inline uint64_t yard_hist_bucket_low(unsigned b)
{
    if (b < YARD_HIST_SUB)
        return b;
    unsigned exp = (b - YARD_HIST_SUB) / YARD_HIST_SUB + YARD_HIST_SUB_BITS;
    uint64_t sub = (b - YARD_HIST_SUB) % YARD_HIST_SUB;
    return (1ull << exp) | (sub << (exp - YARD_HIST_SUB_BITS));
}

/* Largest value (ns) that falls into bucket b. */
static inline uint64_t yard_hist_bucket_high(unsigned b)
{
    if (b + 1 >= YARD_HIST_BUCKETS)
        return UINT64_MAX;
    return yard_hist_bucket_low(b + 1) - 1;
}

/* Record one value; only the owning lcore may call this. */
static inline void yard_hist_record(struct yard_hist *h, uint64_t ns)
{
    h->count++;
    h->sum_ns += ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
    h->bucket[yard_hist_bucket(ns)]++;
}

/* dst += src (merging lcores); max_ns is the larger of the two. Readers
 * only; about 530 additions. */
void yard_hist_add(struct yard_hist *dst, const struct yard_hist *src);

/* dst = now - before (an interval); max_ns is taken from now. If now has
 * fewer values than before (a new dataplane reset the counters), dst = now.
 * Readers only; about 530 subtractions. */
void yard_hist_delta(struct yard_hist *dst, const struct yard_hist *now,
                     const struct yard_hist *before);

/*
 * Value at quantile q (0 < q <= 1): the upper bound of the bucket holding the
 * q-th value, clamped to the observed maximum. 0 for an empty histogram.
 * The q-th value is the one of rank ceil(q * n), n being the sum of the
 * buckets (a copy taken while the lcore writes may differ from count).
 * Readers only; one pass over the buckets.
 */
uint64_t yard_hist_quantile(const struct yard_hist *h, double q);

#endif
