/*
 * directory.h - yard-control's directory of names: the source of truth the
 * dataplane's table is synced from and the write-ahead log records.
 *
 * A name is an endpoint (one or more locations: several make a group) or a
 * topic (its locations are the subscribers). A location is an IPv4 address
 * and UDP port, unique within its name, with the origin that put it there:
 *
 *   ROUTE       a static route (routes.add): at most one per name
 *   STATIC      an endpoint location added by the operator (endpoints.add)
 *   REGISTERED  REGISTER / SUBSCRIBE from an application, with a lease
 *   REMOTE      hosted by another cluster node (node != 0): the location is
 *               that node's data address; never logged, never leased
 *
 * Leased locations sit in a timing wheel of 100 ms slots, so expiring and
 * renewing are O(1) whatever the number of names; yard_dir_expire() pops
 * what is due. Every name is also on a list in insertion order, which a full
 * sync walks with a cursor that survives deletions (yard_ctl_dir_cursor_*).
 *
 * Pure data: no I/O, no clock reads (callers pass now_ms), no knowledge of
 * the WAL or the dataplane. One thread (the event loop).
 */
#ifndef YARD_CTL_DIRECTORY_H
#define YARD_CTL_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yard_shm.h"

enum yard_loc_origin {
    YARD_LOC_ROUTE = 0,
    YARD_LOC_STATIC = 1,
    YARD_LOC_REGISTERED = 2,
    YARD_LOC_REMOTE = 3,
};

/* Origins this node is the single writer of, which the cluster spreads. */
static inline bool yard_loc_is_local(unsigned origin)
{
    return origin == YARD_LOC_STATIC || origin == YARD_LOC_REGISTERED;
}

#define YARD_WHEEL_SLOTS   4096u /* 100 ms each: 409.6 s per turn */
#define YARD_WHEEL_SLOT_MS 100u

struct yard_ctl_name;

struct yard_ctl_loc {
    struct yard_ctl_name *owner;
    struct yard_ctl_loc *next; /* in owner's list */
    uint32_t ipv4;             /* network byte order */
    uint16_t udp_port;         /* host byte order */
    uint8_t origin;            /* enum yard_loc_origin */
    uint32_t node;             /* REMOTE: the hosting node's number (replica.h); else 0 */
    uint8_t has_mac;
    uint8_t mac[6];
    uint8_t sub_len;                 /* topics: the subscriber's endpoint name */
    char sub[YARD_NAME_MAX + 1];     /* NUL-terminated */
    uint64_t expires_ms;             /* 0: never (ROUTE, STATIC) */
    uint32_t lease_ms;               /* granted lease, for renewals */
    struct yard_ctl_loc *wheel_prev; /* in a wheel slot, when leased */
    struct yard_ctl_loc *wheel_next;
};

struct yard_ctl_name {
    struct yard_ctl_name *hnext;       /* hash chain */
    struct yard_ctl_name *prev, *next; /* insertion-order list */
    struct yard_ctl_loc *locs;
    uint32_t hash;
    uint16_t nb_locs;
    uint8_t type; /* enum yard_dest_type */
    uint8_t len;
    char name[YARD_NAME_MAX + 1];
};

struct yard_ctl_dir {
    struct yard_ctl_name **buckets;
    uint32_t nb_buckets; /* power of two */
    uint64_t nb_names, nb_locs;
    uint64_t nb_topics, nb_subscriptions, nb_routes, nb_groups;
    struct yard_ctl_name *head, *tail;
    struct yard_ctl_name *cursor; /* the next name a sync walk visits */
    bool cursor_active;
    struct yard_ctl_loc *wheel[YARD_WHEEL_SLOTS];
    uint64_t wheel_ms; /* the wheel has been advanced up to here */
    uint64_t nb_leased;
};

/* Empty directory. 0 or -ENOMEM. */
int yard_ctl_dir_init(struct yard_ctl_dir *d, uint64_t now_ms);
void yard_ctl_dir_free(struct yard_ctl_dir *d);

/* The name, or NULL. O(1). */
struct yard_ctl_name *yard_ctl_dir_find(const struct yard_ctl_dir *d, const char *name,
                                        unsigned len);

/* The location of `n` at ipv4:port, or NULL. O(locations of n). */
struct yard_ctl_loc *yard_ctl_dir_loc(const struct yard_ctl_name *n, uint32_t ipv4, uint16_t port);

/* What to add. */
struct yard_ctl_loc_spec {
    const char *name;
    unsigned name_len;
    uint8_t type; /* enum yard_dest_type */
    uint8_t origin;
    uint32_t node; /* REMOTE only */
    uint32_t ipv4;
    uint16_t udp_port;
    bool has_mac;
    uint8_t mac[6];
    const char *sub; /* topics: subscriber name (may be NULL) */
    unsigned sub_len;
    uint32_t lease_ms; /* REGISTERED: lease to grant; 0 for no lease */
};

/* Why an add was refused. */
enum yard_ctl_dir_err {
    YARD_CTL_DIR_OK = 0,
    YARD_CTL_DIR_TYPE = 1, /* the name exists as the other type */
    YARD_CTL_DIR_FULL = 2, /* YARD_DEST_MAX_LOCATIONS reached */
    YARD_CTL_DIR_NOMEM = 3,
    YARD_CTL_DIR_INVALID = 4, /* empty or overlong name, port 0, ... */
};

/*
 * Add or refresh a location. A location already at spec's ipv4:port is
 * refreshed: its lease is renewed, origin/mac/sub updated. *created says
 * which happened; *changed (may be NULL) whether anything but the lease's
 * end moved: a pure renewal needs no log record and no dataplane command.
 * On success *out is the location. Returns an enum yard_ctl_dir_err.
 */
int yard_ctl_dir_add(struct yard_ctl_dir *d, const struct yard_ctl_loc_spec *spec, uint64_t now_ms,
                     struct yard_ctl_loc **out, bool *created, bool *changed);

/* Remove one location (and the name when it was the last). */
void yard_ctl_dir_remove(struct yard_ctl_dir *d, struct yard_ctl_loc *loc);

/*
 * Pop one leased location whose lease ended at or before now_ms, or NULL.
 * The caller removes it (yard_ctl_dir_remove) after recording why.
 */
struct yard_ctl_loc *yard_ctl_dir_expired(struct yard_ctl_dir *d, uint64_t now_ms);

/* Milliseconds of lease left (0 if none or due). */
uint64_t yard_ctl_loc_lease_left(const struct yard_ctl_loc *loc, uint64_t now_ms);

/* Sync walk: start at the first name; next() returns names until NULL.
 * Names removed meanwhile are skipped safely; names added meanwhile are
 * appended to the list and so are visited too. */
void yard_ctl_dir_cursor_start(struct yard_ctl_dir *d);
struct yard_ctl_name *yard_ctl_dir_cursor_next(struct yard_ctl_dir *d);

const char *yard_ctl_dir_err_text(int err);
const char *yard_loc_origin_name(unsigned origin);

#endif
