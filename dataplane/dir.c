/*
 * dir.c - the name directory's writer side and reclamation.
 *
 * Lookups are inline in dir.h. Here: creation, add/replace/delete by the
 * single writer, and deferred reclamation. rte_hash in lock-free mode does
 * not free a deleted key's slot by itself (readers may still be comparing
 * against it), so deletions record the slot position and replaced or deleted
 * routes are parked on a retire list; yard_dir_reclaim() waits for one
 * liburcu QSBR grace period and then frees them all.
 */
#define _LGPL_SOURCE
#include <urcu-qsbr.h>

#include <errno.h>
#include <stdlib.h>

#include <rte_malloc.h>

#include "dir.h"

struct yard_retired {
    struct yard_route *route; /* may be NULL */
    int32_t key_pos;          /* -1 when the key slot stays in use */
};

struct yard_dir {
    struct rte_hash *hash;
    uint32_t count; /* names present: rte_hash_count() still counts deleted
                     * keys until their slots are reclaimed */
    int socket;
    struct yard_retired *retired;
    unsigned nb_retired;
    unsigned cap_retired;
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

struct yard_dir *yard_dir_create(const char *name, uint32_t capacity, int socket)
{
    struct yard_dir *dir = calloc(1, sizeof(*dir));
    if (dir == NULL)
        return NULL;
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
    dir->hash = rte_hash_create(&params);
    if (dir->hash == NULL) {
        free(dir);
        return NULL;
    }
    dir->socket = socket;
    return dir;
}

void yard_dir_free(struct yard_dir *dir)
{
    if (dir == NULL)
        return;
    yard_dir_reclaim(dir);
    const void *key;
    struct yard_route *route;
    uint32_t iter = 0;
    while (yard_dir_iterate(dir, &key, &route, &iter) >= 0)
        rte_free(route);
    rte_hash_free(dir->hash);
    free(dir->retired);
    free(dir);
}

const struct rte_hash *yard_dir_hash(const struct yard_dir *dir)
{
    return dir->hash;
}

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

static int make_key(struct yard_name_key *key, const char *name, unsigned len)
{
    if (len == 0 || len >= YARD_KEY_BYTES || memchr(name, 0, len) != NULL)
        return -EINVAL;
    yard_name_key_set(key, name, len);
    return 0;
}

int yard_dir_set(struct yard_dir *dir, const char *name, unsigned len, struct yard_route *route)
{
    struct yard_name_key key;
    if (make_key(&key, name, len) < 0)
        return -EINVAL;
    void *old = NULL;
    bool had_old = rte_hash_lookup_data(dir->hash, &key, &old) >= 0;
    /* Reserve the retire slot first so a failure cannot leak the old route. */
    if (had_old && retire(dir, NULL, -1) < 0)
        return -ENOMEM;
    int ret = rte_hash_add_key_data(dir->hash, &key, route);
    if (ret < 0) {
        if (had_old)
            dir->nb_retired--;
        return ret == -ENOSPC ? -ENOSPC : -EINVAL;
    }
    if (had_old)
        dir->retired[dir->nb_retired - 1].route = old;
    else
        dir->count++;
    return 0;
}

int yard_dir_del(struct yard_dir *dir, const char *name, unsigned len)
{
    struct yard_name_key key;
    if (make_key(&key, name, len) < 0)
        return -EINVAL;
    void *old = NULL;
    if (rte_hash_lookup_data(dir->hash, &key, &old) < 0)
        return -ENOENT;
    if (retire(dir, NULL, -1) < 0)
        return -ENOMEM;
    int32_t pos = rte_hash_del_key(dir->hash, &key);
    if (pos < 0) {
        dir->nb_retired--;
        return -ENOENT;
    }
    dir->retired[dir->nb_retired - 1] = (struct yard_retired){old, pos};
    dir->count--;
    return 0;
}

struct yard_route *yard_dir_get(struct yard_dir *dir, const char *name, unsigned len)
{
    struct yard_name_key key;
    void *data = NULL;
    if (make_key(&key, name, len) < 0)
        return NULL;
    if (rte_hash_lookup_data(dir->hash, &key, &data) < 0)
        return NULL;
    return data;
}

uint32_t yard_dir_count(const struct yard_dir *dir)
{
    return dir->count;
}

unsigned yard_dir_reclaim(struct yard_dir *dir)
{
    if (dir->nb_retired == 0)
        return 0;
    /* After this, no reader can still hold a pointer retired before it. */
    synchronize_rcu();
    unsigned n = dir->nb_retired;
    for (unsigned i = 0; i < n; i++) {
        rte_free(dir->retired[i].route);
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
