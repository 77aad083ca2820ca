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

/*
 * Send up to one burst from ring r. Returns packets sent; sets *nic_full
 * when the NIC took fewer than offered.
 */
static unsigned send_burst(struct rte_ring *r, unsigned cls, uint16_t port, uint16_t queue,
                           unsigned burst, struct yard_lcore_stats *stats, bool *nic_full)
{
    struct rte_mbuf *m[YARD_BURST_MAX];
    uint32_t rx_tsc[YARD_BURST_MAX];
    unsigned n = rte_ring_dequeue_burst_start(r, (void **)m, burst, NULL);
    if (n == 0)
        return 0;
    /* Read the stamps before tx_burst: the PMD may free the mbufs at once. */
    for (unsigned i = 0; i < n; i++)
        rx_tsc[i] = m[i]->hash.usr;
    uint32_t now = (uint32_t)rte_rdtsc();
    unsigned sent = rte_eth_tx_burst(port, queue, m, (uint16_t)n);
    rte_ring_dequeue_finish(r, sent);
    if (sent < n)
        *nic_full = true;
    for (unsigned i = 0; i < sent; i++)
        yard_hist_record(&stats->latency, yard_tsc_to_ns((uint32_t)(now - rx_tsc[i])));
    stats->class_tx[cls] += sent;
    stats->events[YARD_EV_TX_PACKETS] += sent;
    return sent;
}

unsigned yard_txq_drain(struct yard_txq *const *qs, unsigned nq, uint16_t port, uint16_t queue,
                        unsigned burst, unsigned max_bursts, struct yard_lcore_stats *stats)
{
    unsigned total = 0, bursts = 0;
    bool nic_full = false;

    /* Class 0: strict priority. */
    for (unsigned i = 0; i < nq && !nic_full; i++) {
        unsigned sent;
        while (!nic_full && bursts < max_bursts &&
               (sent = send_burst(qs[i]->cls[0], 0, port, queue, burst, stats, &nic_full)) > 0) {
            total += sent;
            bursts++;
        }
    }

    /* Classes 1-3: rounds of quanta until empty, NIC full or out of bursts. */
    bool progress = true;
    while (progress && !nic_full && bursts < max_bursts) {
        progress = false;
        for (unsigned c = 1; c < YARD_NB_CLASSES && !nic_full; c++) {
            for (unsigned i = 0; i < nq && !nic_full; i++) {
                for (unsigned k = 0; k < class_quantum[c] && !nic_full && bursts < max_bursts;
                     k++) {
                    unsigned sent = send_burst(qs[i]->cls[c], c, port, queue, burst, stats,
                                               &nic_full);
                    if (sent == 0)
                        break;
                    total += sent;
                    bursts++;
                    progress = true;
                }
            }
        }
    }
    return total;
}
