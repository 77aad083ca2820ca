/*
 * swim.h - SWIM membership with Lifeguard, speaking HashiCorp memberlist
 * 0.2.2's wire protocol, so yard-control nodes and Serf 0.9.4 agents can
 * share one cluster (shared/memberlist.md is the reference).
 *
 * One `struct swim` is one gossip instance on one address: UDP for probes
 * and gossip, TCP on the same port for push/pull state exchange, fallback
 * pings and user messages. It runs entirely on yard-control's event loop
 * (loop.h): sockets are non-blocking, every wait is a timer, and every
 * callback in struct swim_delegate is called from the loop's thread.
 *
 * What the engine does on its own, once created: probes one member per
 * probe interval (ping, then indirect pings through other members and a
 * TCP ping, then suspicion), gossips membership changes to a few members
 * per gossip interval, and exchanges its whole table with a random member
 * every push/pull interval. Failure detection follows Lifeguard (local
 * health scaling, suspicion timers shortened by independent
 * confirmations), with memberlist's numbers.
 *
 * Who may call: the loop's thread only (no function here locks). The
 * delegate's callbacks may call the read-only functions (swim_nb_members,
 * swim_member_at, swim_member_find, swim_health_score, swim_stats) and
 * swim_user_broadcast; they must not call swim_destroy. Member views are
 * valid until the next return to the loop.
 *
 * Costs: no allocation per packet once the tables and queues have reached
 * their size; memory grows with members (about 1 KiB each) and with
 * queued broadcasts (about 1.7 KiB each, bounded by
 * config.broadcast_queue_max).
 */
#ifndef YARD_SWIM_H
#define YARD_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "keyring.h"
#include "msg.h"
#include "stats.h"

struct yard_loop;

/* The versions this node advertises (memberlist.md 8 and 11: those of a
 * serf 0.9.4 agent): pmin 1, pmax 5, pcur 2, dmin 2, dmax 5, dcur 5. */
#define SWIM_VSN_INIT    \
    {                    \
        1, 5, 2, 2, 5, 5 \
    }

struct swim; /* one gossip instance on one UDP+TCP address */

struct swim_member { /* read-only view handed to callers */
    char name[SWIM_NAME_MAX + 1];
    uint8_t addr[16];
    uint8_t addr_len; /* 4 for IPv4 */
    uint16_t port;
    uint32_t incarnation;
    uint8_t state; /* enum swim_state */
    uint8_t meta[SWIM_META_MAX];
    uint16_t meta_len;
    uint8_t vsn[SWIM_VSN_LEN];
    uint64_t state_change_ms; /* CLOCK_MONOTONIC ms of the last state change */
    bool is_self;
};

struct swim_delegate { /* every callback optional; called from the loop thread */
    void *arg;
    /* New, or alive again after dead/left (also fires for this node itself
     * when created). */
    void (*on_join)(void *arg, const struct swim_member *m);
    /* Meta or address changed. */
    void (*on_update)(void *arg, const struct swim_member *m);
    /* Became dead or left (m->state says which). */
    void (*on_leave)(void *arg, const struct swim_member *m);
    /* A user (type 8) message's payload, from UDP gossip or a TCP stream. */
    void (*on_user_msg)(void *arg, const uint8_t *msg, size_t len);
    /* Push/pull user state to send to peer (NULL if the peer is not known
     * yet); return its length (0 = none). */
    size_t (*local_state)(void *arg, const struct swim_member *peer, bool join, uint8_t *buf,
                          size_t cap);
    /* The user state to answer an inbound push/pull with, given the user
     * state its (unnamed) initiator sent (remote_len 0: none); when NULL,
     * local_state is called with peer NULL instead. */
    size_t (*reply_state)(void *arg, const uint8_t *remote, size_t remote_len, bool join,
                          uint8_t *buf, size_t cap);
    /* User state a peer sent in a push/pull (after its members merged). */
    void (*merge_remote_state)(void *arg, const struct swim_member *peer, const uint8_t *buf,
                               size_t len, bool join);
    /* Whether user broadcasts may be sent to m (e.g. only peers that
     * understand them); NULL = all. */
    bool (*wants_user_msgs)(void *arg, const struct swim_member *m);
};

struct swim_opts {
    const char *name;                   /* node name, unique in the cluster */
    const char *bind_addr;              /* IPv4 text; UDP and TCP on the same port */
    uint16_t bind_port;                 /* 0: any free port (see swim_local_port) */
    const char *advertise_addr;         /* NULL: bind_addr (which must not be 0.0.0.0 then) */
    uint16_t advertise_port;            /* 0: the bound port */
    const uint8_t *meta;                /* node meta (serf tags: ff + msgpack map) */
    size_t meta_len;                    /* <= SWIM_META_MAX */
    struct swim_config config;          /* swim_config_profile() then adjust */
    const struct swim_keyring *keyring; /* NULL or no keys: no encryption; copied */
    struct swim_delegate delegate;
};

/*
 * Bind UDP and TCP on bind_addr:bind_port, add this node to its own table
 * (incarnation 1, alive) and start the probe, gossip and push/pull timers
 * on loop (each after a random delay below its interval). Returns 0 and
 * *out, or -errno with an operator-readable reason in why: a bad address,
 * the port in use (naming the address), a bad config field, a name or
 * meta too long.
 */
int swim_create(struct yard_loop *loop, const struct swim_opts *o, struct swim **out, char *why,
                size_t whylen);

/* Close the sockets, cancel every timer and stream, free everything. No
 * leave is sent (call swim_leave first and let the loop run for that). */
void swim_destroy(struct swim *s);

/*
 * Start a join (TCP push/pull, Join=true) to each "ip:port" (or "ip",
 * port 7946); asynchronous. Each address that fails is retried with
 * back-off (1 s doubling to 30 s) until one of them answers; then the
 * join is done (later contact is push/pull's and gossip's job). Returns 0
 * or -EINVAL for an address that does not parse (nothing started).
 */
int swim_join(struct swim *s, const char *const *addrs, unsigned n);

/* Whether a join succeeded since the last swim_join() (or none was asked). */
bool swim_joined(const struct swim *s);

/*
 * Graceful leave: broadcast dead{self, From = self} and keep gossiping and
 * answering until that broadcast has been sent its full count or
 * timeout_ms passed; then stop probing and gossiping (still answering
 * pings and push/pulls). swim_left() tells when that point is reached.
 * Returns 0, or -EALREADY.
 */
int swim_leave(struct swim *s, unsigned timeout_ms);

/* Whether a leave finished (see swim_leave). */
bool swim_left(const struct swim *s);

/* Re-advertise with new meta and incarnation + 1 (memberlist UpdateNode).
 * 0, -EMSGSIZE (> SWIM_META_MAX) or -ESHUTDOWN (left). */
int swim_set_meta(struct swim *s, const uint8_t *meta, size_t len);

/*
 * Queue a user message for gossip (to members wants_user_msgs accepts),
 * retransmit-limited like membership news. 0, -EMSGSIZE (empty, or more
 * than fits one packet: swim_user_msg_max()), or -ENOMEM.
 */
int swim_user_broadcast(struct swim *s, const uint8_t *msg, size_t len);

/* The largest message swim_user_broadcast() takes (1366 with encryption). */
size_t swim_user_msg_max(const struct swim *s);

/* Start a push/pull (Join=false) with one member now (anti-entropy on
 * demand). 0, -ENOENT (unknown member or not alive) or -errno. */
int swim_push_pull_with(struct swim *s, const char *member_name);

/* Members in the table, this node, suspect, unreaped dead and left ones
 * included. */
unsigned swim_nb_members(const struct swim *s);

/* Member i, 0..nb-1 (includes self), or NULL. The order changes when the
 * table is shuffled (once per probe round). */
const struct swim_member *swim_member_at(const struct swim *s, unsigned i);

/* The member with this name, or NULL. */
const struct swim_member *swim_member_find(const struct swim *s, const char *name);

/* This node's own entry. */
const struct swim_member *swim_self(const struct swim *s);

/* Lifeguard's awareness: 0 healthy .. awareness_max_multiplier - 1. */
unsigned swim_health_score(const struct swim *s);

/* The counters (updated in place; read from the loop thread). */
const struct swim_stats *swim_stats(const struct swim *s);

/* The UDP/TCP port actually bound (useful with bind_port 0). */
uint16_t swim_local_port(const struct swim *s);

/* "alive", "suspect", "dead", "left" (or "?"). */
const char *swim_state_name(uint8_t state);

#endif
