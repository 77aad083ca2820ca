/*
 * test_forward.c - the per-burst message path on real mbufs: where every
 * received frame ends up, what a forwarded frame looks like (to an
 * endpoint, a group member, each subscriber of a topic), and what each
 * counter says about it.
 *
 * The dataplane state is dp_fixture.h's: two ports without ethdevs behind
 * them (forwarding only queues; it never transmits), a directory with
 * routes installed as the configuration file and the control plane install
 * them, one worker lcore with its class queues and slow ring, and a real
 * shared-memory segment whose punt ring receives control messages and whose
 * lcore block holds the counters.
 *
 * Frames are built here: Ethernet, IPv4 and UDP written field by field with
 * checksums from a plain RFC 1071 sum, envelopes packed by msgpack-c, and a
 * forwarded frame is judged against a copy of what was received. After each
 * burst every counter is compared with the change the test expects, and
 * both pools (no per-lcore cache) must be full again once the test has
 * freed what was queued: no mbuf lost, none freed twice.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "dp.h"
#include "dp_fixture.h"
#include "forward.h"
#include "members.h"
#include "neigh.h"
#include "parse.h"
#include "route.h"
#include "yard_shm.h"

struct yard_dp yard_dp; /* defined by main.c in the appliance */

#define DATA_PORT YT_DATA_PORT
#define NB_PORTS  YT_NB_PORTS
#define QUEUE_SZ  256

/* Port 0: 198.18.0.1/24 with a gateway; port 1: 198.18.1.1/24 (dp_fixture.h). */
static const uint8_t sender_mac[6] = {0x02, 0x5e, 0x4d, 0, 0, 0x01};
static const uint8_t orders_mac[6] = {0x02, 0x0d, 0, 0, 0, 0x20};
static const uint8_t billing_mac[6] = {0x02, 0x0b, 0, 0, 0, 0x30};
static const uint8_t gateway_mac[6] = {0x02, 0x9a, 0x7e, 0, 0, 0xfe};

static struct yard_lcore lc;
static unsigned pool_start, hdr_pool_start;
static char err[512];

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
    return yt_ip4(a, b, c, d);
}

/* A route as the configuration file gives it: the name's one CONFIG location. */
static void install(const char *name, uint32_t ipv4, uint16_t udp_port, const uint8_t *mac)
{
    struct yard_route_conf rc = {.ipv4 = ipv4, .udp_port = udp_port, .has_mac = mac != NULL};
    snprintf(rc.name, sizeof(rc.name), "%s", name);
    rc.name_len = (uint8_t)strlen(name);
    if (mac != NULL)
        memcpy(rc.mac, mac, 6);
    int ret = yard_dest_set_config(&yard_dp.dests, &rc, err, sizeof(err));
    cr_assert_eq(ret, 0, "route %s: %s", name, err);
}

/* A location as the control plane adds it (LOC_ADD). */
static void add_loc(const char *name, unsigned type, uint32_t ipv4, uint16_t udp_port,
                    const uint8_t *mac, uint32_t node)
{
    struct yard_loc_spec spec = {.ipv4 = ipv4,
                                 .udp_port = udp_port,
                                 .dest_type = (uint8_t)type,
                                 .origin = YARD_ORIGIN_REGISTERED,
                                 .node = node,
                                 .mac = mac};
    int ret = yard_dest_add(&yard_dp.dests, name, (unsigned)strlen(name), &spec, err, sizeof(err));
    cr_assert_eq(ret, 0, "%s: %s", name, err);
}

static void setup(void)
{
    yard_test_dp_start("fwd", 1024);
    pool_start = rte_mempool_avail_count(yt_pool);
    hdr_pool_start = rte_mempool_avail_count(yt_hdr_pool);

    memset(&lc, 0, sizeof(lc));
    lc.lcore_id = 1;
    lc.role = YARD_ROLE_WORKER;
    lc.stats = yard_shm_lcore(&yard_dp.shm, 1);
    memset(lc.stats, 0, sizeof(*lc.stats));
    lc.slow = rte_ring_create_elem("tfwd_slow", sizeof(struct yard_slow_item), YARD_SLOW_RING_SIZE,
                                   SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    cr_assert_not_null(lc.slow);
    for (unsigned p = 0; p < NB_PORTS; p++) {
        char name[32];
        snprintf(name, sizeof(name), "tfwd_q%u", p);
        cr_assert_eq(yard_txq_init(&lc.txq[p], name, QUEUE_SZ, SOCKET_ID_ANY), 0);
    }
    yard_dp.lcores[1] = &lc;

    install("orders.eu", ip4(198, 18, 1, 20), 9000, orders_mac); /* port 1, fixed MAC */
    install("billing", ip4(198, 18, 0, 30), 9100, billing_mac);  /* port 0, fixed MAC */
    install("far.away", ip4(198, 19, 7, 7), 9200, gateway_mac);  /* via port 0's gateway */
    install("pending", ip4(198, 18, 1, 40), 9300, NULL);         /* port 1, ARP needed */
}

static void teardown(void)
{
    yard_members_free(&yard_dp.members);
    for (unsigned p = 0; p < NB_PORTS; p++)
        yard_txq_free(&lc.txq[p]);
    rte_ring_free(lc.slow);
    yard_test_dp_stop();
}

TestSuite(forward, .init = setup, .fini = teardown, .timeout = 60);

/* ---- Building frames ---- */

/* One's complement sum of bytes as big-endian 16-bit words (RFC 1071). */
static uint32_t sum_be(uint32_t sum, const uint8_t *p, unsigned len)
{
    for (unsigned i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

struct hdrs {
    struct rte_ether_hdr *eth;
    struct rte_ipv4_hdr *ip;
    struct rte_udp_hdr *udp;
    uint8_t *payload;
};

static struct hdrs hdrs_at(uint8_t *frame)
{
    struct hdrs h;
    h.eth = (struct rte_ether_hdr *)frame;
    h.ip = (struct rte_ipv4_hdr *)(h.eth + 1);
    h.udp = (struct rte_udp_hdr *)(h.ip + 1);
    h.payload = (uint8_t *)(h.udp + 1);
    return h;
}

static struct hdrs hdrs_of(struct rte_mbuf *m)
{
    return hdrs_at(rte_pktmbuf_mtod(m, uint8_t *));
}

/* The IPv4 header checksum the header should carry (network order). */
static uint16_t ref_ip_cksum(const struct rte_ipv4_hdr *ip)
{
    uint8_t b[20];
    memcpy(b, ip, 20);
    b[10] = b[11] = 0;
    return htons((uint16_t)~sum_be(0, b, 20));
}

/* The UDP checksum of the datagram (network order), 0 sent as 0xffff. */
static uint16_t ref_udp_cksum(const struct rte_ipv4_hdr *ip, const struct rte_udp_hdr *udp)
{
    unsigned len = ntohs(udp->dgram_len);
    uint8_t pseudo[12];
    memcpy(pseudo, &ip->src_addr, 4);
    memcpy(pseudo + 4, &ip->dst_addr, 4);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_UDP;
    memcpy(pseudo + 10, &udp->dgram_len, 2);
    uint8_t hdr[8];
    memcpy(hdr, udp, 8);
    hdr[6] = hdr[7] = 0;
    uint32_t sum = sum_be(sum_be(0, pseudo, 12), hdr, 8);
    /* The payload continues the 16-bit word alignment of the header. */
    sum = sum_be(sum, (const uint8_t *)(udp + 1), len - 8);
    uint16_t c = (uint16_t)~sum;
    return htons(c == 0 ? 0xffff : c);
}

static void fix_ip_cksum(struct rte_mbuf *m)
{
    struct hdrs h = hdrs_of(m);
    h.ip->hdr_checksum = ref_ip_cksum(h.ip);
}

static void fix_udp_cksum(struct rte_mbuf *m)
{
    struct hdrs h = hdrs_of(m);
    h.udp->dgram_cksum = ref_udp_cksum(h.ip, h.udp);
}

/* An envelope's fields (PROTOCOL.md §1). */
struct msg {
    unsigned kind, prio, ttl;
    const char *dst, *src;
    uint64_t id;
    unsigned body_len; /* body bytes are a pattern derived from id */
};

static struct msg msg_to(const char *dst, unsigned prio, uint64_t id)
{
    struct msg g = {.kind = YARD_KIND_MSG,
                    .prio = prio,
                    .ttl = 16,
                    .dst = dst,
                    .src = "client-7",
                    .id = id,
                    .body_len = 37};
    return g;
}

static unsigned pack(const struct msg *g, uint8_t *out, unsigned cap)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 8);
    msgpack_pack_uint64(&pk, YARD_ENVELOPE_VERSION);
    msgpack_pack_uint64(&pk, g->kind);
    msgpack_pack_str_with_body(&pk, g->dst, strlen(g->dst));
    msgpack_pack_str_with_body(&pk, g->src, strlen(g->src));
    msgpack_pack_uint64(&pk, g->prio);
    msgpack_pack_uint64(&pk, g->ttl);
    msgpack_pack_uint64(&pk, g->id);
    msgpack_pack_bin(&pk, g->body_len);
    for (unsigned i = 0; i < g->body_len; i++) {
        uint8_t b = (uint8_t)(g->id * 31 + i * 7);
        msgpack_pack_bin_body(&pk, &b, 1);
    }
    cr_assert_leq(sb.size, cap);
    memcpy(out, sb.data, sb.size);
    unsigned n = (unsigned)sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* A well-formed frame to the data port of port index rx carrying payload. */
static struct rte_mbuf *frame(unsigned rx, const uint8_t *payload, unsigned len)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(yt_pool);
    cr_assert_not_null(m, "pool empty");
    unsigned total = (unsigned)(sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) +
                                sizeof(struct rte_udp_hdr)) +
                     len;
    cr_assert_not_null(rte_pktmbuf_append(m, (uint16_t)total));
    struct hdrs h = hdrs_of(m);
    memcpy(h.eth->dst_addr.addr_bytes, yt_port_mac[rx], 6);
    memcpy(h.eth->src_addr.addr_bytes, sender_mac, 6);
    h.eth->ether_type = htons(RTE_ETHER_TYPE_IPV4);
    h.ip->version_ihl = 0x45;
    h.ip->type_of_service = 0x28;
    h.ip->total_length = htons((uint16_t)(total - sizeof(struct rte_ether_hdr)));
    h.ip->packet_id = htons(0x1d2c);
    h.ip->fragment_offset = htons(RTE_IPV4_HDR_DF_FLAG); /* DF is not a fragment */
    h.ip->time_to_live = 61;
    h.ip->next_proto_id = IPPROTO_UDP;
    h.ip->src_addr = ip4(198, 18, rx, 100);
    h.ip->dst_addr = yard_dp.ports[rx].ipv4;
    h.udp->src_port = htons(5555);
    h.udp->dst_port = htons(DATA_PORT);
    h.udp->dgram_len = htons((uint16_t)(len + sizeof(struct rte_udp_hdr)));
    memcpy(h.payload, payload, len);
    fix_ip_cksum(m);
    fix_udp_cksum(m);
    m->port = yard_dp.ports[rx].port_id;
    return m;
}

static struct rte_mbuf *msg_frame(unsigned rx, const struct msg *g)
{
    uint8_t buf[2048];
    unsigned len = pack(g, buf, sizeof(buf));
    return frame(rx, buf, len);
}

/* ---- Where packets end up ---- */

static struct rte_mbuf *take_class(unsigned port, unsigned cls)
{
    struct rte_mbuf *m = NULL;
    if (rte_ring_dequeue(lc.txq[port].cls[cls], (void **)&m) != 0)
        return NULL;
    return m;
}

static bool take_slow(struct yard_slow_item *item)
{
    return rte_ring_dequeue_elem(lc.slow, item, sizeof(*item)) == 0;
}

static bool take_punt(struct yard_punt *rec)
{
    return rte_ring_dequeue_elem(yard_shm_punt_ring(&yard_dp.shm), rec, sizeof(*rec)) == 0;
}

static void assert_all_rings_empty(void)
{
    for (unsigned p = 0; p < NB_PORTS; p++)
        cr_assert_eq(yard_txq_backlog(&lc.txq[p]), 0, "port %u has queued packets", p);
    cr_assert_eq(rte_ring_count(lc.slow), 0, "slow ring not empty");
    cr_assert_eq(rte_ring_count(yard_shm_punt_ring(&yard_dp.shm)), 0, "punt ring not empty");
}

static void assert_pool_full(void)
{
    cr_assert_eq(rte_mempool_avail_count(yt_pool), pool_start, "%u mbufs not back in the pool",
                 pool_start - rte_mempool_avail_count(yt_pool));
    cr_assert_eq(rte_mempool_avail_count(yt_hdr_pool), hdr_pool_start,
                 "%u header mbufs not back in their pool",
                 hdr_pool_start - rte_mempool_avail_count(yt_hdr_pool));
}

/* ---- Counters ---- */

struct delta {
    uint64_t events[YARD_EV_MAX];
    uint64_t drops[YARD_DROP_MAX];
    uint64_t routed[YARD_NB_CLASSES], dropped[YARD_NB_CLASSES], tx[YARD_NB_CLASSES];
};

static struct yard_lcore_stats before;

static void burst(struct rte_mbuf **m, unsigned n, uint64_t rx_tsc)
{
    before = *lc.stats;
    yard_forward_burst(&lc, m, n, rx_tsc);
}

static void burst1(struct rte_mbuf *m)
{
    burst(&m, 1, 1000);
}

/* Every counter moved by exactly what `want` says since the last burst. */
static void check_counters(const struct delta *want, const char *what)
{
    const struct yard_lcore_stats *now = lc.stats;
    for (unsigned e = 0; e < YARD_EV_MAX; e++)
        cr_expect_eq(now->events[e] - before.events[e], want->events[e],
                     "%s: %s changed by %llu, expected %llu", what, yard_event_name(e),
                     (unsigned long long)(now->events[e] - before.events[e]),
                     (unsigned long long)want->events[e]);
    for (unsigned d = 0; d < YARD_DROP_MAX; d++)
        cr_expect_eq(now->drops[d] - before.drops[d], want->drops[d],
                     "%s: drop %s changed by %llu, expected %llu", what, yard_drop_name(d),
                     (unsigned long long)(now->drops[d] - before.drops[d]),
                     (unsigned long long)want->drops[d]);
    for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
        cr_expect_eq(now->class_routed[c] - before.class_routed[c], want->routed[c],
                     "%s: class %u routed", what, c);
        cr_expect_eq(now->class_dropped[c] - before.class_dropped[c], want->dropped[c],
                     "%s: class %u dropped", what, c);
        cr_expect_eq(now->class_tx[c] - before.class_tx[c], want->tx[c], "%s: class %u tx", what,
                     c);
    }
    cr_assert_eq(memcmp(&now->latency, &before.latency, sizeof(before.latency)), 0,
                 "%s: forwarding records no latency (transmission does)", what);
}

/* A burst of one frame that must be dropped as `reason` (after parsing when
 * `parsed`): counted once, freed, nothing queued anywhere. */
static void expect_drop(struct rte_mbuf *m, unsigned reason, bool parsed, const char *what)
{
    burst1(m);
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = parsed;
    d.drops[reason] = 1;
    check_counters(&d, what);
    assert_all_rings_empty();
    assert_pool_full();
}

/* ---- Judging a forwarded frame ---- */

struct sent_as {
    unsigned egress;        /* port index */
    const uint8_t *dst_mac; /* NULL: left as received (not resolved yet) */
    uint32_t dst_ip;
    uint16_t dst_port; /* host order */
};

/* Decoded envelope, by msgpack-c, to compare field by field. */
struct decoded {
    uint64_t f[8];
    char dst[64], src[64];
    unsigned dst_len, src_len, body_len;
};

static struct decoded decode(const uint8_t *p, unsigned len)
{
    struct decoded d;
    memset(&d, 0, sizeof(d));
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, (const char *)p, len, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, len, "one object fills the payload");
    cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(u.data.via.array.size, 8);
    const msgpack_object *o = u.data.via.array.ptr;
    for (unsigned i = 0; i < 8; i++) {
        if (o[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            d.f[i] = o[i].via.u64;
    }
    d.dst_len = o[2].via.str.size;
    memcpy(d.dst, o[2].via.str.ptr, d.dst_len);
    d.src_len = o[3].via.str.size;
    memcpy(d.src, o[3].via.str.ptr, d.src_len);
    d.body_len = o[7].via.bin.size;
    msgpack_unpacked_destroy(&u);
    return d;
}

/*
 * frame (len bytes) is what left for `x`; orig is a copy of the frame as
 * received. Checks every header field and every payload byte.
 */
static void check_frame(uint8_t *frame, unsigned len, const uint8_t *orig, unsigned orig_len,
                        const struct sent_as *x)
{
    cr_assert_eq(len, orig_len, "frame length unchanged");
    struct hdrs h = hdrs_at(frame);
    const struct rte_ether_hdr *oeth = (const struct rte_ether_hdr *)orig;
    const struct rte_ipv4_hdr *oip = (const struct rte_ipv4_hdr *)(oeth + 1);
    const struct rte_udp_hdr *oudp = (const struct rte_udp_hdr *)(oip + 1);
    const uint8_t *opayload = (const uint8_t *)(oudp + 1);
    const struct yard_port *eg = &yard_dp.ports[x->egress];

    /* Ethernet: to the next hop, from the egress port. */
    if (x->dst_mac != NULL)
        cr_assert_eq(memcmp(h.eth->dst_addr.addr_bytes, x->dst_mac, 6), 0, "dst MAC");
    else
        cr_assert_eq(memcmp(&h.eth->dst_addr, &oeth->dst_addr, 6), 0, "dst MAC untouched");
    cr_assert_eq(memcmp(&h.eth->src_addr, &eg->mac, 6), 0, "src MAC is the egress port's");
    cr_assert_eq(h.eth->ether_type, oeth->ether_type);

    /* IPv4: new addresses, fresh TTL, valid checksum, the rest as received. */
    cr_assert_eq(h.ip->version_ihl, oip->version_ihl);
    cr_assert_eq(h.ip->type_of_service, oip->type_of_service);
    cr_assert_eq(h.ip->total_length, oip->total_length);
    cr_assert_eq(h.ip->packet_id, oip->packet_id);
    cr_assert_eq(h.ip->fragment_offset, oip->fragment_offset);
    cr_assert_eq(h.ip->next_proto_id, IPPROTO_UDP);
    cr_assert_eq(h.ip->time_to_live, 64);
    cr_assert_eq(h.ip->src_addr, eg->ipv4, "IP source is the egress port's address");
    cr_assert_eq(h.ip->dst_addr, x->dst_ip, "IP destination is the route's");
    cr_assert_eq(sum_be(0, (const uint8_t *)h.ip, 20), 0xffff, "IPv4 header checksum valid");

    /* UDP: from the data port to the route's port, checksum still valid. */
    cr_assert_eq(h.udp->src_port, htons(DATA_PORT));
    cr_assert_eq(h.udp->dst_port, htons(x->dst_port));
    cr_assert_eq(h.udp->dgram_len, oudp->dgram_len);
    if (oudp->dgram_cksum == 0)
        cr_assert_eq(h.udp->dgram_cksum, 0, "no checksum stays no checksum");
    else
        cr_assert_eq(h.udp->dgram_cksum, ref_udp_cksum(h.ip, h.udp),
                     "UDP checksum 0x%04x, recomputed 0x%04x", ntohs(h.udp->dgram_cksum),
                     ntohs(ref_udp_cksum(h.ip, h.udp)));

    /* Envelope: exactly one byte changed, and it is ttl, down by one. */
    unsigned plen = ntohs(oudp->dgram_len) - 8;
    unsigned changed = 0, at = 0;
    for (unsigned i = 0; i < plen; i++)
        if (h.payload[i] != opayload[i]) {
            changed++;
            at = i;
        }
    cr_assert_eq(changed, 1, "%u envelope bytes changed", changed);
    cr_assert_eq(h.payload[at], opayload[at] - 1);
    struct decoded was = decode(opayload, plen), now = decode(h.payload, plen);
    cr_assert_eq(now.f[5], was.f[5] - 1, "ttl decremented");
    for (unsigned i = 0; i < 8; i++)
        if (i != 5)
            cr_assert_eq(now.f[i], was.f[i], "field %u unchanged", i);
    /* Bytes after the datagram (Ethernet padding) are left alone. */
    unsigned end = (unsigned)(sizeof(struct rte_ether_hdr)) + ntohs(oip->total_length);
    for (unsigned i = end; i < orig_len; i++)
        cr_assert_eq(frame[i], orig[i], "padding byte %u", i);
}

/* m (one segment) is what left for `x`; see check_frame. */
static void check_forwarded(struct rte_mbuf *m, const uint8_t *orig, unsigned orig_len,
                            const struct sent_as *x)
{
    cr_assert_not_null(m);
    cr_assert_eq(m->nb_segs, 1);
    cr_assert_eq(m->pkt_len, m->data_len);
    check_frame(rte_pktmbuf_mtod(m, uint8_t *), m->data_len, orig, orig_len, x);
}

/* Keep a copy of a frame before the burst changes it. */
struct copy {
    uint8_t b[2048];
    unsigned len;
};

static void keep(struct copy *c, struct rte_mbuf *m)
{
    c->len = m->data_len;
    memcpy(c->b, rte_pktmbuf_mtod(m, void *), c->len);
}

/* ---- Tests ---- */

Test(forward, routes_a_message_to_its_class_queue_rewritten)
{
    const struct sent_as orders = {1, orders_mac, ip4(198, 18, 1, 20), 9000};
    for (unsigned prio = 0; prio < YARD_NB_CLASSES; prio++) {
        for (unsigned rx = 0; rx < NB_PORTS; rx++) {
            struct msg g = msg_to("orders.eu", prio, 100 + prio);
            g.ttl = rx == 0 ? 2 : 64;    /* the lowest and highest ttl that forward */
            g.body_len = 30 + prio + rx; /* odd and even payload lengths */
            struct rte_mbuf *m = msg_frame(rx, &g);
            struct copy c;
            keep(&c, m);
            uint64_t rx_tsc = 0x123456789abcull + prio;
            burst(&m, 1, rx_tsc);

            struct delta d = {0};
            d.events[YARD_EV_RX_PACKETS] = 1;
            d.events[YARD_EV_RX_MESSAGES] = 1;
            d.events[YARD_EV_ROUTED] = 1;
            d.routed[prio] = 1;
            check_counters(&d, "routed message");

            struct rte_mbuf *out = take_class(1, prio);
            cr_assert_eq(out, m, "prio %u from port %u: in class queue %u of port 1", prio, rx,
                         prio);
            check_forwarded(out, c.b, c.len, &orders);
            cr_assert_eq(out->hash.usr, (uint32_t)rx_tsc, "receive time stamped for latency");
            rte_pktmbuf_free(out);
            assert_all_rings_empty();
        }
    }
    assert_pool_full();
}

Test(forward, each_route_uses_its_port_and_next_hop)
{
    struct {
        const char *name;
        struct sent_as x;
    } cases[] = {
        {"billing", {0, billing_mac, ip4(198, 18, 0, 30), 9100}},
        {"far.away", {0, gateway_mac, ip4(198, 19, 7, 7), 9200}},
        {"orders.eu", {1, orders_mac, ip4(198, 18, 1, 20), 9000}},
    };
    for (unsigned i = 0; i < 3; i++) {
        struct msg g = msg_to(cases[i].name, 2, i);
        struct rte_mbuf *m = msg_frame(1, &g);
        struct copy c;
        keep(&c, m);
        burst1(m);
        struct rte_mbuf *out = take_class(cases[i].x.egress, 2);
        cr_assert_eq(out, m, "%s", cases[i].name);
        check_forwarded(out, c.b, c.len, &cases[i].x);
        rte_pktmbuf_free(out);
        assert_all_rings_empty();
    }
    assert_pool_full();
}

Test(forward, names_of_every_length_route)
{
    /* The fast path hashes names itself; the directory hashes keys on its
     * own: both must agree for every length. */
    char name[64];
    for (unsigned len = 1; len <= YARD_DST_MAX; len++) {
        for (unsigned i = 0; i < len; i++)
            name[i] = (char)('a' + (i * 7 + len) % 26);
        name[len] = 0;
        install(name, ip4(198, 18, 0, 100 + len), (uint16_t)(10000 + len), billing_mac);
    }
    for (unsigned len = 1; len <= YARD_DST_MAX; len++) {
        for (unsigned i = 0; i < len; i++)
            name[i] = (char)('a' + (i * 7 + len) % 26);
        name[len] = 0;
        struct msg g = msg_to(name, 1, len);
        struct rte_mbuf *m = msg_frame(1, &g);
        struct copy c;
        keep(&c, m);
        burst1(m);
        struct rte_mbuf *out = take_class(0, 1);
        cr_assert_eq(out, m, "name of %u bytes routed", len);
        struct sent_as x = {0, billing_mac, ip4(198, 18, 0, 100 + len), (uint16_t)(10000 + len)};
        check_forwarded(out, c.b, c.len, &x);
        rte_pktmbuf_free(out);

        /* One byte shorter or longer is another name. */
        if (len > 1 && len < YARD_DST_MAX) {
            name[len] = 'q';
            name[len + 1] = 0;
            if (len % 2 == 1)
                name[len - 1] = 0; /* shorter */
            g = msg_to(name, 1, len);
            expect_drop(msg_frame(1, &g), YARD_DROP_NO_ROUTE, true, "neighbouring name");
        }
    }
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, sender_without_udp_checksum_stays_without)
{
    struct msg g = msg_to("orders.eu", 3, 9);
    struct rte_mbuf *m = msg_frame(0, &g);
    hdrs_of(m).udp->dgram_cksum = 0;
    struct copy c;
    keep(&c, m);
    burst1(m);
    struct rte_mbuf *out = take_class(1, 3);
    struct sent_as x = {1, orders_mac, ip4(198, 18, 1, 20), 9000};
    check_forwarded(out, c.b, c.len, &x);
    rte_pktmbuf_free(out);
    assert_pool_full();
}

Test(forward, padded_minimum_frame)
{
    /* A tiny datagram padded to Ethernet's 60-byte minimum: the padding is
     * not part of the envelope. */
    struct msg g = msg_to("billing", 0, 1);
    g.src = "";
    g.body_len = 0;
    uint8_t env[64];
    unsigned len = pack(&g, env, sizeof(env));
    struct rte_mbuf *m = frame(1, env, len);
    cr_assert_lt(m->data_len, 60);
    unsigned pad = 60 - m->data_len;
    uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)pad);
    memset(p, 0xee, pad);
    struct copy c;
    keep(&c, m);
    burst1(m);
    struct rte_mbuf *out = take_class(0, 0);
    struct sent_as x = {0, billing_mac, ip4(198, 18, 0, 30), 9100};
    check_forwarded(out, c.b, c.len, &x);
    rte_pktmbuf_free(out);
    assert_pool_full();
}

Test(forward, no_route)
{
    struct msg g = msg_to("nobody.home", 1, 1);
    expect_drop(msg_frame(0, &g), YARD_DROP_NO_ROUTE, true, "unknown name");
}

Test(forward, bad_envelope)
{
    static const uint8_t garbage[] = {0x93, 0x01, 0x02, 0x03, 0xc0, 0xff, 0x00};
    expect_drop(frame(0, garbage, sizeof(garbage)), YARD_DROP_BAD_ENVELOPE, false, "garbage");

    /* A valid envelope cut short by one byte (UDP and IP lengths agree). */
    struct msg g = msg_to("orders.eu", 1, 1);
    uint8_t buf[256];
    unsigned len = pack(&g, buf, sizeof(buf));
    expect_drop(frame(0, buf, len - 1), YARD_DROP_BAD_ENVELOPE, false, "truncated");

    /* Version 2. */
    buf[1] = 0x02;
    expect_drop(frame(0, buf, len), YARD_DROP_BAD_ENVELOPE, false, "version 2");

    expect_drop(frame(0, buf, 0), YARD_DROP_BAD_ENVELOPE, false, "empty payload");
}

Test(forward, ttl_expired)
{
    for (unsigned ttl = 0; ttl <= 1; ttl++) {
        struct msg g = msg_to("orders.eu", 2, ttl);
        g.ttl = ttl;
        expect_drop(msg_frame(0, &g), YARD_DROP_TTL_EXPIRED, true, ttl ? "ttl 1" : "ttl 0");
    }
}

Test(forward, not_for_us)
{
    struct msg g = msg_to("orders.eu", 2, 1);

    struct rte_mbuf *m = msg_frame(0, &g);
    hdrs_of(m).ip->dst_addr = ip4(198, 18, 0, 2);
    fix_ip_cksum(m);
    fix_udp_cksum(m);
    expect_drop(m, YARD_DROP_NOT_FOR_US, false, "another IP address");

    m = msg_frame(0, &g);
    hdrs_of(m).ip->dst_addr = yard_dp.ports[1].ipv4; /* the other port's address */
    fix_ip_cksum(m);
    fix_udp_cksum(m);
    expect_drop(m, YARD_DROP_NOT_FOR_US, false, "the other port's address");

    m = msg_frame(0, &g);
    hdrs_of(m).udp->dst_port = htons(DATA_PORT + 1);
    fix_udp_cksum(m);
    expect_drop(m, YARD_DROP_NOT_FOR_US, false, "another UDP port");

    m = msg_frame(0, &g);
    hdrs_of(m).ip->next_proto_id = IPPROTO_TCP;
    fix_ip_cksum(m);
    expect_drop(m, YARD_DROP_NOT_FOR_US, false, "TCP");

    m = msg_frame(0, &g);
    m->port = 9; /* a port the dataplane does not use */
    expect_drop(m, YARD_DROP_NOT_FOR_US, false, "unknown receive port");
}

Test(forward, bad_ip)
{
    struct msg g = msg_to("orders.eu", 2, 1);

    struct rte_mbuf *m = msg_frame(0, &g);
    hdrs_of(m).ip->hdr_checksum ^= htons(0x0100);
    expect_drop(m, YARD_DROP_BAD_IP, false, "bad IPv4 checksum");

    m = msg_frame(0, &g);
    m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_BAD;
    expect_drop(m, YARD_DROP_BAD_IP, false, "NIC says the IPv4 checksum is bad");

    m = msg_frame(0, &g);
    hdrs_of(m).ip->version_ihl = 0x46; /* options */
    fix_ip_cksum(m);
    expect_drop(m, YARD_DROP_BAD_IP, false, "ihl 6");

    m = msg_frame(0, &g);
    hdrs_of(m).ip->version_ihl = 0x65;
    fix_ip_cksum(m);
    expect_drop(m, YARD_DROP_BAD_IP, false, "version 6 in an IPv4 frame");

    m = msg_frame(0, &g);
    struct rte_ipv4_hdr *ip = hdrs_of(m).ip;
    ip->total_length = htons((uint16_t)(ntohs(ip->total_length) + 1));
    fix_ip_cksum(m);
    expect_drop(m, YARD_DROP_BAD_IP, false, "total_length past the frame");

    m = msg_frame(0, &g);
    ip = hdrs_of(m).ip;
    ip->total_length = htons(20 + 7);
    fix_ip_cksum(m);
    expect_drop(m, YARD_DROP_BAD_IP, false, "total_length shorter than IPv4 + UDP headers");

    m = msg_frame(0, &g);
    struct rte_udp_hdr *udp = hdrs_of(m).udp;
    udp->dgram_len = htons((uint16_t)(ntohs(udp->dgram_len) + 1));
    expect_drop(m, YARD_DROP_BAD_IP, false, "UDP length past the IPv4 datagram");

    m = msg_frame(0, &g);
    hdrs_of(m).udp->dgram_len = htons(7);
    expect_drop(m, YARD_DROP_BAD_IP, false, "UDP length shorter than its header");
}

Test(forward, ip_fragment)
{
    struct msg g = msg_to("orders.eu", 2, 1);
    struct rte_mbuf *m = msg_frame(0, &g);
    hdrs_of(m).ip->fragment_offset = htons(RTE_IPV4_HDR_MF_FLAG);
    fix_ip_cksum(m);
    expect_drop(m, YARD_DROP_IP_FRAGMENT, false, "first fragment (MF)");

    m = msg_frame(0, &g);
    hdrs_of(m).ip->fragment_offset = htons(185); /* last fragment, offset 1480 */
    fix_ip_cksum(m);
    expect_drop(m, YARD_DROP_IP_FRAGMENT, false, "last fragment (offset)");
}

Test(forward, bad_frame)
{
    struct msg g = msg_to("orders.eu", 2, 1);
    struct rte_mbuf *m = msg_frame(0, &g);
    hdrs_of(m).eth->ether_type = htons(RTE_ETHER_TYPE_IPV6);
    expect_drop(m, YARD_DROP_BAD_FRAME, false, "IPv6");

    m = msg_frame(0, &g);
    hdrs_of(m).eth->ether_type = htons(RTE_ETHER_TYPE_VLAN);
    expect_drop(m, YARD_DROP_BAD_FRAME, false, "VLAN tag");

    m = rte_pktmbuf_alloc(yt_pool);
    memset(rte_pktmbuf_append(m, 10), 0x08, 10);
    m->port = yard_dp.ports[0].port_id;
    expect_drop(m, YARD_DROP_BAD_FRAME, false, "10-byte runt");

    /* An Ethernet header and the start of an IPv4 header. */
    m = msg_frame(0, &g);
    rte_pktmbuf_trim(m, (uint16_t)(m->data_len - 30));
    expect_drop(m, YARD_DROP_BAD_IP, false, "IPv4 frame cut inside its headers");
}

Test(forward, bad_kind)
{
    for (unsigned kind = YARD_KIND_ACK; kind <= YARD_KIND_NACK; kind++) {
        struct msg g = msg_to("orders.eu", 2, 1);
        g.kind = kind;
        expect_drop(msg_frame(0, &g), YARD_DROP_BAD_KIND, true,
                    kind == YARD_KIND_ACK ? "ACK" : "NACK");
    }
}

Test(forward, control_messages_are_punted_with_their_source)
{
    for (unsigned kind = YARD_KIND_REGISTER; kind <= YARD_KIND_UNSUBSCRIBE; kind++) {
        struct msg g = msg_to("orders.eu", 2, 77 + kind);
        g.kind = kind;
        g.src = "svc-b";
        uint8_t env[256];
        unsigned len = pack(&g, env, sizeof(env));
        unsigned rx = kind % 2;
        struct rte_mbuf *m = frame(rx, env, len);
        hdrs_of(m).udp->src_port = htons((uint16_t)(40000 + kind));
        fix_udp_cksum(m);
        uint64_t t0 = yard_monotonic_ns();
        burst1(m);

        struct delta d = {0};
        d.events[YARD_EV_RX_PACKETS] = 1;
        d.events[YARD_EV_RX_MESSAGES] = 1;
        d.events[YARD_EV_PUNTED] = 1;
        check_counters(&d, "punt");

        struct yard_punt rec;
        cr_assert(take_punt(&rec), "kind %u in the punt ring", kind);
        cr_assert_eq(rec.src_ipv4, ip4(198, 18, rx, 100));
        cr_assert_eq(rec.src_udp_port, 40000 + kind, "source port in host byte order");
        cr_assert_eq(rec.rx_port, yard_dp.ports[rx].port_id);
        cr_assert_eq(rec.len, len);
        cr_assert_eq(memcmp(rec.data, env, len), 0, "the UDP payload as received");
        cr_assert_eq(memcmp(rec.src_mac, sender_mac, 6), 0, "the frame's source MAC");
        cr_assert_geq(rec.rx_ns, t0);
        cr_assert_leq(rec.rx_ns, yard_monotonic_ns());
        assert_all_rings_empty();
        assert_pool_full(); /* copied out, the mbuf freed */
    }
}

Test(forward, oversized_control_message_is_not_copied_past_the_punt_record)
{
    /* A REGISTER whose payload is larger than a punt record holds (possible
     * on a port with an MTU above 1500, or a virtual device that does not
     * enforce one): it must be dropped, not copied over the stack. */
    struct msg g = msg_to("svc", 0, 5);
    g.kind = YARD_KIND_REGISTER;
    g.body_len = YARD_PUNT_MAX_BYTES + 200;
    struct rte_mbuf *m = msg_frame(0, &g);
    burst1(m);
    struct yard_punt rec;
    cr_assert_not(take_punt(&rec), "no punt record for a payload larger than a record");
    uint64_t drops = 0;
    for (unsigned r = 0; r < YARD_DROP_MAX; r++)
        drops += lc.stats->drops[r] - before.drops[r];
    cr_assert_eq(drops, 1, "counted as one drop");
    cr_assert_eq(lc.stats->events[YARD_EV_PUNTED], before.events[YARD_EV_PUNTED]);
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, punt_ring_full)
{
    struct rte_ring *r = yard_shm_punt_ring(&yard_dp.shm);
    static struct yard_punt filler;
    unsigned filled = 0;
    while (rte_ring_mp_enqueue_elem(r, &filler, sizeof(filler)) == 0)
        filled++;
    cr_assert_gt(filled, 0);
    struct msg g = msg_to("svc", 0, 5);
    g.kind = YARD_KIND_SUBSCRIBE;
    burst1(msg_frame(0, &g));
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    d.drops[YARD_DROP_PUNT_FULL] = 1;
    check_counters(&d, "punt ring full");
    cr_assert_eq(rte_ring_count(r), filled);
    assert_pool_full();
}

static struct rte_mbuf *arp_frame(unsigned rx)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(yt_pool);
    struct rte_ether_hdr *eth = (struct rte_ether_hdr *)rte_pktmbuf_append(
        m, sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr));
    struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
    memset(&eth->dst_addr, 0xff, 6);
    memcpy(&eth->src_addr, sender_mac, 6);
    eth->ether_type = htons(RTE_ETHER_TYPE_ARP);
    arp->arp_hardware = htons(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = 6;
    arp->arp_plen = 4;
    arp->arp_opcode = htons(RTE_ARP_OP_REQUEST);
    memcpy(&arp->arp_data.arp_sha, sender_mac, 6);
    arp->arp_data.arp_sip = ip4(198, 18, rx, 100);
    memset(&arp->arp_data.arp_tha, 0, 6);
    arp->arp_data.arp_tip = yard_dp.ports[rx].ipv4;
    m->port = yard_dp.ports[rx].port_id;
    return m;
}

Test(forward, arp_goes_to_the_agent)
{
    struct rte_mbuf *m = arp_frame(1);
    burst1(m);
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    check_counters(&d, "ARP");
    struct yard_slow_item item;
    cr_assert(take_slow(&item));
    cr_assert_eq(item.m, m, "the frame itself, untouched");
    cr_assert_null(item.nh);
    cr_assert_eq(hdrs_of(m).eth->ether_type, htons(RTE_ETHER_TYPE_ARP));
    rte_pktmbuf_free(m);
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, unresolved_next_hop_goes_to_the_agent_rewritten)
{
    struct msg g = msg_to("pending", 1, 3);
    struct rte_mbuf *m = msg_frame(0, &g);
    struct copy c;
    keep(&c, m);
    burst1(m);
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    /* Routed, through the agent, which sends it once ARP answers. */
    d.events[YARD_EV_HELD] = 1;
    d.events[YARD_EV_ROUTED] = 1;
    d.routed[1] = 1;
    check_counters(&d, "held for ARP");

    struct yard_slow_item item;
    cr_assert(take_slow(&item));
    cr_assert_eq(item.m, m);
    cr_assert_not_null(item.nh);
    cr_assert_eq(item.nh->ipv4, ip4(198, 18, 1, 40), "the route's neighbor");
    cr_assert_eq(item.nh->port_id, yard_dp.ports[1].port_id);
    cr_assert_eq(item.nh->state, YARD_NEIGH_INCOMPLETE);
    struct sent_as x = {1, NULL, ip4(198, 18, 1, 40), 9300};
    check_forwarded(m, c.b, c.len, &x);
    rte_pktmbuf_free(m);
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, slow_ring_full)
{
    static struct yard_slow_item filler; /* never dequeued by forwarding */
    unsigned filled = 0;
    while (rte_ring_sp_enqueue_elem(lc.slow, &filler, sizeof(filler)) == 0)
        filled++;

    burst1(arp_frame(0));
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.drops[YARD_DROP_PUNT_FULL] = 1;
    check_counters(&d, "ARP with the slow ring full");

    struct msg g = msg_to("pending", 2, 3);
    burst1(msg_frame(0, &g));
    memset(&d, 0, sizeof(d));
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    d.drops[YARD_DROP_PUNT_FULL] = 1;
    d.dropped[2] = 1;
    check_counters(&d, "unresolved with the slow ring full");
    cr_assert_eq(rte_ring_count(lc.slow), filled);
    rte_ring_reset(lc.slow);
    assert_pool_full();
}

Test(forward, too_big_for_the_egress_port)
{
    yard_dp.ports[1].mtu = 200;
    struct msg g = msg_to("orders.eu", 3, 1);
    g.body_len = 200;
    burst1(msg_frame(0, &g));
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    d.drops[YARD_DROP_TOO_BIG] = 1;
    d.dropped[3] = 1;
    check_counters(&d, "too big");
    assert_all_rings_empty();
    assert_pool_full();

    /* Exactly the MTU still goes. */
    g.body_len = 0;
    struct rte_mbuf *m = msg_frame(0, &g);
    unsigned ip_len = m->data_len - 14;
    rte_pktmbuf_free(m);
    g.body_len = 200 - ip_len;
    m = msg_frame(0, &g);
    cr_assert_eq(m->data_len - 14, 200, "an IPv4 datagram of exactly the MTU");
    burst1(m);
    struct rte_mbuf *out = take_class(1, 3);
    cr_assert_eq(out, m);
    rte_pktmbuf_free(out);
    assert_pool_full();
}

Test(forward, admission_sheds_by_class)
{
    /* A backlog of half the queue size toward port 1 (class 3's watermark). */
    struct rte_mbuf *fill[QUEUE_SZ];
    for (unsigned i = 0; i < QUEUE_SZ / 2; i++) {
        fill[i] = rte_pktmbuf_alloc(yt_pool);
        cr_assert_not_null(fill[i]);
    }
    cr_assert_eq(rte_ring_enqueue_bulk(lc.txq[1].cls[1], (void **)fill, QUEUE_SZ / 2, NULL),
                 QUEUE_SZ / 2);

    struct rte_mbuf *m[4];
    for (unsigned prio = 0; prio < 4; prio++) {
        struct msg g = msg_to("orders.eu", prio, prio);
        m[prio] = msg_frame(0, &g);
    }
    burst(m, 4, 1);
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 4;
    d.events[YARD_EV_RX_MESSAGES] = 4;
    d.events[YARD_EV_ROUTED] = 3;
    d.routed[0] = d.routed[1] = d.routed[2] = 1;
    d.drops[YARD_DROP_SHED] = 1;
    d.dropped[3] = 1;
    check_counters(&d, "class 3 shed at half the queue");
    for (unsigned prio = 0; prio < 3; prio++) {
        struct rte_mbuf *out = take_class(1, prio);
        if (prio == 1) {
            /* Behind the backlog. */
            for (unsigned i = 0; i < QUEUE_SZ / 2; i++) {
                cr_assert_eq(out, fill[i]);
                rte_pktmbuf_free(out);
                out = take_class(1, 1);
            }
        }
        cr_assert_eq(out, m[prio], "class %u admitted", prio);
        rte_pktmbuf_free(out);
    }
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, class_zero_dropped_only_when_its_ring_is_full)
{
    struct rte_mbuf *fill[QUEUE_SZ];
    cr_assert_eq(rte_pktmbuf_alloc_bulk(yt_pool, fill, QUEUE_SZ), 0);
    cr_assert_eq(rte_ring_enqueue_bulk(lc.txq[1].cls[0], (void **)fill, QUEUE_SZ, NULL), QUEUE_SZ);
    struct msg g = msg_to("orders.eu", 0, 1);
    burst1(msg_frame(0, &g));
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    d.drops[YARD_DROP_QUEUE_FULL] = 1;
    d.dropped[0] = 1;
    check_counters(&d, "class 0 ring full");
    yard_txq_free(&lc.txq[1]); /* frees the filler mbufs */
    cr_assert_eq(yard_txq_init(&lc.txq[1], "tfwd_q1b", QUEUE_SZ, SOCKET_ID_ANY), 0);
    assert_pool_full();
}

Test(forward, mixed_burst_every_packet_accounted_for)
{
    /* A full burst of everything at once, in an order that interleaves
     * egress ports and classes; each queue must keep arrival order. */
    enum { K_ORDERS, K_BILLING, K_NOROUTE, K_PUNT, K_ARP, K_PENDING, K_BADIP, K_TTL, K_KINDS };
    struct rte_mbuf *m[YARD_BURST_MAX];
    unsigned kind_of[YARD_BURST_MAX], prio_of[YARD_BURST_MAX];
    unsigned count[K_KINDS] = {0};
    for (unsigned i = 0; i < YARD_BURST_MAX; i++) {
        unsigned k = (i * 5 + i / 8) % K_KINDS;
        unsigned prio = (i / 3) % 4;
        struct msg g = msg_to(k == K_BILLING   ? "billing"
                              : k == K_NOROUTE ? "nobody"
                              : k == K_PENDING ? "pending"
                                               : "orders.eu",
                              prio, i);
        if (k == K_PUNT)
            g.kind = YARD_KIND_REGISTER;
        if (k == K_TTL)
            g.ttl = 1;
        m[i] = k == K_ARP ? arp_frame(i % 2) : msg_frame(i % 2, &g);
        if (k == K_BADIP)
            hdrs_of(m[i]).ip->hdr_checksum ^= htons(0x0100);
        kind_of[i] = k;
        prio_of[i] = prio;
        count[k]++;
    }
    burst(m, YARD_BURST_MAX, 77);

    struct delta d = {0};
    unsigned msgs = YARD_BURST_MAX - count[K_ARP] - count[K_BADIP];
    d.events[YARD_EV_RX_PACKETS] = YARD_BURST_MAX;
    d.events[YARD_EV_RX_MESSAGES] = msgs;
    d.events[YARD_EV_ROUTED] = count[K_ORDERS] + count[K_BILLING] + count[K_PENDING];
    d.events[YARD_EV_PUNTED] = count[K_PUNT];
    d.events[YARD_EV_HELD] = count[K_PENDING];
    d.drops[YARD_DROP_NO_ROUTE] = count[K_NOROUTE];
    d.drops[YARD_DROP_BAD_IP] = count[K_BADIP];
    d.drops[YARD_DROP_TTL_EXPIRED] = count[K_TTL];
    for (unsigned i = 0; i < YARD_BURST_MAX; i++)
        if (kind_of[i] == K_ORDERS || kind_of[i] == K_BILLING || kind_of[i] == K_PENDING)
            d.routed[prio_of[i]]++;
    check_counters(&d, "mixed burst");

    /* Each destination queue and the punt ring hold their packets in
     * arrival order. */
    for (unsigned i = 0; i < YARD_BURST_MAX; i++) {
        if (kind_of[i] == K_ORDERS || kind_of[i] == K_BILLING) {
            struct rte_mbuf *out = take_class(kind_of[i] == K_ORDERS ? 1 : 0, prio_of[i]);
            cr_assert_eq(out, m[i], "packet %u", i);
            rte_pktmbuf_free(out);
        } else if (kind_of[i] == K_PUNT) {
            struct yard_punt rec;
            cr_assert(take_punt(&rec));
            cr_assert_eq(decode(rec.data, rec.len).f[6], i, "punt of packet %u", i);
        }
    }
    /* The slow ring: ARP frames leave at classification, before the lookup
     * that finds unresolved next hops, so all ARP frames come first; each
     * group in arrival order. */
    for (unsigned pass = 0; pass < 2; pass++) {
        unsigned want = pass == 0 ? K_ARP : K_PENDING;
        for (unsigned i = 0; i < YARD_BURST_MAX; i++) {
            if (kind_of[i] != want)
                continue;
            struct yard_slow_item item;
            cr_assert(take_slow(&item));
            cr_assert_eq(item.m, m[i], "packet %u on the slow ring", i);
            cr_assert_eq(item.nh == NULL, want == K_ARP);
            rte_pktmbuf_free(item.m);
        }
    }
    assert_all_rings_empty();
    assert_pool_full();
}

/* ---- Groups: one member per message ---- */

/* The address a one-segment frame left for. */
static uint32_t dst_of(struct rte_mbuf *m)
{
    return hdrs_of(m).ip->dst_addr;
}

/* Send (src, id) to `name` (resolved members on port 1) and return the frame that left. */
static struct rte_mbuf *send_group(const char *name, const char *src, uint64_t id,
                                   struct copy *kept)
{
    struct msg g = msg_to(name, 1, id);
    g.src = src;
    struct rte_mbuf *m = msg_frame(0, &g);
    if (kept != NULL)
        keep(kept, m);
    burst1(m);
    struct rte_mbuf *out = take_class(1, 1);
    cr_assert_eq(out, m, "%s (src %s, id %llu) queued toward port 1", name, src,
                 (unsigned long long)id);
    return out;
}

static const uint8_t member_mac[6] = {0x02, 0x3e, 0, 0, 0, 0x50};

Test(forward, group_member_is_stable_per_src_and_id_and_spreads)
{
    /* Four members on port 1 (one host, four ports, so they share a MAC). */
    for (unsigned k = 0; k < 4; k++)
        add_loc("workers", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 50), (uint16_t)(9500 + k),
                member_mac, 0);
    unsigned per_member[4] = {0};
    for (uint64_t id = 0; id < 200; id++) {
        struct copy c;
        struct rte_mbuf *out = send_group("workers", "client-7", id, &c);
        unsigned port = ntohs(hdrs_of(out).udp->dst_port);
        cr_assert(port >= 9500 && port < 9504, "a member's port, not %u", port);
        struct sent_as x = {1, member_mac, ip4(198, 18, 1, 50), (uint16_t)port};
        check_forwarded(out, c.b, c.len, &x);
        rte_pktmbuf_free(out);
        per_member[port - 9500]++;
        /* The same (src, id) again: the same member, every time. */
        for (unsigned again = 0; again < 3; again++) {
            out = send_group("workers", "client-7", id, NULL);
            cr_assert_eq(ntohs(hdrs_of(out).udp->dst_port), port, "id %llu moved",
                         (unsigned long long)id);
            rte_pktmbuf_free(out);
        }
    }
    for (unsigned k = 0; k < 4; k++)
        cr_assert_geq(per_member[k], 25, "member %u got %u of 200 (%u/%u/%u/%u)", k, per_member[k],
                      per_member[0], per_member[1], per_member[2], per_member[3]);
    /* The source name takes part: another sender with the same ids lands
     * elsewhere for some of them. */
    unsigned moved = 0;
    for (uint64_t id = 0; id < 40; id++) {
        struct rte_mbuf *a = send_group("workers", "client-7", id, NULL);
        struct rte_mbuf *b = send_group("workers", "client-8", id, NULL);
        moved += hdrs_of(a).udp->dst_port != hdrs_of(b).udp->dst_port;
        rte_pktmbuf_free(a);
        rte_pktmbuf_free(b);
    }
    cr_assert_gt(moved, 0, "src does not change any choice");
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, group_choice_depends_on_the_members_not_on_their_order)
{
    static const unsigned order_a[] = {0, 1, 2}, order_b[] = {2, 0, 1};
    for (unsigned i = 0; i < 3; i++) {
        add_loc("grp.a", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 70 + order_a[i]), 9700, member_mac, 0);
        add_loc("grp.b", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 70 + order_b[i]), 9700, member_mac, 0);
    }
    unsigned seen[3] = {0};
    for (uint64_t id = 1000; id < 1060; id++) {
        struct rte_mbuf *a = send_group("grp.a", "svc-z", id, NULL);
        struct rte_mbuf *b = send_group("grp.b", "svc-z", id, NULL);
        cr_assert_eq(dst_of(a), dst_of(b), "id %llu: grp.a and grp.b chose differently",
                     (unsigned long long)id);
        seen[(ntohl(dst_of(a)) & 0xff) - 70]++;
        rte_pktmbuf_free(a);
        rte_pktmbuf_free(b);
    }
    for (unsigned k = 0; k < 3; k++)
        cr_assert_gt(seen[k], 0, "member %u never chosen", k);
    assert_pool_full();
}

Test(forward, group_prefers_members_on_this_node)
{
    /* Two local members, three on other nodes. */
    add_loc("mixed", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 81), 9800, member_mac, 7);
    add_loc("mixed", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 82), 9800, member_mac, 0);
    add_loc("mixed", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 83), 9800, member_mac, 9);
    add_loc("mixed", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 84), 9800, member_mac, 0);
    add_loc("mixed", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 85), 9800, member_mac, 7);
    unsigned local[2] = {0, 0};
    for (uint64_t id = 0; id < 100; id++) {
        struct rte_mbuf *out = send_group("mixed", "client-7", id, NULL);
        uint32_t dst = dst_of(out);
        cr_assert(dst == ip4(198, 18, 1, 82) || dst == ip4(198, 18, 1, 84),
                  "id %llu went to a remote member while local ones exist", (unsigned long long)id);
        local[dst == ip4(198, 18, 1, 84)]++;
        rte_pktmbuf_free(out);
    }
    cr_assert(local[0] > 0 && local[1] > 0, "both local members used: %u/%u", local[0], local[1]);

    /* With no local member left, the remote ones share the load. */
    add_loc("remote", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 91), 9800, member_mac, 4);
    add_loc("remote", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 92), 9800, member_mac, 5);
    add_loc("remote", YARD_DEST_ENDPOINT, ip4(198, 18, 1, 93), 9800, member_mac, 6);
    unsigned remote[3] = {0};
    for (uint64_t id = 0; id < 90; id++) {
        struct rte_mbuf *out = send_group("remote", "client-7", id, NULL);
        unsigned host = ntohl(dst_of(out)) & 0xff;
        cr_assert(host >= 91 && host <= 93);
        remote[host - 91]++;
        rte_pktmbuf_free(out);
    }
    for (unsigned k = 0; k < 3; k++)
        cr_assert_gt(remote[k], 0, "remote member %u never chosen", k);
    assert_pool_full();
}

/* ---- Topics: one copy per location, sharing the body ---- */

static const uint8_t sub_mac[4][6] = {{0x02, 0x51, 0, 0, 0, 0x61},
                                      {0x02, 0x51, 0, 0, 0, 0x62},
                                      {0x02, 0x51, 0, 0, 0, 0x63},
                                      {0x02, 0x51, 0, 0, 0, 0x64}};

/* A chain's bytes, in order, into out. */
static unsigned chain_bytes(const struct rte_mbuf *m, uint8_t *out, unsigned cap)
{
    unsigned n = 0;
    for (const struct rte_mbuf *seg = m; seg != NULL; seg = seg->next) {
        cr_assert_leq(n + seg->data_len, cap);
        memcpy(out + n, rte_pktmbuf_mtod(seg, const uint8_t *), seg->data_len);
        n += seg->data_len;
    }
    cr_assert_eq(n, m->pkt_len, "pkt_len is the sum of the segments");
    return n;
}

/*
 * A topic copy: a 42-byte header segment chained to an indirect mbuf
 * attached to `orig_m` at its UDP payload; what it sends is judged against
 * the frame as received (kept) like any forwarded frame.
 */
static void check_copy(struct rte_mbuf *copy, struct rte_mbuf *orig_m, const struct copy *kept,
                       const struct sent_as *x)
{
    cr_assert_not_null(copy);
    cr_assert_eq(copy->nb_segs, 2, "headers, then the shared body");
    cr_assert(RTE_MBUF_DIRECT(copy), "the header segment is the copy's own");
    cr_assert_eq(copy->data_len, 42, "Ethernet, IPv4 and UDP headers");
    cr_assert_eq(copy->pool, yt_hdr_pool, "headers come from the header pool");
    const struct rte_mbuf *body = copy->next;
    cr_assert(RTE_MBUF_CLONED(body), "the body is an indirect mbuf");
    cr_assert_eq(rte_mbuf_from_indirect((struct rte_mbuf *)body), orig_m,
                 "attached to the received mbuf");
    cr_assert_eq(rte_pktmbuf_mtod(body, const uint8_t *), rte_pktmbuf_mtod(orig_m, uint8_t *) + 42,
                 "the body is the received UDP payload itself, not a copy of it");
    cr_assert_null(body->next);
    uint8_t flat[2048];
    unsigned len = chain_bytes(copy, flat, sizeof(flat));
    check_frame(flat, len, kept->b, kept->len, x);
}

Test(forward, topic_fans_out_one_copy_per_subscriber)
{
    /* Three subscribers on port 1, one on port 0, one behind port 0's
     * gateway, and one on port 1 whose MAC is not known yet. */
    add_loc("news", YARD_DEST_TOPIC, ip4(198, 18, 1, 61), 9601, sub_mac[0], 0);
    add_loc("news", YARD_DEST_TOPIC, ip4(198, 18, 1, 62), 9602, sub_mac[1], 0);
    add_loc("news", YARD_DEST_TOPIC, ip4(198, 18, 1, 63), 9603, sub_mac[2], 0);
    add_loc("news", YARD_DEST_TOPIC, ip4(198, 18, 0, 64), 9604, sub_mac[3], 0);
    add_loc("news", YARD_DEST_TOPIC, ip4(198, 19, 9, 65), 9605, gateway_mac, 0);
    add_loc("news", YARD_DEST_TOPIC, ip4(198, 18, 1, 66), 9606, NULL, 0);

    struct msg g = msg_to("news", 2, 4242);
    g.body_len = 300;
    struct rte_mbuf *m = msg_frame(1, &g);
    struct copy c;
    keep(&c, m);
    uint64_t rx_tsc = 0xfeed0000beefull;
    burst(&m, 1, rx_tsc);

    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    d.events[YARD_EV_FANOUT_COPIES] = 6;
    d.events[YARD_EV_ROUTED] = 6;
    d.events[YARD_EV_HELD] = 1;
    d.routed[2] = 6;
    check_counters(&d, "topic with six subscribers");

    /* One shared body: the received mbuf stays, counted once per copy. */
    cr_assert_eq(rte_mbuf_refcnt_read(m), 6, "refcnt %u for 6 copies", rte_mbuf_refcnt_read(m));
    cr_assert_eq(yt_in_use(yt_pool), 1, "only the received mbuf is in use (%u)",
                 yt_in_use(yt_pool));
    cr_assert_eq(yt_in_use(yt_hdr_pool), 12, "two header-pool mbufs per copy");

    struct {
        unsigned egress;
        const uint8_t *mac;
        uint32_t ip;
        uint16_t port;
    } want[] = {
        {0, sub_mac[3], ip4(198, 18, 0, 64), 9604}, {0, gateway_mac, ip4(198, 19, 9, 65), 9605},
        {1, sub_mac[0], ip4(198, 18, 1, 61), 9601}, {1, sub_mac[1], ip4(198, 18, 1, 62), 9602},
        {1, sub_mac[2], ip4(198, 18, 1, 63), 9603},
    };
    struct rte_mbuf *copies[6];
    for (unsigned i = 0; i < 5; i++) {
        copies[i] = take_class(want[i].egress, 2);
        struct sent_as x = {want[i].egress, want[i].mac, want[i].ip, want[i].port};
        cr_assert_not_null(copies[i], "copy %u queued on port %u", i, want[i].egress);
        check_copy(copies[i], m, &c, &x);
        cr_assert_eq(copies[i]->hash.usr, (uint32_t)rx_tsc, "receive stamp on what is sent");
    }
    struct yard_slow_item held;
    cr_assert(take_slow(&held), "the copy to the unresolved subscriber waits for ARP");
    cr_assert_not_null(held.nh);
    cr_assert_eq(held.nh->ipv4, ip4(198, 18, 1, 66));
    copies[5] = held.m;
    struct sent_as x6 = {1, NULL, ip4(198, 18, 1, 66), 9606};
    /* Its destination MAC is the agent's to write; compare the rest. */
    memcpy(rte_pktmbuf_mtod(held.m, uint8_t *), c.b, 6);
    check_copy(held.m, m, &c, &x6);
    assert_all_rings_empty();

    /* The body is shared, not copied: a byte changed in the received
     * buffer shows in every copy. */
    uint8_t *last = rte_pktmbuf_mtod(m, uint8_t *) + c.len - 1;
    *last ^= 0x5a;
    for (unsigned i = 0; i < 6; i++) {
        const struct rte_mbuf *body = copies[i]->next;
        cr_assert_eq(rte_pktmbuf_mtod(body, const uint8_t *)[body->data_len - 1], *last,
                     "copy %u sees the shared byte", i);
    }

    /* Freeing the copies frees the received mbuf with the last of them. */
    for (unsigned i = 0; i < 6; i++) {
        cr_assert_eq(yt_in_use(yt_pool), 1, "received mbuf freed after %u of 6 copies", i);
        rte_pktmbuf_free(copies[i]);
    }
    assert_pool_full();
}

Test(forward, topic_copies_keep_a_zero_udp_checksum_zero)
{
    add_loc("quiet", YARD_DEST_TOPIC, ip4(198, 18, 1, 61), 9601, sub_mac[0], 0);
    add_loc("quiet", YARD_DEST_TOPIC, ip4(198, 18, 0, 64), 9604, sub_mac[3], 0);
    struct msg g = msg_to("quiet", 0, 9);
    struct rte_mbuf *m = msg_frame(0, &g);
    hdrs_of(m).udp->dgram_cksum = 0;
    struct copy c;
    keep(&c, m);
    burst1(m);
    struct rte_mbuf *a = take_class(1, 0), *b = take_class(0, 0);
    struct sent_as xa = {1, sub_mac[0], ip4(198, 18, 1, 61), 9601};
    struct sent_as xb = {0, sub_mac[3], ip4(198, 18, 0, 64), 9604};
    check_copy(a, m, &c, &xa);
    check_copy(b, m, &c, &xb);
    rte_pktmbuf_free(a);
    rte_pktmbuf_free(b);
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, topic_copy_without_a_header_mbuf_is_dropped_as_no_mbuf)
{
    for (unsigned k = 0; k < 4; k++)
        add_loc("busy", YARD_DEST_TOPIC, ip4(198, 18, 1, 61 + k), 9600, sub_mac[k], 0);
    /* Leave three header mbufs: one copy's pair, and one too few for the next. */
    unsigned take = rte_mempool_avail_count(yt_hdr_pool) - 3;
    struct rte_mbuf **hog = calloc(take, sizeof(*hog));
    cr_assert_eq(rte_pktmbuf_alloc_bulk(yt_hdr_pool, hog, take), 0);

    struct msg g = msg_to("busy", 3, 1);
    struct rte_mbuf *m = msg_frame(0, &g);
    struct copy c;
    keep(&c, m);
    burst1(m);
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    d.events[YARD_EV_FANOUT_COPIES] = 1;
    d.events[YARD_EV_ROUTED] = 1;
    d.routed[3] = 1;
    d.drops[YARD_DROP_NO_MBUF] = 3;
    d.dropped[3] = 3;
    check_counters(&d, "header pool exhausted");
    struct rte_mbuf *only = take_class(1, 3);
    struct sent_as x = {1, sub_mac[0], ip4(198, 18, 1, 61), 9600};
    check_copy(only, m, &c, &x);
    cr_assert_eq(rte_mbuf_refcnt_read(m), 1, "only the copy that was made holds the body");
    rte_pktmbuf_free(only);
    rte_pktmbuf_free_bulk(hog, take);
    free(hog);
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, topic_copies_pass_admission_and_mtu_per_egress)
{
    add_loc("wide", YARD_DEST_TOPIC, ip4(198, 18, 1, 61), 9601, sub_mac[0], 0);
    add_loc("wide", YARD_DEST_TOPIC, ip4(198, 18, 1, 62), 9602, sub_mac[1], 0);
    add_loc("wide", YARD_DEST_TOPIC, ip4(198, 18, 0, 64), 9604, sub_mac[3], 0);

    /* Port 1 backlogged past class 3's watermark: its copies are shed,
     * port 0's copy goes. */
    struct rte_mbuf *fill[QUEUE_SZ / 2];
    cr_assert_eq(rte_pktmbuf_alloc_bulk(yt_pool, fill, QUEUE_SZ / 2), 0);
    cr_assert_eq(rte_ring_enqueue_bulk(lc.txq[1].cls[1], (void **)fill, QUEUE_SZ / 2, NULL),
                 QUEUE_SZ / 2);
    struct msg g = msg_to("wide", 3, 5);
    burst1(msg_frame(0, &g));
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    d.events[YARD_EV_FANOUT_COPIES] = 3;
    d.events[YARD_EV_ROUTED] = 1;
    d.routed[3] = 1;
    d.drops[YARD_DROP_SHED] = 2;
    d.dropped[3] = 2;
    check_counters(&d, "class 3 copies shed on the backlogged port");
    struct rte_mbuf *out = take_class(0, 3);
    cr_assert_not_null(out);
    cr_assert_eq(hdrs_of(out).ip->dst_addr, ip4(198, 18, 0, 64));
    rte_pktmbuf_free(out);
    for (unsigned i = 0; i < QUEUE_SZ / 2; i++)
        rte_pktmbuf_free(take_class(1, 1));

    /* A message too big for port 1's MTU still reaches port 0's subscriber. */
    yard_dp.ports[1].mtu = 200;
    g.body_len = 250;
    g.prio = 0;
    burst1(msg_frame(0, &g));
    memset(&d, 0, sizeof(d));
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    d.events[YARD_EV_FANOUT_COPIES] = 1;
    d.events[YARD_EV_ROUTED] = 1;
    d.routed[0] = 1;
    d.drops[YARD_DROP_TOO_BIG] = 2;
    d.dropped[0] = 2;
    check_counters(&d, "too big for one egress");
    out = take_class(0, 0);
    cr_assert_not_null(out);
    rte_pktmbuf_free(out);
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, topic_copies_keep_arrival_order_with_other_messages)
{
    add_loc("ticks", YARD_DEST_TOPIC, ip4(198, 18, 1, 61), 9601, sub_mac[0], 0);
    struct rte_mbuf *m[3];
    struct msg a = msg_to("orders.eu", 2, 1), t = msg_to("ticks", 2, 2),
               b = msg_to("orders.eu", 2, 3);
    m[0] = msg_frame(0, &a);
    m[1] = msg_frame(0, &t);
    m[2] = msg_frame(0, &b);
    burst(m, 3, 5);
    struct rte_mbuf *first = take_class(1, 2), *second = take_class(1, 2),
                    *third = take_class(1, 2);
    cr_assert_eq(first, m[0], "the message before the topic goes first");
    cr_assert_not_null(second);
    cr_assert_eq(second->nb_segs, 2, "then the topic's copy");
    cr_assert_eq(third, m[2], "then the message after it");
    rte_pktmbuf_free(first);
    rte_pktmbuf_free(second);
    rte_pktmbuf_free(third);
    assert_all_rings_empty();
    assert_pool_full();
}

Test(forward, topic_copies_to_a_port_without_chains_are_whole_frames)
{
    yard_dp.ports[1].tx_chains = false;
    add_loc("flat", YARD_DEST_TOPIC, ip4(198, 18, 1, 61), 9601, sub_mac[0], 0);
    struct msg g = msg_to("flat", 1, 77);
    struct rte_mbuf *m = msg_frame(0, &g);
    struct copy c;
    keep(&c, m);
    burst1(m);
    struct rte_mbuf *out = take_class(1, 1);
    struct sent_as x = {1, sub_mac[0], ip4(198, 18, 1, 61), 9601};
    check_forwarded(out, c.b, c.len, &x);
    cr_assert_eq(out->pool, yt_pool);
    rte_pktmbuf_free(out);
    assert_all_rings_empty();
    assert_pool_full();
}

/* ---- Cluster fan-out: FANOUT copies out, members' FANOUT in ---- */

/* Envelope bytes for a width: 0 is a positive fixint, else uint8..uint64. */
static unsigned put_uint(uint8_t *out, uint64_t v, unsigned width)
{
    static const uint8_t tag[9] = {[1] = 0xcc, [2] = 0xcd, [4] = 0xce, [8] = 0xcf};
    if (width == 0) {
        out[0] = (uint8_t)v;
        return 1;
    }
    out[0] = tag[width];
    for (unsigned i = 0; i < width; i++)
        out[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    return 1 + width;
}

/*
 * g's envelope with the array header (1, 3 or 5 bytes), ver and kind in the
 * widths given (see put_uint), the rest as msgpack-c packs it; *kind_off
 * is where kind's last byte ends up.
 */
static unsigned pack_wide(const struct msg *g, unsigned arr_bytes, unsigned ver_w, unsigned kind_w,
                          uint8_t *out, unsigned cap, unsigned *kind_off)
{
    uint8_t plain[2048];
    unsigned len = pack(g, plain, sizeof(plain));
    cr_assert_eq(plain[0], 0x98, "msgpack-c writes a fixarray of 8");
    cr_assert_eq(plain[1], 1, "and ver as a fixint");
    cr_assert_eq(plain[2], g->kind, "and kind as a fixint");
    unsigned n = 0;
    if (arr_bytes == 1) {
        out[n++] = 0x98;
    } else {
        out[n++] = arr_bytes == 3 ? 0xdc : 0xdd;
        for (unsigned i = 1; i < arr_bytes; i++)
            out[n++] = i == arr_bytes - 1 ? 8 : 0;
    }
    n += put_uint(out + n, 1, ver_w);
    n += put_uint(out + n, g->kind, kind_w);
    *kind_off = n - 1;
    cr_assert_leq(n + len - 3, cap);
    memcpy(out + n, plain + 3, len - 3);
    return n + len - 3;
}

/* A member's data address, taking effect as the agent would make it (publish). */
static void member_add(uint32_t ipv4, uint32_t node)
{
    cr_assert_eq(yard_members_add(&yard_dp.members, ipv4, node, err, sizeof(err)), 0, "%s", err);
    cr_assert_geq(yard_members_publish(&yard_dp.members), 0);
}

static void member_del(uint32_t ipv4, uint32_t node)
{
    cr_assert_eq(yard_members_del(&yard_dp.members, ipv4, node), 0);
    cr_assert_geq(yard_members_publish(&yard_dp.members), 0);
}

/*
 * A topic copy as check_copy judges it, but leaving as `kind`: a copy that
 * differs from the received kind carries the envelope up to its kind
 * (kind_off + 1 bytes) after its own headers, and shares the body only
 * after that; its bytes must be the received frame's with the kind byte
 * replaced (and ttl down by one), both checksums right by recomputation.
 */
static void check_copy_kind(struct rte_mbuf *copy, struct rte_mbuf *orig_m, const struct copy *kept,
                            const struct sent_as *x, unsigned kind_off, unsigned kind,
                            bool own_prefix)
{
    cr_assert_not_null(copy);
    cr_assert_eq(copy->nb_segs, 2, "headers, then the shared body");
    cr_assert(RTE_MBUF_DIRECT(copy));
    cr_assert_eq(copy->pool, yt_hdr_pool);
    unsigned own = own_prefix ? kind_off + 1 : 0;
    cr_assert_eq(copy->data_len, 42 + own,
                 "headers and %u envelope bytes in the header mbuf, not %u", own,
                 copy->data_len - 42);
    const struct rte_mbuf *body = copy->next;
    cr_assert(RTE_MBUF_CLONED(body), "the body is an indirect mbuf");
    cr_assert_eq(rte_mbuf_from_indirect((struct rte_mbuf *)body), orig_m);
    cr_assert_eq(rte_pktmbuf_mtod(body, const uint8_t *),
                 rte_pktmbuf_mtod(orig_m, uint8_t *) + 42 + own,
                 "the body is the received payload itself, after the copy's own bytes");
    if (own_prefix)
        cr_assert_eq(rte_pktmbuf_mtod(copy, const uint8_t *)[42 + kind_off], kind,
                     "the kind byte is the copy's own");
    struct copy want = *kept;
    want.b[42 + kind_off] = (uint8_t)kind;
    uint8_t flat[2048];
    unsigned len = chain_bytes(copy, flat, sizeof(flat));
    check_frame(flat, len, want.b, want.len, x);
}

/* The copy in port's class queue `cls` that goes to ip; NULL if none. */
static struct rte_mbuf *take_copy_to(unsigned port, unsigned cls, uint32_t ip,
                                     struct rte_mbuf **other)
{
    struct rte_mbuf *a = take_class(port, cls), *b = take_class(port, cls);
    cr_assert_not_null(a, "a copy on port %u", port);
    if (hdrs_of(a).ip->dst_addr == ip) {
        *other = b;
        return a;
    }
    *other = a;
    cr_assert_not_null(b, "a second copy on port %u", port);
    cr_assert_eq(hdrs_of(b).ip->dst_addr, ip);
    return b;
}

/* Two appliances' data addresses, as the control plane installs them. */
#define NODE_B_IP ip4(198, 18, 1, 200)
#define NODE_C_IP ip4(198, 19, 5, 5) /* behind port 0's gateway */
static const uint8_t node_b_mac[6] = {0x02, 0x0b, 0x0b, 0, 0, 0x01};

/* "mix": two local subscribers (ports 1 and 0) and two remote appliances. */
static void install_mixed_topic(const char *name)
{
    add_loc(name, YARD_DEST_TOPIC, ip4(198, 18, 1, 61), 9601, sub_mac[0], 0);
    add_loc(name, YARD_DEST_TOPIC, ip4(198, 18, 0, 64), 9604, sub_mac[3], 0);
    add_loc(name, YARD_DEST_TOPIC, NODE_B_IP, DATA_PORT, node_b_mac, 2);
    add_loc(name, YARD_DEST_TOPIC, NODE_C_IP, DATA_PORT, gateway_mac, 3);
}

/*
 * Send g to "mix" from port 0 (kind widths as given) and check the four
 * copies: the local ones as MSG with a plain 42-byte header, the two to
 * other appliances as FANOUT with their own prefix; ttl down once.
 */
static void send_mixed(struct msg *g, unsigned arr_bytes, unsigned ver_w, unsigned kind_w,
                       bool udp_cksum)
{
    uint8_t env[2048];
    unsigned kind_off;
    unsigned len = pack_wide(g, arr_bytes, ver_w, kind_w, env, sizeof(env), &kind_off);
    struct rte_mbuf *m = frame(0, env, len);
    if (!udp_cksum)
        hdrs_of(m).udp->dgram_cksum = 0;
    struct copy c;
    keep(&c, m);
    burst1(m);
    const char *what = "MSG to a topic with local and remote locations";
    struct delta d = {0};
    d.events[YARD_EV_RX_PACKETS] = 1;
    d.events[YARD_EV_RX_MESSAGES] = 1;
    d.events[YARD_EV_FANOUT_COPIES] = 4;
    d.events[YARD_EV_ROUTED] = 4;
    d.routed[g->prio] = 4;
    check_counters(&d, what);
    cr_assert_eq(rte_mbuf_refcnt_read(m), 4, "one shared body for four copies");

    struct rte_mbuf *local1, *local0, *remote_b, *remote_c;
    remote_b = take_copy_to(1, g->prio, NODE_B_IP, &local1);
    remote_c = take_copy_to(0, g->prio, NODE_C_IP, &local0);
    assert_all_rings_empty();
    struct sent_as x1 = {1, sub_mac[0], ip4(198, 18, 1, 61), 9601};
    struct sent_as x0 = {0, sub_mac[3], ip4(198, 18, 0, 64), 9604};
    struct sent_as xb = {1, node_b_mac, NODE_B_IP, DATA_PORT};
    struct sent_as xc = {0, gateway_mac, NODE_C_IP, DATA_PORT};
    check_copy_kind(local1, m, &c, &x1, kind_off, YARD_KIND_MSG, false);
    check_copy_kind(local0, m, &c, &x0, kind_off, YARD_KIND_MSG, false);
    check_copy_kind(remote_b, m, &c, &xb, kind_off, YARD_KIND_FANOUT, true);
    check_copy_kind(remote_c, m, &c, &xc, kind_off, YARD_KIND_FANOUT, true);
    /* The remote copies say FANOUT to a parser too. */
    uint8_t flat[2048];
    unsigned flen = chain_bytes(remote_b, flat, sizeof(flat));
    struct yard_envelope e;
    cr_assert_eq(yard_envelope_parse(flat + 42, flen - 42, &e), YARD_PARSE_OK);
    cr_assert_eq(e.kind, YARD_KIND_FANOUT);
    cr_assert_eq(e.ttl, g->ttl - 1, "ttl decremented once, not once per copy");
    cr_assert_eq(rte_pktmbuf_mtod(m, uint8_t *)[42 + kind_off], YARD_KIND_MSG,
                 "the shared payload still says MSG");
    rte_pktmbuf_free(local1);
    rte_pktmbuf_free(local0);
    rte_pktmbuf_free(remote_b);
    rte_pktmbuf_free(remote_c);
    assert_pool_full();
}

Test(forward, topic_copies_to_other_nodes_leave_as_fanout)
{
    install_mixed_topic("mix");
    struct msg g = msg_to("mix", 2, 31337);
    g.body_len = 120;
    send_mixed(&g, 1, 0, 0, true);
}

Test(forward, fanout_copies_in_every_kind_width)
{
    install_mixed_topic("mix");
    static const unsigned widths[] = {0, 1, 2, 4, 8}; /* fixint, cc, cd, ce, cf */
    for (unsigned w = 0; w < 5; w++) {
        struct msg g = msg_to("mix", w % 4, 100 + w);
        send_mixed(&g, 1, 0, widths[w], true);
        send_mixed(&g, 1, widths[w], widths[w], false); /* wide ver too, no UDP checksum */
    }
    /* The longest prefix there is: array32, ver and kind as uint64. */
    struct msg g = msg_to("mix", 1, 7);
    send_mixed(&g, 5, 8, 8, true);
}

Test(forward, fanout_copies_to_a_port_without_chains_are_whole_frames)
{
    yard_dp.ports[1].tx_chains = false;
    add_loc("flatmix", YARD_DEST_TOPIC, NODE_B_IP, DATA_PORT, node_b_mac, 2);
    for (unsigned kind_w = 0; kind_w <= 8; kind_w = kind_w ? kind_w * 2 : 1) {
        struct msg g = msg_to("flatmix", 3, 5);
        uint8_t env[2048];
        unsigned kind_off;
        unsigned len = pack_wide(&g, 3, kind_w, kind_w, env, sizeof(env), &kind_off);
        struct rte_mbuf *m = frame(0, env, len);
        struct copy c;
        keep(&c, m);
        burst1(m);
        struct rte_mbuf *out = take_class(1, 3);
        c.b[42 + kind_off] = YARD_KIND_FANOUT;
        struct sent_as x = {1, node_b_mac, NODE_B_IP, DATA_PORT};
        check_forwarded(out, c.b, c.len, &x);
        cr_assert_eq(out->pool, yt_pool);
        rte_pktmbuf_free(out);
        assert_all_rings_empty();
        assert_pool_full();
    }
}

/* A FANOUT datagram from port rx's host (198.18.rx.100) to dst. */
static struct rte_mbuf *fanout_frame(unsigned rx, const char *dst, unsigned ttl, unsigned kind_w,
                                     unsigned *kind_off)
{
    struct msg g = msg_to(dst, 1, 4040);
    g.kind = YARD_KIND_FANOUT;
    g.ttl = ttl;
    uint8_t env[2048];
    unsigned len = pack_wide(&g, 1, 0, kind_w, env, sizeof(env), kind_off);
    return frame(rx, env, len);
}

Test(forward, fanout_from_a_member_reaches_local_subscribers_only_as_msg)
{
    install_mixed_topic("mix");
    member_add(ip4(198, 18, 0, 100), 2);
    static const unsigned widths[] = {0, 1, 2, 4, 8};
    for (unsigned w = 0; w < 5; w++) {
        unsigned kind_off;
        struct rte_mbuf *m = fanout_frame(0, "mix", 9, widths[w], &kind_off);
        struct copy c;
        keep(&c, m);
        burst1(m);
        struct delta d = {0};
        d.events[YARD_EV_RX_PACKETS] = 1;
        d.events[YARD_EV_RX_MESSAGES] = 1;
        d.events[YARD_EV_FANOUT_COPIES] = 2;
        d.events[YARD_EV_ROUTED] = 2;
        d.routed[1] = 2;
        check_counters(&d, "FANOUT from a member");
        /* Only the two local subscribers: nothing back out to the nodes. */
        struct rte_mbuf *to1 = take_class(1, 1), *to0 = take_class(0, 1);
        assert_all_rings_empty();
        struct sent_as x1 = {1, sub_mac[0], ip4(198, 18, 1, 61), 9601};
        struct sent_as x0 = {0, sub_mac[3], ip4(198, 18, 0, 64), 9604};
        /* Every copy is MSG: the shared body itself was made MSG. */
        check_copy_kind(to1, m, &c, &x1, kind_off, YARD_KIND_MSG, false);
        check_copy_kind(to0, m, &c, &x0, kind_off, YARD_KIND_MSG, false);
        uint8_t flat[2048];
        unsigned flen = chain_bytes(to1, flat, sizeof(flat));
        struct yard_envelope e;
        cr_assert_eq(yard_envelope_parse(flat + 42, flen - 42, &e), YARD_PARSE_OK);
        cr_assert_eq(e.kind, YARD_KIND_MSG, "applications never see kind 7");
        cr_assert_eq(e.ttl, 8);
        rte_pktmbuf_free(to1);
        rte_pktmbuf_free(to0);
        assert_pool_full();
    }
}

Test(forward, fanout_without_local_subscribers_is_no_route)
{
    member_add(ip4(198, 18, 0, 100), 2);
    add_loc("faraway", YARD_DEST_TOPIC, NODE_B_IP, DATA_PORT, node_b_mac, 2);
    unsigned kind_off;
    expect_drop(fanout_frame(0, "faraway", 9, 0, &kind_off), YARD_DROP_NO_ROUTE, true,
                "FANOUT to a topic with remote locations only");
    expect_drop(fanout_frame(0, "orders.eu", 9, 0, &kind_off), YARD_DROP_NO_ROUTE, true,
                "FANOUT to an endpoint");
    expect_drop(fanout_frame(0, "nobody.here", 9, 0, &kind_off), YARD_DROP_NO_ROUTE, true,
                "FANOUT to an unknown name");
    install_mixed_topic("mix");
    expect_drop(fanout_frame(0, "mix", 1, 0, &kind_off), YARD_DROP_TTL_EXPIRED, true,
                "FANOUT whose ttl would reach 0");
}

Test(forward, fanout_from_a_non_member_is_refused)
{
    install_mixed_topic("mix");
    unsigned kind_off;
    expect_drop(fanout_frame(0, "mix", 9, 0, &kind_off), YARD_DROP_FANOUT_NOT_MEMBER, true,
                "FANOUT with no member known");

    member_add(ip4(198, 18, 0, 100), 2);
    member_add(ip4(198, 18, 0, 101), 3);
    expect_drop(fanout_frame(1, "mix", 9, 0, &kind_off), YARD_DROP_FANOUT_NOT_MEMBER, true,
                "FANOUT from a host that is not a member");
    /* Membership is judged before anything else about the message. */
    expect_drop(fanout_frame(1, "nobody.here", 1, 0, &kind_off), YARD_DROP_FANOUT_NOT_MEMBER, true,
                "FANOUT from a non-member, to nothing, with ttl 1");

    /* The member's own FANOUT goes through ... */
    burst1(fanout_frame(0, "mix", 9, 0, &kind_off));
    cr_assert_eq(lc.stats->events[YARD_EV_FANOUT_COPIES] - before.events[YARD_EV_FANOUT_COPIES], 2);
    rte_pktmbuf_free(take_class(1, 1));
    rte_pktmbuf_free(take_class(0, 1));
    assert_all_rings_empty();
    assert_pool_full();

    /* ... until it leaves the cluster. */
    member_del(ip4(198, 18, 0, 100), 2);
    expect_drop(fanout_frame(0, "mix", 9, 0, &kind_off), YARD_DROP_FANOUT_NOT_MEMBER, true,
                "FANOUT after MEMBER_DEL");
}

Test(forward, an_address_stays_a_member_while_any_node_has_it)
{
    install_mixed_topic("mix");
    member_add(ip4(198, 18, 0, 100), 2);
    member_add(ip4(198, 18, 0, 100), 4); /* two instances behind one address */
    member_del(ip4(198, 18, 0, 100), 2);
    unsigned kind_off;
    burst1(fanout_frame(0, "mix", 9, 0, &kind_off));
    cr_assert_eq(lc.stats->drops[YARD_DROP_FANOUT_NOT_MEMBER],
                 before.drops[YARD_DROP_FANOUT_NOT_MEMBER]);
    rte_pktmbuf_free(take_class(1, 1));
    rte_pktmbuf_free(take_class(0, 1));
    member_del(ip4(198, 18, 0, 100), 4);
    expect_drop(fanout_frame(0, "mix", 9, 0, &kind_off), YARD_DROP_FANOUT_NOT_MEMBER, true,
                "FANOUT once neither node has the address");
}

/* ---- Punts: limited per source ---- */

/* n REGISTERs from port rx's host, received at rx_tsc; returns how many were punted. */
static unsigned punt_burst_of(unsigned rx, unsigned n, uint64_t rx_tsc)
{
    struct rte_mbuf *m[YARD_BURST_MAX];
    for (unsigned i = 0; i < n; i++) {
        struct msg g = msg_to("svc", 0, i);
        g.kind = YARD_KIND_REGISTER;
        m[i] = msg_frame(rx, &g);
    }
    burst(m, n, rx_tsc);
    struct yard_punt rec;
    unsigned got = 0;
    while (take_punt(&rec)) {
        cr_assert_eq(rec.src_ipv4, ip4(198, 18, rx, 100));
        got++;
    }
    cr_assert_eq(lc.stats->events[YARD_EV_PUNTED] - before.events[YARD_EV_PUNTED], got);
    cr_assert_eq(lc.stats->drops[YARD_DROP_PUNT_RATE_LIMITED] -
                     before.drops[YARD_DROP_PUNT_RATE_LIMITED],
                 n - got, "every message not punted is counted as punt_rate_limited");
    return got;
}

Test(forward, punts_are_rate_limited_per_source)
{
    yard_dp.cfg.punt_rate_per_source = 2; /* per second */
    yard_dp.cfg.punt_burst = 5;
    yard_forward_init();
    uint64_t t0 = 1000000, hz = yard_dp.tsc_hz;

    cr_assert_eq(punt_burst_of(0, 8, t0), 5, "a burst of punt_burst, no more");
    cr_assert_eq(punt_burst_of(1, 8, t0), 5, "another source has its own bucket");
    cr_assert_eq(punt_burst_of(0, 3, t0 + hz / 4), 0, "a quarter second refills nothing");
    cr_assert_eq(punt_burst_of(0, 3, t0 + hz), 2, "one second later: two more (2/s)");
    cr_assert_eq(punt_burst_of(0, 9, t0 + 10 * hz), 5, "a long pause refills at most the burst");
    assert_pool_full();

    /* 0: no limit. */
    yard_dp.cfg.punt_rate_per_source = 0;
    yard_forward_init();
    cr_assert_eq(punt_burst_of(0, 40, t0 + 10 * hz), 40);
    cr_assert_eq(punt_burst_of(0, 40, t0 + 10 * hz), 40);
    assert_pool_full();
}
