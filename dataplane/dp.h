/*
 * dp.h - the dataplane's run-time state: ports, lcores, tables, rings.
 *
 * Everything here is built once by main.c before the lcores start and torn
 * down after they stop. While running, each struct yard_lcore is touched only
 * by its own lcore (plus read-only counters in shm); the directory and the
 * neighbor entries are written only by the agent (main lcore) and read by
 * workers under liburcu QSBR.
 */
#ifndef YARD_DP_H
#define YARD_DP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "config.h"
#include "dest.h"
#include "dir.h"
#include "members.h"
#include "txq.h"
#include "yard_shm.h"

#define YARD_MAX_PORTS      YARD_CONF_MAX_PORTS
#define YARD_MAX_LCORES     YARD_SHM_MAX_LCORES
#define YARD_MAX_RXQ_LCORE  16
#define YARD_BURST_MAX      64
#define YARD_SLOW_RING_SIZE 1024
#define YARD_PUNT_BUCKETS   1024 /* per lcore; a power of two */
/* Data room of header mbufs: the usual headroom and 96 bytes for a copy's
 * Ethernet, IPv4 and UDP headers (42) and, for a copy whose kind differs
 * from the received one, the envelope's bytes up to its kind (at most
 * YARD_KIND_PREFIX_MAX, 23; forward.c checks the sum). */
#define YARD_HDR_MBUF_ROOM (RTE_PKTMBUF_HEADROOM + 96)

/* A DPDK port as the dataplane uses it. */
struct yard_port {
    uint16_t port_id;
    int socket;
    uint32_t ipv4;    /* network byte order */
    uint32_t netmask; /* network byte order */
    uint32_t gateway; /* network byte order, 0 = none */
    uint16_t mtu;
    bool found; /* the device exists and is ours to close */
    bool started;
    struct rte_ether_addr mac;
    struct rte_mempool *pool;     /* mbufs on the port's socket */
    struct rte_mempool *hdr_pool; /* small mbufs for topic copies' headers and bodies */
    bool tx_chains;               /* the device sends chained (multi-segment) mbufs */
    struct rte_ring *agent_tx;    /* agent -> the lcore that drains it (ARP, held packets) */
    unsigned agent_tx_lcore;      /* lcore that drains agent_tx */
    struct yard_neigh_table *neigh;
    /* Agent-private: some PMDs (memif on reconnect) reset their counters;
     * the exported ones must never go backwards. */
    struct rte_eth_stats stats_last, stats_base;
};

/* Something a worker hands to the agent: ARP frames, packets waiting for ARP. */
struct yard_slow_item {
    struct rte_mbuf *m;
    struct yard_neighbor *nh; /* NULL for ARP frames */
};

struct yard_rxq {
    uint16_t port_id;
    uint16_t queue_id;
};

/* Per-lcore state, allocated on the lcore's socket. */
struct yard_lcore {
    unsigned lcore_id;
    enum yard_lcore_role role;
    unsigned nb_rxq;
    struct yard_rxq rxq[YARD_MAX_RXQ_LCORE];
    uint16_t txq_id; /* this lcore's tx queue on every port (rtc workers, tx lcores) */

    /* rtc: class queues per egress port, drained by this lcore.
     * pipeline worker: class rings per egress port, drained by a tx lcore. */
    struct yard_txq txq[YARD_MAX_PORTS];

    /* pipeline tx lcore: the ports it transmits on. */
    unsigned nb_tx_ports;
    uint16_t tx_ports[YARD_MAX_PORTS];

    struct rte_ring *slow;          /* worker -> agent, single producer, single consumer */
    struct yard_lcore_stats *stats; /* in shm */
    bool drains_agent_tx;

    /* Punt rate limit: token buckets kept as their theoretical arrival
     * time in TSC cycles (forward.c), indexed by a hash of the source. */
    uint64_t punt_tat[YARD_PUNT_BUCKETS];
} __rte_cache_aligned;

struct yard_dp {
    struct yard_config cfg;
    struct yard_shm shm;
    struct yard_dir *dir;
    struct yard_dests dests;     /* the agent's view of the directory's destinations */
    struct yard_members members; /* cluster members' data addresses (FANOUT sources) */
    uint16_t data_udp_port_be;
    uint64_t tsc_hz;
    uint64_t ns_per_tsc_q32;     /* nanoseconds per TSC cycle, fixed point << 32 */
    uint64_t punt_interval_tsc;  /* between punts of one source at the limit; 0 = no limit */
    uint64_t punt_tolerance_tsc; /* (punt_burst - 1) intervals */

    unsigned nb_ports;
    struct yard_port ports[YARD_MAX_PORTS];
    int8_t port_index[RTE_MAX_ETHPORTS]; /* port_id -> index in ports[], -1 if unused */

    unsigned nb_lcores;
    struct yard_lcore *lcores[YARD_MAX_LCORES]; /* by lcore id, NULL if not ours */
    unsigned agent_lcore;

    struct rte_mempool *pool[RTE_MAX_NUMA_NODES];
    struct rte_mempool *hdr_pool[RTE_MAX_NUMA_NODES];

    volatile bool quit;
};

extern struct yard_dp yard_dp;

/* Port of a port_id, or NULL. */
static inline struct yard_port *yard_dp_port(uint16_t port_id)
{
    if (port_id >= RTE_MAX_ETHPORTS)
        return NULL;
    int i = yard_dp.port_index[port_id];
    return i < 0 ? NULL : &yard_dp.ports[i];
}

/* TSC cycles to nanoseconds. */
static inline uint64_t yard_tsc_to_ns(uint64_t cycles)
{
    return (uint64_t)(((unsigned __int128)cycles * yard_dp.ns_per_tsc_q32) >> 32);
}

#endif
