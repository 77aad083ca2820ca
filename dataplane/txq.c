/*
 * txq.c - creating class queue sets and draining them to a port.
 *
 * The drain is the transmit scheduler: strict priority for class 0, then a
 * deficit round robin over classes 1-3 with quanta of 4, 2 and 1 bursts.
 * rte_ring's peek API lets us hand a burst to the NIC and consume only what
 * it accepted, so a full NIC queue leaves packets in order for next time.
 */
#include <errno.h>
#include <stdio.h>

#include <rte_cycles.h>
#include <rte_errno.h>

#include "dp.h"
#include "txq.h"

static const unsigned class_quantum[YARD_NB_CLASSES] = {0, 4, 2, 1};

int yard_txq_init(struct yard_txq *q, const char *name, unsigned size, int socket)
{
    for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
        char ring_name[RTE_RING_NAMESIZE];
        snprintf(ring_name, sizeof(ring_name), "%s_c%u", name, c);
        q->cls[c] = rte_ring_create(ring_name, size, socket,
                                    RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
        if (q->cls[c] == NULL) {
            int err = rte_errno;
            yard_txq_free(q);
            return -err;
        }
    }
    /* Lower classes give way first; see txq.h. */
    q->watermark[0] = UINT32_MAX;
    q->watermark[1] = size;
    q->watermark[2] = size * 3 / 4;
    q->watermark[3] = size / 2;
    return 0;
}

void yard_txq_free(struct yard_txq *q)
{
    for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
        if (q->cls[c] == NULL)
            continue;
        struct rte_mbuf *m[64];
        unsigned n;
        while ((n = rte_ring_dequeue_burst(q->cls[c], (void **)m, 64, NULL)) > 0)
            rte_pktmbuf_free_bulk(m, n);
        rte_ring_free(q->cls[c]);
        q->cls[c] = NULL;
    }
}

/* Latency of a transmitted burst: buckets per packet, totals once. */
static inline void yard_hist_record_burst(struct yard_hist *h, const uint32_t *rx_tsc, unsigned n,
                                          uint32_t now)
{
    uint64_t sum = 0, max = h->max_ns;
    for (unsigned i = 0; i < n; i++) {
        uint64_t ns = yard_tsc_to_ns((uint32_t)(now - rx_tsc[i]));
        h->bucket[yard_hist_bucket(ns)]++;
        sum += ns;
        max = ns > max ? ns : max;
    }
    h->count += n;
    h->sum_ns += sum;
    h->max_ns = max;
}

/* One batch handed to the NIC: which rings its packets were peeked from. */
struct batch {
    struct rte_mbuf *m[YARD_BURST_MAX];
    uint32_t rx_tsc[YARD_BURST_MAX];
    struct rte_ring *ring[YARD_BURST_MAX];
    uint16_t taken[YARD_BURST_MAX];
    uint8_t cls[YARD_BURST_MAX];
    unsigned fill, nb_rings;
};

/*
 * Peek up to `want` packets of ring r into the batch. Each ring is visited
 * at most once per batch, so one dequeue_finish per ring commits exactly
 * the prefix the NIC took.
 */
static inline unsigned peek(struct batch *b, struct rte_ring *r, unsigned cls, unsigned want)
{
    unsigned n = rte_ring_dequeue_burst_start(r, (void **)&b->m[b->fill], want, NULL);
    if (n > 0) {
        b->ring[b->nb_rings] = r;
        b->taken[b->nb_rings] = (uint16_t)n;
        b->cls[b->nb_rings] = (uint8_t)cls;
        b->nb_rings++;
        b->fill += n;
    }
    return n;
}

/* Hand the batch to the NIC; commit what it took, leave the rest queued. */
static unsigned transmit(struct batch *b, uint16_t port, uint16_t queue,
                         struct yard_lcore_stats *stats)
{
    /* Read the stamps before tx_burst: the PMD may free the mbufs at once. */
    for (unsigned i = 0; i < b->fill; i++)
        b->rx_tsc[i] = b->m[i]->hash.usr;
    uint32_t now = (uint32_t)rte_rdtsc();
    unsigned sent = rte_eth_tx_burst(port, queue, b->m, (uint16_t)b->fill);
    unsigned left = sent;
    for (unsigned t = 0; t < b->nb_rings; t++) {
        unsigned k = b->taken[t] < left ? b->taken[t] : left;
        rte_ring_dequeue_finish(b->ring[t], k);
        stats->class_tx[b->cls[t]] += k;
        left -= k;
    }
    yard_hist_record_burst(&stats->latency, b->rx_tsc, sent, now);
    stats->events[YARD_EV_TX_PACKETS] += sent;
    return sent;
}

unsigned yard_txq_drain(struct yard_txq *const *qs, unsigned nq, uint16_t port, uint16_t queue,
                        unsigned burst, unsigned max_bursts, struct yard_lcore_stats *stats)
{
    unsigned total = 0;
    unsigned allow[YARD_NB_CLASSES];
    for (unsigned c = 1; c < YARD_NB_CLASSES; c++)
        allow[c] = class_quantum[c] * burst;

    for (unsigned round = 0; round < max_bursts; round++) {
        struct batch b;
        b.fill = b.nb_rings = 0;
        bool limited = false; /* some class had packets but no allowance left */

        /* Class 0 first, from every queue set: strict priority. */
        for (unsigned i = 0; i < nq && b.fill < burst; i++)
            peek(&b, qs[i]->cls[0], 0, burst - b.fill);
        /* Then classes 1-3 within what is left of their quanta. */
        for (unsigned c = 1; c < YARD_NB_CLASSES; c++) {
            for (unsigned i = 0; i < nq && b.fill < burst; i++) {
                if (allow[c] == 0) {
                    limited |= rte_ring_count(qs[i]->cls[c]) > 0;
                    continue;
                }
                unsigned want = burst - b.fill < allow[c] ? burst - b.fill : allow[c];
                allow[c] -= peek(&b, qs[i]->cls[c], c, want);
                /* Quantum used up with packets still waiting: a new round is due. */
                if (allow[c] == 0 && rte_ring_count(qs[i]->cls[c]) > 0)
                    limited = true;
            }
        }

        if (b.fill < burst || (allow[1] == 0 && allow[2] == 0 && allow[3] == 0)) {
            /* Every backlogged class has had its quantum: a new round. */
            for (unsigned c = 1; c < YARD_NB_CLASSES; c++)
                allow[c] = class_quantum[c] * burst;
        }
        if (b.fill == 0) {
            if (limited)
                continue;
            break;
        }
        unsigned sent = transmit(&b, port, queue, stats);
        total += sent;
        if (sent < b.fill)
            break; /* NIC queue full: the rest waits in order */
        if (b.fill < burst && !limited)
            break; /* everything queued has gone */
    }
    return total;
}
