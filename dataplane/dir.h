/*
 * dir.h - the name directory: destination name -> route.
 *
 * An rte_hash keyed by the name zero-padded to 64 bytes (names have no NUL,
 * so the padding keeps keys unique), created with lock-free readers
 * (RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF): workers look up in bursts with
 * no lock; one writer, the agent, adds and removes. A replaced or removed
 * route and the freed key slot are reclaimed only after a liburcu QSBR grace
 * period, so a worker holding a route pointer from a lookup can use it until
 * its next quiescent state.
 *
 * Threads: yard_dir_lookup_bulk() from registered RCU reader threads (the
 * workers); everything else from the single writer (the agent), never from
 * two threads at once.
 */
#ifndef YARD_DIR_H
#define YARD_DIR_H

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
    YARD_NEIGH_STATIC = 2,     /* fixed MAC from the configuration */
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
    struct yard_neighbor *next; /* in the port's neighbor list */
};

/* Where a name's messages go. Immutable once published: replace, not edit. */
struct yard_route {
    uint32_t dst_ipv4;        /* endpoint address, network byte order */
    uint16_t dst_udp_port;    /* network byte order */
    uint16_t port_id;         /* egress port */
    struct yard_neighbor *nh; /* the endpoint itself or the port's gateway */
};

struct yard_dir;

/* Create a directory for up to `capacity` names on `socket`. NULL on error. */
struct yard_dir *yard_dir_create(const char *name, uint32_t capacity, int socket);
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

/* The rte_hash behind the directory, for the lookup above. */
const struct rte_hash *yard_dir_hash(const struct yard_dir *dir);

/*
 * Writer side. Add or replace the route of `name`; the previous route (if
 * any) is reclaimed after the next yard_dir_reclaim(). Returns 0 or -ENOSPC,
 * -EINVAL.
 */
int yard_dir_set(struct yard_dir *dir, const char *name, unsigned len, struct yard_route *route);

/* Remove `name`. Returns 0 or -ENOENT. */
int yard_dir_del(struct yard_dir *dir, const char *name, unsigned len);

/* The route of `name` as the writer sees it (writer thread only), or NULL. */
struct yard_route *yard_dir_get(struct yard_dir *dir, const char *name, unsigned len);

/* Number of names. */
uint32_t yard_dir_count(const struct yard_dir *dir);

/*
 * Wait for a QSBR grace period, then free every route and key slot that
 * earlier set/del calls retired. Call after a batch of changes: one grace
 * period covers the whole batch. Returns how many objects were freed.
 */
unsigned yard_dir_reclaim(struct yard_dir *dir);

/* Iterate (writer only): returns the next position >= *iter or -ENOENT. */
int yard_dir_iterate(struct yard_dir *dir, const void **key, struct yard_route **route,
                     uint32_t *iter);

#endif
