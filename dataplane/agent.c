/*
 * agent.c - the main lcore: slow paths, commands, timers, heartbeats.
 *
 * Everything the workers must not do on their hot path comes here, and
 * every change to shared tables is made here, by this one writer, followed
 * by one QSBR grace period per batch (yard_dir_reclaim) before anything
 * retired is freed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ring_elem.h>

#include "agent.h"
#include "dp.h"
#include "neigh.h"
#include "ports.h"
#include "route.h"

#define AGENT_TICK_US         1000
#define SLOW_BATCH            64
#define CMD_BATCH             256
#define STATS_PERIOD_MS       100
#define NEIGH_TIMER_PERIOD_MS 10

static volatile sig_atomic_t reload_requested;

void yard_agent_request_reload(void)
{
    reload_requested = 1;
}

static int install_conf_routes(const struct yard_config *cfg, char *err, unsigned long errlen)
{
    for (unsigned i = 0; i < cfg->nb_routes; i++) {
        const struct yard_route_conf *rc = &cfg->routes[i];
        char why[256];
        int ret = yard_route_install(rc->name, rc->name_len, rc->ipv4, rc->udp_port,
                                     rc->has_mac ? rc->mac : NULL, why, sizeof(why));
        if (ret < 0) {
            snprintf(err, errlen, "config %s: routes[%u] ('%s'): %s", cfg->path, i, rc->name, why);
            return ret;
        }
    }
    return 0;
}

int yard_agent_load_routes(char *err, unsigned long errlen)
{
    int ret = install_conf_routes(&yard_dp.cfg, err, errlen);
    yard_dir_reclaim(yard_dp.dir);
    return ret;
}

static int cmp_route_name(const void *a, const void *b)
{
    return strcmp(((const struct yard_route_conf *)a)->name,
                  ((const struct yard_route_conf *)b)->name);
}

/* SIGHUP: make the directory's static part match the file again. */
static void reload_routes(struct yard_lcore_stats *st)
{
    struct yard_config next;
    char err[4096];
    if (yard_config_load(yard_dp.cfg.path, &next, err, sizeof(err)) < 0) {
        fprintf(stderr, "yard-dataplane: reload refused, keeping the running routes:\n%s\n", err);
        return;
    }
    for (unsigned p = 0; p < yard_dp.nb_ports; p++)
        yard_neigh_reload_begin(&yard_dp.ports[p]);
    int installed = install_conf_routes(&next, err, sizeof(err));
    for (unsigned p = 0; p < yard_dp.nb_ports; p++)
        yard_neigh_reload_end(&yard_dp.ports[p], st);
    if (installed < 0) {
        fprintf(stderr, "yard-dataplane: reload: %s\n", err);
        yard_config_free(&next);
        yard_dir_reclaim(yard_dp.dir);
        return;
    }
    /* Names in the old file but not the new one go away. */
    struct yard_route_conf *old = yard_dp.cfg.routes;
    unsigned nb_old = yard_dp.cfg.nb_routes, removed = 0;
    struct yard_route_conf *running_routes = next.routes;
    unsigned nb_running = next.nb_routes;
    if (nb_running > 0)
        qsort(running_routes, nb_running, sizeof(*running_routes), cmp_route_name);
    for (unsigned i = 0; i < nb_old; i++) {
        if (nb_running == 0 || bsearch(&old[i], running_routes, nb_running, sizeof(*running_routes),
                                       cmp_route_name) == NULL) {
            removed += yard_dir_del(yard_dp.dir, old[i].name, old[i].name_len) == 0;
        }
    }
    yard_dir_reclaim(yard_dp.dir);
    fprintf(stderr, "yard-dataplane: reloaded %s: %u routes installed, %u removed\n", next.path,
            nb_running, removed);
    /* Only the routes take effect without a restart: swap them in and let
     * the new file's other settings go with the old routes. */
    next.routes = old;
    next.nb_routes = nb_old;
    yard_dp.cfg.routes = running_routes;
    yard_dp.cfg.nb_routes = nb_running;
    yard_config_free(&next);
}

static void apply_command(const struct yard_cmd *cmd)
{
    char why[256];
    const struct yard_cmd_route *r = &cmd->u.route;
    unsigned len = r->name_len > YARD_NAME_MAX ? YARD_NAME_MAX : r->name_len;
    switch (cmd->type) {
    case YARD_CMD_ROUTE_ADD:
        if (yard_route_install(r->name, len, r->ipv4, r->udp_port, r->has_mac ? r->mac : NULL, why,
                               sizeof(why)) < 0)
            fprintf(stderr, "yard-dataplane: command %lu: %s\n", (unsigned long)cmd->seq, why);
        break;
    case YARD_CMD_ROUTE_DEL:
        yard_dir_del(yard_dp.dir, r->name, len);
        break;
    default:
        fprintf(stderr, "yard-dataplane: command %lu: unknown type %u ignored\n",
                (unsigned long)cmd->seq, cmd->type);
        break;
    }
}

static void serve_commands(void)
{
    struct rte_ring *ring = yard_shm_cmd_ring(&yard_dp.shm);
    static struct yard_cmd cmds[CMD_BATCH];
    unsigned n = rte_ring_dequeue_burst_elem(ring, cmds, sizeof(cmds[0]), CMD_BATCH, NULL);
    if (n == 0)
        return;
    for (unsigned i = 0; i < n; i++)
        apply_command(&cmds[i]);
    yard_dir_reclaim(yard_dp.dir);
    /* Callers wait on this: publish only once the batch is live. */
    __atomic_store_n(&yard_dp.shm.hdr->cmd_applied_seq, cmds[n - 1].seq, __ATOMIC_RELEASE);
}

static void serve_slow_rings(struct yard_lcore_stats *st)
{
    struct yard_slow_item items[SLOW_BATCH];
    for (unsigned l = 0; l < YARD_MAX_LCORES; l++) {
        struct yard_lcore *lc = yard_dp.lcores[l];
        if (lc == NULL || lc->slow == NULL)
            continue;
        unsigned n =
            rte_ring_sc_dequeue_burst_elem(lc->slow, items, sizeof(items[0]), SLOW_BATCH, NULL);
        for (unsigned i = 0; i < n; i++) {
            if (items[i].nh != NULL) {
                yard_neigh_hold(items[i].nh, items[i].m, st);
                continue;
            }
            struct yard_port *port = yard_dp_port(items[i].m->port);
            if (port == NULL) {
                st->drops[YARD_DROP_BAD_FRAME]++;
                rte_pktmbuf_free(items[i].m);
                continue;
            }
            yard_neigh_arp_input(port, items[i].m, st);
        }
    }
}

static void heartbeat(void)
{
    __atomic_store_n(&yard_dp.shm.hdr->dataplane.heartbeat_ns, yard_monotonic_ns(),
                     __ATOMIC_RELEASE);
}

void yard_agent_run(void)
{
    struct yard_lcore_stats *st = yard_shm_lcore(&yard_dp.shm, yard_dp.agent_lcore);
    uint64_t tsc_ms = yard_dp.tsc_hz / 1000;
    uint64_t next_stats = 0, next_timers = 0;
    struct timespec tick = {0, AGENT_TICK_US * 1000L};

    while (!yard_dp.quit) {
        uint64_t now = rte_rdtsc();
        serve_slow_rings(st);
        serve_commands();
        if (reload_requested) {
            reload_requested = 0;
            reload_routes(st);
        }
        if (now >= next_timers) {
            for (unsigned p = 0; p < yard_dp.nb_ports; p++)
                yard_neigh_timers(&yard_dp.ports[p], now, st);
            next_timers = now + NEIGH_TIMER_PERIOD_MS * tsc_ms;
        }
        if (now >= next_stats) {
            heartbeat();
            yard_ports_export_stats();
            next_stats = now + STATS_PERIOD_MS * tsc_ms;
        }
        nanosleep(&tick, NULL);
    }
    yard_ports_export_stats();
}
