/*
 * metrics_fill.c - the fixed numbers the /metrics tests expect, written
 * into a segment as the dataplane would write them.
 *
 * Fixed contents:
 *   header   instance as created, tsc_hz 2e9, mode 0 (rtc), ready,
 *            generation 5, start epoch 1700000000.123456789 s,
 *            cmd_applied_seq 42, dir names 7, locations 12, capacity
 *            65536, bytes 1048576, cmd_applied 40, cmd_rejected 2,
 *            sync_swept 3; the caller's pid as the dataplane's
 *   lcore 0  agent: arp_rx 5, arp_replies 4; drop arp_ignored 3
 *   lcore 1  worker: rx_packets 1000, rx_messages 990, routed 900,
 *            tx_packets 880, busy_cycles 3e9 (1.5 s at 2 GHz); drops
 *            bad_envelope 10, no_route 60, shed 30, tx_full 20; classes
 *            routed 500/300/100/0, tx 490/290/100/0, dropped 10/10/0/30;
 *            latency 90 x 2000 ns, 9 x 20000 ns, 1 x 500000 ns
 *   lcore 3  tx: tx_packets 500; latency 100 x 100 ns, 100 x 3000000 ns
 *   lcore 4  NOT in use, holding rx_packets 777777 (must not appear)
 *   port 0   "net_tap0" 02:00:5e:00:00:01 198.18.0.1/24, up, 10000 Mbps,
 *            ipackets 1500, opackets 1380, ibytes 150000, obytes 138000,
 *            imissed 4, ierrors 1, oerrors 0, rx_nombuf 2
 *   port 1   NOT in use, named "ghost"
 */
#include "metrics_fill.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void metrics_fill_heartbeat(struct yard_shm *shm)
{
    __atomic_store_n(&shm->hdr->dataplane.heartbeat_ns, yard_monotonic_ns(), __ATOMIC_RELEASE);
}

void metrics_fill(struct yard_shm *shm)
{
    struct yard_shm_header *h = shm->hdr;
    h->tsc_hz = 2000000000ull;
    h->mode = 0;
    h->dataplane_ready = 1;
    h->dataplane.pid = (int32_t)getpid();
    h->dataplane.generation = 5;
    h->dataplane.start_epoch_ns = 1700000000123456789ull;
    h->cmd_applied_seq = 42;
    h->dir_names = 7;
    h->dir_locations = 12;
    h->dir_capacity = 65536;
    h->dir_bytes = 1048576;
    h->cmd_applied = 40;
    h->cmd_rejected = 2;
    h->sync_swept = 3;

    struct yard_lcore_stats *agent = yard_shm_lcore(shm, 0);
    agent->role = YARD_ROLE_AGENT;
    agent->events[YARD_EV_ARP_RX] = 5;
    agent->events[YARD_EV_ARP_REPLIES] = 4;
    agent->drops[YARD_DROP_ARP_IGNORED] = 3;
    agent->in_use = 1;

    struct yard_lcore_stats *w = yard_shm_lcore(shm, 1);
    w->role = YARD_ROLE_WORKER;
    w->events[YARD_EV_RX_PACKETS] = 1000;
    w->events[YARD_EV_RX_MESSAGES] = 990;
    w->events[YARD_EV_ROUTED] = 900;
    w->events[YARD_EV_TX_PACKETS] = 880;
    w->events[YARD_EV_BUSY_CYCLES] = 3000000000ull;
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

    struct yard_lcore_stats *t = yard_shm_lcore(shm, 3);
    t->role = YARD_ROLE_TX;
    t->events[YARD_EV_TX_PACKETS] = 500;
    for (int i = 0; i < 100; i++) {
        yard_hist_record(&t->latency, 100);
        yard_hist_record(&t->latency, 3000000);
    }
    t->in_use = 1;

    yard_shm_lcore(shm, 4)->events[YARD_EV_RX_PACKETS] = 777777;

    struct yard_port_stats *p = yard_shm_port(shm, 0);
    p->port_id = 0;
    snprintf(p->name, sizeof(p->name), "net_tap0");
    const uint8_t mac[6] = {0x02, 0x00, 0x5e, 0x00, 0x00, 0x01};
    memcpy(p->mac, mac, sizeof(mac));
    p->ipv4 = inet_addr("198.18.0.1");
    p->prefix_len = 24;
    p->link_up = 1;
    p->link_speed_mbps = 10000;
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

    metrics_fill_heartbeat(shm);
}

void metrics_fill_all_lcores(struct yard_shm *shm)
{
    for (unsigned i = 0; i < shm->hdr->max_lcores; i++) {
        struct yard_lcore_stats *l = yard_shm_lcore(shm, i);
        l->role = YARD_ROLE_WORKER;
        for (unsigned e = 0; e < YARD_EV_MAX; e++)
            l->events[e] = 1000003ull * (i + 1) + e;
        for (unsigned d = 0; d < YARD_DROP_MAX; d++)
            l->drops[d] = 17ull * (i + 1) + d;
        for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
            l->class_routed[c] = 1000ull * (i + 1) + c;
            l->class_tx[c] = 990ull * (i + 1) + c;
            l->class_dropped[c] = 10ull * (i + 1) + c;
        }
        /* latencies spread over the whole range, so every bucket line has a
         * different cumulative count */
        for (uint64_t ns = 100; ns < 40000000000ull; ns += ns / 7 + 1)
            yard_hist_record(&l->latency, ns);
        l->in_use = 1;
    }
}
