/*
 * loadgen_stats.c - yard-loadgen's progress lines and final summary.
 *
 * The main lcore copies the worker's counters and RTT histogram once per
 * interval; a line is the difference of two copies, so it reports that
 * interval alone. The histogram copy is taken while the worker writes it: a
 * bucket or two may be off by the messages of that instant, which a progress
 * line can afford; the summary is taken after the worker has stopped.
 */
#include "loadgen.h"

#include <string.h>

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void yard_lg_snapshot_take(const struct yard_lg_worker *w, double t_s, struct yard_lg_snapshot *s)
{
    const struct yard_lg_counters *c = &w->c;
    s->t_s = t_s;
    s->c.sent = LOAD(c->sent);
    s->c.sent_unknown = LOAD(c->sent_unknown);
    s->c.received = LOAD(c->received);
    for (unsigned k = 0; k < YARD_LG_CLASSES; k++) {
        s->c.sent_class[k] = LOAD(c->sent_class[k]);
        s->c.received_class[k] = LOAD(c->received_class[k]);
    }
    s->c.rx_bad_envelope = LOAD(c->rx_bad_envelope);
    s->c.rx_bad_id = LOAD(c->rx_bad_id);
    s->c.rx_other = LOAD(c->rx_other);
    s->c.arp_replies = LOAD(c->arp_replies);
    s->c.tx_full = LOAD(c->tx_full);
    s->c.alloc_fail = LOAD(c->alloc_fail);
    s->c.rx_ack = LOAD(c->rx_ack);
    s->c.rx_nack = LOAD(c->rx_nack);
    s->c.rx_fanout = LOAD(c->rx_fanout);
    s->c.idle_sleeps = LOAD(c->idle_sleeps);
    s->c.tx_start_tsc = LOAD(c->tx_start_tsc);
    s->c.tx_end_tsc = LOAD(c->tx_end_tsc);
    memcpy(&s->rtt, &w->rtt, sizeof(s->rtt));
}

/* Copies expected back and not received: what the router lost, or still
 * holds. A message to a routed name comes back once, a topic's message once
 * per subscriber, a REGISTER as its ACK or NACK. */
static uint64_t lost(const struct yard_lg_counters *c, unsigned copies)
{
    uint64_t expected = (c->sent - c->sent_unknown) * copies;
    return expected > c->received ? expected - c->received : 0;
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

void yard_lg_report_progress(FILE *out, const struct yard_lg_opts *o,
                             const struct yard_lg_snapshot *prev,
                             const struct yard_lg_snapshot *now)
{
    double dt = now->t_s - prev->t_s;
    if (dt <= 0)
        return;
    struct yard_hist d;
    yard_hist_delta(&d, &now->rtt, &prev->rtt);
    fprintf(out,
            "[%7.1f s] sent %8.3f Mmsg/s  received %8.3f Mmsg/s  lost so far %llu  "
            "rtt p50 %.1f us  p99 %.1f us%s%s\n",
            now->t_s, (double)(now->c.sent - prev->c.sent) / dt / 1e6,
            (double)(now->c.received - prev->c.received) / dt / 1e6,
            (unsigned long long)lost(&now->c, yard_lg_copies(o)), us(yard_hist_quantile(&d, 0.50)),
            us(yard_hist_quantile(&d, 0.99)),
            now->c.tx_full > prev->c.tx_full ? "  (port was full at times)" : "",
            now->c.rx_nack > prev->c.rx_nack ? "  (NACKs)" : "");
    fflush(out);
}

struct summary {
    double duration_s;
    double sent_pps;
    double received_pps;
    double ack_pps;
    uint64_t port_min, port_max; /* received per subscriber port */
    double p50, p90, p99, p999, max, mean;
};

static void summarize(const struct yard_lg_opts *o, const struct yard_lg_snapshot *end,
                      uint64_t tsc_hz, const uint64_t *rx_port, struct summary *s)
{
    const struct yard_lg_counters *c = &end->c;
    const struct yard_hist *h = &end->rtt;
    s->duration_s = (double)(c->tx_end_tsc - c->tx_start_tsc) / (double)tsc_hz;
    s->sent_pps = s->duration_s > 0 ? (double)c->sent / s->duration_s : 0;
    s->received_pps = s->duration_s > 0 ? (double)c->received / s->duration_s : 0;
    s->ack_pps = s->duration_s > 0 ? (double)c->rx_ack / s->duration_s : 0;
    unsigned ports = o->topic[0] ? o->subscribers : 1;
    s->port_min = UINT64_MAX;
    s->port_max = 0;
    for (unsigned p = 0; p < ports; p++) {
        s->port_min = rx_port[p] < s->port_min ? rx_port[p] : s->port_min;
        s->port_max = rx_port[p] > s->port_max ? rx_port[p] : s->port_max;
    }
    s->p50 = us(yard_hist_quantile(h, 0.50));
    s->p90 = us(yard_hist_quantile(h, 0.90));
    s->p99 = us(yard_hist_quantile(h, 0.99));
    s->p999 = us(yard_hist_quantile(h, 0.999));
    s->max = us(h->max_ns);
    s->mean = h->count ? us(h->sum_ns / h->count) : 0;
}

static void summary_json(FILE *out, const struct yard_lg_opts *o, const struct yard_lg_snapshot *e,
                         const struct summary *s)
{
    const struct yard_lg_counters *c = &e->c;
    char rate[32];
    if (o->rate_pps)
        snprintf(rate, sizeof(rate), "%llu", (unsigned long long)o->rate_pps);
    else
        snprintf(rate, sizeof(rate), "\"max\"");
    fprintf(out,
            "{\"sent\": %llu, \"sent_to_unknown\": %llu, \"received\": %llu, \"lost\": %llu, "
            "\"duration_s\": %.3f, \"rate_requested_pps\": %s, \"sent_pps\": %.0f, "
            "\"received_pps\": %.0f, "
            "\"rtt_us\": {\"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, \"p99_9\": %.2f, "
            "\"max\": %.2f, \"mean\": %.2f, \"count\": %llu}, ",
            (unsigned long long)c->sent, (unsigned long long)c->sent_unknown,
            (unsigned long long)c->received, (unsigned long long)lost(c, yard_lg_copies(o)),
            s->duration_s, rate, s->sent_pps, s->received_pps, s->p50, s->p90, s->p99, s->p999,
            s->max, s->mean, (unsigned long long)e->rtt.count);
    fprintf(out, "\"sent_class\": [%llu, %llu, %llu, %llu], ", (unsigned long long)c->sent_class[0],
            (unsigned long long)c->sent_class[1], (unsigned long long)c->sent_class[2],
            (unsigned long long)c->sent_class[3]);
    fprintf(out, "\"received_class\": [%llu, %llu, %llu, %llu], ",
            (unsigned long long)c->received_class[0], (unsigned long long)c->received_class[1],
            (unsigned long long)c->received_class[2], (unsigned long long)c->received_class[3]);
    fprintf(out,
            "\"rx_bad_envelope\": %llu, \"rx_bad_id\": %llu, \"rx_other\": %llu, "
            "\"arp_replies\": %llu, \"tx_waited\": %llu, \"alloc_fail\": %llu, "
            "\"names\": %u, \"unknown_pct\": %u, \"drain_ms\": %.0f, ",
            (unsigned long long)c->rx_bad_envelope, (unsigned long long)c->rx_bad_id,
            (unsigned long long)c->rx_other, (unsigned long long)c->arp_replies,
            (unsigned long long)c->tx_full, (unsigned long long)c->alloc_fail, o->names,
            o->unknown_pct, o->drain_s * 1000);
    fprintf(out,
            "\"kind\": \"%s\", \"acks\": %llu, \"nacks\": %llu, \"acks_pps\": %.0f, "
            "\"topic\": \"%s\", \"subscribers\": %u, \"copies_expected\": %llu, "
            "\"received_per_port_min\": %llu, \"received_per_port_max\": %llu, "
            "\"rx_fanout\": %llu, \"idle_sleeps\": %llu}\n",
            o->kind == YARD_LG_KIND_REGISTER ? "register" : "msg", (unsigned long long)c->rx_ack,
            (unsigned long long)c->rx_nack, s->ack_pps, o->topic, o->topic[0] ? o->subscribers : 1,
            (unsigned long long)((c->sent - c->sent_unknown) * yard_lg_copies(o)),
            (unsigned long long)s->port_min, (unsigned long long)s->port_max,
            (unsigned long long)c->rx_fanout, (unsigned long long)c->idle_sleeps);
}

static void summary_text(FILE *out, const struct yard_lg_opts *o, const struct yard_lg_snapshot *e,
                         const struct summary *s)
{
    const struct yard_lg_counters *c = &e->c;
    fprintf(out, "summary\n");
    fprintf(out, "  sent        %llu (to unknown names: %llu)\n", (unsigned long long)c->sent,
            (unsigned long long)c->sent_unknown);
    fprintf(out, "  received    %llu\n", (unsigned long long)c->received);
    if (c->rx_fanout)
        fprintf(out, "  of them     %llu FANOUT copies (kind 7), as a cluster node gets them\n",
                (unsigned long long)c->rx_fanout);
    if (o->kind == YARD_LG_KIND_REGISTER)
        fprintf(out, "  replies     %llu ACK, %llu NACK (%.0f ACK/s)\n",
                (unsigned long long)c->rx_ack, (unsigned long long)c->rx_nack, s->ack_pps);
    if (o->topic[0])
        fprintf(out,
                "  topic       %s: %u subscriber ports, %llu copies expected, per port "
                "%llu..%llu\n",
                o->topic, o->subscribers,
                (unsigned long long)((c->sent - c->sent_unknown) * yard_lg_copies(o)),
                (unsigned long long)s->port_min, (unsigned long long)s->port_max);
    fprintf(out, "  lost        %llu (expected back - received, after %.0f ms of drain)\n",
            (unsigned long long)lost(c, yard_lg_copies(o)), o->drain_s * 1000);
    fprintf(out, "  rate        %.3f Mmsg/s sent, %.3f Mmsg/s received over %.2f s\n",
            s->sent_pps / 1e6, s->received_pps / 1e6, s->duration_s);
    fprintf(out, "  rtt (us)    p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
            s->p50, s->p90, s->p99, s->p999, s->max, s->mean);
    fprintf(out, "  by class    sent %llu/%llu/%llu/%llu  received %llu/%llu/%llu/%llu\n",
            (unsigned long long)c->sent_class[0], (unsigned long long)c->sent_class[1],
            (unsigned long long)c->sent_class[2], (unsigned long long)c->sent_class[3],
            (unsigned long long)c->received_class[0], (unsigned long long)c->received_class[1],
            (unsigned long long)c->received_class[2], (unsigned long long)c->received_class[3]);
    fprintf(out,
            "  other       rx bad envelope %llu, rx bad id %llu, rx not for us %llu, "
            "arp replies %llu, waited for the port %llu, mbuf alloc failed %llu\n",
            (unsigned long long)c->rx_bad_envelope, (unsigned long long)c->rx_bad_id,
            (unsigned long long)c->rx_other, (unsigned long long)c->arp_replies,
            (unsigned long long)c->tx_full, (unsigned long long)c->alloc_fail);
    if (c->tx_full)
        fprintf(out,
                "  note        %llu frames waited for room in the port's ring (the router did "
                "not drain it in time); their wait is in their round trip\n",
                (unsigned long long)c->tx_full);
}

void yard_lg_report_summary(FILE *out, bool json, const struct yard_lg_opts *o,
                            const struct yard_lg_snapshot *end, uint64_t tsc_hz,
                            const uint64_t *rx_port)
{
    struct summary s;
    summarize(o, end, tsc_hz, rx_port, &s);
    if (json)
        summary_json(out, o, end, &s);
    else
        summary_text(out, o, end, &s);
    fflush(out);
}
