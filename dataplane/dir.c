/*
 * dir.c - the name directory's writer side: hash table, route objects and
 * deferred reclamation.
 *
 * Lookups are inline in dir.h. Here: creation, add/replace/delete by the
 * single writer, a slab allocator for route objects, and reclamation.
 * rte_hash in lock-free mode does not free a deleted key's slot by itself
 * (readers may still be comparing against it), so deletions record the slot
 * position and replaced or deleted routes are parked on a retire list;
 * yard_dir_reclaim() waits for one liburcu QSBR grace period and then frees
 * them all.
 *
 * The allocator: size class c holds objects with room for 2^c locations,
 * rounded up to whole cache lines (a one-location route is one line, so a
 * lookup costs one miss for it). Objects are carved from 256 KB chunks of
 * DPDK memory on the directory's socket and recycled through a free list
 * per class; chunks go back only when the directory is freed. A freed
 * object is poisoned (type 0xff, no locations), so a reader that used one
 * after its grace period would see it at once in tests.
 */
#define _LGPL_SOURCE
#include <urcu-qsbr.h>

#include <errno.h>
#include <stdlib.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dir.h"

#define SLAB_CLASSES     9 /* 1, 2, 4, ... 256 locations */
#define SLAB_CHUNK_BYTES (256u * 1024)
#define ROUTE_POISON     0xff

_Static_assert((1u << (SLAB_CLASSES - 1)) == YARD_ROUTE_MAX_LOCS, "classes cover every size");

struct yard_retired {
    struct yard_route *route; /* may be NULL */
    int32_t key_pos;          /* -1 when the key slot stays in use */
};

/* A free object: the link sits after the header, which stays poisoned. */
struct free_obj {
    uint8_t hdr[sizeof(struct yard_route)]; /* a struct yard_route with no locations */
    struct free_obj *next;
};

struct slab_class {
    uint32_t obj_bytes;
    struct free_obj *free;
};

struct yard_dir {
    struct rte_hash *hash;
    uint32_t count; /* names present: rte_hash_count() still counts deleted
                     * keys until their slots are reclaimed */
    uint32_t capacity;
    int socket;
    uint64_t hash_bytes;
    uint64_t chunk_bytes;
    struct yard_retired *retired;
    unsigned nb_retired;
    unsigned cap_retired;
    struct slab_class slab[SLAB_CLASSES];
    void **chunks;
    unsigned nb_chunks, cap_chunks;
};

uint32_t yard_name_hash(const void *key, uint32_t key_len, uint32_t init_val)
{
    (void)init_val;
    const struct yard_name_key *k = key;
    unsigned words = key_len / 8;
    const uint64_t *w = (const uint64_t *)k->bytes;
    while (words > 0 && w[words - 1] == 0)
        words--;
    return yard_name_hash_len(k, words * 8);
}

/* DPDK heap bytes in use on every socket. */
static uint64_t heap_in_use(void)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < rte_socket_count(); i++) {
        struct rte_malloc_socket_stats s;
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &s) == 0)
            total += s.heap_allocsz_bytes;
    }
    return total;
}

struct yard_dir *yard_dir_create(const char *name, uint32_t capacity, int socket)
{
    struct yard_dir *dir = calloc(1, sizeof(*dir));
    if (dir == NULL) {
        rte_errno = ENOMEM;
        return NULL;
    }
    struct rte_hash_parameters params = {
        .name = name,
        .entries = capacity,
        .key_len = sizeof(struct yard_name_key),
        .hash_func = yard_name_hash,
        .hash_func_init_val = 0,
        .socket_id = socket,
        /* Lock-free readers with one writer; the extendable table means an
         * add never fails on a full bucket, only when `entries` is reached. */
        .extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
    };
    /* Measured rather than computed from rte_hash's internals: whatever a
     * DPDK version lays out, this is what the table costs. */
    uint64_t before = heap_in_use();
    dir->hash = rte_hash_create(&params);
    if (dir->hash == NULL) {
        free(dir);
        return NULL;
    }
    uint64_t after = heap_in_use();
    dir->hash_bytes = after > before ? after - before : 0;
    dir->capacity = capacity;
    dir->socket = socket;
    for (unsigned c = 0; c < SLAB_CLASSES; c++) {
        uint32_t bytes = (uint32_t)(sizeof(struct yard_route) + (sizeof(struct yard_loc) << c));
        dir->slab[c].obj_bytes = RTE_ALIGN_CEIL(bytes, RTE_CACHE_LINE_SIZE);
    }
    return dir;
}

void yard_dir_free(struct yard_dir *dir)
{
    if (dir == NULL)
        return;
    yard_dir_reclaim(dir);
    rte_hash_free(dir->hash);
    for (unsigned i = 0; i < dir->nb_chunks; i++)
        rte_free(dir->chunks[i]);
    free(dir->chunks);
    free(dir->retired);
    free(dir);
}

const struct rte_hash *yard_dir_hash(const struct yard_dir *dir)
{
    return dir->hash;
}

/* ---- route objects ---- */

static void slab_put(struct yard_dir *dir, struct yard_route *route)
{
    uint8_t c = route->slab_class;
    struct slab_class *sc = &dir->slab[c];
    struct free_obj *f = (struct free_obj *)route;
    memset(route, 0, sc->obj_bytes);
    route->type = ROUTE_POISON;
    route->slab_class = c;
    f->next = sc->free;
    sc->free = f;
}

/* Carve a new chunk into objects of class c. */
static int slab_grow(struct yard_dir *dir, unsigned c)
{
    struct slab_class *sc = &dir->slab[c];
    if (dir->nb_chunks == dir->cap_chunks) {
        unsigned cap = dir->cap_chunks ? dir->cap_chunks * 2 : 64;
        void **more = realloc(dir->chunks, cap * sizeof(*more));
        if (more == NULL)
            return -ENOMEM;
        dir->chunks = more;
        dir->cap_chunks = cap;
    }
    uint8_t *chunk =
        rte_malloc_socket("yard_routes", SLAB_CHUNK_BYTES, RTE_CACHE_LINE_SIZE, dir->socket);
    if (chunk == NULL)
        return -ENOMEM;
    dir->chunks[dir->nb_chunks++] = chunk;
    dir->chunk_bytes += SLAB_CHUNK_BYTES;
    unsigned n = SLAB_CHUNK_BYTES / sc->obj_bytes;
    /* Push in reverse so objects come out in address order. */
    for (unsigned i = n; i-- > 0;) {
        struct yard_route *r = (struct yard_route *)(chunk + (size_t)i * sc->obj_bytes);
        r->slab_class = (uint8_t)c;
        slab_put(dir, r);
    }
    return 0;
}

struct yard_route *yard_route_alloc(struct yard_dir *dir, unsigned nb_locs)
{
    if (nb_locs == 0 || nb_locs > YARD_ROUTE_MAX_LOCS)
        return NULL;
    unsigned c = nb_locs <= 1 ? 0 : 32 - (unsigned)__builtin_clz(nb_locs - 1);
    struct slab_class *sc = &dir->slab[c];
    if (sc->free == NULL && slab_grow(dir, c) < 0)
        return NULL;
    struct free_obj *f = sc->free;
    sc->free = f->next;
    struct yard_route *r = (struct yard_route *)f;
    memset(r, 0, sizeof(*r) + sizeof(struct free_obj *));
    r->slab_class = (uint8_t)c;
    r->cap_locs = (uint16_t)(1u << c);
    return r;
}

void yard_route_discard(struct yard_dir *dir, struct yard_route *route)
{
    if (route != NULL)
        slab_put(dir, route);
}

/* ---- names ---- */

static int retire(struct yard_dir *dir, struct yard_route *route, int32_t key_pos)
{
    if (dir->nb_retired == dir->cap_retired) {
        unsigned cap = dir->cap_retired ? dir->cap_retired * 2 : 256;
        struct yard_retired *r = realloc(dir->retired, cap * sizeof(*r));
        if (r == NULL)
            return -ENOMEM;
        dir->retired = r;
        dir->cap_retired = cap;
    }
    dir->retired[dir->nb_retired++] = (struct yard_retired){route, key_pos};
    return 0;
}

int yard_dir_make_key(struct yard_name_key *key, uint32_t *sig, const char *name, unsigned len)
{
    if (len == 0 || len >= YARD_KEY_BYTES || memchr(name, 0, len) != NULL)
        return -EINVAL;
    yard_name_key_set(key, name, len);
    *sig = yard_name_hash_len(key, len);
    return 0;
}

struct yard_route *yard_dir_get_key(struct yard_dir *dir, const struct yard_name_key *key,
                                    uint32_t sig)
{
    void *data = NULL;
    if (rte_hash_lookup_with_hash_data(dir->hash, key, sig, &data) < 0)
        return NULL;
    return data;
}

int yard_dir_set_key(struct yard_dir *dir, const struct yard_name_key *key, uint32_t sig,
                     struct yard_route *route)
{
    struct yard_route *old = yard_dir_get_key(dir, key, sig);
    /* Reserve the retire slot first so a failure cannot leak the old route. */
    if (old != NULL && retire(dir, NULL, -1) < 0)
        return -ENOMEM;
    int ret = rte_hash_add_key_with_hash_data(dir->hash, key, sig, route);
    if (ret < 0) {
        if (old != NULL)
            dir->nb_retired--;
        return ret == -ENOSPC ? -ENOSPC : -EINVAL;
    }
    if (old != NULL)
        dir->retired[dir->nb_retired - 1].route = old;
    else
        dir->count++;
    return 0;
}

int yard_dir_del_key(struct yard_dir *dir, const struct yard_name_key *key, uint32_t sig)
{
    struct yard_route *old = yard_dir_get_key(dir, key, sig);
    if (old == NULL)
        return -ENOENT;
    if (retire(dir, NULL, -1) < 0)
        return -ENOMEM;
    int32_t pos = rte_hash_del_key_with_hash(dir->hash, key, sig);
    if (pos < 0) {
        dir->nb_retired--;
        return -ENOENT;
    }
    dir->retired[dir->nb_retired - 1] = (struct yard_retired){old, pos};
    dir->count--;
    return 0;
}

int yard_dir_set(struct yard_dir *dir, const char *name, unsigned len, struct yard_route *route)
{
    struct yard_name_key key;
    uint32_t sig;
    if (yard_dir_make_key(&key, &sig, name, len) < 0)
        return -EINVAL;
    return yard_dir_set_key(dir, &key, sig, route);
}

int yard_dir_del(struct yard_dir *dir, const char *name, unsigned len)
{
    struct yard_name_key key;
    uint32_t sig;
    if (yard_dir_make_key(&key, &sig, name, len) < 0)
        return -EINVAL;
    return yard_dir_del_key(dir, &key, sig);
}

struct yard_route *yard_dir_get(struct yard_dir *dir, const char *name, unsigned len)
{
    struct yard_name_key key;
    uint32_t sig;
    if (yard_dir_make_key(&key, &sig, name, len) < 0)
        return NULL;
    return yard_dir_get_key(dir, &key, sig);
}

uint32_t yard_dir_count(const struct yard_dir *dir)
{
    return dir->count;
}

uint32_t yard_dir_capacity(const struct yard_dir *dir)
{
    return dir->capacity;
}

uint64_t yard_dir_bytes(const struct yard_dir *dir)
{
    return dir->hash_bytes + dir->chunk_bytes;
}

unsigned yard_dir_reclaim(struct yard_dir *dir)
{
    if (dir->nb_retired == 0)
        return 0;
    /* After this, no reader can still hold a pointer retired before it. */
    synchronize_rcu();
    unsigned n = dir->nb_retired;
    for (unsigned i = 0; i < n; i++) {
        if (dir->retired[i].route != NULL)
            slab_put(dir, dir->retired[i].route);
        if (dir->retired[i].key_pos >= 0)
            rte_hash_free_key_with_position(dir->hash, dir->retired[i].key_pos);
    }
    dir->nb_retired = 0;
    return n;
}

int yard_dir_iterate(struct yard_dir *dir, const void **key, struct yard_route **route,
                     uint32_t *iter)
{
    void *data;
    int32_t pos = rte_hash_iterate(dir->hash, key, &data, iter);
    if (pos < 0)
        return -ENOENT;
    *route = data;
    return pos;
}
