/*
 * telemetry.c - the dataplane's counters through DPDK telemetry, so that
 * dpdk-telemetry.py (and anything that speaks its socket) sees them as DPDK
 * users expect: /yard/stats (totals by event and drop reason), /yard/lcores
 * (per-lcore counters) and /yard/latency (in-appliance latency). Names come
 * from the one table in yard_counters.h. Callbacks run on the telemetry
 * thread and only read the single-writer counters.
 */
#include <stdio.h>

#include <rte_telemetry.h>

#include "dp.h"
#include "telemetry.h"

static void sum_lcores(struct yard_lcore_stats *total)
{
    yard_shm_lcores_total(&yard_dp.shm, total);
}

static int tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd;
    (void)params;
    static struct yard_lcore_stats total;
    sum_lcores(&total);
    rte_tel_data_start_dict(d);
    for (unsigned e = 0; e < YARD_EV_MAX; e++)
        rte_tel_data_add_dict_u64(d, yard_event_name(e), total.events[e]);
    for (unsigned r = 0; r < YARD_DROP_MAX; r++) {
        char name[64];
        snprintf(name, sizeof(name), "drop_%s", yard_drop_name(r));
        rte_tel_data_add_dict_u64(d, name, total.drops[r]);
    }
    for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
        char name[64];
        snprintf(name, sizeof(name), "class%u_routed", c);
        rte_tel_data_add_dict_u64(d, name, total.class_routed[c]);
        snprintf(name, sizeof(name), "class%u_tx", c);
        rte_tel_data_add_dict_u64(d, name, total.class_tx[c]);
        snprintf(name, sizeof(name), "class%u_dropped", c);
        rte_tel_data_add_dict_u64(d, name, total.class_dropped[c]);
    }
    /* The directory as the agent last published it in shm (this thread
     * must not read the agent's own state). */
    const struct yard_shm_header *h = yard_dp.shm.hdr;
    rte_tel_data_add_dict_u64(d, "routes", __atomic_load_n(&h->dir_names, __ATOMIC_RELAXED));
    rte_tel_data_add_dict_u64(d, "locations", __atomic_load_n(&h->dir_locations, __ATOMIC_RELAXED));
    rte_tel_data_add_dict_u64(d, "directory_capacity",
                              __atomic_load_n(&h->dir_capacity, __ATOMIC_RELAXED));
    rte_tel_data_add_dict_u64(d, "directory_bytes",
                              __atomic_load_n(&h->dir_bytes, __ATOMIC_RELAXED));
    rte_tel_data_add_dict_u64(d, "cmd_applied", __atomic_load_n(&h->cmd_applied, __ATOMIC_RELAXED));
    rte_tel_data_add_dict_u64(d, "cmd_rejected",
                              __atomic_load_n(&h->cmd_rejected, __ATOMIC_RELAXED));
    rte_tel_data_add_dict_u64(d, "sync_swept", __atomic_load_n(&h->sync_swept, __ATOMIC_RELAXED));
    return 0;
}

static int tel_latency(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd;
    (void)params;
    static struct yard_lcore_stats total;
    sum_lcores(&total);
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "count", total.latency.count);
    rte_tel_data_add_dict_u64(d, "p50_ns", yard_hist_quantile(&total.latency, 0.50));
    rte_tel_data_add_dict_u64(d, "p99_ns", yard_hist_quantile(&total.latency, 0.99));
    rte_tel_data_add_dict_u64(d, "p999_ns", yard_hist_quantile(&total.latency, 0.999));
    rte_tel_data_add_dict_u64(d, "max_ns", total.latency.max_ns);
    return 0;
}

static int tel_lcores(const char *cmd, const char *params, struct rte_tel_data *d)
{
    (void)cmd;
    (void)params;
    rte_tel_data_start_dict(d);
    for (unsigned l = 0; l < YARD_MAX_LCORES; l++) {
        const struct yard_lcore_stats *st = yard_shm_lcore(&yard_dp.shm, l);
        if (!st->in_use)
            continue;
        struct rte_tel_data *lc = rte_tel_data_alloc();
        if (lc == NULL)
            return -1;
        rte_tel_data_start_dict(lc);
        rte_tel_data_add_dict_u64(lc, "role", st->role);
        rte_tel_data_add_dict_u64(lc, "rx_packets", st->events[YARD_EV_RX_PACKETS]);
        rte_tel_data_add_dict_u64(lc, "routed", st->events[YARD_EV_ROUTED]);
        rte_tel_data_add_dict_u64(lc, "tx_packets", st->events[YARD_EV_TX_PACKETS]);
        uint64_t drops = 0;
        for (unsigned r = 0; r < YARD_DROP_MAX; r++)
            drops += st->drops[r];
        rte_tel_data_add_dict_u64(lc, "dropped", drops);
        char name[32];
        snprintf(name, sizeof(name), "lcore%u", l);
        rte_tel_data_add_dict_container(d, name, lc, 0);
    }
    return 0;
}

void yard_telemetry_register(void)
{
    rte_telemetry_register_cmd("/yard/stats", tel_stats,
                               "Switchyard totals: events, drops by reason, per class. No params");
    rte_telemetry_register_cmd("/yard/latency", tel_latency,
                               "Switchyard in-appliance latency percentiles (ns). No params");
    rte_telemetry_register_cmd("/yard/lcores", tel_lcores,
                               "Switchyard per-lcore counters. No params");
}
