/*
 * loadgen_worker.c - the load generator's one busy lcore: send, receive, time.
 *
 * Sending and receiving share one loop on one lcore so the send timestamp
 * stored in each envelope's id and the receive timestamp come from the same
 * TSC, with no cross-core clock question. A burst is stamped with one TSC
 * read taken just before it is built: its frames leave in one tx_burst, so
 * that read is their send time to within the copy loop, and one read per
 * frame would cost more than the copy.
 *
 * The rate is held with a token bucket on the TSC, refilled every loop and
 * 1 ms deep (at least two bursts): a stall of the worker shorter than that
 * (the scheduler's doing, on a busy machine) is made up, a longer one is not
 * paid back with a flood. Frames go out a full burst at a time, or what 10 us
 * have earned at low rates, since a doorbell per frame (memif or NIC) would
 * cap the rate far below what a router takes. Frames the port refuses (its
 * ring is full) are offered again before any new one is built, keeping their
 * timestamp: the rate falls only if the router stays behind, and the wait is
 * part of their round trip, as it would be for a real sender.
 *
 * By default the loop spins, like any poll-mode sender. With
 * --idle-sleep-us it sleeps after a few dozen loops that neither sent nor
 * received, so at modest rates it leaves its CPU to a process that shares it
 * (on a 2-CPU machine: the control plane); what arrives meanwhile waits in
 * the port's ring, which adds up to the sleep to measured round trips.
 */
#include "loadgen.h"

#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include <sys/prctl.h>
#include <time.h>

#include "parse.h"

#define RX_BURST 64
/* Empty loops before an idle sleep (--idle-sleep-us): a few microseconds of
 * polling, so a burst that is on its way is not met by a sleep. */
#define IDLE_SPIN 64

/* Counters the main lcore reads while the worker runs. */
#define PUBLISH(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)

/* Worker-local copies; published to the shared struct once per loop. */
struct local {
    struct yard_lg_counters c;
    uint64_t credit;     /* token bucket, in frames x tsc_hz */
    uint64_t credit_cap; /* its depth */
    uint64_t last_tsc;
    uint64_t last_send_tsc;
    uint64_t batch_wait_tsc; /* longest wait for a full burst's worth of credit */
    unsigned pos;            /* next schedule slot */
    double ns_per_tsc;
    uint64_t max_rtt_tsc; /* an id older than this is no send time of ours */
    /* Frames built but not yet taken by the port, oldest first. They keep
     * their send time, so the wait shows in their round trip. */
    struct rte_mbuf *pending[256];
    const struct yard_lg_template *pending_tmpl[256];
    unsigned nb_pending;
};

static void publish(struct yard_lg_worker *w, const struct yard_lg_counters *c)
{
    PUBLISH(w->c.sent, c->sent);
    PUBLISH(w->c.sent_unknown, c->sent_unknown);
    PUBLISH(w->c.received, c->received);
    for (unsigned k = 0; k < YARD_LG_CLASSES; k++) {
        PUBLISH(w->c.sent_class[k], c->sent_class[k]);
        PUBLISH(w->c.received_class[k], c->received_class[k]);
    }
    PUBLISH(w->c.rx_bad_envelope, c->rx_bad_envelope);
    PUBLISH(w->c.rx_bad_id, c->rx_bad_id);
    PUBLISH(w->c.rx_other, c->rx_other);
    PUBLISH(w->c.arp_replies, c->arp_replies);
    PUBLISH(w->c.tx_full, c->tx_full);
    PUBLISH(w->c.alloc_fail, c->alloc_fail);
    PUBLISH(w->c.rx_ack, c->rx_ack);
    PUBLISH(w->c.rx_nack, c->rx_nack);
    PUBLISH(w->c.rx_fanout, c->rx_fanout);
    PUBLISH(w->c.idle_sleeps, c->idle_sleeps);
    PUBLISH(w->c.tx_start_tsc, c->tx_start_tsc);
    PUBLISH(w->c.tx_end_tsc, c->tx_end_tsc);
}

/* How many frames the bucket allows now (0..burst). */
static unsigned tokens(struct yard_lg_worker *w, struct local *l, uint64_t now)
{
    unsigned burst = w->opts->burst;
    if (w->opts->rate_pps == 0)
        return burst;
    uint64_t dt = now - l->last_tsc;
    l->last_tsc = now;
    if (dt > w->tsc_hz)
        dt = w->tsc_hz;
    uint64_t cap = l->credit_cap;
    l->credit += dt * w->opts->rate_pps;
    if (l->credit > cap)
        l->credit = cap;
    uint64_t n = l->credit / w->tsc_hz;
    if (n == 0 || (n < burst && now - l->last_send_tsc < l->batch_wait_tsc))
        return 0; /* let a burst build up: one tx_burst per frame costs more than the frame */
    if (n > burst)
        n = burst;
    l->credit -= n * w->tsc_hz;
    l->last_send_tsc = now;
    return (unsigned)n;
}

/* Count frames the port took. */
static void account_sent(struct local *l, const struct yard_lg_template *const *tmpl, unsigned k)
{
    l->c.sent += k;
    for (unsigned i = 0; i < k; i++) {
        l->c.sent_class[tmpl[i]->prio]++;
        l->c.sent_unknown += !tmpl[i]->known;
    }
}

/* Offer the waiting frames to the port; returns how many it took. */
static unsigned flush_pending(struct yard_lg_worker *w, struct local *l)
{
    uint16_t k = rte_eth_tx_burst(w->port_id, 0, l->pending, (uint16_t)l->nb_pending);
    account_sent(l, l->pending_tmpl, k);
    if (k && k < l->nb_pending) {
        memmove(l->pending, l->pending + k, (l->nb_pending - k) * sizeof(l->pending[0]));
        memmove(l->pending_tmpl, l->pending_tmpl + k,
                (l->nb_pending - k) * sizeof(l->pending_tmpl[0]));
    }
    l->nb_pending -= k;
    return k;
}

/*
 * Prefetch the frames of the next n schedule slots. With a million names the
 * templates are far apart in memory; fetched one burst ahead, their misses
 * overlap each other and the current burst's transmit instead of stalling
 * the copy one by one. The frame's address is computed from its index, so
 * no template needs loading first.
 */
static void prefetch_ahead(const struct yard_lg_templates *t, unsigned pos, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t idx = t->schedule[pos];
        if (++pos == t->schedule_len)
            pos = 0;
        const uint8_t *d = t->arena + (size_t)idx * t->stride;
        rte_prefetch0(&t->tmpl[idx]);
        rte_prefetch0(d);
        rte_prefetch0(d + RTE_CACHE_LINE_SIZE);
    }
}

static void send_burst(struct yard_lg_worker *w, struct local *l, unsigned n)
{
    const struct yard_lg_templates *t = w->templates;

    if (rte_pktmbuf_alloc_bulk(w->pool, l->pending, n) != 0) {
        l->c.alloc_fail += n;
        return;
    }
    uint64_t now = rte_rdtsc();
    for (unsigned i = 0; i < n; i++) {
        const struct yard_lg_template *tp = &t->tmpl[t->schedule[l->pos]];
        if (++l->pos == t->schedule_len)
            l->pos = 0;
        struct rte_mbuf *m = l->pending[i];
        uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
        rte_memcpy(d, tp->data, tp->info.len);
        yard_bench_frame_set_id(d, &tp->info, now);
        m->data_len = tp->info.len;
        m->pkt_len = tp->info.len;
        l->pending_tmpl[i] = tp;
    }
    l->nb_pending = n;
    prefetch_ahead(t, l->pos, w->opts->burst);
    l->c.tx_full += n - flush_pending(w, l);
}

/* Turn an ARP request for our address into the reply, in place. */
static int arp_answer(struct yard_lg_worker *w, struct rte_mbuf *m)
{
    if (rte_pktmbuf_data_len(m) < sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr))
        return 0;
    struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
    struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
    if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
        arp->arp_data.arp_tip != w->opts->src_ip)
        return 0;
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    arp->arp_data.arp_tha = arp->arp_data.arp_sha;
    arp->arp_data.arp_tip = arp->arp_data.arp_sip;
    memcpy(&arp->arp_data.arp_sha, w->mac, 6);
    arp->arp_data.arp_sip = w->opts->src_ip;
    eth->dst_addr = eth->src_addr;
    memcpy(&eth->src_addr, w->mac, 6);
    return 1;
}

/* An envelope routed back to us (or a reply to our REGISTER): count it and
 * time it. */
static void receive_envelope(struct yard_lg_worker *w, struct local *l, const uint8_t *p,
                             uint32_t len, uint64_t now, unsigned port_slot)
{
    struct yard_envelope env;
    if (yard_envelope_parse(p, len, &env) != YARD_PARSE_OK) {
        l->c.rx_bad_envelope++;
        return;
    }
    if (env.id > now || now - env.id > l->max_rtt_tsc) {
        l->c.rx_bad_id++;
        return;
    }
    yard_hist_record(&w->rtt, (uint64_t)((double)(now - env.id) * l->ns_per_tsc));
    l->c.received++;
    l->c.received_class[env.prio & (YARD_LG_CLASSES - 1)]++;
    l->c.rx_ack += env.kind == YARD_KIND_ACK;
    l->c.rx_nack += env.kind == YARD_KIND_NACK;
    l->c.rx_fanout += env.kind == YARD_KIND_FANOUT;
    w->rx_port[port_slot]++;
}

static unsigned receive_burst(struct yard_lg_worker *w, struct local *l)
{
    struct rte_mbuf *pkts[RX_BURST], *replies[RX_BURST];
    uint16_t n = rte_eth_rx_burst(w->port_id, 0, pkts, RX_BURST);
    if (n == 0)
        return 0;
    uint64_t now = rte_rdtsc();
    unsigned nb_free = 0, nb_reply = 0;
    const unsigned first_port = w->opts->src_port;
    const unsigned nb_ports = w->opts->topic[0] ? w->opts->subscribers : 1;
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *m = pkts[i];
        const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
        uint32_t dlen = rte_pktmbuf_data_len(m);
        const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)d;
        if (dlen >= sizeof(*eth) && eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) &&
            arp_answer(w, m)) {
            replies[nb_reply++] = m;
            continue;
        }
        pkts[nb_free++] = m;
        const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
        if (dlen < YARD_BENCH_HDR_LEN || eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
            ip->next_proto_id != IPPROTO_UDP) {
            l->c.rx_other++;
            continue;
        }
        uint32_t ihl = (ip->version_ihl & 0x0f) * 4u;
        const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)((const uint8_t *)ip + ihl);
        uint32_t udp_off = sizeof(*eth) + ihl;
        /* Our ports: --src-port, and with --subscribers the ones after it. */
        unsigned slot = (unsigned)(rte_be_to_cpu_16(udp->dst_port) - first_port);
        if (ihl < 20 || udp_off + sizeof(*udp) > dlen || slot >= nb_ports) {
            l->c.rx_other++;
            continue;
        }
        uint32_t udp_len = rte_be_to_cpu_16(udp->dgram_len);
        if (udp_len < sizeof(*udp) || udp_off + udp_len > dlen) {
            l->c.rx_bad_envelope++;
            continue;
        }
        receive_envelope(w, l, (const uint8_t *)(udp + 1), udp_len - (uint32_t)sizeof(*udp), now,
                         slot);
    }
    if (nb_reply) {
        uint16_t k = rte_eth_tx_burst(w->port_id, 0, replies, (uint16_t)nb_reply);
        l->c.arp_replies += k;
        if (k < nb_reply)
            rte_pktmbuf_free_bulk(&replies[k], nb_reply - k);
    }
    if (nb_free)
        rte_pktmbuf_free_bulk(pkts, nb_free);
    return n;
}

/* Sleep instead of spinning (--idle-sleep-us), after IDLE_SPIN empty loops. */
static void idle_sleep(struct yard_lg_worker *w, struct local *l)
{
    struct timespec ts = {0, (long)w->opts->idle_sleep_us * 1000L};
    nanosleep(&ts, NULL);
    l->c.idle_sleeps++;
}

int yard_lg_worker_main(void *arg)
{
    struct yard_lg_worker *w = arg;
    struct local l = {
        .ns_per_tsc = 1e9 / (double)w->tsc_hz,
        .max_rtt_tsc = 60 * w->tsc_hz,
        .batch_wait_tsc = w->tsc_hz / 100000, /* 10 us */
    };
    uint64_t depth = w->opts->rate_pps / 1000; /* 1 ms of sending */
    if (depth < 2ull * w->opts->burst)
        depth = 2ull * w->opts->burst;
    l.credit_cap = depth * w->tsc_hz;
    if (w->opts->idle_sleep_us)
        prctl(PR_SET_TIMERSLACK, 1000UL); /* 1 us: sleep what was asked, not 50 us more */
    unsigned idle_loops = 0;
    uint64_t drain_end = 0;
    l.last_tsc = l.c.tx_start_tsc = rte_rdtsc();
    for (;;) {
        uint64_t now = rte_rdtsc();
        unsigned sent = 0;
        if (drain_end == 0) {
            if (w->stop_tx) {
                l.c.tx_end_tsc = now;
                drain_end = now + (uint64_t)(w->opts->drain_s * (double)w->tsc_hz);
            } else if (l.nb_pending) {
                sent = flush_pending(w, &l);
            } else {
                unsigned n = tokens(w, &l, now);
                if (n) {
                    send_burst(w, &l, n);
                    sent = n;
                }
            }
        } else if (now >= drain_end) {
            break;
        }
        unsigned got = receive_burst(w, &l);
        publish(w, &l.c);
        if (sent || got) {
            idle_loops = 0;
        } else if (w->opts->idle_sleep_us && ++idle_loops >= IDLE_SPIN) {
            idle_sleep(w, &l);
        }
    }
    if (l.nb_pending)
        rte_pktmbuf_free_bulk(l.pending, l.nb_pending);
    publish(w, &l.c);
    return 0;
}
