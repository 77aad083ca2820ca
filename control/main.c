/*
 * main.c - yard-control: the appliance's control plane.
 *
 *   yard-control [-c FILE] [--state-dir DIR] [--socket PATH]
 *                [--metrics ADDR:PORT|off] [--node NAME] [--check-config]
 *
 * One event loop (loop.h) serves everything: the management socket, HTTP
 * /metrics and /health, the punt ring (polled by a timer: it has no fd),
 * the dataplane link's heartbeats and command stream, lease expiry and WAL
 * compaction. Start-up replays the WAL before anything listens, so the
 * first answer already reflects every acknowledged change. No DPDK EAL:
 * the shm rings are used through rte_ring's inline functions only.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "api.h"
#include "cluster.h"
#include "ctl.h"
#include "http.h"
#include "metrics.h"
#include "records.h"
#include "rpc_server.h"
#include "wal.h"

#define DEFAULT_CONFIG  "/etc/switchyard/yard.yaml"
#define TICK_MS         100
#define LEAVE_MS        1500 /* a graceful leave's time to gossip the news */
#define SLOW_POLL_MS    10
#define ACTIVE_HOLD_MS  1000
#define EXPIRE_PER_TICK 20000 /* 200,000 expiries/s at most */

static struct yard_ctl ctl;

static void usage(FILE *f)
{
    fprintf(f, "usage: yard-control [-c FILE] [options]\n"
               "\n"
               "The Switchyard control plane: keeps the directory of names, answers\n"
               "applications' REGISTER/SUBSCRIBE messages, persists changes in a\n"
               "write-ahead log, serves the management API (yardctl) and /metrics.\n"
               "\n"
               "  -c, --config FILE      configuration (default " DEFAULT_CONFIG ");\n"
               "                         the same file as yard-dataplane's\n"
               "      --state-dir DIR    write-ahead log directory (control.state_dir)\n"
               "      --socket PATH      management socket (control.socket)\n"
               "      --metrics ADDR:PORT|off\n"
               "                         HTTP /metrics and /health (control.metrics_listen)\n"
               "      --node NAME        this node's name (control.node_name)\n"
               "      --check-config     check the configuration and exit\n"
               "  -h, --help             this help\n"
               "      --version          print the version\n"
               "\n"
               "Exit status: 0 after SIGTERM/SIGINT, 1 on a start-up error, 2 on a usage error.\n");
}

static uint64_t last_active_ms;

/* Every round: group commit, then what waits on it. */
static void round_end(struct yard_loop *loop, void *arg)
{
    (void)loop;
    struct yard_ctl *c = arg;
    if (yard_wal_pending(c->wal) > 0 && yard_ctl_durable(c) < 0) {
        static uint64_t reported;
        if (reported++ == 0)
            fprintf(stderr,
                    "yard-control: write-ahead log in %s failed: %s; changes are refused until "
                    "it is fixed and yard-control restarted\n",
                    c->cfg.control.state_dir, yard_wal_error(c->wal));
    }
    bool busy = yard_dpsync_pump(&c->dp);
    busy |= yard_registrar_flush(c);
    busy |= yard_api_poll_waiters(c);
    uint64_t now = yard_ctl_now_ms();
    if (busy)
        last_active_ms = now;
    /* Poll fast while anything moves (and for a second after), slowly
     * otherwise: the punt ring has no fd to wake us. */
    bool want_fast = now - last_active_ms < ACTIVE_HOLD_MS;
    if (want_fast != c->fast_on) {
        yard_loop_timer_set(c->fast, want_fast ? YARD_CTL_FAST_MS : SLOW_POLL_MS);
        c->fast_on = want_fast;
    }
}

static void on_fast(struct yard_loop *loop, uint64_t expirations, void *arg)
{
    (void)loop;
    (void)expirations;
    struct yard_ctl *c = arg;
    if (yard_registrar_poll(c) > 0)
        last_active_ms = yard_ctl_now_ms();
}

static void expire_leases(struct yard_ctl *c)
{
    uint64_t now = yard_ctl_now_ms();
    struct yard_ctl_loc *l;
    /* Bounded per tick, so a mass expiry (a rack of applications gone at
     * once) does not stall the punt ring and the API; the rest go on the
     * next ticks. */
    for (unsigned n = 0; n < EXPIRE_PER_TICK; n++) {
        if ((l = yard_ctl_dir_expired(&c->dir, now)) == NULL)
            return;
        if (yard_ctl_remove(c, l, NULL) < 0)
            return; /* the log is broken: keep the entry, retry next tick */
        c->n.leases_expired++;
    }
}

static int emit_directory(void *arg, struct yard_wal_snapshot_writer *sw)
{
    struct yard_ctl *c = arg;
    uint8_t rec[YARD_REC_MAX_BYTES];
    for (const struct yard_ctl_name *n = c->dir.head; n != NULL; n = n->next)
        for (const struct yard_ctl_loc *l = n->locs; l != NULL; l = l->next) {
            if (l->origin == YARD_LOC_REMOTE)
                continue; /* another node's: never logged */
            int rc = yard_wal_snapshot_add(sw, rec, yard_rec_encode_add(rec, l));
            if (rc < 0)
                return rc;
        }
    return 0;
}

static void on_tick(struct yard_loop *loop, uint64_t expirations, void *arg)
{
    (void)loop;
    (void)expirations;
    struct yard_ctl *c = arg;
    if (yard_dpsync_tick(&c->dp))
        fprintf(stderr, "yard-control: dataplane %s\n", yard_dp_state_name(c->dp.state));
    if (c->dp.syncing || c->dp.q_len > 0)
        yard_ctl_wake(c);
    expire_leases(c);
    if (c->cluster != NULL)
        yard_cluster_tick(c->cluster, yard_ctl_now_ms());
    if (yard_wal_should_compact(c->wal)) {
        if (yard_wal_compact(c->wal, emit_directory, c) == 0)
            c->n.compactions++;
        else
            fprintf(stderr, "yard-control: compaction failed: %s\n", yard_wal_error(c->wal));
    }
}

static void on_signal(struct yard_loop *loop, int signo, void *arg)
{
    (void)arg;
    if (signo == SIGHUP) {
        fprintf(stderr, "yard-control: SIGHUP: nothing to reload (routes change through the "
                        "API; restart to change other settings)\n");
        return;
    }
    yard_loop_stop(loop);
}

static int replay_record(void *arg, const void *rec, size_t len)
{
    struct yard_ctl *c = arg;
    struct yard_rec r;
    if (yard_rec_decode(rec, len, &r) < 0) {
        c->n.wal_records_rejected++;
        return -EINVAL;
    }
    struct yard_ctl_name *n = yard_ctl_dir_find(&c->dir, r.spec.name, r.spec.name_len);
    if (r.op == YARD_REC_LOC_DEL) {
        struct yard_ctl_loc *l =
            n == NULL ? NULL : yard_ctl_dir_loc(n, r.spec.ipv4, r.spec.udp_port);
        if (l != NULL)
            yard_ctl_remove(c, l, NULL);
        c->n.wal_records_replayed++;
        return 0;
    }
    /* A replayed lease starts afresh: the log says what was granted, not
     * when, and an application renews well within one lease. */
    if (yard_ctl_add(c, &r.spec, NULL, NULL) != 0) {
        c->n.wal_records_rejected++;
        return -EINVAL;
    }
    c->n.wal_records_replayed++;
    return 0;
}

static void wal_log(void *arg, int level, const char *line)
{
    (void)arg;
    fprintf(stderr, "yard-control: %s%s\n", level <= LOG_WARNING ? "warning: " : "", line);
}

/* ---- HTTP ---- */

static void metrics_extra(struct yard_metrics_writer *out, void *arg)
{
    struct yard_ctl *c = arg;
    char name[96];
#define YARD_X_METRIC(field, help)                                 \
    snprintf(name, sizeof(name), "yard_control_%s_total", #field); \
    yard_metrics_counter(out, name, help, NULL, c->n.field);
    YARD_CTL_COUNTERS(YARD_X_METRIC)
#undef YARD_X_METRIC
    const struct yard_ctl_dir *d = &c->dir;
    yard_metrics_gauge(out, "yard_control_endpoints",
                       "endpoint names in the control plane's directory", NULL,
                       (double)(d->nb_names - d->nb_topics));
    yard_metrics_gauge(out, "yard_control_topics", "topics in the control plane's directory", NULL,
                       (double)d->nb_topics);
    yard_metrics_gauge(
        out, "yard_control_locations",
        "locations (endpoint members and subscribers) in the control plane's directory", NULL,
        (double)d->nb_locs);
    yard_metrics_gauge(out, "yard_control_leases",
                       "leased locations (registrations, subscriptions)", NULL,
                       (double)d->nb_leased);
    yard_metrics_gauge(out, "yard_control_synced",
                       "1 when the dataplane has applied the whole directory", NULL,
                       yard_dpsync_synced(&c->dp) ? 1 : 0);
    yard_metrics_gauge(out, "yard_control_commands_queued",
                       "dataplane commands waiting for room in the command ring", NULL,
                       (double)c->dp.q_len);
    yard_metrics_counter(out, "yard_control_full_syncs_total",
                         "full syncs of the directory to the dataplane", NULL, c->dp.full_syncs);
    struct yard_wal_stats ws;
    yard_wal_stats(c->wal, &ws);
    yard_metrics_counter(out, "yard_wal_records_total", "records appended to the write-ahead log",
                         NULL, ws.records_appended);
    yard_metrics_counter(out, "yard_wal_syncs_total", "group commits (fdatasync) of the log", NULL,
                         ws.syncs);
    yard_metrics_counter(out, "yard_wal_torn_tails_total",
                         "torn records found and discarded at start-up", NULL, ws.torn_tails);
    yard_metrics_gauge(out, "yard_wal_log_bytes", "bytes in the log after the last snapshot", NULL,
                       (double)ws.log_bytes);
    const struct yard_rpc_stats *rs = yard_rpc_server_stats(c->rpc);
    yard_metrics_counter(out, "yard_api_requests_total", "management API requests", NULL,
                         rs->requests);
    yard_metrics_counter(out, "yard_api_errors_total", "management API error responses", NULL,
                         rs->errors);
    if (c->cluster != NULL)
        yard_cluster_metrics(c->cluster, out);
}

static int serve_metrics(const struct yard_http_request *req, struct yard_http_reply *reply,
                         void *arg)
{
    (void)req;
    struct yard_ctl *c = arg;
    reply->content_type = YARD_HTTP_PROMETHEUS;
    yard_metrics_render(&reply->body, c->dp.attached ? &c->dp.shm : NULL, metrics_extra, c);
    return 200;
}

static int serve_health(const struct yard_http_request *req, struct yard_http_reply *reply,
                        void *arg)
{
    struct yard_ctl *c = arg;
    const char *why = NULL;
    bool ready = yard_ctl_ready(c, &why);
    bool live_only = strcmp(req->path, "/health/live") == 0;
    int64_t age = yard_dpsync_heartbeat_age_ms(&c->dp);
    reply->content_type = "application/json";
    yard_buf_printf(&reply->body,
                    "{\"live\":true,\"ready\":%s,\"reason\":\"%s\",\"dataplane\":\"%s\","
                    "\"heartbeat_age_ms\":%lld,\"synced\":%s}\n",
                    ready ? "true" : "false", why != NULL ? why : "",
                    yard_dp_state_name(c->dp.state), (long long)age,
                    yard_dpsync_synced(&c->dp) ? "true" : "false");
    return live_only || ready ? 200 : 503;
}

/* ---- start-up ---- */

static int start(struct yard_ctl *c)
{
    char err[512];
    struct yard_control_conf *cc = &c->cfg.control;

    struct yard_wal_opts wo = {.compact_bytes = cc->wal_compact_bytes, .log_fn = wal_log};
    int rc = yard_wal_open(&c->wal, cc->state_dir, &wo, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "yard-control: %s\n", err);
        return rc;
    }
    c->replaying = true;
    rc = yard_wal_replay(c->wal, replay_record, c);
    c->replaying = false;
    if (rc < 0) {
        fprintf(stderr, "yard-control: replaying the write-ahead log in %s: %s\n", cc->state_dir,
                yard_wal_error(c->wal));
        return rc;
    }
    struct yard_wal_stats ws;
    yard_wal_stats(c->wal, &ws);
    fprintf(stderr,
            "yard-control: %s: replayed %llu records in %.1f ms (%llu rejected, %llu torn "
            "tails discarded): %llu names, %llu locations\n",
            cc->state_dir, (unsigned long long)ws.replayed_records, (double)ws.replay_ns / 1e6,
            (unsigned long long)ws.replay_rejected, (unsigned long long)ws.torn_tails,
            (unsigned long long)c->dir.nb_names, (unsigned long long)c->dir.nb_locs);

    yard_dpsync_tick(&c->dp);

    rc = yard_rpc_server_open(&c->rpc, &c->loop, cc->socket, (mode_t)cc->socket_mode,
                              yard_api_dispatch, c, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "yard-control: %s\n", err);
        return rc;
    }
    if (strcmp(cc->metrics_listen, "off") != 0 && cc->metrics_listen[0] != 0) {
        struct yard_http_config hc = {.listen = cc->metrics_listen};
        rc = yard_http_start(&c->http, &c->loop, &hc, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "yard-control: %s\n", err);
            return rc;
        }
        yard_http_route(c->http, "/metrics", serve_metrics, c);
        yard_http_route(c->http, "/health", serve_health, c);
        yard_http_route(c->http, "/health/live", serve_health, c);
        yard_http_route(c->http, "/health/ready", serve_health, c);
    }

    if (c->cfg.cluster.enabled) {
        rc = yard_cluster_create(c, &c->cluster, err, sizeof(err));
        if (rc < 0) {
            fprintf(stderr, "yard-control: %s\n", err);
            return rc;
        }
    }

    c->tick = yard_loop_timer_add(&c->loop, TICK_MS, on_tick, c);
    c->fast = yard_loop_timer_add(&c->loop, SLOW_POLL_MS, on_fast, c);
    if (c->tick == NULL || c->fast == NULL || yard_loop_after(&c->loop, round_end, c) < 0) {
        fprintf(stderr, "yard-control: cannot create timers: %s\n", strerror(errno));
        return -ENOMEM;
    }
    fprintf(stderr, "yard-control: instance %s, node %s: API on %s, metrics on %s, dataplane %s\n",
            c->cfg.instance, c->node, cc->socket, c->http != NULL ? cc->metrics_listen : "(off)",
            yard_dp_state_name(c->dp.state));
    return 0;
}

static void stop(struct yard_ctl *c)
{
    /* Tell the cluster first, while everything still answers. */
    yard_cluster_leave(c->cluster, LEAVE_MS);
    yard_cluster_destroy(c->cluster);
    c->cluster = NULL;
    yard_api_fini(c);
    if (c->wal != NULL) {
        yard_wal_sync(c->wal);
        yard_wal_close(c->wal);
    }
    if (c->rpc != NULL)
        yard_rpc_server_close(c->rpc);
    if (c->http != NULL)
        yard_http_stop(c->http);
    yard_loop_timer_del(&c->loop, c->tick);
    yard_loop_timer_del(&c->loop, c->fast);
    yard_dpsync_fini(&c->dp);
    yard_registrar_fini(&c->reg);
    yard_ctl_dir_free(&c->dir);
    yard_loop_fini(&c->loop);
    yard_config_free(&c->cfg);
}

enum { OPT_STATE_DIR = 256, OPT_SOCKET, OPT_METRICS, OPT_NODE, OPT_CHECK, OPT_VERSION };

static int copy_opt(char *dst, size_t size, const char *value, const char *what)
{
    if (strlen(value) >= size) {
        fprintf(stderr, "yard-control: %s: \"%s\" is too long (at most %zu bytes)\n", what, value,
                size - 1);
        return -1;
    }
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"node", required_argument, NULL, OPT_NODE},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *config = DEFAULT_CONFIG;
    const char *state_dir = NULL, *socket_path = NULL, *metrics = NULL, *node = NULL;
    bool check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case OPT_STATE_DIR:
            state_dir = optarg;
            break;
        case OPT_SOCKET:
            socket_path = optarg;
            break;
        case OPT_METRICS:
            metrics = optarg;
            break;
        case OPT_NODE:
            node = optarg;
            break;
        case OPT_CHECK:
            check_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("yard-control %s\n", YARD_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "yard-control: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct yard_ctl *c = &ctl;
    c->start_ns = yard_monotonic_ns();
    static char err[8192];
    if (yard_config_load(config, &c->cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    snprintf(c->config_path, sizeof(c->config_path), "%s", config);
    struct yard_control_conf *cc = &c->cfg.control;
    if ((state_dir && copy_opt(cc->state_dir, sizeof(cc->state_dir), state_dir, "--state-dir")) ||
        (socket_path && copy_opt(cc->socket, sizeof(cc->socket), socket_path, "--socket")) ||
        (metrics &&
         copy_opt(cc->metrics_listen, sizeof(cc->metrics_listen), metrics, "--metrics")) ||
        (node && copy_opt(cc->node_name, sizeof(cc->node_name), node, "--node")))
        return 2;
    /* "off" from --metrics; "" when the file says off. */
    if (strcmp(cc->metrics_listen, "off") != 0 && cc->metrics_listen[0] != 0) {
        uint32_t addr;
        uint16_t port;
        if (yard_http_parse_listen(cc->metrics_listen, &addr, &port) < 0) {
            fprintf(stderr, "yard-control: metrics address \"%s\": expected ADDR:PORT or off\n",
                    cc->metrics_listen);
            return 2;
        }
    }
    snprintf(c->node, sizeof(c->node), "%s", cc->node_name);
    c->node_len = (unsigned)strlen(c->node);
    if (check_only) {
        printf("%s: ok (instance %s, node %s, state in %s, API on %s)\n", config, c->cfg.instance,
               c->node, cc->state_dir, cc->socket);
        yard_config_free(&c->cfg);
        return 0;
    }

    signal(SIGPIPE, SIG_IGN);
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    int rc = yard_loop_init(&c->loop);
    if (rc == 0)
        rc = yard_loop_signals(&c->loop, sigs, 3, on_signal, c);
    if (rc == 0)
        rc = yard_ctl_dir_init(&c->dir, yard_ctl_now_ms());
    if (rc == 0)
        rc = yard_registrar_init(&c->reg);
    if (rc < 0) {
        fprintf(stderr, "yard-control: start-up: %s\n", strerror(-rc));
        return 1;
    }
    yard_dpsync_init(&c->dp, c->cfg.instance, &c->dir);
    if (start(c) < 0) {
        stop(c);
        return 1;
    }
    rc = yard_loop_run(&c->loop);
    fprintf(stderr, "yard-control: stopping\n");
    stop(c);
    return rc < 0 ? 1 : 0;
}
