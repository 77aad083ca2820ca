/*
 * dir.h - the name directory: destination name -> route object.
 *
 * An open-addressing hash table of our own that stores no key: each bucket
 * is one cache line of 7 slots, a slot one 64-bit word holding a 16-bit tag
 * of the name's hash and the address of its route object, and the route
 * object itself begins with the name (the 64-byte zero-padded key sits in
 * the cache line before the route header). A lookup therefore reads the
 * bucket line and then the route object's first two lines, one aligned
 * 128-byte block: the key, then the header and first location, which
 * forwarding reads anyway. The bulk lookup prefetches all buckets of a
 * burst, then all candidate route objects, so a burst's misses overlap
 * instead of queueing one after another. (An rte_hash with the key in its
 * key store costs a bucket, a key-store entry of 8 + 64 bytes and then the
 * route: one more dependent miss per message once the table no longer fits
 * in the cache.)
 *
 * Collisions: bucketized linear probing. A name lives in its home bucket
 * (hash & mask) or, when that is full, in the first bucket after it with a
 * free slot; each bucket counts the names stored past it (its overflow
 * count, as in folly's F14 tables), and a lookup stops at the first bucket
 * whose count is 0. There are no tombstones: a delete frees its slot at
 * once and decrements the counts along its probe path, so however many
 * names come and go the table is as good as one built from the names it
 * holds now. The table has at least 1.6 slots per name of capacity, so
 * even a full directory keeps over 96 % of names in their home bucket.
 *
 * Concurrency: one writer (the agent), lock-free readers (the workers). A
 * slot changes with one atomic 64-bit store (release), and entries never
 * move: an add fills a free slot, a replace swaps the route address in the
 * name's slot, a delete clears it. A reader always confirms a candidate by
 * comparing the whole name stored in the route object it loaded, so
 * whatever mix of old and new slots it sees it returns either no route or
 * a route of the name it asked for. A replaced or removed route object is
 * reclaimed only after a liburcu QSBR grace period, so a worker holding a
 * route pointer from a lookup can use it until its next quiescent state.
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

/* The part of the directory readers use (see yard_dir_hash). */
struct yard_dir_table;

/* Most keys one bulk lookup takes. */
#define YARD_DIR_LOOKUP_BULK_MAX 64

/*
 * Create a directory for up to `capacity` names (1..2^28) on `socket`.
 * NULL on error (rte_errno says why). Agent (or tests), at start-up.
 * Costs 64 bytes of table per 4.375 names of capacity, rounded up to a
 * power of two of buckets, allocated and zeroed here.
 */
struct yard_dir *yard_dir_create(const char *name, uint32_t capacity, int socket);

/* Free the directory, every route object and the allocator's memory. */
void yard_dir_free(struct yard_dir *dir);

/*
 * The directory's hash: CRC32C over the key's 8-byte words up to the last
 * one holding name bytes. The zero padding adds nothing, so a short name
 * costs a few CRC instructions instead of eight. yard_name_hash() finds the
 * length from the padding; yard_name_hash_len() is the fast path's, which
 * knows the length. The low bits pick the home bucket, the high 16 bits
 * are the slot's tag.
 */
static inline uint32_t yard_name_hash_len(const struct yard_name_key *key, unsigned len)
{
    const uint64_t *w = (const uint64_t *)key->bytes;
    uint32_t h = 0;
    for (unsigned i = 0; i < (len + 7) / 8; i++)
        h = rte_hash_crc_8byte(w[i], h);
    return h;
}

/* The same on a whole zero-padded key (key_len 64; init_val is unused). */
uint32_t yard_name_hash(const void *key, uint32_t key_len, uint32_t init_val);

/* Fill key from a name of len bytes (1..63). */
static inline void yard_name_key_set(struct yard_name_key *key, const void *name, unsigned len)
{
    memset(key, 0, sizeof(*key));
    memcpy(key->bytes, name, len);
}

/*
 * Look up n keys (n <= YARD_DIR_LOOKUP_BULK_MAX; each a struct
 * yard_name_key, zero-padded). Sets *hit_mask to the keys found (bit i for
 * keys[i]) and routes[i] for each of them. Reader side: call only from a
 * thread that is online in QSBR, and drop the pointers before its next
 * quiescent state. Cost: the hashes, then about two cache misses per key
 * (bucket, route object), overlapped across the burst; the route objects
 * found are in the cache on return.
 */
void yard_dir_lookup_bulk(const struct yard_dir_table *t, const void **keys, unsigned n,
                          uint64_t *hit_mask, struct yard_route **routes);

/*
 * The same with the keys' hashes already computed (yard_name_hash_len) in
 * sigs: the fast path hashes each name while it is in registers.
 */
void yard_dir_lookup_bulk_hashed(const struct yard_dir_table *t, const void **keys,
                                 const uint32_t *sigs, unsigned n, uint64_t *hit_mask,
                                 struct yard_route **routes);

/*
 * The table behind the directory, for the lookups above. Fixed for the
 * directory's lifetime: a worker may fetch it once per burst or once.
 */
const struct yard_dir_table *yard_dir_hash(const struct yard_dir *dir);

/*
 * Writer side: a new, unpublished route object with room for nb_locs
 * locations (1..YARD_ROUTE_MAX_LOCS), its header zeroed but for cap_locs
 * and slab_class. NULL when out of memory. Tens of nanoseconds.
 */
struct yard_route *yard_route_alloc(struct yard_dir *dir, unsigned nb_locs);

/* Writer side: give back an object that was never published. */
void yard_route_discard(struct yard_dir *dir, struct yard_route *route);

/*
 * Writer side. Add or replace the route of `name`; `route` comes from
 * yard_route_alloc() on this directory and is published under this one
 * name (the directory writes the name into it). The previous route (if
 * any) is reclaimed after the next yard_dir_reclaim(); setting the route a
 * name already has changes nothing. Returns 0 or -ENOSPC (the directory
 * holds `capacity` names), -EINVAL (bad name), -ENOMEM. A deleted name's
 * room is free again at once.
 */
int yard_dir_set(struct yard_dir *dir, const char *name, unsigned len, struct yard_route *route);

/* Remove `name`. Returns 0 or -ENOENT, -EINVAL. */
int yard_dir_del(struct yard_dir *dir, const char *name, unsigned len);

/* The route of `name` as the writer sees it (writer thread only), or NULL. */
struct yard_route *yard_dir_get(struct yard_dir *dir, const char *name, unsigned len);

/*
 * The same three on a ready key and its hash (yard_name_hash_len), for a
 * writer that touches one name several times per command. A name must be
 * given the same hash every time, and readers must look it up with it.
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
 * Bytes the directory holds: the bucket table plus the allocator's memory
 * for route objects (free objects included: it never gives memory back
 * while running). Each route object carries its name's 64-byte key.
 */
uint64_t yard_dir_bytes(const struct yard_dir *dir);

/*
 * Wait for a QSBR grace period, then free every route object that earlier
 * set/del calls retired. Call after a batch of changes: one grace period
 * covers the whole batch. Returns how many retirements were completed (a
 * replaced route counts one; a deleted name's route, one).
 */
unsigned yard_dir_reclaim(struct yard_dir *dir);

/*
 * Iterate (writer only): returns the next position >= *iter or -ENOENT,
 * with *key the name's zero-padded 64-byte key (inside the route object:
 * valid while the name keeps that route). Changing the directory while
 * iterating may skip or repeat names: collect first, change afterwards.
 */
int yard_dir_iterate(struct yard_dir *dir, const void **key, struct yard_route **route,
                     uint32_t *iter);

/* How the names sit in the table (yard_dir_shape). */
struct yard_dir_shape {
    uint32_t buckets;      /* in the table; 7 slots each */
    uint32_t names;        /* occupied slots */
    uint32_t displaced;    /* names not in their home bucket */
    uint32_t max_distance; /* farthest a name sits from its home bucket, in buckets */
    uint64_t distance_sum; /* over all names */
    uint64_t overflow_sum; /* over all buckets' overflow counts: equals distance_sum */
};

/*
 * Writer side: measure the table (every bucket: O(capacity)); a name's home
 * is the bucket of the hash it was added with. For tests and benchmarks;
 * the dataplane never needs it.
 */
void yard_dir_shape(const struct yard_dir *dir, struct yard_dir_shape *shape);

#endif
