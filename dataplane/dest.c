/*
 * dest.c - destinations: adding, refreshing and removing locations, and
 * the sweeps that end full syncs and configuration loads.
 *
 * Every change that workers could notice (a location added or removed, its
 * next hop or its local/remote rank changed) copies the destination's
 * locations into a new route object and publishes it; a refresh that only
 * touches the agent's bookkeeping (origin, stamp, fixed MAC, which remote
 * node) writes it in place, since workers never read those fields.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dest.h"
#include "route.h"

void yard_dests_init(struct yard_dests *d, struct yard_dir *dir)
{
    memset(d, 0, sizeof(*d));
    d->dir = dir;
}

/* Local first, then by address and port: the order depends on membership only. */
static int loc_cmp(const struct yard_loc *a, const struct yard_loc *b)
{
    bool ra = a->node != 0, rb = b->node != 0;
    if (ra != rb)
        return ra ? 1 : -1;
    uint32_t ia = ntohl(a->dst_ipv4), ib = ntohl(b->dst_ipv4);
    if (ia != ib)
        return ia < ib ? -1 : 1;
    uint16_t pa = ntohs(a->dst_udp_port), pb = ntohs(b->dst_udp_port);
    return pa < pb ? -1 : pa > pb;
}

static int find_loc(const struct yard_route *r, uint32_t ipv4, uint16_t udp_port_be)
{
    for (unsigned i = 0; i < r->nb_locs; i++)
        if (r->loc[i].dst_ipv4 == ipv4 && r->loc[i].dst_udp_port == udp_port_be)
            return (int)i;
    return -1;
}

/* Insert loc into the sorted locs[0..n) (room for n + 1). */
static void insert_sorted(struct yard_loc *locs, unsigned n, const struct yard_loc *loc)
{
    unsigned at = 0;
    while (at < n && loc_cmp(&locs[at], loc) < 0)
        at++;
    memmove(&locs[at + 1], &locs[at], (n - at) * sizeof(*locs));
    locs[at] = *loc;
}

/*
 * Make locs[0..n) (sorted) the destination of key, of `type`; n == 0
 * removes the name. The previous object is retired by the directory.
 */
static int publish(struct yard_dests *d, const struct yard_name_key *key, uint32_t sig,
                   uint8_t type, const struct yard_loc *locs, unsigned n)
{
    if (n == 0) {
        int ret = yard_dir_del_key(d->dir, key, sig);
        return ret == -ENOENT ? 0 : ret;
    }
    struct yard_route *r = yard_route_alloc(d->dir, n);
    if (r == NULL)
        return -ENOMEM;
    r->type = type;
    r->nb_locs = (uint16_t)n;
    memcpy(r->loc, locs, n * sizeof(*locs));
    unsigned local = 0;
    while (local < n && locs[local].node == 0)
        local++;
    r->nb_local = (uint16_t)local;
    int ret = yard_dir_set_key(d->dir, key, sig, r);
    if (ret < 0)
        yard_route_discard(d->dir, r);
    return ret;
}

static int bad_name(const char *name, unsigned len, char *why, size_t whylen)
{
    snprintf(why, whylen,
             "name of %u bytes ('%.*s'): a name is 1 to %d bytes without NUL; fix the name", len,
             (int)(len > YARD_NAME_MAX ? YARD_NAME_MAX : len), name, YARD_NAME_MAX);
    return -EINVAL;
}

static const char *type_name(unsigned type)
{
    return type == YARD_DEST_TOPIC ? "a topic" : "an endpoint";
}

/* The agent's bookkeeping of a location from what the add said. */
static void stamp(struct yard_dests *d, struct yard_loc *loc, const struct yard_loc_spec *spec)
{
    loc->node = spec->node;
    loc->origin = spec->origin;
    loc->seen = spec->origin == YARD_ORIGIN_CONFIG ? d->config_epoch : d->epoch;
    loc->has_mac = spec->mac != NULL;
    if (spec->mac != NULL)
        memcpy(loc->mac, spec->mac, sizeof(loc->mac));
    else
        memset(loc->mac, 0, sizeof(loc->mac));
}

int yard_dest_add(struct yard_dests *d, const char *name, unsigned len,
                  const struct yard_loc_spec *spec, char *why, size_t whylen)
{
    struct yard_name_key key;
    uint32_t sig;
    if (yard_dir_make_key(&key, &sig, name, len) < 0)
        return bad_name(name, len, why, whylen);
    if (spec->dest_type > YARD_DEST_TOPIC) {
        snprintf(why, whylen, "'%.*s': dest_type %u: use 0 (endpoint) or 1 (topic)", (int)len, name,
                 spec->dest_type);
        return -EINVAL;
    }
    if (spec->origin == YARD_ORIGIN_CONFIG || spec->origin > YARD_ORIGIN_REMOTE) {
        snprintf(why, whylen,
                 "'%.*s': origin %u: use 1 (static), 2 (registered) or 3 (remote); origin 0 is "
                 "the dataplane's configuration file",
                 (int)len, name, spec->origin);
        return -EINVAL;
    }
    struct yard_route *old = yard_dir_get_key(d->dir, &key, sig);
    if (old != NULL && old->type != spec->dest_type) {
        snprintf(why, whylen,
                 "'%.*s' is %s; it cannot also be %s: remove the name first or use another name",
                 (int)len, name, type_name(old->type), type_name(spec->dest_type));
        return -EEXIST;
    }
    int at = old != NULL ? find_loc(old, spec->ipv4, htons(spec->udp_port)) : -1;
    if (at < 0 && old != NULL && old->nb_locs >= YARD_DEST_MAX_LOCATIONS) {
        snprintf(why, whylen,
                 "'%.*s' has %u locations, the most a destination holds; remove one first",
                 (int)len, name, old->nb_locs);
        return -E2BIG;
    }

    struct yard_loc fresh;
    memset(&fresh, 0, sizeof(fresh));
    char where[224];
    int ret = yard_route_resolve(spec->ipv4, spec->udp_port, spec->mac, true, &fresh, where,
                                 sizeof(where));
    if (ret < 0) {
        snprintf(why, whylen, "'%.*s': %s", (int)len, name, where);
        return ret;
    }
    stamp(d, &fresh, spec);

    if (old == NULL) {
        ret = publish(d, &key, sig, spec->dest_type, &fresh, 1);
    } else if (at >= 0) {
        struct yard_loc *cur = &old->loc[at];
        if (cur->nh == fresh.nh && cur->port_id == fresh.port_id &&
            (cur->node != 0) == (fresh.node != 0)) {
            /* Nothing a worker reads changes: refresh in place. */
            stamp(d, cur, spec);
            return 0;
        }
        struct yard_loc locs[YARD_DEST_MAX_LOCATIONS];
        unsigned n = 0;
        for (unsigned i = 0; i < old->nb_locs; i++)
            if ((int)i != at)
                locs[n++] = old->loc[i];
        insert_sorted(locs, n, &fresh);
        ret = publish(d, &key, sig, old->type, locs, n + 1);
    } else {
        struct yard_loc locs[YARD_DEST_MAX_LOCATIONS];
        memcpy(locs, old->loc, old->nb_locs * sizeof(*locs));
        insert_sorted(locs, old->nb_locs, &fresh);
        ret = publish(d, &key, sig, old->type, locs, old->nb_locs + 1u);
    }
    if (ret < 0) {
        snprintf(why, whylen, "'%.*s': %s", (int)len, name,
                 ret == -ENOSPC ? "the directory is full; raise directory_capacity"
                                : "out of memory for its route");
        return ret;
    }
    if (at < 0)
        d->nb_locations++;
    return 0;
}

int yard_dest_del_loc(struct yard_dests *d, const char *name, unsigned len, uint32_t ipv4,
                      uint16_t udp_port, char *why, size_t whylen)
{
    struct yard_name_key key;
    uint32_t sig;
    if (yard_dir_make_key(&key, &sig, name, len) < 0)
        return bad_name(name, len, why, whylen);
    struct yard_route *old = yard_dir_get_key(d->dir, &key, sig);
    int at = old != NULL ? find_loc(old, ipv4, htons(udp_port)) : -1;
    if (at < 0)
        return 0;
    if (old->loc[at].origin == YARD_ORIGIN_CONFIG) {
        char addr[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &ipv4, addr, sizeof(addr));
        snprintf(why, whylen,
                 "'%.*s': %s:%u comes from the dataplane's configuration file; remove it there "
                 "and reload (SIGHUP)",
                 (int)len, name, addr, udp_port);
        return -EPERM;
    }
    struct yard_loc locs[YARD_DEST_MAX_LOCATIONS];
    unsigned n = 0;
    for (unsigned i = 0; i < old->nb_locs; i++)
        if ((int)i != at)
            locs[n++] = old->loc[i];
    int ret = publish(d, &key, sig, old->type, locs, n);
    if (ret < 0) {
        snprintf(why, whylen, "'%.*s': out of memory for its route", (int)len, name);
        return ret;
    }
    d->nb_locations--;
    return 0;
}

/*
 * Keep only the locations of key's destination that `keep` accepts.
 * Returns how many went, or a negative errno.
 */
static long filter(struct yard_dests *d, const struct yard_name_key *key, uint32_t sig,
                   bool (*keep)(const struct yard_dests *, const struct yard_loc *))
{
    struct yard_route *old = yard_dir_get_key(d->dir, key, sig);
    if (old == NULL)
        return 0;
    struct yard_loc locs[YARD_DEST_MAX_LOCATIONS];
    unsigned n = 0;
    for (unsigned i = 0; i < old->nb_locs; i++)
        if (keep(d, &old->loc[i]))
            locs[n++] = old->loc[i];
    unsigned gone = old->nb_locs - n;
    if (gone == 0)
        return 0;
    int ret = publish(d, key, sig, old->type, locs, n);
    if (ret < 0)
        return ret;
    d->nb_locations -= gone;
    return gone;
}

static bool is_config(const struct yard_dests *d, const struct yard_loc *loc)
{
    (void)d;
    return loc->origin == YARD_ORIGIN_CONFIG;
}

int yard_dest_del_name(struct yard_dests *d, const char *name, unsigned len, char *why,
                       size_t whylen)
{
    struct yard_name_key key;
    uint32_t sig;
    if (yard_dir_make_key(&key, &sig, name, len) < 0)
        return bad_name(name, len, why, whylen);
    long gone = filter(d, &key, sig, is_config);
    if (gone < 0) {
        snprintf(why, whylen, "'%.*s': out of memory for its route", (int)len, name);
        return (int)gone;
    }
    return 0;
}

void yard_dest_sync_begin(struct yard_dests *d, uint32_t generation)
{
    d->epoch++;
    d->sync_generation = generation;
    d->sync_open = true;
}

static bool fresh_or_config(const struct yard_dests *d, const struct yard_loc *loc)
{
    return loc->origin == YARD_ORIGIN_CONFIG || loc->seen == d->epoch;
}

int yard_sync_end_check(bool sync_open, uint32_t open_generation, uint32_t generation, char *why,
                        size_t whylen)
{
    if (sync_open && open_generation == generation)
        return 0;
    if (sync_open)
        snprintf(why, whylen,
                 "SYNC_END(%u) does not match the open SYNC_BEGIN(%u); end the sync that "
                 "was begun",
                 generation, open_generation);
    else
        snprintf(why, whylen, "SYNC_END(%u) without SYNC_BEGIN(%u); begin a sync first", generation,
                 generation);
    return -EINVAL;
}

int yard_dest_sync_end(struct yard_dests *d, uint32_t generation, uint64_t *swept, char *why,
                       size_t whylen)
{
    *swept = 0;
    if (yard_sync_end_check(d->sync_open, d->sync_generation, generation, why, whylen) < 0)
        return -EINVAL;
    /* Collect first: removing names while yard_dir_iterate walks the
     * buckets would change the slots under it. */
    struct yard_name_key *stale = NULL;
    size_t nb_stale = 0, cap_stale = 0;
    const void *key;
    struct yard_route *r;
    uint32_t iter = 0;
    while (yard_dir_iterate(d->dir, &key, &r, &iter) >= 0) {
        bool any = false;
        for (unsigned i = 0; i < r->nb_locs && !any; i++)
            any = !fresh_or_config(d, &r->loc[i]);
        if (!any)
            continue;
        if (nb_stale == cap_stale) {
            size_t cap = cap_stale ? cap_stale * 2 : 1024;
            struct yard_name_key *more = realloc(stale, cap * sizeof(*more));
            if (more == NULL) {
                free(stale);
                snprintf(why, whylen, "SYNC_END(%u): out of memory for the sweep", generation);
                return -ENOMEM;
            }
            stale = more;
            cap_stale = cap;
        }
        memcpy(&stale[nb_stale++], key, sizeof(*stale));
    }
    int ret = 0;
    for (size_t i = 0; i < nb_stale; i++) {
        uint32_t sig = yard_name_hash(&stale[i], sizeof(stale[i]), 0);
        long gone = filter(d, &stale[i], sig, fresh_or_config);
        if (gone < 0) {
            snprintf(why, whylen, "SYNC_END(%u): out of memory for a route", generation);
            ret = (int)gone;
            break;
        }
        *swept += (uint64_t)gone;
    }
    free(stale);
    d->swept += *swept;
    if (ret == 0)
        d->sync_open = false;
    return ret;
}

void yard_dest_config_begin(struct yard_dests *d)
{
    d->config_epoch++;
}

int yard_dest_set_config(struct yard_dests *d, const struct yard_route_conf *rc, char *why,
                         size_t whylen)
{
    struct yard_name_key key;
    uint32_t sig;
    if (yard_dir_make_key(&key, &sig, rc->name, rc->name_len) < 0)
        return bad_name(rc->name, rc->name_len, why, whylen);
    struct yard_route *old = yard_dir_get_key(d->dir, &key, sig);
    if (old != NULL && old->type != YARD_DEST_ENDPOINT) {
        snprintf(why, whylen,
                 "'%s' is a topic of the control plane; a configured route is an endpoint: "
                 "rename the route or remove the topic",
                 rc->name);
        return -EEXIST;
    }
    struct yard_loc_spec spec = {
        .ipv4 = rc->ipv4,
        .udp_port = rc->udp_port,
        .dest_type = YARD_DEST_ENDPOINT,
        .origin = YARD_ORIGIN_CONFIG,
        .mac = rc->has_mac ? rc->mac : NULL,
    };
    struct yard_loc fresh;
    memset(&fresh, 0, sizeof(fresh));
    char where[224];
    int ret =
        yard_route_resolve(rc->ipv4, rc->udp_port, spec.mac, false, &fresh, where, sizeof(where));
    if (ret < 0) {
        snprintf(why, whylen, "'%s': %s", rc->name, where);
        return ret;
    }
    stamp(d, &fresh, &spec);

    /* The file's route replaces every CONFIG location of the name in one
     * step, so a route that moves never becomes a two-member group on the
     * way; the control plane's locations stay, and one at this very
     * address stays the control plane's. */
    unsigned old_n = old != NULL ? old->nb_locs : 0, n = 0, config_at = 0, nb_config = 0;
    bool taken = false;
    struct yard_loc locs[YARD_DEST_MAX_LOCATIONS + 1];
    for (unsigned i = 0; i < old_n; i++) {
        const struct yard_loc *l = &old->loc[i];
        if (l->origin == YARD_ORIGIN_CONFIG) {
            config_at = i;
            nb_config++;
            continue;
        }
        taken |= l->dst_ipv4 == fresh.dst_ipv4 && l->dst_udp_port == fresh.dst_udp_port;
        locs[n++] = *l;
    }
    if (nb_config == 1 && !taken) {
        struct yard_loc *cur = &old->loc[config_at];
        if (cur->dst_ipv4 == fresh.dst_ipv4 && cur->dst_udp_port == fresh.dst_udp_port &&
            cur->nh == fresh.nh && cur->port_id == fresh.port_id) {
            stamp(d, cur, &spec); /* unchanged: no new object for a reload */
            return 0;
        }
    }
    if (!taken) {
        if (n >= YARD_DEST_MAX_LOCATIONS) {
            snprintf(why, whylen,
                     "'%s' has %u locations from the control plane, the most a destination "
                     "holds; remove one first",
                     rc->name, n);
            return -E2BIG;
        }
        insert_sorted(locs, n, &fresh);
        n++;
    }
    ret = publish(d, &key, sig, YARD_DEST_ENDPOINT, locs, n);
    if (ret < 0) {
        snprintf(why, whylen, "'%s': %s", rc->name,
                 ret == -ENOSPC ? "the directory is full; raise directory_capacity"
                                : "out of memory for its route");
        return ret;
    }
    d->nb_locations = d->nb_locations + n - old_n;
    return 0;
}

static bool not_stale_config(const struct yard_dests *d, const struct yard_loc *loc)
{
    return loc->origin != YARD_ORIGIN_CONFIG || loc->seen == d->config_epoch;
}

uint64_t yard_dest_config_end(struct yard_dests *d, const struct yard_route_conf *routes,
                              unsigned n)
{
    uint64_t gone = 0;
    for (unsigned i = 0; i < n; i++) {
        struct yard_name_key key;
        uint32_t sig;
        if (yard_dir_make_key(&key, &sig, routes[i].name, routes[i].name_len) < 0)
            continue;
        long g = filter(d, &key, sig, not_stale_config);
        if (g > 0)
            gone += (uint64_t)g;
    }
    return gone;
}
