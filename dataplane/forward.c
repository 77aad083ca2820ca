/*
 * forward.c - the message path of one received burst.
 *
 * Three passes over the burst, so the directory is hit once per burst with a
 * bulk lookup (as l3fwd's exact-match path does):
 *   1. classify each frame (Ethernet, IPv4, UDP to the data port), parse the
 *      envelope and build its 64-byte name key; everything that is not a
 *      routable MSG leaves here (slow ring, punt ring, or a counted drop);
 *   2. rte_hash bulk lookup of all keys;
 *   3. per hit: rewrite headers, decrement ttl, and group by class and
 *      egress port for admission to the class queues.
 */
#include <stddef.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include <immintrin.h>

#include "cksum.h"
#include "forward.h"
#include "parse.h"
#include "yard_shm.h"

#define PREFETCH_AHEAD 4
#define HDR_BYTES \
    (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))

/* masks[len]: 0xff for the first len bytes, then 0 (see build_key). */
static uint8_t name_masks[YARD_KEY_BYTES][YARD_KEY_BYTES] __rte_cache_aligned;

void yard_forward_init(void)
{
    for (unsigned len = 0; len < YARD_KEY_BYTES; len++)
        for (unsigned i = 0; i < YARD_KEY_BYTES; i++)
            name_masks[len][i] = i < len ? 0xff : 0;
}

/* A message that survived pass 1. */
struct candidate {
    struct rte_mbuf *m;
    uint32_t sig;     /* the name's directory hash */
    uint16_t ttl_off; /* from the start of the UDP payload */
    uint8_t prio;
};

/*
 * Key from the name bytes. The fast path loads 64 bytes and masks off what
 * follows the name: safe because an mbuf's buffer extends well past the end
 * of any frame it holds, and checked against the buffer's end.
 */
static inline void build_key(struct yard_name_key *key, const struct rte_mbuf *m,
                             const uint8_t *name, unsigned len)
{
    const uint8_t *buf_end = (const uint8_t *)m->buf_addr + m->buf_len;
    if (likely(name + YARD_KEY_BYTES <= buf_end)) {
        const __m128i *src = (const __m128i *)name;
        const __m128i *mask = (const __m128i *)name_masks[len];
        __m128i *dst = (__m128i *)key->bytes;
        _mm_store_si128(dst + 0, _mm_and_si128(_mm_loadu_si128(src + 0), mask[0]));
        _mm_store_si128(dst + 1, _mm_and_si128(_mm_loadu_si128(src + 1), mask[1]));
        _mm_store_si128(dst + 2, _mm_and_si128(_mm_loadu_si128(src + 2), mask[2]));
        _mm_store_si128(dst + 3, _mm_and_si128(_mm_loadu_si128(src + 3), mask[3]));
    } else {
        yard_name_key_set(key, name, len);
    }
}

static inline int ipv4_header_ok(const struct rte_mbuf *m, const struct rte_ipv4_hdr *ip)
{
    uint64_t flags = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    if (flags == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
        return 1;
    if (flags == RTE_MBUF_F_RX_IP_CKSUM_BAD)
        return 0;
    return yard_ipv4_hdr_sum(ip) == 0xffff;
}

/* Copy a control message (kinds 1-4) into the control plane's punt ring. */
static void punt(struct yard_lcore *lc, const struct rte_mbuf *m, const struct rte_ipv4_hdr *ip,
                 const struct rte_udp_hdr *udp, const uint8_t *payload, uint32_t len)
{
    if (unlikely(len > YARD_PUNT_MAX_BYTES)) {
        lc->stats->drops[YARD_DROP_TOO_BIG]++;
        return;
    }
    struct yard_punt rec;
    rec.rx_ns = yard_monotonic_ns();
    rec.src_ipv4 = ip->src_addr;
    rec.src_udp_port = rte_be_to_cpu_16(udp->src_port);
    rec.rx_port = m->port;
    rec.len = (uint16_t)len;
    memcpy(rec.data, payload, len);
    if (rte_ring_mp_enqueue_elem(yard_shm_punt_ring(&yard_dp.shm), &rec, sizeof(rec)) == 0)
        lc->stats->events[YARD_EV_PUNTED]++;
    else
        lc->stats->drops[YARD_DROP_PUNT_FULL]++;
}

/* Hand a frame to the agent; false (and nothing done) when its ring is full. */
static inline bool to_agent(struct yard_lcore *lc, struct rte_mbuf *m, struct yard_neighbor *nh)
{
    struct yard_slow_item item = {m, nh};
    return rte_ring_sp_enqueue_elem(lc->slow, &item, sizeof(item)) == 0;
}

enum classify_verdict {
    CLASSIFY_CANDIDATE, /* a MSG to look up */
    CLASSIFY_TAKEN,     /* handed to the agent: not ours any more */
    CLASSIFY_FREE,      /* free it; count *drop unless it is YARD_DROP_MAX */
};

/* Pass 1 for one frame: an enum classify_verdict. */
static inline int classify(struct yard_lcore *lc, struct rte_mbuf *m, struct candidate *c,
                           struct yard_name_key *key, unsigned *drop, unsigned *messages)
{
    uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
    uint32_t frame_len = m->data_len;

    if (unlikely(frame_len < sizeof(struct rte_ether_hdr) || m->nb_segs != 1)) {
        *drop = YARD_DROP_BAD_FRAME;
        return CLASSIFY_FREE;
    }
    const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)p;
    if (unlikely(eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4))) {
        if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP)) {
            if (to_agent(lc, m, NULL))
                return CLASSIFY_TAKEN;
            *drop = YARD_DROP_PUNT_FULL;
            return CLASSIFY_FREE;
        }
        *drop = YARD_DROP_BAD_FRAME;
        return CLASSIFY_FREE;
    }

    const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
    if (unlikely(frame_len < HDR_BYTES || ip->version_ihl != RTE_IPV4_VHL_DEF)) {
        *drop = YARD_DROP_BAD_IP;
        return CLASSIFY_FREE;
    }
    uint32_t ip_len = rte_be_to_cpu_16(ip->total_length);
    if (unlikely(ip_len < sizeof(*ip) + sizeof(struct rte_udp_hdr) ||
                 ip_len > frame_len - sizeof(*eth) || !ipv4_header_ok(m, ip))) {
        *drop = YARD_DROP_BAD_IP;
        return CLASSIFY_FREE;
    }
    if (unlikely(ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))) {
        *drop = YARD_DROP_IP_FRAGMENT;
        return CLASSIFY_FREE;
    }
    const struct yard_port *port = yard_dp_port(m->port);
    const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(ip + 1);
    if (unlikely(ip->next_proto_id != IPPROTO_UDP || port == NULL || ip->dst_addr != port->ipv4 ||
                 udp->dst_port != yard_dp.data_udp_port_be)) {
        *drop = YARD_DROP_NOT_FOR_US;
        return CLASSIFY_FREE;
    }
    uint32_t udp_len = rte_be_to_cpu_16(udp->dgram_len);
    if (unlikely(udp_len < sizeof(*udp) || udp_len > ip_len - sizeof(*ip))) {
        *drop = YARD_DROP_BAD_IP;
        return CLASSIFY_FREE;
    }

    const uint8_t *payload = (const uint8_t *)(udp + 1);
    uint32_t payload_len = udp_len - sizeof(*udp);
    struct yard_envelope env;
    if (unlikely(yard_envelope_parse(payload, payload_len, &env) != YARD_PARSE_OK)) {
        *drop = YARD_DROP_BAD_ENVELOPE;
        return CLASSIFY_FREE;
    }
    (*messages)++;

    if (unlikely(env.kind != YARD_KIND_MSG)) {
        if (env.kind >= YARD_KIND_REGISTER && env.kind <= YARD_KIND_UNSUBSCRIBE) {
            punt(lc, m, ip, udp, payload, payload_len);
            *drop = YARD_DROP_MAX; /* copied out: just free */
        } else {
            *drop = YARD_DROP_BAD_KIND;
        }
        return CLASSIFY_FREE;
    }
    if (unlikely(env.ttl <= 1)) {
        *drop = YARD_DROP_TTL_EXPIRED;
        return CLASSIFY_FREE;
    }

    build_key(key, m, payload + env.dst_off, env.dst_len);
    c->sig = yard_name_hash_len(key, env.dst_len);
    c->m = m;
    c->ttl_off = env.ttl_off;
    c->prio = env.prio;
    return CLASSIFY_CANDIDATE;
}

void yard_forward_rewrite(struct rte_mbuf *m, const struct yard_port *egress,
                          const struct yard_route *route, unsigned ttl_off)
{
    struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
    struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
    uint8_t *ttl = (uint8_t *)(udp + 1) + ttl_off;

    rte_ether_addr_copy(&egress->mac, &eth->src_addr);

    uint32_t sum = yard_cksum_begin(udp->dgram_cksum);
    sum = yard_cksum_u32(sum, ip->src_addr, egress->ipv4);
    sum = yard_cksum_u32(sum, ip->dst_addr, route->dst_ipv4);
    sum = yard_cksum_word(sum, udp->src_port, yard_dp.data_udp_port_be);
    sum = yard_cksum_word(sum, udp->dst_port, route->dst_udp_port);
    /* ttl <= 64 and > 1, so only the last byte of its encoding changes. */
    sum = yard_cksum_byte(sum, sizeof(*udp) + ttl_off, *ttl, (uint8_t)(*ttl - 1));
    (*ttl)--;

    /* The IPv4 checksum was verified on input, so it is adjusted too. */
    uint32_t ip_sum = yard_cksum_begin(ip->hdr_checksum);
    ip_sum = yard_cksum_u32(ip_sum, ip->src_addr, egress->ipv4);
    ip_sum = yard_cksum_u32(ip_sum, ip->dst_addr, route->dst_ipv4);
    /* The appliance originates the next hop's datagram: a fresh IP TTL. */
    ip_sum =
        yard_cksum_byte(ip_sum, offsetof(struct rte_ipv4_hdr, time_to_live), ip->time_to_live, 64);
    ip->src_addr = egress->ipv4;
    ip->dst_addr = route->dst_ipv4;
    ip->time_to_live = 64;
    ip->hdr_checksum = yard_cksum_end(ip_sum);

    udp->src_port = yard_dp.data_udp_port_be;
    udp->dst_port = route->dst_udp_port;
    if (udp->dgram_cksum != 0) /* 0: the sender did not checksum; keep it that way */
        udp->dgram_cksum = yard_udp_cksum_end(sum);
}

/* Admit runs of same-port packets of one class; count and collect refusals. */
static inline void admit_class(struct yard_lcore *lc, unsigned cls, struct rte_mbuf **m,
                               const uint8_t *port_idx, unsigned n, struct rte_mbuf **dropped,
                               unsigned *nb_dropped)
{
    struct yard_lcore_stats *st = lc->stats;
    unsigned i = 0;
    while (i < n) {
        unsigned j = i + 1;
        while (j < n && port_idx[j] == port_idx[i])
            j++;
        unsigned reason;
        unsigned queued = yard_txq_admit(&lc->txq[port_idx[i]], cls, m + i, j - i, &reason);
        st->class_routed[cls] += queued;
        st->events[YARD_EV_ROUTED] += queued;
        if (queued < j - i) {
            unsigned refused = j - i - queued;
            st->drops[reason] += refused;
            st->class_dropped[cls] += refused;
            for (unsigned k = i + queued; k < j; k++)
                dropped[(*nb_dropped)++] = m[k];
        }
        i = j;
    }
}

void yard_forward_burst(struct yard_lcore *lc, struct rte_mbuf **pkts, unsigned n, uint64_t rx_tsc)
{
    struct yard_lcore_stats *st = lc->stats;
    struct candidate cand[YARD_BURST_MAX];
    struct yard_name_key keys[YARD_BURST_MAX];
    const void *key_ptrs[YARD_BURST_MAX];
    uint32_t sigs[YARD_BURST_MAX];
    struct yard_route *routes[YARD_BURST_MAX];
    struct rte_mbuf *dropped[YARD_BURST_MAX];
    struct rte_mbuf *out[YARD_NB_CLASSES][YARD_BURST_MAX];
    uint8_t out_port[YARD_NB_CLASSES][YARD_BURST_MAX];
    unsigned nb_out[YARD_NB_CLASSES] = {0, 0, 0, 0};
    unsigned nc = 0, nb_dropped = 0, messages = 0;
    uint32_t stamp = (uint32_t)rx_tsc;

    st->events[YARD_EV_RX_PACKETS] += n;

    /* Pass 1: classify and parse, prefetching a few frames ahead. */
    for (unsigned i = 0; i < n && i < PREFETCH_AHEAD; i++)
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
    for (unsigned i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            uint8_t *next = rte_pktmbuf_mtod(pkts[i + PREFETCH_AHEAD], uint8_t *);
            rte_prefetch0(next);
            rte_prefetch0(next + RTE_CACHE_LINE_SIZE);
        }
        struct rte_mbuf *m = pkts[i];
        m->hash.usr = stamp;
        unsigned drop;
        int verdict = classify(lc, m, &cand[nc], &keys[nc], &drop, &messages);
        if (verdict == CLASSIFY_CANDIDATE) {
            key_ptrs[nc] = &keys[nc];
            sigs[nc] = cand[nc].sig;
            nc++;
        } else if (verdict == CLASSIFY_FREE) {
            if (drop != YARD_DROP_MAX)
                st->drops[drop]++;
            dropped[nb_dropped++] = m;
        }
    }

    st->events[YARD_EV_RX_MESSAGES] += messages;

    /* Pass 2: one bulk lookup for the whole burst. */
    uint64_t hits = 0;
    if (nc > 0)
        yard_dir_lookup_bulk_hashed(yard_dir_hash(yard_dp.dir), key_ptrs, sigs, nc, &hits, routes);
    /* Route objects live outside the hash table: start fetching them all. */
    for (unsigned i = 0; i < nc; i++)
        if (hits & (1ull << i))
            rte_prefetch0(routes[i]);

    /* Pass 3: rewrite and group by class. */
    for (unsigned i = 0; i < nc; i++) {
        struct rte_mbuf *m = cand[i].m;
        if (unlikely(!(hits & (1ull << i)))) {
            st->drops[YARD_DROP_NO_ROUTE]++;
            dropped[nb_dropped++] = m;
            continue;
        }
        const struct yard_route *route = routes[i];
        struct yard_neighbor *nh = route->nh;
        int pi = yard_dp.port_index[route->port_id];
        const struct yard_port *egress = &yard_dp.ports[pi];
        if (unlikely(m->data_len - sizeof(struct rte_ether_hdr) > egress->mtu)) {
            st->drops[YARD_DROP_TOO_BIG]++;
            st->class_dropped[cand[i].prio]++;
            dropped[nb_dropped++] = m;
            continue;
        }
        yard_forward_rewrite(m, egress, route, cand[i].ttl_off);
        uint8_t state = __atomic_load_n(&nh->state, __ATOMIC_ACQUIRE);
        if (unlikely(state == YARD_NEIGH_INCOMPLETE)) {
            if (to_agent(lc, m, nh)) {
                /* Routed, through the agent: it sends once ARP answers. */
                st->events[YARD_EV_HELD]++;
                st->events[YARD_EV_ROUTED]++;
                st->class_routed[cand[i].prio]++;
            } else {
                st->drops[YARD_DROP_PUNT_FULL]++;
                st->class_dropped[cand[i].prio]++;
                dropped[nb_dropped++] = m;
            }
            continue;
        }
        struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
        rte_ether_addr_copy(&nh->mac, &eth->dst_addr);
        unsigned cls = cand[i].prio;
        out[cls][nb_out[cls]] = m;
        out_port[cls][nb_out[cls]] = (uint8_t)pi;
        nb_out[cls]++;
    }

    for (unsigned cls = 0; cls < YARD_NB_CLASSES; cls++)
        if (nb_out[cls] > 0)
            admit_class(lc, cls, out[cls], out_port[cls], nb_out[cls], dropped, &nb_dropped);

    if (nb_dropped > 0)
        rte_pktmbuf_free_bulk(dropped, nb_dropped);
}
