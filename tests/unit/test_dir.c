/*
 * test_dir.c - the name directory: what the writer sees, what bulk lookups
 * return, and that deferred reclamation never frees a route a reader may
 * still hold.
 *
 * The directory lives in DPDK memory, so each test starts a small EAL
 * (dp_fixture.h). Routes are allocated here with rte_zmalloc, as route.c
 * does, because the directory frees them with rte_free. Each test route
 * carries a magic value and its name's index after the yard_route itself:
 * rte_free clears freed memory, so a reader that looks at a route after it
 * was freed sees a wrong magic. That detector works in every build, which
 * matters because AddressSanitizer cannot see inside DPDK's heap.
 */
#define _LGPL_SOURCE
#include <urcu-qsbr.h>

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_malloc.h>
#include <rte_pause.h>

#include "dir.h"
#include "dp_fixture.h"

#define ROUTE_LIVE 0x600dc0de600dc0deull /* any value rte_free never leaves behind */

struct test_route {
    struct yard_route r;
    uint64_t magic;
    uint32_t name_idx;
    uint32_t gen;
};

static struct yard_dir *dir;

static void setup(void)
{
    yard_test_eal_start("dir", NULL);
    char name[32];
    snprintf(name, sizeof(name), "tdir_%d", (int)getpid());
    dir = yard_dir_create(name, 256, SOCKET_ID_ANY);
    cr_assert_not_null(dir, "yard_dir_create: %s", rte_strerror(rte_errno));
}

static void teardown(void)
{
    yard_dir_free(dir);
    dir = NULL;
    yard_test_eal_stop();
}

TestSuite(dir, .init = setup, .fini = teardown, .timeout = 60);

static struct yard_route *new_route(uint32_t name_idx, uint32_t gen)
{
    struct test_route *t = rte_zmalloc("test_route", sizeof(*t), 0);
    cr_assert_not_null(t);
    t->r.dst_ipv4 = htonl(0xc6120000u | (name_idx & 0xffff)); /* 198.18.x.y */
    t->r.dst_udp_port = htons((uint16_t)(7400 + name_idx));
    t->magic = ROUTE_LIVE;
    t->name_idx = name_idx;
    t->gen = gen;
    return &t->r;
}

static const struct test_route *as_test(const struct yard_route *r)
{
    return (const struct test_route *)r;
}

static int set(const char *name, struct yard_route *r)
{
    return yard_dir_set(dir, name, (unsigned)strlen(name), r);
}

static struct yard_route *get(const char *name)
{
    return yard_dir_get(dir, name, (unsigned)strlen(name));
}

static int del(const char *name)
{
    return yard_dir_del(dir, name, (unsigned)strlen(name));
}

/* One lookup through the readers' bulk path: the route, or NULL on a miss. */
static struct yard_route *lookup_one(const void *name, unsigned len)
{
    struct yard_name_key key;
    yard_name_key_set(&key, name, len);
    const void *keys[1] = {&key};
    uint64_t hits = 0;
    struct yard_route *routes[1] = {NULL};
    yard_dir_lookup_bulk(yard_dir_hash(dir), keys, 1, &hits, routes);
    return (hits & 1) ? routes[0] : NULL;
}

Test(dir, set_get_replace_delete)
{
    struct yard_route *a = new_route(1, 0);
    cr_assert_eq(set("orders.eu", a), 0);
    cr_assert_eq(get("orders.eu"), a);
    cr_assert_eq(lookup_one("orders.eu", 9), a);
    cr_assert_eq(yard_dir_count(dir), 1);
    cr_assert_null(get("orders.e"));
    cr_assert_null(get("orders.eu2"));

    /* Replace: readers see the new route at once; the old one is freed only
     * by the next reclaim, and is intact until then. */
    struct yard_route *b = new_route(1, 1);
    cr_assert_eq(set("orders.eu", b), 0);
    cr_assert_eq(get("orders.eu"), b);
    cr_assert_eq(lookup_one("orders.eu", 9), b);
    cr_assert_eq(yard_dir_count(dir), 1, "a replace does not add a name");
    cr_assert_eq(as_test(a)->magic, ROUTE_LIVE, "the old route is kept until reclaim");
    cr_assert_eq(yard_dir_reclaim(dir), 1, "exactly the replaced route is freed");
    cr_assert_eq(yard_dir_reclaim(dir), 0, "nothing is freed twice");

    cr_assert_eq(del("orders.eu"), 0);
    cr_assert_null(get("orders.eu"));
    cr_assert_null(lookup_one("orders.eu", 9));
    cr_assert_eq(del("orders.eu"), -ENOENT);
    cr_assert_eq(del("never-there"), -ENOENT);
    cr_assert_eq(as_test(b)->magic, ROUTE_LIVE, "the deleted route is kept until reclaim");
    cr_assert_eq(yard_dir_reclaim(dir), 1, "the deleted route and its key slot");
    cr_assert_eq(yard_dir_count(dir), 0);

    /* The name can come back. */
    struct yard_route *c = new_route(1, 2);
    cr_assert_eq(set("orders.eu", c), 0);
    cr_assert_eq(lookup_one("orders.eu", 9), c);
    cr_assert_eq(yard_dir_count(dir), 1);
}

Test(dir, count_drops_as_soon_as_a_name_is_deleted)
{
    /* "Number of names": a deleted name is no longer one, even before the
     * reclaim that frees its slot. */
    cr_assert_eq(set("a", new_route(1, 0)), 0);
    cr_assert_eq(set("b", new_route(2, 0)), 0);
    cr_assert_eq(yard_dir_count(dir), 2);
    cr_assert_eq(del("a"), 0);
    cr_assert_eq(yard_dir_count(dir), 1, "count after deleting one of two names, before reclaim");
    yard_dir_reclaim(dir);
    cr_assert_eq(yard_dir_count(dir), 1, "count after reclaim");
}

Test(dir, invalid_names_are_refused)
{
    struct yard_route *r = new_route(0, 0);
    char long_name[65];
    memset(long_name, 'x', sizeof(long_name));
    cr_assert_eq(yard_dir_set(dir, "x", 0, r), -EINVAL, "empty name");
    cr_assert_eq(yard_dir_set(dir, long_name, 64, r), -EINVAL, "64 bytes is one too many");
    cr_assert_eq(yard_dir_set(dir, "ab\0cd", 5, r), -EINVAL, "NUL inside a name");
    cr_assert_eq(yard_dir_del(dir, "x", 0), -EINVAL);
    cr_assert_null(yard_dir_get(dir, long_name, 64));
    cr_assert_eq(yard_dir_count(dir), 0);
    cr_assert_eq(yard_dir_set(dir, long_name, 63, r), 0, "63 bytes is the longest name");
    cr_assert_eq(yard_dir_get(dir, long_name, 63), r);
}

Test(dir, every_name_length)
{
    /* Two families per length: prefixes of one string ("a", "ab", ...) and
     * runs of one letter ("z", "zz", ...), so names differ by length only. */
    static const char base[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-";
    char run[64];
    memset(run, 'z', sizeof(run));
    struct yard_route *prefix_route[64], *run_route[64];
    for (unsigned len = 1; len <= 63; len++) {
        prefix_route[len] = new_route(len, 0);
        run_route[len] = new_route(len, 1);
        cr_assert_eq(yard_dir_set(dir, base, len, prefix_route[len]), 0, "len %u", len);
        cr_assert_eq(yard_dir_set(dir, run, len, run_route[len]), 0, "len %u", len);
    }
    cr_assert_eq(yard_dir_count(dir), 126);

    for (unsigned len = 1; len <= 63; len++) {
        cr_assert_eq(yard_dir_get(dir, base, len), prefix_route[len], "len %u", len);
        cr_assert_eq(lookup_one(base, len), prefix_route[len], "len %u", len);
        cr_assert_eq(lookup_one(run, len), run_route[len], "len %u", len);

        /* Same length, only the last byte differs: absent. */
        char other[64];
        memcpy(other, base, len);
        other[len - 1] = '#';
        cr_assert_null(lookup_one(other, len), "len %u, last byte changed", len);
        cr_assert_null(yard_dir_get(dir, other, len), "len %u, last byte changed", len);
        memset(other, 'z', len);
        other[len - 1] = 'y';
        cr_assert_null(lookup_one(other, len), "run of %u with another last byte", len);
    }

    /* Removing the odd lengths leaves the even ones alone. */
    for (unsigned len = 1; len <= 63; len += 2)
        cr_assert_eq(yard_dir_del(dir, base, len), 0, "len %u", len);
    for (unsigned len = 1; len <= 63; len++) {
        if (len & 1)
            cr_assert_null(lookup_one(base, len), "deleted len %u", len);
        else
            cr_assert_eq(lookup_one(base, len), prefix_route[len], "kept len %u", len);
        cr_assert_eq(lookup_one(run, len), run_route[len], "len %u", len);
    }
    cr_assert_eq(yard_dir_reclaim(dir), 32);
}

Test(dir, bulk_lookup_reports_hits_and_misses)
{
    /* 100 names present (even numbers), looked up among absent ones (odd). */
    struct yard_route *routes_by_n[200] = {NULL};
    char name[32];
    for (unsigned n = 0; n < 200; n += 2) {
        snprintf(name, sizeof(name), "svc-%u", n);
        routes_by_n[n] = new_route(n, 0);
        cr_assert_eq(set(name, routes_by_n[n]), 0);
    }
    uint64_t seed = 12345;
    for (unsigned round = 0; round < 200; round++) {
        unsigned nk = 1 + round % RTE_HASH_LOOKUP_BULK_MAX;
        struct yard_name_key keys[RTE_HASH_LOOKUP_BULK_MAX];
        const void *key_ptrs[RTE_HASH_LOOKUP_BULK_MAX];
        unsigned which[RTE_HASH_LOOKUP_BULK_MAX];
        for (unsigned i = 0; i < nk; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            which[i] = (unsigned)(seed >> 33) % 200;
            snprintf(name, sizeof(name), "svc-%u", which[i]);
            yard_name_key_set(&keys[i], name, (unsigned)strlen(name));
            key_ptrs[i] = &keys[i];
        }
        uint64_t hits = ~0ull;
        struct yard_route *found[RTE_HASH_LOOKUP_BULK_MAX];
        yard_dir_lookup_bulk(yard_dir_hash(dir), key_ptrs, nk, &hits, found);
        uint64_t want = 0;
        for (unsigned i = 0; i < nk; i++)
            if (routes_by_n[which[i]] != NULL)
                want |= 1ull << i;
        cr_assert_eq(hits, want, "round %u (%u keys): hit mask %#llx, expected %#llx", round, nk,
                     (unsigned long long)hits, (unsigned long long)want);
        for (unsigned i = 0; i < nk; i++)
            if (want & (1ull << i))
                cr_assert_eq(found[i], routes_by_n[which[i]], "round %u key %u (svc-%u)", round, i,
                             which[i]);
    }
}

Test(dir, full_directory_and_key_slot_reuse)
{
    char name[32];
    for (unsigned n = 0; n < 256; n++) {
        snprintf(name, sizeof(name), "n%u", n);
        cr_assert_eq(set(name, new_route(n, 0)), 0, "name %u of a directory of 256", n);
    }
    struct yard_route *extra = new_route(999, 0);
    cr_assert_eq(set("one-too-many", extra), -ENOSPC);
    cr_assert_null(get("one-too-many"));

    /* Replacing needs no new slot, so it works when full. */
    struct yard_route *again = new_route(7, 1);
    cr_assert_eq(set("n7", again), 0);
    cr_assert_eq(get("n7"), again);

    /* A deleted name's slot is reused only after reclaim: a reader may still
     * be comparing against the old key. */
    cr_assert_eq(del("n3"), 0);
    cr_assert_eq(set("one-too-many", extra), -ENOSPC, "slot of n3 not reclaimed yet");
    cr_assert_eq(yard_dir_reclaim(dir), 2, "n7's old route and n3");
    cr_assert_eq(set("one-too-many", extra), 0);
    cr_assert_eq(lookup_one("one-too-many", 12), extra);
    cr_assert_null(lookup_one("n3", 2));
    for (unsigned n = 0; n < 256; n++) {
        snprintf(name, sizeof(name), "n%u", n);
        struct yard_route *r = get(name);
        if (n == 3) {
            cr_assert_null(r);
            continue;
        }
        cr_assert_not_null(r, "n%u", n);
        cr_assert_eq(as_test(r)->name_idx, n);
    }
}

Test(dir, iterate_visits_every_name_once)
{
    char name[32];
    for (unsigned n = 0; n < 100; n++) {
        snprintf(name, sizeof(name), "it-%u", n);
        cr_assert_eq(set(name, new_route(n, 0)), 0);
    }
    for (unsigned n = 0; n < 100; n += 3) {
        snprintf(name, sizeof(name), "it-%u", n);
        cr_assert_eq(del(name), 0);
    }
    unsigned seen[100] = {0}, total = 0;
    const void *key;
    struct yard_route *r;
    uint32_t iter = 0;
    while (yard_dir_iterate(dir, &key, &r, &iter) >= 0) {
        unsigned idx = as_test(r)->name_idx;
        cr_assert_lt(idx, 100);
        snprintf(name, sizeof(name), "it-%u", idx);
        struct yard_name_key want;
        yard_name_key_set(&want, name, (unsigned)strlen(name));
        cr_assert_eq(memcmp(key, &want, sizeof(want)), 0, "key of it-%u", idx);
        seen[idx]++;
        total++;
    }
    for (unsigned n = 0; n < 100; n++)
        cr_assert_eq(seen[n], n % 3 == 0 ? 0 : 1, "it-%u seen %u times", n, seen[n]);
    cr_assert_eq(total, 66);
}

/* ---- Readers and the writer at the same time. ---- */

static atomic_int reader_has_route, reader_released, reader_route_ok;

static void pin_to_other_cpu(void)
{
    /* The EAL pinned this process to cpu 0 (-l 0); a reader elsewhere makes
     * the two sides really run at the same time. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 2)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(1, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *holding_reader(void *arg)
{
    (void)arg;
    pin_to_other_cpu();
    rcu_register_thread();
    struct yard_route *r = lookup_one("held", 4);
    atomic_store(&reader_has_route, r != NULL);
    if (r != NULL) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        atomic_store(&reader_route_ok, as_test(r)->magic == ROUTE_LIVE);
    }
    atomic_store(&reader_released, 1);
    rcu_quiescent_state();
    rcu_unregister_thread();
    return NULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

Test(dir, reclaim_waits_for_a_reader_holding_a_route)
{
    cr_assert_eq(set("held", new_route(5, 0)), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, holding_reader, NULL), 0);
    while (atomic_load(&reader_released) == 0 && atomic_load(&reader_has_route) == 0)
        sched_yield();
    cr_assert_eq(atomic_load(&reader_has_route), 1, "the reader found the route");

    cr_assert_eq(del("held"), 0);
    uint64_t t0 = now_ns();
    unsigned freed = yard_dir_reclaim(dir);
    uint64_t waited_ms = (now_ns() - t0) / 1000000;
    int released = atomic_load(&reader_released);
    pthread_join(t, NULL);

    cr_assert_eq(released, 1, "reclaim returned (after %llu ms) while a reader held the route",
                 (unsigned long long)waited_ms);
    cr_assert_eq(atomic_load(&reader_route_ok), 1, "the held route stayed intact");
    cr_assert_eq(freed, 1);
    cr_assert_geq(waited_ms, 100, "reclaim waited for the reader's quiescent state");
}

#define CONC_NAMES 64

struct conc_reader {
    atomic_int stop;
    uint64_t rounds, hits, bad;
    char bad_what[128];
};

static struct yard_name_key conc_keys[CONC_NAMES];

static void conc_name(char *buf, size_t len, unsigned i)
{
    snprintf(buf, len, "svc.%02u.orders", i);
}

static bool route_ok(const struct yard_route *r, unsigned i)
{
    return as_test(r)->magic == ROUTE_LIVE && as_test(r)->name_idx == i;
}

static void *busy_reader(void *arg)
{
    struct conc_reader *st = arg;
    pin_to_other_cpu();
    rcu_register_thread();
    const void *key_ptrs[CONC_NAMES];
    for (unsigned i = 0; i < CONC_NAMES; i++)
        key_ptrs[i] = &conc_keys[i];
    while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
        uint64_t hits = 0;
        struct yard_route *routes[CONC_NAMES];
        yard_dir_lookup_bulk(yard_dir_hash(dir), key_ptrs, CONC_NAMES, &hits, routes);
        for (unsigned i = 0; i < CONC_NAMES; i++)
            if ((hits & (1ull << i)) && !route_ok(routes[i], i) && st->bad++ == 0)
                snprintf(st->bad_what, sizeof(st->bad_what),
                         "name %u: magic %#llx idx %u right after lookup", i,
                         (unsigned long long)as_test(routes[i])->magic,
                         as_test(routes[i])->name_idx);
        /* Hold the pointers a while, as a worker does over a burst, then
         * look again: a route freed meanwhile reads as cleared memory. */
        for (unsigned k = 0; k < 200; k++)
            rte_pause();
        for (unsigned i = 0; i < CONC_NAMES; i++)
            if ((hits & (1ull << i)) && !route_ok(routes[i], i) && st->bad++ == 0)
                snprintf(
                    st->bad_what, sizeof(st->bad_what), "name %u: magic %#llx idx %u while held", i,
                    (unsigned long long)as_test(routes[i])->magic, as_test(routes[i])->name_idx);
        st->rounds++;
        st->hits += (uint64_t)__builtin_popcountll(hits);
        rcu_quiescent_state();
    }
    rcu_unregister_thread();
    return NULL;
}

Test(dir, readers_never_see_a_freed_route, .timeout = 60)
{
    char name[32];
    bool present[CONC_NAMES];
    uint32_t gen = 1;
    for (unsigned i = 0; i < CONC_NAMES; i++) {
        conc_name(name, sizeof(name), i);
        yard_name_key_set(&conc_keys[i], name, (unsigned)strlen(name));
        cr_assert_eq(set(name, new_route(i, gen++)), 0);
        present[i] = true;
    }

    static struct conc_reader st;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, busy_reader, &st), 0);

    uint64_t retired = 0, reclaimed = 0, ops = 0, reclaims = 0;
    uint64_t seed = 42, end = now_ns() + 1500ull * 1000 * 1000;
    while (now_ns() < end) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned i = (unsigned)(seed >> 33) % CONC_NAMES;
        conc_name(name, sizeof(name), i);
        if (present[i] && (seed >> 20) % 3 == 0) {
            cr_assert_eq(del(name), 0);
            present[i] = false;
            retired++;
        } else {
            cr_assert_eq(set(name, new_route(i, gen++)), 0);
            retired += present[i];
            present[i] = true;
        }
        if (++ops % 8 == 0) {
            reclaimed += yard_dir_reclaim(dir);
            reclaims++;
        }
    }
    reclaimed += yard_dir_reclaim(dir);
    atomic_store(&st.stop, 1);
    pthread_join(t, NULL);

    cr_log_info("writer: %llu changes, %llu reclaims; reader: %llu bulk lookups, %llu hits",
                (unsigned long long)ops, (unsigned long long)reclaims,
                (unsigned long long)st.rounds, (unsigned long long)st.hits);
    cr_assert_eq(st.bad, 0, "%llu routes read after being freed; first: %s",
                 (unsigned long long)st.bad, st.bad_what);
    cr_assert_eq(reclaimed, retired, "every replaced or deleted route freed exactly once");
    cr_assert_gt(st.rounds, 1000, "the reader ran");
    cr_assert_gt(st.hits, 0);
    cr_assert_gt(reclaims, 100, "the writer reclaimed while the reader ran");
    for (unsigned i = 0; i < CONC_NAMES; i++) {
        conc_name(name, sizeof(name), i);
        struct yard_route *r = lookup_one(name, (unsigned)strlen(name));
        cr_assert_eq(r != NULL, present[i], "%s", name);
        if (r != NULL)
            cr_assert(route_ok(r, i));
    }
}
