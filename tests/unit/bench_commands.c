/*
 * bench_commands.c - how fast the agent makes LOC_ADD commands live, and
 * what a name costs in memory.
 *
 *   bench_commands [--names N] [--pairs P] [--no-huge]
 *
 * A producer thread (on its own CPU when there is one) pushes N LOC_ADD
 * commands for N distinct names through the real shm command ring, spread
 * over P distinct address:port pairs, as fast as the ring takes them; the
 * main thread runs the agent's command loop (yard_agent_serve_commands)
 * until cmd_applied_seq says the last one is live. Prints the elapsed time
 * from the first push, commands per second, and the directory's bytes per
 * name as the shm header reports them (hash table + route objects).
 *
 * The EAL runs in memory (no shared files) on hugepages unless --no-huge,
 * with a directory sized for N names. Defaults: N = 1,000,000, P = 4000.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ring.h>

#include "agent.h"
#include "dp.h"
#include "neigh.h"

struct yard_dp yard_dp; /* defined by main.c in the appliance */

static unsigned nb_names = 1000000, nb_pairs = 4000;
static volatile uint64_t first_push_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(unsigned cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *producer(void *arg)
{
    (void)arg;
    if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
        pin(1);
    struct rte_ring *r = yard_shm_cmd_ring(&yard_dp.shm);
    static struct yard_cmd batch[64];
    first_push_ns = now_ns();
    for (unsigned i = 0; i < nb_names;) {
        unsigned n = nb_names - i < 64 ? nb_names - i : 64;
        for (unsigned k = 0; k < n; k++) {
            unsigned id = i + k, pair = id % nb_pairs;
            struct yard_cmd *c = &batch[k];
            memset(c, 0, sizeof(*c));
            c->seq = id + 1;
            c->type = YARD_CMD_LOC_ADD;
            c->u.loc.name_len =
                (uint8_t)snprintf(c->u.loc.name, sizeof(c->u.loc.name), "svc.%07u.bench", id);
            c->u.loc.dest_type = YARD_DEST_ENDPOINT;
            c->u.loc.origin = YARD_ORIGIN_REGISTERED;
            c->u.loc.has_mac = 1;
            c->u.loc.mac[0] = 0x02;
            c->u.loc.mac[5] = (uint8_t)(pair % 250);
            c->u.loc.ipv4 = htonl(0xc6120100u | (2 + pair % 250)); /* 198.18.1.2-251 */
            c->u.loc.udp_port = (uint16_t)(10000 + pair / 250);
        }
        unsigned done = 0;
        while (done < n)
            done +=
                rte_ring_mp_enqueue_burst_elem(r, &batch[done], sizeof(batch[0]), n - done, NULL);
        i += n;
    }
    return NULL;
}

static int setup(bool huge, char *err, size_t errlen)
{
    memset(&yard_dp, 0, sizeof(yard_dp));
    memset(yard_dp.port_index, -1, sizeof(yard_dp.port_index));
    yard_config_defaults(&yard_dp.cfg);
    yard_dp.tsc_hz = rte_get_tsc_hz();
    yard_dp.data_udp_port_be = htons(7400);
    char name[64];
    snprintf(name, sizeof(name), "bcmd-%d", (int)getpid());
    int ret = yard_shm_create(&yard_dp.shm, name, err, errlen);
    if (ret < 0)
        return ret;
    yard_shm_unlink(name);
    yard_dp.nb_ports = 1;
    struct yard_port *port = &yard_dp.ports[0];
    port->port_id = 0;
    port->socket = SOCKET_ID_ANY;
    port->ipv4 = htonl(0xc6120101u); /* 198.18.1.1/24 */
    port->netmask = htonl(0xffffff00u);
    port->mtu = 1500;
    yard_dp.port_index[0] = 0;
    if (yard_neigh_table_create(port, 4096, SOCKET_ID_ANY) < 0) {
        snprintf(err, errlen, "no memory for the neighbor table");
        return -ENOMEM;
    }
    uint32_t capacity = 1024;
    while (capacity < nb_names)
        capacity *= 2;
    yard_dp.dir = yard_dir_create("bench_dir", capacity, SOCKET_ID_ANY);
    if (yard_dp.dir == NULL) {
        snprintf(err, errlen, "no memory for a directory of %u names (%s); %s", capacity,
                 rte_strerror(rte_errno),
                 huge ? "reserve more hugepages or use --no-huge" : "raise -m");
        return -ENOMEM;
    }
    yard_dests_init(&yard_dp.dests, yard_dp.dir);
    return 0;
}

int main(int argc, char **argv)
{
    bool huge = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--names") == 0 && i + 1 < argc)
            nb_names = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
            nb_pairs = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--no-huge") == 0)
            huge = false;
        else {
            fprintf(stderr, "usage: bench_commands [--names N] [--pairs P] [--no-huge]\n");
            return 2;
        }
    }
    if (nb_names == 0 || nb_pairs == 0 || nb_pairs > 250 * 50000) {
        fprintf(stderr, "bench_commands: --names must be > 0 and --pairs 1..12500000\n");
        return 2;
    }
    char prefix[64], mem[16];
    snprintf(prefix, sizeof(prefix), "bcmd-%d", (int)getpid());
    unsigned mb = 64 + (unsigned)(((uint64_t)nb_names * 400) >> 20);
    snprintf(mem, sizeof(mem), "%u", mb);
    /* --in-memory needs hugepages; without them, --no-shconf keeps files away. */
    char *eal[] = {argv[0],         "--no-telemetry", "--no-pci",          "-l", "0",  "-m", mem,
                   "--file-prefix", prefix,           "--log-level=error", NULL, NULL, NULL};
    int eal_argc = 10;
    if (huge) {
        eal[eal_argc++] = "--in-memory";
    } else {
        eal[eal_argc++] = "--no-huge";
        eal[eal_argc++] = "--no-shconf";
    }
    if (rte_eal_init(eal_argc, eal) < 0) {
        fprintf(stderr, "bench_commands: EAL start-up failed: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    char err[512];
    if (setup(huge, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_commands: %s\n", err);
        return 1;
    }
    pin(0);
    struct yard_lcore_stats *st = yard_shm_lcore(&yard_dp.shm, 0);
    pthread_t t;
    pthread_create(&t, NULL, producer, NULL);
    uint64_t calls = 0;
    while (__atomic_load_n(&yard_dp.shm.hdr->cmd_applied_seq, __ATOMIC_ACQUIRE) != nb_names) {
        if (yard_agent_serve_commands(st) == 0)
            sched_yield();
        calls++;
    }
    uint64_t done_ns = now_ns();
    pthread_join(t, NULL);

    const struct yard_shm_header *h = yard_dp.shm.hdr;
    double s = (double)(done_ns - first_push_ns) / 1e9;
    printf("%u LOC_ADD commands (%u address:port pairs) live in %.3f s: %.0f commands/s\n",
           nb_names, nb_pairs, s, nb_names / s);
    printf("applied %llu, rejected %llu; directory: %llu names, %llu locations, capacity %llu\n",
           (unsigned long long)h->cmd_applied, (unsigned long long)h->cmd_rejected,
           (unsigned long long)h->dir_names, (unsigned long long)h->dir_locations,
           (unsigned long long)h->dir_capacity);
    printf("directory memory %.1f MB: %.0f bytes per name (hash table sized for %llu names "
           "and route objects)\n",
           (double)h->dir_bytes / 1048576.0, (double)h->dir_bytes / (double)h->dir_names,
           (unsigned long long)h->dir_capacity);
    int rc = h->cmd_applied == nb_names && h->dir_names == nb_names ? 0 : 1;
    yard_dir_free(yard_dp.dir);
    yard_neigh_table_free(&yard_dp.ports[0]);
    yard_shm_close(&yard_dp.shm);
    rte_eal_cleanup();
    return rc;
}
