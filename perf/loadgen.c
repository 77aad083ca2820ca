/*
 * loadgen.c - yard-loadgen: main(). Parses the options, runs the modes that
 * need no EAL, otherwise starts EAL, sets up one port with one queue pair,
 * prebuilds the frames, launches the worker lcore and reports from the main
 * lcore, which sleeps between reports so it can share a core with a router.
 *
 * Stopping: --duration or SIGINT/SIGTERM stops sending; the worker keeps
 * receiving for --drain-ms so messages still in flight are not counted as
 * lost, then the summary is printed.
 */
#include "loadgen.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#define NB_MBUFS 8191
#define NB_DESC  1024

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Split "EAL args -- options": without "--" every argument is an option. */
static void split_args(int argc, char **argv, int *eal_argc, int *app_argc, char ***app_argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            *eal_argc = i;
            argv[i] = argv[0]; /* the options' argv[0] */
            *app_argc = argc - i;
            *app_argv = argv + i;
            return;
        }
    }
    *eal_argc = 1;
    *app_argc = argc;
    *app_argv = argv;
}

static int find_port(const struct yard_lg_opts *o, uint16_t *port_id)
{
    if (o->port[0]) {
        if (rte_eth_dev_get_port_by_name(o->port, port_id) == 0)
            return 0;
        fprintf(stderr,
                "yard-loadgen: --port %s: no such ethdev; create it with --vdev or -a "
                "(there are %u ports)\n",
                o->port, rte_eth_dev_count_avail());
        return -ENODEV;
    }
    uint16_t id;
    RTE_ETH_FOREACH_DEV(id)
    {
        *port_id = id;
        return 0;
    }
    fprintf(stderr, "yard-loadgen: no ethdev; add one with --vdev (e.g. net_memif0,role=client,"
                    "socket=/run/yard/dp.sock) or -a PCI_ADDRESS\n");
    return -ENODEV;
}

static int port_start(const struct yard_lg_opts *o, uint16_t port_id, struct rte_mempool *pool)
{
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    uint16_t nb_rxd = NB_DESC, nb_txd = NB_DESC;
    char name[RTE_ETH_NAME_MAX_LEN] = "";
    rte_eth_dev_get_name_by_port(port_id, name);
    int rc = rte_eth_dev_configure(port_id, 1, 1, &conf);
    if (rc == 0)
        rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nb_rxd, &nb_txd);
    if (rc == 0)
        rc = rte_eth_rx_queue_setup(port_id, 0, nb_rxd, rte_eth_dev_socket_id(port_id), NULL, pool);
    if (rc == 0)
        rc = rte_eth_tx_queue_setup(port_id, 0, nb_txd, rte_eth_dev_socket_id(port_id), NULL);
    if (rc == 0)
        rc = rte_eth_dev_start(port_id);
    if (rc < 0) {
        fprintf(stderr, "yard-loadgen: port %s: setup failed: %s\n", name, rte_strerror(-rc));
        return rc;
    }
    rte_eth_promiscuous_enable(port_id); /* not every vdev has a MAC filter to open */

    double deadline = now_s() + o->link_timeout_s;
    struct rte_eth_link link;
    do {
        memset(&link, 0, sizeof(link));
        rte_eth_link_get_nowait(port_id, &link);
        if (link.link_status == RTE_ETH_LINK_UP)
            return 0;
        sleep_s(0.05);
    } while (now_s() < deadline && !stop_requested);
    fprintf(stderr,
            "yard-loadgen: port %s: link still down after %.0f s; for memif, is the server "
            "(the router) running with the same socket?\n",
            name, o->link_timeout_s);
    return -ENOLINK;
}

/* Report every --interval until --duration or a signal. */
static void report_loop(const struct yard_lg_opts *o, struct yard_lg_worker *w, double t0)
{
    FILE *out = o->json ? stderr : stdout;
    static struct yard_lg_snapshot prev, cur;
    yard_lg_snapshot_take(w, 0, &prev);
    double next = o->interval_s;
    while (!stop_requested) {
        double t = now_s() - t0;
        if (o->duration_s > 0 && t >= o->duration_s)
            break;
        if (t >= next) {
            yard_lg_snapshot_take(w, t, &cur);
            yard_lg_report_progress(out, o, &prev, &cur);
            prev = cur;
            next += o->interval_s;
            continue;
        }
        double wake = next;
        if (o->duration_s > 0 && o->duration_s < wake)
            wake = o->duration_s;
        double d = wake - t;
        sleep_s(d < 0.05 ? d : 0.05);
    }
}

static int run(const struct yard_lg_opts *o)
{
    uint16_t port_id;
    int rc = find_port(o, &port_id);
    if (rc < 0)
        return 1;
    struct rte_ether_addr mac;
    rte_eth_macaddr_get(port_id, &mac);
    if (o->emit_routes)
        return yard_lg_emit_routes(o, mac.addr_bytes);
    if (!o->router_mac_set) {
        fprintf(stderr, "yard-loadgen: --router-mac is required: the MAC of the router's port "
                        "(with memif, the mac= of its --vdev)\n");
        return 1;
    }
    unsigned lcore = rte_get_next_lcore(-1, 1, 0);
    if (lcore >= RTE_MAX_LCORE) {
        fprintf(stderr, "yard-loadgen: needs one worker lcore besides the main one, e.g. "
                        "--lcores 0@1,1@0 (main on CPU 1, worker on CPU 0)\n");
        return 1;
    }
    struct rte_mempool *pool = rte_pktmbuf_pool_create("yard_lg_pool", NB_MBUFS, 256, 0,
                                                       RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
    if (!pool) {
        fprintf(stderr, "yard-loadgen: mbuf pool of %u: %s; give EAL more memory (-m)\n", NB_MBUFS,
                rte_strerror(rte_errno));
        return 1;
    }
    struct yard_lg_templates templates;
    if (yard_lg_templates_build(o, mac.addr_bytes, &templates) < 0)
        return 1;
    if (port_start(o, port_id, pool) < 0) {
        yard_lg_templates_free(&templates);
        return 1;
    }
    struct yard_lg_worker *w = rte_zmalloc("yard_lg_worker", sizeof(*w), RTE_CACHE_LINE_SIZE);
    if (!w) {
        fprintf(stderr, "yard-loadgen: no memory for the worker's state; give EAL more (-m)\n");
        yard_lg_templates_free(&templates);
        return 1;
    }
    w->opts = o;
    w->templates = &templates;
    w->pool = pool;
    w->port_id = port_id;
    memcpy(w->mac, mac.addr_bytes, 6);
    w->tsc_hz = rte_get_tsc_hz();

    char name[RTE_ETH_NAME_MAX_LEN] = "", macs[18];
    rte_eth_dev_get_name_by_port(port_id, name);
    yard_lg_format_mac(mac.addr_bytes, macs);
    char rate[48] = "max (as fast as the port takes them)";
    if (o->rate_pps)
        snprintf(rate, sizeof(rate), "%llu msg/s", (unsigned long long)o->rate_pps);
    fprintf(o->json ? stderr : stdout,
            "yard-loadgen: port %s (%s), %u frames prebuilt, worker lcore %u, rate %s\n", name,
            macs, templates.nb_tmpl, lcore, rate);

    double t0 = now_s();
    rte_eal_remote_launch(yard_lg_worker_main, w, lcore);
    report_loop(o, w, t0);
    w->stop_tx = 1;
    rte_eal_wait_lcore(lcore);

    static struct yard_lg_snapshot end;
    yard_lg_snapshot_take(w, now_s() - t0, &end);
    yard_lg_report_summary(stdout, o->json, o, &end, w->tsc_hz, w->rx_port);

    rte_eth_dev_stop(port_id);
    rte_eth_dev_close(port_id);
    rte_free(w);
    yard_lg_templates_free(&templates);
    return 0;
}

int main(int argc, char **argv)
{
    int eal_argc, app_argc;
    char **app_argv;
    split_args(argc, argv, &eal_argc, &app_argc, &app_argv);
    static struct yard_lg_opts opts;
    int rc = yard_lg_opts_parse(app_argc, app_argv, &opts);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (opts.pcap_path[0])
        return yard_lg_write_pcap(&opts);
    if (opts.emit_routes && opts.src_mac_set)
        return yard_lg_emit_routes(&opts, opts.src_mac);
    if (opts.emit_routes && eal_argc == 1) {
        fprintf(stderr, "yard-loadgen: --emit-routes needs --src-mac MAC, or EAL args and a port "
                        "to read the MAC from\n");
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (rte_eal_init(eal_argc, argv) < 0) {
        fprintf(stderr, "yard-loadgen: EAL start-up failed: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    rc = run(&opts);
    rte_eal_cleanup();
    return rc;
}
