/*
 * stats.h - the gossip engine's counters, defined once in a table (name,
 * help text) so /metrics, yardctl and the tests all see the same list:
 * each counter is exported as yard_gossip_<name>_total, and the packet
 * layer's drop reasons (packet.h) as yard_gossip_packet_<reason>_total.
 *
 * Plain uint64_t fields written only by the loop thread; readers on the
 * same thread read them directly (swim_stats()).
 */
#ifndef YARD_SWIM_STATS_H
#define YARD_SWIM_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"

/* X(name, "help text") */
#define SWIM_STATS(X)                                                                              \
    X(udp_packets_in, "UDP datagrams received")                                                    \
    X(udp_bytes_in, "UDP bytes received")                                                          \
    X(udp_packets_out, "UDP datagrams sent")                                                       \
    X(udp_bytes_out, "UDP bytes sent")                                                             \
    X(udp_send_errors, "UDP datagrams the kernel refused to send or that could not be built")      \
    X(tcp_accepts, "TCP streams accepted")                                                         \
    X(tcp_connects, "TCP streams opened (push/pull, fallback pings)")                              \
    X(tcp_bytes_in, "TCP bytes received")                                                          \
    X(tcp_bytes_out, "TCP bytes sent")                                                             \
    X(tcp_errors, "TCP streams that failed: refused, reset, unreadable or unexpected message")     \
    X(tcp_timeouts, "TCP streams cut off by tcp_timeout_ms (or the probe deadline)")               \
    X(tcp_busy, "inbound TCP streams refused because too many were open")                          \
    X(msg_ping_in, "ping messages received (UDP and TCP)")                                         \
    X(msg_indirect_ping_in, "indirect ping requests received")                                     \
    X(msg_ack_in, "ack messages received")                                                         \
    X(msg_nack_in, "nack messages received")                                                       \
    X(msg_suspect_in, "suspect messages received")                                                 \
    X(msg_alive_in, "alive messages received")                                                     \
    X(msg_dead_in, "dead messages received")                                                       \
    X(msg_user_in, "user (delegate) messages received (UDP and TCP)")                              \
    X(msg_push_pull_in, "push/pull messages received (TCP)")                                       \
    X(msg_err_in, "error responses received (TCP)")                                                \
    X(msg_bad_in, "messages that did not decode")                                                  \
    X(msg_foreign_ping, "pings addressed to another node name, ignored")                           \
    X(acks_late, "acks whose sequence number has no waiting probe (late or unknown)")              \
    X(probes, "probes of a member started")                                                        \
    X(probe_failures, "probes that got no ack at all: the member was suspected")                   \
    X(probe_indirect_requests, "indirect ping requests sent to helpers after a missed ack")        \
    X(probe_tcp_fallbacks, "TCP fallback pings started")                                           \
    X(probe_tcp_acks, "probes saved by the TCP fallback ping alone")                               \
    X(indirect_pings_served, "indirect pings we sent on behalf of another member")                 \
    X(nacks_sent, "nacks sent because a relayed ping went unanswered")                             \
    X(suspects_raised, "members this node suspected after a failed probe")                         \
    X(suspicions, "members that entered the suspect state (any accuser)")                          \
    X(suspicion_confirmations, "independent confirmations of running suspicions")                  \
    X(refutations, "accusations against this node refuted with a higher incarnation")              \
    X(deaths_declared, "members declared dead by this node's suspicion timer")                     \
    X(deaths, "members that became dead or left (any source)")                                     \
    X(joins, "members that joined or came back")                                                   \
    X(reaped, "dead members removed from the table after gossip_to_the_dead_ms")                   \
    X(broadcasts_queued, "membership broadcasts queued")                                           \
    X(broadcasts_replaced, "queued membership broadcasts replaced by newer news of the same node") \
    X(broadcasts_sent, "membership broadcast transmissions (each resend counts)")                  \
    X(broadcasts_dropped, "membership broadcasts dropped because the queue was full")              \
    X(user_broadcasts_queued, "user broadcasts queued")                                            \
    X(user_broadcasts_sent, "user broadcast transmissions (each resend counts)")                   \
    X(user_broadcasts_dropped, "user broadcasts dropped because the queue was full")               \
    X(push_pulls_in, "push/pull exchanges served")                                                 \
    X(push_pulls_out, "push/pull exchanges completed as the initiator")                            \
    X(push_pull_failures, "push/pull exchanges we started that failed")                            \
    X(join_attempts, "join push/pulls started")                                                    \
    X(join_failures, "join push/pulls that failed")                                                \
    X(rejects_key, "TCP streams refused: plaintext on an encrypted cluster, or no key fits")       \
    X(rejects_version, "push/pull merges refused by the version check, alives with bad versions")  \
    X(rejects_conflict, "alive messages naming a known member at another address")                 \
    X(rejects_invalid, "membership messages with an unusable name, address or meta")

struct swim_stats {
#define SWIM_X_FIELD(name, help) uint64_t name;
    SWIM_STATS(SWIM_X_FIELD)
#undef SWIM_X_FIELD
    struct swim_packet_stats packet; /* UDP receive path: decrypt failures, CRC, ... */
};

/* One counter of the table: its name, help text and place in the struct. */
struct swim_stat_desc {
    const char *name;
    const char *help;
    size_t offset;
};

/* The table, in SWIM_STATS order, and its length. */
extern const struct swim_stat_desc swim_stat_descs[];
extern const unsigned swim_stat_count;

/* The value of descriptor i in st. */
static inline uint64_t swim_stat_value(const struct swim_stats *st, unsigned i)
{
    return *(const uint64_t *)((const char *)st + swim_stat_descs[i].offset);
}

#endif
