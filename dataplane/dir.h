/*
 * dir.h - the name directory: destination name -> route object.
 *
 * An rte_hash keyed by the name zero-padded to 64 bytes (names have no NUL,
 * so the padding keeps keys unique), created with lock-free readers
 * (RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF): workers look up in bursts with
 * no lock; one writer, the agent, adds and removes. Each name's data is an
 * immutable route object (its destination: type and locations); a change
 * builds a new object and publishes it with yard_dir_set(). A replaced or
 * removed object and the freed key slot are reclaimed only after a liburcu
 * QSBR grace period, so a worker holding a route pointer from a lookup can
 * use it until its next quiescent state.
 *
 * Route objects come from a slab allocator private to the directory (size
 * classes by location count, carved from large DPDK allocations): a
 * million names cost a million small objects, which rte_malloc's per-object
 * header and free-list search would make twice as large and slow to build.
 *
 * Threads: yard_dir_lookup_bulk*() from registered RCU reader threads (the
 * workers); everything else from the single writer (the agent), never from
 * two threads at once.
 */
#ifndef YARD_DIR_H
#define YARD_DIR_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>

#define YARD_KEY_BYTES 64

/* A name as a directory key: the name bytes, zero-padded to 64 bytes. */
struct yard_name_key {
    uint8_t bytes[YARD_KEY_BYTES];
} __attribute__((aligned(16)));

enum yard_neigh_state {
    YARD_NEIGH_INCOMPLETE = 0, /* ARP in progress or failed; packets go to the agent */
    YARD_NEIGH_RESOLVED = 1,   /* learned by ARP */
    YARD_NEIGH_STATIC = 2,     /* fixed MAC from the configuration or the control plane */
};

/*
 * A next hop on one port. Workers read state (acquire) and then mac; the
 * agent writes mac and then state (release). Neighbors live as long as the
 * dataplane: their number is bounded by distinct next-hop addresses.
 */
struct yard_neighbor {
    struct rte_ether_addr mac;
    uint8_t state; /* enum yard_neigh_state */
    uint16_t port_id;
    uint32_t ipv4; /* network byte order */

    /* Agent-private from here on. */
    struct rte_mbuf *held[64];
    unsigned nb_held;
    unsigned retries_left;
    uint64_t next_request_tsc;
    uint64_t refresh_tsc;
    bool static_confirmed;      /* a fixed MAC was (re)asserted during a reload */
    bool fixed_by_control;      /* the control plane gave this MAC: reloads keep it */
    struct yard_neighbor *next; /* in the port's neighbor list */
};

/*
 * One place a destination's messages go. The first 16 bytes are what
 * workers read; the rest is the agent's bookkeeping, which workers never
 * touch, so the agent may update it in place in a published object.
 */
struct yard_loc {
    struct yard_neighbor *nh; /* the location itself or its port's gateway */
    uint32_t dst_ipv4;        /* network byte order */
    uint16_t dst_udp_port;    /* network byte order */
    uint16_t port_id;         /* egress port */

    /* Agent-private. */
    uint32_t node;   /* cluster node hosting it; 0 = this node */
    uint32_t seen;   /* epoch of its last add or refresh (see dest.h) */
    uint8_t origin;  /* enum yard_origin */
    uint8_t has_mac; /* the adder fixed the next hop's MAC */
    uint8_t mac[6];
};

/*
 * Where a name's messages go. Immutable once published (but for the
 * agent-private parts of its locations): replace, not edit.
 *
 * Locations are kept sorted: those on this node (node 0) first, then by
 * address and port. The order depends only on the membership, so a group's
 * choice for a given message is the same however the members were added.
 */
struct yard_route {
    uint8_t type;       /* enum yard_dest_type */
    uint8_t slab_class; /* agent-private: the allocator's size class */
    uint16_t nb_locs;   /* >= 1 in a published object */
    uint16_t nb_local;  /* loc[0..nb_local) have node 0 */
    uint16_t cap_locs;  /* agent-private: room in this object */
    struct yard_loc loc[];
};

_Static_assert(sizeof(struct yard_loc) == 32, "a location is half a cache line");
_Static_assert(sizeof(struct yard_route) == 8, "a route header is 8 bytes");

/* Most locations one route object holds (YARD_DEST_MAX_LOCATIONS). */
#define YARD_ROUTE_MAX_LOCS 256

struct yard_dir;

/*
 * Create a directory for up to `capacity` names on `socket`. NULL on error
 * (rte_errno says why). Agent (or tests), at start-up.
 */
struct yard_dir *yard_dir_create(const char *name, uint32_t capacity, int socket);

/* Free the directory, every route object and the allocator's memory. */
void yard_dir_free(struct yard_dir *dir);

/*
 * The directory's hash: CRC32C over the key's 8-byte words up to the last
 * one holding name bytes. The zero padding adds nothing, so a short name
 * costs a few CRC instructions instead of eight. yard_name_hash() is what
 * rte_hash calls (it finds the length from the padding);
 * yard_name_hash_len() is the fast path's, which knows the length.
 */
static inline uint32_t yard_name_hash_len(const struct yard_name_key *key, unsigned len)
{
    const uint64_t *w = (const uint64_t *)key->bytes;
    uint32_t h = 0;
    for (unsigned i = 0; i < (len + 7) / 8; i++)
        h = rte_hash_crc_8byte(w[i], h);
    return h;
}

uint32_t yard_name_hash(const void *key, uint32_t key_len, uint32_t init_val);

/* Fill key from a name of len bytes (1..63). */
static inline void yard_name_key_set(struct yard_name_key *key, const void *name, unsigned len)
{
    memset(key, 0, sizeof(*key));
    memcpy(key->bytes, name, len);
}

/*
 * Look up n keys (n <= RTE_HASH_LOOKUP_BULK_MAX). Sets bit i of *hit_mask and
 * routes[i] for each key found. Reader side: call only from a thread that is
 * online in QSBR, and drop the pointers before its next quiescent state.
 */
static inline void yard_dir_lookup_bulk(const struct rte_hash *h, const void **keys, unsigned n,
                                        uint64_t *hit_mask, struct yard_route **routes)
{
    rte_hash_lookup_bulk_data(h, keys, n, hit_mask, (void **)routes);
}

/*
 * The same with the keys' hashes already computed (yard_name_hash_len) in
 * sigs: the fast path hashes each name while it is in registers.
 */
static inline void yard_dir_lookup_bulk_hashed(const struct rte_hash *h, const void **keys,
                                               uint32_t *sigs, unsigned n, uint64_t *hit_mask,
                                               struct yard_route **routes)
{
    rte_hash_lookup_with_hash_bulk_data(h, keys, sigs, n, hit_mask, (void **)routes);
}

/* The rte_hash behind the directory, for the lookups above. */
const struct rte_hash *yard_dir_hash(const struct yard_dir *dir);

/*
 * Writer side: a new, unpublished route object with room for nb_locs
 * locations (1..YARD_ROUTE_MAX_LOCS), its header zeroed but for cap_locs
 * and slab_class. NULL when out of memory. Tens of nanoseconds.
 */
struct yard_route *yard_route_alloc(struct yard_dir *dir, unsigned nb_locs);

/* Writer side: give back an object that was never published. */
void yard_route_discard(struct yard_dir *dir, struct yard_route *route);

/*
 * Writer side. Add or replace the route of `name`; the previous route (if
 * any) is reclaimed after the next yard_dir_reclaim(). Returns 0 or -ENOSPC
 * (directory full), -EINVAL (bad name), -ENOMEM.
 */
int yard_dir_set(struct yard_dir *dir, const char *name, unsigned len, struct yard_route *route);

/* Remove `name`. Returns 0 or -ENOENT, -EINVAL. */
int yard_dir_del(struct yard_dir *dir, const char *name, unsigned len);

/* The route of `name` as the writer sees it (writer thread only), or NULL. */
struct yard_route *yard_dir_get(struct yard_dir *dir, const char *name, unsigned len);

/*
 * The same three on a ready key and its hash (yard_name_hash_len), for a
 * writer that touches one name several times per command.
 */
int yard_dir_set_key(struct yard_dir *dir, const struct yard_name_key *key, uint32_t sig,
                     struct yard_route *route);
int yard_dir_del_key(struct yard_dir *dir, const struct yard_name_key *key, uint32_t sig);
struct yard_route *yard_dir_get_key(struct yard_dir *dir, const struct yard_name_key *key,
                                    uint32_t sig);

/* Build the key and hash of a name; -EINVAL if it is empty, too long or holds a NUL. */
int yard_dir_make_key(struct yard_name_key *key, uint32_t *sig, const char *name, unsigned len);

/* Number of names. */
uint32_t yard_dir_count(const struct yard_dir *dir);

/* Names the directory can hold. */
uint32_t yard_dir_capacity(const struct yard_dir *dir);

/*
 * Bytes the directory holds: the hash table as measured when it was built
 * (keys, buckets, rings) plus the allocator's memory for route objects
 * (free objects included: it never gives memory back while running).
 */
uint64_t yard_dir_bytes(const struct yard_dir *dir);

/*
 * Wait for a QSBR grace period, then free every route object and key slot
 * that earlier set/del calls retired. Call after a batch of changes: one
 * grace period covers the whole batch. Returns how many retirements were
 * completed (a replaced route counts one; a deleted name, its route and its
 * key slot together, one).
 */
unsigned yard_dir_reclaim(struct yard_dir *dir);

/*
 * Iterate (writer only): returns the next position >= *iter or -ENOENT.
 * Changing the directory while iterating may skip or repeat names: collect
 * first, change afterwards.
 */
int yard_dir_iterate(struct yard_dir *dir, const void **key, struct yard_route **route,
                     uint32_t *iter);

#endif
