/*
 * agent.c - the main lcore: slow paths, commands, replies, timers,
 * heartbeats.
 *
 * Everything the workers must not do on their hot path comes here, and
 * every change to shared tables is made here, by this one writer, followed
 * by one QSBR grace period per batch (yard_dir_reclaim) before anything
 * retired is freed.
 *
 * Commands come in bursts from the control plane (a full sync re-sends the
 * whole directory), so the agent drains the ring while it holds anything:
 * a slice of about 2 ms of commands, then one grace period and the
 * published progress, then the next slice. A million adds go through in
 * well under a second this way; one burst per 1 ms tick would take minutes.
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
#include "reply.h"

#define AGENT_TICK_US         1000
#define SLOW_BATCH            64
#define CMD_BURST             256
#define CMD_SLICE_US          2000
#define REPLIES_PER_TICK      256
#define STATS_PERIOD_MS       100
#define NEIGH_TIMER_PERIOD_MS 10
#define REJECT_LOG_PER_S      10 /* rejected commands logged per second; the rest counted */
#define RELOAD_LOG_MAX        10 /* refused routes logged per reload */

static volatile sig_atomic_t reload_requested;

/* Agent-private command bookkeeping, published in the shm header. */
static struct {
    uint64_t applied, rejected;
    uint32_t generation; /* of the last SYNC_END, published with its batch */
    bool generation_done;
    uint64_t log_window_tsc; /* start of the current rejection-log second */
    unsigned logged;
    uint64_t unlogged;
    uint64_t next_stats_tsc, next_timers_tsc;
} agent;

void yard_agent_request_reload(void)
{
    reload_requested = 1;
}

void yard_agent_publish_directory(void)
{
    struct yard_shm_header *h = yard_dp.shm.hdr;
    __atomic_store_n(&h->dir_names, yard_dir_count(yard_dp.dir), __ATOMIC_RELAXED);
    __atomic_store_n(&h->dir_locations, yard_dp.dests.nb_locations, __ATOMIC_RELAXED);
    __atomic_store_n(&h->dir_capacity, yard_dir_capacity(yard_dp.dir), __ATOMIC_RELAXED);
    __atomic_store_n(&h->dir_bytes, yard_dir_bytes(yard_dp.dir), __ATOMIC_RELAXED);
    __atomic_store_n(&h->cmd_applied, agent.applied, __ATOMIC_RELAXED);
    __atomic_store_n(&h->cmd_rejected, agent.rejected, __ATOMIC_RELAXED);
    __atomic_store_n(&h->sync_swept, yard_dp.dests.swept, __ATOMIC_RELAXED);
    __atomic_store_n(&h->dir_members, yard_members_count(&yard_dp.members), __ATOMIC_RELAXED);
    __atomic_store_n(&h->sync_members_swept, yard_dp.members.swept, __ATOMIC_RELAXED);
}

int yard_agent_load_routes(char *err, unsigned long errlen)
{
    const struct yard_config *cfg = &yard_dp.cfg;
    int ret = 0;
    yard_dest_config_begin(&yard_dp.dests);
    for (unsigned i = 0; i < cfg->nb_routes && ret == 0; i++) {
        char why[256];
        ret = yard_dest_set_config(&yard_dp.dests, &cfg->routes[i], why, sizeof(why));
        if (ret < 0)
            snprintf(err, errlen, "config %s: routes[%u]: %s", cfg->path, i, why);
    }
    yard_dir_reclaim(yard_dp.dir);
    yard_agent_publish_directory();
    return ret;
}

static int cmp_route_name(const void *a, const void *b)
{
    return strcmp(((const struct yard_route_conf *)a)->name,
                  ((const struct yard_route_conf *)b)->name);
}

/* SIGHUP: make the directory's CONFIG locations match the file again. */
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
    yard_dest_config_begin(&yard_dp.dests);
    unsigned failed = 0;
    for (unsigned i = 0; i < next.nb_routes; i++) {
        char why[256];
        if (yard_dest_set_config(&yard_dp.dests, &next.routes[i], why, sizeof(why)) < 0 &&
            ++failed <= RELOAD_LOG_MAX)
            fprintf(stderr, "yard-dataplane: reload: config %s: routes[%u]: %s\n", next.path, i,
                    why);
    }
    for (unsigned p = 0; p < yard_dp.nb_ports; p++)
        yard_neigh_reload_end(&yard_dp.ports[p], st);
    /* What the old file had and the new one does not goes now. */
    struct yard_route_conf *old = yard_dp.cfg.routes;
    unsigned nb_old = yard_dp.cfg.nb_routes, removed = 0;
    yard_dest_config_end(&yard_dp.dests, old, nb_old);
    yard_dir_reclaim(yard_dp.dir);
    yard_agent_publish_directory();

    struct yard_route_conf *running_routes = next.routes;
    unsigned nb_running = next.nb_routes;
    if (nb_running > 0)
        qsort(running_routes, nb_running, sizeof(*running_routes), cmp_route_name);
    for (unsigned i = 0; i < nb_old; i++)
        removed += nb_running == 0 || bsearch(&old[i], running_routes, nb_running,
                                              sizeof(*running_routes), cmp_route_name) == NULL;
    if (failed > 0)
        fprintf(stderr,
                "yard-dataplane: reloaded %s: %u routes installed, %u removed, %u refused\n",
                next.path, nb_running - failed, removed, failed);
    else
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

/* ---- commands ---- */

static int apply_command(const struct yard_cmd *cmd, char *why, size_t whylen)
{
    const struct yard_cmd_loc *l = &cmd->u.loc;
    switch (cmd->type) {
    case YARD_CMD_LOC_ADD: {
        struct yard_loc_spec spec = {
            .ipv4 = l->ipv4,
            .udp_port = l->udp_port,
            .dest_type = l->dest_type,
            .origin = l->origin,
            .node = l->node,
            .mac = l->has_mac ? l->mac : NULL,
        };
        return yard_dest_add(&yard_dp.dests, l->name, l->name_len, &spec, why, whylen);
    }
    case YARD_CMD_LOC_DEL:
        return yard_dest_del_loc(&yard_dp.dests, l->name, l->name_len, l->ipv4, l->udp_port, why,
                                 whylen);
    case YARD_CMD_NAME_DEL:
        return yard_dest_del_name(&yard_dp.dests, l->name, l->name_len, why, whylen);
    case YARD_CMD_MEMBER_ADD:
        return yard_members_add(&yard_dp.members, cmd->u.member.ipv4, cmd->u.member.node, why,
                                whylen);
    case YARD_CMD_MEMBER_DEL:
        return yard_members_del(&yard_dp.members, cmd->u.member.ipv4, cmd->u.member.node);
    case YARD_CMD_SYNC_BEGIN:
        yard_dest_sync_begin(&yard_dp.dests, cmd->generation);
        yard_members_sync_begin(&yard_dp.members, cmd->generation);
        return 0;
    case YARD_CMD_SYNC_END: {
        /* Both sides of a sync open and close together, so a SYNC_END that
         * one accepts the other accepts too; the locations go first, and a
         * sweep that failed for memory is retried whole by the next end. */
        uint64_t swept;
        int ret = yard_dest_sync_end(&yard_dp.dests, cmd->generation, &swept, why, whylen);
        if (ret == 0)
            ret = yard_members_sync_end(&yard_dp.members, cmd->generation, &swept, why, whylen);
        if (ret == 0) {
            agent.generation = cmd->generation;
            agent.generation_done = true;
        }
        return ret;
    }
    default:
        snprintf(why, whylen, "unknown command type %u; this dataplane speaks shm ABI %u",
                 cmd->type, YARD_SHM_ABI_VERSION);
        return -EINVAL;
    }
}

/* A refused command is logged, at most REJECT_LOG_PER_S a second. */
static void log_rejection(const struct yard_cmd *cmd, const char *why)
{
    uint64_t now = rte_rdtsc();
    if (now - agent.log_window_tsc >= yard_dp.tsc_hz) {
        if (agent.unlogged > 0)
            fprintf(stderr, "yard-dataplane: %llu more commands refused (see cmd_rejected)\n",
                    (unsigned long long)agent.unlogged);
        agent.log_window_tsc = now;
        agent.logged = 0;
        agent.unlogged = 0;
    }
    if (agent.logged++ < REJECT_LOG_PER_S)
        fprintf(stderr, "yard-dataplane: command %llu refused: %s\n", (unsigned long long)cmd->seq,
                why);
    else
        agent.unlogged++;
}

/* The batch's member changes go live; a failed publish is retried by the
 * agent's next tick (the changes stay pending, nothing is lost). */
static void publish_members(void)
{
    if (yard_members_publish(&yard_dp.members) < 0) {
        static uint64_t last_log_tsc;
        uint64_t now = rte_rdtsc();
        if (now - last_log_tsc >= yard_dp.tsc_hz) {
            fprintf(stderr, "yard-dataplane: out of memory publishing the cluster members; "
                            "retrying every tick\n");
            last_log_tsc = now;
        }
    }
}

static void publish_progress(uint64_t last_seq)
{
    yard_agent_publish_directory();
    if (agent.generation_done) {
        __atomic_store_n(&yard_dp.shm.hdr->dataplane.generation, agent.generation,
                         __ATOMIC_RELEASE);
        agent.generation_done = false;
    }
    /* Callers wait on this: publish only once the batch is live. */
    __atomic_store_n(&yard_dp.shm.hdr->cmd_applied_seq, last_seq, __ATOMIC_RELEASE);
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

/* Ports' links, heartbeat, port counters and neighbor timers, each when due. */
static void housekeeping(struct yard_lcore_stats *st)
{
    uint64_t now = rte_rdtsc();
    uint64_t tsc_ms = yard_dp.tsc_hz / 1000;
    /* Every tick: a memif peer that reconnects is polled again within ~1 ms. */
    yard_ports_poll_links();
    if (now >= agent.next_timers_tsc) {
        for (unsigned p = 0; p < yard_dp.nb_ports; p++)
            yard_neigh_timers(&yard_dp.ports[p], now, st);
        agent.next_timers_tsc = now + NEIGH_TIMER_PERIOD_MS * tsc_ms;
    }
    if (now >= agent.next_stats_tsc) {
        __atomic_store_n(&yard_dp.shm.hdr->dataplane.heartbeat_ns, yard_monotonic_ns(),
                         __ATOMIC_RELEASE);
        yard_ports_export_stats();
        agent.next_stats_tsc = now + STATS_PERIOD_MS * tsc_ms;
    }
}

unsigned long yard_agent_serve_commands(struct yard_lcore_stats *st)
{
    static struct yard_cmd cmds[CMD_BURST];
    struct rte_ring *ring = yard_shm_cmd_ring(&yard_dp.shm);
    uint64_t slice_tsc = yard_dp.tsc_hz / 1000000 * CMD_SLICE_US;
    unsigned long total = 0;
    for (;;) {
        uint64_t end = rte_rdtsc() + slice_tsc;
        unsigned long taken = 0;
        uint64_t last_seq = 0;
        do {
            unsigned n =
                rte_ring_sc_dequeue_burst_elem(ring, cmds, sizeof(cmds[0]), CMD_BURST, NULL);
            if (n == 0)
                break;
            for (unsigned i = 0; i < n; i++) {
                char why[256];
                if (apply_command(&cmds[i], why, sizeof(why)) == 0) {
                    agent.applied++;
                } else {
                    agent.rejected++;
                    log_rejection(&cmds[i], why);
                }
            }
            last_seq = cmds[n - 1].seq;
            taken += n;
        } while (rte_rdtsc() < end);
        if (taken == 0)
            break;
        total += taken;
        publish_members();
        yard_dir_reclaim(yard_dp.dir);
        publish_progress(last_seq);
        /* Stay responsive while a long sync streams in. */
        serve_slow_rings(st);
        yard_replies_serve(st, REPLIES_PER_TICK);
        housekeeping(st);
    }
    return total;
}

void yard_agent_run(void)
{
    struct yard_lcore_stats *st = yard_shm_lcore(&yard_dp.shm, yard_dp.agent_lcore);
    struct timespec tick = {0, AGENT_TICK_US * 1000L};

    while (!yard_dp.quit) {
        serve_slow_rings(st);
        yard_replies_serve(st, REPLIES_PER_TICK);
        yard_agent_serve_commands(st);
        if (yard_dp.members.dirty)
            publish_members();
        if (reload_requested) {
            reload_requested = 0;
            reload_routes(st);
        }
        housekeeping(st);
        nanosleep(&tick, NULL);
    }
    yard_ports_export_stats();
}
