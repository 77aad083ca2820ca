/*
 * worker.c - the poll loops of worker and tx lcores.
 *
 * One loop per role, each fitting on a screen: receive a burst, route it,
 * transmit by class, announce a quiescent state, back off when idle. The
 * message path itself is forward.c; the transmit scheduler is txq.c; the
 * mode only decides which loop calls yard_txq_drain().
 *
 * Every rx or tx burst is preceded by yard_port_polled(): a memif port
 * whose peer has gone is closed, and its memory is unmapped only after each
 * loop here has passed a quiescent state (ports.c). While a port is closed
 * its class queues keep what they hold, as when a device's queue is full.
 */
#define _LGPL_SOURCE
#include <urcu-qsbr.h>

#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "dp.h"
#include "forward.h"
#include "ports.h"
#include "worker.h"

#define TX_MAX_BURSTS 16 /* bounds one drain call so rx is polled again soon */

/* Idle back-off state of one lcore. */
struct idle {
    uint32_t empty_polls;
    uint32_t sleep_us;
};

/*
 * Spin for idle.spin_polls empty polls, then sleep with doubling duration up
 * to idle.sleep_us. While asleep the lcore is offline for QSBR, so it never
 * delays the agent's grace periods.
 */
static inline void idle_backoff(struct idle *idle, unsigned got, struct yard_lcore_stats *st)
{
    if (got > 0 || !yard_dp.cfg.idle_backoff) {
        idle->empty_polls = 0;
        idle->sleep_us = 1;
        return;
    }
    if (++idle->empty_polls < yard_dp.cfg.idle_spin_polls) {
        rte_pause();
        return;
    }
    struct timespec ts = {0, (long)idle->sleep_us * 1000};
    rcu_thread_offline();
    nanosleep(&ts, NULL);
    rcu_thread_online();
    st->events[YARD_EV_IDLE_SLEEPS]++;
    if (idle->sleep_us < yard_dp.cfg.idle_sleep_us)
        idle->sleep_us = idle->sleep_us * 2 > yard_dp.cfg.idle_sleep_us ? yard_dp.cfg.idle_sleep_us
                                                                        : idle->sleep_us * 2;
}

/* Send what the agent queued for a port (ARP replies, released packets). */
static inline unsigned drain_agent_tx(struct yard_port *port, uint16_t txq,
                                      struct yard_lcore_stats *st)
{
    struct rte_mbuf *m[YARD_BURST_MAX];
    unsigned n = rte_ring_sc_dequeue_burst(port->agent_tx, (void **)m, YARD_BURST_MAX, NULL);
    if (n == 0)
        return 0;
    unsigned sent = rte_eth_tx_burst(port->port_id, txq, m, (uint16_t)n);
    st->events[YARD_EV_TX_PACKETS] += sent;
    if (sent < n) {
        st->drops[YARD_DROP_TX_FULL] += n - sent;
        rte_pktmbuf_free_bulk(m + sent, n - sent);
    }
    return sent;
}

static inline unsigned receive_and_route(struct yard_lcore *lc, uint64_t now)
{
    struct rte_mbuf *pkts[YARD_BURST_MAX];
    unsigned got = 0;
    for (unsigned q = 0; q < lc->nb_rxq; q++) {
        if (!yard_port_polled(lc->rxq[q].port_id))
            continue;
        uint16_t n =
            rte_eth_rx_burst(lc->rxq[q].port_id, lc->rxq[q].queue_id, pkts, yard_dp.cfg.burst);
        if (n > 0) {
            yard_forward_burst(lc, pkts, n, now);
            got += n;
        }
    }
    return got;
}

static inline void account(struct yard_lcore_stats *st, unsigned got, uint64_t start)
{
    if (got > 0) {
        st->events[YARD_EV_BUSY_POLLS]++;
        st->events[YARD_EV_BUSY_CYCLES] += rte_rdtsc() - start;
    } else {
        st->events[YARD_EV_IDLE_POLLS]++;
    }
}

/* rtc: receive, route, and transmit from this lcore's own class queues. */
static void rtc_loop(struct yard_lcore *lc)
{
    struct yard_lcore_stats *st = lc->stats;
    struct idle idle = {0, 1};
    while (!yard_dp.quit) {
        uint64_t start = rte_rdtsc();
        unsigned got = receive_and_route(lc, start);
        for (unsigned p = 0; p < yard_dp.nb_ports; p++) {
            struct yard_txq *q = &lc->txq[p];
            if (!yard_port_polled(yard_dp.ports[p].port_id))
                continue;
            yard_txq_drain(&q, 1, yard_dp.ports[p].port_id, lc->txq_id, yard_dp.cfg.burst,
                           TX_MAX_BURSTS, st);
            if (lc->drains_agent_tx)
                drain_agent_tx(&yard_dp.ports[p], lc->txq_id, st);
        }
        rcu_quiescent_state();
        account(st, got, start);
        idle_backoff(&idle, got, st);
    }
}

/* pipeline worker: receive and route into class rings; a tx lcore sends. */
static void pipeline_worker_loop(struct yard_lcore *lc)
{
    struct yard_lcore_stats *st = lc->stats;
    struct idle idle = {0, 1};
    while (!yard_dp.quit) {
        uint64_t start = rte_rdtsc();
        unsigned got = receive_and_route(lc, start);
        rcu_quiescent_state();
        account(st, got, start);
        idle_backoff(&idle, got, st);
    }
}

/* pipeline tx lcore: drain every worker's class rings toward its ports. */
static void tx_loop(struct yard_lcore *lc)
{
    struct yard_lcore_stats *st = lc->stats;
    struct idle idle = {0, 1};
    struct yard_txq *sets[YARD_MAX_PORTS][YARD_MAX_LCORES];
    unsigned nb_sets = 0;

    for (unsigned l = 0; l < YARD_MAX_LCORES; l++) {
        struct yard_lcore *w = yard_dp.lcores[l];
        if (w == NULL || w->role != YARD_ROLE_WORKER)
            continue;
        for (unsigned i = 0; i < lc->nb_tx_ports; i++)
            sets[i][nb_sets] = &w->txq[lc->tx_ports[i]];
        nb_sets++;
    }
    while (!yard_dp.quit) {
        uint64_t start = rte_rdtsc();
        unsigned sent = 0;
        for (unsigned i = 0; i < lc->nb_tx_ports; i++) {
            struct yard_port *port = &yard_dp.ports[lc->tx_ports[i]];
            if (!yard_port_polled(port->port_id))
                continue;
            sent += yard_txq_drain(sets[i], nb_sets, port->port_id, lc->txq_id, yard_dp.cfg.burst,
                                   TX_MAX_BURSTS, st);
            sent += drain_agent_tx(port, lc->txq_id, st);
        }
        rcu_quiescent_state();
        account(st, sent, start);
        idle_backoff(&idle, sent, st);
    }
}

int yard_lcore_main(void *arg)
{
    (void)arg;
    struct yard_lcore *lc = yard_dp.lcores[rte_lcore_id()];
    if (lc == NULL)
        return 0;
    rcu_register_thread();
    if (lc->role == YARD_ROLE_TX)
        tx_loop(lc);
    else if (yard_dp.cfg.mode == YARD_MODE_PIPELINE)
        pipeline_worker_loop(lc);
    else
        rtc_loop(lc);
    rcu_unregister_thread();
    return 0;
}
