/*
 * main.c - yard-dataplane: arguments, start-up, run, shutdown.
 *
 *   yard-dataplane [EAL options] -- -c FILE [options]
 *
 * Start-up order matters and is the reverse of shutdown: configuration
 * (checked before the EAL so mistakes cost nothing), EAL, shared memory,
 * lcore roles, ports and pools, queues, directory and static routes, then
 * the lcores start and the main lcore becomes the agent.
 */
#define _LGPL_SOURCE
#include <urcu-qsbr.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "agent.h"
#include "dp.h"
#include "forward.h"
#include "lcores.h"
#include "ports.h"
#include "telemetry.h"
#include "worker.h"

#define DEFAULT_CONFIG "/etc/switchyard/yard.yaml"

struct yard_dp yard_dp;

struct options {
    const char *config;
    const char *mode;
    int burst;
    bool no_backoff;
    bool check_only;
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: yard-dataplane [EAL options] -- [options]\n"
        "\n"
        "Switchyard's dataplane: receives message envelopes on DPDK ports, looks each\n"
        "destination up and forwards it by priority class.\n"
        "\n"
        "EAL options (before --) are DPDK's own, e.g.:\n"
        "  -l 0,1                 lcores: the first is the main lcore (agent), the rest poll\n"
        "  -a 0000:01:00.0        a PCI device; --vdev net_memif0,role=server,... a virtual one\n"
        "  --file-prefix NAME     run beside other DPDK processes\n"
        "  --no-huge -m 512       run without hugepages (slower)\n"
        "\n"
        "Options (after --):\n"
        "  -c, --config FILE      YAML configuration (default %s)\n"
        "      --mode rtc|pipeline  override the configuration's mode\n"
        "      --burst N          override the rx/tx burst size (1-64)\n"
        "      --no-backoff       never sleep when idle (benchmarks)\n"
        "      --check-config     check the configuration file and exit\n"
        "  -h, --help             this text\n"
        "\n"
        "Signals: SIGINT/SIGTERM stop cleanly; SIGHUP reloads the routes of the file.\n"
        "Counters: yardctl -i <instance> stats\n",
        DEFAULT_CONFIG);
}

/* Options after "--". Returns 0, 1 for --help, or -1 on a usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"mode", required_argument, NULL, 'm'},
        {"burst", required_argument, NULL, 'b'},
        {"no-backoff", no_argument, NULL, 'n'},
        {"check-config", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'm':
            if (strcmp(optarg, "rtc") != 0 && strcmp(optarg, "pipeline") != 0) {
                fprintf(stderr, "yard-dataplane: --mode '%s': use rtc or pipeline\n", optarg);
                return -1;
            }
            o->mode = optarg;
            break;
        case 'b': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end != 0 || v < 1 || v > YARD_BURST_MAX) {
                fprintf(stderr, "yard-dataplane: --burst '%s': use a number from 1 to %d\n", optarg,
                        YARD_BURST_MAX);
                return -1;
            }
            o->burst = (int)v;
            break;
        }
        case 'n':
            o->no_backoff = true;
            break;
        case 'k':
            o->check_only = true;
            break;
        case 'h':
            return 1;
        default:
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "yard-dataplane: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* --help must work without an EAL (no hugepages needed to read it). */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 ||
            (strcmp(argv[i], "-h") == 0 && i > 1 && strcmp(argv[i - 1], "--") == 0))
            return true;
    return false;
}

static int app_args(int argc, char **argv, struct options *o)
{
    /* Everything after "--" is ours; EAL options come before it. getopt
     * permutes what it is given, so it gets a copy and argv stays intact
     * for the EAL. */
    int i = 1;
    while (i < argc && strcmp(argv[i], "--") != 0)
        i++;
    char *ours[argc + 1];
    int n = 0;
    ours[n++] = argv[0];
    for (int k = i + 1; k < argc; k++)
        ours[n++] = argv[k];
    ours[n] = NULL;
    return parse_options(n, ours, o);
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        yard_agent_request_reload();
    else
        yard_dp.quit = true;
}

static int load_config(const struct options *o)
{
    char err[8192];
    if (yard_config_load(o->config, &yard_dp.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "yard-dataplane: configuration refused:\n%s\n", err);
        return -1;
    }
    if (o->mode != NULL)
        yard_dp.cfg.mode = strcmp(o->mode, "pipeline") == 0 ? YARD_MODE_PIPELINE : YARD_MODE_RTC;
    if (o->burst > 0)
        yard_dp.cfg.burst = (uint16_t)o->burst;
    if (o->no_backoff)
        yard_dp.cfg.idle_backoff = false;
    if (yard_dp.cfg.mode == YARD_MODE_PIPELINE && yard_dp.cfg.nb_tx_lcores == 0) {
        fprintf(stderr,
                "yard-dataplane: config %s: pipeline mode needs tx_lcores; list at least one "
                "lcore under tx_lcores or run in rtc mode\n",
                yard_dp.cfg.path);
        return -1;
    }
    if (yard_dp.cfg.mode == YARD_MODE_RTC)
        yard_dp.cfg.nb_tx_lcores = 0; /* --mode rtc over a pipeline file */
    return 0;
}

static int setup(char *err, size_t errlen)
{
    int ret;
    if ((ret = yard_shm_create(&yard_dp.shm, yard_dp.cfg.instance, err, errlen)) < 0)
        return ret;
    yard_dp.tsc_hz = rte_get_tsc_hz();
    yard_dp.ns_per_tsc_q32 = (uint64_t)((1000000000.0 * 4294967296.0) / (double)yard_dp.tsc_hz);
    yard_dp.shm.hdr->tsc_hz = yard_dp.tsc_hz;
    yard_dp.shm.hdr->mode = yard_dp.cfg.mode;
    yard_dp.data_udp_port_be = rte_cpu_to_be_16(yard_dp.cfg.data_udp_port);
    memset(yard_dp.port_index, -1, sizeof(yard_dp.port_index));

    if ((ret = yard_lcores_roles(err, errlen)) < 0)
        return ret;
    if ((ret = yard_ports_setup(err, errlen)) < 0)
        return ret;
    if ((ret = yard_lcores_setup(err, errlen)) < 0)
        return ret;

    uint32_t capacity = yard_dp.cfg.directory_capacity;
    yard_dp.dir = yard_dir_create("yard_dir", capacity, (int)rte_socket_id());
    if (yard_dp.dir == NULL) {
        snprintf(err, errlen,
                 "config %s: directory_capacity: %u: cannot create a directory for that many "
                 "names (%s); reserve more hugepages or lower directory_capacity",
                 yard_dp.cfg.path, capacity, rte_strerror(rte_errno));
        return -ENOMEM;
    }
    yard_dests_init(&yard_dp.dests, yard_dp.dir);
    yard_members_init(&yard_dp.members);
    if ((ret = yard_agent_load_routes(err, errlen)) < 0)
        return ret;
    yard_forward_init();
    yard_telemetry_register();
    return yard_ports_start(err, errlen);
}

static void teardown(void)
{
    yard_ports_stop();
    yard_lcores_free();
    yard_dir_free(yard_dp.dir);
    yard_members_free(&yard_dp.members);
    if (yard_dp.shm.hdr != NULL) {
        yard_dp.shm.hdr->dataplane_ready = 0;
        yard_dp.shm.hdr->dataplane.pid = 0;
        yard_shm_close(&yard_dp.shm);
    }
    yard_config_free(&yard_dp.cfg);
}

static void print_summary(void)
{
    static struct yard_lcore_stats total;
    yard_shm_lcores_total(&yard_dp.shm, &total);
    uint64_t dropped = 0;
    for (unsigned r = 0; r < YARD_DROP_MAX; r++)
        dropped += total.drops[r];
    fprintf(stderr, "yard-dataplane: stopped: rx %lu, routed %lu, tx %lu, dropped %lu\n",
            (unsigned long)total.events[YARD_EV_RX_PACKETS],
            (unsigned long)total.events[YARD_EV_ROUTED],
            (unsigned long)total.events[YARD_EV_TX_PACKETS], (unsigned long)dropped);
}

int main(int argc, char **argv)
{
    struct options o = {.config = DEFAULT_CONFIG};

    if (wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    int ret = app_args(argc, argv, &o);
    if (ret != 0) {
        usage(stderr);
        return 2;
    }
    if (load_config(&o) < 0)
        return 1;
    if (o.check_only) {
        printf("%s: OK: instance %s, mode %s, %u ports, %u routes\n", yard_dp.cfg.path,
               yard_dp.cfg.instance, yard_mode_name(yard_dp.cfg.mode), yard_dp.cfg.nb_ports,
               yard_dp.cfg.nb_routes);
        yard_config_free(&yard_dp.cfg);
        return 0;
    }

    /* The EAL stops at "--"; our options were already read above. */
    int eal_argc = 1;
    while (eal_argc < argc && strcmp(argv[eal_argc], "--") != 0)
        eal_argc++;
    if (rte_eal_init(eal_argc, argv) < 0) {
        fprintf(stderr,
                "yard-dataplane: EAL start-up failed: %s; check the EAL options, "
                "hugepages (scripts/hugepages) and --file-prefix\n",
                rte_strerror(rte_errno));
        return 1;
    }

    char err[1024];
    if (setup(err, sizeof(err)) < 0) {
        fprintf(stderr, "yard-dataplane: %s\n", err);
        teardown();
        rte_eal_cleanup();
        return 1;
    }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);

    fprintf(stderr,
            "yard-dataplane: instance %s, mode %s, %u ports, %u workers, %u routes: running\n",
            yard_dp.cfg.instance, yard_mode_name(yard_dp.cfg.mode), yard_dp.nb_ports,
            yard_lcores_count(YARD_ROLE_WORKER), yard_dir_count(yard_dp.dir));
    __atomic_store_n(&yard_dp.shm.hdr->dataplane_ready, 1, __ATOMIC_RELEASE);

    rte_eal_mp_remote_launch(yard_lcore_main, NULL, SKIP_MAIN);
    yard_agent_run();
    rte_eal_mp_wait_lcore();

    print_summary();
    teardown();
    rte_eal_cleanup();
    return 0;
}
