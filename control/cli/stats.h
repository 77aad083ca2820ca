/*
 * stats.h - `yardctl stats`: the appliance's counters, read straight from
 * the instance's shm segment.
 *
 * Reading shm rather than asking yard-control means the numbers are there
 * whenever a dataplane has run, even with the control plane down. The
 * segment is mapped read-only and no DPDK EAL is started. Counters are
 * copied while the dataplane writes them, so a snapshot is exact per
 * counter but not across counters (a message may show as received and not
 * yet routed). The snapshot and rate code is exported for `yardctl top`.
 */
#ifndef YARD_CLI_STATS_H
#define YARD_CLI_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "yard_shm.h"

enum yard_cli_output {
    YARD_CLI_OUT_TABLE = 0,
    YARD_CLI_OUT_JSON = 1,
};

struct yard_cli_stats_opts {
    const char *instance;
    enum yard_cli_output output;
    double watch_s; /* > 0: print one line of rates every watch_s seconds */
    long count;     /* watch lines to print; 0 means until SIGINT or SIGTERM */
};

/* ---- the reading code, shared with `yardctl top` ---- */

struct yard_cli_lcore_snap {
    unsigned id;
    uint32_t role, socket;
    uint64_t events[YARD_SHM_EVENT_SLOTS];
    uint64_t drops[YARD_SHM_DROP_SLOTS];
};

/* One copy of everything a view prints (about 70 KiB: allocate it). */
struct yard_cli_snapshot {
    uint64_t mono_ns, real_ns;
    struct yard_shm_header hdr;
    unsigned nb_events, nb_drops;
    uint64_t events[YARD_SHM_EVENT_SLOTS];
    uint64_t drops[YARD_SHM_DROP_SLOTS];
    uint64_t dropped; /* sum over reasons */
    uint64_t class_routed[YARD_NB_CLASSES], class_tx[YARD_NB_CLASSES];
    uint64_t class_dropped[YARD_NB_CLASSES];
    struct yard_hist latency; /* merged over lcores */
    bool dp_alive, cp_alive;
    unsigned nb_lcores, nb_ports;
    struct yard_cli_lcore_snap lcores[YARD_SHM_MAX_LCORES];
    struct yard_port_stats ports[YARD_SHM_MAX_PORTS];
};

#define YARD_CLI_TOP_DROPS 3

/* Per-second rates between two snapshots. */
struct yard_cli_rates {
    double interval_s;
    double rx_packets, rx_messages, routed, tx_packets, dropped;
    double drops[YARD_SHM_DROP_SLOTS];
    unsigned nb_drops;
    unsigned top[YARD_CLI_TOP_DROPS]; /* drop reasons by rate, highest first */
    unsigned nb_top;
    struct yard_hist latency; /* recorded during the interval */
    double class_routed[YARD_NB_CLASSES], class_tx[YARD_NB_CLASSES];
    double class_dropped[YARD_NB_CLASSES];
    unsigned nb_lcores;                         /* = the newer snapshot's */
    double lcore_busy_pct[YARD_SHM_MAX_LCORES]; /* per its lcores[]; < 0 unknown */
};

/* Copy the in-use counters of a mapped segment. Cost: a few hundred KiB of
 * reads. */
void yard_cli_snapshot_take(const struct yard_shm *shm, struct yard_cli_snapshot *s);
/* Rates from `before` to `now`; a counter that went backwards (a new
 * dataplane) counts from zero. */
void yard_cli_rates_compute(struct yard_cli_rates *r, const struct yard_cli_snapshot *now,
                            const struct yard_cli_snapshot *before);
/* The name of drop reason d, or "drop_N" (written into buf) for one this
 * build does not know. */
const char *yard_cli_drop_name(unsigned d, char *buf, size_t len);
/* Milliseconds since the side's last heartbeat; -1 when it never beat. */
double yard_cli_heartbeat_age_ms(const struct yard_shm_side *side, uint64_t mono_ns);

/*
 * Run `yardctl stats` with parsed options, printing to out and errors to
 * errf. Returns the process exit code: 0, or 1 for a runtime error (no such
 * instance, ABI mismatch, ...), or 2 for an unusable instance name. In watch
 * mode it installs SIGINT and SIGTERM handlers and returns 0 when one
 * arrives. Called once per process, from main().
 */
int yard_cli_stats(const struct yard_cli_stats_opts *opts, FILE *out, FILE *errf);

#endif
