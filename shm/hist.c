/*
 * hist.c - the slow paths of the latency histograms: merging, interval
 * deltas and quantiles. Recording is inline in yard_hist.h because it runs
 * for every message; everything here runs in readers (yardctl, telemetry),
 * a few times a second at most.
 *
 * Readers copy a histogram while its lcore keeps writing, so a copy is not
 * a consistent snapshot: `count` and the buckets may disagree by the few
 * values recorded during the copy. Quantiles therefore rank against the sum
 * of the buckets, never against `count`.
 */
#include "yard_hist.h"

void yard_hist_add(struct yard_hist *dst, const struct yard_hist *src)
{
    dst->count += src->count;
    dst->sum_ns += src->sum_ns;
    if (src->max_ns > dst->max_ns)
        dst->max_ns = src->max_ns;
    for (unsigned b = 0; b < YARD_HIST_BUCKETS; b++)
        dst->bucket[b] += src->bucket[b];
}

/* A counter that went backwards was reset (a new dataplane took the segment
 * over): the interval then holds only what was counted since the reset. */
static uint64_t counter_delta(uint64_t now, uint64_t before)
{
    return now >= before ? now - before : now;
}

void yard_hist_delta(struct yard_hist *dst, const struct yard_hist *now,
                     const struct yard_hist *before)
{
    if (now->count < before->count) {
        *dst = *now;
        return;
    }
    dst->count = now->count - before->count;
    dst->sum_ns = counter_delta(now->sum_ns, before->sum_ns);
    dst->max_ns = now->max_ns;
    for (unsigned b = 0; b < YARD_HIST_BUCKETS; b++)
        dst->bucket[b] =
            now->bucket[b] >= before->bucket[b] ? now->bucket[b] - before->bucket[b] : 0;
}

uint64_t yard_hist_quantile(const struct yard_hist *h, double q)
{
    uint64_t total = 0;
    for (unsigned b = 0; b < YARD_HIST_BUCKETS; b++)
        total += h->bucket[b];
    if (total == 0)
        return 0;
    if (!(q > 0.0))
        q = 0.0;
    if (q > 1.0)
        q = 1.0;

    /* rank of the q-th value, 1-based: p50 of 4 values is the 2nd */
    double exact = q * (double)total;
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > total)
        rank = total;

    uint64_t seen = 0;
    unsigned b = 0;
    for (; b < YARD_HIST_BUCKETS; b++) {
        seen += h->bucket[b];
        if (seen >= rank)
            break;
    }
    uint64_t high = yard_hist_bucket_high(b);
    if (h->max_ns != 0 && high > h->max_ns)
        high = h->max_ns;
    /* never below the bucket: max_ns can lag the buckets in a torn copy */
    if (high < yard_hist_bucket_low(b))
        high = yard_hist_bucket_low(b);
    return high;
}
