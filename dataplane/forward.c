/*
 * forward.c - the message path of one received burst.
 *
 * Three passes over the burst, so the directory is hit once per burst with a
 * bulk lookup (as l3fwd's exact-match path does):
 *   1. classify each frame (Ethernet, IPv4, UDP to the data port), parse the
 *      envelope and build its 64-byte name key; everything that is not a
 *      routable MSG leaves here (slow ring, punt ring, or a counted drop);
 *   2. one bulk directory lookup of all keys (dir.h);
 *   3. per hit: pick the location (the one of an endpoint, a group member by
 *      a stable hash of (src, id)), rewrite headers, decrement ttl, and group
 *      by class and egress port for admission to the class queues; a topic
 *      is fanned out into one copy per location instead.
 *
 * A topic copy is a chain of two small mbufs from the egress port's header
 * pool: one holding the copy's own Ethernet, IPv4 and UDP headers, then an
 * indirect mbuf attached to the received one and trimmed to its UDP
 * payload. Every copy shares the received body (its refcount counts them);
 * the ttl is decremented once in that shared body, and each copy's UDP
 * checksum is the received one adjusted for the words that differ (RFC
 * 1624), never a sum over the body.
 *
 * Cluster fan-out (PROTOCOL.md §1): a topic location on another node
 * (node != 0; route objects sort them after the local ones) stands for that
 * whole appliance, and its copy leaves as kind FANOUT. The kind is the one
 * byte in which such a copy differs from a local one, so it cannot go in
 * the shared body: the copy's header mbuf carries the envelope's bytes up
 * to and including the kind, with the kind byte its own, and its indirect
 * mbuf starts right after. A FANOUT received from a cluster member is the
 * reverse: delivered to the topic's local locations only, every copy as
 * MSG, so there the kind is rewritten once in the shared body, like ttl.
 * A plain MSG to an endpoint does none of this: it pays one more compare.
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
#include "members.h"
#include "parse.h"
#include "yard_shm.h"

#define PREFETCH_AHEAD 4
#define HDR_BYTES \
    (sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) + sizeof(struct rte_udp_hdr))

_Static_assert(HDR_BYTES + YARD_KIND_PREFIX_MAX <= YARD_HDR_MBUF_ROOM - RTE_PKTMBUF_HEADROOM,
               "a header mbuf holds a FANOUT copy's headers and envelope prefix");

/* masks[len]: 0xff for the first len bytes, then 0 (see build_key). */
static uint8_t name_masks[YARD_KEY_BYTES][YARD_KEY_BYTES] __rte_cache_aligned;

void yard_forward_init(void)
{
    for (unsigned len = 0; len < YARD_KEY_BYTES; len++)
        for (unsigned i = 0; i < YARD_KEY_BYTES; i++)
            name_masks[len][i] = i < len ? 0xff : 0;
    uint32_t rate = yard_dp.cfg.punt_rate_per_source;
    uint32_t burst = yard_dp.cfg.punt_burst > 0 ? yard_dp.cfg.punt_burst : 1;
    yard_dp.punt_interval_tsc = 0;
    yard_dp.punt_tolerance_tsc = 0;
    if (rate > 0) {
        yard_dp.punt_interval_tsc = yard_dp.tsc_hz / rate > 0 ? yard_dp.tsc_hz / rate : 1;
        yard_dp.punt_tolerance_tsc = (uint64_t)(burst - 1) * yard_dp.punt_interval_tsc;
    }
}

/* A message that survived pass 1. */
struct candidate {
    struct rte_mbuf *m;
    uint64_t id;       /* the envelope's id: with src, picks a group member */
    uint32_t sig;      /* the name's directory hash */
    uint16_t ttl_off;  /* from the start of the UDP payload */
    uint16_t src_off;  /* likewise */
    uint16_t kind_off; /* likewise */
    uint8_t src_len;
    uint8_t prio;
    uint8_t kind; /* MSG, or FANOUT from a cluster member */
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

/*
 * Token bucket of a source: true when it may punt at `now`. Each entry is
 * the bucket's theoretical arrival time (GCRA, ITU-T I.371), one word per
 * bucket: a source may run up to punt_tolerance_tsc ahead of its rate,
 * which is a burst of punt_burst messages. Sources whose hashes collide
 * share a bucket: a flood from many addresses cannot reset anyone's.
 */
static inline bool punt_allowed(struct yard_lcore *lc, uint32_t src_ipv4, uint64_t now)
{
    if (yard_dp.punt_interval_tsc == 0)
        return true;
    uint64_t *tat = &lc->punt_tat[rte_hash_crc_4byte(src_ipv4, 0) & (YARD_PUNT_BUCKETS - 1)];
    uint64_t t = *tat > now ? *tat : now;
    if (t - now > yard_dp.punt_tolerance_tsc)
        return false;
    *tat = t + yard_dp.punt_interval_tsc;
    return true;
}

/* Copy a control message (kinds 1-4) into the control plane's punt ring. */
static void punt(struct yard_lcore *lc, const struct rte_mbuf *m, const struct rte_ether_hdr *eth,
                 const struct rte_ipv4_hdr *ip, const struct rte_udp_hdr *udp,
                 const uint8_t *payload, uint32_t len, uint64_t now)
{
    if (unlikely(!punt_allowed(lc, ip->src_addr, now))) {
        lc->stats->drops[YARD_DROP_PUNT_RATE_LIMITED]++;
        return;
    }
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
    memcpy(rec.src_mac, eth->src_addr.addr_bytes, sizeof(rec.src_mac));
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
    CLASSIFY_CANDIDATE, /* a MSG, or a member's FANOUT, to look up */
    CLASSIFY_TAKEN,     /* handed to the agent: not ours any more */
    CLASSIFY_FREE,      /* free it; count *drop unless it is YARD_DROP_MAX */
};

/*
 * An envelope of a kind other than MSG: control messages (1-4) are punted,
 * a FANOUT goes on to the lookup when its source is a cluster member's data
 * address, anything else is bad_kind. An enum classify_verdict.
 */
static __rte_noinline int other_kind(struct yard_lcore *lc, const struct rte_mbuf *m,
                                     const struct rte_ether_hdr *eth, const struct rte_ipv4_hdr *ip,
                                     const struct rte_udp_hdr *udp, const uint8_t *payload,
                                     uint32_t len, unsigned kind, unsigned *drop, uint64_t now)
{
    if (kind == YARD_KIND_FANOUT) {
        if (yard_members_has(&yard_dp.members, ip->src_addr))
            return CLASSIFY_CANDIDATE;
        *drop = YARD_DROP_FANOUT_NOT_MEMBER;
        return CLASSIFY_FREE;
    }
    if (kind >= YARD_KIND_REGISTER && kind <= YARD_KIND_UNSUBSCRIBE) {
        punt(lc, m, eth, ip, udp, payload, len, now);
        *drop = YARD_DROP_MAX; /* copied out: just free */
    } else {
        *drop = YARD_DROP_BAD_KIND;
    }
    return CLASSIFY_FREE;
}

/* Pass 1 for one frame: an enum classify_verdict. */
static inline int classify(struct yard_lcore *lc, struct rte_mbuf *m, struct candidate *c,
                           struct yard_name_key *key, unsigned *drop, unsigned *messages,
                           uint64_t now)
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
        int verdict = other_kind(lc, m, eth, ip, udp, payload, payload_len, env.kind, drop, now);
        if (verdict != CLASSIFY_CANDIDATE)
            return verdict;
    }
    if (unlikely(env.ttl <= 1)) {
        *drop = YARD_DROP_TTL_EXPIRED;
        return CLASSIFY_FREE;
    }

    build_key(key, m, payload + env.dst_off, env.dst_len);
    c->sig = yard_name_hash_len(key, env.dst_len);
    c->m = m;
    c->id = env.id;
    c->ttl_off = env.ttl_off;
    c->src_off = env.src_off;
    c->src_len = env.src_len;
    c->prio = env.prio;
    c->kind = env.kind;
    c->kind_off = env.kind_off;
    return CLASSIFY_CANDIDATE;
}

void yard_forward_rewrite(struct rte_mbuf *m, const struct yard_port *egress,
                          const struct yard_loc *route, unsigned ttl_off)
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

/* What pass 3 has ready for the class queues, per class in arrival order. */
struct pending {
    struct rte_mbuf *m[YARD_NB_CLASSES][YARD_BURST_MAX];
    uint8_t port[YARD_NB_CLASSES][YARD_BURST_MAX];
    unsigned n[YARD_NB_CLASSES];
};

static inline void admit_pending(struct yard_lcore *lc, struct pending *p,
                                 struct rte_mbuf **dropped, unsigned *nb_dropped)
{
    for (unsigned cls = 0; cls < YARD_NB_CLASSES; cls++) {
        if (p->n[cls] > 0)
            admit_class(lc, cls, p->m[cls], p->port[cls], p->n[cls], dropped, nb_dropped);
        p->n[cls] = 0;
    }
}

/*
 * A group member for (src, id): the same pair picks the same member while
 * the membership stays the same (route objects keep their locations in an
 * order that depends on the membership only), among the local members when
 * there are any. CRC32C is linear, so its result is mixed (murmur3's
 * finalizer) before it is scaled to the member count.
 */
static __rte_noinline const struct yard_loc *
pick_member(const struct yard_route *route, const struct rte_mbuf *m, const struct candidate *c)
{
    const uint8_t *src = rte_pktmbuf_mtod_offset(m, const uint8_t *, HDR_BYTES) + c->src_off;
    unsigned len = c->src_len, i = 0;
    uint32_t h = rte_hash_crc_8byte(c->id, 0x5eed1e55 + len);
    /* The name sits at any byte offset: whole words through memcpy, which
     * compiles to unaligned loads, then the tail zero-padded. */
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, sizeof(w));
        h = rte_hash_crc_8byte(w, h);
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, src + i, len - i);
        h = rte_hash_crc_8byte(w, h);
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    unsigned n = route->nb_local > 0 ? route->nb_local : route->nb_locs;
    return &route->loc[((uint64_t)h * n) >> 32];
}

/* The received frame's headers, read once per topic message. */
struct fan_src {
    const struct rte_ipv4_hdr *ip;
    const struct rte_udp_hdr *udp;
    const uint8_t *payload;
    uint32_t udp_sum;    /* received UDP checksum adjusted for the shared body's changes
                          * (ttl, kind); unused if no checksum */
    uint32_t fanout_sum; /* udp_sum adjusted for kind FANOUT, for remote copies */
    uint16_t payload_len;
    uint16_t prefix_len; /* envelope bytes up to the kind's last: a FANOUT copy's own */
    uint16_t kind_off;
    bool udp_has_cksum;
};

/* A device that cannot send chains gets the copy in one mbuf (its body copied). */
static struct rte_mbuf *flatten(struct rte_mbuf *chain, struct rte_mempool *pool)
{
    struct rte_mbuf *flat = rte_pktmbuf_alloc(pool);
    uint8_t *dst =
        flat != NULL ? (uint8_t *)rte_pktmbuf_append(flat, (uint16_t)chain->pkt_len) : NULL;
    if (dst == NULL) {
        rte_pktmbuf_free(flat);
        rte_pktmbuf_free(chain);
        return NULL;
    }
    for (const struct rte_mbuf *seg = chain; seg != NULL; seg = seg->next) {
        memcpy(dst, rte_pktmbuf_mtod(seg, const void *), seg->data_len);
        dst += seg->data_len;
    }
    flat->hash.usr = chain->hash.usr;
    rte_pktmbuf_free(chain);
    return flat;
}

/*
 * One topic copy toward loc: a header mbuf chained to an indirect mbuf that
 * shares m's UDP payload. A `fanout` copy (to another node) also carries the
 * envelope's first bytes, through its kind set to FANOUT, in the header mbuf,
 * and shares the payload only after them. NULL when the header pool is
 * empty.
 */
static inline struct rte_mbuf *make_copy(struct rte_mbuf *m, const struct fan_src *f,
                                         const struct yard_port *egress, const struct yard_loc *loc,
                                         bool fanout)
{
    struct rte_mbuf *pair[2];
    if (unlikely(rte_pktmbuf_alloc_bulk(egress->hdr_pool, pair, 2) != 0))
        return NULL;
    struct rte_mbuf *h = pair[0], *body = pair[1];
    unsigned own = fanout ? f->prefix_len : 0; /* payload bytes in the header mbuf */

    rte_pktmbuf_attach(body, m);
    body->data_off = (uint16_t)(m->data_off + HDR_BYTES + own);
    body->data_len = (uint16_t)(f->payload_len - own);
    body->pkt_len = (uint16_t)(f->payload_len - own);

    struct rte_ether_hdr *eth =
        (struct rte_ether_hdr *)rte_pktmbuf_append(h, (uint16_t)(HDR_BYTES + own));
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
    struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
    rte_ether_addr_copy(&egress->mac, &eth->src_addr);
    eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);

    /* As the received header, from this port to this location: the checksum
     * is adjusted for the words that change, as in yard_forward_rewrite. */
    *ip = *f->ip;
    uint32_t ip_sum = yard_cksum_begin(ip->hdr_checksum);
    ip_sum = yard_cksum_u32(ip_sum, ip->src_addr, egress->ipv4);
    ip_sum = yard_cksum_u32(ip_sum, ip->dst_addr, loc->dst_ipv4);
    ip_sum =
        yard_cksum_byte(ip_sum, offsetof(struct rte_ipv4_hdr, time_to_live), ip->time_to_live, 64);
    ip->src_addr = egress->ipv4;
    ip->dst_addr = loc->dst_ipv4;
    ip->time_to_live = 64;
    ip->hdr_checksum = yard_cksum_end(ip_sum);

    udp->src_port = yard_dp.data_udp_port_be;
    udp->dst_port = loc->dst_udp_port;
    udp->dgram_len = f->udp->dgram_len;
    udp->dgram_cksum = 0;
    if (fanout) {
        uint8_t *prefix = (uint8_t *)(udp + 1);
        memcpy(prefix, f->payload, own);
        prefix[f->kind_off] = YARD_KIND_FANOUT;
    }
    if (f->udp_has_cksum) {
        uint32_t sum = fanout ? f->fanout_sum : f->udp_sum;
        sum = yard_cksum_u32(sum, f->ip->src_addr, egress->ipv4);
        sum = yard_cksum_u32(sum, f->ip->dst_addr, loc->dst_ipv4);
        sum = yard_cksum_word(sum, f->udp->src_port, yard_dp.data_udp_port_be);
        sum = yard_cksum_word(sum, f->udp->dst_port, loc->dst_udp_port);
        udp->dgram_cksum = yard_udp_cksum_end(sum);
    }

    h->next = body;
    h->nb_segs = 2;
    h->pkt_len = HDR_BYTES + (uint32_t)f->payload_len;
    h->hash.usr = m->hash.usr; /* the receive stamp travels with what is sent */
    if (unlikely(!egress->tx_chains))
        return flatten(h, egress->pool);
    return h;
}

#define FANOUT_CHUNK 32

/*
 * A topic message: one copy per location of route->loc[0..nb_locs),
 * admitted as class `prio` like any message, held for ARP like any message.
 * Copies to locations on other nodes (from route->nb_local on) leave as
 * FANOUT, the others as MSG. Consumes m (the copies keep its body alive).
 */
static __rte_noinline void fan_out(struct yard_lcore *lc, const struct candidate *c,
                                   const struct yard_route *route, unsigned nb_locs)
{
    struct yard_lcore_stats *st = lc->stats;
    struct rte_mbuf *m = c->m;
    unsigned cls = c->prio;
    struct rte_ipv4_hdr *ip =
        rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, sizeof(struct rte_ether_hdr));
    struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
    uint8_t *ttl = (uint8_t *)(udp + 1) + c->ttl_off;
    uint32_t ip_len = rte_be_to_cpu_16(ip->total_length);
    uint8_t *kind = (uint8_t *)(udp + 1) + c->kind_off;
    struct fan_src f = {
        .ip = ip,
        .udp = udp,
        .payload = (const uint8_t *)(udp + 1),
        .payload_len = (uint16_t)(rte_be_to_cpu_16(udp->dgram_len) - sizeof(*udp)),
        .prefix_len = (uint16_t)(c->kind_off + 1),
        .kind_off = c->kind_off,
        .udp_has_cksum = udp->dgram_cksum != 0,
    };
    /* The ttl is part of the shared body: decremented once, here. */
    f.udp_sum = yard_cksum_begin(udp->dgram_cksum);
    f.udp_sum = yard_cksum_byte(f.udp_sum, sizeof(*udp) + c->ttl_off, *ttl, (uint8_t)(*ttl - 1));
    (*ttl)--;
    /* A member's FANOUT reaches local subscribers only, all as MSG: the
     * shared body becomes MSG once. Otherwise it is MSG already, and the
     * copies to other nodes each say FANOUT in their own prefix. */
    if (c->kind != YARD_KIND_MSG) {
        f.udp_sum = yard_cksum_byte(f.udp_sum, sizeof(*udp) + c->kind_off, *kind, YARD_KIND_MSG);
        *kind = YARD_KIND_MSG;
    }
    f.fanout_sum =
        yard_cksum_byte(f.udp_sum, sizeof(*udp) + c->kind_off, YARD_KIND_MSG, YARD_KIND_FANOUT);

    struct rte_mbuf *out[FANOUT_CHUNK], *refused[FANOUT_CHUNK];
    uint8_t out_port[FANOUT_CHUNK];
    for (unsigned first = 0; first < nb_locs; first += FANOUT_CHUNK) {
        unsigned end = first + FANOUT_CHUNK < nb_locs ? first + FANOUT_CHUNK : nb_locs;
        unsigned n = 0, nb_refused = 0;
        for (unsigned k = first; k < end; k++) {
            const struct yard_loc *loc = &route->loc[k];
            int pi = yard_dp.port_index[loc->port_id];
            const struct yard_port *egress = &yard_dp.ports[pi];
            if (unlikely(ip_len > egress->mtu)) {
                st->drops[YARD_DROP_TOO_BIG]++;
                st->class_dropped[cls]++;
                continue;
            }
            struct rte_mbuf *copy = make_copy(m, &f, egress, loc, k >= route->nb_local);
            if (unlikely(copy == NULL)) {
                st->drops[YARD_DROP_NO_MBUF]++;
                st->class_dropped[cls]++;
                continue;
            }
            st->events[YARD_EV_FANOUT_COPIES]++;
            struct yard_neighbor *nh = loc->nh;
            if (unlikely(__atomic_load_n(&nh->state, __ATOMIC_ACQUIRE) == YARD_NEIGH_INCOMPLETE)) {
                if (to_agent(lc, copy, nh)) {
                    st->events[YARD_EV_HELD]++;
                    st->events[YARD_EV_ROUTED]++;
                    st->class_routed[cls]++;
                } else {
                    st->drops[YARD_DROP_PUNT_FULL]++;
                    st->class_dropped[cls]++;
                    rte_pktmbuf_free(copy);
                }
                continue;
            }
            rte_ether_addr_copy(&nh->mac, rte_pktmbuf_mtod(copy, struct rte_ether_addr *));
            out[n] = copy;
            out_port[n] = (uint8_t)pi;
            n++;
        }
        if (n > 0)
            admit_class(lc, cls, out, out_port, n, refused, &nb_refused);
        if (nb_refused > 0)
            rte_pktmbuf_free_bulk(refused, nb_refused);
    }
    rte_pktmbuf_free(m); /* the received mbuf's own reference */
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
    struct pending out;
    unsigned nc = 0, nb_dropped = 0, messages = 0;
    uint32_t stamp = (uint32_t)rx_tsc;

    for (unsigned cls = 0; cls < YARD_NB_CLASSES; cls++)
        out.n[cls] = 0;
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
        int verdict = classify(lc, m, &cand[nc], &keys[nc], &drop, &messages, rx_tsc);
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

    /* Pass 3: pick, rewrite and group by class. */
    for (unsigned i = 0; i < nc; i++) {
        struct rte_mbuf *m = cand[i].m;
        if (unlikely(!(hits & (1ull << i)))) {
            st->drops[YARD_DROP_NO_ROUTE]++;
            dropped[nb_dropped++] = m;
            continue;
        }
        const struct yard_route *route = routes[i];
        if (unlikely(route->type == YARD_DEST_TOPIC || cand[i].kind != YARD_KIND_MSG)) {
            /* A member's FANOUT is for this node's subscribers of a topic:
             * the local locations, which sort first. */
            unsigned nb_locs = route->nb_locs;
            if (cand[i].kind != YARD_KIND_MSG)
                nb_locs = route->type == YARD_DEST_TOPIC ? route->nb_local : 0;
            if (unlikely(nb_locs == 0)) {
                st->drops[YARD_DROP_NO_ROUTE]++;
                dropped[nb_dropped++] = m;
                continue;
            }
            /* Earlier messages go first, so each queue keeps arrival order. */
            admit_pending(lc, &out, dropped, &nb_dropped);
            fan_out(lc, &cand[i], route, nb_locs);
            continue;
        }
        const struct yard_loc *loc = &route->loc[0];
        if (unlikely(route->nb_locs > 1))
            loc = pick_member(route, m, &cand[i]);
        struct yard_neighbor *nh = loc->nh;
        int pi = yard_dp.port_index[loc->port_id];
        const struct yard_port *egress = &yard_dp.ports[pi];
        if (unlikely(m->data_len - sizeof(struct rte_ether_hdr) > egress->mtu)) {
            st->drops[YARD_DROP_TOO_BIG]++;
            st->class_dropped[cand[i].prio]++;
            dropped[nb_dropped++] = m;
            continue;
        }
        yard_forward_rewrite(m, egress, loc, cand[i].ttl_off);
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
        out.m[cls][out.n[cls]] = m;
        out.port[cls][out.n[cls]] = (uint8_t)pi;
        out.n[cls]++;
    }

    admit_pending(lc, &out, dropped, &nb_dropped);

    if (nb_dropped > 0)
        rte_pktmbuf_free_bulk(dropped, nb_dropped);
}
