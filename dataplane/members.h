/*
 * members.h - the cluster members whose FANOUT datagrams the dataplane
 * accepts (PROTOCOL.md §1: "FANOUT ... accepted only from cluster members").
 *
 * The control plane names each member by its data address and node id
 * (MEMBER_ADD / MEMBER_DEL, yard_shm.h); the agent keeps those pairs and
 * publishes, once per batch of commands, an immutable sorted array of the
 * distinct addresses. Workers test a FANOUT's IPv4 source against it with a
 * binary search and no lock: the array is published with rcu_assign_pointer
 * and the one it replaces is freed after a liburcu QSBR grace period, the
 * scheme the directory's route objects use. Membership changes a few times
 * a minute at most, so one small copy and one grace period per changed batch
 * cost nothing that matters, and the read side stays a pointer load.
 *
 * A full sync covers the members as it covers control-origin locations:
 * SYNC_BEGIN starts a new epoch, every add stamps its pair with it, and
 * SYNC_END removes the pairs not stamped since.
 *
 * Threads: yard_members_has() from QSBR reader threads (the workers) or any
 * thread while nothing publishes; everything else from the agent only (or a
 * test standing in for it). A zeroed struct yard_members is an empty table.
 */
#ifndef YARD_MEMBERS_H
#define YARD_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yard_shm.h"

/* What workers read: the distinct member addresses, ascending in host byte
 * order (so a binary search compares plain integers). Immutable. */
struct yard_member_set {
    uint32_t nb;
    uint32_t ipv4_host[];
};

/* One (data address, node) pair as the control plane gave it. */
struct yard_member {
    uint32_t ipv4; /* network byte order */
    uint32_t node;
    uint32_t seen; /* epoch of its last add */
};

struct yard_members {
    struct yard_member_set *live; /* published under RCU; NULL: no member */

    /* Agent-private from here on. */
    struct yard_member pairs[YARD_MEMBERS_MAX]; /* sorted by address, then node */
    uint32_t nb_pairs;
    bool dirty;               /* pairs changed since the last publish */
    uint32_t epoch;           /* a new one per SYNC_BEGIN */
    uint32_t sync_generation; /* g of the open sync */
    bool sync_open;
    uint64_t swept; /* pairs removed at SYNC_END, ever */
};

/* An empty table (the same as a zeroed one). */
void yard_members_init(struct yard_members *m);

/* Free the published array. Agent, once no worker runs any more. */
void yard_members_free(struct yard_members *m);

/*
 * MEMBER_ADD: add the pair (ipv4, node), or restamp it when present. The
 * address takes effect at the next yard_members_publish(). Returns 0, or
 * with a message in why: -EINVAL (node 0, or an address that cannot be a
 * host's: 0.0.0.0, loopback, multicast, 255.255.255.255), -ENOSPC (already
 * YARD_MEMBERS_MAX pairs). A search and a short move in a 12 KB array.
 */
int yard_members_add(struct yard_members *m, uint32_t ipv4, uint32_t node, char *why,
                     size_t whylen);

/* MEMBER_DEL: remove the pair (ipv4, node); an absent pair is not an error.
 * The address stops being accepted at the next publish unless another node
 * still has it. Returns 0. */
int yard_members_del(struct yard_members *m, uint32_t ipv4, uint32_t node);

/* SYNC_BEGIN(generation): a new epoch; an open sync is abandoned for this one. */
void yard_members_sync_begin(struct yard_members *m, uint32_t generation);

/*
 * SYNC_END(generation): remove the pairs not added since the matching
 * SYNC_BEGIN; *swept says how many. -EINVAL (nothing done, message in why)
 * when no sync with that generation is open.
 */
int yard_members_sync_end(struct yard_members *m, uint32_t generation, uint64_t *swept, char *why,
                          size_t whylen);

/*
 * Make the pairs' addresses what workers see: when anything changed since
 * the last call, build a new array, publish it, wait for one QSBR grace
 * period and free the previous array. Call once per batch of commands,
 * before publishing the batch's sequence number. Returns 1 when a new array
 * went live, 0 when nothing changed, -ENOMEM (the old array stays; the
 * next call retries). Agent only: it blocks until every worker has passed a
 * quiescent state.
 */
int yard_members_publish(struct yard_members *m);

/* Pairs the agent holds (live after the next publish). */
uint32_t yard_members_count(const struct yard_members *m);

/*
 * True when ipv4 (network byte order) is a published member's data
 * address. Reader side: a QSBR-online worker, per FANOUT datagram; one
 * pointer load and a binary search of at most 11 steps.
 */
bool yard_members_has(const struct yard_members *m, uint32_t ipv4);

#endif
