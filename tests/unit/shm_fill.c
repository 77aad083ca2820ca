/*
 * shm_fill.c - stands in for a running dataplane so yardctl can be tested
 * against a real segment: creates an instance with yard_shm_create, fills
 * it with the fixed numbers below, keeps its heartbeat fresh and, with
 * --rate, counts traffic at a known rate.
 *
 *   shm_fill INSTANCE [--rate MSGS_PER_S] [--seconds N] [--abi V]
 *                     [--pid PID] [--no-heartbeat] [--keep]
 *
 * Prints "ready" on stdout once the segment is filled, then runs until
 * SIGINT/SIGTERM or N seconds (default 60), and unlinks the segment unless
 * --keep. --pid writes PID as the dataplane's (0: as a dataplane that shut
 * down cleanly leaves it). test_yardctl.py holds the same numbers and checks yardctl's output
 * against them; keep the two in step.
 *
 * Fixed contents:
 *   header   tsc_hz 2e9, mode 1 (pipeline), ready, cmd_applied_seq 42,
 *            dataplane generation 7; directory: 3000 names, 3500 locations,
 *            capacity 65536, 9437184 bytes; commands applied 40, rejected 2;
 *            sync_swept 5
 *   lcore 0  agent, socket 0: arp_rx 5, arp_replies 5; drop arp_ignored 3
 *   lcore 2  worker, socket 0: rx_packets 1000, rx_messages 990, routed 900,
 *            tx_packets 880, busy_cycles 3e6; drops bad_envelope 10,
 *            no_route 60, shed 30, tx_full 20; classes routed 500/300/100/0,
 *            tx 490/290/100/0, dropped 10/10/0/30;
 *            latency 90 x 2000 ns, 9 x 20000 ns, 1 x 500000 ns
 *   lcore 3  worker, socket 0: rx_packets 500, rx_messages 500, routed 500,
 *            tx_packets 500, busy_cycles 1e6; latency 100 x 2000 ns
 *   lcore 5  NOT in use, but holding rx_packets 777777 and no_route 777777
 *            (a reader must skip it)
 *   port 0   "net_tap0", 02:00:5e:00:00:01, 198.18.0.1/24, up 10000 Mbps,
 *            socket 0, ipackets 1500, opackets 1380, ibytes 150000,
 *            obytes 138000, imissed 4, ierrors 1, oerrors 0, rx_nombuf 2
 *   port 1   NOT in use, named "ghost"
 * With --rate R, lcore 3 also counts R/s rx_packets, rx_messages, routed and
 * tx_packets, R/10 no_route and R/20 shed per second, and records a latency
 * of 50000 ns for each message.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "yard_shm.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void fill(struct yard_shm *shm)
{
    struct yard_shm_header *h = shm->hdr;
    h->tsc_hz = 2000000000ull;
    h->mode = 1;
    h->dataplane_ready = 1;
    h->cmd_applied_seq = 42;
    h->dataplane.generation = 7;
    h->dir_names = 3000;
    h->dir_locations = 3500;
    h->dir_capacity = 65536;
    h->dir_bytes = 9437184;
    h->cmd_applied = 40;
    h->cmd_rejected = 2;
    h->sync_swept = 5;

    struct yard_lcore_stats *agent = yard_shm_lcore(shm, 0);
    agent->role = YARD_ROLE_AGENT;
    agent->events[YARD_EV_ARP_RX] = 5;
    agent->events[YARD_EV_ARP_REPLIES] = 5;
    agent->drops[YARD_DROP_ARP_IGNORED] = 3;
    agent->in_use = 1;

    struct yard_lcore_stats *w = yard_shm_lcore(shm, 2);
    w->role = YARD_ROLE_WORKER;
    w->events[YARD_EV_RX_PACKETS] = 1000;
    w->events[YARD_EV_RX_MESSAGES] = 990;
    w->events[YARD_EV_ROUTED] = 900;
    w->events[YARD_EV_TX_PACKETS] = 880;
    w->events[YARD_EV_BUSY_CYCLES] = 3000000;
    w->drops[YARD_DROP_BAD_ENVELOPE] = 10;
    w->drops[YARD_DROP_NO_ROUTE] = 60;
    w->drops[YARD_DROP_SHED] = 30;
    w->drops[YARD_DROP_TX_FULL] = 20;
    const uint64_t routed[] = {500, 300, 100, 0}, tx[] = {490, 290, 100, 0},
                   dropped[] = {10, 10, 0, 30};
    for (int c = 0; c < YARD_NB_CLASSES; c++) {
        w->class_routed[c] = routed[c];
        w->class_tx[c] = tx[c];
        w->class_dropped[c] = dropped[c];
    }
    for (int i = 0; i < 90; i++)
        yard_hist_record(&w->latency, 2000);
    for (int i = 0; i < 9; i++)
        yard_hist_record(&w->latency, 20000);
    yard_hist_record(&w->latency, 500000);
    w->in_use = 1;

    struct yard_lcore_stats *w3 = yard_shm_lcore(shm, 3);
    w3->role = YARD_ROLE_WORKER;
    w3->events[YARD_EV_RX_PACKETS] = 500;
    w3->events[YARD_EV_RX_MESSAGES] = 500;
    w3->events[YARD_EV_ROUTED] = 500;
    w3->events[YARD_EV_TX_PACKETS] = 500;
    w3->events[YARD_EV_BUSY_CYCLES] = 1000000;
    for (int i = 0; i < 100; i++)
        yard_hist_record(&w3->latency, 2000);
    w3->in_use = 1;

    struct yard_lcore_stats *unused = yard_shm_lcore(shm, 5);
    unused->events[YARD_EV_RX_PACKETS] = 777777;
    unused->drops[YARD_DROP_NO_ROUTE] = 777777;

    struct yard_port_stats *p = yard_shm_port(shm, 0);
    p->port_id = 0;
    snprintf(p->name, sizeof(p->name), "net_tap0");
    const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x01};
    memcpy(p->mac, mac, sizeof(mac));
    p->ipv4 = inet_addr("198.18.0.1");
    p->prefix_len = 24;
    p->link_up = 1;
    p->link_speed_mbps = 10000;
    p->socket = 0;
    p->ipackets = 1500;
    p->opackets = 1380;
    p->ibytes = 150000;
    p->obytes = 138000;
    p->imissed = 4;
    p->ierrors = 1;
    p->oerrors = 0;
    p->rx_nombuf = 2;
    p->in_use = 1;

    snprintf(yard_shm_port(shm, 1)->name, sizeof(p->name), "ghost");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: shm_fill INSTANCE [--rate R] [--seconds N] [--abi V] "
                        "[--pid PID] [--no-heartbeat] [--keep]\n");
        return 2;
    }
    const char *instance = argv[1];
    double rate = 0, seconds = 60;
    long abi = -1, pid = -1;
    int heartbeat = 1, keep = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
            rate = atof(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--abi") == 0 && i + 1 < argc)
            abi = atol(argv[++i]);
        else if (strcmp(argv[i], "--pid") == 0 && i + 1 < argc)
            pid = atol(argv[++i]);
        else if (strcmp(argv[i], "--no-heartbeat") == 0)
            heartbeat = 0;
        else if (strcmp(argv[i], "--keep") == 0)
            keep = 1;
        else {
            fprintf(stderr, "shm_fill: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    struct yard_shm shm;
    char err[512];
    if (yard_shm_create(&shm, instance, err, sizeof(err)) != 0) {
        fprintf(stderr, "shm_fill: %s\n", err);
        return 1;
    }
    fill(&shm);
    if (abi >= 0)
        shm.hdr->abi_version = (uint32_t)abi;
    if (pid >= 0)
        shm.hdr->dataplane.pid = (int32_t)pid;
    printf("ready\n");
    fflush(stdout);

    struct yard_lcore_stats *w3 = yard_shm_lcore(&shm, 3);
    uint64_t start = yard_monotonic_ns();
    uint64_t msgs_done = 0, no_route_done = 0, shed_done = 0;
    const struct timespec tick = {0, 10000000};
    while (!stop) {
        uint64_t now = yard_monotonic_ns();
        double elapsed = (double)(now - start) / 1e9;
        if (elapsed >= seconds)
            break;
        if (heartbeat)
            __atomic_store_n(&shm.hdr->dataplane.heartbeat_ns, now, __ATOMIC_RELEASE);
        if (rate > 0) {
            uint64_t msgs = (uint64_t)(rate * elapsed) - msgs_done;
            uint64_t no_route = (uint64_t)(rate / 10 * elapsed) - no_route_done;
            uint64_t shed = (uint64_t)(rate / 20 * elapsed) - shed_done;
            w3->events[YARD_EV_RX_PACKETS] += msgs;
            w3->events[YARD_EV_RX_MESSAGES] += msgs;
            w3->events[YARD_EV_ROUTED] += msgs;
            w3->events[YARD_EV_TX_PACKETS] += msgs;
            w3->drops[YARD_DROP_NO_ROUTE] += no_route;
            w3->drops[YARD_DROP_SHED] += shed;
            for (uint64_t i = 0; i < msgs; i++)
                yard_hist_record(&w3->latency, 50000);
            msgs_done += msgs;
            no_route_done += no_route;
            shed_done += shed;
        }
        nanosleep(&tick, NULL);
    }
    yard_shm_close(&shm);
    if (!keep)
        yard_shm_unlink(instance);
    return 0;
}
