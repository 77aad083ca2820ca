/*
 * bench-dir.c - what one name directory lookup costs with a hundred names
 * and with a million, on one core.
 *
 *   bench-dir [--names K[,K...]] [--lookups N] [--runs R] [--table dir|rte_hash|both]
 *             [--capacity C] [--cpu C] [--no-huge]
 *
 * For each K (default 100 and 1,000,000) it builds a directory of names
 * 0..K-1 of perf/names.c (1 to 63 bytes, as yard-loadgen sends them), each
 * with a one-location route, in a directory sized for the power of two
 * >= K names (--capacity: another size; a directory holding exactly its
 * capacity is the fullest table), then times bursts of 32 lookups of names
 * drawn at random, the way the worker does them (forward.c): keys and
 * hashes already built, one bulk lookup, a prefetch of every route found,
 * then the first read of each route. That last read is in the figure on
 * purpose: forwarding reads the route anyway, so a table that brings the
 * route in with the lookup must not be charged for it twice, nor one that
 * does not be let off.
 *
 * Two tables: "dir" is dataplane/dir.c as built; "rte_hash" is the table
 * the directory used to be, rebuilt here with the same parameters (an
 * rte_hash keyed by the 64-byte zero-padded name, lock-free readers,
 * extendable buckets, the directory's CRC32C hash) and 64-byte route
 * objects, so the two stay comparable whatever dir.c becomes.
 *
 * Each burst's keys are copied from a pre-drawn sequence into a stack
 * buffer outside the timed part (in the worker the keys were just written
 * from the packet and sit in L1); only the lookup and the route read are
 * timed, with fenced TSC reads per burst. Runs alternate between the
 * tables; the output is the median of --runs runs and their range, in ns
 * and TSC cycles per lookup. The machine's other load moves single runs:
 * compare medians, or count misses with valgrind --tool=cachegrind (use
 * --no-huge and a small --lookups there).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "dir.h"
#include "names.h"
#include "yard_shm.h"

#define BURST     32
#define MAX_SIZES 8
#define MAX_RUNS  64

struct opts {
    unsigned sizes[MAX_SIZES];
    unsigned nb_sizes;
    unsigned lookups;
    unsigned runs;
    unsigned capacity; /* 0: the power of two >= K, as bench-scale sizes it */
    bool dir, rte_hash;
    unsigned cpu;
    bool huge;
};

/* The lookups of a run: keys and their hashes, drawn once, used by both tables. */
struct seq {
    struct yard_name_key *keys;
    uint32_t *sigs;
    uint32_t *which; /* name index of each lookup */
    unsigned n;
};

/* The old directory, rebuilt: rte_hash plus one 64-byte route object per name. */
struct old_dir {
    struct rte_hash *h;
    uint8_t *routes; /* K objects of 64 bytes */
};

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline uint64_t tsc_begin(void)
{
    __asm__ volatile("lfence" ::: "memory");
    uint64_t t = rte_rdtsc();
    __asm__ volatile("lfence" ::: "memory");
    return t;
}

static inline uint64_t tsc_end(void)
{
    __asm__ volatile("mfence; lfence" ::: "memory");
    return rte_rdtsc();
}

static void fill_route(struct yard_route *r, unsigned idx)
{
    r->type = YARD_DEST_ENDPOINT;
    r->nb_locs = 1;
    r->nb_local = 1;
    r->loc[0].dst_ipv4 = idx;
    r->loc[0].dst_udp_port = (uint16_t)idx;
}

static uint32_t capacity_for(const struct opts *o, unsigned k)
{
    uint32_t capacity = 1024;
    while (capacity < k)
        capacity *= 2;
    return o->capacity > 0 ? o->capacity : capacity;
}

static int build_dir(struct yard_dir **out, unsigned k, uint32_t capacity)
{
    struct yard_dir *dir = yard_dir_create("bench_dir", capacity, SOCKET_ID_ANY);
    if (dir == NULL)
        return -ENOMEM;
    char name[YARD_BENCH_NAME_MAX + 1];
    for (unsigned i = 0; i < k; i++) {
        unsigned len = yard_bench_name(i, YARD_BENCH_NAME_MAX, name);
        struct yard_route *r = yard_route_alloc(dir, 1);
        if (r == NULL) {
            yard_dir_free(dir);
            return -ENOMEM;
        }
        fill_route(r, i);
        int ret = yard_dir_set(dir, name, len, r);
        if (ret < 0) {
            fprintf(stderr, "bench-dir: adding name %u (%s) to dir: %s\n", i, name, strerror(-ret));
            yard_dir_free(dir);
            return ret;
        }
    }
    *out = dir;
    return 0;
}

static void free_old(struct old_dir *od)
{
    rte_hash_free(od->h);
    rte_free(od->routes);
}

static int build_old(struct old_dir *od, unsigned k, uint32_t capacity)
{
    struct rte_hash_parameters params = {
        .name = "bench_old_dir",
        .entries = capacity,
        .key_len = sizeof(struct yard_name_key),
        .hash_func = yard_name_hash,
        .socket_id = SOCKET_ID_ANY,
        .extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
    };
    od->h = rte_hash_create(&params);
    od->routes = rte_malloc("bench_old_routes", (size_t)k * 64, 64);
    if (od->h == NULL || od->routes == NULL) {
        free_old(od);
        return -ENOMEM;
    }
    char name[YARD_BENCH_NAME_MAX + 1];
    for (unsigned i = 0; i < k; i++) {
        unsigned len = yard_bench_name(i, YARD_BENCH_NAME_MAX, name);
        struct yard_name_key key;
        yard_name_key_set(&key, name, len);
        struct yard_route *r = (struct yard_route *)(od->routes + (size_t)i * 64);
        fill_route(r, i);
        int ret = rte_hash_add_key_with_hash_data(od->h, &key, yard_name_hash_len(&key, len), r);
        if (ret < 0) {
            free_old(od);
            return ret;
        }
    }
    return 0;
}

static int build_seq(struct seq *s, unsigned k, unsigned n, uint64_t seed)
{
    s->n = n;
    s->keys = aligned_alloc(64, (size_t)n * sizeof(*s->keys));
    s->sigs = malloc((size_t)n * sizeof(*s->sigs));
    s->which = malloc((size_t)n * sizeof(*s->which));
    if (s->keys == NULL || s->sigs == NULL || s->which == NULL)
        return -ENOMEM;
    /* Names are rebuilt per draw: cheap next to a million-name build. */
    char name[YARD_BENCH_NAME_MAX + 1];
    for (unsigned i = 0; i < n; i++) {
        unsigned idx = (unsigned)(xorshift(&seed) % k);
        unsigned len = yard_bench_name(idx, YARD_BENCH_NAME_MAX, name);
        yard_name_key_set(&s->keys[i], name, len);
        s->sigs[i] = yard_name_hash_len(&s->keys[i], len);
        s->which[i] = idx;
    }
    return 0;
}

static void free_seq(struct seq *s)
{
    free(s->keys);
    free(s->sigs);
    free(s->which);
}

/*
 * One timed burst, as forward.c's pass 2 and the start of pass 3: bulk
 * lookup, prefetch of the routes found, first read of each. Returns the
 * number of hits; *sum keeps the reads from being optimised away.
 */
static __attribute__((noinline)) unsigned burst_dir(const struct yard_dir *dir,
                                                    const void **key_ptrs, uint32_t *sigs,
                                                    struct yard_route **routes, uint64_t *sum)
{
    uint64_t hits = 0;
    yard_dir_lookup_bulk_hashed(yard_dir_hash(dir), key_ptrs, sigs, BURST, &hits, routes);
    for (unsigned i = 0; i < BURST; i++)
        if (hits & (1ull << i))
            rte_prefetch0(routes[i]);
    for (unsigned i = 0; i < BURST; i++)
        if (hits & (1ull << i))
            *sum += routes[i]->loc[0].dst_ipv4;
    return (unsigned)__builtin_popcountll(hits);
}

static __attribute__((noinline)) unsigned burst_rte_hash(const struct rte_hash *h,
                                                         const void **key_ptrs, uint32_t *sigs,
                                                         struct yard_route **routes, uint64_t *sum)
{
    uint64_t hits = 0;
    rte_hash_lookup_with_hash_bulk_data(h, key_ptrs, sigs, BURST, &hits, (void **)routes);
    for (unsigned i = 0; i < BURST; i++)
        if (hits & (1ull << i))
            rte_prefetch0(routes[i]);
    for (unsigned i = 0; i < BURST; i++)
        if (hits & (1ull << i))
            *sum += routes[i]->loc[0].dst_ipv4;
    return (unsigned)__builtin_popcountll(hits);
}

/*
 * One run over the whole sequence with one table (dir or h). Returns the
 * TSC cycles spent in the timed parts, or 0 when a lookup went wrong.
 */
static uint64_t run(const struct yard_dir *dir, const struct rte_hash *h, const struct seq *s)
{
    struct yard_name_key keys[BURST] __attribute__((aligned(64)));
    const void *key_ptrs[BURST];
    uint32_t sigs[BURST];
    struct yard_route *routes[BURST];
    for (unsigned i = 0; i < BURST; i++)
        key_ptrs[i] = &keys[i];
    uint64_t cycles = 0, sum = 0, want = 0;
    for (unsigned b = 0; b + BURST <= s->n; b += BURST) {
        memcpy(keys, &s->keys[b], sizeof(keys));
        memcpy(sigs, &s->sigs[b], sizeof(sigs));
        uint64_t t0 = tsc_begin();
        unsigned hits = dir != NULL ? burst_dir(dir, key_ptrs, sigs, routes, &sum)
                                    : burst_rte_hash(h, key_ptrs, sigs, routes, &sum);
        cycles += tsc_end() - t0;
        if (hits != BURST)
            return 0;
        for (unsigned i = 0; i < BURST; i++)
            want += s->which[b + i];
    }
    return sum == want ? cycles : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct result {
    double median, min, max; /* ns per lookup */
    double cycles;           /* TSC cycles per lookup, median run */
};

static void summarize(double *ns, unsigned n, double tsc_per_ns, struct result *r)
{
    qsort(ns, n, sizeof(*ns), cmp_double);
    r->median = n % 2 ? ns[n / 2] : (ns[n / 2 - 1] + ns[n / 2]) / 2;
    r->min = ns[0];
    r->max = ns[n - 1];
    r->cycles = r->median * tsc_per_ns;
}

static int bench_size(const struct opts *o, unsigned k, struct result *rd, struct result *rh)
{
    struct yard_dir *dir = NULL;
    struct old_dir od = {0};
    struct seq s = {0};
    int ret = 0;
    if (o->dir && (ret = build_dir(&dir, k, capacity_for(o, k))) < 0)
        goto out;
    if (o->rte_hash && (ret = build_old(&od, k, capacity_for(o, k))) < 0)
        goto out;
    if ((ret = build_seq(&s, k, o->lookups, 0x9e3779b97f4a7c15ull ^ k)) < 0)
        goto out;

    double tsc_per_ns = (double)rte_get_tsc_hz() / 1e9;
    double ns_dir[MAX_RUNS], ns_old[MAX_RUNS];
    unsigned timed = s.n / BURST * BURST;
    for (unsigned r = 0; r < o->runs; r++) {
        /* Alternate which table goes first, so drift in the machine's load
         * falls on both. */
        for (unsigned turn = 0; turn < 2; turn++) {
            bool use_dir = (turn == 0) == (r % 2 == 0);
            if (use_dir && !o->dir)
                continue;
            if (!use_dir && !o->rte_hash)
                continue;
            uint64_t cycles = use_dir ? run(dir, NULL, &s) : run(NULL, od.h, &s);
            if (cycles == 0) {
                fprintf(stderr, "bench-dir: %s with %u names returned a wrong route or a miss\n",
                        use_dir ? "dir" : "rte_hash", k);
                ret = -EIO;
                goto out;
            }
            double ns = (double)cycles / tsc_per_ns / timed;
            (use_dir ? ns_dir : ns_old)[r] = ns;
        }
    }
    if (o->dir)
        summarize(ns_dir, o->runs, tsc_per_ns, rd);
    if (o->rte_hash)
        summarize(ns_old, o->runs, tsc_per_ns, rh);
    if (dir != NULL) {
        struct yard_dir_shape sh;
        yard_dir_shape(dir, &sh);
        printf("  dir with %u names: %.1f MB (%.0f bytes per name); %u buckets of 7 slots, "
               "%.1f %% full; %.2f %% of names past their home bucket, the farthest %u "
               "buckets\n",
               k, (double)yard_dir_bytes(dir) / 1048576.0, (double)yard_dir_bytes(dir) / k,
               sh.buckets, 100.0 * sh.names / (7.0 * sh.buckets), 100.0 * sh.displaced / sh.names,
               sh.max_distance);
    }
out:
    free_seq(&s);
    if (dir != NULL)
        yard_dir_free(dir);
    if (od.h != NULL)
        free_old(&od);
    return ret;
}

static int parse_sizes(struct opts *o, char *arg)
{
    o->nb_sizes = 0;
    for (char *tok = strtok(arg, ","); tok != NULL; tok = strtok(NULL, ",")) {
        char *end;
        unsigned long v = strtoul(tok, &end, 10);
        if (*end != '\0' || v == 0 || v > 1600000 || o->nb_sizes == MAX_SIZES)
            return -EINVAL;
        o->sizes[o->nb_sizes++] = (unsigned)v;
    }
    return o->nb_sizes > 0 ? 0 : -EINVAL;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-dir [--names K[,K...]] [--lookups N] [--runs R]\n"
                    "                 [--table dir|rte_hash|both] [--capacity C] [--cpu C]\n"
                    "                 [--no-huge]\n"
                    "  K up to 1600000 (distinct names of perf/names.c), R up to 64\n");
}

static int parse_opts(struct opts *o, int argc, char **argv)
{
    *o = (struct opts){.sizes = {100, 1000000},
                       .nb_sizes = 2,
                       .lookups = 1u << 20,
                       .runs = 5,
                       .dir = true,
                       .rte_hash = true,
                       .huge = true};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-huge") == 0) {
            o->huge = false;
            continue;
        }
        if (v == NULL)
            return -EINVAL;
        i++;
        if (strcmp(a, "--names") == 0) {
            char buf[256];
            snprintf(buf, sizeof(buf), "%s", v);
            if (parse_sizes(o, buf) < 0)
                return -EINVAL;
        } else if (strcmp(a, "--lookups") == 0) {
            o->lookups = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--capacity") == 0) {
            o->capacity = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--runs") == 0) {
            o->runs = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--cpu") == 0) {
            o->cpu = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--table") == 0) {
            o->dir = strcmp(v, "dir") == 0 || strcmp(v, "both") == 0;
            o->rte_hash = strcmp(v, "rte_hash") == 0 || strcmp(v, "both") == 0;
            if (!o->dir && !o->rte_hash)
                return -EINVAL;
        } else {
            return -EINVAL;
        }
    }
    if (o->lookups < BURST || o->runs == 0 || o->runs > MAX_RUNS)
        return -EINVAL;
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(&o, argc, argv) < 0) {
        usage();
        return 2;
    }
    unsigned biggest = 0;
    for (unsigned i = 0; i < o.nb_sizes; i++)
        biggest = o.sizes[i] > biggest ? o.sizes[i] : biggest;
    /* Both tables at once for the largest size (about 330 bytes a name),
     * with room to spare. */
    char prefix[64], mem[16], cpu[16];
    snprintf(prefix, sizeof(prefix), "bdir-%d", (int)getpid());
    snprintf(mem, sizeof(mem), "%u", 96 + (unsigned)(((uint64_t)biggest * 384) >> 20));
    snprintf(cpu, sizeof(cpu), "%u", o.cpu);
    char *eal[] = {argv[0],         "--no-telemetry", "--no-pci",          "-l", cpu,  "-m", mem,
                   "--file-prefix", prefix,           "--log-level=error", NULL, NULL, NULL};
    int eal_argc = 10;
    if (o.huge) {
        eal[eal_argc++] = "--in-memory";
    } else {
        eal[eal_argc++] = "--no-huge";
        eal[eal_argc++] = "--no-shconf";
    }
    if (rte_eal_init(eal_argc, eal) < 0) {
        fprintf(stderr, "bench-dir: EAL start-up failed: %s (%s)\n", rte_strerror(rte_errno),
                o.huge ? "reserve hugepages or use --no-huge" : "raise memory");
        return 1;
    }

    printf("bench-dir: bursts of %u random names, %u lookups per run, median of %u runs, "
           "CPU %u, TSC %.3f GHz\n",
           BURST, o.lookups, o.runs, o.cpu, (double)rte_get_tsc_hz() / 1e9);
    struct result rd[MAX_SIZES], rh[MAX_SIZES];
    int rc = 0;
    for (unsigned i = 0; i < o.nb_sizes && rc == 0; i++) {
        int ret = bench_size(&o, o.sizes[i], &rd[i], &rh[i]);
        if (ret < 0) {
            fprintf(stderr, "bench-dir: %u names: %s\n", o.sizes[i], strerror(-ret));
            rc = 1;
        }
    }
    if (rc == 0) {
        printf("\n| names | table | ns/lookup (median) | min..max | cycles/lookup |\n"
               "|---:|---|---:|---:|---:|\n");
        for (unsigned i = 0; i < o.nb_sizes; i++) {
            if (o.dir)
                printf("| %u | dir | %.1f | %.1f..%.1f | %.0f |\n", o.sizes[i], rd[i].median,
                       rd[i].min, rd[i].max, rd[i].cycles);
            if (o.rte_hash)
                printf("| %u | rte_hash | %.1f | %.1f..%.1f | %.0f |\n", o.sizes[i], rh[i].median,
                       rh[i].min, rh[i].max, rh[i].cycles);
        }
        if (o.nb_sizes >= 2) {
            unsigned lo = 0, hi = o.nb_sizes - 1;
            printf("\n%u names vs %u names, ns/lookup:", o.sizes[hi], o.sizes[lo]);
            if (o.dir)
                printf(" dir %.2fx", rd[hi].median / rd[lo].median);
            if (o.rte_hash)
                printf(" rte_hash %.2fx", rh[hi].median / rh[lo].median);
            printf("\n");
        }
    }
    rte_eal_cleanup();
    return rc;
}
