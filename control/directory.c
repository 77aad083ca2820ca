/*
 * directory.c - yard-control's directory of names (see directory.h).
 *
 * Chained hash table of names (FNV-1a, doubled when the load passes 1), an
 * insertion-order list for sync walks, and a timing wheel for leases. The
 * wheel has 100 ms slots; a lease longer than one turn (409.6 s) stays in its
 * slot across turns and is skipped until its time comes, so any lease length
 * works.
 */
#include "directory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t name_hash(const char *name, unsigned len)
{
    uint32_t h = 2166136261u;
    for (unsigned i = 0; i < len; i++) {
        h ^= (uint8_t)name[i];
        h *= 16777619u;
    }
    return h;
}

int yard_ctl_dir_init(struct yard_ctl_dir *d, uint64_t now_ms)
{
    memset(d, 0, sizeof(*d));
    d->nb_buckets = 1024;
    d->buckets = calloc(d->nb_buckets, sizeof(*d->buckets));
    d->wheel_ms = now_ms;
    return d->buckets == NULL ? -ENOMEM : 0;
}

void yard_ctl_dir_free(struct yard_ctl_dir *d)
{
    struct yard_ctl_name *n = d->head;
    while (n != NULL) {
        struct yard_ctl_name *next = n->next;
        struct yard_ctl_loc *l = n->locs;
        while (l != NULL) {
            struct yard_ctl_loc *ln = l->next;
            free(l);
            l = ln;
        }
        free(n);
        n = next;
    }
    free(d->buckets);
    memset(d, 0, sizeof(*d));
}

struct yard_ctl_name *yard_ctl_dir_find(const struct yard_ctl_dir *d, const char *name,
                                        unsigned len)
{
    if (len == 0 || len > YARD_NAME_MAX)
        return NULL;
    uint32_t h = name_hash(name, len);
    for (struct yard_ctl_name *n = d->buckets[h & (d->nb_buckets - 1)]; n != NULL; n = n->hnext)
        if (n->hash == h && n->len == len && memcmp(n->name, name, len) == 0)
            return n;
    return NULL;
}

struct yard_ctl_loc *yard_ctl_dir_loc(const struct yard_ctl_name *n, uint32_t ipv4, uint16_t port)
{
    for (struct yard_ctl_loc *l = n->locs; l != NULL; l = l->next)
        if (l->ipv4 == ipv4 && l->udp_port == port)
            return l;
    return NULL;
}

static void grow(struct yard_ctl_dir *d)
{
    uint32_t nb = d->nb_buckets * 2;
    struct yard_ctl_name **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return; /* longer chains, still correct */
    for (struct yard_ctl_name *n = d->head; n != NULL; n = n->next) {
        n->hnext = b[n->hash & (nb - 1)];
        b[n->hash & (nb - 1)] = n;
    }
    free(d->buckets);
    d->buckets = b;
    d->nb_buckets = nb;
}

static struct yard_ctl_name *name_create(struct yard_ctl_dir *d, const char *name, unsigned len,
                                         uint8_t type)
{
    struct yard_ctl_name *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    memcpy(n->name, name, len);
    n->len = (uint8_t)len;
    n->type = type;
    n->hash = name_hash(name, len);
    if (d->nb_names + 1 > d->nb_buckets)
        grow(d);
    uint32_t b = n->hash & (d->nb_buckets - 1);
    n->hnext = d->buckets[b];
    d->buckets[b] = n;
    n->prev = d->tail;
    if (d->tail != NULL)
        d->tail->next = n;
    else
        d->head = n;
    d->tail = n;
    d->nb_names++;
    if (type == YARD_DEST_TOPIC)
        d->nb_topics++;
    return n;
}

static void name_destroy(struct yard_ctl_dir *d, struct yard_ctl_name *n)
{
    struct yard_ctl_name **pp = &d->buckets[n->hash & (d->nb_buckets - 1)];
    while (*pp != n)
        pp = &(*pp)->hnext;
    *pp = n->hnext;
    if (d->cursor == n)
        d->cursor = n->next;
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        d->head = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    else
        d->tail = n->prev;
    d->nb_names--;
    if (n->type == YARD_DEST_TOPIC)
        d->nb_topics--;
    free(n);
}

static unsigned wheel_slot(uint64_t ms)
{
    return (unsigned)((ms / YARD_WHEEL_SLOT_MS) % YARD_WHEEL_SLOTS);
}

static void wheel_unlink(struct yard_ctl_dir *d, struct yard_ctl_loc *l)
{
    if (l->expires_ms == 0)
        return;
    if (l->wheel_prev != NULL)
        l->wheel_prev->wheel_next = l->wheel_next;
    else
        d->wheel[wheel_slot(l->expires_ms)] = l->wheel_next;
    if (l->wheel_next != NULL)
        l->wheel_next->wheel_prev = l->wheel_prev;
    l->wheel_prev = l->wheel_next = NULL;
    l->expires_ms = 0;
    d->nb_leased--;
}

static void wheel_link(struct yard_ctl_dir *d, struct yard_ctl_loc *l, uint64_t expires_ms)
{
    /* A lease never ends in a slot the wheel has already passed. */
    if (expires_ms < d->wheel_ms)
        expires_ms = d->wheel_ms;
    l->expires_ms = expires_ms;
    unsigned s = wheel_slot(expires_ms);
    l->wheel_prev = NULL;
    l->wheel_next = d->wheel[s];
    if (l->wheel_next != NULL)
        l->wheel_next->wheel_prev = l;
    d->wheel[s] = l;
    d->nb_leased++;
}

/* Counters that depend on a name's shape. */
static void account(struct yard_ctl_dir *d, const struct yard_ctl_name *n, int sign)
{
    if (n->type == YARD_DEST_TOPIC) {
        d->nb_subscriptions += (uint64_t)(int64_t)(sign * n->nb_locs);
        return;
    }
    if (n->nb_locs > 1)
        d->nb_groups += (uint64_t)(int64_t)sign;
}

/* Would refreshing l with s change anything but its lease's end? */
static bool same_location(const struct yard_ctl_loc *l, const struct yard_ctl_loc_spec *s)
{
    return l->origin == s->origin && l->node == s->node && l->has_mac == s->has_mac &&
           (!l->has_mac || memcmp(l->mac, s->mac, 6) == 0) && l->sub_len == s->sub_len &&
           (s->sub_len == 0 || memcmp(l->sub, s->sub, s->sub_len) == 0) &&
           l->lease_ms == s->lease_ms;
}

int yard_ctl_dir_add(struct yard_ctl_dir *d, const struct yard_ctl_loc_spec *spec, uint64_t now_ms,
                     struct yard_ctl_loc **out, bool *created, bool *changed)
{
    if (spec->name_len == 0 || spec->name_len > YARD_NAME_MAX ||
        memchr(spec->name, 0, spec->name_len) != NULL || spec->udp_port == 0 ||
        spec->sub_len > YARD_NAME_MAX || spec->type > YARD_DEST_TOPIC)
        return YARD_CTL_DIR_INVALID;

    struct yard_ctl_name *n = yard_ctl_dir_find(d, spec->name, spec->name_len);
    if (n != NULL && n->type != spec->type)
        return YARD_CTL_DIR_TYPE;
    struct yard_ctl_loc *l = n == NULL ? NULL : yard_ctl_dir_loc(n, spec->ipv4, spec->udp_port);
    *created = l == NULL;
    if (changed != NULL)
        *changed = l == NULL || !same_location(l, spec);
    if (l == NULL) {
        if (n != NULL && n->nb_locs >= YARD_DEST_MAX_LOCATIONS)
            return YARD_CTL_DIR_FULL;
        l = calloc(1, sizeof(*l));
        if (l == NULL)
            return YARD_CTL_DIR_NOMEM;
        if (n == NULL) {
            n = name_create(d, spec->name, spec->name_len, spec->type);
            if (n == NULL) {
                free(l);
                return YARD_CTL_DIR_NOMEM;
            }
        }
        account(d, n, -1);
        l->owner = n;
        l->ipv4 = spec->ipv4;
        l->udp_port = spec->udp_port;
        l->next = n->locs;
        n->locs = l;
        n->nb_locs++;
        d->nb_locs++;
        account(d, n, +1);
    } else {
        if (l->origin == YARD_LOC_ROUTE)
            d->nb_routes--;
        wheel_unlink(d, l);
    }
    l->origin = spec->origin;
    l->node = spec->origin == YARD_LOC_REMOTE ? spec->node : 0;
    if (l->origin == YARD_LOC_ROUTE)
        d->nb_routes++;
    l->has_mac = spec->has_mac;
    memcpy(l->mac, spec->mac, sizeof(l->mac));
    l->sub_len = (uint8_t)spec->sub_len;
    memset(l->sub, 0, sizeof(l->sub));
    if (spec->sub_len > 0)
        memcpy(l->sub, spec->sub, spec->sub_len);
    l->lease_ms = spec->lease_ms;
    if (spec->lease_ms > 0)
        wheel_link(d, l, now_ms + spec->lease_ms);
    *out = l;
    return YARD_CTL_DIR_OK;
}

void yard_ctl_dir_remove(struct yard_ctl_dir *d, struct yard_ctl_loc *loc)
{
    struct yard_ctl_name *n = loc->owner;
    wheel_unlink(d, loc);
    if (loc->origin == YARD_LOC_ROUTE)
        d->nb_routes--;
    account(d, n, -1);
    struct yard_ctl_loc **pp = &n->locs;
    while (*pp != loc)
        pp = &(*pp)->next;
    *pp = loc->next;
    n->nb_locs--;
    d->nb_locs--;
    free(loc);
    if (n->nb_locs == 0)
        name_destroy(d, n);
    else
        account(d, n, +1);
}

struct yard_ctl_loc *yard_ctl_dir_expired(struct yard_ctl_dir *d, uint64_t now_ms)
{
    /* Visit every slot from where the wheel stands up to now, at most one
     * turn; a location found in a slot but due on a later turn stays. */
    while (d->wheel_ms <= now_ms) {
        for (struct yard_ctl_loc *l = d->wheel[wheel_slot(d->wheel_ms)]; l != NULL;
             l = l->wheel_next)
            if (l->expires_ms <= now_ms)
                return l;
        uint64_t next_slot = (d->wheel_ms / YARD_WHEEL_SLOT_MS + 1) * YARD_WHEEL_SLOT_MS;
        if (next_slot > now_ms)
            break;
        if (now_ms - d->wheel_ms > (uint64_t)YARD_WHEEL_SLOTS * YARD_WHEEL_SLOT_MS)
            /* Asleep for more than a turn: one full pass covers every slot. */
            d->wheel_ms = now_ms - (uint64_t)(YARD_WHEEL_SLOTS - 1) * YARD_WHEEL_SLOT_MS;
        else
            d->wheel_ms = next_slot;
    }
    return NULL;
}

uint64_t yard_ctl_loc_lease_left(const struct yard_ctl_loc *loc, uint64_t now_ms)
{
    if (loc->expires_ms == 0 || loc->expires_ms <= now_ms)
        return 0;
    return loc->expires_ms - now_ms;
}

void yard_ctl_dir_cursor_start(struct yard_ctl_dir *d)
{
    d->cursor = d->head;
    d->cursor_active = true;
}

struct yard_ctl_name *yard_ctl_dir_cursor_next(struct yard_ctl_dir *d)
{
    if (!d->cursor_active)
        return NULL;
    struct yard_ctl_name *n = d->cursor;
    if (n == NULL) {
        d->cursor_active = false;
        return NULL;
    }
    d->cursor = n->next;
    return n;
}

const char *yard_ctl_dir_err_text(int err)
{
    switch (err) {
    case YARD_CTL_DIR_OK:
        return "ok";
    case YARD_CTL_DIR_TYPE:
        return "name in use as the other kind (endpoint vs topic)";
    case YARD_CTL_DIR_FULL:
        return "too many locations for one name";
    case YARD_CTL_DIR_NOMEM:
        return "out of memory";
    default:
        return "invalid name or address";
    }
}

const char *yard_loc_origin_name(unsigned origin)
{
    switch (origin) {
    case YARD_LOC_ROUTE:
        return "route";
    case YARD_LOC_STATIC:
        return "static";
    case YARD_LOC_REGISTERED:
        return "registered";
    case YARD_LOC_REMOTE:
        return "remote";
    default:
        return "unknown";
    }
}
