/*
 * cluster.c - yard-control in a cluster (see cluster.h): the swim engine's
 * delegate, this node's meta, and the shared directory's messages.
 *
 * Switchyard's own messages ride memberlist's user channels and start with
 * 'Y' and a type byte, then one msgpack array:
 *
 *   'Y' 1  delta   [owner, [[name, type, present, version], ...]]
 *   'Y' 2  state   [owner, version, [[name, type, version], ...]]
 *
 * A delta is gossiped (user broadcast, retransmit-limited) and passed on by
 * every Switchyard node it taught something, so it spreads like membership
 * news. A state is an owner's whole set as of its version, sent in push/pull
 * user state: at every (re)join of a Switchyard peer and periodically, so a
 * lost delta is repaired within one push/pull interval.
 *
 * Serf's own user messages start with a serf type byte (0..9) and its user
 * state with 2, so neither is mistaken for ours; ours are never sent to
 * peers without the switchyard role.
 */
#include "cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "metrics.h"
#include "replica.h"
#include "swim/swim.h"

#define MSG_MAGIC 'Y'
#define MSG_DELTA 1
#define MSG_STATE 2

#define ROLE_TAG "switchyard"
/* Tombstones outlive any delta still in flight by far (gossip delivers in
 * seconds; retransmits stop after a few rounds). */
#define TOMBSTONE_MS 120000u
/* Worst case of one encoded delta entry beyond its name: array 1, str
 * header 2, type 1, bool 1, uint64 9. */
#define DELTA_ENTRY_OVERHEAD 14u

/* Serf's reconnect: failed members are kept for a day and re-joined now and
 * then, so a healed partition or a member back from a long outage is found
 * again after memberlist has forgotten it (shared/memberlist.md 9.4). */
#define RECONNECT_KEEP_MS (24u * 3600u * 1000u)

struct failed_member {
    char addr[24]; /* "ip:port" for swim_join */
    char name[YARD_REPLICA_OWNER_MAX + 1];
    uint64_t since_ms;
};

struct pending_delta {
    uint8_t len, type;
    bool present;
    uint64_t ver;
    char name[YARD_NAME_MAX + 1];
};

struct yard_cluster {
    struct yard_ctl *c;
    struct swim *swim;
    struct swim_keyring keyring;
    struct yard_replica replica;
    struct yard_replica_owner *self;
    uint64_t self_ver; /* the version of this node's last change */
    char data_addr[32];

    struct failed_member *failed; /* members that failed (not left), to re-join */
    size_t nb_failed, cap_failed;
    uint64_t reconnect_ms, next_reconnect_ms;

    struct pending_delta *pending; /* local changes not yet in a delta message */
    size_t nb_pending, cap_pending;
    msgpack_sbuffer sbuf;
    msgpack_zone *zone;

    struct yard_cluster_counters n;
};

/* ---- meta: serf tags ---- */

/* ff + {"data": ADDR:PORT, "role": "switchyard"} (memberlist.md 9.1). */
static size_t build_meta(const struct yard_cluster *cl, uint8_t *out)
{
    size_t dl = strlen(cl->data_addr), n = 0;
    out[n++] = 0xff;
    out[n++] = 0x82;
    out[n++] = 0xa4;
    memcpy(out + n, "data", 4);
    n += 4;
    out[n++] = (uint8_t)(0xa0 | dl);
    memcpy(out + n, cl->data_addr, dl);
    n += dl;
    out[n++] = 0xa4;
    memcpy(out + n, "role", 4);
    n += 4;
    out[n++] = (uint8_t)(0xa0 | (sizeof(ROLE_TAG) - 1));
    memcpy(out + n, ROLE_TAG, sizeof(ROLE_TAG) - 1);
    n += sizeof(ROLE_TAG) - 1;
    return n;
}

static bool obj_is(const msgpack_object *o, const char *s)
{
    size_t len = strlen(s);
    if (o->type == MSGPACK_OBJECT_STR)
        return o->via.str.size == len && memcmp(o->via.str.ptr, s, len) == 0;
    if (o->type == MSGPACK_OBJECT_BIN)
        return o->via.bin.size == len && memcmp(o->via.bin.ptr, s, len) == 0;
    return false;
}

/*
 * A Switchyard peer's data address from its meta, or false for anything
 * else (a serf agent, a plain memberlist node, a malformed tag).
 */
static bool peer_data_address(struct yard_cluster *cl, const struct swim_member *m, uint32_t *ipv4,
                              uint16_t *port)
{
    if (m->meta_len < 2 || m->meta[0] != 0xff)
        return false;
    msgpack_object o;
    size_t off = 0;
    bool role = false, data = false;
    msgpack_zone_clear(cl->zone);
    if (msgpack_unpack((const char *)m->meta + 1, m->meta_len - 1, &off, cl->zone, &o) !=
            MSGPACK_UNPACK_SUCCESS ||
        o.type != MSGPACK_OBJECT_MAP)
        return false;
    for (uint32_t i = 0; i < o.via.map.size; i++) {
        const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
        if (obj_is(k, "role")) {
            role = obj_is(v, ROLE_TAG);
        } else if (obj_is(k, "data") && v->type == MSGPACK_OBJECT_STR && v->via.str.size < 24) {
            char text[24], *colon;
            memcpy(text, v->via.str.ptr, v->via.str.size);
            text[v->via.str.size] = 0;
            struct in_addr a;
            colon = strrchr(text, ':');
            if (colon == NULL)
                continue;
            *colon = 0;
            long p = strtol(colon + 1, NULL, 10);
            if (inet_pton(AF_INET, text, &a) == 1 && p > 0 && p < 65536 && a.s_addr != 0) {
                *ipv4 = a.s_addr;
                *port = (uint16_t)p;
                data = true;
            }
        }
    }
    return role && data;
}

/* ---- installing other nodes' names ---- */

static void remote_install(struct yard_cluster *cl, const struct yard_replica_owner *o,
                           const struct yard_replica_entry *e)
{
    struct yard_ctl_loc_spec spec = {
        .name = e->name,
        .name_len = e->len,
        .type = e->type,
        .origin = YARD_LOC_REMOTE,
        .node = o->node_id,
        .ipv4 = o->data_ipv4,
        .udp_port = o->data_port,
        .sub = e->type == YARD_DEST_TOPIC ? o->name : NULL,
        .sub_len = e->type == YARD_DEST_TOPIC ? (unsigned)strlen(o->name) : 0,
    };
    if (spec.sub_len > YARD_NAME_MAX)
        spec.sub_len = YARD_NAME_MAX;
    if (yard_ctl_add(cl->c, &spec, NULL, NULL) == 0)
        cl->n.remote_added++;
    else
        cl->n.remote_refused++;
}

static void remote_uninstall(struct yard_cluster *cl, const struct yard_replica_owner *o,
                             const char *name, unsigned len)
{
    struct yard_ctl_name *n = yard_ctl_dir_find(&cl->c->dir, name, len);
    struct yard_ctl_loc *l = n != NULL ? yard_ctl_dir_loc(n, o->data_ipv4, o->data_port) : NULL;
    if (l == NULL || l->origin != YARD_LOC_REMOTE || l->node != o->node_id)
        return;
    if (yard_ctl_remove(cl->c, l, NULL) == 0)
        cl->n.remote_removed++;
}

static void on_removed(void *arg, const struct yard_replica_entry *e)
{
    struct yard_cluster *cl = arg;
    remote_uninstall(cl, e->owner, e->name, e->len);
}

/* Mirror what an update did to (o, e) in the directory. */
static void mirror(struct yard_cluster *cl, struct yard_replica_owner *o,
                   const struct yard_replica_entry *e, int change)
{
    switch (change) {
    case YARD_REPLICA_ADDED:
        remote_install(cl, o, e);
        break;
    case YARD_REPLICA_REMOVED:
        remote_uninstall(cl, o, e->name, e->len);
        break;
    case YARD_REPLICA_RETYPED:
        remote_uninstall(cl, o, e->name, e->len);
        remote_install(cl, o, e);
        break;
    default:
        break;
    }
}

/* ---- this node's names ---- */

void yard_cluster_local_changed(struct yard_cluster *cl, const char *name, unsigned len)
{
    const struct yard_ctl_name *n = yard_ctl_dir_find(&cl->c->dir, name, len);
    bool present = false;
    for (const struct yard_ctl_loc *l = n != NULL ? n->locs : NULL; l != NULL && !present;
         l = l->next)
        present = yard_loc_is_local(l->origin);
    uint8_t type = n != NULL ? n->type : 0;
    const struct yard_replica_entry *e = yard_replica_find(&cl->replica, cl->self, name, len);
    bool was = e != NULL && e->present;
    if (was == present && (!present || e->type == type))
        return;
    cl->self_ver = yard_replica_next_version(cl->self_ver);
    if (yard_replica_apply(&cl->replica, cl->self, name, len, type, present, cl->self_ver,
                           yard_ctl_now_ms(), NULL) < 0)
        return;
    if (cl->nb_pending == cl->cap_pending) {
        size_t cap = cl->cap_pending ? cl->cap_pending * 2 : 64;
        struct pending_delta *p = realloc(cl->pending, cap * sizeof(*p));
        if (p == NULL)
            return; /* the next push/pull carries it */
        cl->pending = p;
        cl->cap_pending = cap;
    }
    struct pending_delta *d = &cl->pending[cl->nb_pending++];
    d->len = (uint8_t)len;
    memcpy(d->name, name, len);
    d->type = type;
    d->present = present;
    d->ver = cl->self_ver;
}

/* Exchange states with the Switchyard members that (re)joined this round. */
static void pull_joined(struct yard_cluster *cl)
{
    for (struct yard_replica_owner *o = cl->replica.owners; o != NULL; o = o->next) {
        if (!o->pull_pending)
            continue;
        o->pull_pending = false;
        if (o->live)
            swim_push_pull_with(cl->swim, o->name);
    }
}

/* After each loop round: pulls for new members, then the pending changes as
 * delta messages that each fit one packet. */
static void round_end(struct yard_loop *loop, void *arg)
{
    (void)loop;
    struct yard_cluster *cl = arg;
    pull_joined(cl);
    size_t max = swim_user_msg_max(cl->swim), i = 0;
    size_t owner_len = strlen(cl->self->name);
    while (i < cl->nb_pending) {
        size_t budget = 2 + 1 + 2 + owner_len + 3, j = i;
        while (j < cl->nb_pending && budget + cl->pending[j].len + DELTA_ENTRY_OVERHEAD <= max)
            budget += cl->pending[j++].len + DELTA_ENTRY_OVERHEAD;
        if (j == i)
            j = i + 1; /* cannot happen: one entry always fits */
        msgpack_sbuffer_clear(&cl->sbuf);
        msgpack_sbuffer_write(&cl->sbuf, (const char[]){MSG_MAGIC, MSG_DELTA}, 2);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &cl->sbuf, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 2);
        msgpack_pack_str_with_body(&pk, cl->self->name, owner_len);
        msgpack_pack_array(&pk, j - i);
        for (size_t k = i; k < j; k++) {
            const struct pending_delta *d = &cl->pending[k];
            msgpack_pack_array(&pk, 4);
            msgpack_pack_str_with_body(&pk, d->name, d->len);
            msgpack_pack_uint8(&pk, d->type);
            if (d->present)
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
            msgpack_pack_uint64(&pk, d->ver);
        }
        if (swim_user_broadcast(cl->swim, (const uint8_t *)cl->sbuf.data, cl->sbuf.size) == 0)
            cl->n.deltas_sent++;
        i = j;
    }
    cl->nb_pending = 0;
}

/* ---- decoding what peers send ---- */

static bool get_name(const msgpack_object *o, const char **s, unsigned *len, unsigned max)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 || o->via.str.size > max)
        return false;
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return true;
}

/* The live Switchyard owner a message names, or NULL (counted). */
static struct yard_replica_owner *message_owner(struct yard_cluster *cl, const msgpack_object *o)
{
    const char *s;
    unsigned len;
    char name[YARD_REPLICA_OWNER_MAX + 1];
    if (!get_name(o, &s, &len, YARD_REPLICA_OWNER_MAX)) {
        cl->n.bad_messages++;
        return NULL;
    }
    memcpy(name, s, len);
    name[len] = 0;
    struct yard_replica_owner *owner = yard_replica_owner(&cl->replica, name, false, false);
    if (owner == NULL || !owner->live || owner == cl->self) {
        if (owner != cl->self)
            cl->n.updates_from_non_members++;
        return NULL;
    }
    return owner;
}

/* One name of a delta, [name, type, present, version], or of a state,
 * [name, type, version] (present). */
struct wire_entry {
    const char *name;
    unsigned len;
    uint8_t type;
    bool present;
    uint64_t ver;
};

static bool decode_entry(const msgpack_object *e, bool delta, struct wire_entry *out)
{
    uint32_t n = delta ? 4 : 3;
    if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != n)
        return false;
    const msgpack_object *f = e->via.array.ptr;
    if (!get_name(&f[0], &out->name, &out->len, YARD_NAME_MAX) ||
        f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[1].via.u64 > YARD_DEST_TOPIC ||
        (delta && f[2].type != MSGPACK_OBJECT_BOOLEAN) ||
        f[n - 1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    out->type = (uint8_t)f[1].via.u64;
    out->present = delta ? f[2].via.boolean : true;
    out->ver = f[n - 1].via.u64;
    return true;
}

/* Every entry decodes: a message is applied whole or not at all (a
 * state's sweep trusts its list to be complete). */
static bool entries_ok(struct yard_cluster *cl, const msgpack_object_array *a, bool delta)
{
    struct wire_entry we;
    for (uint32_t i = 0; i < a->size; i++)
        if (!decode_entry(&a->ptr[i], delta, &we)) {
            cl->n.bad_messages++;
            return false;
        }
    return true;
}

static void on_delta(struct yard_cluster *cl, const uint8_t *msg, size_t len)
{
    msgpack_object o;
    size_t off = 0;
    cl->n.deltas_received++;
    msgpack_zone_clear(cl->zone);
    if (msgpack_unpack((const char *)msg + 2, len - 2, &off, cl->zone, &o) !=
            MSGPACK_UNPACK_SUCCESS ||
        o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 2 ||
        o.via.array.ptr[1].type != MSGPACK_OBJECT_ARRAY) {
        cl->n.bad_messages++;
        return;
    }
    struct yard_replica_owner *owner = message_owner(cl, &o.via.array.ptr[0]);
    if (owner == NULL)
        return;
    const msgpack_object_array *entries = &o.via.array.ptr[1].via.array;
    if (!entries_ok(cl, entries, true))
        return;
    bool news = false;
    uint64_t now = yard_ctl_now_ms();
    for (uint32_t i = 0; i < entries->size; i++) {
        struct wire_entry we;
        if (!decode_entry(&entries->ptr[i], true, &we))
            continue; /* cannot happen: entries_ok() */
        struct yard_replica_entry *re;
        int change = yard_replica_apply(&cl->replica, owner, we.name, we.len, we.type, we.present,
                                        we.ver, now, &re);
        if (change == YARD_REPLICA_NONE) {
            cl->n.delta_entries_stale++;
            continue;
        }
        if (change < 0 || re == NULL)
            continue;
        news = true;
        mirror(cl, owner, re, change);
    }
    /* Pass news on, as memberlist re-gossips what changed its view. */
    if (news && swim_user_broadcast(cl->swim, msg, len) == 0)
        cl->n.deltas_relayed++;
}

static void on_state(struct yard_cluster *cl, const uint8_t *buf, size_t len)
{
    msgpack_object o;
    size_t off = 0;
    cl->n.states_received++;
    msgpack_zone_clear(cl->zone);
    if (msgpack_unpack((const char *)buf + 2, len - 2, &off, cl->zone, &o) !=
            MSGPACK_UNPACK_SUCCESS ||
        o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 3 ||
        o.via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        o.via.array.ptr[2].type != MSGPACK_OBJECT_ARRAY) {
        cl->n.bad_messages++;
        return;
    }
    struct yard_replica_owner *owner = message_owner(cl, &o.via.array.ptr[0]);
    if (owner == NULL)
        return;
    const msgpack_object_array *entries = &o.via.array.ptr[2].via.array;
    if (!entries_ok(cl, entries, false))
        return;
    uint64_t now = yard_ctl_now_ms();
    yard_replica_full_begin(owner);
    for (uint32_t i = 0; i < entries->size; i++) {
        struct wire_entry we;
        if (!decode_entry(&entries->ptr[i], false, &we))
            continue; /* cannot happen: entries_ok() */
        struct yard_replica_entry *re;
        int change = yard_replica_full_entry(&cl->replica, owner, we.name, we.len, we.type, we.ver,
                                             now, &re);
        if (re != NULL && change > 0)
            mirror(cl, owner, re, change);
    }
    yard_replica_full_sweep(&cl->replica, owner, o.via.array.ptr[1].via.u64, now, on_removed, cl);
}

/* ---- failed members ---- */

static void failed_forget(struct yard_cluster *cl, const char *name)
{
    for (size_t i = 0; i < cl->nb_failed; i++)
        if (strcmp(cl->failed[i].name, name) == 0) {
            cl->failed[i] = cl->failed[--cl->nb_failed];
            return;
        }
}

static void failed_remember(struct yard_cluster *cl, const struct swim_member *m)
{
    if (m->addr_len != 4)
        return;
    failed_forget(cl, m->name);
    if (cl->nb_failed == cl->cap_failed) {
        size_t cap = cl->cap_failed ? cl->cap_failed * 2 : 16;
        struct failed_member *f = realloc(cl->failed, cap * sizeof(*f));
        if (f == NULL)
            return;
        cl->failed = f;
        cl->cap_failed = cap;
    }
    struct failed_member *f = &cl->failed[cl->nb_failed++];
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, m->addr, ip, sizeof(ip));
    snprintf(f->addr, sizeof(f->addr), "%s:%u", ip, m->port);
    snprintf(f->name, sizeof(f->name), "%s", m->name);
    f->since_ms = yard_ctl_now_ms();
}

/*
 * Once per reconnect interval, while no join is under way: join again
 * through every failed member and every seed (the first that answers is
 * enough: push/pull and gossip spread the rest).
 */
static void reconnect(struct yard_cluster *cl, uint64_t now_ms)
{
    if (now_ms < cl->next_reconnect_ms)
        return;
    cl->next_reconnect_ms = now_ms + cl->reconnect_ms;
    size_t i = 0;
    while (i < cl->nb_failed) {
        if (now_ms - cl->failed[i].since_ms > RECONNECT_KEEP_MS)
            cl->failed[i] = cl->failed[--cl->nb_failed];
        else
            i++;
    }
    if (cl->nb_failed == 0 || !swim_joined(cl->swim))
        return;
    const struct yard_cluster_conf *cc = &cl->c->cfg.cluster;
    const char **addrs = malloc((cl->nb_failed + cc->nb_join) * sizeof(*addrs));
    if (addrs == NULL)
        return;
    unsigned n = 0;
    for (i = 0; i < cl->nb_failed; i++)
        addrs[n++] = cl->failed[i].addr;
    for (unsigned k = 0; k < cc->nb_join; k++)
        addrs[n++] = cc->join[k];
    if (swim_join(cl->swim, addrs, n) == 0)
        cl->n.reconnects++;
    free(addrs);
}

/* ---- the swim delegate ---- */

static void log_member(const char *what, const struct swim_member *m)
{
    char addr[INET_ADDRSTRLEN] = "?";
    if (m->addr_len == 4)
        inet_ntop(AF_INET, m->addr, addr, sizeof(addr));
    fprintf(stderr, "cluster: member %s %s %s:%u\n", m->name, what, addr, m->port);
}

static void on_join(void *arg, const struct swim_member *m)
{
    struct yard_cluster *cl = arg;
    if (m->is_self)
        return;
    log_member("joined", m);
    failed_forget(cl, m->name);
    uint32_t ipv4 = 0;
    uint16_t port = 0;
    if (!peer_data_address(cl, m, &ipv4, &port))
        return;
    struct yard_replica_owner *o = yard_replica_owner(&cl->replica, m->name, true, false);
    if (o == NULL)
        return;
    o->live = true;
    o->data_ipv4 = ipv4;
    o->data_port = port;
    cl->n.members_joined++;
    yard_dpsync_member(&cl->c->dp, YARD_CMD_MEMBER_ADD, ipv4, o->node_id);
    yard_ctl_wake(cl->c);
    /* Its names: a push/pull at the end of this round (not from inside the
     * engine's callback) rather than at the next periodic one. */
    o->pull_pending = true;
}

static void forget_owner(struct yard_cluster *cl, struct yard_replica_owner *o)
{
    if (!o->live)
        return;
    yard_replica_owner_clear(&cl->replica, o, on_removed, cl);
    yard_dpsync_member(&cl->c->dp, YARD_CMD_MEMBER_DEL, o->data_ipv4, o->node_id);
    yard_ctl_wake(cl->c);
    o->live = false;
    cl->n.members_lost++;
}

static void on_leave(void *arg, const struct swim_member *m)
{
    struct yard_cluster *cl = arg;
    if (m->is_self)
        return;
    log_member(m->state == SWIM_STATE_LEFT ? "left" : "failed", m);
    if (m->state == SWIM_STATE_LEFT)
        failed_forget(cl, m->name);
    else
        failed_remember(cl, m);
    struct yard_replica_owner *o = yard_replica_owner(&cl->replica, m->name, false, false);
    if (o != NULL)
        forget_owner(cl, o);
}

static void on_update(void *arg, const struct swim_member *m)
{
    struct yard_cluster *cl = arg;
    if (m->is_self)
        return;
    log_member("updated", m);
    struct yard_replica_owner *o = yard_replica_owner(&cl->replica, m->name, false, false);
    uint32_t ipv4 = 0;
    uint16_t port = 0;
    bool yard = peer_data_address(cl, m, &ipv4, &port);
    if (o != NULL && o->live && yard && o->data_ipv4 == ipv4 && o->data_port == port)
        return;
    /* A new data address (or role): its names move with it. */
    if (o != NULL)
        forget_owner(cl, o);
    if (yard)
        on_join(arg, m);
}

static bool is_yard_peer(struct yard_cluster *cl, const struct swim_member *m)
{
    uint32_t ipv4 = 0;
    uint16_t port = 0;
    return m != NULL && !m->is_self && peer_data_address(cl, m, &ipv4, &port);
}

static bool wants_user_msgs(void *arg, const struct swim_member *m)
{
    return is_yard_peer(arg, m);
}

static void on_user_msg(void *arg, const uint8_t *msg, size_t len)
{
    struct yard_cluster *cl = arg;
    if (len >= 3 && msg[0] == MSG_MAGIC && msg[1] == MSG_DELTA)
        on_delta(cl, msg, len);
    /* Anything else is a serf message or unknown: not ours to read. */
}

static bool is_state(const uint8_t *buf, size_t len)
{
    return len >= 3 && buf[0] == MSG_MAGIC && buf[1] == MSG_STATE;
}

/* This node's whole set, as a state message in buf; 0 if it does not fit. */
static size_t encode_state(struct yard_cluster *cl, uint8_t *buf, size_t cap)
{
    msgpack_sbuffer_clear(&cl->sbuf);
    msgpack_sbuffer_write(&cl->sbuf, (const char[]){MSG_MAGIC, MSG_STATE}, 2);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &cl->sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_str_with_body(&pk, cl->self->name, strlen(cl->self->name));
    msgpack_pack_uint64(&pk, cl->self_ver);
    msgpack_pack_array(&pk, cl->self->nb_present);
    for (const struct yard_replica_entry *e = cl->self->head; e != NULL; e = e->onext) {
        if (!e->present)
            continue;
        msgpack_pack_array(&pk, 3);
        msgpack_pack_str_with_body(&pk, e->name, e->len);
        msgpack_pack_uint8(&pk, e->type);
        msgpack_pack_uint64(&pk, e->ver);
    }
    if (cl->sbuf.size > cap) {
        cl->n.states_too_big++;
        return 0;
    }
    memcpy(buf, cl->sbuf.data, cl->sbuf.size);
    cl->n.states_sent++;
    return cl->sbuf.size;
}

static size_t local_state(void *arg, const struct swim_member *peer, bool join, uint8_t *buf,
                          size_t cap)
{
    (void)join;
    struct yard_cluster *cl = arg;
    return is_yard_peer(cl, peer) ? encode_state(cl, buf, cap) : 0;
}

/* An inbound push/pull: answer a Switchyard initiator (it sent a state)
 * with ours; a serf agent or a plain memberlist node gets none. */
static size_t reply_state(void *arg, const uint8_t *remote, size_t remote_len, bool join,
                          uint8_t *buf, size_t cap)
{
    (void)join;
    struct yard_cluster *cl = arg;
    return is_state(remote, remote_len) ? encode_state(cl, buf, cap) : 0;
}

static void merge_remote_state(void *arg, const struct swim_member *peer, const uint8_t *buf,
                               size_t len, bool join)
{
    (void)peer;
    (void)join;
    struct yard_cluster *cl = arg;
    if (is_state(buf, len))
        on_state(cl, buf, len);
}

/* ---- life cycle ---- */

static void export_directory(struct yard_cluster *cl)
{
    for (const struct yard_ctl_name *n = cl->c->dir.head; n != NULL; n = n->next)
        yard_cluster_local_changed(cl, n->name, n->len);
    cl->nb_pending = 0; /* peers take these from the push/pull at join */
}

static int build_keyring(struct yard_cluster *cl, const struct yard_cluster_conf *cc, char *why,
                         size_t whylen)
{
    swim_keyring_init(&cl->keyring);
    for (unsigned i = 0; i < cc->nb_keys; i++) {
        char err[160];
        if (swim_keyring_add_base64(&cl->keyring, cc->keys[i], err, sizeof(err)) < 0) {
            snprintf(why, whylen, "cluster.keys[%u]: %s", i, err);
            return -EINVAL;
        }
    }
    return 0;
}

static int build_config(const struct yard_cluster_conf *cc, struct swim_config *sc, char *why,
                        size_t whylen)
{
    enum swim_profile profile;
    if (swim_profile_parse(cc->profile, &profile) < 0) {
        snprintf(why, whylen, "cluster.profile: unknown profile '%s'", cc->profile);
        return -EINVAL;
    }
    swim_config_profile(sc, profile);
#define OVERRIDE(f) \
    if (cc->f != 0) \
        sc->f = cc->f;
    OVERRIDE(probe_interval_ms)
    OVERRIDE(probe_timeout_ms)
    OVERRIDE(gossip_interval_ms)
    OVERRIDE(gossip_nodes)
    OVERRIDE(suspicion_mult)
    OVERRIDE(retransmit_mult)
    OVERRIDE(push_pull_interval_ms)
#undef OVERRIDE
    char err[200];
    if (swim_config_check(sc, err, sizeof(err)) < 0) {
        snprintf(why, whylen, "cluster: %s", err);
        return -EINVAL;
    }
    return 0;
}

int yard_cluster_create(struct yard_ctl *c, struct yard_cluster **out, char *why, size_t whylen)
{
    const struct yard_cluster_conf *cc = &c->cfg.cluster;
    struct yard_cluster *cl = calloc(1, sizeof(*cl));
    int rc = -ENOMEM;
    if (cl == NULL) {
        snprintf(why, whylen, "cluster: out of memory");
        return -ENOMEM;
    }
    cl->c = c;
    msgpack_sbuffer_init(&cl->sbuf);
    cl->zone = msgpack_zone_new(4096);
    if (cl->zone == NULL || yard_replica_init(&cl->replica) < 0 ||
        (cl->self = yard_replica_owner(&cl->replica, c->node, true, true)) == NULL) {
        snprintf(why, whylen, "cluster: out of memory");
        goto err;
    }
    cl->self->live = true;

    uint32_t data_ipv4 = cc->data_ipv4, data_port = cc->data_port;
    if (data_ipv4 == 0 && c->cfg.nb_ports > 0)
        data_ipv4 = c->cfg.ports[0].ipv4;
    if (data_port == 0)
        data_port = c->cfg.data_udp_port;
    if (data_ipv4 == 0) {
        snprintf(why, whylen,
                 "cluster: no data address: set cluster.data_address (the address peers send "
                 "this node's traffic to) or configure a port");
        rc = -EINVAL;
        goto err;
    }
    char ip[INET_ADDRSTRLEN], bind_ip[INET_ADDRSTRLEN], adv_ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &data_ipv4, ip, sizeof(ip));
    snprintf(cl->data_addr, sizeof(cl->data_addr), "%s:%u", ip, data_port);
    inet_ntop(AF_INET, &cc->bind_ipv4, bind_ip, sizeof(bind_ip));
    inet_ntop(AF_INET, &cc->advertise_ipv4, adv_ip, sizeof(adv_ip));

    uint8_t meta[64];
    struct swim_opts o = {
        .name = c->node,
        .bind_addr = bind_ip,
        .bind_port = cc->bind_port,
        .advertise_addr = cc->advertise_ipv4 != 0 ? adv_ip : NULL,
        .advertise_port = cc->advertise_port,
        .meta = meta,
        .meta_len = build_meta(cl, meta),
        .keyring = &cl->keyring,
        .delegate =
            {
                .arg = cl,
                .on_join = on_join,
                .on_update = on_update,
                .on_leave = on_leave,
                .on_user_msg = on_user_msg,
                .local_state = local_state,
                .reply_state = reply_state,
                .merge_remote_state = merge_remote_state,
                .wants_user_msgs = wants_user_msgs,
            },
    };
    if ((rc = build_keyring(cl, cc, why, whylen)) < 0 ||
        (rc = build_config(cc, &o.config, why, whylen)) < 0)
        goto err;
    /* As often as anti-entropy (serf: 30 s, the LAN push/pull interval). */
    cl->reconnect_ms = o.config.push_pull_interval_ms ? o.config.push_pull_interval_ms : 30000;
    cl->next_reconnect_ms = yard_ctl_now_ms() + cl->reconnect_ms;
    rc = swim_create(&c->loop, &o, &cl->swim, why, whylen);
    if (rc < 0)
        goto err;
    if (yard_loop_after(&c->loop, round_end, cl) < 0) {
        snprintf(why, whylen, "cluster: no room for another loop hook");
        rc = -ENOSPC;
        goto err;
    }
    export_directory(cl);
    c->dp.replica = &cl->replica;
    /* No seeds is a join too: a first node has joined its own cluster. */
    const char *seeds[YARD_CLUSTER_MAX_JOIN];
    for (unsigned i = 0; i < cc->nb_join; i++)
        seeds[i] = cc->join[i];
    swim_join(cl->swim, seeds, cc->nb_join);
    *out = cl;
    return 0;
err:
    yard_cluster_destroy(cl);
    return rc;
}

void yard_cluster_leave(struct yard_cluster *cl, unsigned timeout_ms)
{
    if (cl == NULL || swim_leave(cl->swim, timeout_ms) < 0)
        return;
    uint64_t end = yard_ctl_now_ms() + timeout_ms;
    while (!swim_left(cl->swim) && yard_ctl_now_ms() < end)
        yard_loop_run_once(&cl->c->loop, 50);
}

void yard_cluster_destroy(struct yard_cluster *cl)
{
    if (cl == NULL)
        return;
    if (cl->c->dp.replica == &cl->replica)
        cl->c->dp.replica = NULL;
    if (cl->swim != NULL)
        swim_destroy(cl->swim);
    swim_keyring_clear(&cl->keyring);
    yard_replica_free(&cl->replica);
    msgpack_sbuffer_destroy(&cl->sbuf);
    if (cl->zone != NULL)
        msgpack_zone_free(cl->zone);
    free(cl->pending);
    free(cl->failed);
    free(cl);
}

void yard_cluster_tick(struct yard_cluster *cl, uint64_t now_ms)
{
    reconnect(cl, now_ms);
    if (now_ms > TOMBSTONE_MS)
        yard_replica_purge(&cl->replica, now_ms - TOMBSTONE_MS);
}

const char *yard_cluster_node_name(const struct yard_cluster *cl, uint32_t node)
{
    for (const struct yard_replica_owner *o = cl->replica.owners; o != NULL; o = o->next)
        if (o->node_id == node)
            return o->name;
    return NULL;
}

const struct yard_replica *yard_cluster_replica(const struct yard_cluster *cl)
{
    return &cl->replica;
}

/* ---- views ---- */

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
    msgpack_pack_str_with_body(pk, v, strlen(v));
}

static int by_name(const void *a, const void *b)
{
    const struct swim_member *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

void yard_cluster_pack_members(const struct yard_cluster *cl, msgpack_packer *pk)
{
    struct yard_cluster *mcl = (struct yard_cluster *)cl; /* the meta decoder's zone */
    unsigned nb = swim_nb_members(cl->swim);
    /* By name: the engine's own order is reshuffled every probe round. */
    const struct swim_member **sorted = malloc((nb ? nb : 1) * sizeof(*sorted));
    if (sorted == NULL)
        nb = 0;
    for (unsigned i = 0; i < nb; i++)
        sorted[i] = swim_member_at(cl->swim, i);
    if (nb > 1)
        qsort(sorted, nb, sizeof(*sorted), by_name);
    msgpack_pack_array(pk, nb);
    for (unsigned i = 0; i < nb; i++) {
        const struct swim_member *m = sorted[i];
        char addr[INET_ADDRSTRLEN + 8] = "?", ip[INET_ADDRSTRLEN] = "?";
        if (m->addr_len == 4)
            inet_ntop(AF_INET, m->addr, ip, sizeof(ip));
        snprintf(addr, sizeof(addr), "%s:%u", ip, m->port);
        uint32_t dip = 0;
        uint16_t dport = 0;
        bool yard = m->is_self || peer_data_address(mcl, m, &dip, &dport);
        const struct yard_replica_owner *o =
            m->is_self ? cl->self : yard_replica_owner(&mcl->replica, m->name, false, false);
        msgpack_pack_map(pk, 8);
        pack_kv_str(pk, "name", m->name);
        pack_kv_str(pk, "address", addr);
        pack_kv_str(pk, "state", swim_state_name(m->state));
        msgpack_pack_str_with_body(pk, "incarnation", 11);
        msgpack_pack_uint32(pk, m->incarnation);
        pack_kv_str(pk, "role", yard ? ROLE_TAG : "other");
        msgpack_pack_str_with_body(pk, "data", 4);
        if (m->is_self) {
            msgpack_pack_str_with_body(pk, cl->data_addr, strlen(cl->data_addr));
        } else if (yard) {
            char d[32];
            inet_ntop(AF_INET, &dip, ip, sizeof(ip));
            snprintf(d, sizeof(d), "%s:%u", ip, dport);
            msgpack_pack_str_with_body(pk, d, strlen(d));
        } else {
            msgpack_pack_nil(pk);
        }
        msgpack_pack_str_with_body(pk, "names", 5);
        msgpack_pack_uint64(pk, o != NULL && o->live ? o->nb_present : 0);
        msgpack_pack_str_with_body(pk, "self", 4);
        if (m->is_self)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
    free(sorted);
}

void yard_cluster_pack_status(const struct yard_cluster *cl, msgpack_packer *pk)
{
    uint64_t by_state[4] = {0};
    unsigned nb = swim_nb_members(cl->swim);
    for (unsigned i = 0; i < nb; i++) {
        uint8_t st = swim_member_at(cl->swim, i)->state;
        if (st < 4)
            by_state[st]++;
    }
    msgpack_pack_map(pk, 6);
    pack_kv_str(pk, "node", cl->self->name);
    msgpack_pack_str_with_body(pk, "alive", 5);
    msgpack_pack_uint64(pk, by_state[SWIM_STATE_ALIVE]);
    msgpack_pack_str_with_body(pk, "suspect", 7);
    msgpack_pack_uint64(pk, by_state[SWIM_STATE_SUSPECT]);
    msgpack_pack_str_with_body(pk, "dead", 4);
    msgpack_pack_uint64(pk, by_state[SWIM_STATE_DEAD] + by_state[SWIM_STATE_LEFT]);
    msgpack_pack_str_with_body(pk, "health_score", 12);
    msgpack_pack_uint32(pk, swim_health_score(cl->swim));
    msgpack_pack_str_with_body(pk, "joined", 6);
    if (swim_joined(cl->swim))
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void yard_cluster_metrics(const struct yard_cluster *cl, struct yard_metrics_writer *out)
{
    char name[128];
    const struct swim_stats *st = swim_stats(cl->swim);
    for (unsigned i = 0; i < swim_stat_count; i++) {
        snprintf(name, sizeof(name), "yard_gossip_%s_total", swim_stat_descs[i].name);
        yard_metrics_counter(out, name, swim_stat_descs[i].help, NULL, swim_stat_value(st, i));
    }
#define YARD_X_DROP(e, drop, help)                                             \
    yard_metrics_counter(out, "yard_gossip_packet_" drop "_total", help, NULL, \
                         st->packet.drops[SWIM_PACKET_DROP_##e]);
    SWIM_PACKET_DROPS(YARD_X_DROP)
#undef YARD_X_DROP
#define YARD_X_METRIC(field, help)                                 \
    snprintf(name, sizeof(name), "yard_cluster_%s_total", #field); \
    yard_metrics_counter(out, name, help, NULL, cl->n.field);
    YARD_CLUSTER_COUNTERS(YARD_X_METRIC)
#undef YARD_X_METRIC
    uint64_t by_state[4] = {0};
    unsigned nb = swim_nb_members(cl->swim);
    for (unsigned i = 0; i < nb; i++) {
        uint8_t s = swim_member_at(cl->swim, i)->state;
        if (s < 4)
            by_state[s]++;
    }
    for (unsigned s = 0; s < 4; s++) {
        char labels[48];
        snprintf(labels, sizeof(labels), "state=\"%s\"", swim_state_name((uint8_t)s));
        yard_metrics_gauge(out, "yard_cluster_members", "members in the gossip table, by state",
                           labels, (double)by_state[s]);
    }
    yard_metrics_gauge(out, "yard_cluster_health_score",
                       "Lifeguard awareness: 0 healthy, higher means this node is slow to answer",
                       NULL, swim_health_score(cl->swim));
    uint64_t remote = 0;
    for (const struct yard_replica_owner *o = cl->replica.owners; o != NULL; o = o->next)
        if (o != cl->self && o->live)
            remote += o->nb_present;
    yard_metrics_gauge(out, "yard_cluster_remote_names", "names hosted by other live nodes", NULL,
                       (double)remote);
}
