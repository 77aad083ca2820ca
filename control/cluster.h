/*
 * cluster.h - yard-control in a cluster: membership (swim/, memberlist's
 * protocol) and the shared directory (replica.h) on top of it.
 *
 * What it does:
 *   - advertises this node in its memberlist meta as serf tags
 *     {role: switchyard, data: ADDR:PORT}, so serf agents list it with its
 *     tags and other Switchyard nodes know where to send its traffic;
 *   - spreads the names this node hosts (its STATIC and REGISTERED
 *     locations) to the other Switchyard nodes: a delta per change as a
 *     gossiped user message, and its whole set in push/pull user state;
 *   - installs the other nodes' names as REMOTE locations (their data
 *     address, their node number) in the directory, so the dataplane sends
 *     them there, and tells the dataplane which addresses are members (it
 *     accepts FANOUT only from those);
 *   - removes a node's names and member address when the node is declared
 *     dead or leaves; they return with its state when it comes back.
 *
 * Serf agents and other plain memberlist peers share the membership but
 * never receive Switchyard's user messages or state (wants_user_msgs and
 * local_state only serve Switchyard peers), and what they send in those
 * channels is ignored.
 *
 * One thread (the event loop). Costs: per local change, one replica update
 * and a few bytes of the next delta message; per remote change, one
 * directory change and one dataplane command.
 */
#ifndef YARD_CTL_CLUSTER_H
#define YARD_CTL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

struct yard_ctl;
struct yard_cluster;
struct yard_replica;
struct yard_metrics_writer;

/* The cluster layer's own counters (stats.get, /metrics). */
#define YARD_CLUSTER_COUNTERS(X)                                                                 \
    X(deltas_sent, "directory delta messages this node queued for gossip")                       \
    X(deltas_received, "directory delta messages received")                                      \
    X(deltas_relayed, "received delta messages passed on because they carried news")             \
    X(delta_entries_stale, "delta entries ignored: older than or equal to what this node holds") \
    X(states_sent, "full directory states sent in push/pull exchanges")                          \
    X(states_received, "full directory states received in push/pull exchanges")                  \
    X(states_too_big, "full directory states not sent: larger than the push/pull buffer")        \
    X(updates_from_non_members, "deltas or states naming an owner that is not a live member")    \
    X(bad_messages, "Switchyard user messages or states that did not decode")                    \
    X(remote_added, "remote locations installed")                                                \
    X(remote_removed, "remote locations removed")                                                \
    X(remote_refused, "remote names refused: the name is of the other type here, or full")       \
    X(members_joined, "Switchyard members that joined or came back")                             \
    X(members_lost, "Switchyard members that failed or left")                                    \
    X(reconnects, "re-joins started through failed members and seeds (a healed partition)")

struct yard_cluster_counters {
#define YARD_X_FIELD(name, help) uint64_t name;
    YARD_CLUSTER_COUNTERS(YARD_X_FIELD)
#undef YARD_X_FIELD
};

/*
 * Start gossip as c->cfg.cluster says (c->cfg.cluster.enabled must be
 * set): bind, advertise, join the seeds (retried until one answers), and
 * export the names already in c's directory (after the WAL replay).
 * Returns 0 and *out, or -errno with a message naming the cause in why
 * (port in use, bad key, bad timing).
 */
int yard_cluster_create(struct yard_ctl *c, struct yard_cluster **out, char *why, size_t whylen);

/* Leave the cluster gracefully: tell the others and wait up to timeout_ms
 * (running c's loop) for that news to go out. */
void yard_cluster_leave(struct yard_cluster *cl, unsigned timeout_ms);

void yard_cluster_destroy(struct yard_cluster *cl);

/* One of this node's names may have gained or lost its last local
 * location (ctl.c calls this after every such change). */
void yard_cluster_local_changed(struct yard_cluster *cl, const char *name, unsigned len);

/* Housekeeping, from the control plane's 100 ms tick. */
void yard_cluster_tick(struct yard_cluster *cl, uint64_t now_ms);

/* The member name of dataplane node `node` (0: this node), or NULL. */
const char *yard_cluster_node_name(const struct yard_cluster *cl, uint32_t node);

/* The shared directory (dpsync walks its live owners in a full sync). */
const struct yard_replica *yard_cluster_replica(const struct yard_cluster *cl);

/* members.list: an array of member maps (see docs/cluster.md). */
void yard_cluster_pack_members(const struct yard_cluster *cl, msgpack_packer *pk);

/* status.get's "cluster" map: node, members by state, health. */
void yard_cluster_pack_status(const struct yard_cluster *cl, msgpack_packer *pk);

/* /metrics: gossip, membership and shared-directory series. */
void yard_cluster_metrics(const struct yard_cluster *cl, struct yard_metrics_writer *out);

#endif
