/*
 * stats.c - `yardctl stats`: snapshot the shm counters and print them as a
 * table, as JSON, or as a line of per-second rates every few seconds.
 *
 * Everything printed comes from one snapshot (struct yard_cli_snapshot) taken by
 * copying the in-use lcore and port blocks, so the three views cannot
 * disagree about what they saw. Watch mode subtracts consecutive snapshots;
 * a counter that goes backwards means a new dataplane took the segment over,
 * and the interval then counts from zero. Names of events and drop reasons
 * come from the table in yard_counters.h; a newer dataplane's extra slots
 * (the header says how many are in use) are printed as event_N / drop_N.
 */
#include "stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonw.h"
#include "yard_shm.h"

/* The dataplane beats about every 100 ms: ten missed beats means it is
 * stopped or wedged, not merely descheduled. */
#define HEARTBEAT_MAX_AGE_NS 1000000000ull

/* In table watch mode the column titles scroll away; repeat them. */
#define WATCH_HEADER_EVERY 20

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void yard_cli_snapshot_take(const struct yard_shm *shm, struct yard_cli_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    s->mono_ns = yard_monotonic_ns();
    s->real_ns = yard_realtime_ns();
    memcpy(&s->hdr, shm->hdr, sizeof(s->hdr));
    s->nb_events = s->hdr.nb_events;
    s->nb_drops = s->hdr.nb_drops;
    s->dp_alive = yard_shm_side_alive(&shm->hdr->dataplane, HEARTBEAT_MAX_AGE_NS);
    s->cp_alive = yard_shm_side_alive(&shm->hdr->control, HEARTBEAT_MAX_AGE_NS);

    for (unsigned i = 0; i < s->hdr.max_lcores; i++) {
        const struct yard_lcore_stats *l = yard_shm_lcore(shm, i);
        if (!__atomic_load_n(&l->in_use, __ATOMIC_ACQUIRE))
            continue;
        struct yard_cli_lcore_snap *ls = &s->lcores[s->nb_lcores++];
        ls->id = i;
        ls->role = l->role;
        ls->socket = l->socket;
        memcpy(ls->events, l->events, sizeof(ls->events));
        memcpy(ls->drops, l->drops, sizeof(ls->drops));
        for (unsigned e = 0; e < s->nb_events; e++)
            s->events[e] += ls->events[e];
        for (unsigned d = 0; d < s->nb_drops; d++)
            s->drops[d] += ls->drops[d];
        for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
            s->class_routed[c] += l->class_routed[c];
            s->class_tx[c] += l->class_tx[c];
            s->class_dropped[c] += l->class_dropped[c];
        }
        yard_hist_add(&s->latency, &l->latency);
    }
    for (unsigned d = 0; d < s->nb_drops; d++)
        s->dropped += s->drops[d];

    for (unsigned i = 0; i < s->hdr.max_ports; i++) {
        const struct yard_port_stats *p = yard_shm_port(shm, i);
        if (!__atomic_load_n(&p->in_use, __ATOMIC_ACQUIRE))
            continue;
        struct yard_port_stats *ps = &s->ports[s->nb_ports++];
        memcpy(ps, p, sizeof(*ps));
        ps->name[sizeof(ps->name) - 1] = '\0';
    }
}

/* ---- naming ---- */

static const char *event_name(unsigned e, char *buf, size_t len)
{
    const char *n = yard_event_name(e);
    if (n != NULL)
        return n;
    snprintf(buf, len, "event_%u", e);
    return buf;
}

const char *yard_cli_drop_name(unsigned d, char *buf, size_t len)
{
    const char *n = yard_drop_name(d);
    if (n != NULL)
        return n;
    snprintf(buf, len, "drop_%u", d);
    return buf;
}

static const char *mode_name(uint32_t mode)
{
    return mode == 0 ? "rtc" : mode == 1 ? "pipeline" : "unknown";
}

static void format_mac(const uint8_t mac[6], char *buf, size_t len)
{
    snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

static void format_ipv4(uint32_t ipv4_be, char *buf, size_t len)
{
    struct in_addr a = {.s_addr = ipv4_be};
    if (inet_ntop(AF_INET, &a, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
}

static void format_duration(double s, char *buf, size_t len)
{
    uint64_t t = s > 0 ? (uint64_t)s : 0;
    unsigned d = (unsigned)(t / 86400), h = (unsigned)(t / 3600 % 24);
    unsigned m = (unsigned)(t / 60 % 60), sec = (unsigned)(t % 60);
    if (d > 0)
        snprintf(buf, len, "%ud%02uh%02um%02us", d, h, m, sec);
    else if (h > 0)
        snprintf(buf, len, "%uh%02um%02us", h, m, sec);
    else if (m > 0)
        snprintf(buf, len, "%um%02us", m, sec);
    else
        snprintf(buf, len, "%us", sec);
}

/* ---- derived numbers ---- */

/* Milliseconds since the side's last heartbeat; -1 when it never beat. */
double yard_cli_heartbeat_age_ms(const struct yard_shm_side *side, uint64_t mono_ns)
{
    if (side->heartbeat_ns == 0)
        return -1;
    if (mono_ns <= side->heartbeat_ns)
        return 0;
    return (double)(mono_ns - side->heartbeat_ns) / 1e6;
}

static double uptime_s(const struct yard_cli_snapshot *s)
{
    uint64_t start = s->hdr.dataplane.start_epoch_ns;
    if (start == 0 || s->real_ns < start)
        return 0;
    return (double)(s->real_ns - start) / 1e9;
}

/* Share of wall-clock time the lcore spent in loops that received packets;
 * negative when unknown (no TSC rate published yet). */
static double busy_pct(const struct yard_cli_snapshot *s, const struct yard_cli_lcore_snap *l)
{
    double up = uptime_s(s);
    if (s->hdr.tsc_hz == 0 || up <= 0)
        return -1;
    double pct = 100.0 * (double)l->events[YARD_EV_BUSY_CYCLES] / ((double)s->hdr.tsc_hz * up);
    return pct > 100.0 ? 100.0 : pct;
}

/* Busy cycles per received packet; negative when nothing was received. */
static double cycles_per_msg(const struct yard_cli_lcore_snap *l)
{
    if (l->events[YARD_EV_RX_PACKETS] == 0)
        return -1;
    return (double)l->events[YARD_EV_BUSY_CYCLES] / (double)l->events[YARD_EV_RX_PACKETS];
}

static uint64_t lcore_drops(const struct yard_cli_snapshot *s, const struct yard_cli_lcore_snap *l)
{
    uint64_t n = 0;
    for (unsigned d = 0; d < s->nb_drops; d++)
        n += l->drops[d];
    return n;
}

static double ns_to_us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

/* ---- table ---- */

static void print_side(FILE *out, const char *what, const struct yard_shm_side *side, bool alive,
                       uint64_t mono_ns)
{
    fprintf(out, "  %-10s ", what);
    if (side->pid <= 0) {
        /* a clean shutdown clears the pid but leaves the counters */
        fprintf(out, "%s\n", side->start_epoch_ns != 0 ? "stopped" : "not started");
        return;
    }
    double age = yard_cli_heartbeat_age_ms(side, mono_ns);
    fprintf(out, "pid %d, %s", (int)side->pid, alive ? "alive" : "NOT RUNNING");
    if (age >= 0 && age < 10000)
        fprintf(out, " (heartbeat %.0f ms ago)", age);
    else if (age >= 0)
        fprintf(out, " (heartbeat %.1f s ago)", age / 1000);
    else
        fprintf(out, " (no heartbeat)");
}

static void print_table(FILE *out, const struct yard_cli_snapshot *s, const char *instance)
{
    char buf[64], up[32];

    fprintf(out, "Switchyard instance '%s'\n", instance);
    print_side(out, "dataplane", &s->hdr.dataplane, s->dp_alive, s->mono_ns);
    if (s->hdr.dataplane.pid > 0) {
        format_duration(uptime_s(s), up, sizeof(up));
        fprintf(out, ", up %s, mode %s, %s, applied command seq %" PRIu64 "\n", up,
                mode_name(s->hdr.mode), s->hdr.dataplane_ready ? "ready" : "not ready",
                s->hdr.cmd_applied_seq);
    }
    print_side(out, "control", &s->hdr.control, s->cp_alive, s->mono_ns);
    if (s->hdr.control.pid > 0)
        fputc('\n', out);

    fprintf(out, "\nTotals\n");
    for (unsigned e = 0; e < s->nb_events; e++)
        fprintf(out, "  %-22s %15" PRIu64 "\n", event_name(e, buf, sizeof(buf)), s->events[e]);
    fprintf(out, "  %-22s %15" PRIu64 "\n", "dropped", s->dropped);

    fprintf(out, "\nDrops by reason\n");
    for (unsigned d = 0; d < s->nb_drops; d++) {
        fprintf(out, "  %-22s %15" PRIu64, yard_cli_drop_name(d, buf, sizeof(buf)), s->drops[d]);
        const char *help = yard_drop_help(d);
        if (s->drops[d] != 0 && help != NULL)
            fprintf(out, "  %s", help);
        fputc('\n', out);
    }

    fprintf(out, "\nClasses  %15s %15s %15s\n", "routed", "tx", "dropped");
    for (unsigned c = 0; c < YARD_NB_CLASSES; c++)
        fprintf(out, "  %-6u %15" PRIu64 " %15" PRIu64 " %15" PRIu64 "\n", c, s->class_routed[c],
                s->class_tx[c], s->class_dropped[c]);

    fprintf(out, "\nPorts\n");
    if (s->nb_ports == 0)
        fprintf(out, "  (none)\n");
    else
        fprintf(out, "  %-4s %-16s %-17s %-18s %-9s %12s %12s %10s %10s %10s %10s\n", "id", "name",
                "mac", "ipv4", "link", "ipackets", "opackets", "imissed", "rx_nombuf", "ierrors",
                "oerrors");
    for (unsigned i = 0; i < s->nb_ports; i++) {
        const struct yard_port_stats *p = &s->ports[i];
        char mac[24], ip[INET_ADDRSTRLEN], addr[40], link[16];
        format_mac(p->mac, mac, sizeof(mac));
        if (p->ipv4 != 0) {
            format_ipv4(p->ipv4, ip, sizeof(ip));
            snprintf(addr, sizeof(addr), "%s/%u", ip, p->prefix_len);
        } else {
            snprintf(addr, sizeof(addr), "-");
        }
        if (p->link_up && p->link_speed_mbps >= 1000)
            snprintf(link, sizeof(link), "up %uG", p->link_speed_mbps / 1000);
        else if (p->link_up)
            snprintf(link, sizeof(link), "up %uM", p->link_speed_mbps);
        else
            snprintf(link, sizeof(link), "down");
        fprintf(out,
                "  %-4u %-16s %-17s %-18s %-9s %12" PRIu64 " %12" PRIu64 " %10" PRIu64 " %10" PRIu64
                " %10" PRIu64 " %10" PRIu64 "\n",
                p->port_id, p->name, mac, addr, link, p->ipackets, p->opackets, p->imissed,
                p->rx_nombuf, p->ierrors, p->oerrors);
    }

    fprintf(out, "\nLcores\n");
    if (s->nb_lcores == 0)
        fprintf(out, "  (none)\n");
    else
        fprintf(out, "  %-5s %-7s %6s %14s %14s %14s %12s %6s %8s\n", "lcore", "role", "socket",
                "rx", "routed", "tx", "drops", "busy%", "cyc/msg");
    for (unsigned i = 0; i < s->nb_lcores; i++) {
        const struct yard_cli_lcore_snap *l = &s->lcores[i];
        char busy[16], cpm[16];
        double b = busy_pct(s, l), c = cycles_per_msg(l);
        if (b >= 0)
            snprintf(busy, sizeof(busy), "%.1f", b);
        else
            snprintf(busy, sizeof(busy), "-");
        if (c >= 0)
            snprintf(cpm, sizeof(cpm), "%.0f", c);
        else
            snprintf(cpm, sizeof(cpm), "-");
        fprintf(out,
                "  %-5u %-7s %6u %14" PRIu64 " %14" PRIu64 " %14" PRIu64 " %12" PRIu64 " %6s %8s\n",
                l->id, yard_lcore_role_name(l->role), l->socket, l->events[YARD_EV_RX_PACKETS],
                l->events[YARD_EV_ROUTED], l->events[YARD_EV_TX_PACKETS], lcore_drops(s, l), busy,
                cpm);
    }

    const struct yard_hist *h = &s->latency;
    fprintf(out, "\nLatency in the appliance, rx to tx (us), %" PRIu64 " messages\n", h->count);
    if (h->count == 0) {
        fprintf(out, "  (no messages yet)\n");
        return;
    }
    fprintf(out, "  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f\n",
            ns_to_us(yard_hist_quantile(h, 0.50)), ns_to_us(yard_hist_quantile(h, 0.90)),
            ns_to_us(yard_hist_quantile(h, 0.99)), ns_to_us(yard_hist_quantile(h, 0.999)),
            ns_to_us(h->max_ns), ns_to_us(h->sum_ns) / (double)h->count);
}

/* ---- JSON ---- */

static void json_side(struct yard_jsonw *w, const struct yard_shm_side *side, bool alive,
                      uint64_t mono_ns)
{
    yard_jsonw_key(w, "pid");
    yard_jsonw_i64(w, side->pid);
    yard_jsonw_key(w, "alive");
    yard_jsonw_bool(w, alive);
    yard_jsonw_key(w, "heartbeat_age_ms");
    double age = yard_cli_heartbeat_age_ms(side, mono_ns);
    if (age >= 0)
        yard_jsonw_double(w, age);
    else
        yard_jsonw_null(w);
}

static void print_json(FILE *out, const struct yard_cli_snapshot *s, const char *instance)
{
    struct yard_jsonw w;
    char buf[64];
    yard_jsonw_init(&w, out);
    yard_jsonw_object_begin(&w);

    yard_jsonw_key(&w, "instance");
    yard_jsonw_str(&w, instance);
    yard_jsonw_key(&w, "abi_version");
    yard_jsonw_u64(&w, s->hdr.abi_version);

    yard_jsonw_key(&w, "dataplane");
    yard_jsonw_object_begin(&w);
    json_side(&w, &s->hdr.dataplane, s->dp_alive, s->mono_ns);
    yard_jsonw_key(&w, "uptime_s");
    yard_jsonw_double(&w, uptime_s(s));
    yard_jsonw_key(&w, "mode");
    yard_jsonw_str(&w, mode_name(s->hdr.mode));
    yard_jsonw_key(&w, "ready");
    yard_jsonw_bool(&w, s->hdr.dataplane_ready != 0);
    yard_jsonw_key(&w, "cmd_applied_seq");
    yard_jsonw_u64(&w, s->hdr.cmd_applied_seq);
    yard_jsonw_key(&w, "tsc_hz");
    yard_jsonw_u64(&w, s->hdr.tsc_hz);
    yard_jsonw_object_end(&w);

    yard_jsonw_key(&w, "control");
    yard_jsonw_object_begin(&w);
    json_side(&w, &s->hdr.control, s->cp_alive, s->mono_ns);
    yard_jsonw_object_end(&w);

    yard_jsonw_key(&w, "totals");
    yard_jsonw_object_begin(&w);
    for (unsigned e = 0; e < s->nb_events; e++) {
        yard_jsonw_key(&w, event_name(e, buf, sizeof(buf)));
        yard_jsonw_u64(&w, s->events[e]);
    }
    yard_jsonw_key(&w, "dropped");
    yard_jsonw_u64(&w, s->dropped);
    yard_jsonw_object_end(&w);

    yard_jsonw_key(&w, "drops");
    yard_jsonw_object_begin(&w);
    for (unsigned d = 0; d < s->nb_drops; d++) {
        yard_jsonw_key(&w, yard_cli_drop_name(d, buf, sizeof(buf)));
        yard_jsonw_u64(&w, s->drops[d]);
    }
    yard_jsonw_object_end(&w);

    yard_jsonw_key(&w, "classes");
    yard_jsonw_array_begin(&w);
    for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
        yard_jsonw_object_begin(&w);
        yard_jsonw_key(&w, "class");
        yard_jsonw_u64(&w, c);
        yard_jsonw_key(&w, "routed");
        yard_jsonw_u64(&w, s->class_routed[c]);
        yard_jsonw_key(&w, "tx");
        yard_jsonw_u64(&w, s->class_tx[c]);
        yard_jsonw_key(&w, "dropped");
        yard_jsonw_u64(&w, s->class_dropped[c]);
        yard_jsonw_object_end(&w);
    }
    yard_jsonw_array_end(&w);

    yard_jsonw_key(&w, "ports");
    yard_jsonw_array_begin(&w);
    for (unsigned i = 0; i < s->nb_ports; i++) {
        const struct yard_port_stats *p = &s->ports[i];
        char mac[24], ip[INET_ADDRSTRLEN];
        format_mac(p->mac, mac, sizeof(mac));
        format_ipv4(p->ipv4, ip, sizeof(ip));
        yard_jsonw_object_begin(&w);
        yard_jsonw_key(&w, "port_id");
        yard_jsonw_u64(&w, p->port_id);
        yard_jsonw_key(&w, "name");
        yard_jsonw_str(&w, p->name);
        yard_jsonw_key(&w, "mac");
        yard_jsonw_str(&w, mac);
        yard_jsonw_key(&w, "ipv4");
        yard_jsonw_str(&w, ip);
        yard_jsonw_key(&w, "prefix_len");
        yard_jsonw_u64(&w, p->prefix_len);
        yard_jsonw_key(&w, "socket");
        yard_jsonw_u64(&w, p->socket);
        yard_jsonw_key(&w, "link_up");
        yard_jsonw_bool(&w, p->link_up != 0);
        yard_jsonw_key(&w, "link_speed_mbps");
        yard_jsonw_u64(&w, p->link_speed_mbps);
        const struct {
            const char *name;
            uint64_t v;
        } c[] = {
            {"ipackets", p->ipackets}, {"opackets", p->opackets},   {"ibytes", p->ibytes},
            {"obytes", p->obytes},     {"imissed", p->imissed},     {"ierrors", p->ierrors},
            {"oerrors", p->oerrors},   {"rx_nombuf", p->rx_nombuf},
        };
        for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
            yard_jsonw_key(&w, c[k].name);
            yard_jsonw_u64(&w, c[k].v);
        }
        yard_jsonw_object_end(&w);
    }
    yard_jsonw_array_end(&w);

    yard_jsonw_key(&w, "lcores");
    yard_jsonw_array_begin(&w);
    for (unsigned i = 0; i < s->nb_lcores; i++) {
        const struct yard_cli_lcore_snap *l = &s->lcores[i];
        yard_jsonw_object_begin(&w);
        yard_jsonw_key(&w, "lcore");
        yard_jsonw_u64(&w, l->id);
        yard_jsonw_key(&w, "role");
        yard_jsonw_str(&w, yard_lcore_role_name(l->role));
        yard_jsonw_key(&w, "socket");
        yard_jsonw_u64(&w, l->socket);
        yard_jsonw_key(&w, "rx_packets");
        yard_jsonw_u64(&w, l->events[YARD_EV_RX_PACKETS]);
        yard_jsonw_key(&w, "routed");
        yard_jsonw_u64(&w, l->events[YARD_EV_ROUTED]);
        yard_jsonw_key(&w, "tx_packets");
        yard_jsonw_u64(&w, l->events[YARD_EV_TX_PACKETS]);
        yard_jsonw_key(&w, "dropped");
        yard_jsonw_u64(&w, lcore_drops(s, l));
        double b = busy_pct(s, l), c = cycles_per_msg(l);
        yard_jsonw_key(&w, "busy_pct");
        if (b >= 0)
            yard_jsonw_double(&w, b);
        else
            yard_jsonw_null(&w);
        yard_jsonw_key(&w, "cycles_per_msg");
        if (c >= 0)
            yard_jsonw_double(&w, c);
        else
            yard_jsonw_null(&w);
        yard_jsonw_key(&w, "events");
        yard_jsonw_object_begin(&w);
        for (unsigned e = 0; e < s->nb_events; e++) {
            yard_jsonw_key(&w, event_name(e, buf, sizeof(buf)));
            yard_jsonw_u64(&w, l->events[e]);
        }
        yard_jsonw_object_end(&w);
        yard_jsonw_key(&w, "drops");
        yard_jsonw_object_begin(&w);
        for (unsigned d = 0; d < s->nb_drops; d++) {
            yard_jsonw_key(&w, yard_cli_drop_name(d, buf, sizeof(buf)));
            yard_jsonw_u64(&w, l->drops[d]);
        }
        yard_jsonw_object_end(&w);
        yard_jsonw_object_end(&w);
    }
    yard_jsonw_array_end(&w);

    const struct yard_hist *h = &s->latency;
    yard_jsonw_key(&w, "latency_ns");
    yard_jsonw_object_begin(&w);
    const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p999", 0.999}};
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        yard_jsonw_key(&w, qs[k].name);
        yard_jsonw_u64(&w, yard_hist_quantile(h, qs[k].q));
    }
    yard_jsonw_key(&w, "max");
    yard_jsonw_u64(&w, h->max_ns);
    yard_jsonw_key(&w, "mean");
    yard_jsonw_double(&w, h->count ? (double)h->sum_ns / (double)h->count : 0);
    yard_jsonw_key(&w, "count");
    yard_jsonw_u64(&w, h->count);
    yard_jsonw_object_end(&w);

    yard_jsonw_object_end(&w);
    fputc('\n', out);
}

/* ---- watch ---- */

/* A counter that went backwards was reset by a new dataplane. */
static uint64_t counter_delta(uint64_t now, uint64_t before)
{
    return now >= before ? now - before : now;
}

void yard_cli_rates_compute(struct yard_cli_rates *r, const struct yard_cli_snapshot *now,
                            const struct yard_cli_snapshot *before)
{
    memset(r, 0, sizeof(*r));
    r->interval_s = (double)(now->mono_ns - before->mono_ns) / 1e9;
    double per_s = r->interval_s > 0 ? 1.0 / r->interval_s : 0;
#define RATE(ev) ((double)counter_delta(now->events[ev], before->events[ev]) * per_s)
    r->rx_packets = RATE(YARD_EV_RX_PACKETS);
    r->rx_messages = RATE(YARD_EV_RX_MESSAGES);
    r->routed = RATE(YARD_EV_ROUTED);
    r->tx_packets = RATE(YARD_EV_TX_PACKETS);
#undef RATE
    r->nb_drops = now->nb_drops;
    for (unsigned d = 0; d < r->nb_drops; d++) {
        r->drops[d] = (double)counter_delta(now->drops[d], before->drops[d]) * per_s;
        r->dropped += r->drops[d];
    }
    /* Top reasons by insertion into a tiny sorted array. */
    for (unsigned d = 0; d < r->nb_drops; d++) {
        if (r->drops[d] <= 0)
            continue;
        unsigned pos = r->nb_top;
        while (pos > 0 && r->drops[r->top[pos - 1]] < r->drops[d])
            pos--;
        if (pos >= YARD_CLI_TOP_DROPS)
            continue;
        unsigned last = r->nb_top < YARD_CLI_TOP_DROPS ? r->nb_top : YARD_CLI_TOP_DROPS - 1;
        for (unsigned k = last; k > pos; k--)
            r->top[k] = r->top[k - 1];
        r->top[pos] = d;
        if (r->nb_top < YARD_CLI_TOP_DROPS)
            r->nb_top++;
    }
    yard_hist_delta(&r->latency, &now->latency, &before->latency);

    for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
        r->class_routed[c] =
            (double)counter_delta(now->class_routed[c], before->class_routed[c]) * per_s;
        r->class_tx[c] = (double)counter_delta(now->class_tx[c], before->class_tx[c]) * per_s;
        r->class_dropped[c] =
            (double)counter_delta(now->class_dropped[c], before->class_dropped[c]) * per_s;
    }
    /* Busy share of the interval, per lcore of the newer snapshot; an lcore
     * that was not in use before counts from zero. */
    r->nb_lcores = now->nb_lcores;
    for (unsigned i = 0; i < now->nb_lcores; i++) {
        const struct yard_cli_lcore_snap *l = &now->lcores[i];
        uint64_t prev = 0;
        for (unsigned j = 0; j < before->nb_lcores; j++)
            if (before->lcores[j].id == l->id)
                prev = before->lcores[j].events[YARD_EV_BUSY_CYCLES];
        double cycles = (double)counter_delta(l->events[YARD_EV_BUSY_CYCLES], prev);
        double pct = -1;
        if (now->hdr.tsc_hz != 0 && r->interval_s > 0)
            pct = 100.0 * cycles / ((double)now->hdr.tsc_hz * r->interval_s);
        r->lcore_busy_pct[i] = pct > 100.0 ? 100.0 : pct;
    }
}

static void print_watch_header(FILE *out)
{
    fprintf(out, "%-8s %11s %11s %11s %11s %10s %8s %8s  %s\n", "time", "rx pkt/s", "rx msg/s",
            "routed/s", "tx/s", "drop/s", "p50 us", "p99 us", "top drops/s");
}

static void format_latency_us(const struct yard_hist *h, double q, char *buf, size_t len)
{
    if (h->count == 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.2f", ns_to_us(yard_hist_quantile(h, q)));
}

static void print_watch_line(FILE *out, const struct yard_cli_rates *r,
                             const struct yard_cli_snapshot *s)
{
    char when[16], p50[24], p99[24], buf[64];
    time_t t = (time_t)(s->real_ns / 1000000000ull);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%H:%M:%S", &tm);
    format_latency_us(&r->latency, 0.50, p50, sizeof(p50));
    format_latency_us(&r->latency, 0.99, p99, sizeof(p99));

    fprintf(out, "%-8s %11.0f %11.0f %11.0f %11.0f %10.0f %8s %8s ", when, r->rx_packets,
            r->rx_messages, r->routed, r->tx_packets, r->dropped, p50, p99);
    for (unsigned k = 0; k < r->nb_top; k++)
        fprintf(out, " %s=%.0f", yard_cli_drop_name(r->top[k], buf, sizeof(buf)),
                r->drops[r->top[k]]);
    if (r->nb_top == 0)
        fprintf(out, " -");
    if (!s->dp_alive)
        fprintf(out, "  [dataplane not running]");
    fputc('\n', out);
}

static void print_watch_json(FILE *out, const struct yard_cli_rates *r,
                             const struct yard_cli_snapshot *s)
{
    struct yard_jsonw w;
    char buf[64];
    yard_jsonw_init(&w, out);
    yard_jsonw_object_begin(&w);
    yard_jsonw_key(&w, "ts");
    yard_jsonw_double(&w, (double)s->real_ns / 1e9);
    yard_jsonw_key(&w, "interval_s");
    yard_jsonw_double(&w, r->interval_s);
    yard_jsonw_key(&w, "alive");
    yard_jsonw_bool(&w, s->dp_alive);
    yard_jsonw_key(&w, "rates");
    yard_jsonw_object_begin(&w);
    yard_jsonw_key(&w, "rx_packets");
    yard_jsonw_double(&w, r->rx_packets);
    yard_jsonw_key(&w, "rx_messages");
    yard_jsonw_double(&w, r->rx_messages);
    yard_jsonw_key(&w, "routed");
    yard_jsonw_double(&w, r->routed);
    yard_jsonw_key(&w, "tx_packets");
    yard_jsonw_double(&w, r->tx_packets);
    yard_jsonw_key(&w, "dropped");
    yard_jsonw_double(&w, r->dropped);
    yard_jsonw_object_end(&w);
    yard_jsonw_key(&w, "drops");
    yard_jsonw_object_begin(&w);
    for (unsigned d = 0; d < r->nb_drops; d++) {
        if (r->drops[d] <= 0)
            continue;
        yard_jsonw_key(&w, yard_cli_drop_name(d, buf, sizeof(buf)));
        yard_jsonw_double(&w, r->drops[d]);
    }
    yard_jsonw_object_end(&w);
    yard_jsonw_key(&w, "latency_ns");
    yard_jsonw_object_begin(&w);
    yard_jsonw_key(&w, "p50");
    yard_jsonw_u64(&w, yard_hist_quantile(&r->latency, 0.50));
    yard_jsonw_key(&w, "p99");
    yard_jsonw_u64(&w, yard_hist_quantile(&r->latency, 0.99));
    yard_jsonw_key(&w, "count");
    yard_jsonw_u64(&w, r->latency.count);
    yard_jsonw_object_end(&w);
    yard_jsonw_object_end(&w);
    fputc('\n', out);
}

static void timespec_add_ns(struct timespec *ts, uint64_t ns)
{
    uint64_t t = (uint64_t)ts->tv_nsec + ns % 1000000000ull;
    ts->tv_sec += (time_t)(ns / 1000000000ull + t / 1000000000ull);
    ts->tv_nsec = (long)(t % 1000000000ull);
}

static int watch(const struct yard_shm *shm, const struct yard_cli_stats_opts *o, FILE *out)
{
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    /* no SA_RESTART: the signal must cut the sleep short */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct yard_cli_snapshot *snaps = calloc(2, sizeof(*snaps));
    struct yard_cli_rates *r = calloc(1, sizeof(*r));
    if (snaps == NULL || r == NULL) {
        free(snaps);
        free(r);
        return -ENOMEM;
    }
    struct yard_cli_snapshot *before = &snaps[0], *now = &snaps[1];
    uint64_t period_ns = (uint64_t)(o->watch_s * 1e9);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    yard_cli_snapshot_take(shm, before);

    long lines = 0;
    while (!stop_requested && (o->count == 0 || lines < o->count)) {
        /* Absolute deadlines: the period does not drift with print time. */
        timespec_add_ns(&next, period_ns);
        while (!stop_requested &&
               clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
        if (stop_requested)
            break;
        yard_cli_snapshot_take(shm, now);
        yard_cli_rates_compute(r, now, before);
        if (o->output == YARD_CLI_OUT_JSON) {
            print_watch_json(out, r, now);
        } else {
            if (lines % WATCH_HEADER_EVERY == 0)
                print_watch_header(out);
            print_watch_line(out, r, now);
        }
        fflush(out);
        lines++;
        struct yard_cli_snapshot *tmp = before;
        before = now;
        now = tmp;

        /* Fell more than a period behind (stopped terminal, suspended
         * process): restart the schedule rather than print a burst. */
        uint64_t next_ns = (uint64_t)next.tv_sec * 1000000000ull + (uint64_t)next.tv_nsec;
        if (yard_monotonic_ns() > next_ns + period_ns)
            clock_gettime(CLOCK_MONOTONIC, &next);
    }
    free(snaps);
    free(r);
    return 0;
}

int yard_cli_stats(const struct yard_cli_stats_opts *o, FILE *out, FILE *errf)
{
    struct yard_shm shm;
    char err[512];
    int rc = yard_shm_open(&shm, o->instance, false, err, sizeof(err));
    if (rc != 0) {
        fprintf(errf, "yardctl: %s\n", err);
        return rc == -EINVAL ? 2 : 1;
    }

    if (o->watch_s > 0) {
        rc = watch(&shm, o, out);
        yard_shm_close(&shm);
        if (rc != 0) {
            fprintf(errf, "yardctl: stats --watch: %s\n", strerror(-rc));
            return 1;
        }
        return 0;
    }

    struct yard_cli_snapshot *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        fprintf(errf, "yardctl: stats: out of memory\n");
        yard_shm_close(&shm);
        return 1;
    }
    yard_cli_snapshot_take(&shm, s);
    if (o->output == YARD_CLI_OUT_JSON)
        print_json(out, s, o->instance);
    else
        print_table(out, s, o->instance);
    free(s);
    yard_shm_close(&shm);
    return fflush(out) == 0 ? 0 : 1;
}
