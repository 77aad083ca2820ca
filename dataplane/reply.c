/*
 * reply.c - the control plane's ACK/NACK datagrams, framed and queued.
 *
 * The IPv4 header is the simplest a host accepts: no options, DF set and
 * identification 0 (an atomic datagram, RFC 6864), TTL 64. Both checksums
 * are computed in full: a reply is small and rare next to forwarding.
 */
#include <errno.h>

#include <rte_ip.h>
#include <rte_ring_elem.h>
#include <rte_udp.h>

#include "neigh.h"
#include "reply.h"

#define REPLY_BATCH 32
#define REPLY_HDR_BYTES \
    (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))

int yard_reply_build(struct rte_mbuf *m, const struct yard_port *port, const struct yard_reply *r)
{
    if (r->len == 0 || r->len > YARD_REPLY_MAX_BYTES)
        return -EINVAL;
    struct rte_ether_hdr *eth =
        (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)(REPLY_HDR_BYTES + r->len));
    if (eth == NULL)
        return -EINVAL;
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
    struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

    memcpy(eth->dst_addr.addr_bytes, r->dst_mac, RTE_ETHER_ADDR_LEN);
    rte_ether_addr_copy(&port->mac, &eth->src_addr);
    eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);

    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->type_of_service = 0;
    ip->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ip) + sizeof(*udp) + r->len));
    ip->packet_id = 0;
    ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = port->ipv4;
    ip->dst_addr = r->dst_ipv4;
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);

    udp->src_port = yard_dp.data_udp_port_be;
    udp->dst_port = rte_cpu_to_be_16(r->dst_udp_port);
    udp->dgram_len = rte_cpu_to_be_16((uint16_t)(sizeof(*udp) + r->len));
    udp->dgram_cksum = 0;
    memcpy(udp + 1, r->data, r->len);
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
    return 0;
}

unsigned yard_replies_serve(struct yard_lcore_stats *stats, unsigned max)
{
    struct rte_ring *ring = yard_shm_reply_ring(&yard_dp.shm);
    struct yard_reply recs[REPLY_BATCH];
    unsigned taken = 0;
    while (taken < max) {
        unsigned want = max - taken < REPLY_BATCH ? max - taken : REPLY_BATCH;
        unsigned n = rte_ring_sc_dequeue_burst_elem(ring, recs, sizeof(recs[0]), want, NULL);
        for (unsigned i = 0; i < n; i++) {
            struct yard_port *port = yard_dp_port(recs[i].tx_port);
            if (port == NULL || recs[i].len == 0 || recs[i].len > YARD_REPLY_MAX_BYTES) {
                stats->drops[YARD_DROP_BAD_REPLY]++;
                continue;
            }
            struct rte_mbuf *m = rte_pktmbuf_alloc(port->pool);
            if (m == NULL) {
                stats->drops[YARD_DROP_NO_MBUF]++;
                continue;
            }
            if (yard_reply_build(m, port, &recs[i]) < 0) {
                stats->drops[YARD_DROP_BAD_REPLY]++;
                rte_pktmbuf_free(m);
                continue;
            }
            if (yard_agent_tx(port, m, stats))
                stats->events[YARD_EV_REPLIES_SENT]++;
        }
        taken += n;
        if (n < want)
            break;
    }
    return taken;
}
