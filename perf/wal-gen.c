/*
 * wal-gen.c - writes a yard-control state directory holding N directory
 * entries, for the cold-start and directory-scale benchmarks.
 *
 *   wal-gen --state-dir DIR --names N [--origin route|static|registered]
 *           [--ipv4 A.B.C.D] [--port P] [--mac MAC] [--lease-ms L]
 *           [--snapshot] [--max-name-len L]
 *
 * Why it is built this way: the records go through the real WAL library
 * (yard_wal_append / yard_wal_sync, or yard_wal_compact for --snapshot) and
 * are encoded by yard-control's own records.c, so what yard-control replays
 * is byte for byte what it would have written itself after N routes.add
 * calls (or N REGISTERs), without spending minutes making them one RPC at a
 * time. The names are yard-loadgen's (names.c, names 0..N-1 with the same
 * --max-name-len), so a load generator run with --names N sends to exactly
 * these entries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "directory.h"
#include "names.h"
#include "records.h"
#include "wal.h"

/* Records per group commit: bounds the append buffer (about 8 MB). */
#define SYNC_EVERY 100000u

struct gen {
    unsigned names;
    unsigned max_name_len;
    struct yard_ctl_name name;
    struct yard_ctl_loc loc;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: wal-gen --state-dir DIR --names N [options]\n"
               "\n"
               "Writes N directory entries (LOC_ADD records, control/records.h) for the load\n"
               "generator's names 0..N-1 into a yard-control state directory, through the\n"
               "write-ahead log library.\n"
               "\n"
               "  --origin route|static|registered  what kind of entry (default route)\n"
               "  --ipv4 A.B.C.D     the location's address (default 198.18.0.2)\n"
               "  --port P           its UDP port (default 7500)\n"
               "  --mac MAC          a fixed next-hop MAC (routes only; default none: ARP)\n"
               "  --lease-ms L       lease of registered entries (default 30000)\n"
               "  --max-name-len L   longest name, as yard-loadgen's option (default 63)\n"
               "  --snapshot         write the entries as a snapshot (what compaction\n"
               "                     leaves) instead of as log records\n");
}

/* Entry i as a location of its own name; returns the record's length or 0. */
static size_t encode(struct gen *g, unsigned i, uint8_t *rec)
{
    g->name.len = (uint8_t)yard_bench_name(i, g->max_name_len, g->name.name);
    if (g->name.len == 0)
        return 0;
    return yard_rec_encode_add(rec, &g->loc);
}

static int emit_all(void *arg, struct yard_wal_snapshot_writer *sw)
{
    struct gen *g = arg;
    uint8_t rec[YARD_REC_MAX_BYTES];
    for (unsigned i = 0; i < g->names; i++) {
        size_t len = encode(g, i, rec);
        if (len == 0)
            return -EINVAL;
        int rc = yard_wal_snapshot_add(sw, rec, len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int write_log(struct yard_wal *w, struct gen *g)
{
    uint8_t rec[YARD_REC_MAX_BYTES];
    for (unsigned i = 0; i < g->names; i++) {
        size_t len = encode(g, i, rec);
        if (len == 0) {
            fprintf(stderr, "wal-gen: name %u cannot be made in %u bytes\n", i, g->max_name_len);
            return -EINVAL;
        }
        int rc = yard_wal_append(w, rec, len, NULL);
        if (rc == 0 && (i + 1) % SYNC_EVERY == 0)
            rc = yard_wal_sync(w);
        if (rc < 0)
            return rc;
    }
    return yard_wal_sync(w);
}

static int count_record(void *arg, const void *rec, size_t len)
{
    (void)rec;
    (void)len;
    (*(uint64_t *)arg)++;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 'd'},
        {"names", required_argument, NULL, 'n'},
        {"origin", required_argument, NULL, 'o'},
        {"ipv4", required_argument, NULL, 'i'},
        {"port", required_argument, NULL, 'p'},
        {"mac", required_argument, NULL, 'm'},
        {"lease-ms", required_argument, NULL, 'l'},
        {"max-name-len", required_argument, NULL, 'L'},
        {"snapshot", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct gen g;
    const char *dir = NULL;
    bool snapshot = false;
    uint32_t lease_ms = 30000;
    g.max_name_len = YARD_BENCH_NAME_MAX;
    g.loc.owner = &g.name;
    g.loc.origin = YARD_LOC_ROUTE;
    g.loc.udp_port = 7500;
    inet_pton(AF_INET, "198.18.0.2", &g.loc.ipv4);
    g.name.type = YARD_DEST_ENDPOINT;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        unsigned long v = 0;
        if (optarg)
            v = strtoul(optarg, &end, 10);
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'n':
            if (*end || v == 0 || v > (1ul << 24)) {
                fprintf(stderr, "wal-gen: --names %s: expected 1..16777216\n", optarg);
                return 2;
            }
            g.names = (unsigned)v;
            break;
        case 'o':
            if (strcmp(optarg, "route") == 0)
                g.loc.origin = YARD_LOC_ROUTE;
            else if (strcmp(optarg, "static") == 0)
                g.loc.origin = YARD_LOC_STATIC;
            else if (strcmp(optarg, "registered") == 0)
                g.loc.origin = YARD_LOC_REGISTERED;
            else {
                fprintf(stderr, "wal-gen: --origin %s: expected route, static or registered\n",
                        optarg);
                return 2;
            }
            break;
        case 'i':
            if (inet_pton(AF_INET, optarg, &g.loc.ipv4) != 1) {
                fprintf(stderr, "wal-gen: --ipv4 %s: expected A.B.C.D\n", optarg);
                return 2;
            }
            break;
        case 'p':
            if (*end || v == 0 || v > 65535) {
                fprintf(stderr, "wal-gen: --port %s: expected 1..65535\n", optarg);
                return 2;
            }
            g.loc.udp_port = (uint16_t)v;
            break;
        case 'm':
            if (!yard_parse_mac(optarg, g.loc.mac)) {
                fprintf(stderr, "wal-gen: --mac %s: expected xx:xx:xx:xx:xx:xx\n", optarg);
                return 2;
            }
            g.loc.has_mac = 1;
            break;
        case 'l':
            if (*end || v < 1000 || v > UINT32_MAX) {
                fprintf(stderr, "wal-gen: --lease-ms %s: expected 1000 or more\n", optarg);
                return 2;
            }
            lease_ms = (uint32_t)v;
            break;
        case 'L':
            if (*end || v < 1 || v > YARD_BENCH_NAME_MAX) {
                fprintf(stderr, "wal-gen: --max-name-len %s: expected 1..63\n", optarg);
                return 2;
            }
            g.max_name_len = (unsigned)v;
            break;
        case 's':
            snapshot = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (dir == NULL || g.names == 0 || optind < argc) {
        usage(stderr);
        return 2;
    }
    if (g.loc.origin == YARD_LOC_REGISTERED)
        g.loc.lease_ms = lease_ms;
    if (g.loc.has_mac && g.loc.origin != YARD_LOC_ROUTE) {
        fprintf(stderr, "wal-gen: --mac is for routes only (yard-control keeps no MAC for "
                        "other entries)\n");
        return 2;
    }

    char err[512];
    struct yard_wal *w;
    double t0 = now_s();
    int rc = yard_wal_open(&w, dir, NULL, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "wal-gen: %s\n", err);
        return 1;
    }
    uint64_t existing = 0;
    rc = yard_wal_replay(w, count_record, &existing);
    if (rc == 0 && existing > 0) {
        fprintf(stderr, "wal-gen: %s already holds %llu records; give an empty or new directory\n",
                dir, (unsigned long long)existing);
        rc = -EEXIST;
    }
    if (rc == 0)
        rc = snapshot ? yard_wal_compact(w, emit_all, &g) : write_log(w, &g);
    if (rc < 0) {
        if (rc != -EEXIST)
            fprintf(stderr, "wal-gen: %s: %s\n", dir,
                    yard_wal_error(w)[0] ? yard_wal_error(w) : strerror(-rc));
        yard_wal_close(w);
        return 1;
    }
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    yard_wal_close(w);
    printf("wal-gen: %s: %u %s entries as %s (%llu bytes) in %.2f s\n", dir, g.names,
           yard_loc_origin_name(g.loc.origin), snapshot ? "a snapshot" : "log records",
           (unsigned long long)(snapshot ? st.snapshot_bytes : st.log_bytes), now_s() - t0);
    return 0;
}
