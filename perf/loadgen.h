/*
 * loadgen.h - what the parts of yard-loadgen share: its options, the message
 * templates, the worker's counters and the reports.
 *
 * yard-loadgen sends envelopes to a router at a set rate from one worker lcore
 * and receives what the router forwards back to it on the same lcore, so the
 * send timestamp it stores in each envelope's id gives the round trip when the
 * message returns. The main lcore only reports. Two modes need no EAL at all
 * (--emit-routes, --write-pcap) so they run without hugepages.
 *
 * Besides messages to names, it can send REGISTERs (--kind register), whose
 * ACKs and NACKs echo the request's id and so are timed the same way, and
 * publish to one topic whose subscribers are its own address on several UDP
 * ports (--topic, --subscribers), counting the copies per port.
 */
#ifndef YARD_LOADGEN_H
#define YARD_LOADGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "frame.h"
#include "yard_hist.h"

#define YARD_LG_CLASSES       4
#define YARD_LG_MAX_SIZES     16
#define YARD_LG_MAX_TEMPLATES (1u << 22)
/* Prebuilt frames may take this much memory (a million names of one class
 * and size take about 128 MB). */
#define YARD_LG_MAX_ARENA_BYTES (1ull << 30)
/* --subscribers: UDP ports counted separately, from --src-port up. */
#define YARD_LG_MAX_SUBSCRIBERS 1024

/* What the load generator sends (--kind). */
enum yard_lg_kind {
    YARD_LG_KIND_MSG = 0,      /* messages to names (or to --topic), routed back to us */
    YARD_LG_KIND_REGISTER = 1, /* REGISTER for names "<prefix><n>", answered by ACK/NACK */
};

struct yard_lg_opts {
    char port[64];      /* ethdev name; empty = the first port */
    uint32_t src_ip;    /* network byte order */
    uint32_t router_ip; /* network byte order */
    uint16_t src_port;
    uint16_t router_port;
    uint8_t router_mac[6];
    bool router_mac_set;
    uint8_t src_mac[6];
    bool src_mac_set;
    char src_name[64];
    unsigned ttl;
    unsigned names;
    unsigned max_name_len;
    unsigned unknown_pct;
    unsigned class_weight[YARD_LG_CLASSES];
    unsigned body_sizes[YARD_LG_MAX_SIZES];
    unsigned nb_body_sizes;
    uint64_t rate_pps; /* 0 = as fast as the port takes them */
    double duration_s; /* 0 = until SIGINT */
    unsigned burst;
    double interval_s;
    double drain_s;        /* receiving after the last send, before the summary */
    double link_timeout_s; /* waiting for the port's link at start */
    uint64_t seed;
    bool json;
    bool emit_routes;
    char pcap_path[256];
    unsigned frames;
    unsigned frame_size;
    bool frame_size_set;
    unsigned kind;          /* enum yard_lg_kind */
    char reg_prefix[32];    /* REGISTER: src (and dst) is this prefix + n */
    uint32_t lease_ms;      /* REGISTER body {"lease_ms": N}; 0: empty body */
    char dst_prefix[32];    /* non-empty: destination n is this prefix + n */
    char topic[64];         /* non-empty: every message goes to this one name */
    unsigned subscribers;   /* copies expected per message, on src_port.. +N-1 */
    unsigned idle_sleep_us; /* 0: spin; else sleep this long when idle */
};

/* Copies of each sent message that should come back: one per subscriber
 * port for a topic, one otherwise (a REGISTER's ACK or NACK included). */
static inline unsigned yard_lg_copies(const struct yard_lg_opts *o)
{
    return o->topic[0] ? o->subscribers : 1;
}

/* Names without a route come from past the routed ones: N .. N + this - 1. */
static inline unsigned yard_lg_unknown_names(const struct yard_lg_opts *o)
{
    return o->names < 1024 ? o->names : 1024;
}

/* xorshift64*: the mix's random numbers, reproducible from --seed. */
static inline uint64_t yard_lg_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* A class drawn with --class-mix's weights. */
static inline unsigned yard_lg_pick_class(const struct yard_lg_opts *o, uint64_t r)
{
    unsigned total = 0;
    for (unsigned c = 0; c < YARD_LG_CLASSES; c++)
        total += o->class_weight[c];
    unsigned x = (unsigned)(r % total);
    unsigned c = 0;
    while (x >= o->class_weight[c])
        x -= o->class_weight[c++];
    return c;
}

/*
 * Parse the options after "--" (argv[0] is the program name). Returns 0, 1
 * when --help was printed, or -EINVAL after printing what is wrong to stderr.
 */
int yard_lg_opts_parse(int argc, char **argv, struct yard_lg_opts *o);
void yard_lg_usage(FILE *out, const char *prog);
void yard_lg_format_mac(const uint8_t mac[6], char out[18]);

/*
 * How --write-pcap fills F-byte frames: the longest name that fits (at most
 * --max-name-len) and whether --src-name still fits beside it (else src is
 * empty). --emit-routes --frame-size F uses it to print the same names.
 * Returns 0 or -ENOSPC when not even a 1-byte name fits.
 */
int yard_lg_frame_layout(const struct yard_lg_opts *o, unsigned frame_size, unsigned *name_max,
                         unsigned *src_len);

/* --emit-routes and --write-pcap: no EAL. Return a process exit code. */
int yard_lg_emit_routes(const struct yard_lg_opts *o, const uint8_t mac[6]);
int yard_lg_write_pcap(const struct yard_lg_opts *o);

/* One prebuilt frame: a worker copies it and patches the id. */
struct yard_lg_template {
    uint8_t *data;
    struct yard_bench_frame_info info;
    uint8_t prio;
    uint8_t known; /* the name is in --emit-routes' list */
};

/*
 * Every (name, class, body size) frame, for the classes whose weight is not
 * 0, plus a schedule: a list of template indices drawn with the configured
 * mix, which the worker walks in a circle so choosing the next message costs
 * one load. Routed names enter the schedule as shuffled permutations, so
 * every name is sent equally often however many there are (a million names
 * are a million distinct keys for the router, not a hot subset); REGISTER
 * names go in order, so a first round registers each name once.
 */
struct yard_lg_templates {
    struct yard_lg_template *tmpl;
    unsigned nb_tmpl;
    uint8_t *arena; /* template i's frame is at arena + i * stride */
    unsigned stride;
    uint32_t *schedule;
    unsigned schedule_len;
};

/* Build the table for sending from src_mac. Returns 0 or -errno (message printed). */
int yard_lg_templates_build(const struct yard_lg_opts *o, const uint8_t src_mac[6],
                            struct yard_lg_templates *t);
void yard_lg_templates_free(struct yard_lg_templates *t);

/*
 * The worker's counters: written only by the worker (relaxed atomic stores),
 * read by the main lcore at any time.
 */
struct yard_lg_counters {
    uint64_t sent;
    uint64_t sent_unknown;
    uint64_t sent_class[YARD_LG_CLASSES];
    uint64_t received;
    uint64_t received_class[YARD_LG_CLASSES];
    uint64_t rx_ack;          /* of received: ACKs (kind 5) */
    uint64_t rx_nack;         /* of received: NACKs (kind 6) */
    uint64_t rx_fanout;       /* of received: FANOUT copies (kind 7), to a cluster node */
    uint64_t rx_bad_envelope; /* to our UDP port but not an envelope */
    uint64_t rx_bad_id;       /* an id that is no send time of ours */
    uint64_t rx_other;        /* neither IPv4/UDP to our port nor ARP for us */
    uint64_t arp_replies;
    uint64_t tx_full; /* built, refused by tx_burst, freed */
    uint64_t alloc_fail;
    uint64_t idle_sleeps;
    uint64_t tx_start_tsc;
    uint64_t tx_end_tsc;
};

struct yard_lg_worker {
    const struct yard_lg_opts *opts;
    const struct yard_lg_templates *templates;
    struct rte_mempool *pool;
    uint16_t port_id;
    uint8_t mac[6];
    uint64_t tsc_hz;
    volatile int stop_tx; /* set by main: stop sending, drain, return */
    struct yard_lg_counters c;
    struct yard_hist rtt; /* ns; read racily by main for progress lines */
    /* Envelopes received per subscriber port (--subscribers); written by
     * the worker, read by main only after the worker returned. */
    uint64_t rx_port[YARD_LG_MAX_SUBSCRIBERS];
};

/* The worker lcore's loop (rte_eal_remote_launch); returns when done. */
int yard_lg_worker_main(void *arg);

/* A copy of the counters and the RTT histogram at one moment. */
struct yard_lg_snapshot {
    double t_s; /* since start */
    struct yard_lg_counters c;
    struct yard_hist rtt;
};

void yard_lg_snapshot_take(const struct yard_lg_worker *w, double t_s, struct yard_lg_snapshot *s);

/* One progress line for the interval prev..now. */
void yard_lg_report_progress(FILE *out, const struct yard_lg_opts *o,
                             const struct yard_lg_snapshot *prev,
                             const struct yard_lg_snapshot *now);

/* The final summary, as text or as one JSON object; rx_port is the worker's
 * per-port count (--subscribers entries). */
void yard_lg_report_summary(FILE *out, bool json, const struct yard_lg_opts *o,
                            const struct yard_lg_snapshot *end, uint64_t tsc_hz,
                            const uint64_t *rx_port);

#endif
