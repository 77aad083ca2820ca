/*
 * lcores.c - giving each lcore its role, its RX queues and its rings.
 *
 * Workers come from the configuration (or are every non-main lcore); in
 * pipeline mode tx lcores are listed separately. Every RX queue of a port
 * goes to a worker on the port's NUMA socket, round robin, and everything
 * an lcore touches on its fast path is allocated on its own socket. Runs on
 * the main lcore before the lcores start; errors name the lcore, the socket
 * and the fix.
 */
#include <errno.h>
#include <stdio.h>

#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dp.h"
#include "lcores.h"

static struct yard_lcore *new_lcore(unsigned lcore_id, enum yard_lcore_role role)
{
    int socket = (int)rte_lcore_to_socket_id(lcore_id);
    struct yard_lcore *lc =
        rte_zmalloc_socket("yard_lcore", sizeof(*lc), RTE_CACHE_LINE_SIZE, socket);
    if (lc == NULL)
        return NULL;
    lc->lcore_id = lcore_id;
    lc->role = role;
    lc->stats = yard_shm_lcore(&yard_dp.shm, lcore_id);
    memset(lc->stats, 0, sizeof(*lc->stats));
    lc->stats->role = role;
    lc->stats->socket = (uint32_t)socket;
    lc->stats->in_use = 1;
    yard_dp.lcores[lcore_id] = lc;
    yard_dp.nb_lcores++;
    return lc;
}

static int check_lcore(unsigned lcore, const char *list, char *err, size_t errlen)
{
    if (lcore >= YARD_MAX_LCORES || !rte_lcore_is_enabled(lcore)) {
        snprintf(err, errlen,
                 "config %s: %s: lcore %u is not enabled in the EAL; add it to -l/--lcores or "
                 "remove it from %s",
                 yard_dp.cfg.path, list, lcore, list);
        return -EINVAL;
    }
    if (lcore == rte_get_main_lcore()) {
        snprintf(err, errlen,
                 "config %s: %s: lcore %u is the main lcore, which runs the agent and never "
                 "polls; choose another lcore or move the main lcore with --main-lcore",
                 yard_dp.cfg.path, list, lcore);
        return -EINVAL;
    }
    if (yard_dp.lcores[lcore] != NULL) {
        snprintf(err, errlen, "config %s: %s: lcore %u already has a role", yard_dp.cfg.path, list,
                 lcore);
        return -EINVAL;
    }
    return 0;
}

static int create_roles(char *err, size_t errlen)
{
    const struct yard_config *cfg = &yard_dp.cfg;
    for (unsigned i = 0; i < cfg->nb_tx_lcores; i++) {
        if (check_lcore(cfg->tx_lcores[i], "tx_lcores", err, errlen) < 0)
            return -EINVAL;
        if (new_lcore(cfg->tx_lcores[i], YARD_ROLE_TX) == NULL)
            goto nomem;
    }
    if (cfg->nb_workers > 0) {
        for (unsigned i = 0; i < cfg->nb_workers; i++) {
            if (check_lcore(cfg->workers[i], "workers", err, errlen) < 0)
                return -EINVAL;
            if (new_lcore(cfg->workers[i], YARD_ROLE_WORKER) == NULL)
                goto nomem;
        }
    } else {
        unsigned lcore;
        RTE_LCORE_FOREACH_WORKER(lcore)
        {
            if (yard_dp.lcores[lcore] == NULL && new_lcore(lcore, YARD_ROLE_WORKER) == NULL)
                goto nomem;
        }
    }
    unsigned nb_workers = 0;
    for (unsigned l = 0; l < YARD_MAX_LCORES; l++)
        nb_workers += yard_dp.lcores[l] != NULL && yard_dp.lcores[l]->role == YARD_ROLE_WORKER;
    if (nb_workers == 0) {
        snprintf(err, errlen,
                 "no worker lcore: the EAL was given only the main lcore; pass at least two "
                 "lcores, e.g. -l 0,1");
        return -EINVAL;
    }
    /* The agent's own counters (ARP, held packets) live in its lcore block. */
    yard_dp.agent_lcore = rte_get_main_lcore();
    struct yard_lcore_stats *st = yard_shm_lcore(&yard_dp.shm, yard_dp.agent_lcore);
    memset(st, 0, sizeof(*st));
    st->role = YARD_ROLE_AGENT;
    st->socket = rte_lcore_to_socket_id(yard_dp.agent_lcore);
    st->in_use = 1;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory for per-lcore state; reserve more hugepages");
    return -ENOMEM;
}

/* Same socket, or either side does not know its socket (virtual devices). */
static bool same_socket(int port_socket, unsigned lcore)
{
    return port_socket < 0 || (unsigned)port_socket == rte_lcore_to_socket_id(lcore);
}

static int assign_rx_queues(char *err, size_t errlen)
{
    unsigned next = 0;
    for (unsigned p = 0; p < yard_dp.nb_ports; p++) {
        struct yard_port *port = &yard_dp.ports[p];
        for (uint16_t q = 0; q < yard_dp.cfg.ports[p].rx_queues; q++) {
            struct yard_lcore *chosen = NULL;
            for (unsigned k = 0; k < YARD_MAX_LCORES && chosen == NULL; k++) {
                unsigned l = (next + k) % YARD_MAX_LCORES;
                struct yard_lcore *lc = yard_dp.lcores[l];
                if (lc != NULL && lc->role == YARD_ROLE_WORKER && same_socket(port->socket, l) &&
                    lc->nb_rxq < YARD_MAX_RXQ_LCORE) {
                    chosen = lc;
                    next = l + 1;
                }
            }
            if (chosen == NULL) {
                snprintf(err, errlen,
                         "config %s: ports[%u] (%s) is on socket %d but no worker lcore is; "
                         "add a worker lcore from socket %d or move the port",
                         yard_dp.cfg.path, p, yard_dp.cfg.ports[p].device, port->socket,
                         port->socket);
                return -EINVAL;
            }
            chosen->rxq[chosen->nb_rxq++] = (struct yard_rxq){port->port_id, q};
        }
    }
    return 0;
}

/* Queue sets from each worker toward each port; tx ports for tx lcores. */
static int create_queues(char *err, size_t errlen)
{
    bool pipeline = yard_dp.cfg.mode == YARD_MODE_PIPELINE;
    unsigned worker_index = 0, tx_index = 0;
    unsigned tx_lcore_ids[YARD_MAX_LCORES], nb_tx = 0;

    for (unsigned l = 0; l < YARD_MAX_LCORES; l++) {
        struct yard_lcore *lc = yard_dp.lcores[l];
        if (lc == NULL)
            continue;
        int socket = (int)rte_lcore_to_socket_id(l);
        if (lc->role == YARD_ROLE_TX) {
            tx_lcore_ids[nb_tx++] = l;
            lc->txq_id = 0; /* each port has one tx lcore in pipeline mode */
            continue;
        }
        lc->txq_id = (uint16_t)worker_index;
        lc->drains_agent_tx = !pipeline && worker_index == 0;
        worker_index++;
        char name[RTE_RING_NAMESIZE];
        snprintf(name, sizeof(name), "yard_slow_%u", l);
        lc->slow = rte_ring_create_elem(name, sizeof(struct yard_slow_item), YARD_SLOW_RING_SIZE,
                                        socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (lc->slow == NULL)
            goto nomem;
        for (unsigned p = 0; p < yard_dp.nb_ports; p++) {
            snprintf(name, sizeof(name), "yard_q%u_%u", l, p);
            if (yard_txq_init(&lc->txq[p], name, yard_dp.cfg.class_queue_size, socket) < 0)
                goto nomem;
        }
    }

    if (pipeline) {
        /* Ports are shared out among tx lcores; each port has one owner. */
        for (unsigned p = 0; p < yard_dp.nb_ports; p++) {
            struct yard_lcore *owner = yard_dp.lcores[tx_lcore_ids[tx_index++ % nb_tx]];
            owner->tx_ports[owner->nb_tx_ports++] = (uint16_t)p;
            yard_dp.ports[p].agent_tx_lcore = owner->lcore_id;
        }
    } else {
        for (unsigned p = 0; p < yard_dp.nb_ports; p++)
            for (unsigned l = 0; l < YARD_MAX_LCORES; l++)
                if (yard_dp.lcores[l] != NULL && yard_dp.lcores[l]->drains_agent_tx)
                    yard_dp.ports[p].agent_tx_lcore = l;
    }
    return 0;
nomem:
    snprintf(err, errlen,
             "cannot allocate per-lcore rings (class_queue_size %u); reserve more hugepages or "
             "lower class_queue_size",
             yard_dp.cfg.class_queue_size);
    return -ENOMEM;
}

int yard_lcores_roles(char *err, size_t errlen)
{
    return create_roles(err, errlen);
}

int yard_lcores_setup(char *err, size_t errlen)
{
    int ret = assign_rx_queues(err, errlen);
    if (ret < 0)
        return ret;
    return create_queues(err, errlen);
}

unsigned yard_lcores_count(enum yard_lcore_role role)
{
    unsigned n = 0;
    for (unsigned l = 0; l < YARD_MAX_LCORES; l++)
        n += yard_dp.lcores[l] != NULL && yard_dp.lcores[l]->role == role;
    return n;
}

void yard_lcores_free(void)
{
    for (unsigned l = 0; l < YARD_MAX_LCORES; l++) {
        struct yard_lcore *lc = yard_dp.lcores[l];
        if (lc == NULL)
            continue;
        for (unsigned p = 0; p < yard_dp.nb_ports; p++)
            yard_txq_free(&lc->txq[p]);
        if (lc->slow != NULL) {
            struct yard_slow_item item;
            while (rte_ring_dequeue_elem(lc->slow, &item, sizeof(item)) == 0)
                rte_pktmbuf_free(item.m);
            rte_ring_free(lc->slow);
        }
        rte_free(lc);
        yard_dp.lcores[l] = NULL;
    }
}
