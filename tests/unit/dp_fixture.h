/*
 * dp_fixture.h - what the dataplane unit tests share: a small DPDK EAL per
 * test process, and a dataplane state built by hand around it.
 *
 * Criterion runs each test in its own forked process, and an EAL does not
 * survive fork(), so every test starts its own: no hugepages, no PCI scan,
 * 256 MB of ordinary memory, no telemetry socket, no shared files
 * (--no-shconf; --in-memory is refused together with --no-huge) and a file
 * prefix with the pid, so tests run in parallel with each other and with a
 * real appliance. Header-only because each test is built from one source
 * file.
 *
 * yard_test_dp_start() builds what main.c, ports.c and lcores.c would, for
 * two ports without ethdevs behind them (nothing here transmits; frames are
 * taken from the rings they are queued on): port 0 at 198.18.0.1/24 with a
 * gateway 198.18.0.254, port 1 at 198.18.1.1/24, their pools (no per-lcore
 * cache, so a pool's free count is exact), neighbor tables and agent_tx
 * rings, a directory with its destination state, and a real shared-memory
 * segment (unlinked at once; the mapping stays) whose rings and counters
 * the code under test uses. A test file that uses it defines
 * `struct yard_dp yard_dp;` (main.c does in the appliance).
 */
#ifndef YARD_DP_FIXTURE_H
#define YARD_DP_FIXTURE_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dp.h"
#include "forward.h"
#include "neigh.h"

/*
 * Start the EAL for this test process, with one more EAL argument `extra`
 * (e.g. "--vdev=net_null0") or NULL. Call from a suite's .init.
 */
static inline void yard_test_eal_start(const char *tag, const char *extra)
{
    static char prefix[64];
    snprintf(prefix, sizeof(prefix), "yt-%s-%d", tag, (int)getpid());
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)"yard-unit-test";
    argv[argc++] = (char *)"--no-huge";
    argv[argc++] = (char *)"--no-pci";
    argv[argc++] = (char *)"-m";
    argv[argc++] = (char *)"256";
    argv[argc++] = (char *)"--no-shconf";
    argv[argc++] = (char *)"--no-telemetry";
    argv[argc++] = (char *)"--file-prefix";
    argv[argc++] = prefix;
    argv[argc++] = (char *)"-l";
    argv[argc++] = (char *)"0";
    argv[argc++] = (char *)"--log-level=error";
    if (extra != NULL)
        argv[argc++] = (char *)extra;
    argv[argc] = NULL;
    int ret = rte_eal_init(argc, argv);
    cr_assert_geq(ret, 0, "rte_eal_init (prefix %s): %s", prefix, rte_strerror(rte_errno));
    /* With no shared files and no telemetry the runtime directory stays
     * empty: remove it now, so that a test that crashes leaves nothing. */
    rmdir(rte_eal_get_runtime_dir());
}

static inline void yard_test_eal_stop(void)
{
    rte_eal_cleanup();
}

#define YT_NB_PORTS  2
#define YT_DATA_PORT 7400

/* Port i's MAC: 02:00:00:00:a<i>:01. */
static const uint8_t yt_port_mac[YT_NB_PORTS][6] = {{0x02, 0, 0, 0, 0xa0, 0x01},
                                                    {0x02, 0, 0, 0, 0xa1, 0x01}};

static inline uint32_t yt_ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
    return htonl(a << 24 | b << 16 | c << 8 | d);
}

/* The pools of the fixture: whole mbufs, and header mbufs for topic copies. */
static struct rte_mempool *yt_pool, *yt_hdr_pool;

/* Build the dataplane state described above, with a directory of dir_capacity names. */
static inline void yard_test_dp_start(const char *tag, uint32_t dir_capacity)
{
    yard_test_eal_start(tag, NULL);
    memset(&yard_dp, 0, sizeof(yard_dp));
    memset(yard_dp.port_index, -1, sizeof(yard_dp.port_index));
    yard_config_defaults(&yard_dp.cfg);
    yard_dp.cfg.punt_rate_per_source = 0; /* tests of the limit set their own */
    yard_dp.tsc_hz = rte_get_tsc_hz();
    yard_dp.ns_per_tsc_q32 = (uint64_t)((1000000000.0 * 4294967296.0) / (double)yard_dp.tsc_hz);
    yard_dp.data_udp_port_be = htons(YT_DATA_PORT);

    char name[64], err[512];
    snprintf(name, sizeof(name), "t%s-%d", tag, (int)getpid());
    cr_assert_eq(yard_shm_create(&yard_dp.shm, name, err, sizeof(err)), 0, "%s", err);
    yard_shm_unlink(name); /* the mapping stays; a crashed test leaves no object behind */
    yard_dp.shm.hdr->tsc_hz = yard_dp.tsc_hz;

    yt_pool =
        rte_pktmbuf_pool_create("yt_pool", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    cr_assert_not_null(yt_pool, "rte_pktmbuf_pool_create: %s", rte_strerror(rte_errno));
    yt_hdr_pool = rte_pktmbuf_pool_create("yt_hdrs", 4095, 0, 0, YARD_HDR_MBUF_ROOM, SOCKET_ID_ANY);
    cr_assert_not_null(yt_hdr_pool, "rte_pktmbuf_pool_create: %s", rte_strerror(rte_errno));

    yard_dp.nb_ports = YT_NB_PORTS;
    for (unsigned p = 0; p < YT_NB_PORTS; p++) {
        struct yard_port *port = &yard_dp.ports[p];
        port->port_id = (uint16_t)(p + 3); /* ids need not be indexes */
        port->socket = SOCKET_ID_ANY;
        port->ipv4 = yt_ip4(198, 18, p, 1);
        port->netmask = yt_ip4(255, 255, 255, 0);
        port->mtu = 1500;
        memcpy(port->mac.addr_bytes, yt_port_mac[p], 6);
        port->pool = yt_pool;
        port->hdr_pool = yt_hdr_pool;
        port->tx_chains = true;
        yard_dp.port_index[port->port_id] = (int8_t)p;
        cr_assert_eq(yard_neigh_table_create(port, 256, SOCKET_ID_ANY), 0);
        snprintf(name, sizeof(name), "yt_atx_%u", p);
        port->agent_tx = rte_ring_create(name, 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
        cr_assert_not_null(port->agent_tx);
    }
    yard_dp.ports[0].gateway = yt_ip4(198, 18, 0, 254);

    yard_dp.dir = yard_dir_create("yt_dir", dir_capacity, SOCKET_ID_ANY);
    cr_assert_not_null(yard_dp.dir, "yard_dir_create: %s", rte_strerror(rte_errno));
    yard_dests_init(&yard_dp.dests, yard_dp.dir);
    yard_forward_init();
}

static inline void yard_test_dp_stop(void)
{
    for (unsigned p = 0; p < YT_NB_PORTS; p++) {
        struct yard_port *port = &yard_dp.ports[p];
        struct rte_mbuf *m;
        while (rte_ring_dequeue(port->agent_tx, (void **)&m) == 0)
            rte_pktmbuf_free(m);
        rte_ring_free(port->agent_tx);
        yard_neigh_table_free(port);
    }
    yard_dir_free(yard_dp.dir);
    yard_shm_close(&yard_dp.shm);
    yard_config_free(&yard_dp.cfg);
    yard_test_eal_stop();
}

/* mbufs of `pool` not in it: in use somewhere. */
static inline unsigned yt_in_use(struct rte_mempool *pool)
{
    return rte_mempool_in_use_count(pool);
}

#endif
