/*
 * api.c - the management API's methods (see api.h).
 *
 * Handlers validate every argument before touching anything, change the
 * directory only through yard_ctl_add/remove, and make the change durable
 * before answering. wait.applied is the one method that keeps its call: the
 * loop's 1 ms timer polls the dataplane's applied sequence for it.
 */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "ctl.h"
#include "wal.h"

#define DEFAULT_LIST_LIMIT 100000
#define DEFAULT_WAIT_MS    5000
#define MAX_WAIT_MS        600000

struct waiter {
    struct yard_rpc_call *call;
    uint64_t seq;
    uint64_t deadline_ms;
    struct waiter *next;
};

static struct waiter *waiters;

static void pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void pack_ipv4(msgpack_packer *pk, uint32_t ipv4)
{
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &ipv4, buf, sizeof(buf));
    yard_rpc_pack_cstr(pk, buf);
}

static int parse_ipv4(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return -EINVAL;
    *out = a.s_addr;
    return 0;
}

/* ---- status.get ---- */

static int status_get(struct yard_ctl *c, struct yard_rpc_call *call)
{
    msgpack_packer *pk = call->pk;
    uint64_t now_ns = yard_monotonic_ns();
    struct yard_wal_stats ws;
    yard_wal_stats(c->wal, &ws);
    const struct yard_dpsync *dp = &c->dp;
    const struct yard_shm_header *h = dp->attached ? dp->shm.hdr : NULL;
    /* Judged before the dataplane's fields are read: they only move forward,
     * so an answer that says synced never shows an older generation. */
    bool synced = yard_dpsync_synced(dp);

    msgpack_pack_map(pk, 9);
    yard_rpc_pack_kv_str(pk, "instance", c->cfg.instance);
    yard_rpc_pack_kv_str(pk, "node", c->node);
    yard_rpc_pack_kv_str(pk, "version", YARD_VERSION);

    yard_rpc_pack_cstr(pk, "control");
    msgpack_pack_map(pk, 5);
    yard_rpc_pack_kv_i64(pk, "pid", getpid());
    yard_rpc_pack_kv_double(pk, "uptime_s", (double)(now_ns - c->start_ns) / 1e9);
    yard_rpc_pack_kv_str(pk, "state_dir", c->cfg.control.state_dir);
    yard_rpc_pack_kv_u64(pk, "wal_records", ws.replayed_records + ws.records_appended);
    yard_rpc_pack_kv_u64(pk, "wal_bytes", ws.log_bytes + ws.snapshot_bytes);

    yard_rpc_pack_cstr(pk, "dataplane");
    msgpack_pack_map(pk, 8);
    yard_rpc_pack_kv_str(pk, "state", yard_dp_state_name(dp->state));
    yard_rpc_pack_kv_i64(pk, "pid", h != NULL ? h->dataplane.pid : 0);
    int64_t age = yard_dpsync_heartbeat_age_ms(dp);
    if (age < 0)
        yard_rpc_pack_kv_nil(pk, "heartbeat_age_ms");
    else
        yard_rpc_pack_kv_i64(pk, "heartbeat_age_ms", age);
    yard_rpc_pack_kv_u64(pk, "generation", h != NULL ? h->dataplane.generation : 0);
    yard_rpc_pack_kv_u64(pk, "applied_seq", yard_dpsync_applied(dp));
    yard_rpc_pack_kv_bool(pk, "ready", h != NULL && h->dataplane_ready && dp->state == YARD_DP_UP);
    /* Commands the dataplane refused (table full, unreachable address):
     * "synced" means everything sent was processed, not that all of it fit. */
    yard_rpc_pack_kv_u64(pk, "commands_rejected", h != NULL ? h->cmd_rejected : 0);
    yard_rpc_pack_kv_u64(pk, "names", h != NULL ? h->dir_names : 0);

    yard_rpc_pack_cstr(pk, "directory");
    msgpack_pack_map(pk, 6);
    const struct yard_ctl_dir *d = &c->dir;
    yard_rpc_pack_kv_u64(pk, "endpoints", d->nb_names - d->nb_topics);
    yard_rpc_pack_kv_u64(pk, "groups", d->nb_groups);
    yard_rpc_pack_kv_u64(pk, "topics", d->nb_topics);
    yard_rpc_pack_kv_u64(pk, "subscriptions", d->nb_subscriptions);
    yard_rpc_pack_kv_u64(pk, "routes", d->nb_routes + c->cfg.nb_routes);
    yard_rpc_pack_kv_u64(pk, "locations", d->nb_locs);

    yard_rpc_pack_cstr(pk, "cluster");
    if (c->cluster != NULL)
        yard_cluster_pack_status(c->cluster, pk);
    else
        msgpack_pack_nil(pk);

    yard_rpc_pack_kv_bool(pk, "synced", synced);
    yard_rpc_pack_kv_u64(pk, "seq", dp->next_seq - 1);
    yard_rpc_reply_result(call);
    return 0;
}

/* ---- listing ---- */

static int members_list(struct yard_ctl *c, struct yard_rpc_call *call)
{
    if (c->cluster == NULL) {
        yard_rpc_reply_error(call, YARD_RPC_NOT_FOUND,
                             "this node is not in a cluster: its configuration has no cluster "
                             "section");
        return 0;
    }
    yard_cluster_pack_members(c->cluster, call->pk);
    yard_rpc_reply_result(call);
    return 0;
}

struct list_args {
    char prefix[YARD_NAME_MAX + 1];
    uint64_t limit;
};

static int read_list_args(struct yard_rpc_call *call, struct list_args *a)
{
    char err[256];
    memset(a, 0, sizeof(*a));
    a->limit = DEFAULT_LIST_LIMIT;
    struct yard_rpc_param_spec spec[] = {
        {"prefix", YARD_RPC_P_STR, false, a->prefix, sizeof(a->prefix), NULL},
        {"limit", YARD_RPC_P_U64, false, &a->limit, 0, NULL},
    };
    if (yard_rpc_params_read(call->args, spec, 2, err, sizeof(err)) < 0) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "%s", err);
        return -EINVAL;
    }
    return 0;
}

static bool listed(const struct yard_ctl_name *n, uint8_t type, const struct list_args *a)
{
    size_t plen = strlen(a->prefix);
    return n->type == type && n->len >= plen && memcmp(n->name, a->prefix, plen) == 0;
}

static void pack_loc(struct yard_ctl *c, msgpack_packer *pk, const struct yard_ctl_loc *l,
                     bool subscriber, uint64_t now)
{
    msgpack_pack_map(pk, 5);
    if (subscriber) {
        yard_rpc_pack_cstr(pk, "name");
        pack_str(pk, l->sub, l->sub_len);
    } else {
        yard_rpc_pack_kv_str(pk, "origin", yard_loc_origin_name(l->origin));
    }
    yard_rpc_pack_cstr(pk, "ipv4");
    pack_ipv4(pk, l->ipv4);
    yard_rpc_pack_kv_u64(pk, "port", l->udp_port);
    const char *node = c->node;
    if (l->origin == YARD_LOC_REMOTE && c->cluster != NULL)
        node = yard_cluster_node_name(c->cluster, l->node);
    yard_rpc_pack_kv_str(pk, "node", node != NULL ? node : "?");
    if (l->expires_ms == 0)
        yard_rpc_pack_kv_nil(pk, "lease_ms_left");
    else
        yard_rpc_pack_kv_u64(pk, "lease_ms_left", yard_ctl_loc_lease_left(l, now));
}

static int list_names(struct yard_ctl *c, struct yard_rpc_call *call, uint8_t type)
{
    struct list_args a;
    if (read_list_args(call, &a) < 0)
        return 0;
    uint64_t count = 0, now = yard_ctl_now_ms();
    for (const struct yard_ctl_name *n = c->dir.head; n != NULL && count < a.limit; n = n->next)
        count += listed(n, type, &a);
    msgpack_packer *pk = call->pk;
    msgpack_pack_array(pk, (size_t)count);
    uint64_t done = 0;
    for (const struct yard_ctl_name *n = c->dir.head; n != NULL && done < count; n = n->next) {
        if (!listed(n, type, &a))
            continue;
        done++;
        msgpack_pack_map(pk, type == YARD_DEST_TOPIC ? 2 : 3);
        yard_rpc_pack_cstr(pk, "name");
        pack_str(pk, n->name, n->len);
        if (type == YARD_DEST_ENDPOINT)
            yard_rpc_pack_kv_str(pk, "kind", n->nb_locs > 1 ? "group" : "endpoint");
        yard_rpc_pack_cstr(pk, type == YARD_DEST_TOPIC ? "subscribers" : "locations");
        msgpack_pack_array(pk, n->nb_locs);
        for (const struct yard_ctl_loc *l = n->locs; l != NULL; l = l->next)
            pack_loc(c, pk, l, type == YARD_DEST_TOPIC, now);
    }
    yard_rpc_reply_result(call);
    return 0;
}

static void pack_mac(msgpack_packer *pk, bool has_mac, const uint8_t *mac)
{
    if (!has_mac) {
        msgpack_pack_nil(pk);
        return;
    }
    char buf[18];
    snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
    yard_rpc_pack_cstr(pk, buf);
}

static void pack_route(msgpack_packer *pk, const char *name, unsigned len, uint32_t ipv4,
                       uint16_t port, bool has_mac, const uint8_t *mac, const char *origin)
{
    msgpack_pack_map(pk, 5);
    yard_rpc_pack_cstr(pk, "name");
    pack_str(pk, name, len);
    yard_rpc_pack_cstr(pk, "ipv4");
    pack_ipv4(pk, ipv4);
    yard_rpc_pack_kv_u64(pk, "port", port);
    yard_rpc_pack_cstr(pk, "mac");
    pack_mac(pk, has_mac, mac);
    yard_rpc_pack_kv_str(pk, "origin", origin);
}

static int routes_list(struct yard_ctl *c, struct yard_rpc_call *call)
{
    msgpack_packer *pk = call->pk;
    msgpack_pack_array(pk, c->cfg.nb_routes + c->dir.nb_routes);
    for (unsigned i = 0; i < c->cfg.nb_routes; i++) {
        const struct yard_route_conf *r = &c->cfg.routes[i];
        pack_route(pk, r->name, r->name_len, r->ipv4, r->udp_port, r->has_mac, r->mac, "config");
    }
    uint64_t left = c->dir.nb_routes;
    for (const struct yard_ctl_name *n = c->dir.head; n != NULL && left > 0; n = n->next)
        for (const struct yard_ctl_loc *l = n->locs; l != NULL; l = l->next)
            if (l->origin == YARD_LOC_ROUTE) {
                pack_route(pk, n->name, n->len, l->ipv4, l->udp_port, l->has_mac, l->mac, "api");
                left--;
            }
    yard_rpc_reply_result(call);
    return 0;
}

/* ---- changes ---- */

/* Answer a change: durable first, then {seq[, removed]}. */
static void reply_change(struct yard_ctl *c, struct yard_rpc_call *call, uint64_t seq,
                         int64_t removed)
{
    if (yard_ctl_durable(c) < 0) {
        yard_rpc_reply_error(call, YARD_RPC_DURABILITY,
                             "the change could not be written to the log in %s: %s",
                             c->cfg.control.state_dir, yard_wal_error(c->wal));
        return;
    }
    if (seq == 0)
        seq = c->dp.next_seq - 1; /* nothing new for the dataplane: what it has is current */
    msgpack_pack_map(call->pk, removed >= 0 ? 2 : 1);
    yard_rpc_pack_kv_u64(call->pk, "seq", seq);
    if (removed >= 0)
        yard_rpc_pack_kv_u64(call->pk, "removed", (uint64_t)removed);
    yard_rpc_reply_result(call);
}

static void reply_add_error(struct yard_ctl *c, struct yard_rpc_call *call, int rc,
                            const char *name)
{
    switch (rc) {
    case YARD_CTL_DIR_TYPE:
        yard_rpc_reply_error(call, YARD_RPC_CONFLICT, "%s is a %s; remove it first", name,
                             yard_ctl_dir_find(&c->dir, name, (unsigned)strlen(name))->type ==
                                     YARD_DEST_TOPIC
                                 ? "topic"
                                 : "endpoint");
        break;
    case YARD_CTL_DIR_FULL:
        yard_rpc_reply_error(call, YARD_RPC_NO_SPACE,
                             "%s already has %u locations, the most one name may have", name,
                             YARD_DEST_MAX_LOCATIONS);
        break;
    case -EIO:
        yard_rpc_reply_error(call, YARD_RPC_DURABILITY, "write-ahead log failed: %s",
                             yard_wal_error(c->wal));
        break;
    default:
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "%s: %s", name,
                             yard_ctl_dir_err_text(rc));
        break;
    }
}

struct loc_args {
    char name[YARD_NAME_MAX + 2];
    char ipv4[INET_ADDRSTRLEN + 1];
    char mac[24];
    uint64_t port, lease_ms;
    bool has_ipv4, has_port, has_mac, has_lease;
    uint32_t addr;
    uint8_t mac_bytes[6];
};

/* Reads name (required), ipv4/port (required when addr_required), mac and
 * lease_ms (when allowed). Replies with the error itself. */
static int read_loc_args(struct yard_rpc_call *call, struct loc_args *a, bool addr_required,
                         bool allow_mac, bool allow_lease)
{
    char err[256];
    memset(a, 0, sizeof(*a));
    struct yard_rpc_param_spec spec[5] = {
        {"name", YARD_RPC_P_STR, true, a->name, sizeof(a->name), NULL},
        {"ipv4", YARD_RPC_P_STR, addr_required, a->ipv4, sizeof(a->ipv4), &a->has_ipv4},
        {"port", YARD_RPC_P_U64, addr_required, &a->port, 0, &a->has_port},
    };
    unsigned n = 3;
    if (allow_mac)
        spec[n++] = (struct yard_rpc_param_spec){"mac",  YARD_RPC_P_STR, false,
                                                 a->mac, sizeof(a->mac), &a->has_mac};
    if (allow_lease)
        spec[n++] = (struct yard_rpc_param_spec){"lease_ms", YARD_RPC_P_U64, false, &a->lease_ms,
                                                 0,          &a->has_lease};
    if (yard_rpc_params_read(call->args, spec, n, err, sizeof(err)) < 0) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "%s", err);
        return -EINVAL;
    }
    size_t len = strlen(a->name);
    if (len == 0 || len > YARD_NAME_MAX) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "name: 1 to %d bytes, got %zu",
                             YARD_NAME_MAX, len);
        return -EINVAL;
    }
    if (a->has_ipv4 != a->has_port) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "give ipv4 and port together");
        return -EINVAL;
    }
    if (a->has_ipv4 && parse_ipv4(a->ipv4, &a->addr) < 0) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS,
                             "ipv4: \"%s\" is not a dotted-quad IPv4 address", a->ipv4);
        return -EINVAL;
    }
    if (a->has_port && (a->port == 0 || a->port > 65535)) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "port: %llu is not 1..65535",
                             (unsigned long long)a->port);
        return -EINVAL;
    }
    if (a->has_mac && !yard_parse_mac(a->mac, a->mac_bytes)) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS,
                             "mac: \"%s\" is not like 02:00:00:00:00:01", a->mac);
        return -EINVAL;
    }
    return 0;
}

static int endpoints_add(struct yard_ctl *c, struct yard_rpc_call *call)
{
    struct loc_args a;
    if (read_loc_args(call, &a, true, false, true) < 0)
        return 0;
    const struct yard_control_conf *cc = &c->cfg.control;
    if (a.has_lease && (a.lease_ms < 1000 || a.lease_ms > cc->max_lease_ms)) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "lease_ms: %llu is not 1000..%u",
                             (unsigned long long)a.lease_ms, cc->max_lease_ms);
        return 0;
    }
    struct yard_ctl_loc_spec spec = {
        .name = a.name,
        .name_len = (unsigned)strlen(a.name),
        .type = YARD_DEST_ENDPOINT,
        .origin = a.has_lease ? YARD_LOC_REGISTERED : YARD_LOC_STATIC,
        .ipv4 = a.addr,
        .udp_port = (uint16_t)a.port,
        .lease_ms = a.has_lease ? (uint32_t)a.lease_ms : 0,
    };
    struct yard_ctl_loc *loc;
    uint64_t seq;
    int rc = yard_ctl_add(c, &spec, &loc, &seq);
    if (rc != 0) {
        reply_add_error(c, call, rc, a.name);
        return 0;
    }
    reply_change(c, call, seq, -1);
    return 0;
}

/* Remove the locations of `name` that match: an address (if given) and a
 * filter on origin. */
static int remove_matching(struct yard_ctl *c, struct yard_ctl_name *n, const struct loc_args *a,
                           bool routes, int64_t *removed, uint64_t *seq)
{
    *removed = 0;
    *seq = 0;
    struct yard_ctl_loc *l = n->locs;
    while (l != NULL) {
        struct yard_ctl_loc *next = l->next;
        bool is_route = l->origin == YARD_LOC_ROUTE;
        /* Another node's names are its own to remove. */
        bool match = routes == is_route && l->origin != YARD_LOC_REMOTE &&
                     (!a->has_ipv4 || (l->ipv4 == a->addr && l->udp_port == a->port));
        bool last = n->nb_locs == 1;
        if (match) {
            uint64_t s;
            if (yard_ctl_remove(c, l, &s) < 0)
                return -EIO;
            (*removed)++;
            *seq = s;
            if (last)
                break; /* n is gone */
        }
        l = next;
    }
    return 0;
}

/* endpoints.del and topics.del: the name's non-route locations, all or the
 * one at ipv4:port. */
static int del_locations(struct yard_ctl *c, struct yard_rpc_call *call, uint8_t type)
{
    const char *kind = type == YARD_DEST_TOPIC ? "topic" : "endpoint";
    struct loc_args a;
    if (read_loc_args(call, &a, false, false, false) < 0)
        return 0;
    struct yard_ctl_name *n = yard_ctl_dir_find(&c->dir, a.name, (unsigned)strlen(a.name));
    if (n == NULL || n->type != type) {
        yard_rpc_reply_error(call, YARD_RPC_NOT_FOUND, "no %s named %s", kind, a.name);
        return 0;
    }
    int64_t removed;
    uint64_t seq;
    if (remove_matching(c, n, &a, false, &removed, &seq) < 0) {
        reply_add_error(c, call, -EIO, a.name);
        return 0;
    }
    if (removed == 0) {
        yard_rpc_reply_error(call, YARD_RPC_NOT_FOUND, "%s has no %s location %s%s%s", a.name, kind,
                             a.has_ipv4 ? "at " : "", a.has_ipv4 ? a.ipv4 : "",
                             a.has_ipv4 ? "" : "(its locations are routes: use routes.del)");
        return 0;
    }
    reply_change(c, call, seq, removed);
    return 0;
}

static int endpoints_del(struct yard_ctl *c, struct yard_rpc_call *call)
{
    return del_locations(c, call, YARD_DEST_ENDPOINT);
}

static int routes_add(struct yard_ctl *c, struct yard_rpc_call *call)
{
    struct loc_args a;
    if (read_loc_args(call, &a, true, true, false) < 0)
        return 0;
    unsigned len = (unsigned)strlen(a.name);
    struct yard_ctl_name *n = yard_ctl_dir_find(&c->dir, a.name, len);
    if (n != NULL && n->type == YARD_DEST_TOPIC) {
        reply_add_error(c, call, YARD_CTL_DIR_TYPE, a.name);
        return 0;
    }
    struct yard_ctl_loc_spec spec = {
        .name = a.name,
        .name_len = len,
        .type = YARD_DEST_ENDPOINT,
        .origin = YARD_LOC_ROUTE,
        .ipv4 = a.addr,
        .udp_port = (uint16_t)a.port,
        .has_mac = a.has_mac,
    };
    memcpy(spec.mac, a.mac_bytes, sizeof(spec.mac));
    struct yard_ctl_loc *loc;
    uint64_t seq;
    int rc = yard_ctl_add(c, &spec, &loc, &seq);
    if (rc != 0) {
        reply_add_error(c, call, rc, a.name);
        return 0;
    }
    /* A name has at most one route: the new one is in, the old one goes
     * (added first, so the name never disappears from the dataplane). */
    n = loc->owner;
    for (struct yard_ctl_loc *l = n->locs; l != NULL; l = l->next) {
        if (l != loc && l->origin == YARD_LOC_ROUTE) {
            uint64_t s;
            if (yard_ctl_remove(c, l, &s) < 0) {
                reply_add_error(c, call, -EIO, a.name);
                return 0;
            }
            seq = s;
            break;
        }
    }
    reply_change(c, call, seq, -1);
    return 0;
}

static int routes_del(struct yard_ctl *c, struct yard_rpc_call *call)
{
    struct loc_args a;
    if (read_loc_args(call, &a, false, false, false) < 0)
        return 0;
    struct yard_ctl_name *n = yard_ctl_dir_find(&c->dir, a.name, (unsigned)strlen(a.name));
    int64_t removed = 0;
    uint64_t seq = 0;
    if (n != NULL && remove_matching(c, n, &a, true, &removed, &seq) < 0) {
        reply_add_error(c, call, -EIO, a.name);
        return 0;
    }
    if (removed == 0) {
        bool configured = false;
        for (unsigned i = 0; i < c->cfg.nb_routes; i++)
            configured |= strcmp(c->cfg.routes[i].name, a.name) == 0;
        yard_rpc_reply_error(call, YARD_RPC_NOT_FOUND, "no route named %s added through the API%s",
                             a.name,
                             configured ? " (it is in the configuration file: edit the file "
                                          "and reload the dataplane)"
                                        : "");
        return 0;
    }
    reply_change(c, call, seq, -1);
    return 0;
}

/* topics.add {name, subscriber, ipv4, port}: an operator's subscription
 * (not leased); topics.del {name, ipv4?, port?}. */
static int topics_add(struct yard_ctl *c, struct yard_rpc_call *call)
{
    char err[256], name[YARD_NAME_MAX + 2], sub[YARD_NAME_MAX + 2] = "", ip[INET_ADDRSTRLEN + 1];
    uint64_t port = 0;
    struct yard_rpc_param_spec spec[] = {
        {"name", YARD_RPC_P_STR, true, name, sizeof(name), NULL},
        {"subscriber", YARD_RPC_P_STR, false, sub, sizeof(sub), NULL},
        {"ipv4", YARD_RPC_P_STR, true, ip, sizeof(ip), NULL},
        {"port", YARD_RPC_P_U64, true, &port, 0, NULL},
    };
    uint32_t addr;
    if (yard_rpc_params_read(call->args, spec, 4, err, sizeof(err)) < 0) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "%s", err);
        return 0;
    }
    if (parse_ipv4(ip, &addr) < 0 || port == 0 || port > 65535 || strlen(sub) > YARD_NAME_MAX) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS,
                             "need ipv4 as a dotted quad, port 1..65535 and a subscriber name of "
                             "at most %d bytes",
                             YARD_NAME_MAX);
        return 0;
    }
    struct yard_ctl_loc_spec ls = {
        .name = name,
        .name_len = (unsigned)strlen(name),
        .type = YARD_DEST_TOPIC,
        .origin = YARD_LOC_STATIC,
        .ipv4 = addr,
        .udp_port = (uint16_t)port,
        .sub = sub,
        .sub_len = (unsigned)strlen(sub),
    };
    struct yard_ctl_loc *loc;
    uint64_t seq;
    int rc = yard_ctl_add(c, &ls, &loc, &seq);
    if (rc != 0) {
        reply_add_error(c, call, rc, name);
        return 0;
    }
    reply_change(c, call, seq, -1);
    return 0;
}

static int topics_del(struct yard_ctl *c, struct yard_rpc_call *call)
{
    return del_locations(c, call, YARD_DEST_TOPIC);
}

/* ---- config.get, stats.get ---- */

static int config_get(struct yard_ctl *c, struct yard_rpc_call *call)
{
    const struct yard_config *cfg = &c->cfg;
    const struct yard_control_conf *cc = &cfg->control;
    msgpack_packer *pk = call->pk;
    msgpack_pack_map(pk, 10);
    yard_rpc_pack_kv_str(pk, "file", c->config_path);
    yard_rpc_pack_kv_str(pk, "instance", cfg->instance);
    yard_rpc_pack_kv_str(pk, "mode", yard_mode_name(cfg->mode));
    yard_rpc_pack_kv_u64(pk, "data_udp_port", cfg->data_udp_port);
    yard_rpc_pack_kv_u64(pk, "directory_capacity", cfg->directory_capacity);
    yard_rpc_pack_kv_u64(pk, "punt_rate_per_source", cfg->punt_rate_per_source);
    yard_rpc_pack_kv_u64(pk, "punt_burst", cfg->punt_burst);
    yard_rpc_pack_cstr(pk, "ports");
    msgpack_pack_array(pk, cfg->nb_ports);
    for (unsigned i = 0; i < cfg->nb_ports; i++) {
        const struct yard_port_conf *p = &cfg->ports[i];
        msgpack_pack_map(pk, 4);
        yard_rpc_pack_kv_str(pk, "device", p->device);
        yard_rpc_pack_cstr(pk, "ipv4");
        pack_ipv4(pk, p->ipv4);
        yard_rpc_pack_kv_u64(pk, "prefix_len", p->prefix_len);
        yard_rpc_pack_cstr(pk, "gateway");
        if (p->gateway)
            pack_ipv4(pk, p->gateway);
        else
            msgpack_pack_nil(pk);
    }
    yard_rpc_pack_kv_u64(pk, "routes", cfg->nb_routes);
    yard_rpc_pack_cstr(pk, "control");
    msgpack_pack_map(pk, 8);
    yard_rpc_pack_kv_str(pk, "socket", cc->socket);
    yard_rpc_pack_kv_u64(pk, "socket_mode", cc->socket_mode);
    yard_rpc_pack_kv_str(pk, "state_dir", cc->state_dir);
    yard_rpc_pack_kv_str(pk, "metrics_listen", cc->metrics_listen);
    yard_rpc_pack_kv_u64(pk, "lease_ms", cc->lease_ms);
    yard_rpc_pack_kv_u64(pk, "max_lease_ms", cc->max_lease_ms);
    yard_rpc_pack_kv_str(pk, "node_name", c->node);
    yard_rpc_pack_kv_u64(pk, "wal_compact_bytes", cc->wal_compact_bytes);
    yard_rpc_reply_result(call);
    return 0;
}

static int stats_get(struct yard_ctl *c, struct yard_rpc_call *call)
{
    msgpack_packer *pk = call->pk;
    struct yard_wal_stats ws;
    yard_wal_stats(c->wal, &ws);
    msgpack_pack_map(pk, 4);

    yard_rpc_pack_cstr(pk, "control");
    unsigned nc = 0;
#define YARD_X_COUNT(name, help) nc++;
    YARD_CTL_COUNTERS(YARD_X_COUNT)
#undef YARD_X_COUNT
    msgpack_pack_map(pk, nc);
#define YARD_X_PACK(name, help) yard_rpc_pack_kv_u64(pk, #name, c->n.name);
    YARD_CTL_COUNTERS(YARD_X_PACK)
#undef YARD_X_PACK

    yard_rpc_pack_cstr(pk, "wal");
    msgpack_pack_map(pk, 8);
    yard_rpc_pack_kv_u64(pk, "records_appended", ws.records_appended);
    yard_rpc_pack_kv_u64(pk, "syncs", ws.syncs);
    yard_rpc_pack_kv_u64(pk, "sync_p50_ns", yard_wal_sync_latency_ns(&ws, 0.5));
    yard_rpc_pack_kv_u64(pk, "sync_p99_ns", yard_wal_sync_latency_ns(&ws, 0.99));
    yard_rpc_pack_kv_u64(pk, "torn_tails", ws.torn_tails);
    yard_rpc_pack_kv_u64(pk, "log_bytes", ws.log_bytes);
    yard_rpc_pack_kv_u64(pk, "snapshot_records", ws.snapshot_records);
    yard_rpc_pack_kv_u64(pk, "replay_ms", ws.replay_ns / 1000000);

    yard_rpc_pack_cstr(pk, "dataplane_link");
    msgpack_pack_map(pk, 5);
    yard_rpc_pack_kv_u64(pk, "commands_pushed", c->dp.cmds_pushed);
    yard_rpc_pack_kv_u64(pk, "commands_queued", c->dp.q_len);
    yard_rpc_pack_kv_u64(pk, "full_syncs", c->dp.full_syncs);
    yard_rpc_pack_kv_u64(pk, "queue_overflows", c->dp.queue_overflows);
    yard_rpc_pack_kv_u64(pk, "dataplane_restarts", c->dp.dp_restarts_seen);

    yard_rpc_pack_cstr(pk, "dataplane");
    if (!c->dp.attached) {
        msgpack_pack_nil(pk);
    } else {
        struct yard_lcore_stats total;
        yard_shm_lcores_total(&c->dp.shm, &total);
        const struct yard_shm_header *h = c->dp.shm.hdr;
        msgpack_pack_map(pk, 2);
        yard_rpc_pack_cstr(pk, "events");
        msgpack_pack_map(pk, h->nb_events);
        for (unsigned e = 0; e < h->nb_events; e++)
            yard_rpc_pack_kv_u64(pk, yard_event_name(e) ? yard_event_name(e) : "unknown",
                                 total.events[e]);
        yard_rpc_pack_cstr(pk, "drops");
        msgpack_pack_map(pk, h->nb_drops);
        for (unsigned r = 0; r < h->nb_drops; r++)
            yard_rpc_pack_kv_u64(pk, yard_drop_name(r) ? yard_drop_name(r) : "unknown",
                                 total.drops[r]);
    }
    yard_rpc_reply_result(call);
    return 0;
}

/* ---- wait.applied ---- */

static int wait_applied(struct yard_ctl *c, struct yard_rpc_call *call)
{
    char err[256];
    uint64_t seq = 0, timeout_ms = DEFAULT_WAIT_MS;
    struct yard_rpc_param_spec spec[] = {
        {"seq", YARD_RPC_P_U64, true, &seq, 0, NULL},
        {"timeout_ms", YARD_RPC_P_U64, false, &timeout_ms, 0, NULL},
    };
    if (yard_rpc_params_read(call->args, spec, 2, err, sizeof(err)) < 0) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "%s", err);
        return 0;
    }
    if (timeout_ms > MAX_WAIT_MS)
        timeout_ms = MAX_WAIT_MS;
    uint64_t applied = yard_dpsync_applied(&c->dp);
    if (applied >= seq) {
        msgpack_pack_map(call->pk, 1);
        yard_rpc_pack_kv_u64(call->pk, "applied_seq", applied);
        yard_rpc_reply_result(call);
        return 0;
    }
    struct waiter *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        yard_rpc_reply_error(call, YARD_RPC_INTERNAL, "out of memory");
        return 0;
    }
    w->call = call;
    w->seq = seq;
    w->deadline_ms = yard_ctl_now_ms() + timeout_ms;
    w->next = waiters;
    waiters = w;
    yard_ctl_wake(c);
    return YARD_RPC_DEFERRED;
}

bool yard_api_poll_waiters(struct yard_ctl *c)
{
    uint64_t applied = yard_dpsync_applied(&c->dp);
    uint64_t now = yard_ctl_now_ms();
    struct waiter **pp = &waiters;
    while (*pp != NULL) {
        struct waiter *w = *pp;
        if (yard_rpc_call_abandoned(w->call)) {
            yard_rpc_reply_error(w->call, YARD_RPC_TIMEOUT, "client left");
        } else if (applied >= w->seq) {
            msgpack_pack_map(w->call->pk, 1);
            yard_rpc_pack_kv_u64(w->call->pk, "applied_seq", applied);
            yard_rpc_reply_result(w->call);
        } else if (now >= w->deadline_ms) {
            yard_rpc_reply_error(w->call, YARD_RPC_TIMEOUT,
                                 "sequence %llu not applied by the dataplane in time (it has "
                                 "applied %llu; dataplane %s)",
                                 (unsigned long long)w->seq, (unsigned long long)applied,
                                 yard_dp_state_name(c->dp.state));
        } else {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        free(w);
    }
    return waiters != NULL;
}

void yard_api_fini(struct yard_ctl *c)
{
    (void)c;
    while (waiters != NULL) {
        struct waiter *w = waiters;
        waiters = w->next;
        yard_rpc_reply_error(w->call, YARD_RPC_UNAVAILABLE, "yard-control is stopping");
        free(w);
    }
}

/* ---- dispatch ---- */

typedef int (*method_fn)(struct yard_ctl *c, struct yard_rpc_call *call);

static int endpoints_list(struct yard_ctl *c, struct yard_rpc_call *call)
{
    return list_names(c, call, YARD_DEST_ENDPOINT);
}

static int topics_list(struct yard_ctl *c, struct yard_rpc_call *call)
{
    return list_names(c, call, YARD_DEST_TOPIC);
}

static const struct {
    const char *name;
    method_fn fn;
} methods[] = {
    {"status.get", status_get},       {"endpoints.list", endpoints_list},
    {"endpoints.add", endpoints_add}, {"endpoints.del", endpoints_del},
    {"topics.list", topics_list},     {"topics.add", topics_add},
    {"topics.del", topics_del},       {"routes.list", routes_list},
    {"routes.add", routes_add},       {"routes.del", routes_del},
    {"config.get", config_get},       {"stats.get", stats_get},
    {"wait.applied", wait_applied},   {"members.list", members_list},
};

int yard_api_dispatch(void *ctx, struct yard_rpc_call *call)
{
    struct yard_ctl *c = ctx;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(call->method, methods[i].name) == 0)
            return methods[i].fn(c, call);
    yard_rpc_reply_error(
        call, YARD_RPC_METHOD_NOT_FOUND,
        "no method %s (methods: status.get, endpoints.list|add|del, topics.list|add|del, "
        "routes.list|add|del, config.get, stats.get, wait.applied)",
        call->method);
    return 0;
}
