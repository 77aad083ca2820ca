/*
 * ctl.h - yard-control's state and the one place its directory changes.
 *
 * Every change (a registration, an operator's route, a lease running out)
 * goes through yard_ctl_add() or yard_ctl_remove(), which update the
 * directory, append the change to the write-ahead log and queue the
 * dataplane command, in that order. Acknowledgements wait for the log's
 * group commit (once per event-loop round) and for the dataplane to apply
 * the command, so an acknowledged change is both durable and live.
 *
 * One thread (the event loop).
 */
#ifndef YARD_CTL_H
#define YARD_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "directory.h"
#include "dpsync.h"
#include "loop.h"
#include "registrar.h"

struct yard_wal;
struct yard_rpc_server;
struct yard_http_server;
struct yard_api;
struct yard_cluster;

/* The control plane's own counters (status, stats.get, /metrics). */
#define YARD_CTL_COUNTERS(X)                                                                 \
    X(punts, "control messages received from the dataplane")                                 \
    X(punts_bad, "control messages that did not parse (should not happen: the dataplane "    \
                 "parsed them)")                                                             \
    X(registrations, "REGISTER messages that created a location")                            \
    X(renewals, "REGISTER or SUBSCRIBE messages that renewed a lease")                       \
    X(unregistrations, "UNREGISTER messages that removed a location")                        \
    X(subscriptions, "SUBSCRIBE messages that created a subscription")                       \
    X(unsubscriptions, "UNSUBSCRIBE messages that removed a subscription")                   \
    X(nacks, "control messages answered with NACK")                                          \
    X(acks, "control messages answered with ACK")                                            \
    X(leases_expired, "registrations and subscriptions removed because their lease ran out") \
    X(replies_sent, "ACK/NACK replies handed to the dataplane")                              \
    X(replies_dropped, "replies dropped: reply queue full or not sendable within 5 s")       \
    X(wal_records_replayed, "write-ahead log records applied at start-up")                   \
    X(wal_records_rejected, "write-ahead log records that could not be applied at start-up") \
    X(wal_errors, "changes refused because the write-ahead log failed")                      \
    X(compactions, "write-ahead log compactions")

struct yard_ctl_counters {
#define YARD_X_FIELD(name, help) uint64_t name;
    YARD_CTL_COUNTERS(YARD_X_FIELD)
#undef YARD_X_FIELD
};

struct yard_ctl {
    struct yard_config cfg;
    char config_path[256];
    char node[YARD_NAME_MAX + 1];
    unsigned node_len;
    uint64_t start_ns; /* monotonic */

    struct yard_loop loop;
    struct yard_ctl_dir dir;
    struct yard_dpsync dp;
    struct yard_registrar reg;
    struct yard_wal *wal;
    struct yard_rpc_server *rpc;
    struct yard_http_server *http;
    struct yard_api *api;
    struct yard_cluster *cluster; /* NULL: standalone (no cluster section) */
    struct yard_loop_timer *tick; /* 100 ms: heartbeats, leases, compaction */
    struct yard_loop_timer *fast; /* 1 ms while anything waits on the dataplane */
    bool fast_on;
    bool replaying; /* WAL replay: change the directory only */

    struct yard_ctl_counters n;
};

/* Monotonic milliseconds (the directory's clock). */
uint64_t yard_ctl_now_ms(void);

/*
 * Add or refresh a location: directory, then log, then dataplane command.
 * Returns an enum yard_ctl_dir_err, or -EIO when the log refused the record
 * (the directory is left unchanged). *seq (may be NULL) is the dataplane
 * command's sequence number, 0 when nothing had to change in the dataplane
 * (a renewal).
 */
int yard_ctl_add(struct yard_ctl *c, const struct yard_ctl_loc_spec *spec,
                 struct yard_ctl_loc **out, uint64_t *seq);

/* Remove a location: log, dataplane command, directory. Returns 0 or -EIO
 * (nothing removed). *seq as above. */
int yard_ctl_remove(struct yard_ctl *c, struct yard_ctl_loc *loc, uint64_t *seq);

/* Make every appended record durable now (the API's mutating calls). 0 or
 * -EIO. */
int yard_ctl_durable(struct yard_ctl *c);

/* The poll period while anything moves (punts, replies, commands, waiters). */
#define YARD_CTL_FAST_MS 1

/* Ask for the 1 ms timer (someone waits on the dataplane or the rings). */
void yard_ctl_wake(struct yard_ctl *c);

/* Live: the daemon runs. Ready: the dataplane is up, its heartbeat fresh and
 * its directory synced. reason (may be NULL) says what is missing. */
bool yard_ctl_ready(const struct yard_ctl *c, const char **reason);

#endif
