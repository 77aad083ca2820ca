/*
 * config.c - loads configs/<name>.yaml into struct yard_config (see config.h).
 *
 * Loading happens in three steps, each with one job:
 *
 *  1. libcyaml reads the text into a "raw" mirror of the file in which every
 *     scalar is kept as a string. Typed libcyaml fields would stop at the
 *     first bad number with a generic message; strings let step 2 report
 *     every bad value, in the operator's words, with the fix.
 *  2. Each raw value is converted and range-checked, then the cross-checks
 *     run (duplicates, lcore lists against the mode, subnets, reachability).
 *     All problems are collected, one line each:
 *         <file>: <field path>: '<value>': <what is wrong>; <how to fix it>
 *  3. libcyaml rejects a document that does not fit the schema (a syntax
 *     error, an unknown key, a list where a value belongs) at the first such
 *     problem, and its log's line numbers point at the enclosing block. Only
 *     then, a second pass with libyaml (libcyaml's own parser) walks the
 *     events beside the same schema tables and reports every such problem
 *     at its exact line. libcyaml's log is captured through its log_fn (it
 *     never reaches stderr) and is the message when that pass finds nothing.
 *
 * Route lists can hold a million entries, so per-route work is constant
 * time: duplicate names go through an open-addressing hash, reachability
 * looks at the (at most 32) ports.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <cyaml/cyaml.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

/* ---- the raw mirror of the file: every scalar as text, NULL = not given ---- */

struct raw_port {
    char *device;
    char *ipv4;
    char *gateway;
    char *rx_queues;
    char *rx_desc;
    char *tx_desc;
    char *mtu;
    char *promiscuous;
};

struct raw_route {
    char *name;
    char *ipv4;
    char *udp_port;
    char *mac;
};

struct raw_idle {
    char *backoff;
    char *spin_polls;
    char *sleep_us;
};

struct raw_arp {
    char *hold_packets;
    char *retry_ms;
    char *retries;
    char *neighbor_ttl_s;
};

struct raw_control {
    char *socket;
    char *socket_mode;
    char *state_dir;
    char *metrics_listen;
    char *lease_ms;
    char *max_lease_ms;
    char *node_name;
    char *wal_compact_bytes;
};

struct raw_cluster {
    char *bind;
    char *advertise;
    char **join;
    unsigned join_count;
    char *profile;
    char *data_address;
    char **keys;
    unsigned keys_count;
    char *probe_interval_ms;
    char *probe_timeout_ms;
    char *gossip_interval_ms;
    char *gossip_nodes;
    char *suspicion_mult;
    char *retransmit_mult;
    char *push_pull_interval_ms;
};

struct raw_config {
    char *instance;
    char *mode;
    char *burst;
    char *data_udp_port;
    char *mbufs;
    char *mbuf_cache;
    char *class_queue_size;
    struct raw_idle *idle;
    char **workers;
    unsigned workers_count;
    char **tx_lcores;
    unsigned tx_lcores_count;
    struct raw_port *ports;
    unsigned ports_count;
    struct raw_route *routes;
    unsigned routes_count;
    struct raw_arp *arp;
    char *directory_capacity;
    char *punt_rate_per_source;
    char *punt_burst;
    struct raw_control *control;
    struct raw_cluster *cluster;
};

/*
 * Names are kept verbatim (an empty name is an error, not "unset"); every
 * other scalar accepts YAML's null spellings (~, null, empty) as "use the
 * default", which is what an operator who blanks a value means.
 */
#define OPT           CYAML_FLAG_OPTIONAL
#define OPT_NULL      (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER_NULL_STR)
#define TEXT(k, s, m) CYAML_FIELD_STRING_PTR(k, OPT, s, m, 0, CYAML_UNLIMITED)
#define VAL(k, s, m)  CYAML_FIELD_STRING_PTR(k, OPT_NULL, s, m, 0, CYAML_UNLIMITED)

static const cyaml_schema_value_t text_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t port_fields[] = {
    TEXT("device", struct raw_port, device),
    VAL("ipv4", struct raw_port, ipv4),
    VAL("gateway", struct raw_port, gateway),
    VAL("rx_queues", struct raw_port, rx_queues),
    VAL("rx_desc", struct raw_port, rx_desc),
    VAL("tx_desc", struct raw_port, tx_desc),
    VAL("mtu", struct raw_port, mtu),
    VAL("promiscuous", struct raw_port, promiscuous),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t port_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_port, port_fields),
};

static const cyaml_schema_field_t route_fields[] = {
    TEXT("name", struct raw_route, name),
    VAL("ipv4", struct raw_route, ipv4),
    VAL("udp_port", struct raw_route, udp_port),
    VAL("mac", struct raw_route, mac),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t route_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_route, route_fields),
};

static const cyaml_schema_field_t idle_fields[] = {
    VAL("backoff", struct raw_idle, backoff),
    VAL("spin_polls", struct raw_idle, spin_polls),
    VAL("sleep_us", struct raw_idle, sleep_us),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t arp_fields[] = {
    VAL("hold_packets", struct raw_arp, hold_packets),
    VAL("retry_ms", struct raw_arp, retry_ms),
    VAL("retries", struct raw_arp, retries),
    VAL("neighbor_ttl_s", struct raw_arp, neighbor_ttl_s),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t control_fields[] = {
    VAL("socket", struct raw_control, socket),
    VAL("socket_mode", struct raw_control, socket_mode),
    VAL("state_dir", struct raw_control, state_dir),
    VAL("metrics_listen", struct raw_control, metrics_listen),
    VAL("lease_ms", struct raw_control, lease_ms),
    VAL("max_lease_ms", struct raw_control, max_lease_ms),
    TEXT("node_name", struct raw_control, node_name),
    VAL("wal_compact_bytes", struct raw_control, wal_compact_bytes),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t cluster_fields[] = {
    VAL("bind", struct raw_cluster, bind),
    VAL("advertise", struct raw_cluster, advertise),
    CYAML_FIELD_SEQUENCE("join", OPT_NULL, struct raw_cluster, join, &text_entry, 0,
                         CYAML_UNLIMITED),
    VAL("profile", struct raw_cluster, profile),
    VAL("data_address", struct raw_cluster, data_address),
    CYAML_FIELD_SEQUENCE("keys", OPT_NULL, struct raw_cluster, keys, &text_entry, 0,
                         CYAML_UNLIMITED),
    VAL("probe_interval_ms", struct raw_cluster, probe_interval_ms),
    VAL("probe_timeout_ms", struct raw_cluster, probe_timeout_ms),
    VAL("gossip_interval_ms", struct raw_cluster, gossip_interval_ms),
    VAL("gossip_nodes", struct raw_cluster, gossip_nodes),
    VAL("suspicion_mult", struct raw_cluster, suspicion_mult),
    VAL("retransmit_mult", struct raw_cluster, retransmit_mult),
    VAL("push_pull_interval_ms", struct raw_cluster, push_pull_interval_ms),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t top_fields[] = {
    TEXT("instance", struct raw_config, instance),
    VAL("mode", struct raw_config, mode),
    VAL("burst", struct raw_config, burst),
    VAL("data_udp_port", struct raw_config, data_udp_port),
    VAL("mbufs", struct raw_config, mbufs),
    VAL("mbuf_cache", struct raw_config, mbuf_cache),
    VAL("class_queue_size", struct raw_config, class_queue_size),
    CYAML_FIELD_MAPPING_PTR("idle", OPT_NULL, struct raw_config, idle, idle_fields),
    CYAML_FIELD_SEQUENCE("workers", OPT_NULL, struct raw_config, workers, &text_entry, 0,
                         CYAML_UNLIMITED),
    CYAML_FIELD_SEQUENCE("tx_lcores", OPT_NULL, struct raw_config, tx_lcores, &text_entry, 0,
                         CYAML_UNLIMITED),
    CYAML_FIELD_SEQUENCE("ports", OPT_NULL, struct raw_config, ports, &port_entry, 0,
                         CYAML_UNLIMITED),
    CYAML_FIELD_SEQUENCE("routes", OPT_NULL, struct raw_config, routes, &route_entry, 0,
                         CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING_PTR("arp", OPT_NULL, struct raw_config, arp, arp_fields),
    VAL("directory_capacity", struct raw_config, directory_capacity),
    VAL("punt_rate_per_source", struct raw_config, punt_rate_per_source),
    VAL("punt_burst", struct raw_config, punt_burst),
    CYAML_FIELD_MAPPING_PTR("control", OPT_NULL, struct raw_config, control, control_fields),
    CYAML_FIELD_MAPPING_PTR("cluster", OPT_NULL, struct raw_config, cluster, cluster_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t top_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_config, top_fields),
};

/* ---- problem collection ---- */

/*
 * Room kept at the end of the caller's buffer for the "and N more" line, so
 * that a file with a million bad routes still says how many there were.
 */
#define TAIL_RESERVE 96

struct problems {
    const char *file;
    char *buf;
    size_t cap;
    size_t len;
    unsigned count; /* problems found */
    unsigned shown; /* problems that fit in buf */
    bool full;
};

/* Where a value sits: "key", "seq[idx]" or "seq[idx].key". */
struct field {
    const char *seq;
    long idx;
    const char *key;
};

#define TOP(k)      ((struct field){NULL, -1, (k)})
#define AT(s, i, k) ((struct field){(s), (long)(i), (k)})
#define VALUE_SHOWN 80

static void field_path(char *out, size_t outlen, struct field f)
{
    if (f.seq != NULL && f.key != NULL)
        snprintf(out, outlen, "%s[%ld].%s", f.seq, f.idx, f.key);
    else if (f.seq != NULL)
        snprintf(out, outlen, "%s[%ld]", f.seq, f.idx);
    else
        snprintf(out, outlen, "%s", f.key);
}

/* Quote a value for a message: non-printable bytes as \xNN, long values cut. */
static void quote_value(char *out, size_t outlen, const char *value)
{
    size_t o = 0;
    size_t i;

    if (value == NULL) {
        snprintf(out, outlen, "(not set)");
        return;
    }
    out[o++] = '\'';
    for (i = 0; value[i] != '\0' && o + 8 < outlen; i++) {
        unsigned char c = (unsigned char)value[i];

        if (i == VALUE_SHOWN) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'')
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o++] = '\'';
    out[o] = '\0';
}

static void problems_append(struct problems *p, const char *line)
{
    size_t n = strlen(line);
    size_t sep = p->len > 0 ? 1 : 0;

    if (p->cap == 0)
        return;
    if (p->shown == 0) {
        /* The first problem always shows, cut to the buffer if it must be. */
        snprintf(p->buf, p->cap, "%s", line);
        p->len = strnlen(p->buf, p->cap);
        p->shown = 1;
        return;
    }
    if (p->len + sep + n + TAIL_RESERVE >= p->cap) {
        p->full = true;
        return;
    }
    if (sep)
        p->buf[p->len++] = '\n';
    memcpy(p->buf + p->len, line, n + 1);
    p->len += n;
    p->shown++;
}

/* Report one problem: "<file>: <where>: <value>: <fmt...>". value NULL = not set. */
static void __attribute__((format(printf, 4, 5)))
problem(struct problems *p, struct field f, const char *value, const char *fmt, ...)
{
    char path[96];
    char quoted[VALUE_SHOWN * 4 + 16];
    char what[512];
    char line[1024];
    va_list ap;

    p->count++;
    if (p->full)
        return;
    field_path(path, sizeof(path), f);
    quote_value(quoted, sizeof(quoted), value);
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "%s: %s: %s: %s", p->file, path, quoted, what);
    problems_append(p, line);
}

/* A problem that has no single value: a syntax error, an unknown key. */
static void __attribute__((format(printf, 2, 3)))
problem_text(struct problems *p, const char *fmt, ...)
{
    char what[768];
    char line[1024];
    va_list ap;

    p->count++;
    if (p->full)
        return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "%s: %s", p->file, what);
    problems_append(p, line);
}

static void problems_finish(struct problems *p)
{
    if (p->cap == 0 || p->count <= p->shown)
        return;
    snprintf(p->buf + p->len, p->cap - p->len, "%s%s: ... and %u more problems not shown",
             p->len > 0 ? "\n" : "", p->file, p->count - p->shown);
}

/* ---- scalar conversions: 1 = given and valid, 0 = not given, -1 = reported ---- */

static int conv_uint(struct problems *p, struct field f, const char *text, uint64_t min,
                     uint64_t max, uint64_t *out)
{
    const char *s = text;
    uint64_t v = 0;

    if (text == NULL)
        return 0;
    if (*s == '+')
        s++;
    if (text[0] == '-' && text[1] >= '0' && text[1] <= '9') {
        problem(p, f, text, "negative numbers are not allowed; use a number from %llu to %llu",
                (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    if (*s == '\0') {
        problem(p, f, text, "not a whole number; write a number from %llu to %llu",
                (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            problem(p, f, text, "not a whole number; write a number from %llu to %llu",
                    (unsigned long long)min, (unsigned long long)max);
            return -1;
        }
        if (v > (UINT64_MAX - 9) / 10)
            v = UINT64_MAX; /* saturate: it is out of range either way */
        else
            v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v < min || v > max) {
        problem(p, f, text, "out of range; use a number from %llu to %llu", (unsigned long long)min,
                (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 1;
}

static int conv_pow2(struct problems *p, struct field f, const char *text, uint64_t min,
                     uint64_t max, uint64_t *out)
{
    uint64_t v;
    uint64_t below = min;
    int rc = conv_uint(p, f, text, min, max, &v);

    if (rc <= 0)
        return rc;
    if ((v & (v - 1)) != 0) {
        while (below * 2 <= v)
            below *= 2;
        problem(p, f, text, "not a power of two; use a power of two from %llu to %llu, e.g. %llu",
                (unsigned long long)min, (unsigned long long)max, (unsigned long long)below);
        return -1;
    }
    *out = v;
    return 1;
}

static int conv_bool(struct problems *p, struct field f, const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    unsigned i;

    if (text == NULL)
        return 0;
    for (i = 0; i < 3; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 1;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 1;
        }
    }
    problem(p, f, text, "not true or false; write true or false");
    return -1;
}

/* Assign a checked number to a narrower field: the range check already happened. */
#define GET_UINT(p, f, text, min, max, dst)                     \
    do {                                                        \
        uint64_t v_;                                            \
        if (conv_uint((p), (f), (text), (min), (max), &v_) > 0) \
            (dst) = (__typeof__(dst))v_;                        \
    } while (0)

#define GET_POW2(p, f, text, min, max, dst)                     \
    do {                                                        \
        uint64_t v_;                                            \
        if (conv_pow2((p), (f), (text), (min), (max), &v_) > 0) \
            (dst) = (__typeof__(dst))v_;                        \
    } while (0)

/* Dotted quad to host byte order; inet_pton rejects octal, short and padded forms. */
static bool parse_ipv4(const char *text, uint32_t *host)
{
    struct in_addr a;

    if (inet_pton(AF_INET, text, &a) != 1)
        return false;
    *host = ntohl(a.s_addr);
    return true;
}

static uint32_t prefix_mask(unsigned len)
{
    return len == 0 ? 0 : 0xffffffffu << (32 - len);
}

static void format_ipv4(char *out, size_t outlen, uint32_t host)
{
    struct in_addr a = {.s_addr = htonl(host)};

    inet_ntop(AF_INET, &a, out, (socklen_t)outlen);
}

/* 0.0.0.0/8, multicast, class E and broadcast cannot be a host's address. */
static const char *not_a_host(uint32_t host)
{
    if ((host >> 24) == 0)
        return "is in 0.0.0.0/8, which no host can use";
    if (host == 0xffffffffu)
        return "is the broadcast address";
    if ((host >> 28) == 0xe)
        return "is a multicast address";
    if ((host >> 28) == 0xf)
        return "is in the reserved 240.0.0.0/4 range";
    return NULL;
}

bool yard_parse_mac(const char *text, uint8_t mac[6])
{
    unsigned i;

    if (strlen(text) != 17)
        return false;
    for (i = 0; i < 6; i++) {
        const char *h = text + i * 3;
        char pair[3] = {h[0], h[1], '\0'};

        if (!isxdigit((unsigned char)h[0]) || !isxdigit((unsigned char)h[1]))
            return false;
        if (i < 5 && h[2] != ':')
            return false;
        mac[i] = (uint8_t)strtoul(pair, NULL, 16);
    }
    return true;
}

/* ---- sections ---- */

static void check_instance(struct problems *p, const char *text, struct yard_config *cfg)
{
    size_t n;

    if (text == NULL)
        return;
    n = strlen(text);
    if (n == 0 || n > YARD_CONF_INSTANCE_MAX ||
        strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n) {
        problem(p, TOP("instance"), text,
                "must be 1 to %d characters from A-Z a-z 0-9 _ . - (it names the shared-memory "
                "segment); use e.g. demo",
                YARD_CONF_INSTANCE_MAX);
        return;
    }
    memcpy(cfg->instance, text, n + 1);
}

/*
 * rte_mempool_create() refuses a per-lcore cache above n / 1.5; the two
 * ranges are chosen so that no pair of accepted values can break that rule.
 */
#define MBUFS_MIN      1023
#define MBUF_CACHE_MAX 512

#define DIRECTORY_MIN    1024
#define DIRECTORY_MAX    16777216
#define PUNT_RATE_MAX    100000000
#define PUNT_BURST_MAX   1000000
#define LEASE_MIN_MS     1000
#define LEASE_MAX_MS     3600000
#define MAX_LEASE_MAX_MS 86400000
#define WAL_COMPACT_MIN  65536
#define WAL_COMPACT_MAX  (1ull << 40)
_Static_assert(MBUF_CACHE_MAX * 3 <= MBUFS_MIN * 2, "mbuf_cache range must fit mbufs / 1.5");

static void check_scalars(struct problems *p, const struct raw_config *raw, struct yard_config *cfg)
{
    check_instance(p, raw->instance, cfg);
    if (raw->mode != NULL) {
        if (strcmp(raw->mode, "rtc") == 0)
            cfg->mode = YARD_MODE_RTC;
        else if (strcmp(raw->mode, "pipeline") == 0)
            cfg->mode = YARD_MODE_PIPELINE;
        else
            problem(p, TOP("mode"), raw->mode, "unknown mode; use rtc or pipeline");
    }
    GET_UINT(p, TOP("burst"), raw->burst, 1, 64, cfg->burst);
    GET_UINT(p, TOP("data_udp_port"), raw->data_udp_port, 1, 65535, cfg->data_udp_port);
    GET_UINT(p, TOP("mbufs"), raw->mbufs, MBUFS_MIN, 1048575, cfg->mbufs);
    GET_UINT(p, TOP("mbuf_cache"), raw->mbuf_cache, 0, MBUF_CACHE_MAX, cfg->mbuf_cache);
    GET_POW2(p, TOP("class_queue_size"), raw->class_queue_size, 64, 65536, cfg->class_queue_size);

    if (raw->idle != NULL) {
        conv_bool(p, TOP("idle.backoff"), raw->idle->backoff, &cfg->idle_backoff);
        GET_UINT(p, TOP("idle.spin_polls"), raw->idle->spin_polls, 0, 100000000,
                 cfg->idle_spin_polls);
        GET_UINT(p, TOP("idle.sleep_us"), raw->idle->sleep_us, 1, 100000, cfg->idle_sleep_us);
    }
    if (raw->arp != NULL) {
        GET_UINT(p, TOP("arp.hold_packets"), raw->arp->hold_packets, 0, 64, cfg->arp_hold_packets);
        GET_UINT(p, TOP("arp.retry_ms"), raw->arp->retry_ms, 10, 60000, cfg->arp_retry_ms);
        GET_UINT(p, TOP("arp.retries"), raw->arp->retries, 1, 20, cfg->arp_retries);
        GET_UINT(p, TOP("arp.neighbor_ttl_s"), raw->arp->neighbor_ttl_s, 1, 86400,
                 cfg->neighbor_ttl_s);
    }
    GET_UINT(p, TOP("directory_capacity"), raw->directory_capacity, DIRECTORY_MIN, DIRECTORY_MAX,
             cfg->directory_capacity);
    GET_UINT(p, TOP("punt_rate_per_source"), raw->punt_rate_per_source, 0, PUNT_RATE_MAX,
             cfg->punt_rate_per_source);
    GET_UINT(p, TOP("punt_burst"), raw->punt_burst, 1, PUNT_BURST_MAX, cfg->punt_burst);
}

/* ---- the control plane's section ---- */

static bool node_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= YARD_CONF_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* The host name as a node name; a long or odd FQDN falls back to its first label. */
static void default_node_name(char *out, size_t outlen)
{
    char host[256] = "";

    out[0] = '\0';
    if (gethostname(host, sizeof(host) - 1) != 0)
        return;
    if (!node_name_ok(host))
        host[strcspn(host, ".")] = '\0';
    if (node_name_ok(host))
        snprintf(out, outlen, "%s", host);
}

static void control_defaults(struct yard_control_conf *c, const char *instance)
{
    snprintf(c->socket, sizeof(c->socket), "/run/yard/%s.sock", instance);
    c->socket_mode = 0660;
    snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/yard/%s", instance);
    c->metrics_enabled = true;
    snprintf(c->metrics_listen, sizeof(c->metrics_listen), "127.0.0.1:9740");
    c->metrics_ipv4 = htonl(0x7f000001);
    c->metrics_port = 9740;
    c->lease_ms = 30000;
    c->max_lease_ms = 300000;
    default_node_name(c->node_name, sizeof(c->node_name));
    c->wal_compact_bytes = 64ull << 20;
}

/* An absolute path that fits `cap` bytes with its NUL. */
static void check_path(struct problems *p, const char *key, const char *text, char *out, size_t cap,
                       const char *example)
{
    if (text == NULL)
        return;
    if (text[0] != '/' || strlen(text) >= cap) {
        problem(p, TOP(key), text, "must be an absolute path of at most %zu bytes; write e.g. %s",
                cap - 1, example);
        return;
    }
    memcpy(out, text, strlen(text) + 1);
}

/* A file mode: octal with a leading 0 (0660, 0o660) as chmod takes it, or plain decimal. */
static void check_mode(struct problems *p, const char *text, uint32_t *out)
{
    const char *digits = text;
    int base = 10;
    char *end;
    unsigned long v;

    if (text == NULL)
        return;
    if (text[0] == '0' && (text[1] == 'o' || text[1] == 'O')) {
        digits = text + 2;
        base = 8;
    } else if (text[0] == '0' && text[1] != '\0') {
        digits = text + 1;
        base = 8;
    }
    if (*digits == '\0' ||
        strspn(digits, base == 8 ? "01234567" : "0123456789") != strlen(digits)) {
        problem(p, TOP("control.socket_mode"), text,
                "not a file mode; write it in octal with a leading zero, e.g. 0660");
        return;
    }
    errno = 0;
    v = strtoul(digits, &end, base);
    if (errno != 0 || v > 0777) {
        problem(p, TOP("control.socket_mode"), text,
                "out of range: a mode is 0 to 0777; write it in octal with a leading zero, e.g. "
                "0660");
        return;
    }
    *out = (uint32_t)v;
}

/*
 * "ADDR:PORT" with a dotted-quad address: true with *host (host byte order)
 * and *port set, or false with a problem reported at f that shows `example`.
 */
static bool parse_addr_port(struct problems *p, struct field f, const char *text,
                            const char *example, uint32_t *host, uint16_t *port)
{
    char addr[INET_ADDRSTRLEN];
    const char *colon = strrchr(text, ':');
    uint64_t n;

    if (colon == NULL || (size_t)(colon - text) >= sizeof(addr)) {
        problem(p, f, text, "not ADDRESS:PORT; write e.g. %s", example);
        return false;
    }
    memcpy(addr, text, (size_t)(colon - text));
    addr[colon - text] = '\0';
    if (!parse_ipv4(addr, host)) {
        problem(p, f, text, "the address is not an IPv4 address; write e.g. %s", example);
        return false;
    }
    if (colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
        strlen(colon + 1) > 5 || (n = strtoull(colon + 1, NULL, 10)) < 1 || n > 65535) {
        problem(p, f, text, "the port must be a number from 1 to 65535; write e.g. %s", example);
        return false;
    }
    *port = (uint16_t)n;
    return true;
}

/* "ADDR:PORT" with a dotted-quad address, or "off". */
static void check_listen(struct problems *p, const char *text, struct yard_control_conf *c)
{
    uint32_t host;
    uint16_t port;

    if (text == NULL)
        return;
    if (strcmp(text, "off") == 0) {
        c->metrics_enabled = false;
        c->metrics_listen[0] = '\0';
        c->metrics_ipv4 = 0;
        c->metrics_port = 0;
        return;
    }
    if (!parse_addr_port(p, TOP("control.metrics_listen"), text,
                         "127.0.0.1:9740, or off to disable metrics", &host, &port))
        return;
    c->metrics_enabled = true;
    snprintf(c->metrics_listen, sizeof(c->metrics_listen), "%s", text);
    c->metrics_ipv4 = htonl(host);
    c->metrics_port = port;
}

static void check_control(struct problems *p, const struct raw_config *raw, struct yard_config *cfg)
{
    const struct raw_control *r = raw->control;
    struct yard_control_conf *c = &cfg->control;
    char example[160];

    /* The instance is known now: defaults that name it take its value. */
    control_defaults(c, cfg->instance);
    if (r != NULL) {
        snprintf(example, sizeof(example), "/run/yard/%s.sock", cfg->instance);
        check_path(p, "control.socket", r->socket, c->socket, sizeof(c->socket), example);
        check_mode(p, r->socket_mode, &c->socket_mode);
        snprintf(example, sizeof(example), "/var/lib/yard/%s", cfg->instance);
        check_path(p, "control.state_dir", r->state_dir, c->state_dir, sizeof(c->state_dir),
                   example);
        check_listen(p, r->metrics_listen, c);
        GET_UINT(p, TOP("control.lease_ms"), r->lease_ms, LEASE_MIN_MS, LEASE_MAX_MS, c->lease_ms);
        GET_UINT(p, TOP("control.max_lease_ms"), r->max_lease_ms, LEASE_MIN_MS, MAX_LEASE_MAX_MS,
                 c->max_lease_ms);
        GET_UINT(p, TOP("control.wal_compact_bytes"), r->wal_compact_bytes, WAL_COMPACT_MIN,
                 WAL_COMPACT_MAX, c->wal_compact_bytes);
        if (r->node_name != NULL) {
            if (node_name_ok(r->node_name))
                snprintf(c->node_name, sizeof(c->node_name), "%s", r->node_name);
            else
                problem(p, TOP("control.node_name"), r->node_name,
                        "must be 1 to %d characters from A-Z a-z 0-9 _ . -; use e.g. yard-1",
                        YARD_CONF_NAME_MAX);
        }
    }
    if (c->max_lease_ms < c->lease_ms) {
        char value[24];

        snprintf(value, sizeof(value), "%u", c->max_lease_ms);
        problem(p, TOP("control.max_lease_ms"), value,
                "below control.lease_ms (%u): the default lease would be over the longest one "
                "allowed; raise max_lease_ms to at least %u or lower lease_ms",
                c->lease_ms, c->lease_ms);
    }
    if (c->node_name[0] == '\0' && (r == NULL || r->node_name == NULL)) {
        char host[256] = "";

        gethostname(host, sizeof(host) - 1);
        problem(p, TOP("control.node_name"), NULL,
                "the host name '%.80s' is not a usable node name (1 to %d characters from A-Z "
                "a-z 0-9 _ . -); set control.node_name, e.g. yard-1",
                host, YARD_CONF_NAME_MAX);
    }
}

/* ---- the cluster's section ---- */

static void cluster_defaults(struct yard_cluster_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->bind_port = 7946;
    snprintf(c->profile, sizeof(c->profile), "lan");
}

/* base64 of 16, 24 or 32 bytes (AES-128/192/256), as `serf keygen` prints. */
static bool gossip_key_ok(const char *text)
{
    size_t n = strlen(text), pad = 0;

    if (n == 0 || n % 4 != 0 || n > 44)
        return false;
    while (pad < 2 && n > pad && text[n - 1 - pad] == '=')
        pad++;
    if (strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != n - pad)
        return false;
    size_t bytes = n / 4 * 3 - pad;
    return bytes == 16 || bytes == 24 || bytes == 32;
}

static void check_cluster(struct problems *p, const struct raw_config *raw, struct yard_config *cfg)
{
    const struct raw_cluster *r = raw->cluster;
    struct yard_cluster_conf *c = &cfg->cluster;
    uint32_t host;
    uint16_t port;

    cluster_defaults(c);
    if (r == NULL)
        return;
    c->enabled = true;
    if (r->bind == NULL) {
        problem(p, TOP("cluster.bind"), NULL,
                "the gossip address is required with a cluster section; write e.g. "
                "198.18.0.1:7946 (memberlist's default port)");
    } else if (parse_addr_port(p, TOP("cluster.bind"), r->bind, "198.18.0.1:7946", &host, &port)) {
        c->bind_ipv4 = htonl(host);
        c->bind_port = port;
    }
    if (r->advertise != NULL && parse_addr_port(p, TOP("cluster.advertise"), r->advertise,
                                                "203.0.113.7:7946", &host, &port)) {
        c->advertise_ipv4 = htonl(host);
        c->advertise_port = port;
    }
    if (c->bind_ipv4 == 0 && c->advertise_ipv4 == 0 && r->bind != NULL)
        problem(p, TOP("cluster.bind"), r->bind,
                "binds every address, so peers cannot be told which one is this node's; set "
                "cluster.advertise to the address they should use");
    if (r->join_count > YARD_CLUSTER_MAX_JOIN)
        problem(p, TOP("cluster.join"), NULL, "%u seeds; at most %d are kept, list fewer",
                r->join_count, YARD_CLUSTER_MAX_JOIN);
    for (unsigned i = 0; i < r->join_count && i < YARD_CLUSTER_MAX_JOIN; i++) {
        if (r->join[i] == NULL ||
            !parse_addr_port(p, AT("cluster.join", i, NULL), r->join[i] ? r->join[i] : "",
                             "198.18.0.2:7946", &host, &port))
            continue;
        snprintf(c->join[c->nb_join++], sizeof(c->join[0]), "%s", r->join[i]);
    }
    if (r->profile != NULL) {
        if (strcmp(r->profile, "lan") == 0 || strcmp(r->profile, "wan") == 0 ||
            strcmp(r->profile, "local") == 0)
            snprintf(c->profile, sizeof(c->profile), "%s", r->profile);
        else
            problem(p, TOP("cluster.profile"), r->profile,
                    "unknown timing profile; use lan (memberlist's defaults), wan or local");
    }
    if (r->data_address != NULL && parse_addr_port(p, TOP("cluster.data_address"), r->data_address,
                                                   "198.18.0.1:7400", &host, &port)) {
        c->data_ipv4 = htonl(host);
        c->data_port = port;
    }
    if (r->keys_count > YARD_CLUSTER_MAX_KEYS)
        problem(p, TOP("cluster.keys"), NULL, "%u keys; a keyring holds at most %d", r->keys_count,
                YARD_CLUSTER_MAX_KEYS);
    for (unsigned i = 0; i < r->keys_count && i < YARD_CLUSTER_MAX_KEYS; i++) {
        if (r->keys[i] == NULL || !gossip_key_ok(r->keys[i])) {
            /* A key is a secret: the message does not repeat it. */
            problem(p, AT("cluster.keys", i, NULL), NULL,
                    "not a gossip key: base64 of 16, 24 or 32 bytes, as `serf keygen` prints");
            continue;
        }
        snprintf(c->keys[c->nb_keys++], sizeof(c->keys[0]), "%s", r->keys[i]);
    }
    GET_UINT(p, TOP("cluster.probe_interval_ms"), r->probe_interval_ms, 10, 600000,
             c->probe_interval_ms);
    GET_UINT(p, TOP("cluster.probe_timeout_ms"), r->probe_timeout_ms, 5, 600000,
             c->probe_timeout_ms);
    GET_UINT(p, TOP("cluster.gossip_interval_ms"), r->gossip_interval_ms, 5, 600000,
             c->gossip_interval_ms);
    GET_UINT(p, TOP("cluster.gossip_nodes"), r->gossip_nodes, 1, 64, c->gossip_nodes);
    GET_UINT(p, TOP("cluster.suspicion_mult"), r->suspicion_mult, 1, 64, c->suspicion_mult);
    GET_UINT(p, TOP("cluster.retransmit_mult"), r->retransmit_mult, 1, 64, c->retransmit_mult);
    GET_UINT(p, TOP("cluster.push_pull_interval_ms"), r->push_pull_interval_ms, 100, 86400000,
             c->push_pull_interval_ms);
    if (c->probe_interval_ms != 0 && c->probe_timeout_ms >= c->probe_interval_ms) {
        char value[24];

        snprintf(value, sizeof(value), "%u", c->probe_timeout_ms);
        problem(p, TOP("cluster.probe_timeout_ms"), value,
                "not below cluster.probe_interval_ms (%u): a probe must time out within its "
                "round; lower it (memberlist: 500 of 1000)",
                c->probe_interval_ms);
    }
}

/* Read one lcore list; `seen` marks lcores of this list, `other` those of the other list. */
static unsigned read_lcores(struct problems *p, const char *name, char *const *texts,
                            unsigned count, unsigned *out, long *seen, const long *other,
                            const char *other_name)
{
    unsigned n = 0;
    unsigned i;

    for (i = 0; i < count; i++) {
        uint64_t id;

        if (texts[i] == NULL) {
            problem(p, AT(name, i, NULL), NULL, "empty list entry; write an lcore id from 0 to %d",
                    YARD_CONF_MAX_LCORES - 1);
            continue;
        }
        if (conv_uint(p, AT(name, i, NULL), texts[i], 0, YARD_CONF_MAX_LCORES - 1, &id) <= 0)
            continue;
        if (seen[id] >= 0) {
            problem(p, AT(name, i, NULL), texts[i],
                    "lcore listed twice (also %s[%ld]); list it once", name, seen[id]);
            continue;
        }
        if (other != NULL && other[id] >= 0) {
            problem(p, AT(name, i, NULL), texts[i],
                    "lcore %llu is also %s[%ld]; an lcore either routes or transmits, keep it in "
                    "one list",
                    (unsigned long long)id, other_name, other[id]);
            continue;
        }
        seen[id] = i;
        out[n++] = (unsigned)id;
    }
    return n;
}

static void check_lcores(struct problems *p, const struct raw_config *raw, struct yard_config *cfg)
{
    long workers_at[YARD_CONF_MAX_LCORES];
    long tx_at[YARD_CONF_MAX_LCORES];
    unsigned i;

    for (i = 0; i < YARD_CONF_MAX_LCORES; i++)
        workers_at[i] = tx_at[i] = -1;
    cfg->nb_workers = read_lcores(p, "workers", raw->workers, raw->workers_count, cfg->workers,
                                  workers_at, NULL, NULL);
    cfg->nb_tx_lcores = read_lcores(p, "tx_lcores", raw->tx_lcores, raw->tx_lcores_count,
                                    cfg->tx_lcores, tx_at, workers_at, "workers");

    if (cfg->mode == YARD_MODE_PIPELINE && raw->tx_lcores_count == 0)
        problem(p, TOP("tx_lcores"), "[]",
                "pipeline mode needs at least one transmit lcore; add e.g. tx_lcores: [2], or use "
                "mode: rtc");
    if (cfg->mode == YARD_MODE_RTC && raw->tx_lcores_count > 0)
        problem(p, TOP("tx_lcores"), raw->tx_lcores[0],
                "rtc mode has no transmit lcores (each worker transmits); remove tx_lcores, or "
                "use mode: pipeline");
}

static bool device_name_ok(const char *s)
{
    size_t n = strlen(s);
    size_t i;

    if (n == 0 || n >= sizeof(((struct yard_port_conf *)0)->device))
        return false;
    for (i = 0; i < n; i++)
        if (!isgraph((unsigned char)s[i]))
            return false;
    return true;
}

static void check_port_ipv4(struct problems *p, unsigned i, const char *text,
                            struct yard_port_conf *port)
{
    char addr[20];
    const char *slash;
    const char *why;
    uint64_t len;
    uint32_t host;
    uint32_t mask;

    if (text == NULL) {
        problem(p, AT("ports", i, "ipv4"), NULL,
                "every port needs its address; add ipv4: 198.18.0.1/24 (address/prefix length)");
        return;
    }
    slash = strchr(text, '/');
    if (slash == NULL || (size_t)(slash - text) >= sizeof(addr)) {
        problem(p, AT("ports", i, "ipv4"), text,
                "not an IPv4 address with a prefix length; write it like 198.18.0.1/24");
        return;
    }
    memcpy(addr, text, (size_t)(slash - text));
    addr[slash - text] = '\0';
    if (!parse_ipv4(addr, &host) || slash[1] < '0' || slash[1] > '9' ||
        strspn(slash + 1, "0123456789") != strlen(slash + 1) || strlen(slash + 1) > 2) {
        problem(p, AT("ports", i, "ipv4"), text,
                "not an IPv4 address with a prefix length; write it like 198.18.0.1/24");
        return;
    }
    len = strtoull(slash + 1, NULL, 10);
    if (len < 8 || len > 32) {
        problem(p, AT("ports", i, "ipv4"), text,
                "prefix length must be 8 to 32; write it like 198.18.0.1/24");
        return;
    }
    why = not_a_host(host);
    if (why != NULL) {
        problem(p, AT("ports", i, "ipv4"), text, "the address %s; use a unicast host address", why);
        return;
    }
    mask = prefix_mask((unsigned)len);
    if (len <= 30 && ((host & ~mask) == 0 || (host & ~mask) == ~mask)) {
        char first[INET_ADDRSTRLEN];

        format_ipv4(first, sizeof(first), (host & mask) + 1);
        problem(p, AT("ports", i, "ipv4"), text,
                "is the subnet's %s address, not a host address; use a host address such as "
                "%s/%llu",
                (host & ~mask) == 0 ? "network" : "broadcast", first, (unsigned long long)len);
        return;
    }
    port->ipv4 = htonl(host);
    port->prefix_len = (uint8_t)len;
}

static void check_port_gateway(struct problems *p, unsigned i, const char *text,
                               struct yard_port_conf *port)
{
    uint32_t gw;
    uint32_t own = ntohl(port->ipv4);
    uint32_t mask = prefix_mask(port->prefix_len);
    char net[INET_ADDRSTRLEN];

    if (text == NULL)
        return;
    if (!parse_ipv4(text, &gw)) {
        problem(p, AT("ports", i, "gateway"), text,
                "not an IPv4 address; write it like 198.18.0.254");
        return;
    }
    if (port->ipv4 == 0)
        return; /* the port's own address is already reported */
    format_ipv4(net, sizeof(net), own & mask);
    if ((gw & mask) != (own & mask)) {
        problem(p, AT("ports", i, "gateway"), text,
                "outside the port's subnet %s/%u, so it cannot be reached; use an address inside "
                "it or fix the port's ipv4 prefix",
                net, port->prefix_len);
        return;
    }
    if (gw == own) {
        problem(p, AT("ports", i, "gateway"), text,
                "is the port's own address; use the address of the next-hop router");
        return;
    }
    if (port->prefix_len <= 30 && ((gw & ~mask) == 0 || (gw & ~mask) == ~mask)) {
        problem(p, AT("ports", i, "gateway"), text,
                "is the network or broadcast address of %s/%u; use the next-hop router's address",
                net, port->prefix_len);
        return;
    }
    port->gateway = htonl(gw);
}

static void check_ports(struct problems *p, const struct raw_config *raw, struct yard_config *cfg)
{
    unsigned i;
    unsigned j;

    if (raw->ports_count == 0) {
        problem(p, TOP("ports"), NULL,
                "at least one port is required; add a ports: list, e.g. - device: net_memif0 "
                "with ipv4: 198.18.0.1/24");
        return;
    }
    if (raw->ports_count > YARD_CONF_MAX_PORTS) {
        char value[24];

        snprintf(value, sizeof(value), "%u entries", raw->ports_count);
        problem(p, TOP("ports"), value, "too many ports; list at most %d", YARD_CONF_MAX_PORTS);
        return;
    }
    cfg->nb_ports = raw->ports_count;
    for (i = 0; i < raw->ports_count; i++) {
        const struct raw_port *r = &raw->ports[i];
        struct yard_port_conf *port = &cfg->ports[i];

        port->rx_queues = 1;
        port->rx_desc = 1024;
        port->tx_desc = 1024;
        if (r->device == NULL)
            problem(p, AT("ports", i, "device"), NULL,
                    "every port needs a device; add device: net_memif0 (a --vdev name) or a PCI "
                    "address such as 0000:01:00.0");
        else if (!device_name_ok(r->device))
            problem(p, AT("ports", i, "device"), r->device,
                    "not a device name (1 to 63 characters, no spaces); use the ethdev name, e.g. "
                    "net_memif0 or 0000:01:00.0");
        else
            snprintf(port->device, sizeof(port->device), "%s", r->device);
        check_port_ipv4(p, i, r->ipv4, port);
        check_port_gateway(p, i, r->gateway, port);
        GET_UINT(p, AT("ports", i, "rx_queues"), r->rx_queues, 1, 16, port->rx_queues);
        GET_POW2(p, AT("ports", i, "rx_desc"), r->rx_desc, 64, 4096, port->rx_desc);
        GET_POW2(p, AT("ports", i, "tx_desc"), r->tx_desc, 64, 4096, port->tx_desc);
        GET_UINT(p, AT("ports", i, "mtu"), r->mtu, 68, 9600, port->mtu);
        conv_bool(p, AT("ports", i, "promiscuous"), r->promiscuous, &port->promiscuous);
    }

    /* At most 32 ports: pairwise is cheaper than anything cleverer. */
    for (i = 0; i < cfg->nb_ports; i++) {
        const struct yard_port_conf *a = &cfg->ports[i];

        for (j = 0; j < i; j++) {
            const struct yard_port_conf *b = &cfg->ports[j];
            uint32_t mask;

            if (a->device[0] != '\0' && strcmp(a->device, b->device) == 0)
                problem(p, AT("ports", i, "device"), a->device,
                        "same device as ports[%u]; list each device once", j);
            if (a->ipv4 == 0 || b->ipv4 == 0)
                continue;
            mask = prefix_mask(a->prefix_len < b->prefix_len ? a->prefix_len : b->prefix_len);
            if (a->ipv4 == b->ipv4)
                problem(p, AT("ports", i, "ipv4"), raw->ports[i].ipv4,
                        "same address as ports[%u]; give each port its own address", j);
            else if ((ntohl(a->ipv4) & mask) == (ntohl(b->ipv4) & mask))
                problem(p, AT("ports", i, "ipv4"), raw->ports[i].ipv4,
                        "subnet overlaps ports[%u] (%s), so a next hop would be ambiguous; give "
                        "each port its own subnet",
                        j, raw->ports[j].ipv4);
        }
    }
}

/* ---- routes ---- */

static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/*
 * Duplicate route names: open addressing over a table of at least twice the
 * route count, so a million routes cost a million probes, not n^2 compares.
 */
struct name_set {
    uint32_t *slot; /* route index + 1; 0 = empty */
    uint64_t mask;
};

static int name_set_init(struct name_set *set, unsigned n)
{
    uint64_t size = 16;

    while (size < (uint64_t)n * 2)
        size *= 2;
    set->slot = calloc(size, sizeof(*set->slot));
    set->mask = size - 1;
    return set->slot == NULL ? -ENOMEM : 0;
}

/* Insert route `idx`; returns the index of an earlier route with that name, or -1. */
static long name_set_add(struct name_set *set, const struct yard_route_conf *routes, unsigned idx)
{
    const struct yard_route_conf *r = &routes[idx];
    uint64_t h = name_hash(r->name, r->name_len) & set->mask;

    for (;; h = (h + 1) & set->mask) {
        uint32_t s = set->slot[h];

        if (s == 0) {
            set->slot[h] = idx + 1;
            return -1;
        }
        if (routes[s - 1].name_len == r->name_len &&
            memcmp(routes[s - 1].name, r->name, r->name_len) == 0)
            return (long)s - 1;
    }
}

static void check_route_reach(struct problems *p, const struct raw_config *raw,
                              const struct yard_config *cfg, unsigned i, uint32_t host,
                              bool any_gateway)
{
    const struct raw_route *r = &raw->routes[i];
    const char *label = cfg->routes[i].name_len > 0 ? cfg->routes[i].name : "(unnamed)";
    bool inside = false;
    unsigned j;

    for (j = 0; j < cfg->nb_ports; j++) {
        const struct yard_port_conf *port = &cfg->ports[j];
        uint32_t own = ntohl(port->ipv4);
        uint32_t mask = prefix_mask(port->prefix_len);

        if (port->ipv4 == 0)
            continue;
        if (host == own) {
            problem(p, AT("routes", i, "ipv4"), r->ipv4,
                    "route '%s' points at the appliance's own address (ports[%u]); use the "
                    "address of the host that runs the service",
                    label, j);
            return;
        }
        if ((host & mask) == (own & mask)) {
            if (port->prefix_len <= 30 && (host & ~mask) == ~mask) {
                problem(p, AT("routes", i, "ipv4"), r->ipv4,
                        "route '%s' points at the broadcast address of ports[%u]'s subnet; use "
                        "the service host's address",
                        label, j);
                return;
            }
            inside = true;
        }
    }
    if (!inside && !any_gateway && cfg->nb_ports > 0) {
        char net[INET_ADDRSTRLEN];
        const struct yard_port_conf *first = &cfg->ports[0];

        format_ipv4(net, sizeof(net), ntohl(first->ipv4) & prefix_mask(first->prefix_len));
        problem(p, AT("routes", i, "ipv4"), r->ipv4,
                "route '%s' is not reachable: the address is in no port's subnet (e.g. ports[0] "
                "is %s/%u) and no port has a gateway; add gateway: <router address> to the port "
                "that leads there, or fix the address",
                label, net, first->prefix_len);
    }
}

static int check_routes(struct problems *p, const struct raw_config *raw, struct yard_config *cfg)
{
    struct name_set names;
    bool any_gateway = false;
    bool ports_ok = true;
    unsigned i;

    if (raw->routes_count == 0)
        return 0;
    if (raw->routes_count > YARD_CONF_MAX_ROUTES) {
        char value[24];

        snprintf(value, sizeof(value), "%u entries", raw->routes_count);
        problem(p, TOP("routes"), value,
                "too many static routes; list at most %u (applications can register the rest)",
                YARD_CONF_MAX_ROUTES);
        return 0;
    }
    cfg->routes = calloc(raw->routes_count, sizeof(*cfg->routes));
    if (cfg->routes == NULL)
        return -ENOMEM;
    if (name_set_init(&names, raw->routes_count) < 0)
        return -ENOMEM;
    cfg->nb_routes = raw->routes_count;

    for (i = 0; i < cfg->nb_ports; i++) {
        any_gateway |= cfg->ports[i].gateway != 0;
        ports_ok &= cfg->ports[i].ipv4 != 0;
    }

    for (i = 0; i < raw->routes_count; i++) {
        const struct raw_route *r = &raw->routes[i];
        struct yard_route_conf *route = &cfg->routes[i];
        uint32_t host;
        const char *why;
        size_t n;

        n = r->name == NULL ? 0 : strlen(r->name);
        if (r->name == NULL) {
            problem(p, AT("routes", i, "name"), NULL,
                    "every route needs a name; add name: svc.example (1 to %d bytes)",
                    YARD_CONF_NAME_MAX);
        } else if (n == 0 || n > YARD_CONF_NAME_MAX) {
            problem(p, AT("routes", i, "name"), r->name,
                    "a name is 1 to %d bytes (this one has %zu); shorten it", YARD_CONF_NAME_MAX,
                    n);
        } else {
            long first;

            memcpy(route->name, r->name, n + 1);
            route->name_len = (uint8_t)n;
            first = name_set_add(&names, cfg->routes, i);
            if (first >= 0)
                problem(p, AT("routes", i, "name"), r->name,
                        "same name as routes[%ld]; each name has one static route, remove or "
                        "rename one",
                        first);
        }

        if (r->udp_port == NULL)
            problem(p, AT("routes", i, "udp_port"), NULL,
                    "every route needs the service's UDP port; add udp_port: 7500");
        else
            GET_UINT(p, AT("routes", i, "udp_port"), r->udp_port, 1, 65535, route->udp_port);

        if (r->mac != NULL) {
            if (!yard_parse_mac(r->mac, route->mac))
                problem(p, AT("routes", i, "mac"), r->mac,
                        "not a MAC address; write it like 02:00:00:00:00:02, or remove mac: to "
                        "resolve the next hop with ARP");
            else if (route->mac[0] & 1)
                problem(p, AT("routes", i, "mac"), r->mac,
                        "a multicast or broadcast MAC cannot be a next hop; use the host's "
                        "unicast MAC (even first byte)");
            else if ((route->mac[0] | route->mac[1] | route->mac[2] | route->mac[3] |
                      route->mac[4] | route->mac[5]) == 0)
                problem(p, AT("routes", i, "mac"), r->mac,
                        "all-zero MAC; use the host's real MAC, or remove mac: to resolve it with "
                        "ARP");
            else
                route->has_mac = true;
        }

        if (r->ipv4 == NULL) {
            problem(p, AT("routes", i, "ipv4"), NULL,
                    "every route needs the service host's address; add ipv4: 198.18.0.2");
            continue;
        }
        if (!parse_ipv4(r->ipv4, &host)) {
            problem(p, AT("routes", i, "ipv4"), r->ipv4,
                    "not an IPv4 address; write it like 198.18.0.2");
            continue;
        }
        why = not_a_host(host);
        if (why != NULL) {
            problem(p, AT("routes", i, "ipv4"), r->ipv4,
                    "the address %s; a route leads to one unicast host", why);
            continue;
        }
        route->ipv4 = htonl(host);
        if (ports_ok)
            check_route_reach(p, raw, cfg, i, host, any_gateway);
    }
    free(names.slot);
    return 0;
}

/* ---- the exact-line pass over libyaml events (only for rejected documents) ---- */

#define SCAN_DEPTH 8

struct scan_frame {
    const cyaml_schema_value_t *schema; /* a mapping or a sequence */
    bool want_key;                      /* mapping: next node is a key */
    const cyaml_schema_field_t *field;  /* mapping: field of the current value, NULL = unknown */
    char key[40];                       /* mapping: current key, for paths */
    unsigned idx;                       /* sequence: index of the current entry */
    uint64_t seen;                      /* mapping: field indexes already given */
};

struct scan {
    struct problems *p;
    struct scan_frame frame[SCAN_DEPTH];
    unsigned depth;
    unsigned skip; /* nesting inside a node that is already reported or unknown */
};

static void scan_path(const struct scan *s, char *out, size_t outlen)
{
    size_t o = 0;
    unsigned i;

    out[0] = '\0';
    for (i = 0; i < s->depth && o < outlen; i++) {
        const struct scan_frame *f = &s->frame[i];

        if (f->schema->type == CYAML_MAPPING && !f->want_key)
            o += (size_t)snprintf(out + o, outlen - o, "%s%s", o > 0 ? "." : "", f->key);
        else if (f->schema->type == CYAML_SEQUENCE)
            o += (size_t)snprintf(out + o, outlen - o, "[%u]", f->idx);
    }
    if (out[0] == '\0')
        snprintf(out, outlen, "(top level)");
}

static void scan_known_keys(const cyaml_schema_field_t *fields, char *out, size_t outlen)
{
    size_t o = 0;

    out[0] = '\0';
    for (; fields->key != NULL && o < outlen; fields++)
        o += (size_t)snprintf(out + o, outlen - o, "%s%s", o > 0 ? ", " : "", fields->key);
}

static bool scan_is_null(const char *v)
{
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static const char *kind_name(enum cyaml_type type)
{
    switch (type) {
    case CYAML_MAPPING:
        return "a block of key: value lines";
    case CYAML_SEQUENCE:
        return "a list ([a, b] or one '- item' per line)";
    default:
        return "a single value";
    }
}

/* The schema the next node must match, or NULL when its place is unknown. */
static const cyaml_schema_value_t *scan_expected(struct scan *s)
{
    struct scan_frame *f;

    if (s->depth == 0)
        return &top_schema;
    f = &s->frame[s->depth - 1];
    if (f->schema->type == CYAML_SEQUENCE)
        return f->schema->sequence.entry;
    return f->field == NULL ? NULL : &f->field->value;
}

/* A node (scalar, or a collection that just ended) is complete in its parent. */
static void scan_node_done(struct scan *s)
{
    struct scan_frame *f;

    if (s->depth == 0)
        return;
    f = &s->frame[s->depth - 1];
    if (f->schema->type == CYAML_SEQUENCE)
        f->idx++;
    else
        f->want_key = !f->want_key;
}

static void scan_key(struct scan *s, const yaml_event_t *ev)
{
    struct scan_frame *f = &s->frame[s->depth - 1];
    const char *key = (const char *)ev->data.scalar.value;
    const cyaml_schema_field_t *fields = f->schema->mapping.fields;
    unsigned i;

    f->field = NULL;
    snprintf(f->key, sizeof(f->key), "%s", key);
    for (i = 0; fields[i].key != NULL; i++) {
        if (strcmp(fields[i].key, key) != 0)
            continue;
        if (i < 64 && (f->seen & (1ull << i))) {
            char path[160];

            f->want_key = false;
            scan_path(s, path, sizeof(path));
            f->want_key = true;
            problem_text(s->p, "%s: given twice (line %zu); keep one", path,
                         ev->start_mark.line + 1);
        } else {
            f->field = &fields[i];
        }
        if (i < 64)
            f->seen |= 1ull << i;
        return;
    }
    {
        char path[160];
        char known[256];

        f->want_key = false;
        scan_path(s, path, sizeof(path));
        f->want_key = true;
        scan_known_keys(fields, known, sizeof(known));
        problem_text(s->p, "%s: unknown key (line %zu, column %zu); the keys allowed here are %s",
                     path, ev->start_mark.line + 1, ev->start_mark.column + 1, known);
    }
}

static void scan_wrong_kind(struct scan *s, const yaml_event_t *ev,
                            const cyaml_schema_value_t *want, const char *got)
{
    char path[160];

    scan_path(s, path, sizeof(path));
    problem_text(s->p, "%s: %s found where %s belongs (line %zu, column %zu); write %s", path, got,
                 kind_name(want->type), ev->start_mark.line + 1, ev->start_mark.column + 1,
                 kind_name(want->type));
}

static void scan_event(struct scan *s, const yaml_event_t *ev)
{
    const cyaml_schema_value_t *want;
    struct scan_frame *top = s->depth > 0 ? &s->frame[s->depth - 1] : NULL;

    if (s->skip > 0) {
        if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT)
            s->skip++;
        else if (ev->type == YAML_MAPPING_END_EVENT || ev->type == YAML_SEQUENCE_END_EVENT)
            if (--s->skip == 0)
                scan_node_done(s);
        return;
    }
    switch (ev->type) {
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        if (s->depth > 0)
            s->depth--;
        scan_node_done(s);
        return;
    case YAML_SCALAR_EVENT:
    case YAML_ALIAS_EVENT:
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        break;
    default:
        return;
    }

    if (top != NULL && top->schema->type == CYAML_MAPPING && top->want_key) {
        if (ev->type == YAML_SCALAR_EVENT) {
            scan_key(s, ev);
        } else if (ev->type != YAML_ALIAS_EVENT) {
            problem_text(s->p, "line %zu, column %zu: a key must be a plain word; write key: value",
                         ev->start_mark.line + 1, ev->start_mark.column + 1);
            top->field = NULL;
            s->skip = 1;
            return;
        }
        scan_node_done(s);
        return;
    }

    want = scan_expected(s);
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *v = (const char *)ev->data.scalar.value;

        if (want != NULL && want->type != CYAML_STRING &&
            !((want->flags & CYAML_FLAG_POINTER_NULL_STR) == CYAML_FLAG_POINTER_NULL_STR &&
              scan_is_null(v)))
            scan_wrong_kind(s, ev, want, "a single value");
        else if (want != NULL && strlen(v) != ev->data.scalar.length) {
            char path[160];

            scan_path(s, path, sizeof(path));
            problem_text(s->p, "%s: contains a NUL byte (line %zu); remove the \\0 escape", path,
                         ev->start_mark.line + 1);
        }
        scan_node_done(s);
        return;
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        scan_node_done(s);
        return;
    }

    /* A mapping or a sequence starts. */
    {
        enum cyaml_type got = ev->type == YAML_MAPPING_START_EVENT ? CYAML_MAPPING : CYAML_SEQUENCE;

        if (want != NULL && want->type != got)
            scan_wrong_kind(s, ev, want,
                            got == CYAML_MAPPING ? "a block of key: value lines" : "a list");
        if (want == NULL || want->type != got || s->depth == SCAN_DEPTH) {
            s->skip = 1;
            return;
        }
        top = &s->frame[s->depth++];
        memset(top, 0, sizeof(*top));
        top->schema = want;
        top->want_key = true;
    }
}

/*
 * Parse `yaml` again with libyaml and report, at their exact lines, syntax
 * errors, unknown keys, repeated keys, values of the wrong kind and scalars
 * with a NUL byte. Returns the number of problems reported.
 */
static unsigned scan_document(struct problems *p, const char *yaml, size_t len)
{
    struct scan s = {.p = p};
    unsigned before = p->count;
    yaml_parser_t parser;
    yaml_event_t ev;
    bool done = false;

    if (!yaml_parser_initialize(&parser))
        return 0;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.context != NULL)
                problem_text(p,
                             "line %zu, column %zu: YAML syntax error: %s (%s at line %zu); check "
                             "the indentation and that each key is followed by ': '",
                             parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                             parser.problem ? parser.problem : "unreadable", parser.context,
                             parser.context_mark.line + 1);
            else
                problem_text(p,
                             "line %zu, column %zu: YAML syntax error: %s; check the indentation "
                             "and the quoting",
                             parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                             parser.problem ? parser.problem : "unreadable");
            break;
        }
        scan_event(&s, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return p->count - before;
}

/* A NUL can only come from an escape in a double-quoted scalar; look before parsing again. */
static bool may_hold_nul(const char *yaml, size_t len)
{
    return memchr(yaml, '\0', len) != NULL || memmem(yaml, len, "\\0", 2) != NULL ||
           memmem(yaml, len, "\\x00", 4) != NULL || memmem(yaml, len, "\\u0000", 6) != NULL ||
           memmem(yaml, len, "\\U00000000", 10) != NULL;
}

/* ---- libcyaml's allocator ---- */

/*
 * libcyaml grows a sequence by one entry per realloc(). glibc grows big
 * blocks in place with mremap(), but an allocator whose realloc() always
 * copies (AddressSanitizer's, valgrind's) turns 100,000 routes into minutes
 * of quadratic copying. Growing geometrically here keeps loading linear
 * whatever malloc is underneath; malloc_usable_size() is the block's real
 * capacity, so no header is needed and small strings cost nothing extra.
 */
static void *cyaml_grow(void *ctx, void *ptr, size_t size)
{
    size_t usable;

    (void)ctx;
    if (size == 0) {
        free(ptr);
        return NULL;
    }
    if (ptr == NULL)
        return malloc(size);
    usable = malloc_usable_size(ptr);
    if (size <= usable)
        return ptr;
    return realloc(ptr, size < usable * 2 ? usable * 2 : size);
}

/* ---- libcyaml's log, kept for the message when the scan finds nothing ---- */

struct cyaml_log {
    char text[2048];
    size_t len;
};

static void cyaml_log_capture(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    struct cyaml_log *log = ctx;
    int n;

    if (level < CYAML_LOG_ERROR || log->len + 1 >= sizeof(log->text))
        return;
    n = vsnprintf(log->text + log->len, sizeof(log->text) - log->len, fmt, args);
    if (n > 0)
        log->len +=
            (size_t)n < sizeof(log->text) - log->len ? (size_t)n : sizeof(log->text) - log->len - 1;
}

/*
 * libcyaml logs "Load: <problem>\n", "Load: Backtrace:\n" and then one
 * "  in ... (line: L, column: C)\n" per enclosing block; keep the problem
 * and the innermost block.
 */
static void report_cyaml_log(struct problems *p, const struct cyaml_log *log, cyaml_err_t err)
{
    char first[256] = "";
    const char *where = strstr(log->text, "\n  in ");
    const char *line = log->text;
    size_t n;

    if (strncmp(line, "Load: ", 6) == 0)
        line += 6;
    n = strcspn(line, "\n");
    snprintf(first, sizeof(first), "%.*s", (int)(n < 200 ? n : 200), line);
    if (first[0] == '\0')
        snprintf(first, sizeof(first), "%s", cyaml_strerror(err));
    if (where != NULL) {
        where += 3;
        n = strcspn(where, "\n");
        problem_text(p, "%s, %.*s; fix the YAML there", first, (int)(n < 200 ? n : 200), where);
    } else {
        problem_text(p, "%s; fix the YAML", first);
    }
}

/* ---- public API ---- */

void yard_config_defaults(struct yard_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->instance, sizeof(cfg->instance), "default");
    cfg->mode = YARD_MODE_RTC;
    cfg->burst = 32;
    cfg->data_udp_port = 7400;
    cfg->mbufs = 16383;
    cfg->mbuf_cache = 256;
    cfg->class_queue_size = 1024;
    cfg->idle_backoff = true;
    cfg->idle_spin_polls = 512;
    cfg->idle_sleep_us = 200;
    cfg->arp_hold_packets = 4;
    cfg->arp_retry_ms = 500;
    cfg->arp_retries = 3;
    cfg->neighbor_ttl_s = 300;
    cfg->directory_capacity = 65536;
    cfg->punt_rate_per_source = 10000;
    cfg->punt_burst = 1000;
    control_defaults(&cfg->control, cfg->instance);
    cluster_defaults(&cfg->cluster);
}

/*
 * On failure cfg is left at its defaults with no routes, so the caller may
 * call yard_config_free() whatever the result.
 */
int yard_config_parse(const char *name, const char *yaml, size_t len, struct yard_config *cfg,
                      char *err, size_t errlen)
{
    struct problems p = {.file = name, .buf = err, .cap = err == NULL ? 0 : errlen};
    struct cyaml_log log = {.len = 0};
    const cyaml_config_t cyaml_cfg = {
        .log_fn = cyaml_log_capture,
        .log_ctx = &log,
        .mem_fn = cyaml_grow,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_DEFAULT,
    };
    struct raw_config empty = {.ports_count = 0};
    struct raw_config *raw = NULL;
    cyaml_err_t cerr;
    int rc = 0;

    yard_config_defaults(cfg);
    snprintf(cfg->path, sizeof(cfg->path), "%s", name);
    if (p.cap > 0)
        err[0] = '\0';

    cerr = cyaml_load_data((const uint8_t *)yaml, len, &cyaml_cfg, &top_schema,
                           (cyaml_data_t **)&raw, NULL);
    if (cerr != CYAML_OK) {
        if (cerr == CYAML_ERR_OOM) {
            problem_text(&p, "out of memory while reading the file");
            problems_finish(&p);
            return -ENOMEM;
        }
        if (scan_document(&p, yaml, len) == 0)
            report_cyaml_log(&p, &log, cerr);
        problems_finish(&p);
        return -EINVAL;
    }
    if (may_hold_nul(yaml, len))
        scan_document(&p, yaml, len);

    /* An empty document loads as NULL: every field at its default, and no port. */
    if (raw == NULL)
        raw = &empty;
    check_scalars(&p, raw, cfg);
    check_control(&p, raw, cfg);
    check_cluster(&p, raw, cfg);
    check_lcores(&p, raw, cfg);
    check_ports(&p, raw, cfg);
    rc = check_routes(&p, raw, cfg);
    if (rc == -ENOMEM)
        problem_text(&p, "out of memory for %u routes", raw->routes_count);
    if (cfg->nb_routes > cfg->directory_capacity) {
        char value[24];

        snprintf(value, sizeof(value), "%u", cfg->directory_capacity);
        problem(&p, TOP("directory_capacity"), value,
                "smaller than the %u routes in this file; raise directory_capacity to at least %u "
                "(and leave room for the names applications register)",
                cfg->nb_routes, cfg->nb_routes);
    }

    if (raw != &empty)
        cyaml_free(&cyaml_cfg, &top_schema, raw, 0);
    if (rc == 0 && p.count > 0)
        rc = -EINVAL;
    if (rc != 0) {
        yard_config_free(cfg);
        problems_finish(&p);
    }
    return rc;
}

int yard_config_load(const char *path, struct yard_config *cfg, char *err, size_t errlen)
{
    FILE *f;
    char *text = NULL;
    size_t len = 0;
    size_t cap = 0;
    int rc;

    yard_config_defaults(cfg);
    f = fopen(path, "r");
    if (f == NULL) {
        rc = -errno;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
        return rc;
    }
    for (;;) {
        size_t n;

        if (len == cap) {
            char *more;

            cap = cap == 0 ? 65536 : cap * 2;
            more = realloc(text, cap);
            if (more == NULL) {
                rc = -ENOMEM;
                if (err != NULL && errlen > 0)
                    snprintf(err, errlen, "%s: out of memory reading the file", path);
                goto out;
            }
            text = more;
        }
        n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        rc = errno != 0 ? -errno : -EIO;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
        goto out;
    }
    rc = yard_config_parse(path, text, len, cfg, err, errlen);
out:
    free(text);
    fclose(f);
    return rc;
}

void yard_config_free(struct yard_config *cfg)
{
    free(cfg->routes);
    cfg->routes = NULL;
    cfg->nb_routes = 0;
}

const char *yard_mode_name(enum yard_mode mode)
{
    switch (mode) {
    case YARD_MODE_RTC:
        return "rtc";
    case YARD_MODE_PIPELINE:
        return "pipeline";
    }
    return "unknown";
}
