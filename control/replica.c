/*
 * replica.c - the cluster's shared directory, versioned per (owner, name)
 * (see replica.h).
 *
 * One chained hash over every owner's entries, keyed by (owner's node id,
 * name), grown by doubling; each owner also keeps its entries on a list, so
 * a sweep or a clear touches only that owner's names. Owners are few (the
 * cluster's routers) and live on a plain list.
 */
#include "replica.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INITIAL_BUCKETS 1024u

static uint32_t entry_hash(uint32_t node_id, const char *name, unsigned len)
{
    uint32_t h = 2166136261u ^ node_id;
    for (unsigned i = 0; i < len; i++) {
        h ^= (uint8_t)name[i];
        h *= 16777619u;
    }
    return h ^ (h >> 15);
}

int yard_replica_init(struct yard_replica *r)
{
    memset(r, 0, sizeof(*r));
    r->buckets = calloc(INITIAL_BUCKETS, sizeof(*r->buckets));
    if (r->buckets == NULL)
        return -ENOMEM;
    r->nb_buckets = INITIAL_BUCKETS;
    r->next_node_id = 1;
    return 0;
}

void yard_replica_free(struct yard_replica *r)
{
    for (uint32_t b = 0; r->buckets != NULL && b < r->nb_buckets; b++) {
        struct yard_replica_entry *e = r->buckets[b];
        while (e != NULL) {
            struct yard_replica_entry *next = e->hnext;
            free(e);
            e = next;
        }
    }
    free(r->buckets);
    while (r->owners != NULL) {
        struct yard_replica_owner *next = r->owners->next;
        free(r->owners);
        r->owners = next;
    }
    memset(r, 0, sizeof(*r));
}

struct yard_replica_owner *yard_replica_owner(struct yard_replica *r, const char *name, bool create,
                                              bool self_node)
{
    for (struct yard_replica_owner *o = r->owners; o != NULL; o = o->next)
        if (strcmp(o->name, name) == 0)
            return o;
    if (!create || strlen(name) > YARD_REPLICA_OWNER_MAX)
        return NULL;
    struct yard_replica_owner *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    strcpy(o->name, name);
    o->node_id = self_node ? 0 : r->next_node_id++;
    o->next = r->owners;
    r->owners = o;
    return o;
}

static struct yard_replica_entry **slot(const struct yard_replica *r, uint32_t node_id,
                                        const char *name, unsigned len)
{
    return &r->buckets[entry_hash(node_id, name, len) & (r->nb_buckets - 1)];
}

struct yard_replica_entry *yard_replica_find(const struct yard_replica *r,
                                             const struct yard_replica_owner *o, const char *name,
                                             unsigned len)
{
    for (struct yard_replica_entry *e = *slot(r, o->node_id, name, len); e != NULL; e = e->hnext)
        if (e->owner == o && e->len == len && memcmp(e->name, name, len) == 0)
            return e;
    return NULL;
}

/* Double the buckets; on failure keep the longer chains (still correct). */
static void grow(struct yard_replica *r)
{
    uint32_t nb = r->nb_buckets * 2;
    struct yard_replica_entry **nbk = calloc(nb, sizeof(*nbk));
    if (nbk == NULL)
        return;
    for (uint32_t b = 0; b < r->nb_buckets; b++) {
        struct yard_replica_entry *e = r->buckets[b];
        while (e != NULL) {
            struct yard_replica_entry *next = e->hnext;
            uint32_t h = entry_hash(e->owner->node_id, e->name, e->len) & (nb - 1);
            e->hnext = nbk[h];
            nbk[h] = e;
            e = next;
        }
    }
    free(r->buckets);
    r->buckets = nbk;
    r->nb_buckets = nb;
}

static struct yard_replica_entry *insert(struct yard_replica *r, struct yard_replica_owner *o,
                                         const char *name, unsigned len)
{
    if (r->nb_entries >= r->nb_buckets)
        grow(r);
    struct yard_replica_entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->owner = o;
    e->len = (uint8_t)len;
    memcpy(e->name, name, len);
    struct yard_replica_entry **s = slot(r, o->node_id, name, len);
    e->hnext = *s;
    *s = e;
    e->onext = o->head;
    if (o->head != NULL)
        o->head->oprev = e;
    o->head = e;
    r->nb_entries++;
    return e;
}

static void unlink_entry(struct yard_replica *r, struct yard_replica_entry *e)
{
    struct yard_replica_entry **pp = slot(r, e->owner->node_id, e->name, e->len);
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->oprev != NULL)
        e->oprev->onext = e->onext;
    else
        e->owner->head = e->onext;
    if (e->onext != NULL)
        e->onext->oprev = e->oprev;
    r->nb_entries--;
    free(e);
}

int yard_replica_apply(struct yard_replica *r, struct yard_replica_owner *o, const char *name,
                       unsigned len, uint8_t type, bool present, uint64_t ver, uint64_t now_ms,
                       struct yard_replica_entry **entry)
{
    if (entry != NULL)
        *entry = NULL;
    if (len == 0 || len > YARD_NAME_MAX)
        return -EINVAL;
    struct yard_replica_entry *e = yard_replica_find(r, o, name, len);
    if (e == NULL) {
        if (!present && ver == 0)
            return YARD_REPLICA_NONE;
        e = insert(r, o, name, len);
        if (e == NULL)
            return -ENOMEM;
    } else if (ver <= e->ver) {
        if (entry != NULL)
            *entry = e;
        return YARD_REPLICA_NONE;
    }
    if (entry != NULL)
        *entry = e;
    bool was = e->present;
    uint8_t old_type = e->type;
    e->ver = ver;
    e->changed_ms = now_ms;
    e->present = present;
    if (present)
        e->type = type;
    if (was != present)
        o->nb_present += present ? 1 : (uint64_t)-1;
    if (!was && present)
        return YARD_REPLICA_ADDED;
    if (was && !present)
        return YARD_REPLICA_REMOVED;
    if (was && present && old_type != type)
        return YARD_REPLICA_RETYPED;
    return YARD_REPLICA_NEWER;
}

void yard_replica_full_begin(struct yard_replica_owner *o)
{
    o->stamp++;
}

int yard_replica_full_entry(struct yard_replica *r, struct yard_replica_owner *o, const char *name,
                            unsigned len, uint8_t type, uint64_t ver, uint64_t now_ms,
                            struct yard_replica_entry **entry)
{
    struct yard_replica_entry *e;
    int rc = yard_replica_apply(r, o, name, len, type, true, ver, now_ms, &e);
    if (e != NULL)
        e->stamp = o->stamp;
    if (entry != NULL)
        *entry = e;
    return rc;
}

uint64_t yard_replica_full_sweep(struct yard_replica *r, struct yard_replica_owner *o,
                                 uint64_t full_ver, uint64_t now_ms,
                                 void (*removed)(void *arg, const struct yard_replica_entry *e),
                                 void *arg)
{
    (void)r;
    uint64_t n = 0;
    for (struct yard_replica_entry *e = o->head; e != NULL; e = e->onext) {
        if (!e->present || e->stamp == o->stamp || e->ver > full_ver)
            continue;
        if (removed != NULL)
            removed(arg, e);
        e->present = false;
        e->ver = full_ver;
        e->changed_ms = now_ms;
        o->nb_present--;
        n++;
    }
    return n;
}

uint64_t yard_replica_owner_clear(struct yard_replica *r, struct yard_replica_owner *o,
                                  void (*removed)(void *arg, const struct yard_replica_entry *e),
                                  void *arg)
{
    uint64_t n = 0;
    while (o->head != NULL) {
        struct yard_replica_entry *e = o->head;
        if (e->present) {
            if (removed != NULL)
                removed(arg, e);
            n++;
        }
        unlink_entry(r, e);
    }
    o->nb_present = 0;
    return n;
}

uint64_t yard_replica_purge(struct yard_replica *r, uint64_t before_ms)
{
    uint64_t n = 0;
    for (struct yard_replica_owner *o = r->owners; o != NULL; o = o->next) {
        struct yard_replica_entry *e = o->head;
        while (e != NULL) {
            struct yard_replica_entry *next = e->onext;
            if (!e->present && e->changed_ms < before_ms) {
                unlink_entry(r, e);
                n++;
            }
            e = next;
        }
    }
    return n;
}

uint64_t yard_replica_next_version(uint64_t last)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    return now_us > last ? now_us : last + 1;
}
