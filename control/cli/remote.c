/*
 * remote.c - yardctl's commands that call yard-control (see remote.h).
 *
 * Each command is: connect, call one method (and wait.applied after a
 * change when --wait is given), print. Arguments are packed from a small
 * list of named values so every method's params are built the same way:
 * [ {name: value, ...} ]. The result shapes are the contract in remote.h's
 * callers' help texts; printing tolerates fields that are missing or of
 * another type, so a yardctl and a daemon of neighbouring versions still
 * show what they share.
 */
#include "remote.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "render.h"
#include "rpc_client.h"

/* ---- named arguments ---- */

#define MAX_ARGS 8

struct args {
    unsigned n;
    struct {
        const char *key;
        bool is_str;
        const char *s;
        uint64_t u;
    } v[MAX_ARGS];
};

static void arg_str(struct args *a, const char *key, const char *s)
{
    a->v[a->n].key = key;
    a->v[a->n].is_str = true;
    a->v[a->n].s = s;
    a->n++;
}

static void arg_u64(struct args *a, const char *key, uint64_t u)
{
    a->v[a->n].key = key;
    a->v[a->n].is_str = false;
    a->v[a->n].u = u;
    a->n++;
}

static void pack_args(msgpack_packer *pk, void *arg)
{
    const struct args *a = arg;
    msgpack_pack_map(pk, a->n);
    for (unsigned i = 0; i < a->n; i++) {
        if (a->v[i].is_str)
            yard_rpc_pack_kv_str(pk, a->v[i].key, a->v[i].s);
        else
            yard_rpc_pack_kv_u64(pk, a->v[i].key, a->v[i].u);
    }
}

/* ---- calling ---- */

struct session {
    const struct yard_cli_remote *r;
    struct yard_rpc_client client;
    bool connected;
};

static int exit_for_errno(int rc)
{
    return rc == -ETIMEDOUT                                      ? YARD_CLI_EXIT_TIMEOUT
           : (rc == -EPROTO || rc == -EMSGSIZE || rc == -ENOMEM) ? YARD_CLI_EXIT_DAEMON
                                                                 : YARD_CLI_EXIT_CONNECT;
}

static int session_open(struct session *s, const struct yard_cli_remote *r)
{
    char err[512];
    s->r = r;
    s->connected = false;
    int rc = yard_rpc_client_connect(&s->client, r->socket_path, r->timeout_ms, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "yardctl: %s\n", err);
        return exit_for_errno(rc);
    }
    s->connected = true;
    return 0;
}

static void session_close(struct session *s)
{
    if (s->connected)
        yard_rpc_client_close(&s->client);
    s->connected = false;
}

/* Call method; on success resp holds the result (free it). Prints failures
 * and returns the exit code. extra_ms lengthens this call's timeout (for a
 * wait the daemon does on purpose). */
static int session_call(struct session *s, const char *method, struct args *a,
                        struct yard_rpc_response *resp, uint64_t extra_ms)
{
    char err[512];
    s->client.timeout_ms = s->r->timeout_ms + (int)(extra_ms > 86400000 ? 86400000 : extra_ms);
    int rc = yard_rpc_client_call(&s->client, method, a != NULL && a->n > 0 ? pack_args : NULL, a,
                                  resp, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "yardctl: %s\n", err);
        return exit_for_errno(rc);
    }
    if (resp->is_error) {
        fprintf(stderr, "yardctl: %s: %s (code %" PRId64 ")\n", method, resp->message, resp->code);
        int code = resp->code == YARD_RPC_TIMEOUT ? YARD_CLI_EXIT_TIMEOUT : YARD_CLI_EXIT_DAEMON;
        yard_rpc_response_free(resp);
        return code;
    }
    return 0;
}

/* The whole of a read-only command: call, then print with `table`. */
static int simple(const struct yard_cli_remote *r, const char *method, struct args *a,
                  int (*table)(const msgpack_object *result))
{
    struct session s;
    struct yard_rpc_response resp;
    int rc = session_open(&s, r);
    if (rc != 0)
        return rc;
    rc = session_call(&s, method, a, &resp, 0);
    session_close(&s);
    if (rc != 0)
        return rc;
    if (r->output == YARD_CLI_OUT_JSON) {
        struct yard_jsonw w;
        yard_jsonw_init(&w, stdout);
        yard_jsonw_msgpack(&w, &resp.result);
        fputc('\n', stdout);
    } else {
        rc = table(&resp.result);
        if (rc != 0)
            fprintf(stderr, "yardctl: %s: the answer does not have the expected shape\n", method);
    }
    yard_rpc_response_free(&resp);
    if (fflush(stdout) != 0)
        return YARD_CLI_EXIT_DAEMON;
    return rc;
}

/* ---- formatting helpers ---- */

static const char *lease_text(const msgpack_object *loc, char *buf, size_t len)
{
    double ms;
    if (!yard_cli_field_num(loc, "lease_ms_left", &ms))
        snprintf(buf, len, "-");
    else if (ms < 10000)
        snprintf(buf, len, "%.1fs", ms / 1000);
    else
        snprintf(buf, len, "%.0fs", ms / 1000);
    return buf;
}

static bool is_array(const msgpack_object *o)
{
    return o != NULL && o->type == MSGPACK_OBJECT_ARRAY;
}

/* ---- status ---- */

static void format_uptime(double s, char *buf, size_t len)
{
    uint64_t t = s > 0 ? (uint64_t)s : 0;
    if (t >= 86400)
        snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h%02" PRIu64 "m", t / 86400, t / 3600 % 24,
                 t / 60 % 60);
    else if (t >= 3600)
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s", t / 3600, t / 60 % 60,
                 t % 60);
    else if (t >= 60)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", t / 60, t % 60);
    else
        snprintf(buf, len, "%" PRIu64 "s", t);
}

static int status_table(const msgpack_object *st)
{
    char a[128], b[128], c[128], d[128], e[128];
    if (st->type != MSGPACK_OBJECT_MAP)
        return YARD_CLI_EXIT_DAEMON;
    printf("%-10s %s\n", "instance", yard_cli_field_text(st, "instance", a, sizeof(a)));
    printf("%-10s %s\n", "node", yard_cli_field_text(st, "node", a, sizeof(a)));
    printf("%-10s %s\n", "version", yard_cli_field_text(st, "version", a, sizeof(a)));

    const msgpack_object *ctl = yard_cli_field(st, "control");
    double up = 0, n;
    yard_cli_field_num(ctl, "uptime_s", &up);
    format_uptime(up, b, sizeof(b));
    printf("%-10s pid %s, up %s, state %s, WAL %s records / %s bytes\n", "control",
           yard_cli_field_text(ctl, "pid", a, sizeof(a)), b,
           yard_cli_field_text(ctl, "state_dir", c, sizeof(c)),
           yard_cli_field_text(ctl, "wal_records", d, sizeof(d)),
           yard_cli_field_text(ctl, "wal_bytes", e, sizeof(e)));

    const msgpack_object *dp = yard_cli_field(st, "dataplane");
    printf("%-10s %s", "dataplane", yard_cli_field_text(dp, "state", a, sizeof(a)));
    if (yard_cli_field_num(dp, "pid", &n) && n > 0)
        printf(", pid %.0f", n);
    if (yard_cli_field_num(dp, "heartbeat_age_ms", &n))
        printf(", heartbeat %.0f ms ago", n);
    const msgpack_object *ready = yard_cli_field(dp, "ready");
    printf(", generation %s, applied seq %s, %s\n",
           yard_cli_field_text(dp, "generation", b, sizeof(b)),
           yard_cli_field_text(dp, "applied_seq", c, sizeof(c)),
           ready != NULL && ready->type == MSGPACK_OBJECT_BOOLEAN && ready->via.boolean
               ? "ready"
               : "not ready");

    const msgpack_object *dir = yard_cli_field(st, "directory");
    static const char *const counts[] = {"endpoints",     "groups", "topics",
                                         "subscriptions", "routes", "locations"};
    printf("%-10s", "directory");
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        printf("%s %s %s", i ? "," : "", yard_cli_field_text(dir, counts[i], a, sizeof(a)),
               counts[i]);
    printf("\n");
    const msgpack_object *cl = yard_cli_field(st, "cluster");
    if (cl != NULL && cl->type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *joined = yard_cli_field(cl, "joined");
        printf("%-10s %s alive, %s suspect, %s dead or left; health score %s; %s\n", "cluster",
               yard_cli_field_text(cl, "alive", a, sizeof(a)),
               yard_cli_field_text(cl, "suspect", b, sizeof(b)),
               yard_cli_field_text(cl, "dead", c, sizeof(c)),
               yard_cli_field_text(cl, "health_score", d, sizeof(d)),
               joined != NULL && joined->type == MSGPACK_OBJECT_BOOLEAN && joined->via.boolean
                   ? "joined"
                   : "not joined yet");
    } else {
        printf("%-10s standalone (no cluster section)\n", "cluster");
    }
    const msgpack_object *synced = yard_cli_field(st, "synced");
    printf("%-10s %s (control seq %s)\n", "synced",
           synced != NULL && synced->type == MSGPACK_OBJECT_BOOLEAN
               ? (synced->via.boolean ? "yes" : "no")
               : "-",
           yard_cli_field_text(st, "seq", a, sizeof(a)));
    return 0;
}

int yard_cli_status(const struct yard_cli_remote *r)
{
    return simple(r, "status.get", NULL, status_table);
}

/* ---- endpoints, topics, routes ---- */

static int endpoints_table(const msgpack_object *list)
{
    if (!is_array(list))
        return YARD_CLI_EXIT_DAEMON;
    static const char *const titles[] = {"NAME", "KIND", "IPV4", "PORT", "ORIGIN", "NODE", "LEASE"};
    struct yard_cli_table t;
    if (yard_cli_table_init(&t, "<<<><<>", 7, titles) != 0)
        return YARD_CLI_EXIT_DAEMON;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char name[256], kind[32], ip[64], port[16], origin[32], node[128], lease[32];
        yard_cli_field_text(e, "name", name, sizeof(name));
        yard_cli_field_text(e, "kind", kind, sizeof(kind));
        const msgpack_object *locs = yard_cli_field(e, "locations");
        uint32_t nl = is_array(locs) ? locs->via.array.size : 0;
        if (nl == 0) {
            const char *row[] = {name, kind, NULL, NULL, NULL, NULL, NULL};
            yard_cli_table_add(&t, row);
        }
        for (uint32_t k = 0; k < nl; k++) {
            const msgpack_object *l = &locs->via.array.ptr[k];
            const char *row[] = {name,
                                 kind,
                                 yard_cli_field_text(l, "ipv4", ip, sizeof(ip)),
                                 yard_cli_field_text(l, "port", port, sizeof(port)),
                                 yard_cli_field_text(l, "origin", origin, sizeof(origin)),
                                 yard_cli_field_text(l, "node", node, sizeof(node)),
                                 lease_text(l, lease, sizeof(lease))};
            yard_cli_table_add(&t, row);
        }
    }
    yard_cli_table_print(&t, stdout);
    yard_cli_table_free(&t);
    return 0;
}

int yard_cli_endpoints_list(const struct yard_cli_remote *r, const char *prefix)
{
    struct args a = {0};
    if (prefix != NULL)
        arg_str(&a, "prefix", prefix);
    return simple(r, "endpoints.list", &a, endpoints_table);
}

static int topics_table(const msgpack_object *list)
{
    if (!is_array(list))
        return YARD_CLI_EXIT_DAEMON;
    static const char *const titles[] = {"TOPIC", "SUBSCRIBER", "IPV4", "PORT", "NODE", "LEASE"};
    struct yard_cli_table t;
    if (yard_cli_table_init(&t, "<<<><>", 6, titles) != 0)
        return YARD_CLI_EXIT_DAEMON;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char name[256], sub[256], ip[64], port[16], node[128], lease[32];
        yard_cli_field_text(e, "name", name, sizeof(name));
        const msgpack_object *subs = yard_cli_field(e, "subscribers");
        uint32_t ns = is_array(subs) ? subs->via.array.size : 0;
        if (ns == 0) {
            const char *row[] = {name, NULL, NULL, NULL, NULL, NULL};
            yard_cli_table_add(&t, row);
        }
        for (uint32_t k = 0; k < ns; k++) {
            const msgpack_object *s = &subs->via.array.ptr[k];
            const char *row[] = {name,
                                 yard_cli_field_text(s, "name", sub, sizeof(sub)),
                                 yard_cli_field_text(s, "ipv4", ip, sizeof(ip)),
                                 yard_cli_field_text(s, "port", port, sizeof(port)),
                                 yard_cli_field_text(s, "node", node, sizeof(node)),
                                 lease_text(s, lease, sizeof(lease))};
            yard_cli_table_add(&t, row);
        }
    }
    yard_cli_table_print(&t, stdout);
    yard_cli_table_free(&t);
    return 0;
}

int yard_cli_topics_list(const struct yard_cli_remote *r, const char *prefix)
{
    struct args a = {0};
    if (prefix != NULL)
        arg_str(&a, "prefix", prefix);
    return simple(r, "topics.list", &a, topics_table);
}

static int routes_table(const msgpack_object *list)
{
    if (!is_array(list))
        return YARD_CLI_EXIT_DAEMON;
    static const char *const titles[] = {"NAME", "IPV4", "PORT", "MAC", "ORIGIN"};
    struct yard_cli_table t;
    if (yard_cli_table_init(&t, "<<><<", 5, titles) != 0)
        return YARD_CLI_EXIT_DAEMON;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char name[256], ip[64], port[16], mac[32], origin[32];
        const char *row[] = {yard_cli_field_text(e, "name", name, sizeof(name)),
                             yard_cli_field_text(e, "ipv4", ip, sizeof(ip)),
                             yard_cli_field_text(e, "port", port, sizeof(port)),
                             yard_cli_field_text(e, "mac", mac, sizeof(mac)),
                             yard_cli_field_text(e, "origin", origin, sizeof(origin))};
        yard_cli_table_add(&t, row);
    }
    yard_cli_table_print(&t, stdout);
    yard_cli_table_free(&t);
    return 0;
}

int yard_cli_routes_list(const struct yard_cli_remote *r)
{
    return simple(r, "routes.list", NULL, routes_table);
}

static int members_table(const msgpack_object *list)
{
    if (!is_array(list))
        return YARD_CLI_EXIT_DAEMON;
    static const char *const titles[] = {"NAME", "ADDRESS", "STATE", "INCARNATION",
                                         "ROLE", "DATA",    "NAMES"};
    struct yard_cli_table t;
    if (yard_cli_table_init(&t, "<<<><<>", 7, titles) != 0)
        return YARD_CLI_EXIT_DAEMON;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        char name[272], addr[64], state[16], inc[16], role[32], data[64], names[24];
        const msgpack_object *self = yard_cli_field(e, "self");
        yard_cli_field_text(e, "name", name, sizeof(name) - 8);
        if (self != NULL && self->type == MSGPACK_OBJECT_BOOLEAN && self->via.boolean)
            strcat(name, " (self)");
        const char *row[] = {name,
                             yard_cli_field_text(e, "address", addr, sizeof(addr)),
                             yard_cli_field_text(e, "state", state, sizeof(state)),
                             yard_cli_field_text(e, "incarnation", inc, sizeof(inc)),
                             yard_cli_field_text(e, "role", role, sizeof(role)),
                             yard_cli_field_text(e, "data", data, sizeof(data)),
                             yard_cli_field_text(e, "names", names, sizeof(names))};
        yard_cli_table_add(&t, row);
    }
    yard_cli_table_print(&t, stdout);
    yard_cli_table_free(&t);
    return 0;
}

int yard_cli_members_list(const struct yard_cli_remote *r)
{
    return simple(r, "members.list", NULL, members_table);
}

/* ---- changes ---- */

/*
 * Call a mutating method, then (with --wait) wait.applied for the seq it
 * returned. Table mode prints `done` and the seq; JSON prints the result
 * with "applied_seq" added when waited.
 */
static int change(const struct yard_cli_remote *r, const char *method, struct args *a,
                  const struct yard_cli_wait *w, const char *done)
{
    struct session s;
    struct yard_rpc_response resp, wresp;
    int rc = session_open(&s, r);
    if (rc != 0)
        return rc;
    rc = session_call(&s, method, a, &resp, 0);
    if (rc != 0) {
        session_close(&s);
        return rc;
    }
    double seq = -1, applied = -1;
    yard_cli_field_num(&resp.result, "seq", &seq);
    bool waited = false;
    if (w->wait) {
        if (seq < 0) {
            fprintf(stderr, "yardctl: %s: the answer has no seq to wait for\n", method);
            rc = YARD_CLI_EXIT_DAEMON;
        } else {
            struct args wa = {0};
            arg_u64(&wa, "seq", (uint64_t)seq);
            arg_u64(&wa, "timeout_ms", w->timeout_ms);
            rc = session_call(&s, "wait.applied", &wa, &wresp, w->timeout_ms);
            if (rc == 0) {
                waited = true;
                yard_cli_field_num(&wresp.result, "applied_seq", &applied);
                yard_rpc_response_free(&wresp);
            }
        }
    }
    session_close(&s);
    if (rc == 0 && r->output == YARD_CLI_OUT_JSON) {
        struct yard_jsonw jw;
        yard_jsonw_init(&jw, stdout);
        const msgpack_object *o = &resp.result;
        if (o->type == MSGPACK_OBJECT_MAP) {
            yard_jsonw_object_begin(&jw);
            for (uint32_t i = 0; i < o->via.map.size; i++) {
                char key[128];
                yard_jsonw_key(&jw, yard_cli_text(&o->via.map.ptr[i].key, key, sizeof(key)));
                yard_jsonw_msgpack(&jw, &o->via.map.ptr[i].val);
            }
            if (waited) {
                yard_jsonw_key(&jw, "applied_seq");
                yard_jsonw_double(&jw, applied);
            }
            yard_jsonw_object_end(&jw);
        } else {
            yard_jsonw_msgpack(&jw, o);
        }
        fputc('\n', stdout);
    } else if (rc == 0) {
        char extra[64] = "";
        double removed;
        if (yard_cli_field_num(&resp.result, "removed", &removed))
            snprintf(extra, sizeof(extra), ", %.0f location%s removed", removed,
                     removed == 1 ? "" : "s");
        printf("%s (seq %.0f%s%s)\n", done, seq, extra, waited ? ", applied" : "");
    }
    yard_rpc_response_free(&resp);
    return rc;
}

int yard_cli_endpoints_add(const struct yard_cli_remote *r, const char *name,
                           const struct yard_cli_addr *addr, const uint64_t *lease_ms,
                           const struct yard_cli_wait *w)
{
    struct args a = {0};
    arg_str(&a, "name", name);
    arg_str(&a, "ipv4", addr->ipv4);
    arg_u64(&a, "port", addr->port);
    if (lease_ms != NULL)
        arg_u64(&a, "lease_ms", *lease_ms);
    char done[512];
    snprintf(done, sizeof(done), "endpoint %s: added %s:%u", name, addr->ipv4, addr->port);
    return change(r, "endpoints.add", &a, w, done);
}

int yard_cli_endpoints_del(const struct yard_cli_remote *r, const char *name,
                           const struct yard_cli_addr *addr, const struct yard_cli_wait *w)
{
    struct args a = {0};
    arg_str(&a, "name", name);
    char done[512];
    if (addr != NULL) {
        arg_str(&a, "ipv4", addr->ipv4);
        arg_u64(&a, "port", addr->port);
        snprintf(done, sizeof(done), "endpoint %s: deleted %s:%u", name, addr->ipv4, addr->port);
    } else {
        snprintf(done, sizeof(done), "endpoint %s: deleted", name);
    }
    return change(r, "endpoints.del", &a, w, done);
}

int yard_cli_routes_add(const struct yard_cli_remote *r, const char *name,
                        const struct yard_cli_addr *addr, const char *mac,
                        const struct yard_cli_wait *w)
{
    struct args a = {0};
    arg_str(&a, "name", name);
    arg_str(&a, "ipv4", addr->ipv4);
    arg_u64(&a, "port", addr->port);
    if (mac != NULL)
        arg_str(&a, "mac", mac);
    char done[512];
    snprintf(done, sizeof(done), "route %s: added via %s:%u", name, addr->ipv4, addr->port);
    return change(r, "routes.add", &a, w, done);
}

int yard_cli_routes_del(const struct yard_cli_remote *r, const char *name,
                        const struct yard_cli_wait *w)
{
    struct args a = {0};
    arg_str(&a, "name", name);
    char done[512];
    snprintf(done, sizeof(done), "route %s: deleted", name);
    return change(r, "routes.del", &a, w, done);
}

/* ---- config, stats, wait ---- */

static int tree(const msgpack_object *o)
{
    yard_cli_print_tree(stdout, o, 0);
    return 0;
}

int yard_cli_config_get(const struct yard_cli_remote *r)
{
    return simple(r, "config.get", NULL, tree);
}

int yard_cli_stats_get(const struct yard_cli_remote *r)
{
    return simple(r, "stats.get", NULL, tree);
}

static int applied_line(const msgpack_object *o)
{
    char buf[64];
    printf("applied seq %s\n", yard_cli_field_text(o, "applied_seq", buf, sizeof(buf)));
    return 0;
}

int yard_cli_wait_applied(const struct yard_cli_remote *r, uint64_t seq, uint64_t timeout_ms)
{
    struct args a = {0};
    arg_u64(&a, "seq", seq);
    arg_u64(&a, "timeout_ms", timeout_ms);
    struct yard_cli_remote longer = *r;
    longer.timeout_ms += (int)(timeout_ms > 86400000 ? 86400000 : timeout_ms);
    return simple(&longer, "wait.applied", &a, applied_line);
}
