/*
 * neigh.c - neighbor table and ARP, run by the agent.
 *
 * The table is an rte_hash from IPv4 address to a neighbor, private to the
 * agent (no concurrent access, so no lock-free flags), plus a list for the
 * timers. Published fields (mac, state) follow the order in dir.h: MAC
 * first, then state with release semantics.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "dp.h"
#include "neigh.h"

struct yard_neigh_table {
    struct rte_hash *by_ip;
    struct yard_neighbor *list;
};

int yard_neigh_table_create(struct yard_port *port, unsigned capacity, int socket)
{
    char name[RTE_HASH_NAMESIZE];
    snprintf(name, sizeof(name), "yard_nb_%u", port->port_id);
    struct yard_neigh_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    struct rte_hash_parameters params = {
        .name = name,
        .entries = capacity < 64 ? 64 : capacity,
        .key_len = sizeof(uint32_t),
        .hash_func = rte_hash_crc,
        .socket_id = socket,
    };
    t->by_ip = rte_hash_create(&params);
    if (t->by_ip == NULL) {
        free(t);
        return -ENOMEM;
    }
    port->neigh = t;
    return 0;
}

void yard_neigh_table_free(struct yard_port *port)
{
    struct yard_neigh_table *t = port->neigh;
    if (t == NULL)
        return;
    struct yard_neighbor *nh = t->list;
    while (nh != NULL) {
        struct yard_neighbor *next = nh->next;
        rte_pktmbuf_free_bulk(nh->held, nh->nb_held);
        rte_free(nh);
        nh = next;
    }
    rte_hash_free(t->by_ip);
    free(t);
    port->neigh = NULL;
}

static void publish(struct yard_neighbor *nh, const struct rte_ether_addr *mac, uint8_t state)
{
    rte_ether_addr_copy(mac, &nh->mac);
    __atomic_store_n(&nh->state, state, __ATOMIC_RELEASE);
}

struct yard_neighbor *yard_neigh_get(struct yard_port *port, uint32_t ipv4,
                                     const uint8_t *static_mac, bool from_control)
{
    struct yard_neigh_table *t = port->neigh;
    void *data;
    struct yard_neighbor *nh;
    if (rte_hash_lookup_data(t->by_ip, &ipv4, &data) >= 0) {
        nh = data;
    } else {
        nh = rte_zmalloc_socket("yard_neighbor", sizeof(*nh), RTE_CACHE_LINE_SIZE, port->socket);
        if (nh == NULL)
            return NULL;
        nh->ipv4 = ipv4;
        nh->port_id = port->port_id;
        nh->state = YARD_NEIGH_INCOMPLETE;
        if (rte_hash_add_key_data(t->by_ip, &ipv4, nh) < 0) {
            rte_free(nh);
            return NULL;
        }
        nh->next = t->list;
        t->list = nh;
    }
    if (static_mac != NULL) {
        struct rte_ether_addr mac;
        memcpy(mac.addr_bytes, static_mac, RTE_ETHER_ADDR_LEN);
        publish(nh, &mac, YARD_NEIGH_STATIC);
        if (from_control)
            nh->fixed_by_control = true;
        else
            nh->static_confirmed = true;
        nh->retries_left = 0;
    }
    return nh;
}

void yard_neigh_reload_begin(struct yard_port *port)
{
    for (struct yard_neighbor *nh = port->neigh->list; nh != NULL; nh = nh->next)
        nh->static_confirmed = false;
}

bool yard_agent_tx(struct yard_port *port, struct rte_mbuf *m, struct yard_lcore_stats *stats)
{
    if (rte_ring_sp_enqueue(port->agent_tx, m) != 0) {
        stats->drops[YARD_DROP_TX_FULL]++;
        rte_pktmbuf_free(m);
        return false;
    }
    return true;
}

static void agent_send(struct yard_port *port, struct rte_mbuf *m, struct yard_lcore_stats *stats)
{
    yard_agent_tx(port, m, stats);
}

static void send_request(struct yard_port *port, uint32_t target_ipv4,
                         struct yard_lcore_stats *stats)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(port->pool);
    if (m == NULL)
        return;
    size_t len = sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr);
    struct rte_ether_hdr *eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)len);
    struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
    memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
    rte_ether_addr_copy(&port->mac, &eth->src_addr);
    eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
    arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = RTE_ETHER_ADDR_LEN;
    arp->arp_plen = sizeof(uint32_t);
    arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
    rte_ether_addr_copy(&port->mac, &arp->arp_data.arp_sha);
    arp->arp_data.arp_sip = port->ipv4;
    memset(&arp->arp_data.arp_tha, 0, RTE_ETHER_ADDR_LEN);
    arp->arp_data.arp_tip = target_ipv4;
    stats->events[YARD_EV_ARP_REQUESTS]++;
    agent_send(port, m, stats);
}

static void release_held(struct yard_port *port, struct yard_neighbor *nh,
                         struct yard_lcore_stats *stats)
{
    for (unsigned i = 0; i < nh->nb_held; i++) {
        struct rte_ether_hdr *eth = rte_pktmbuf_mtod(nh->held[i], struct rte_ether_hdr *);
        rte_ether_addr_copy(&nh->mac, &eth->dst_addr);
        agent_send(port, nh->held[i], stats);
    }
    nh->nb_held = 0;
}

static uint64_t ms_to_tsc(uint64_t ms)
{
    return yard_dp.tsc_hz / 1000 * ms;
}

void yard_neigh_arp_input(struct yard_port *port, struct rte_mbuf *m,
                          struct yard_lcore_stats *stats)
{
    struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
    struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
    if (m->data_len < sizeof(*eth) + sizeof(*arp) ||
        arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
        arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
        arp->arp_plen != sizeof(uint32_t)) {
        stats->drops[YARD_DROP_BAD_FRAME]++;
        rte_pktmbuf_free(m);
        return;
    }

    /* Learn from any ARP about a next hop we already need (RFC 826 merge). */
    void *data;
    uint32_t sip = arp->arp_data.arp_sip;
    bool known = rte_hash_lookup_data(port->neigh->by_ip, &sip, &data) >= 0;
    if (known) {
        struct yard_neighbor *nh = data;
        if (nh->state != YARD_NEIGH_STATIC && !rte_is_zero_ether_addr(&arp->arp_data.arp_sha)) {
            publish(nh, &arp->arp_data.arp_sha, YARD_NEIGH_RESOLVED);
            nh->refresh_tsc = rte_rdtsc() + yard_dp.tsc_hz * yard_dp.cfg.neighbor_ttl_s;
            nh->retries_left = 0;
            release_held(port, nh, stats);
        }
    }

    bool for_us = arp->arp_data.arp_tip == port->ipv4;
    if (!for_us) {
        if (!known)
            stats->drops[YARD_DROP_ARP_IGNORED]++;
        rte_pktmbuf_free(m);
        return;
    }
    stats->events[YARD_EV_ARP_RX]++;
    if (arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST)) {
        rte_pktmbuf_free(m);
        return;
    }

    /* Answer in place: the request becomes the reply. */
    arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
    rte_ether_addr_copy(&arp->arp_data.arp_sha, &arp->arp_data.arp_tha);
    arp->arp_data.arp_tip = arp->arp_data.arp_sip;
    rte_ether_addr_copy(&port->mac, &arp->arp_data.arp_sha);
    arp->arp_data.arp_sip = port->ipv4;
    rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
    rte_ether_addr_copy(&port->mac, &eth->src_addr);
    stats->events[YARD_EV_ARP_REPLIES]++;
    agent_send(port, m, stats);
}

void yard_neigh_hold(struct yard_neighbor *nh, struct rte_mbuf *m, struct yard_lcore_stats *stats)
{
    struct yard_port *port = yard_dp_port(nh->port_id);
    if (__atomic_load_n(&nh->state, __ATOMIC_ACQUIRE) != YARD_NEIGH_INCOMPLETE) {
        struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
        rte_ether_addr_copy(&nh->mac, &eth->dst_addr);
        agent_send(port, m, stats);
        return;
    }
    unsigned limit = yard_dp.cfg.arp_hold_packets;
    if (limit > RTE_DIM(nh->held))
        limit = RTE_DIM(nh->held);
    if (nh->nb_held >= limit) {
        stats->drops[YARD_DROP_NO_NEIGHBOR]++;
        rte_pktmbuf_free(m);
    } else {
        nh->held[nh->nb_held++] = m;
    }
    if (nh->retries_left == 0) {
        /* Not resolving yet: start now. */
        send_request(port, nh->ipv4, stats);
        nh->retries_left = yard_dp.cfg.arp_retries;
        nh->next_request_tsc = rte_rdtsc() + ms_to_tsc(yard_dp.cfg.arp_retry_ms);
    }
}

void yard_neigh_timers(struct yard_port *port, uint64_t now_tsc, struct yard_lcore_stats *stats)
{
    for (struct yard_neighbor *nh = port->neigh->list; nh != NULL; nh = nh->next) {
        if (nh->state == YARD_NEIGH_STATIC)
            continue;
        if (nh->retries_left > 0 && now_tsc >= nh->next_request_tsc) {
            if (--nh->retries_left > 0) {
                send_request(port, nh->ipv4, stats);
                nh->next_request_tsc = now_tsc + ms_to_tsc(yard_dp.cfg.arp_retry_ms);
            } else {
                /* Gave up: what waited is dropped; a resolved entry that stopped
                 * answering refreshes goes back to INCOMPLETE. */
                stats->drops[YARD_DROP_NO_NEIGHBOR] += nh->nb_held;
                rte_pktmbuf_free_bulk(nh->held, nh->nb_held);
                nh->nb_held = 0;
                __atomic_store_n(&nh->state, YARD_NEIGH_INCOMPLETE, __ATOMIC_RELEASE);
            }
        } else if (nh->state == YARD_NEIGH_RESOLVED && nh->retries_left == 0 &&
                   now_tsc >= nh->refresh_tsc) {
            /* Refresh while still forwarding with the known MAC. */
            send_request(port, nh->ipv4, stats);
            nh->retries_left = yard_dp.cfg.arp_retries;
            nh->next_request_tsc = now_tsc + ms_to_tsc(yard_dp.cfg.arp_retry_ms);
        }
    }
}

void yard_neigh_count(const struct yard_port *port, unsigned *resolved, unsigned *incomplete,
                      unsigned *fixed)
{
    *resolved = *incomplete = *fixed = 0;
    for (const struct yard_neighbor *nh = port->neigh->list; nh != NULL; nh = nh->next) {
        if (nh->state == YARD_NEIGH_STATIC)
            (*fixed)++;
        else if (nh->state == YARD_NEIGH_RESOLVED)
            (*resolved)++;
        else
            (*incomplete)++;
    }
}

void yard_neigh_reload_end(struct yard_port *port, struct yard_lcore_stats *stats)
{
    uint64_t now = rte_rdtsc();
    for (struct yard_neighbor *nh = port->neigh->list; nh != NULL; nh = nh->next) {
        if (nh->state != YARD_NEIGH_STATIC || nh->static_confirmed || nh->fixed_by_control)
            continue;
        /* Keep forwarding to the old MAC while ARP confirms or replaces it;
         * no answer after the retries makes the entry INCOMPLETE. */
        __atomic_store_n(&nh->state, YARD_NEIGH_RESOLVED, __ATOMIC_RELEASE);
        send_request(port, nh->ipv4, stats);
        nh->retries_left = yard_dp.cfg.arp_retries;
        nh->next_request_tsc = now + ms_to_tsc(yard_dp.cfg.arp_retry_ms);
    }
}
