/*
 * members.c - the member table and the alive/suspect/dead rules
 * (members.h).
 *
 * Each rule is memberlist 0.2.2's state.go function of the same name,
 * check for check and in the same order, because two implementations that
 * disagree on when news is stale make a cluster flap: a node must ignore,
 * apply, re-gossip and refute exactly what a Serf agent would. Where the
 * C version differs it says why (names must be valid C strings here; the
 * refutation broadcast is keyed by our name where memberlist keys it by
 * our address string, so a newer refutation replaces an older one).
 */
#include "members.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static const uint8_t vsn_init[SWIM_VSN_LEN] = SWIM_VSN_INIT;

static uint64_t now_ms(const struct swim_members *ms)
{
    return swim_timers_now(ms->env.timers);
}

static uint32_t name_hash(const uint8_t *name, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ name[i]) * 16777619u;
    return h;
}

/* Names become C strings in struct swim_member: 1..255 bytes, no NUL. */
static bool name_ok(const struct swim_bytes *b)
{
    return b->ptr != NULL && b->len >= 1 && b->len <= SWIM_NAME_MAX &&
           memchr(b->ptr, 0, b->len) == NULL;
}

static struct swim_bytes node_name(const struct swim_node *n)
{
    return (struct swim_bytes){(const uint8_t *)n->m.name, (uint32_t)strlen(n->m.name)};
}

int swim_members_init(struct swim_members *ms, const struct swim_members_env *env)
{
    memset(ms, 0, sizeof(*ms));
    ms->env = *env;
    ms->nb_buckets = 64;
    ms->buckets = calloc(ms->nb_buckets, sizeof(*ms->buckets));
    ms->cap = 16;
    ms->nodes = calloc(ms->cap, sizeof(*ms->nodes));
    if (ms->buckets == NULL || ms->nodes == NULL) {
        free(ms->buckets);
        free(ms->nodes);
        return -ENOMEM;
    }
    return 0;
}

static void clear_suspicion(struct swim_members *ms, struct swim_node *n)
{
    swim_timer_cancel(ms->env.timers, &n->susp_timer);
    free(n->susp);
    n->susp = NULL;
}

void swim_members_fini(struct swim_members *ms)
{
    for (unsigned i = 0; i < ms->nb; i++) {
        clear_suspicion(ms, ms->nodes[i]);
        free(ms->nodes[i]);
    }
    free(ms->nodes);
    free(ms->buckets);
    memset(ms, 0, sizeof(*ms));
}

struct swim_node *swim_members_find(const struct swim_members *ms, const uint8_t *name, size_t len)
{
    uint32_t h = name_hash(name, len);
    for (struct swim_node *n = ms->buckets[h & (ms->nb_buckets - 1)]; n != NULL; n = n->hash_next)
        if (n->hash == h && strlen(n->m.name) == len && memcmp(n->m.name, name, len) == 0)
            return n;
    return NULL;
}

struct swim_node *swim_members_find_str(const struct swim_members *ms, const char *name)
{
    return swim_members_find(ms, (const uint8_t *)name, strlen(name));
}

static int grow_buckets(struct swim_members *ms)
{
    unsigned nb = ms->nb_buckets * 2;
    struct swim_node **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < ms->nb; i++) {
        struct swim_node *n = ms->nodes[i];
        n->hash_next = b[n->hash & (nb - 1)];
        b[n->hash & (nb - 1)] = n;
    }
    free(ms->buckets);
    ms->buckets = b;
    ms->nb_buckets = nb;
    return 0;
}

static void unhash(struct swim_members *ms, struct swim_node *n)
{
    struct swim_node **p = &ms->buckets[n->hash & (ms->nb_buckets - 1)];
    while (*p != n)
        p = &(*p)->hash_next;
    *p = n->hash_next;
}

/* A new node, inserted at a random position of the probe order (memberlist:
 * append, then swap with a random offset, so the failure-detection bound
 * stays low on average). */
static struct swim_node *insert(struct swim_members *ms, const struct swim_bytes *name)
{
    if (ms->nb == ms->cap) {
        struct swim_node **nodes = realloc(ms->nodes, ms->cap * 2 * sizeof(*nodes));
        if (nodes == NULL)
            return NULL;
        ms->nodes = nodes;
        ms->cap *= 2;
    }
    if (ms->nb >= ms->nb_buckets && grow_buckets(ms) < 0)
        return NULL;
    struct swim_node *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    memcpy(n->m.name, name->ptr, name->len);
    n->m.name[name->len] = '\0';
    n->m.state = SWIM_STATE_DEAD; /* so the first alive counts as a join */
    n->hash = name_hash(name->ptr, name->len);
    n->ms = ms;
    n->hash_next = ms->buckets[n->hash & (ms->nb_buckets - 1)];
    ms->buckets[n->hash & (ms->nb_buckets - 1)] = n;

    unsigned offset = swim_rand_below(ms->env.rand, ms->nb);
    ms->nodes[ms->nb] = ms->nodes[offset];
    ms->nodes[offset] = n;
    ms->nb++;
    return n;
}

static void queue(struct swim_members *ms, const struct swim_bytes *about, int len)
{
    if (len <= 0)
        return;
    swim_bcast_queue_push(ms->env.bcast, about->ptr, about->len, ms->enc, (size_t)len, NULL);
}

static void queue_alive(struct swim_members *ms, const struct swim_alive *a)
{
    queue(ms, &a->node, swim_encode_alive(ms->enc, sizeof(ms->enc), a));
}

static void queue_suspect(struct swim_members *ms, const struct swim_suspect *s)
{
    queue(ms, &s->node, swim_encode_suspect(ms->enc, sizeof(ms->enc), s));
}

static uint64_t queue_dead(struct swim_members *ms, const struct swim_dead *d)
{
    int len = swim_encode_dead(ms->enc, sizeof(ms->enc), d);
    uint64_t id = 0;
    if (len > 0)
        swim_bcast_queue_push(ms->env.bcast, d->node.ptr, d->node.len, ms->enc, (size_t)len, &id);
    return id;
}

static struct swim_alive self_alive(const struct swim_node *me)
{
    return (struct swim_alive){
        .addr = {me->m.addr, me->m.addr_len},
        .incarnation = me->m.incarnation,
        .meta = {me->m.meta, me->m.meta_len},
        .node = node_name(me),
        .port = me->m.port,
        .vsn = {me->m.vsn, SWIM_VSN_LEN},
    };
}

/* memberlist's refute: beat the accusation's incarnation, lower our health
 * score, announce ourselves alive. */
static void refute(struct swim_members *ms, uint32_t accused)
{
    struct swim_node *me = ms->self;
    uint32_t inc = me->m.incarnation + 1;
    if (accused >= inc)
        inc = accused + 1;
    me->m.incarnation = inc;
    swim_awareness_apply(ms->env.awareness, 1);
    ms->env.stats->refutations++;
    struct swim_alive a = self_alive(me);
    queue_alive(ms, &a);
}

static void set_state(struct swim_members *ms, struct swim_node *n, uint8_t state)
{
    n->m.state = state;
    n->m.state_change_ms = now_ms(ms);
}

#define CALL(ms, fn, ...)                                                 \
    do {                                                                  \
        if ((ms)->env.delegate != NULL && (ms)->env.delegate->fn != NULL) \
            (ms)->env.delegate->fn((ms)->env.delegate->arg, __VA_ARGS__); \
    } while (0)

void swim_members_on_alive(struct swim_members *ms, const struct swim_alive *a, bool bootstrap)
{
    if (!name_ok(&a->node) || (a->addr.len != 4 && a->addr.len != 16) ||
        a->meta.len > SWIM_META_MAX) {
        ms->env.stats->rejects_invalid++;
        return;
    }
    struct swim_node *n = swim_members_find(ms, a->node.ptr, a->node.len);
    bool about_us = n != NULL && n == ms->self;

    /* A queued alive about us must not undo a leave in progress. */
    if (ms->leaving && about_us)
        return;
    if (a->vsn.len >= 3) {
        uint8_t pmin = a->vsn.ptr[0], pmax = a->vsn.ptr[1];
        if (pmin == 0 || pmax == 0 || pmin > pmax) {
            ms->env.stats->rejects_version++;
            return;
        }
    }

    bool readdress = false;
    if (n == NULL) {
        n = insert(ms, &a->node);
        if (n == NULL)
            return;
        memcpy(n->m.addr, a->addr.ptr, a->addr.len);
        n->m.addr_len = (uint8_t)a->addr.len;
        n->m.port = a->port;
        if (a->meta.len > 0)
            memcpy(n->m.meta, a->meta.ptr, a->meta.len);
        n->m.meta_len = (uint16_t)a->meta.len;
        if (a->vsn.len >= SWIM_VSN_LEN)
            memcpy(n->m.vsn, a->vsn.ptr, SWIM_VSN_LEN);
        if (bootstrap && ms->self == NULL) {
            ms->self = n;
            n->m.is_self = true;
            about_us = true;
        }
    } else if (n->m.addr_len != a->addr.len || memcmp(n->m.addr, a->addr.ptr, a->addr.len) != 0 ||
               n->m.port != a->port) {
        /* Only a left node may come back elsewhere (DeadNodeReclaimTime 0:
         * a dead one may not). */
        if (n->m.state != SWIM_STATE_LEFT) {
            ms->env.stats->rejects_conflict++;
            return;
        }
        readdress = true;
    }

    if (a->incarnation <= n->m.incarnation && !about_us && !readdress)
        return;
    if (a->incarnation < n->m.incarnation && about_us)
        return;

    clear_suspicion(ms, n);
    uint8_t old_state = n->m.state;
    bool meta_changed = n->m.meta_len != a->meta.len ||
                        (a->meta.len > 0 && memcmp(n->m.meta, a->meta.ptr, a->meta.len) != 0);

    if (!bootstrap && about_us) {
        /* The same incarnation with our own meta and versions is just our
         * own news coming back; anything else (say, from before a restart
         * with other meta) must be refuted. */
        if (a->incarnation == n->m.incarnation && !meta_changed && a->vsn.len == SWIM_VSN_LEN &&
            memcmp(a->vsn.ptr, n->m.vsn, SWIM_VSN_LEN) == 0)
            return;
        refute(ms, a->incarnation);
        return; /* our state is unchanged: no event */
    }

    queue_alive(ms, a);
    if (a->vsn.len >= SWIM_VSN_LEN)
        memcpy(n->m.vsn, a->vsn.ptr, SWIM_VSN_LEN);
    bool addr_changed = readdress;
    n->m.incarnation = a->incarnation;
    if (a->meta.len > 0)
        memcpy(n->m.meta, a->meta.ptr, a->meta.len);
    n->m.meta_len = (uint16_t)a->meta.len;
    memcpy(n->m.addr, a->addr.ptr, a->addr.len);
    n->m.addr_len = (uint8_t)a->addr.len;
    n->m.port = a->port;
    if (n->m.state != SWIM_STATE_ALIVE)
        set_state(ms, n, SWIM_STATE_ALIVE);

    if (old_state == SWIM_STATE_DEAD || old_state == SWIM_STATE_LEFT) {
        ms->env.stats->joins++;
        CALL(ms, on_join, &n->m);
    } else if (meta_changed || addr_changed) {
        CALL(ms, on_update, &n->m);
    }
}

static void on_suspicion_timeout(struct swim_timer *t, void *arg)
{
    (void)t;
    struct swim_node *n = arg;
    struct swim_members *ms = n->ms;
    if (n->m.state != SWIM_STATE_SUSPECT)
        return;
    struct swim_dead d = {
        .from = node_name(ms->self),
        .incarnation = n->m.incarnation,
        .node = node_name(n),
    };
    ms->env.stats->deaths_declared++;
    swim_members_on_dead(ms, &d);
}

void swim_members_on_suspect(struct swim_members *ms, const struct swim_suspect *s)
{
    if (!name_ok(&s->node))
        return;
    struct swim_node *n = swim_members_find(ms, s->node.ptr, s->node.len);
    if (n == NULL || s->incarnation < n->m.incarnation)
        return;

    /* A running suspicion: a new accuser is an independent confirmation,
     * which shortens the timer and is worth spreading. */
    if (n->susp != NULL) {
        if (s->from.ptr != NULL && swim_suspicion_confirm(n->susp, s->from.ptr, s->from.len)) {
            ms->env.stats->suspicion_confirmations++;
            queue_suspect(ms, s);
            swim_timer_arm(ms->env.timers, &n->susp_timer, swim_suspicion_deadline(n->susp));
        }
        return;
    }
    if (n->m.state != SWIM_STATE_ALIVE)
        return;
    if (n == ms->self) {
        refute(ms, s->incarnation);
        return;
    }
    queue_suspect(ms, s);
    ms->env.stats->suspicions++;
    n->m.incarnation = s->incarnation;
    set_state(ms, n, SWIM_STATE_SUSPECT);

    uint64_t min_ms, max_ms;
    unsigned k;
    swim_suspicion_params(ms->env.cfg, ms->nb, &min_ms, &max_ms, &k);
    n->susp = malloc(sizeof(*n->susp));
    if (n->susp == NULL)
        return; /* stays suspect until news or a probe settles it */
    swim_suspicion_start(n->susp, s->from.ptr != NULL ? s->from.ptr : (const uint8_t *)"",
                         s->from.len, k, min_ms, max_ms, n->m.state_change_ms);
    swim_timer_init(&n->susp_timer, on_suspicion_timeout, n);
    swim_timer_arm(ms->env.timers, &n->susp_timer, swim_suspicion_deadline(n->susp));
}

void swim_members_on_dead(struct swim_members *ms, const struct swim_dead *d)
{
    if (!name_ok(&d->node))
        return;
    struct swim_node *n = swim_members_find(ms, d->node.ptr, d->node.len);
    if (n == NULL || d->incarnation < n->m.incarnation)
        return;
    clear_suspicion(ms, n);
    if (n->m.state == SWIM_STATE_DEAD || n->m.state == SWIM_STATE_LEFT)
        return;
    if (n == ms->self) {
        if (!ms->leaving) {
            refute(ms, d->incarnation);
            return;
        }
        ms->leave_bcast_id = queue_dead(ms, d);
    } else {
        queue_dead(ms, d);
    }
    n->m.incarnation = d->incarnation;
    bool left = d->from.len == d->node.len && d->from.ptr != NULL &&
                memcmp(d->from.ptr, d->node.ptr, d->node.len) == 0;
    set_state(ms, n, left ? SWIM_STATE_LEFT : SWIM_STATE_DEAD);
    ms->env.stats->deaths++;
    CALL(ms, on_leave, &n->m);
}

int swim_members_start(struct swim_members *ms, const char *name, const uint8_t *addr,
                       uint8_t addr_len, uint16_t port, const uint8_t *meta, size_t meta_len)
{
    struct swim_bytes nb = {(const uint8_t *)name, (uint32_t)strlen(name)};
    if (!name_ok(&nb) || (addr_len != 4 && addr_len != 16) || ms->self != NULL)
        return -EINVAL;
    if (meta_len > SWIM_META_MAX)
        return -EMSGSIZE;
    struct swim_alive a = {
        .addr = {addr, addr_len},
        .incarnation = 1,
        .meta = {meta != NULL ? meta : (const uint8_t *)"", (uint32_t)meta_len},
        .node = nb,
        .port = port,
        .vsn = {vsn_init, SWIM_VSN_LEN},
    };
    swim_members_on_alive(ms, &a, true);
    return ms->self != NULL ? 0 : -ENOMEM;
}

int swim_members_set_meta(struct swim_members *ms, const uint8_t *meta, size_t len)
{
    if (len > SWIM_META_MAX)
        return -EMSGSIZE;
    struct swim_alive a = self_alive(ms->self);
    a.incarnation = ms->self->m.incarnation + 1;
    a.meta = (struct swim_bytes){meta != NULL ? meta : (const uint8_t *)"", (uint32_t)len};
    swim_members_on_alive(ms, &a, true);
    return 0;
}

int swim_members_leave(struct swim_members *ms)
{
    if (ms->leaving)
        return -EALREADY;
    ms->leaving = true;
    struct swim_dead d = {
        .from = node_name(ms->self),
        .incarnation = ms->self->m.incarnation,
        .node = node_name(ms->self),
    };
    swim_members_on_dead(ms, &d);
    return 0;
}

/* Versions of a push/pull entry: memberlist reads them only when present. */
static void entry_vsn(const struct swim_push_node_state *r, uint8_t v[SWIM_VSN_LEN])
{
    if (r->vsn.len >= SWIM_VSN_LEN)
        memcpy(v, r->vsn.ptr, SWIM_VSN_LEN);
    else
        memset(v, 0, SWIM_VSN_LEN);
}

static int check_cur(const char *name, size_t name_len, const uint8_t v[SWIM_VSN_LEN],
                     const uint8_t range[4], char *why, size_t whylen)
{
    if (v[2] < range[0] || v[2] > range[1]) {
        snprintf(why, whylen, "node '%.*s' protocol version (%u) is incompatible: [%u, %u]",
                 (int)name_len, name, v[2], range[0], range[1]);
        return -EPROTO;
    }
    if (v[5] < range[2] || v[5] > range[3]) {
        snprintf(why, whylen,
                 "node '%.*s' delegate protocol version (%u) is incompatible: [%u, %u]",
                 (int)name_len, name, v[5], range[2], range[3]);
        return -EPROTO;
    }
    return 0;
}

int swim_members_verify(const struct swim_members *ms, const struct swim_push_node_state *remote,
                        unsigned n, char *why, size_t whylen)
{
    char dummy[1];
    if (why == NULL || whylen == 0) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    /* max pmin, min pmax, max dmin, min dmax over alive nodes of both sides */
    uint8_t range[4] = {0, 255, 0, 255};
    uint8_t v[SWIM_VSN_LEN];
    for (unsigned i = 0; i < n; i++) {
        if (remote[i].state != SWIM_STATE_ALIVE || remote[i].vsn.len == 0)
            continue;
        entry_vsn(&remote[i], v);
        range[0] = v[0] > range[0] ? v[0] : range[0];
        range[1] = v[1] < range[1] ? v[1] : range[1];
        range[2] = v[3] > range[2] ? v[3] : range[2];
        range[3] = v[4] < range[3] ? v[4] : range[3];
    }
    for (unsigned i = 0; i < ms->nb; i++) {
        const uint8_t *lv = ms->nodes[i]->m.vsn;
        if (ms->nodes[i]->m.state != SWIM_STATE_ALIVE)
            continue;
        range[0] = lv[0] > range[0] ? lv[0] : range[0];
        range[1] = lv[1] < range[1] ? lv[1] : range[1];
        range[2] = lv[3] > range[2] ? lv[3] : range[2];
        range[3] = lv[4] < range[3] ? lv[4] : range[3];
    }
    /* every node of both sides, whatever its state, must speak inside them */
    for (unsigned i = 0; i < n; i++) {
        entry_vsn(&remote[i], v);
        const char *name = remote[i].name.ptr != NULL ? (const char *)remote[i].name.ptr : "";
        int rc = check_cur(name, remote[i].name.ptr != NULL ? remote[i].name.len : 0, v, range, why,
                           whylen);
        if (rc < 0)
            return rc;
    }
    for (unsigned i = 0; i < ms->nb; i++) {
        const struct swim_node *l = ms->nodes[i];
        int rc = check_cur(l->m.name, strlen(l->m.name), l->m.vsn, range, why, whylen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void swim_members_merge(struct swim_members *ms, const struct swim_push_node_state *remote,
                        unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        const struct swim_push_node_state *r = &remote[i];
        switch (r->state) {
        case SWIM_STATE_ALIVE: {
            struct swim_alive a = {
                .addr = r->addr,
                .incarnation = r->incarnation,
                .meta = r->meta,
                .node = r->name,
                .port = r->port,
                .vsn = r->vsn,
            };
            swim_members_on_alive(ms, &a, false);
            break;
        }
        case SWIM_STATE_LEFT: {
            struct swim_dead d = {.from = r->name, .incarnation = r->incarnation, .node = r->name};
            swim_members_on_dead(ms, &d);
            break;
        }
        case SWIM_STATE_DEAD: /* a remote "dead" only makes us suspect */
        case SWIM_STATE_SUSPECT: {
            struct swim_suspect s = {
                .from = node_name(ms->self),
                .incarnation = r->incarnation,
                .node = r->name,
            };
            swim_members_on_suspect(ms, &s);
            break;
        }
        default:
            break;
        }
    }
}

void swim_members_reset(struct swim_members *ms)
{
    uint64_t now = now_ms(ms);
    /* Reap dead (not left) nodes past gossip_to_the_dead_ms. */
    for (unsigned i = 0; i < ms->nb;) {
        struct swim_node *n = ms->nodes[i];
        if (n->m.state != SWIM_STATE_DEAD || n == ms->self ||
            now - n->m.state_change_ms <= ms->env.cfg->gossip_to_the_dead_ms) {
            i++;
            continue;
        }
        unhash(ms, n);
        clear_suspicion(ms, n);
        free(n);
        ms->nodes[i] = ms->nodes[--ms->nb];
        ms->env.stats->reaped++;
    }
    /* Fisher-Yates, like Go's rand.Shuffle. */
    for (unsigned i = ms->nb; i > 1; i--) {
        unsigned j = swim_rand_below(ms->env.rand, i);
        struct swim_node *t = ms->nodes[i - 1];
        ms->nodes[i - 1] = ms->nodes[j];
        ms->nodes[j] = t;
    }
}

struct swim_node *swim_members_next_probe(struct swim_members *ms)
{
    unsigned checked = 0;
    for (;;) {
        if (checked >= ms->nb)
            return NULL;
        if (ms->probe_index >= ms->nb) {
            swim_members_reset(ms);
            ms->probe_index = 0;
            checked++;
            continue;
        }
        struct swim_node *n = ms->nodes[ms->probe_index++];
        if (n == ms->self || n->m.state == SWIM_STATE_DEAD || n->m.state == SWIM_STATE_LEFT) {
            checked++;
            continue;
        }
        return n;
    }
}

static bool pickable(const struct swim_members *ms, const struct swim_node *n, enum swim_pick how,
                     uint64_t now)
{
    if (n == ms->self)
        return false;
    switch (how) {
    case SWIM_PICK_ALIVE:
        return n->m.state == SWIM_STATE_ALIVE;
    case SWIM_PICK_GOSSIP:
        if (n->m.state == SWIM_STATE_ALIVE || n->m.state == SWIM_STATE_SUSPECT)
            return true;
        return n->m.state == SWIM_STATE_DEAD &&
               now - n->m.state_change_ms <= ms->env.cfg->gossip_to_the_dead_ms;
    }
    return false;
}

unsigned swim_members_pick(struct swim_members *ms, unsigned k, enum swim_pick how,
                           const struct swim_node *exclude, struct swim_node **out)
{
    uint64_t now = now_ms(ms);
    unsigned got = 0;
    for (unsigned i = 0; i < 3 * ms->nb && got < k; i++) {
        struct swim_node *n = ms->nodes[swim_rand_below(ms->env.rand, ms->nb)];
        if (n == exclude || !pickable(ms, n, how, now))
            continue;
        bool dup = false;
        for (unsigned j = 0; j < got && !dup; j++)
            dup = out[j] == n;
        if (!dup)
            out[got++] = n;
    }
    return got;
}

unsigned swim_members_nb_live_others(const struct swim_members *ms)
{
    unsigned live = 0;
    for (unsigned i = 0; i < ms->nb; i++) {
        const struct swim_node *n = ms->nodes[i];
        if (n != ms->self && (n->m.state == SWIM_STATE_ALIVE || n->m.state == SWIM_STATE_SUSPECT))
            live++;
    }
    return live;
}
