/*
 * test_txq.c - class queue admission and the transmit scheduler, on a real
 * DPDK port.
 *
 * The port is the ring PMD built with rte_eth_from_ring() over a ring this
 * test owns: what the "NIC" accepted can be read back in order, and a full
 * ring is a NIC transmit queue that refuses packets. Each mbuf carries a
 * sequence number and its class in its payload, and the pool has no cache,
 * so its free count says whether any mbuf was lost.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dp.h"
#include "dp_fixture.h"
#include "txq.h"

struct yard_dp yard_dp; /* defined by main.c in the appliance */

#define POOL_SIZE 4095
#define NIC_SIZE  4096 /* big enough to take everything unless a test shrinks it */

static struct rte_mempool *pool;
static struct rte_ring *nic; /* the port's transmit ring, read back by the tests */
static uint16_t port_id;
static struct yard_lcore_stats stats;
static unsigned pool_start;

/* A port whose transmit queue holds `nic_size` packets. */
static void make_port(unsigned nic_size)
{
    nic = rte_ring_create("txq_nic", nic_size, SOCKET_ID_ANY,
                          RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
    cr_assert_not_null(nic, "rte_ring_create: %s", rte_strerror(rte_errno));
    int id = rte_eth_from_ring(nic);
    cr_assert_geq(id, 0, "rte_eth_from_ring: %s", rte_strerror(rte_errno));
    port_id = (uint16_t)id;
    /* The ring PMD's queues exist already; configuring just attaches them,
     * but ethdev will not start a port that was never configured. */
    struct rte_eth_conf conf = {0};
    int ret = rte_eth_dev_configure(port_id, 1, 1, &conf);
    cr_assert_eq(ret, 0, "rte_eth_dev_configure: %s", rte_strerror(-ret));
    ret = rte_eth_rx_queue_setup(port_id, 0, 64, SOCKET_ID_ANY, NULL, pool);
    cr_assert_eq(ret, 0, "rte_eth_rx_queue_setup: %s", rte_strerror(-ret));
    ret = rte_eth_tx_queue_setup(port_id, 0, 64, SOCKET_ID_ANY, NULL);
    cr_assert_eq(ret, 0, "rte_eth_tx_queue_setup: %s", rte_strerror(-ret));
    ret = rte_eth_dev_start(port_id);
    cr_assert_eq(ret, 0, "rte_eth_dev_start: %s", rte_strerror(-ret));
}

static void setup(void)
{
    yard_test_eal_start("txq", NULL);
    yard_dp.tsc_hz = rte_get_tsc_hz();
    yard_dp.ns_per_tsc_q32 = (uint64_t)((1000000000.0 * 4294967296.0) / (double)yard_dp.tsc_hz);
    pool = rte_pktmbuf_pool_create("txq_pool", POOL_SIZE, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   SOCKET_ID_ANY);
    cr_assert_not_null(pool, "rte_pktmbuf_pool_create: %s", rte_strerror(rte_errno));
    pool_start = rte_mempool_avail_count(pool);
    memset(&stats, 0, sizeof(stats));
}

static void teardown(void)
{
    if (nic != NULL) {
        rte_eth_dev_stop(port_id);
        rte_eth_dev_close(port_id);
    }
    yard_test_eal_stop();
}

TestSuite(txq, .init = setup, .fini = teardown, .timeout = 60);

struct tag {
    uint32_t seq;
    uint32_t cls;
};

static struct rte_mbuf *packet(uint32_t seq, unsigned cls)
{
    struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
    cr_assert_not_null(m, "pool empty at seq %u", seq);
    struct tag *t = (struct tag *)rte_pktmbuf_append(m, 64);
    t->seq = seq;
    t->cls = cls;
    m->hash.usr = (uint32_t)rte_rdtsc();
    return m;
}

static struct tag tag_of(const struct rte_mbuf *m)
{
    return *rte_pktmbuf_mtod(m, const struct tag *);
}

/* Make n packets of class cls numbered from *seq and admit them. */
static unsigned admit(struct yard_txq *q, unsigned cls, unsigned n, uint32_t *seq, unsigned *reason)
{
    struct rte_mbuf *m[256];
    cr_assert_leq(n, 256);
    for (unsigned i = 0; i < n; i++)
        m[i] = packet((*seq)++, cls);
    unsigned queued = yard_txq_admit(q, cls, m, n, reason);
    cr_assert_leq(queued, n);
    rte_pktmbuf_free_bulk(m + queued, n - queued); /* refused: the caller frees them */
    return queued;
}

/* Everything the NIC took since the last call, in order; mbufs freed. */
static unsigned nic_take(struct tag *out, unsigned max)
{
    struct rte_mbuf *m;
    unsigned n = 0;
    while (rte_ring_sc_dequeue(nic, (void **)&m) == 0) {
        cr_assert_lt(n, max, "the NIC got more than expected");
        out[n++] = tag_of(m);
        rte_pktmbuf_free(m);
    }
    return n;
}

static unsigned drain(struct yard_txq *q, unsigned burst, unsigned max_bursts)
{
    struct yard_txq *qs[1] = {q};
    return yard_txq_drain(qs, 1, port_id, 0, burst, max_bursts, &stats);
}

Test(txq, admission_watermarks)
{
    make_port(NIC_SIZE);
    struct yard_txq q;
    cr_assert_eq(yard_txq_init(&q, "tq", 64, SOCKET_ID_ANY), 0);
    uint32_t seq = 0;
    unsigned reason;

    /* Class 3 stops at half the ring size of backlog... */
    cr_assert_eq(admit(&q, 3, 40, &seq, &reason), 32);
    cr_assert_eq(reason, YARD_DROP_SHED);
    cr_assert_eq(yard_txq_backlog(&q), 32);
    /* ...class 2 at three quarters... */
    cr_assert_eq(admit(&q, 2, 20, &seq, &reason), 16);
    cr_assert_eq(reason, YARD_DROP_SHED);
    /* ...class 1 at the full size. */
    cr_assert_eq(admit(&q, 1, 20, &seq, &reason), 16);
    cr_assert_eq(reason, YARD_DROP_SHED);
    cr_assert_eq(yard_txq_backlog(&q), 64);
    for (unsigned cls = 1; cls <= 3; cls++) {
        cr_assert_eq(admit(&q, cls, 1, &seq, &reason), 0, "class %u over its watermark", cls);
        cr_assert_eq(reason, YARD_DROP_SHED);
    }

    /* Class 0 ignores the backlog of the others: only its own ring limits it. */
    cr_assert_eq(admit(&q, 0, 70, &seq, &reason), 64);
    cr_assert_eq(reason, YARD_DROP_QUEUE_FULL);
    cr_assert_eq(admit(&q, 0, 1, &seq, &reason), 0);
    cr_assert_eq(reason, YARD_DROP_QUEUE_FULL);
    cr_assert_eq(yard_txq_backlog(&q), 128);

    /* Admitted packets are the prefix of each offer: check what comes out. */
    unsigned sent = drain(&q, 32, 1000);
    cr_assert_eq(sent, 128);
    struct tag got[256];
    cr_assert_eq(nic_take(got, 256), 128);
    unsigned per_class[4] = {0};
    for (unsigned i = 0; i < 128; i++)
        per_class[got[i].cls]++;
    cr_assert_eq(per_class[0], 64);
    cr_assert_eq(per_class[1], 16);
    cr_assert_eq(per_class[2], 16);
    cr_assert_eq(per_class[3], 32);
    for (unsigned i = 0; i < 64; i++)
        cr_assert_eq(got[i].seq, 40 + 20 + 20 + 3 + i, "class 0 goes first, in order");

    /* Empty again: one below a watermark admits exactly one more. */
    cr_assert_eq(yard_txq_backlog(&q), 0);
    cr_assert_eq(admit(&q, 1, 31, &seq, &reason), 31);
    cr_assert_eq(admit(&q, 3, 5, &seq, &reason), 1, "backlog 31, class 3 sheds at 32");
    cr_assert_eq(admit(&q, 2, 20, &seq, &reason), 16, "backlog 32, class 2 sheds at 48");
    cr_assert_eq(admit(&q, 0, 3, &seq, &reason), 3);
    cr_assert_eq(admit(&q, 1, 20, &seq, &reason), 13, "backlog 51, class 1 sheds at 64");

    yard_txq_free(&q);
    nic_take(got, 256);
    cr_assert_eq(rte_mempool_avail_count(pool), pool_start, "every mbuf back in the pool");
}

/* Expect `n` packets of class cls with consecutive seqs from *next. */
static unsigned expect_run(const struct tag *got, unsigned at, unsigned n, unsigned cls,
                           uint32_t *next)
{
    for (unsigned i = 0; i < n; i++) {
        cr_assert_eq(got[at + i].cls, cls, "packet %u: class %u, expected class %u", at + i,
                     got[at + i].cls, cls);
        cr_assert_eq(got[at + i].seq, next[cls], "packet %u (class %u): seq %u, expected %u",
                     at + i, cls, got[at + i].seq, next[cls]);
        next[cls]++;
    }
    return at + n;
}

Test(txq, drain_order_strict_then_weighted)
{
    make_port(NIC_SIZE);
    struct yard_txq q;
    cr_assert_eq(yard_txq_init(&q, "tq", 1024, SOCKET_ID_ANY), 0);
    uint32_t seq = 0, first[4];
    unsigned reason;
    /* Low classes first, so that arrival order alone would put them ahead. */
    first[3] = seq;
    cr_assert_eq(admit(&q, 3, 200, &seq, &reason), 200);
    first[2] = seq;
    cr_assert_eq(admit(&q, 2, 200, &seq, &reason), 200);
    first[1] = seq;
    cr_assert_eq(admit(&q, 1, 100, &seq, &reason), 100);
    first[0] = seq;
    cr_assert_eq(admit(&q, 0, 20, &seq, &reason), 20);

    cr_assert_eq(drain(&q, 8, 1000), 520);
    struct tag got[600];
    cr_assert_eq(nic_take(got, 600), 520);

    uint32_t next[4] = {first[0], first[1], first[2], first[3]};
    unsigned at = 0;
    /* Class 0 entirely, then rounds of 4 bursts of class 1, 2 of class 2 and
     * 1 of class 3 (8 packets a burst) while all three have packets. */
    at = expect_run(got, at, 20, 0, next);
    for (unsigned round = 0; round < 3; round++) {
        at = expect_run(got, at, 32, 1, next);
        at = expect_run(got, at, 16, 2, next);
        at = expect_run(got, at, 8, 3, next);
    }
    /* Class 1 has 4 left: it sends them and yields its turn. */
    at = expect_run(got, at, 4, 1, next);
    at = expect_run(got, at, 16, 2, next);
    at = expect_run(got, at, 8, 3, next);
    /* Then 2:1 between classes 2 and 3 until class 2 runs out. */
    while (next[2] < first[2] + 200) {
        unsigned n2 = first[2] + 200 - next[2] < 16 ? first[2] + 200 - next[2] : 16;
        at = expect_run(got, at, n2, 2, next);
        at = expect_run(got, at, 8, 3, next);
    }
    at = expect_run(got, at, first[3] + 200 - next[3], 3, next);
    cr_assert_eq(at, 520);
    cr_assert_eq(yard_txq_backlog(&q), 0);

    yard_txq_free(&q);
    cr_assert_eq(rte_mempool_avail_count(pool), pool_start);
}

Test(txq, drain_stops_after_max_bursts)
{
    make_port(NIC_SIZE);
    struct yard_txq q;
    cr_assert_eq(yard_txq_init(&q, "tq", 1024, SOCKET_ID_ANY), 0);
    uint32_t seq = 0;
    unsigned reason;
    admit(&q, 3, 100, &seq, &reason);
    admit(&q, 0, 14, &seq, &reason);
    cr_assert_eq(drain(&q, 4, 3), 12, "3 bursts of 4, all of class 0");
    cr_assert_eq(yard_txq_backlog(&q), 102);
    struct tag got[200];
    cr_assert_eq(nic_take(got, 200), 12);
    for (unsigned i = 0; i < 12; i++)
        cr_assert_eq(got[i].cls, 0);
    cr_assert_eq(drain(&q, 16, 2), 2 + 16, "the rest of class 0, then one burst of class 3");
    cr_assert_eq(nic_take(got, 200), 18);
    cr_assert_eq(got[1].cls, 0);
    cr_assert_eq(got[2].cls, 3);
    cr_assert_eq(yard_txq_backlog(&q), 84);
    yard_txq_free(&q);
    cr_assert_eq(rte_mempool_avail_count(pool), pool_start);
}

Test(txq, two_queue_sets_share_a_port)
{
    /* Pipeline mode: one tx lcore drains the sets of several workers. */
    make_port(NIC_SIZE);
    struct yard_txq a, b;
    cr_assert_eq(yard_txq_init(&a, "tqa", 256, SOCKET_ID_ANY), 0);
    cr_assert_eq(yard_txq_init(&b, "tqb", 256, SOCKET_ID_ANY), 0);
    uint32_t seq = 0;
    unsigned reason;
    uint32_t a1 = seq;
    admit(&a, 1, 50, &seq, &reason);
    uint32_t b1 = seq;
    admit(&b, 1, 50, &seq, &reason);
    uint32_t b0 = seq;
    admit(&b, 0, 5, &seq, &reason);
    uint32_t a0 = seq;
    admit(&a, 0, 5, &seq, &reason);

    struct yard_txq *qs[2] = {&a, &b};
    cr_assert_eq(yard_txq_drain(qs, 2, port_id, 0, 8, 1000, &stats), 110);
    struct tag got[200];
    cr_assert_eq(nic_take(got, 200), 110);
    /* Class 0 of every set before any class 1; each set keeps its order. */
    for (unsigned i = 0; i < 10; i++)
        cr_assert_eq(got[i].cls, 0, "packet %u", i);
    uint32_t na0 = a0, nb0 = b0, na1 = a1, nb1 = b1;
    unsigned from_a_first_round = 0;
    for (unsigned i = 0; i < 110; i++) {
        uint32_t s = got[i].seq;
        if (s >= a0 && s < a0 + 5)
            cr_assert_eq(s, na0++);
        else if (s >= b0 && s < b0 + 5)
            cr_assert_eq(s, nb0++);
        else if (s >= a1 && s < a1 + 50) {
            cr_assert_eq(s, na1++);
            from_a_first_round += i < 10 + 32;
        } else
            cr_assert_eq(s, nb1++);
    }
    cr_assert_eq(na1 - a1 + nb1 - b1, 100);
    /* Weights are per set: the first round takes 4 bursts from each. */
    cr_assert_eq(from_a_first_round, 32);
    yard_txq_free(&a);
    yard_txq_free(&b);
    cr_assert_eq(rte_mempool_avail_count(pool), pool_start);
}

Test(txq, refused_packets_stay_queued_in_order)
{
    make_port(16);
    struct yard_txq q;
    cr_assert_eq(yard_txq_init(&q, "tq", 256, SOCKET_ID_ANY), 0);
    uint32_t seq = 0;
    unsigned reason;
    uint32_t first1 = seq;
    admit(&q, 1, 60, &seq, &reason);
    uint32_t first2 = seq;
    admit(&q, 2, 30, &seq, &reason);
    uint32_t first0 = seq;
    admit(&q, 0, 5, &seq, &reason);

    struct tag all[200];
    unsigned total = 0, calls = 0;
    cr_assert_eq(drain(&q, 8, 100), 16, "the NIC takes 16");
    cr_assert_eq(drain(&q, 8, 100), 0, "and nothing more until it has room");
    cr_assert_eq(yard_txq_backlog(&q), 95 - 16, "nothing lost while the NIC was full");
    while (yard_txq_backlog(&q) > 0 && calls++ < 100) {
        total += nic_take(all + total, 200 - total);
        drain(&q, 8, 100);
    }
    total += nic_take(all + total, 200 - total);
    cr_assert_eq(total, 95, "every packet sent exactly once");

    uint32_t next0 = first0, next1 = first1, next2 = first2;
    for (unsigned i = 0; i < total; i++) {
        uint32_t s = all[i].seq;
        if (all[i].cls == 0)
            cr_assert_eq(s, next0++, "class 0 in order");
        else if (all[i].cls == 1)
            cr_assert_eq(s, next1++, "class 1 in order (packet %u)", i);
        else
            cr_assert_eq(s, next2++, "class 2 in order (packet %u)", i);
    }
    for (unsigned i = 0; i < 5; i++)
        cr_assert_eq(all[i].cls, 0);
    cr_assert_eq(next1 - first1, 60);
    cr_assert_eq(next2 - first2, 30);
    cr_assert_eq(stats.events[YARD_EV_TX_PACKETS], 95, "refused packets are not counted as sent");
    yard_txq_free(&q);
    cr_assert_eq(rte_mempool_avail_count(pool), pool_start);
}

Test(txq, counters_and_latency_per_sent_packet)
{
    make_port(32);
    struct yard_txq q;
    cr_assert_eq(yard_txq_init(&q, "tq", 256, SOCKET_ID_ANY), 0);
    uint32_t seq = 0;
    unsigned reason;
    unsigned n[4] = {7, 20, 11, 9};
    for (unsigned c = 0; c < 4; c++)
        admit(&q, c, n[c], &seq, &reason);

    /* Received "1 ms ago". */
    uint64_t ago = rte_get_tsc_hz() / 1000;
    struct rte_mbuf *m[64];
    for (unsigned c = 0; c < 4; c++) {
        unsigned k = rte_ring_dequeue_burst(q.cls[c], (void **)m, 64, NULL);
        uint32_t stamp = (uint32_t)(rte_rdtsc() - ago);
        for (unsigned i = 0; i < k; i++)
            m[i]->hash.usr = stamp;
        rte_ring_enqueue_burst(q.cls[c], (void **)m, k, NULL);
    }

    unsigned first = drain(&q, 8, 100);
    cr_assert_eq(first, 32, "the NIC holds 32");
    cr_assert_eq(stats.latency.count, 32, "one latency sample per packet sent");
    cr_assert_eq(stats.events[YARD_EV_TX_PACKETS], 32);
    struct tag got[64];
    unsigned rest = 0;
    for (unsigned call = 0; call < 10 && yard_txq_backlog(&q) > 0; call++) {
        nic_take(got, 64);
        rest += drain(&q, 8, 100);
    }
    cr_assert_eq(rest, 47 - 32);
    nic_take(got, 64);

    for (unsigned c = 0; c < 4; c++)
        cr_assert_eq(stats.class_tx[c], n[c], "class %u", c);
    cr_assert_eq(stats.events[YARD_EV_TX_PACKETS], 47);
    cr_assert_eq(stats.latency.count, 47);
    uint64_t buckets = 0;
    for (unsigned b = 0; b < YARD_HIST_BUCKETS; b++)
        buckets += stats.latency.bucket[b];
    cr_assert_eq(buckets, 47);
    for (unsigned b = 0; b < yard_hist_bucket(1000000); b++)
        cr_assert_eq(stats.latency.bucket[b], 0, "nothing under 1 ms (bucket %u)", b);
    cr_assert_lt(stats.latency.max_ns, 1000000000ull, "under a second");
    cr_assert_geq(stats.latency.sum_ns, 47ull * 1000000);
    yard_txq_free(&q);
    cr_assert_eq(rte_mempool_avail_count(pool), pool_start);
}

Test(txq, one_drain_sends_everything_when_the_nic_has_room)
{
    /* With room in the NIC and bursts to spare, nothing is left behind for
     * the next call (where an idle worker might first back off and sleep). */
    make_port(NIC_SIZE);
    struct yard_txq q;
    cr_assert_eq(yard_txq_init(&q, "tq", 256, SOCKET_ID_ANY), 0);
    uint32_t seq = 0;
    unsigned reason;
    uint64_t mix = 7;
    for (unsigned trial = 0; trial < 200; trial++) {
        unsigned n[4], total = 0;
        for (unsigned c = 0; c < 4; c++) {
            mix = mix * 6364136223846793005ull + 1442695040888963407ull;
            n[c] = (unsigned)(mix >> 33) % 20;
            cr_assert_eq(admit(&q, c, n[c], &seq, &reason), n[c]);
            total += n[c];
        }
        unsigned sent = drain(&q, 8, 64);
        struct tag got[128];
        cr_assert_eq(nic_take(got, 128), sent);
        cr_assert_eq(sent, total,
                     "trial %u: queued %u/%u/%u/%u (classes 0-3), burst 8: one drain sent %u of "
                     "%u",
                     trial, n[0], n[1], n[2], n[3], sent, total);
    }
    yard_txq_free(&q);
    cr_assert_eq(rte_mempool_avail_count(pool), pool_start);
}
