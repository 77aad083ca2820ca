/*
 * metrics.c - the Prometheus exposition of the shm counters and of the
 * control plane's own metrics (see metrics.h).
 *
 * The segment's part is written straight into the output, family by
 * family, iterating the lcores (or ports) inside each family: the text
 * format requires every sample of a family to be contiguous, and this
 * order gives it without any sorting. Numbers are formatted without printf
 * (a 128-lcore scrape has about 20,000 lines) and the lcores in use, with
 * their label text, are listed once per scrape.
 *
 * The control plane's own metrics arrive through the writer in whatever
 * order the daemon finds convenient (e.g. several metrics per peer in one
 * loop over peers), so each family collects its samples in its own buffer
 * and the buffers are appended, in first-use order, at the end.
 *
 * The segment is read while the dataplane writes it. Counters are read
 * once each; a histogram's _count is the sum of the buckets actually read,
 * not its `count` field, so +Inf and _count always agree and the buckets
 * are cumulative even in a torn copy (hist.c explains the tearing).
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 95

enum family_type { COUNTER, GAUGE, HISTOGRAM };

static const char *const type_names[] = {"counter", "gauge", "histogram"};

struct family {
    char name[NAME_MAX_BYTES + 1];
    enum family_type type;
    bool closed;          /* rendered from the segment: the callback may not add to it */
    struct yard_buf text; /* HELP, TYPE and the samples the callback added */
};

struct yard_metrics_writer {
    struct yard_buf *out;
    struct family *fam;
    unsigned nb_fam, cap_fam;
    int err; /* first refused writer call */
};

/* ---- formatting ---- */

static void put(struct yard_buf *o, const char *s, size_t len)
{
    yard_buf_append(o, s, len);
}

static void puts_(struct yard_buf *o, const char *s)
{
    yard_buf_append(o, s, strlen(s));
}

/* Seconds from nanoseconds, exactly: "0.000002048", "34.359738368", "3". */
static size_t ns_to_seconds(char *buf, uint64_t ns)
{
    size_t n = (size_t)snprintf(buf, 24, "%llu", (unsigned long long)(ns / 1000000000ull));
    uint64_t frac = ns % 1000000000ull;
    if (frac == 0)
        return n;
    buf[n++] = '.';
    for (uint64_t div = 100000000ull; div > 0 && frac > 0; div /= 10) {
        buf[n++] = (char)('0' + frac / div);
        frac %= div;
    }
    buf[n] = '\0';
    return n;
}

/* A float as Prometheus parses it: shortest of %.15g and %.17g that reads back exactly. */
static size_t fmt_double(char *buf, size_t len, double v)
{
    if (v != v)
        return (size_t)snprintf(buf, len, "NaN");
    if (v > 1.7976931348623157e308)
        return (size_t)snprintf(buf, len, "+Inf");
    if (v < -1.7976931348623157e308)
        return (size_t)snprintf(buf, len, "-Inf");
    int n = snprintf(buf, len, "%.15g", v);
    if (strtod(buf, NULL) != v)
        n = snprintf(buf, len, "%.17g", v);
    return (size_t)n;
}

/* HELP text: backslash and newline escaped (text format 0.0.4). */
static void put_help(struct yard_buf *o, const char *name, const char *type, const char *help)
{
    puts_(o, "# HELP ");
    puts_(o, name);
    put(o, " ", 1);
    for (const char *p = help; *p != '\0'; p++) {
        if (*p == '\\')
            put(o, "\\\\", 2);
        else if (*p == '\n')
            put(o, "\\n", 2);
        else
            put(o, p, 1);
    }
    puts_(o, "\n# TYPE ");
    puts_(o, name);
    put(o, " ", 1);
    puts_(o, type);
    put(o, "\n", 1);
}

/* A label value: escaped, and bytes outside printable ASCII replaced so a
 * port name from the segment can never make the output invalid UTF-8. */
static size_t escape_value(char *dst, size_t len, const char *v, size_t vmax)
{
    size_t n = 0;
    for (size_t i = 0; i < vmax && v[i] != '\0'; i++) {
        unsigned char ch = (unsigned char)v[i];
        const char *rep = NULL;
        char one[2] = {(char)ch, '\0'};
        if (ch == '\\')
            rep = "\\\\";
        else if (ch == '"')
            rep = "\\\"";
        else if (ch == '\n')
            rep = "\\n";
        else if (ch < 0x20 || ch >= 0x7f)
            rep = "?";
        else
            rep = one;
        size_t r = strlen(rep);
        if (n + r >= len)
            return SIZE_MAX;
        memcpy(dst + n, rep, r);
        n += r;
    }
    dst[n] = '\0';
    return n;
}

/* ---- the writer's checks ---- */

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n > NAME_MAX_BYTES || strncmp(name, "yard_", 5) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_label_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_label_char(char c)
{
    return is_label_start(c) || (c >= '0' && c <= '9');
}

/* `k="v",k2="v2"`: well formed, no reserved (__) keys, and no "le" when
 * the family is a histogram. */
static bool labels_ok(const char *s, bool histogram)
{
    if (s == NULL || *s == '\0')
        return true;
    for (;;) {
        const char *key = s;
        if (!is_label_start(*s))
            return false;
        while (is_label_char(*s))
            s++;
        size_t klen = (size_t)(s - key);
        if ((klen >= 2 && key[0] == '_' && key[1] == '_') ||
            (histogram && klen == 2 && strncmp(key, "le", 2) == 0))
            return false;
        if (*s++ != '=' || *s++ != '"')
            return false;
        while (*s != '"') {
            if (*s == '\0' || *s == '\n')
                return false;
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n')
                    return false;
            }
            s++;
        }
        s++;
        if (*s == '\0')
            return true;
        if (*s++ != ',')
            return false;
        if (*s == '\0')
            return true; /* a trailing comma is allowed by the format */
    }
}

static int refuse(struct yard_metrics_writer *w, int err)
{
    if (w->err == 0)
        w->err = err;
    return err;
}

static struct family *family_find(struct yard_metrics_writer *w, const char *name)
{
    for (unsigned i = 0; i < w->nb_fam; i++)
        if (strcmp(w->fam[i].name, name) == 0)
            return &w->fam[i];
    return NULL;
}

static struct family *family_add(struct yard_metrics_writer *w, const char *name,
                                 enum family_type type, bool closed)
{
    if (w->nb_fam == w->cap_fam) {
        unsigned cap = w->cap_fam ? w->cap_fam * 2 : 64;
        struct family *grown = realloc(w->fam, cap * sizeof(*grown));
        if (grown == NULL) {
            w->out->oom = true;
            return NULL;
        }
        w->fam = grown;
        w->cap_fam = cap;
    }
    struct family *f = &w->fam[w->nb_fam++];
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->type = type;
    f->closed = closed;
    yard_buf_init(&f->text);
    return f;
}

/* The callback's family `name`, created with its HELP and TYPE on first
 * use; NULL and *rc set (and remembered in w->err) when the call must be
 * refused. */
static struct family *open_family(struct yard_metrics_writer *w, const char *name,
                                  enum family_type type, const char *help, const char *labels,
                                  int *rc)
{
    *rc = 0;
    if (name == NULL || !name_ok(name) || ends_with(name, "_total") != (type == COUNTER) ||
        !labels_ok(labels, type == HISTOGRAM)) {
        *rc = refuse(w, -EINVAL);
        return NULL;
    }
    struct family *f = family_find(w, name);
    if (f != NULL) {
        if (f->closed)
            *rc = refuse(w, -EEXIST);
        else if (f->type != type)
            *rc = refuse(w, -EINVAL);
        return *rc == 0 ? f : NULL;
    }
    f = family_add(w, name, type, false);
    if (f == NULL) {
        *rc = -ENOMEM;
        return NULL;
    }
    put_help(&f->text, name, type_names[type], help ? help : "");
    return f;
}

static void put_series(struct yard_buf *o, const char *name, const char *suffix, const char *labels,
                       const char *extra_label)
{
    puts_(o, name);
    if (suffix != NULL)
        puts_(o, suffix);
    bool has = labels != NULL && *labels != '\0';
    if (has || extra_label != NULL) {
        put(o, "{", 1);
        if (has) {
            size_t n = strlen(labels);
            put(o, labels, labels[n - 1] == ',' ? n - 1 : n);
        }
        if (has && extra_label != NULL)
            put(o, ",", 1);
        if (extra_label != NULL)
            puts_(o, extra_label);
        put(o, "}", 1);
    }
    put(o, " ", 1);
}

/* ---- the writer's API ---- */

int yard_metrics_counter(struct yard_metrics_writer *w, const char *name, const char *help,
                         const char *labels, uint64_t value)
{
    int rc;
    struct family *f = open_family(w, name, COUNTER, help, labels, &rc);
    if (f == NULL)
        return rc;
    put_series(&f->text, name, NULL, labels, NULL);
    yard_buf_u64(&f->text, value);
    put(&f->text, "\n", 1);
    return f->text.oom ? -ENOMEM : 0;
}

static int float_sample(struct yard_metrics_writer *w, enum family_type type, const char *name,
                        const char *help, const char *labels, double value)
{
    int rc;
    struct family *f = open_family(w, name, type, help, labels, &rc);
    if (f == NULL)
        return rc;
    char num[40];
    put_series(&f->text, name, NULL, labels, NULL);
    put(&f->text, num, fmt_double(num, sizeof(num), value));
    put(&f->text, "\n", 1);
    return f->text.oom ? -ENOMEM : 0;
}

int yard_metrics_counter_f(struct yard_metrics_writer *w, const char *name, const char *help,
                           const char *labels, double value)
{
    return float_sample(w, COUNTER, name, help, labels, value);
}

int yard_metrics_gauge(struct yard_metrics_writer *w, const char *name, const char *help,
                       const char *labels, double value)
{
    return float_sample(w, GAUGE, name, help, labels, value);
}

int yard_metrics_histogram(struct yard_metrics_writer *w, const char *name, const char *help,
                           const char *labels, const double *le_s, const uint64_t *counts,
                           unsigned n, double sum_s)
{
    for (unsigned i = 0; i < n; i++)
        if (le_s[i] != le_s[i] || (i > 0 && !(le_s[i] > le_s[i - 1])))
            return refuse(w, -EINVAL);
    int rc;
    struct family *f = open_family(w, name, HISTOGRAM, help, labels, &rc);
    if (f == NULL)
        return rc;
    struct yard_buf *o = &f->text;
    char le[64], num[40];
    uint64_t cum = 0;
    for (unsigned i = 0; i <= n; i++) {
        cum += counts[i];
        memcpy(le, "le=\"", 4);
        size_t k = 4;
        if (i < n)
            k += fmt_double(le + k, sizeof(le) - k - 2, le_s[i]);
        else
            k += (size_t)snprintf(le + k, sizeof(le) - k - 2, "+Inf");
        le[k++] = '"';
        le[k] = '\0';
        put_series(o, name, "_bucket", labels, le);
        yard_buf_u64(o, cum);
        put(o, "\n", 1);
    }
    put_series(o, name, "_sum", labels, NULL);
    put(o, num, fmt_double(num, sizeof(num), sum_s));
    put(o, "\n", 1);
    put_series(o, name, "_count", labels, NULL);
    yard_buf_u64(o, cum);
    put(o, "\n", 1);
    return o->oom ? -ENOMEM : 0;
}

int yard_metrics_labels(char *buf, size_t len, ...)
{
    va_list ap;
    va_start(ap, len);
    size_t n = 0;
    int rc = 0;
    if (len == 0) {
        va_end(ap);
        return -ENOSPC;
    }
    buf[0] = '\0';
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        if (value == NULL)
            value = "";
        bool ok = is_label_start(key[0]) && !(key[0] == '_' && key[1] == '_');
        for (const char *k = key; ok && *k != '\0'; k++)
            ok = is_label_char(*k);
        if (!ok) {
            rc = -EINVAL;
            break;
        }
        int m = snprintf(buf + n, len - n, "%s%s=\"", n > 0 ? "," : "", key);
        if (m < 0 || (size_t)m >= len - n) {
            rc = -ENOSPC;
            break;
        }
        n += (size_t)m;
        size_t e = escape_value(buf + n, len - n, value, SIZE_MAX);
        if (e == SIZE_MAX || n + e + 2 > len) { /* closing quote and NUL */
            rc = -ENOSPC;
            break;
        }
        n += e;
        buf[n++] = '"';
        buf[n] = '\0';
    }
    va_end(ap);
    if (rc < 0)
        buf[0] = '\0';
    return rc;
}

/* ---- the segment's families ---- */

/* Write HELP and TYPE of a segment family and reserve its name. */
static void seg_family(struct yard_metrics_writer *w, const char *name, enum family_type type,
                       const char *help)
{
    family_add(w, name, type, true);
    put_help(w->out, name, type_names[type], help);
}

static void seg_u64(struct yard_buf *o, const char *name, const char *labels, uint64_t v)
{
    put_series(o, name, NULL, labels, NULL);
    yard_buf_u64(o, v);
    put(o, "\n", 1);
}

static void seg_f(struct yard_buf *o, const char *name, const char *labels, double v)
{
    char num[40];
    put_series(o, name, NULL, labels, NULL);
    put(o, num, fmt_double(num, sizeof(num), v));
    put(o, "\n", 1);
}

static void seg_gauge(struct yard_metrics_writer *w, const char *name, const char *help,
                      const char *labels, double v)
{
    seg_family(w, name, GAUGE, help);
    seg_f(w->out, name, labels, v);
}

static void seg_counter(struct yard_metrics_writer *w, const char *name, const char *help,
                        uint64_t v)
{
    seg_family(w, name, COUNTER, help);
    seg_u64(w->out, name, NULL, v);
}

/* An lcore in use, with its label text `lcore="3",role="worker"`. */
struct lcore_ref {
    const struct yard_lcore_stats *s;
    char labels[48];
    size_t labels_len;
};

/* A port in use, with its label text `port="0",name="net_tap0"`. */
struct port_ref {
    const struct yard_port_stats *s;
    char labels[176];
    size_t labels_len;
};

/* The exposed latency boundaries: bucket index where each starts, and its
 * `le` text in seconds. */
#define BOUND_LOW_EXP  8
#define BOUND_HIGH_EXP YARD_HIST_MAX_EXP
#define NB_BOUNDS      (2 * (BOUND_HIGH_EXP - BOUND_LOW_EXP + 1))

struct bound {
    unsigned bucket;
    char le[32]; /* le="0.000000256" */
    size_t le_len;
};

static struct bound bounds[NB_BOUNDS];
static bool bounds_ready;

static void init_bounds(void)
{
    if (bounds_ready)
        return;
    unsigned k = 0;
    for (unsigned exp = BOUND_LOW_EXP; exp <= BOUND_HIGH_EXP; exp++) {
        for (unsigned half = 0; half < 2; half++) {
            uint64_t ns = (1ull << exp) + half * (1ull << (exp - 1));
            struct bound *b = &bounds[k++];
            b->bucket = yard_hist_bucket(ns);
            char sec[32];
            ns_to_seconds(sec, ns);
            b->le_len = (size_t)snprintf(b->le, sizeof(b->le), "le=\"%s\"", sec);
        }
    }
    bounds_ready = true;
}

/* Start a per-lcore sample line: name{lcore="..",role=".." */
static void lcore_line(struct yard_buf *o, const char *name, size_t name_len,
                       const struct lcore_ref *l)
{
    put(o, name, name_len);
    put(o, "{", 1);
    put(o, l->labels, l->labels_len);
}

static void lcore_family_u64(struct yard_metrics_writer *w, const char *name, const char *help,
                             const struct lcore_ref *lc, unsigned nb, size_t offset)
{
    struct yard_buf *o = w->out;
    size_t name_len = strlen(name);
    seg_family(w, name, COUNTER, help);
    for (unsigned i = 0; i < nb; i++) {
        lcore_line(o, name, name_len, &lc[i]);
        put(o, "} ", 2);
        yard_buf_u64(o, *(const uint64_t *)((const char *)lc[i].s + offset));
        put(o, "\n", 1);
    }
}

static void event_metric_name(char *buf, size_t len, unsigned e)
{
    const char *n = yard_event_name(e);
    if (e == YARD_EV_RX_MESSAGES)
        n = "messages";
    else if (e == YARD_EV_ROUTED)
        n = "routed_messages"; /* yard_routed_total is the per-class family */
    if (n != NULL)
        snprintf(buf, len, "yard_%s_total", n);
    else
        snprintf(buf, len, "yard_event_%u_total", e);
}

static void render_lcores(struct yard_metrics_writer *w, const struct yard_shm *shm,
                          const struct lcore_ref *lc, unsigned nb)
{
    const struct yard_shm_header *h = shm->hdr;
    struct yard_buf *o = w->out;
    unsigned nb_events = h->nb_events < YARD_SHM_EVENT_SLOTS ? h->nb_events : YARD_SHM_EVENT_SLOTS;
    unsigned nb_drops = h->nb_drops < YARD_SHM_DROP_SLOTS ? h->nb_drops : YARD_SHM_DROP_SLOTS;
    char name[96], help[160];

    for (unsigned e = 0; e < nb_events; e++) {
        event_metric_name(name, sizeof(name), e);
        const char *eh = yard_event_help(e);
        if (eh != NULL)
            snprintf(help, sizeof(help), "%c%s, per lcore.", toupper((unsigned char)eh[0]), eh + 1);
        else
            snprintf(help, sizeof(help), "Event slot %u, named by a newer dataplane.", e);
        lcore_family_u64(w, name, help, lc, nb,
                         offsetof(struct yard_lcore_stats, events) + e * sizeof(uint64_t));
    }

    if (h->tsc_hz > 0 && nb_events > YARD_EV_BUSY_CYCLES) {
        const char *n = "yard_busy_seconds_total";
        seg_family(w, n, COUNTER, "Time spent in poll loops that received packets, per lcore.");
        for (unsigned i = 0; i < nb; i++) {
            char num[40];
            lcore_line(o, n, strlen(n), &lc[i]);
            put(o, "} ", 2);
            double s = (double)lc[i].s->events[YARD_EV_BUSY_CYCLES] / (double)h->tsc_hz;
            put(o, num, fmt_double(num, sizeof(num), s));
            put(o, "\n", 1);
        }
    }

    /* The reasons' help texts, one comment each, above the family. */
    for (unsigned d = 0; d < nb_drops; d++) {
        const char *dn = yard_drop_name(d);
        if (dn == NULL)
            continue;
        puts_(o, "# reason ");
        puts_(o, dn);
        puts_(o, ": ");
        puts_(o, yard_drop_help(d));
        put(o, "\n", 1);
    }
    {
        const char *n = "yard_drops_total";
        seg_family(w, n, COUNTER,
                   "Packets dropped, per lcore and reason (each reason is described above).");
        for (unsigned i = 0; i < nb; i++) {
            for (unsigned d = 0; d < nb_drops; d++) {
                lcore_line(o, n, 16, &lc[i]);
                put(o, ",reason=\"", 9);
                const char *dn = yard_drop_name(d);
                if (dn != NULL) {
                    puts_(o, dn);
                } else {
                    put(o, "drop_", 5);
                    yard_buf_u64(o, d);
                }
                put(o, "\"} ", 3);
                yard_buf_u64(o, lc[i].s->drops[d]);
                put(o, "\n", 1);
            }
        }
    }

    static const struct {
        const char *name, *help;
        size_t offset;
    } classes[] = {
        {"yard_routed_total", "Messages admitted to a class queue, per lcore and class.",
         offsetof(struct yard_lcore_stats, class_routed)},
        {"yard_tx_total", "Messages of a class accepted by the NIC, per lcore and class.",
         offsetof(struct yard_lcore_stats, class_tx)},
        {"yard_class_dropped_total", "Messages dropped after classification, per lcore and class.",
         offsetof(struct yard_lcore_stats, class_dropped)},
    };
    for (unsigned k = 0; k < sizeof(classes) / sizeof(classes[0]); k++) {
        size_t name_len = strlen(classes[k].name);
        seg_family(w, classes[k].name, COUNTER, classes[k].help);
        for (unsigned i = 0; i < nb; i++) {
            const uint64_t *v = (const uint64_t *)((const char *)lc[i].s + classes[k].offset);
            for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
                lcore_line(o, classes[k].name, name_len, &lc[i]);
                put(o, ",class=\"", 8);
                yard_buf_u64(o, c);
                put(o, "\"} ", 3);
                yard_buf_u64(o, v[c]);
                put(o, "\n", 1);
            }
        }
    }

    init_bounds();
    static const char hn[] = "yard_latency_seconds";
    seg_family(w, hn, HISTOGRAM,
               "Time from receiving a message to the NIC accepting it, per lcore.");
    for (unsigned i = 0; i < nb; i++) {
        const struct yard_hist *hist = &lc[i].s->latency;
        uint64_t cum = 0;
        unsigned b = 0;
        for (unsigned k = 0; k <= NB_BOUNDS; k++) {
            unsigned stop = k < NB_BOUNDS ? bounds[k].bucket : YARD_HIST_BUCKETS;
            for (; b < stop; b++)
                cum += hist->bucket[b];
            put(o, hn, sizeof(hn) - 1);
            put(o, "_bucket{", 8);
            put(o, lc[i].labels, lc[i].labels_len);
            if (k < NB_BOUNDS) {
                put(o, ",", 1);
                put(o, bounds[k].le, bounds[k].le_len);
                put(o, "} ", 2);
            } else {
                put(o, ",le=\"+Inf\"} ", 12);
            }
            yard_buf_u64(o, cum);
            put(o, "\n", 1);
        }
        char sec[32];
        put(o, hn, sizeof(hn) - 1);
        put(o, "_sum{", 5);
        put(o, lc[i].labels, lc[i].labels_len);
        put(o, "} ", 2);
        put(o, sec, ns_to_seconds(sec, hist->sum_ns));
        put(o, "\n", 1);
        put(o, hn, sizeof(hn) - 1);
        put(o, "_count{", 7);
        put(o, lc[i].labels, lc[i].labels_len);
        put(o, "} ", 2);
        yard_buf_u64(o, cum);
        put(o, "\n", 1);
    }
}

static void render_ports(struct yard_metrics_writer *w, const struct port_ref *pt, unsigned nb)
{
    struct yard_buf *o = w->out;
    seg_family(w, "yard_port_info", GAUGE,
               "Always 1: a data port's MAC address, IPv4 address/prefix and NUMA socket.");
    for (unsigned i = 0; i < nb; i++) {
        const struct yard_port_stats *p = pt[i].s;
        char extra[96];
        struct in_addr a = {.s_addr = p->ipv4};
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        snprintf(extra, sizeof(extra),
                 ",mac=\"%02x:%02x:%02x:%02x:%02x:%02x\",address=\"%s/%u\",socket=\"%u\"} 1\n",
                 p->mac[0], p->mac[1], p->mac[2], p->mac[3], p->mac[4], p->mac[5], ip,
                 p->prefix_len, p->socket);
        puts_(o, "yard_port_info{");
        put(o, pt[i].labels, pt[i].labels_len);
        puts_(o, extra);
    }

    seg_family(w, "yard_port_link_up", GAUGE, "1 while the port's link is up.");
    for (unsigned i = 0; i < nb; i++) {
        puts_(o, "yard_port_link_up{");
        put(o, pt[i].labels, pt[i].labels_len);
        put(o, "} ", 2);
        yard_buf_u64(o, pt[i].s->link_up ? 1 : 0);
        put(o, "\n", 1);
    }
    seg_family(w, "yard_port_link_speed_bytes", GAUGE,
               "Negotiated link speed in bytes per second (0 while down).");
    for (unsigned i = 0; i < nb; i++) {
        puts_(o, "yard_port_link_speed_bytes{");
        put(o, pt[i].labels, pt[i].labels_len);
        put(o, "} ", 2);
        yard_buf_u64(o, (uint64_t)pt[i].s->link_speed_mbps * 125000u);
        put(o, "\n", 1);
    }

    static const struct {
        const char *name, *help;
        size_t offset;
    } counters[] = {
        {"yard_port_rx_packets_total", "Frames received by the port (ethdev ipackets).",
         offsetof(struct yard_port_stats, ipackets)},
        {"yard_port_tx_packets_total", "Frames sent by the port (ethdev opackets).",
         offsetof(struct yard_port_stats, opackets)},
        {"yard_port_rx_bytes_total", "Bytes received by the port (ethdev ibytes).",
         offsetof(struct yard_port_stats, ibytes)},
        {"yard_port_tx_bytes_total", "Bytes sent by the port (ethdev obytes).",
         offsetof(struct yard_port_stats, obytes)},
        {"yard_port_rx_missed_total",
         "Frames the NIC dropped because the rx queues were full (ethdev imissed).",
         offsetof(struct yard_port_stats, imissed)},
        {"yard_port_rx_errors_total", "Erroneous frames received (ethdev ierrors).",
         offsetof(struct yard_port_stats, ierrors)},
        {"yard_port_tx_errors_total", "Frames the port failed to send (ethdev oerrors).",
         offsetof(struct yard_port_stats, oerrors)},
        {"yard_port_rx_nombuf_total", "Receive failures for lack of mbufs (ethdev rx_nombuf).",
         offsetof(struct yard_port_stats, rx_nombuf)},
    };
    for (unsigned k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
        seg_family(w, counters[k].name, COUNTER, counters[k].help);
        for (unsigned i = 0; i < nb; i++) {
            puts_(o, counters[k].name);
            put(o, "{", 1);
            put(o, pt[i].labels, pt[i].labels_len);
            put(o, "} ", 2);
            yard_buf_u64(o, *(const uint64_t *)((const char *)pt[i].s + counters[k].offset));
            put(o, "\n", 1);
        }
    }
}

static void render_header(struct yard_metrics_writer *w, const struct yard_shm *shm)
{
    const struct yard_shm_header *h = shm->hdr;
    struct yard_buf *o = w->out;
    bool up = yard_shm_side_alive(&h->dataplane, YARD_METRICS_HEARTBEAT_MAX_AGE_NS);
    seg_gauge(w, "yard_dataplane_up",
              "1 while the dataplane process is alive and its heartbeat is fresh, else 0.", NULL,
              up ? 1 : 0);
    seg_gauge(w, "yard_dataplane_ready", "1 once the dataplane's ports are up and workers run.",
              NULL, h->dataplane_ready ? 1 : 0);

    char inst[96], labels[160];
    escape_value(inst, sizeof(inst), h->instance, sizeof(h->instance));
    snprintf(labels, sizeof(labels), "instance=\"%s\",mode=\"%s\"", inst,
             h->mode == 1 ? "pipeline" : "rtc");
    seg_gauge(w, "yard_dataplane_info", "Always 1: the appliance instance and forwarding mode.",
              labels, 1);

    uint64_t beat = __atomic_load_n(&h->dataplane.heartbeat_ns, __ATOMIC_ACQUIRE);
    if (beat != 0) {
        uint64_t now = yard_monotonic_ns();
        char sec[32];
        seg_family(w, "yard_dataplane_heartbeat_age_seconds", GAUGE,
                   "Time since the dataplane's last heartbeat.");
        puts_(o, "yard_dataplane_heartbeat_age_seconds ");
        put(o, sec, ns_to_seconds(sec, now > beat ? now - beat : 0));
        put(o, "\n", 1);
    }
    if (h->dataplane.start_epoch_ns != 0) {
        char sec[32];
        seg_family(w, "yard_dataplane_start_time_seconds", GAUGE,
                   "When the dataplane started, in seconds since the Unix epoch.");
        puts_(o, "yard_dataplane_start_time_seconds ");
        put(o, sec, ns_to_seconds(sec, h->dataplane.start_epoch_ns));
        put(o, "\n", 1);
    }
    seg_gauge(w, "yard_dataplane_generation", "Full-sync generation the dataplane last completed.",
              NULL, (double)h->dataplane.generation);

    seg_gauge(w, "yard_directory_names",
              "Names (endpoints and topics) in the dataplane's directory.", NULL,
              (double)h->dir_names);
    seg_gauge(w, "yard_directory_locations",
              "Locations (endpoint members and topic subscribers) in the dataplane's directory.",
              NULL, (double)h->dir_locations);
    seg_gauge(w, "yard_directory_capacity", "Names the dataplane's directory can hold.", NULL,
              (double)h->dir_capacity);
    seg_gauge(w, "yard_directory_bytes",
              "Memory the dataplane's directory uses: hash table and routes.", NULL,
              (double)h->dir_bytes);
    seg_counter(w, "yard_commands_applied_total", "Directory commands the dataplane applied.",
                h->cmd_applied);
    seg_counter(w, "yard_commands_rejected_total",
                "Directory commands the dataplane refused (bad name, table full, ...).",
                h->cmd_rejected);
    seg_gauge(w, "yard_command_applied_seq", "Sequence number of the last command applied.", NULL,
              (double)h->cmd_applied_seq);
    seg_counter(w, "yard_sync_swept_locations_total", "Locations removed at the end of full syncs.",
                h->sync_swept);
}

/* The header's geometry, checked again before every scrape: the segment
 * can be taken over by a new dataplane while it stays mapped here. */
static bool segment_usable(const struct yard_shm *shm)
{
    if (shm == NULL || shm->hdr == NULL)
        return false;
    const struct yard_shm_header *h = shm->hdr;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != YARD_SHM_MAGIC ||
        h->abi_version != YARD_SHM_ABI_VERSION)
        return false;
    if (h->max_lcores > YARD_SHM_MAX_LCORES || h->max_ports > YARD_SHM_MAX_PORTS ||
        h->lcore_block_bytes < sizeof(struct yard_lcore_stats) ||
        h->port_block_bytes < sizeof(struct yard_port_stats))
        return false;
    return h->lcore_off + (uint64_t)h->max_lcores * h->lcore_block_bytes <= shm->bytes &&
           h->port_off + (uint64_t)h->max_ports * h->port_block_bytes <= shm->bytes;
}

int yard_metrics_render(struct yard_buf *out, const struct yard_shm *shm,
                        yard_metrics_extra_fn extra, void *arg)
{
    struct yard_metrics_writer w = {.out = out};

    if (segment_usable(shm)) {
        const struct yard_shm_header *h = shm->hdr;
        render_header(&w, shm);

        struct lcore_ref lc[YARD_SHM_MAX_LCORES];
        unsigned nb_lc = 0;
        for (unsigned i = 0; i < h->max_lcores; i++) {
            const struct yard_lcore_stats *s = yard_shm_lcore(shm, i);
            if (!__atomic_load_n(&s->in_use, __ATOMIC_ACQUIRE))
                continue;
            struct lcore_ref *l = &lc[nb_lc++];
            l->s = s;
            l->labels_len =
                (size_t)snprintf(l->labels, sizeof(l->labels), "lcore=\"%u\",role=\"%s\"", i,
                                 yard_lcore_role_name(s->role));
        }
        render_lcores(&w, shm, lc, nb_lc);

        struct port_ref pt[YARD_SHM_MAX_PORTS];
        unsigned nb_pt = 0;
        for (unsigned i = 0; i < h->max_ports; i++) {
            const struct yard_port_stats *s = yard_shm_port(shm, i);
            if (!__atomic_load_n(&s->in_use, __ATOMIC_ACQUIRE))
                continue;
            struct port_ref *p = &pt[nb_pt++];
            char name[sizeof(s->name) * 2 + 1];
            escape_value(name, sizeof(name), s->name, sizeof(s->name));
            p->s = s;
            p->labels_len = (size_t)snprintf(p->labels, sizeof(p->labels),
                                             "port=\"%u\",name=\"%s\"", s->port_id, name);
        }
        render_ports(&w, pt, nb_pt);
    } else {
        seg_gauge(&w, "yard_dataplane_up",
                  "1 while the dataplane process is alive and its heartbeat is fresh, else 0.",
                  NULL, 0);
    }

    if (extra != NULL)
        extra(&w, arg);

    for (unsigned i = 0; i < w.nb_fam; i++) {
        struct family *f = &w.fam[i];
        if (!f->closed) {
            if (f->text.oom)
                out->oom = true;
            else
                put(out, f->text.data, f->text.len);
        }
        yard_buf_free(&f->text);
    }
    free(w.fam);
    return out->oom ? -ENOMEM : w.err;
}
