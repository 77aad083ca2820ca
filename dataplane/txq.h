/*
 * txq.h - priority class queues toward one egress port: admission and
 * transmit scheduling.
 *
 * One queue set holds four rte_rings, one per class (0 critical ... 3 low).
 * In rtc mode the worker both fills and drains its own sets; in pipeline
 * mode a worker fills and a tx lcore drains (both single-threaded ends, so
 * the rings are SP/SC).
 *
 * Admission looks at the set's whole backlog: a class is shed once the
 * backlog passes its watermark (class 3 at 1/2 of a ring's size, class 2 at
 * 3/4, class 1 at the full size), so lower classes go first under overload;
 * class 0 is dropped only when its own ring is full.
 *
 * Transmission is strict for class 0, then weighted 4:2:1 for classes 1-3
 * (deficit round robin in bursts), so no class starves. Packets the NIC does
 * not take stay queued (the peek API consumes only what was sent) and are
 * retried on the next call: backpressure reaches admission instead of
 * becoming silent drops.
 *
 * Each packet carries its receive time in the low 32 bits of the TSC in
 * mbuf->hash.usr (first cache line, already hot): on transmit the
 * in-appliance latency goes into the caller's histogram.
 */
#ifndef YARD_TXQ_H
#define YARD_TXQ_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_peek.h>

#include "yard_counters.h"
#include "yard_shm.h"

struct yard_txq {
    struct rte_ring *cls[YARD_NB_CLASSES];
    uint32_t watermark[YARD_NB_CLASSES]; /* backlog at which the class is shed */
};

/* Create the four rings (each `size` entries, a power of two) on `socket`. */
int yard_txq_init(struct yard_txq *q, const char *name, unsigned size, int socket);
void yard_txq_free(struct yard_txq *q);

/* Packets waiting in all classes. */
static inline unsigned yard_txq_backlog(const struct yard_txq *q)
{
    return rte_ring_count(q->cls[0]) + rte_ring_count(q->cls[1]) + rte_ring_count(q->cls[2]) +
           rte_ring_count(q->cls[3]);
}

/*
 * Admit n packets of class `cls`. Returns how many were queued (a prefix of
 * m[]); the caller counts and frees the rest: drop reason SHED for classes
 * 1-3 over their watermark, QUEUE_FULL when the ring itself is full.
 */
static inline unsigned yard_txq_admit(struct yard_txq *q, unsigned cls, struct rte_mbuf **m,
                                      unsigned n, unsigned *reason)
{
    unsigned allowed = n;
    if (cls != 0) {
        unsigned backlog = yard_txq_backlog(q);
        unsigned wm = q->watermark[cls];
        allowed = backlog >= wm ? 0 : (wm - backlog < n ? wm - backlog : n);
    }
    unsigned queued =
        allowed ? rte_ring_sp_enqueue_burst(q->cls[cls], (void **)m, allowed, NULL) : 0;
    *reason = queued < allowed ? YARD_DROP_QUEUE_FULL : YARD_DROP_SHED;
    return queued;
}

/*
 * Transmit from queue sets qs[0..nq) to (port, queue): class 0 first, then
 * classes 1-3 by weight, at most `max_bursts` bursts of `burst` packets.
 * Counts tx per class and latency into stats. Returns packets sent.
 */
unsigned yard_txq_drain(struct yard_txq *const *qs, unsigned nq, uint16_t port, uint16_t queue,
                        unsigned burst, unsigned max_bursts, struct yard_lcore_stats *stats);

#endif
