/*
 * ports.c - finding, configuring and starting the configured ports, and
 * keeping the workers off a memif port while its peer's memory goes.
 *
 * Ports are named in the configuration by their ethdev name (a --vdev name
 * or a PCI address), never by port id, so the same file works whatever
 * order the EAL probes devices in. Each port gets its mbufs from a pool on
 * its own NUMA socket; the pool is sized from the layout and a too-small
 * `mbufs` is refused up front rather than discovered as rx_nombuf later.
 *
 * A memif port's rings are its peer's shared memory, and DPDK 22.11's
 * driver unmaps them when the peer leaves, from the EAL interrupt thread,
 * without waiting for the lcores that poll the port. So the dataplane
 * defines munmap() itself and makes that unmap wait: the port is closed to
 * the workers first and the memory goes only after a QSBR grace period.
 * The section on memif below says why nothing less will do.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include <rte_ethdev.h>
#include <rte_interrupts.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "dp.h"
#include "lcores.h"
#include "neigh.h"
#include "ports.h"

#define AGENT_TX_RING_SIZE 1024
#define NEIGHBORS_PER_PORT 65536

/*
 * ---- memif: ports whose memory can go under a poller ----
 *
 * When a memif peer disconnects or dies, memif_disconnect()
 * (drivers/net/memif/memif_socket.c in DPDK 22.11) runs in the EAL
 * interrupt thread: it marks the link down, clears the driver's
 * "connected" flag, and a few microseconds later munmap()s the peer's
 * regions. eth_memif_rx() and eth_memif_tx() test that flag once on entry
 * and then read the ring, with no synchronisation between the two threads.
 * A worker that passed the test just before and is preempted or slowed
 * there reads an unmapped ring: SIGSEGV in librte_net_memif.so.23.0 at
 * 0x8b03, the load of ring->head in eth_memif_rx (0x87c7 is ring->flags,
 * one step earlier). The driver raises no link-state event (it never calls
 * rte_eth_dev_callback_process), and its link status turns down in the
 * same call that unmaps, so nothing the dataplane could watch, poll or be
 * called back for comes before the unmap. Neither role helps: a memif
 * client unmaps its own regions on disconnect the same way.
 *
 * The one place between "disconnected" and "unmapped" that the dataplane
 * can reach is the munmap() call itself. The executable defines munmap,
 * and the executable comes first in symbol lookup, so the driver's call
 * (through its PLT) lands in ours. A munmap from the interrupt thread
 * first closes every memif port whose link is down (the one being torn
 * down is: the driver marked it first), then waits for a QSBR grace
 * period. Every worker has then passed a quiescent state: one that was
 * inside a burst on the port when the grace period began has left it, and
 * one that begins a burst later saw the port closed (yard_port_polled(),
 * checked before every burst) and does not call the driver. Only then
 * does the memory go.
 *
 * The agent opens the port again once the driver reports the link up,
 * which memif_connect() does only after the new peer's regions are mapped
 * and the rings reset. Until then no worker calls into the driver for the
 * port, so none can read the driver's region table halfway through a
 * reconnect either (the driver reads it before the connected flag, so a
 * stalled burst could otherwise pair an old region with a new connection).
 *
 * Ports of other drivers are never closed. The dataplane stops its own
 * ports (rte_eth_dev_stop, which also unmaps) only after the lcores have
 * returned, so only the interrupt thread's unmaps need the wait.
 */

uint32_t yard_port_gate[RTE_MAX_ETHPORTS] __rte_cache_aligned;

/* Set at set-up, before any port starts; read by the interrupt thread. */
static bool gated[RTE_MAX_ETHPORTS];
static bool any_gated;

/* Agent-private: the gate as the agent last saw it, for its log lines. */
static uint32_t gate_seen[RTE_MAX_ETHPORTS];

static int (*next_munmap)(void *addr, size_t len);

/* The munmap the process would have called without ours (libc's, or a
 * sanitizer's in a sanitized build), found before main() runs. */
__attribute__((constructor)) static void find_next_munmap(void)
{
    void *sym = dlsym(RTLD_NEXT, "munmap");
    memcpy(&next_munmap, &sym, sizeof(next_munmap));
}

/* Close a port: bit 0 off, the count of closes up by one. */
static void gate_close(uint16_t port_id)
{
    uint32_t g = __atomic_load_n(&yard_port_gate[port_id], __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&yard_port_gate[port_id], &g, (g | 1) + 1, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        ;
}

/*
 * The interrupt thread is about to unmap memory: if that is a memif
 * teardown, the driver has already marked its link down, so close every
 * gated port that is down, then wait until every worker has passed a
 * quiescent state. A worker inside a burst when the grace period began has
 * left it; one that starts a burst after it saw the port closed. Costs one
 * grace period (a worker loop, microseconds) when a gated port is down and
 * nothing otherwise.
 */
static void quiesce_down_ports(void)
{
    bool closed = false;
    for (uint16_t pid = 0; pid < RTE_MAX_ETHPORTS; pid++) {
        struct rte_eth_link link;
        if (!gated[pid] || rte_eth_link_get_nowait(pid, &link) != 0 || link.link_status)
            continue;
        gate_close(pid);
        closed = true;
    }
    if (closed)
        synchronize_rcu();
}

/*
 * Every munmap() of the process that goes through a PLT comes here (see
 * above for why): the executable exports this definition because librte_eal
 * imports munmap, so the linker puts ours in the dynamic symbol table, and
 * setup_gates() checks that it did. glibc's internal unmaps do not come
 * here and need not. Outside the interrupt thread, or without memif ports,
 * it costs one load and one call more than libc's.
 */
int munmap(void *addr, size_t len)
{
    if (__atomic_load_n(&any_gated, __ATOMIC_ACQUIRE) && rte_thread_is_intr())
        quiesce_down_ports();
    if (next_munmap == NULL)
        return (int)syscall(SYS_munmap, addr, len);
    return next_munmap(addr, len);
}

/*
 * Gate the memif ports (closed until their peer connects), open all others
 * for good. Refused if the munmap above is not the one the driver will
 * call, since then a peer's exit could still take the dataplane down.
 */
static int setup_gates(char *err, size_t errlen)
{
    bool memif = false;
    for (unsigned i = 0; i < yard_dp.nb_ports; i++) {
        uint16_t pid = yard_dp.ports[i].port_id;
        struct rte_eth_dev_info info;
        gated[pid] = rte_eth_dev_info_get(pid, &info) == 0 && info.driver_name != NULL &&
                     strcmp(info.driver_name, "net_memif") == 0;
        memif |= gated[pid];
        __atomic_store_n(&yard_port_gate[pid], gated[pid] ? 0 : 1, __ATOMIC_RELEASE);
        gate_seen[pid] = gated[pid] ? 0 : 1;
    }
    if (!memif)
        return 0;
    void *bound = dlsym(RTLD_DEFAULT, "munmap");
    if (bound != (void *)munmap) {
        snprintf(err, errlen,
                 "memif ports need the dataplane's own munmap() to be the one drivers call, "
                 "but it is not exported from this build of yard-dataplane; link it without "
                 "hiding that symbol");
        return -ENOTSUP;
    }
    __atomic_store_n(&any_gated, true, __ATOMIC_RELEASE);
    return 0;
}

void yard_ports_poll_links(void)
{
    for (unsigned i = 0; i < yard_dp.nb_ports; i++) {
        uint16_t pid = yard_dp.ports[i].port_id;
        if (!gated[pid])
            continue;
        const char *name = yard_dp.cfg.ports[i].device;
        uint32_t g = __atomic_load_n(&yard_port_gate[pid], __ATOMIC_ACQUIRE);
        if (g != gate_seen[pid] && (gate_seen[pid] & 1) && !(g & 1))
            fprintf(stderr,
                    "yard-dataplane: port %s: peer disconnected; not polled until a peer "
                    "connects\n",
                    name);
        gate_seen[pid] = g;
        if (g & 1)
            continue;
        /* The driver reports the link up only once the new peer's regions
         * are mapped and its rings reset (memif_connect), and that is read
         * after the gate: a teardown that closed the gate since fails the
         * exchange below, so a port is never opened on an old connection. */
        struct rte_eth_link link;
        if (rte_eth_link_get_nowait(pid, &link) != 0 || !link.link_status)
            continue;
        if (__atomic_compare_exchange_n(&yard_port_gate[pid], &g, g | 1, false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)) {
            gate_seen[pid] = g | 1;
            fprintf(stderr, "yard-dataplane: port %s: peer connected; polling\n", name);
        }
    }
}

static int memory_socket(int port_socket)
{
    return port_socket < 0 ? (int)rte_socket_id() : port_socket;
}

static void list_ports(char *buf, size_t len)
{
    uint16_t pid;
    size_t used = 0;
    buf[0] = 0;
    RTE_ETH_FOREACH_DEV(pid)
    {
        char name[RTE_ETH_NAME_MAX_LEN];
        if (rte_eth_dev_get_name_by_port(pid, name) == 0 && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
    }
    if (used == 0)
        snprintf(buf, len, "none");
}

/* Upper bound of mbufs the layout can hold at once on one socket. */
static unsigned mbufs_needed(int socket)
{
    const struct yard_config *cfg = &yard_dp.cfg;
    unsigned workers = yard_lcores_count(YARD_ROLE_WORKER);
    unsigned lcores = workers + yard_lcores_count(YARD_ROLE_TX) + 1;
    unsigned txqs = cfg->mode == YARD_MODE_RTC ? workers : 1;
    unsigned need = lcores * cfg->mbuf_cache * 3 / 2 + workers * YARD_SLOW_RING_SIZE;
    for (unsigned p = 0; p < yard_dp.nb_ports; p++) {
        if (memory_socket(yard_dp.ports[p].socket) != socket)
            continue;
        const struct yard_port_conf *pc = &cfg->ports[p];
        need += pc->rx_queues * pc->rx_desc + txqs * pc->tx_desc + AGENT_TX_RING_SIZE;
        /* Class queues: class 0 up to a full ring, the others up to a ring's
         * worth of backlog together (txq.h). */
        need += workers * 2 * cfg->class_queue_size;
    }
    return need;
}

static int create_pool(int socket, char *err, size_t errlen)
{
    if (yard_dp.pool[socket] != NULL)
        return 0;
    unsigned need = mbufs_needed(socket);
    if (yard_dp.cfg.mbufs < need) {
        snprintf(err, errlen,
                 "config %s: mbufs: '%u': too few for this layout, which can hold up to %u mbufs "
                 "on socket %d in descriptors, caches and class queues; raise mbufs to at least "
                 "%u or lower rx_desc/tx_desc/class_queue_size",
                 yard_dp.cfg.path, yard_dp.cfg.mbufs, need, socket, need);
        return -EINVAL;
    }
    char name[RTE_MEMPOOL_NAMESIZE];
    snprintf(name, sizeof(name), "yard_mbufs_s%d", socket);
    yard_dp.pool[socket] = rte_pktmbuf_pool_create(name, yard_dp.cfg.mbufs, yard_dp.cfg.mbuf_cache,
                                                   0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (yard_dp.pool[socket] == NULL) {
        snprintf(err, errlen,
                 "cannot create a pool of %u mbufs on socket %d: %s; reserve more hugepages on "
                 "that socket or lower mbufs",
                 yard_dp.cfg.mbufs, socket, rte_strerror(rte_errno));
        return -ENOMEM;
    }
    /* Topic copies take two small mbufs each (headers, and the indirect one
     * that shares the body) and sit in the same queues as whole messages,
     * so twice the main pool's count covers them wherever they wait. */
    unsigned hdr_mbufs = yard_dp.cfg.mbufs * 2 + 1;
    snprintf(name, sizeof(name), "yard_hdrs_s%d", socket);
    yard_dp.hdr_pool[socket] = rte_pktmbuf_pool_create(name, hdr_mbufs, yard_dp.cfg.mbuf_cache, 0,
                                                       YARD_HDR_MBUF_ROOM, socket);
    if (yard_dp.hdr_pool[socket] == NULL) {
        snprintf(err, errlen,
                 "cannot create a pool of %u header mbufs on socket %d: %s; reserve more "
                 "hugepages on that socket or lower mbufs",
                 hdr_mbufs, socket, rte_strerror(rte_errno));
        return -ENOMEM;
    }
    return 0;
}

static int find_port(unsigned index, char *err, size_t errlen)
{
    const struct yard_port_conf *pc = &yard_dp.cfg.ports[index];
    struct yard_port *port = &yard_dp.ports[index];
    if (rte_eth_dev_get_port_by_name(pc->device, &port->port_id) != 0) {
        char present[512];
        list_ports(present, sizeof(present));
        snprintf(err, errlen,
                 "config %s: ports[%u].device: '%s': no such DPDK port (ports present: %s); "
                 "give the device to the EAL with --vdev %s,... or -a <PCI address>",
                 yard_dp.cfg.path, index, pc->device, present, pc->device);
        return -ENODEV;
    }
    if (yard_dp.port_index[port->port_id] >= 0) {
        snprintf(err, errlen, "config %s: ports[%u].device: '%s' is listed twice", yard_dp.cfg.path,
                 index, pc->device);
        return -EINVAL;
    }
    port->found = true;
    port->socket = rte_eth_dev_socket_id(port->port_id);
    port->ipv4 = pc->ipv4;
    port->netmask = pc->prefix_len == 0 ? 0 : htonl(~0u << (32 - pc->prefix_len));
    port->gateway = pc->gateway;
    yard_dp.port_index[port->port_id] = (int8_t)index;
    return 0;
}

static int configure_port(unsigned index, char *err, size_t errlen)
{
    const struct yard_port_conf *pc = &yard_dp.cfg.ports[index];
    struct yard_port *port = &yard_dp.ports[index];
    uint16_t pid = port->port_id;
    unsigned workers = yard_lcores_count(YARD_ROLE_WORKER);
    uint16_t nb_txq = yard_dp.cfg.mode == YARD_MODE_RTC ? (uint16_t)workers : 1;
    struct rte_eth_dev_info info;
    int ret;

    if ((ret = rte_eth_dev_info_get(pid, &info)) != 0)
        goto fail;
    if (pc->rx_queues > info.max_rx_queues || nb_txq > info.max_tx_queues) {
        snprintf(err, errlen,
                 "config %s: ports[%u] (%s) supports %u rx and %u tx queues; asked for %u rx "
                 "(rx_queues) and %u tx (one per %s); lower rx_queues or the number of lcores",
                 yard_dp.cfg.path, index, pc->device, info.max_rx_queues, info.max_tx_queues,
                 pc->rx_queues, nb_txq,
                 yard_dp.cfg.mode == YARD_MODE_RTC ? "worker" : "port in pipeline mode");
        return -EINVAL;
    }

    struct rte_eth_conf conf = {0};
    if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    /* Topic copies are two-segment chains; many PMDs pick a transmit path
     * that ignores chains unless this is asked for. */
    port->tx_chains = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
    if (port->tx_chains)
        conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    if (pc->mtu != 0)
        conf.rxmode.mtu = pc->mtu;
    if ((ret = rte_eth_dev_configure(pid, pc->rx_queues, nb_txq, &conf)) != 0)
        goto fail;

    uint16_t rxd = pc->rx_desc, txd = pc->tx_desc;
    if ((ret = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &rxd, &txd)) != 0)
        goto fail;
    int msock = memory_socket(port->socket);
    if ((ret = create_pool(msock, err, errlen)) != 0)
        return ret;
    port->pool = yard_dp.pool[msock];
    port->hdr_pool = yard_dp.hdr_pool[msock];
    for (uint16_t q = 0; q < pc->rx_queues; q++) {
        struct rte_eth_rxconf rxconf = info.default_rxconf;
        rxconf.offloads = conf.rxmode.offloads;
        if ((ret = rte_eth_rx_queue_setup(pid, q, rxd, (unsigned)msock, &rxconf, port->pool)) != 0)
            goto fail;
    }
    struct rte_eth_txconf txconf = info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    for (uint16_t q = 0; q < nb_txq; q++) {
        if ((ret = rte_eth_tx_queue_setup(pid, q, txd, (unsigned)msock, &txconf)) != 0)
            goto fail;
    }
    if (!port->tx_chains)
        fprintf(stderr,
                "yard-dataplane: port %s cannot send chained mbufs: topic copies to it are "
                "copied whole\n",
                pc->device);

    uint16_t mtu = 1500;
    if (rte_eth_dev_get_mtu(pid, &mtu) != 0 || mtu == 0)
        mtu = 1500;
    port->mtu = mtu;
    if ((ret = rte_eth_macaddr_get(pid, &port->mac)) != 0)
        goto fail;
    if (pc->promiscuous && (ret = rte_eth_promiscuous_enable(pid)) != 0)
        goto fail;

    char ring_name[RTE_RING_NAMESIZE];
    snprintf(ring_name, sizeof(ring_name), "yard_atx_%u", pid);
    port->agent_tx =
        rte_ring_create(ring_name, AGENT_TX_RING_SIZE, msock, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (port->agent_tx == NULL || yard_neigh_table_create(port, NEIGHBORS_PER_PORT, msock) < 0) {
        snprintf(err, errlen,
                 "out of memory for port %s's rings and neighbor table; reserve "
                 "more hugepages",
                 pc->device);
        return -ENOMEM;
    }

    struct yard_port_stats *ps = yard_shm_port(&yard_dp.shm, index);
    memset(ps, 0, sizeof(*ps));
    ps->port_id = pid;
    ps->ipv4 = port->ipv4;
    ps->prefix_len = pc->prefix_len;
    ps->socket = (uint16_t)(port->socket < 0 ? 0 : port->socket);
    memcpy(ps->mac, port->mac.addr_bytes, sizeof(ps->mac));
    snprintf(ps->name, sizeof(ps->name), "%s", pc->device);
    ps->in_use = 1;
    return 0;
fail:
    snprintf(err, errlen, "port %s (port id %u): setup failed: %s", pc->device, pid,
             rte_strerror(ret < 0 ? -ret : ret));
    return ret < 0 ? ret : -ret;
}

int yard_ports_setup(char *err, size_t errlen)
{
    int ret;
    yard_dp.nb_ports = yard_dp.cfg.nb_ports;
    for (unsigned i = 0; i < yard_dp.nb_ports; i++)
        if ((ret = find_port(i, err, errlen)) != 0)
            return ret;
    for (unsigned i = 0; i < yard_dp.nb_ports; i++)
        if ((ret = configure_port(i, err, errlen)) != 0)
            return ret;
    return setup_gates(err, errlen);
}

int yard_ports_start(char *err, size_t errlen)
{
    for (unsigned i = 0; i < yard_dp.nb_ports; i++) {
        int ret = rte_eth_dev_start(yard_dp.ports[i].port_id);
        yard_dp.ports[i].started = ret == 0;
        if (ret != 0) {
            snprintf(err, errlen, "port %s: start failed: %s", yard_dp.cfg.ports[i].device,
                     rte_strerror(-ret));
            return ret;
        }
    }
    return 0;
}

/* Counters as the device reports them, made monotonic across device resets. */
static void monotonic_stats(struct yard_port *port, const struct rte_eth_stats *now,
                            struct rte_eth_stats *out)
{
    struct rte_eth_stats *last = &port->stats_last, *base = &port->stats_base;
    if (now->ipackets < last->ipackets || now->opackets < last->opackets ||
        now->ibytes < last->ibytes || now->obytes < last->obytes) {
        base->ipackets += last->ipackets;
        base->opackets += last->opackets;
        base->ibytes += last->ibytes;
        base->obytes += last->obytes;
        base->imissed += last->imissed;
        base->ierrors += last->ierrors;
        base->oerrors += last->oerrors;
        base->rx_nombuf += last->rx_nombuf;
    }
    *last = *now;
    out->ipackets = base->ipackets + now->ipackets;
    out->opackets = base->opackets + now->opackets;
    out->ibytes = base->ibytes + now->ibytes;
    out->obytes = base->obytes + now->obytes;
    out->imissed = base->imissed + now->imissed;
    out->ierrors = base->ierrors + now->ierrors;
    out->oerrors = base->oerrors + now->oerrors;
    out->rx_nombuf = base->rx_nombuf + now->rx_nombuf;
}

void yard_ports_export_stats(void)
{
    for (unsigned i = 0; i < yard_dp.nb_ports; i++) {
        struct yard_port *port = &yard_dp.ports[i];
        struct yard_port_stats *ps = yard_shm_port(&yard_dp.shm, i);
        struct rte_eth_stats now, s;
        if (!port->found)
            continue; /* no device behind it */
        struct rte_eth_link link;
        if (rte_eth_stats_get(port->port_id, &now) == 0) {
            monotonic_stats(port, &now, &s);
            ps->ipackets = s.ipackets;
            ps->opackets = s.opackets;
            ps->ibytes = s.ibytes;
            ps->obytes = s.obytes;
            ps->imissed = s.imissed;
            ps->ierrors = s.ierrors;
            ps->oerrors = s.oerrors;
            ps->rx_nombuf = s.rx_nombuf;
        }
        if (rte_eth_link_get_nowait(port->port_id, &link) == 0) {
            ps->link_up = link.link_status;
            ps->link_speed_mbps = link.link_speed;
        }
    }
}

void yard_ports_stop(void)
{
    for (unsigned i = 0; i < yard_dp.nb_ports; i++) {
        struct yard_port *port = &yard_dp.ports[i];
        if (!port->found)
            continue;
        if (port->started)
            rte_eth_dev_stop(port->port_id);
        if (port->agent_tx != NULL) {
            struct rte_mbuf *m;
            while (rte_ring_dequeue(port->agent_tx, (void **)&m) == 0)
                rte_pktmbuf_free(m);
            rte_ring_free(port->agent_tx);
        }
        yard_neigh_table_free(port);
        rte_eth_dev_close(port->port_id);
    }
}
