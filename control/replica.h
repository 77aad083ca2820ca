/*
 * replica.h - the cluster's shared directory as one node sees it: for every
 * owner (a cluster node, this one included), the names it hosts, each with
 * the owner's version of its last change.
 *
 * Each node is the single writer of its own names. A change is stamped with
 * a version from the owner's clock that only grows (yard_replica_next_version),
 * and a receiver applies it only when its version beats the one it holds for
 * that (owner, name), so a late or repeated update never overwrites a newer
 * one. A removal leaves a tombstone with its version for the same reason;
 * tombstones are purged after a while (a delta older than that purge is far
 * older than gossip takes to deliver one).
 *
 * An owner's full state (push/pull) is applied as a bracket: begin, every
 * listed name, sweep. The sweep removes what the owner no longer lists,
 * unless a newer delta arrived meanwhile.
 *
 * Pure data: no I/O, no clock reads. One thread (the event loop).
 */
#ifndef YARD_CTL_REPLICA_H
#define YARD_CTL_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yard_shm.h"

#define YARD_REPLICA_OWNER_MAX 255 /* node names, as memberlist allows them */

struct yard_replica_owner;

struct yard_replica_entry {
    struct yard_replica_entry *hnext;         /* hash chain */
    struct yard_replica_entry *oprev, *onext; /* the owner's list */
    struct yard_replica_owner *owner;
    uint64_t ver;
    uint64_t changed_ms; /* when it last changed here (tombstone purge) */
    uint32_t stamp;      /* the owner's full-state round that listed it */
    uint8_t type;        /* enum yard_dest_type */
    bool present;        /* false: a tombstone */
    uint8_t len;
    char name[YARD_NAME_MAX + 1];
};

struct yard_replica_owner {
    struct yard_replica_owner *next;
    char name[YARD_REPLICA_OWNER_MAX + 1];
    uint32_t node_id;    /* the dataplane's node number; 0 = this node */
    uint32_t data_ipv4;  /* network byte order; 0 = not a router (no data address) */
    uint16_t data_port;  /* host byte order */
    bool live;           /* a current member: its updates are accepted */
    bool pull_pending;   /* (re)joined: exchange states with it soon */
    uint32_t stamp;      /* the current full-state round */
    uint64_t nb_present; /* names it hosts */
    struct yard_replica_entry *head;
};

struct yard_replica {
    struct yard_replica_entry **buckets;
    uint32_t nb_buckets; /* power of two */
    uint64_t nb_entries; /* tombstones included */
    struct yard_replica_owner *owners;
    uint32_t next_node_id;
};

/* What an update did to an (owner, name), for the caller to mirror. */
enum yard_replica_change {
    YARD_REPLICA_NONE = 0,    /* ignored: not newer than what is held */
    YARD_REPLICA_ADDED = 1,   /* now hosted, was not */
    YARD_REPLICA_REMOVED = 2, /* no longer hosted (the entry keeps its old type) */
    YARD_REPLICA_RETYPED = 3, /* hosted before and after, as the other type */
    YARD_REPLICA_NEWER = 4,   /* taken (a newer version), nothing to mirror */
};

/* Empty replica. 0 or -ENOMEM. */
int yard_replica_init(struct yard_replica *r);
void yard_replica_free(struct yard_replica *r);

/*
 * The owner called `name`, created (not live, node_id assigned: 1, 2, ...
 * in order of first sight; self_node gets 0) when absent and create is set.
 * NULL when absent or out of memory. O(owners).
 */
struct yard_replica_owner *yard_replica_owner(struct yard_replica *r, const char *name, bool create,
                                              bool self_node);

/* The entry of (owner, name), tombstones included, or NULL. O(1). */
struct yard_replica_entry *yard_replica_find(const struct yard_replica *r,
                                             const struct yard_replica_owner *o, const char *name,
                                             unsigned len);

/*
 * Apply an update: (owner, name) is hosted as `type` (present) or not, as of
 * version ver. Ignored (NONE) unless ver is newer than what is held. *entry
 * (may be NULL) is the entry afterwards, NULL for an ignored update of an
 * unknown name. A name of 0 or more than YARD_NAME_MAX bytes: -EINVAL;
 * out of memory: -ENOMEM; otherwise an enum yard_replica_change.
 */
int yard_replica_apply(struct yard_replica *r, struct yard_replica_owner *o, const char *name,
                       unsigned len, uint8_t type, bool present, uint64_t ver, uint64_t now_ms,
                       struct yard_replica_entry **entry);

/* A full state of o begins: names applied until the sweep count as listed. */
void yard_replica_full_begin(struct yard_replica_owner *o);

/*
 * Mark (o, name) listed in the current full state, then apply it as
 * present at ver (same result as yard_replica_apply).
 */
int yard_replica_full_entry(struct yard_replica *r, struct yard_replica_owner *o, const char *name,
                            unsigned len, uint8_t type, uint64_t ver, uint64_t now_ms,
                            struct yard_replica_entry **entry);

/*
 * The full state, as of the owner's version full_ver, is complete: every
 * name of o still present, not listed and not changed after full_ver becomes
 * a tombstone at full_ver; removed(arg, entry) is called for each (before
 * the change, so it still shows the type). Returns how many.
 */
uint64_t yard_replica_full_sweep(struct yard_replica *r, struct yard_replica_owner *o,
                                 uint64_t full_ver, uint64_t now_ms,
                                 void (*removed)(void *arg, const struct yard_replica_entry *e),
                                 void *arg);

/*
 * Forget everything o hosts (it died or left): removed() for each present
 * name, then every entry, tombstones included, is freed, so its full state
 * is taken whole when it returns.
 */
uint64_t yard_replica_owner_clear(struct yard_replica *r, struct yard_replica_owner *o,
                                  void (*removed)(void *arg, const struct yard_replica_entry *e),
                                  void *arg);

/* Free tombstones unchanged since before `before_ms`. Returns how many. */
uint64_t yard_replica_purge(struct yard_replica *r, uint64_t before_ms);

/*
 * The owner's next version: larger than `last` and at least the wall clock
 * in microseconds, so versions keep growing across restarts of the owner.
 */
uint64_t yard_replica_next_version(uint64_t last);

#endif
