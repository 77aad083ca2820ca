/*
 * test_dir.c - the name directory and its destinations: what the writer
 * sees, what bulk lookups return, what adding and removing locations does
 * to a name, how configuration loads and full syncs sweep, and that
 * deferred reclamation never frees a route a reader may still hold, even
 * while locations churn.
 *
 * The directory lives in DPDK memory and destinations resolve next hops on
 * ports, so each test builds dp_fixture.h's dataplane state (two ports, a
 * directory of 256 names). Route objects come from the directory's own
 * allocator, which poisons what it frees (type 0xff, no locations): a
 * reader that looks at a route after it was freed sees the poison. That
 * detector works in every build, which matters because AddressSanitizer
 * cannot see inside DPDK's heap.
 *
 * The table's own cases are forced through the *_key calls, which take the
 * hash from the caller: names given one hash share a home bucket and a
 * tag, so they fill buckets, spill past them and must be told apart by
 * name alone, which real names do only once in a few billion pairs.
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

#include "dest.h"
#include "dir.h"
#include "dp_fixture.h"

struct yard_dp yard_dp; /* defined by main.c in the appliance */

static struct yard_dir *dir;
static char err[512];

static void setup(void)
{
    yard_test_dp_start("dir", 256);
    dir = yard_dp.dir;
}

static void teardown(void)
{
    yard_test_dp_stop();
    dir = NULL;
}

TestSuite(dir, .init = setup, .fini = teardown, .timeout = 60);

/*
 * A one-location route object whose location encodes its name's index and
 * a generation, so a reader can tell a live object from a freed one (freed
 * objects are poisoned: no locations, type 0xff).
 */
static struct yard_route *new_route(uint32_t name_idx, uint32_t gen)
{
    struct yard_route *r = yard_route_alloc(dir, 1);
    cr_assert_not_null(r);
    r->type = YARD_DEST_ENDPOINT;
    r->nb_locs = 1;
    r->nb_local = 1;
    r->loc[0].dst_ipv4 = htonl(0xc6120000u | (name_idx & 0xffff)); /* 198.18.x.y */
    r->loc[0].dst_udp_port = htons((uint16_t)(7400 + name_idx));
    r->loc[0].seen = gen;
    return r;
}

static bool route_live(const struct yard_route *r, uint32_t name_idx)
{
    return r->type == YARD_DEST_ENDPOINT && r->nb_locs == 1 &&
           r->loc[0].dst_udp_port == htons((uint16_t)(7400 + name_idx));
}

static uint32_t idx_of(const struct yard_route *r)
{
    return ntohs(r->loc[0].dst_udp_port) - 7400u;
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
    cr_assert(route_live(a, 1), "the old route is kept until reclaim");
    cr_assert_eq(yard_dir_reclaim(dir), 1, "exactly the replaced route is freed");
    cr_assert_eq(yard_dir_reclaim(dir), 0, "nothing is freed twice");

    cr_assert_eq(del("orders.eu"), 0);
    cr_assert_null(get("orders.eu"));
    cr_assert_null(lookup_one("orders.eu", 9));
    cr_assert_eq(del("orders.eu"), -ENOENT);
    cr_assert_eq(del("never-there"), -ENOENT);
    cr_assert(route_live(b, 1), "the deleted route is kept until reclaim");
    cr_assert_eq(yard_dir_reclaim(dir), 1, "the deleted route");
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
        unsigned nk = 1 + round % YARD_DIR_LOOKUP_BULK_MAX;
        struct yard_name_key keys[YARD_DIR_LOOKUP_BULK_MAX];
        const void *key_ptrs[YARD_DIR_LOOKUP_BULK_MAX];
        unsigned which[YARD_DIR_LOOKUP_BULK_MAX];
        for (unsigned i = 0; i < nk; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            which[i] = (unsigned)(seed >> 33) % 200;
            snprintf(name, sizeof(name), "svc-%u", which[i]);
            yard_name_key_set(&keys[i], name, (unsigned)strlen(name));
            key_ptrs[i] = &keys[i];
        }
        uint64_t hits = ~0ull;
        struct yard_route *found[YARD_DIR_LOOKUP_BULK_MAX];
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

Test(dir, a_full_directory_refuses_new_names_and_a_deleted_name_frees_room_at_once)
{
    char name[32];
    for (unsigned n = 0; n < 256; n++) {
        snprintf(name, sizeof(name), "n%u", n);
        cr_assert_eq(set(name, new_route(n, 0)), 0, "name %u of a directory of 256", n);
    }
    struct yard_route *extra = new_route(999, 0);
    cr_assert_eq(set("one-too-many", extra), -ENOSPC);
    cr_assert_null(get("one-too-many"));
    cr_assert_null(lookup_one("one-too-many", 12));
    cr_assert_eq(yard_dir_count(dir), 256);

    /* Replacing needs no new room, so it works when full. */
    struct yard_route *again = new_route(7, 1);
    cr_assert_eq(set("n7", again), 0);
    cr_assert_eq(get("n7"), again);

    /* A deleted name's slot is free at once: readers compare the name in
     * the route object they loaded, which stays intact until reclaim. */
    struct yard_route *n3 = get("n3");
    cr_assert_eq(del("n3"), 0);
    cr_assert_eq(set("one-too-many", extra), 0, "the room n3 left");
    struct yard_route *refused = new_route(3, 1);
    cr_assert_eq(set("n3", refused), -ENOSPC, "full again");
    yard_route_discard(dir, refused);
    cr_assert(route_live(n3, 3), "n3's route is intact until reclaim");
    cr_assert_eq(yard_dir_reclaim(dir), 2, "n7's old route and n3's");
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
        cr_assert_eq(idx_of(r), n);
        cr_assert_eq(lookup_one(name, (unsigned)strlen(name)), r, "n%u", n);
    }
}

Test(dir, setting_the_route_a_name_has_changes_nothing)
{
    struct yard_route *a = new_route(1, 0);
    cr_assert_eq(set("same", a), 0);
    cr_assert_eq(set("same", a), 0);
    cr_assert_eq(yard_dir_count(dir), 1);
    cr_assert_eq(yard_dir_reclaim(dir), 0, "nothing retired: the route is still in use");
    cr_assert(route_live(a, 1));
    cr_assert_eq(lookup_one("same", 4), a);
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
        unsigned idx = idx_of(r);
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

/* ---- The table: one hash for many names, deletes, churn ---- */

/* A hash given to many names: one home bucket and one tag for them all. */
#define SAME_SIG 0x5a5a0007u

static int set_sig(const char *name, uint32_t sig, struct yard_route *r)
{
    struct yard_name_key key;
    yard_name_key_set(&key, name, (unsigned)strlen(name));
    return yard_dir_set_key(dir, &key, sig, r);
}

static int del_sig(const char *name, uint32_t sig)
{
    struct yard_name_key key;
    yard_name_key_set(&key, name, (unsigned)strlen(name));
    return yard_dir_del_key(dir, &key, sig);
}

/* One lookup with a given hash through the readers' bulk path, or NULL. */
static struct yard_route *lookup_sig(const char *name, uint32_t sig)
{
    struct yard_name_key key;
    yard_name_key_set(&key, name, (unsigned)strlen(name));
    const void *keys[1] = {&key};
    uint64_t hits = 0;
    struct yard_route *routes[1] = {NULL};
    yard_dir_lookup_bulk_hashed(yard_dir_hash(dir), keys, &sig, 1, &hits, routes);
    return (hits & 1) ? routes[0] : NULL;
}

/* The table's bookkeeping agrees with itself and with the writer's count. */
static struct yard_dir_shape shape_checked(const char *when)
{
    struct yard_dir_shape sh;
    yard_dir_shape(dir, &sh);
    cr_assert_eq(sh.names, yard_dir_count(dir), "%s: %u names in slots, count %u", when, sh.names,
                 yard_dir_count(dir));
    cr_assert_eq(sh.overflow_sum, sh.distance_sum,
                 "%s: overflow counts %llu, but names sit %llu buckets past home in all", when,
                 (unsigned long long)sh.overflow_sum, (unsigned long long)sh.distance_sum);
    return sh;
}

static void same_name(char *buf, size_t len, unsigned i)
{
    snprintf(buf, len, "same.%02u", i);
}

Test(dir, names_with_one_hash_are_told_apart_by_name)
{
    /* 40 names, one hash: 7 fit in the home bucket, the rest spill over the
     * next 5 buckets. */
    char name[32];
    struct yard_route *r[40];
    for (unsigned i = 0; i < 40; i++) {
        same_name(name, sizeof(name), i);
        r[i] = new_route(i, 0);
        cr_assert_eq(set_sig(name, SAME_SIG, r[i]), 0, "%s", name);
    }
    struct yard_dir_shape sh = shape_checked("40 names of one hash");
    cr_assert_eq(sh.displaced, 33, "all but the 7 of the home bucket are past it");
    cr_assert_eq(sh.max_distance, 5);

    /* All of them in one burst, each with its own route. */
    struct yard_name_key keys[40];
    const void *key_ptrs[40];
    uint32_t sigs[40];
    struct yard_route *found[40];
    for (unsigned i = 0; i < 40; i++) {
        same_name(name, sizeof(name), i);
        yard_name_key_set(&keys[i], name, (unsigned)strlen(name));
        key_ptrs[i] = &keys[i];
        sigs[i] = SAME_SIG;
    }
    uint64_t hits = 0;
    yard_dir_lookup_bulk_hashed(yard_dir_hash(dir), key_ptrs, sigs, 40, &hits, found);
    cr_assert_eq(hits, (UINT64_C(1) << 40) - 1);
    for (unsigned i = 0; i < 40; i++)
        cr_assert_eq(found[i], r[i], "same.%02u", i);

    /* Absent names with the same hash, some a byte away from present ones. */
    static const char *const absent[] = {"same.40", "same.0", "same.000",
                                         "same.3",  "ame.03", "same.03\x01"};
    for (unsigned i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        cr_assert_null(lookup_sig(absent[i], SAME_SIG), "%s", absent[i]);
        cr_assert_eq(del_sig(absent[i], SAME_SIG), -ENOENT, "%s", absent[i]);
    }
    /* A name is found only with its hash. */
    cr_assert_null(lookup_sig("same.05", SAME_SIG ^ 0x10000u), "another tag");
    cr_assert_null(lookup_sig("same.05", SAME_SIG + 1), "another home bucket");
}

/* One home bucket (the hash's low bits), tag k (its high 16 bits). */
static uint32_t sig_with_tag(unsigned k)
{
    return (SAME_SIG & 0xffffu) | (uint32_t)k << 16;
}

Test(dir, names_past_a_full_home_bucket_are_found_in_one_burst)
{
    /* 7 names fill the home bucket; 7 more with other tags go to the next
     * bucket (the bulk lookup's second step) and 7 more to the one after
     * (its full probe). */
    static const char *const group[] = {"home", "next", "far"};
    char names[21][32];
    uint32_t sigs[24];
    struct yard_route *want[24];
    for (unsigned g = 0; g < 3; g++)
        for (unsigned k = 0; k < 7; k++) {
            unsigned i = g * 7 + k;
            snprintf(names[i], sizeof(names[i]), "%s.%u", group[g], k);
            sigs[i] = sig_with_tag(g == 0 ? 1 : i + 1);
            want[i] = new_route(i, 0);
            cr_assert_eq(set_sig(names[i], sigs[i], want[i]), 0, "%s", names[i]);
        }
    struct yard_dir_shape sh = shape_checked("three buckets");
    cr_assert_eq(sh.displaced, 14);
    cr_assert_eq(sh.max_distance, 2);

    /* One burst: the 21, then absent names with fresh tags and with the
     * home group's tag. */
    struct yard_name_key keys[24];
    const void *key_ptrs[24];
    for (unsigned i = 0; i < 24; i++) {
        if (i < 21) {
            yard_name_key_set(&keys[i], names[i], (unsigned)strlen(names[i]));
        } else {
            char absent[32];
            snprintf(absent, sizeof(absent), "absent.%u", i);
            yard_name_key_set(&keys[i], absent, (unsigned)strlen(absent));
            sigs[i] = sig_with_tag(i == 23 ? 1 : 100 + i);
        }
        key_ptrs[i] = &keys[i];
    }
    uint64_t hits = 0;
    struct yard_route *found[24];
    yard_dir_lookup_bulk_hashed(yard_dir_hash(dir), key_ptrs, sigs, 24, &hits, found);
    cr_assert_eq(hits, (UINT64_C(1) << 21) - 1, "hit mask %#llx", (unsigned long long)hits);
    for (unsigned i = 0; i < 21; i++)
        cr_assert_eq(found[i], want[i], "%s", names[i]);

    /* Without the far group nothing goes past the next bucket: absent names
     * stop there, and the others are still found. */
    for (unsigned i = 14; i < 21; i++)
        cr_assert_eq(del_sig(names[i], sigs[i]), 0);
    sh = shape_checked("two buckets");
    cr_assert_eq(sh.max_distance, 1);
    yard_dir_lookup_bulk_hashed(yard_dir_hash(dir), key_ptrs, sigs, 24, &hits, found);
    cr_assert_eq(hits, (UINT64_C(1) << 14) - 1, "hit mask %#llx", (unsigned long long)hits);
    for (unsigned i = 0; i < 14; i++)
        cr_assert_eq(found[i], want[i], "%s", names[i]);
}

Test(dir, two_names_with_equal_real_hashes_keep_their_own_routes)
{
    /* Found by search over 2^17 random 12-byte names: CRC32C-equal. */
    static const char a[] = "ahxj05847p90", b[] = "gqu5t9hdmpt6";
    struct yard_name_key ka, kb;
    yard_name_key_set(&ka, a, 12);
    yard_name_key_set(&kb, b, 12);
    cr_assert_eq(yard_name_hash_len(&ka, 12), yard_name_hash_len(&kb, 12),
                 "the two names share a hash");

    struct yard_route *ra = new_route(1, 0), *rb = new_route(2, 0);
    cr_assert_eq(set(a, ra), 0);
    cr_assert_null(lookup_one(b, 12), "b is not a's twin");
    cr_assert_eq(set(b, rb), 0);
    cr_assert_eq(yard_dir_count(dir), 2);
    cr_assert_eq(lookup_one(a, 12), ra);
    cr_assert_eq(lookup_one(b, 12), rb);
    cr_assert_eq(del(a), 0);
    cr_assert_null(lookup_one(a, 12));
    cr_assert_eq(lookup_one(b, 12), rb);
}

Test(dir, deleted_names_leave_no_trace_and_come_back)
{
    char name[32];
    for (unsigned i = 0; i < 40; i++) {
        same_name(name, sizeof(name), i);
        cr_assert_eq(set_sig(name, SAME_SIG, new_route(i, 0)), 0);
    }
    /* Empty the home bucket and the next one: the names past them must
     * still be found, though their slots in between are free now. */
    for (unsigned i = 0; i < 14; i++) {
        same_name(name, sizeof(name), i);
        cr_assert_eq(del_sig(name, SAME_SIG), 0);
    }
    struct yard_dir_shape sh = shape_checked("after deleting the first 14");
    cr_assert_eq(sh.names, 26);
    for (unsigned i = 0; i < 40; i++) {
        same_name(name, sizeof(name), i);
        struct yard_route *r = lookup_sig(name, SAME_SIG);
        if (i < 14) {
            cr_assert_null(r, "%s was deleted", name);
        } else {
            cr_assert_not_null(r, "%s sits past two emptied buckets", name);
            cr_assert_eq(idx_of(r), i);
        }
    }
    cr_assert_eq(yard_dir_reclaim(dir), 14);

    /* They come back into the freed slots, nearest their home. */
    for (unsigned i = 0; i < 14; i++) {
        same_name(name, sizeof(name), i);
        cr_assert_eq(set_sig(name, SAME_SIG, new_route(i, 1)), 0);
    }
    sh = shape_checked("after adding them again");
    cr_assert_eq(sh.displaced, 33, "the same layout as before the deletes");
    for (unsigned i = 0; i < 40; i++) {
        same_name(name, sizeof(name), i);
        struct yard_route *r = lookup_sig(name, SAME_SIG);
        cr_assert_not_null(r, "%s", name);
        cr_assert_eq(idx_of(r), i);
    }

    /* Everything gone: no count left anywhere to lengthen a lookup. */
    for (unsigned i = 0; i < 40; i++) {
        same_name(name, sizeof(name), i);
        cr_assert_eq(del_sig(name, SAME_SIG), 0);
    }
    sh = shape_checked("after deleting all");
    cr_assert_eq(sh.names, 0);
    cr_assert_eq(sh.overflow_sum, 0, "every overflow count is back to 0");
    cr_assert_eq(yard_dir_reclaim(dir), 40);
}

/* Name i of the churn pool: a unique prefix, then padding to 1..63 bytes. */
static unsigned pool_name(char *buf, unsigned i)
{
    unsigned len = (unsigned)snprintf(buf, 64, "%u-", i);
    unsigned want = 1 + (i * 37) % 63;
    for (; len < want; len++)
        buf[len] = (char)('a' + (i + len) % 26);
    buf[len] = 0;
    return len;
}

#define POOL_NAMES 1024

/* Look up every pool name in bursts and compare with what the writer did. */
static void check_pool(const bool *present, const char *when)
{
    for (unsigned base = 0; base < POOL_NAMES; base += YARD_DIR_LOOKUP_BULK_MAX) {
        struct yard_name_key keys[YARD_DIR_LOOKUP_BULK_MAX];
        const void *key_ptrs[YARD_DIR_LOOKUP_BULK_MAX];
        struct yard_route *found[YARD_DIR_LOOKUP_BULK_MAX];
        char name[64];
        for (unsigned k = 0; k < YARD_DIR_LOOKUP_BULK_MAX; k++) {
            unsigned len = pool_name(name, base + k);
            yard_name_key_set(&keys[k], name, len);
            key_ptrs[k] = &keys[k];
        }
        uint64_t hits = 0;
        yard_dir_lookup_bulk(yard_dir_hash(dir), key_ptrs, YARD_DIR_LOOKUP_BULK_MAX, &hits, found);
        for (unsigned k = 0; k < YARD_DIR_LOOKUP_BULK_MAX; k++) {
            unsigned i = base + k;
            bool hit = (hits >> k) & 1;
            cr_assert_eq(hit, present[i], "%s: name %u %s", when, i,
                         present[i] ? "lost" : "found after its delete");
            if (hit)
                cr_assert(route_live(found[k], i), "%s: name %u has another name's route", when, i);
        }
    }
}

Test(dir, churn_far_beyond_capacity_keeps_every_name_findable, .timeout = 120)
{
    /* 1024 names come and go through a directory of 256 until the adds
     * are hundreds of times its capacity; every few thousand changes all
     * 1024 are looked up and the table's counts are checked. */
    static bool present[POOL_NAMES];
    char name[64];
    unsigned count = 0, adds = 0, refused = 0;
    uint64_t seed = 99;
    for (unsigned op = 1; op <= 500000; op++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned i = (unsigned)(seed >> 33) % POOL_NAMES;
        unsigned len = pool_name(name, i);
        if (present[i] && (seed >> 20) % 2 == 0) {
            cr_assert_eq(yard_dir_del(dir, name, len), 0, "op %u: delete %s", op, name);
            present[i] = false;
            count--;
        } else {
            struct yard_route *r = new_route(i, op);
            int ret = yard_dir_set(dir, name, len, r);
            if (!present[i] && count == 256) {
                cr_assert_eq(ret, -ENOSPC, "op %u: a 257th name", op);
                yard_route_discard(dir, r);
                refused++;
            } else {
                cr_assert_eq(ret, 0, "op %u: set %s (%u names)", op, name, count);
                if (!present[i]) {
                    present[i] = true;
                    count++;
                    adds++;
                }
            }
        }
        if (op % 32 == 0)
            yard_dir_reclaim(dir);
        if (op % 10000 == 0) {
            char when[32];
            snprintf(when, sizeof(when), "after %u changes", op);
            cr_assert_eq(yard_dir_count(dir), count, "%s", when);
            check_pool(present, when);
            shape_checked(when);
        }
    }
    cr_log_info("churn: %u adds, %u refused as full, %u names at the end", adds, refused, count);
    cr_assert_gt(adds, 100 * 256, "adds far beyond the capacity");
    cr_assert_gt(refused, 0, "the directory was full at times");

    /* Emptied, the table is as new. */
    for (unsigned i = 0; i < POOL_NAMES; i++) {
        if (!present[i])
            continue;
        unsigned len = pool_name(name, i);
        cr_assert_eq(yard_dir_del(dir, name, len), 0);
        present[i] = false;
    }
    yard_dir_reclaim(dir);
    struct yard_dir_shape sh = shape_checked("emptied");
    cr_assert_eq(sh.names, 0);
    cr_assert_eq(sh.overflow_sum, 0);
    check_pool(present, "emptied");
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
        atomic_store(&reader_route_ok, route_live(r, 5));
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
    return route_live(r, i);
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
                         "name %u: type %u, %u locations right after lookup", i, routes[i]->type,
                         routes[i]->nb_locs);
        /* Hold the pointers a while, as a worker does over a burst, then
         * look again: a route freed meanwhile reads as cleared memory. */
        for (unsigned k = 0; k < 200; k++)
            rte_pause();
        for (unsigned i = 0; i < CONC_NAMES; i++)
            if ((hits & (1ull << i)) && !route_ok(routes[i], i) && st->bad++ == 0)
                snprintf(st->bad_what, sizeof(st->bad_what),
                         "name %u: type %u, %u locations while held", i, routes[i]->type,
                         routes[i]->nb_locs);
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

/*
 * One hash for all: 32 names come, go and change routes in front of 16
 * that never change, all in one chain of buckets, while a reader looks
 * them all up. The reader must never get another name's route, nor a freed
 * one, and must always find the 16, though the slots before them empty and
 * fill under it.
 */
#define COLL_CHURN  32
#define COLL_STABLE 16
#define COLL_NAMES  (COLL_CHURN + COLL_STABLE)

struct coll_reader {
    atomic_int stop;
    uint64_t rounds, hits, bad;
    char bad_what[128];
};

static struct yard_name_key coll_keys[COLL_NAMES];

/* Names 0..31 churn, 32..47 stay; route index = name index. */
static void coll_name(char *buf, size_t len, unsigned i)
{
    snprintf(buf, len, i < COLL_CHURN ? "coll.churn.%02u" : "coll.stable.%02u", i);
}

static void coll_check(struct coll_reader *st, uint64_t hits, struct yard_route **routes,
                       const char *when)
{
    for (unsigned i = 0; i < COLL_NAMES; i++) {
        if (!((hits >> i) & 1))
            continue;
        if (!route_live(routes[i], i) && st->bad++ == 0)
            snprintf(st->bad_what, sizeof(st->bad_what),
                     "name %u %s: type %u, %u locations, port %u", i, when, routes[i]->type,
                     routes[i]->nb_locs, ntohs(routes[i]->loc[0].dst_udp_port));
    }
}

static void *coll_reader_main(void *arg)
{
    struct coll_reader *st = arg;
    pin_to_other_cpu();
    rcu_register_thread();
    const void *key_ptrs[COLL_NAMES];
    uint32_t sigs[COLL_NAMES];
    for (unsigned i = 0; i < COLL_NAMES; i++) {
        key_ptrs[i] = &coll_keys[i];
        sigs[i] = SAME_SIG;
    }
    while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
        uint64_t hits = 0;
        struct yard_route *routes[COLL_NAMES];
        yard_dir_lookup_bulk_hashed(yard_dir_hash(dir), key_ptrs, sigs, COLL_NAMES, &hits, routes);
        coll_check(st, hits, routes, "right after lookup");
        for (unsigned i = COLL_CHURN; i < COLL_NAMES; i++)
            if (!((hits >> i) & 1) && st->bad++ == 0)
                snprintf(st->bad_what, sizeof(st->bad_what), "stable name %u not found", i);
        for (unsigned k = 0; k < 100; k++)
            rte_pause();
        coll_check(st, hits, routes, "while held");
        st->rounds++;
        st->hits += (uint64_t)__builtin_popcountll(hits);
        rcu_quiescent_state();
    }
    rcu_unregister_thread();
    return NULL;
}

Test(dir, a_reader_never_sees_a_wrong_route_while_colliding_names_change, .timeout = 60)
{
    char name[32];
    bool present[COLL_CHURN];
    for (unsigned i = 0; i < COLL_NAMES; i++) {
        coll_name(name, sizeof(name), i);
        yard_name_key_set(&coll_keys[i], name, (unsigned)strlen(name));
        /* The churning names first: they take the home bucket and the next
         * ones, so the stable names sit past them. */
        cr_assert_eq(set_sig(name, SAME_SIG, new_route(i, 0)), 0);
        if (i < COLL_CHURN)
            present[i] = true;
    }

    static struct coll_reader st;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, coll_reader_main, &st), 0);

    uint64_t seed = 5, ops = 0, reclaims = 0, end = now_ns() + 1500ull * 1000 * 1000;
    uint32_t gen = 1;
    while (now_ns() < end) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned i = (unsigned)(seed >> 33) % COLL_CHURN;
        coll_name(name, sizeof(name), i);
        if (present[i] && (seed >> 20) % 2 == 0) {
            cr_assert_eq(del_sig(name, SAME_SIG), 0);
            present[i] = false;
        } else {
            cr_assert_eq(set_sig(name, SAME_SIG, new_route(i, gen++)), 0); /* add or replace */
            present[i] = true;
        }
        if (++ops % 8 == 0) {
            yard_dir_reclaim(dir);
            reclaims++;
        }
    }
    yard_dir_reclaim(dir);
    atomic_store(&st.stop, 1);
    pthread_join(t, NULL);

    cr_log_info("writer: %llu changes, %llu reclaims; reader: %llu bulk lookups, %llu hits",
                (unsigned long long)ops, (unsigned long long)reclaims,
                (unsigned long long)st.rounds, (unsigned long long)st.hits);
    cr_assert_eq(st.bad, 0, "%llu wrong lookups; first: %s", (unsigned long long)st.bad,
                 st.bad_what);
    cr_assert_gt(st.rounds, 1000, "the reader ran");
    cr_assert_gt(reclaims, 100, "the writer reclaimed while the reader ran");
    for (unsigned i = 0; i < COLL_NAMES; i++) {
        coll_name(name, sizeof(name), i);
        struct yard_route *r = lookup_sig(name, SAME_SIG);
        cr_assert_eq(r != NULL, i >= COLL_CHURN || present[i], "%s", name);
        if (r != NULL)
            cr_assert(route_live(r, i), "%s", name);
    }
    shape_checked("after the churn");
}

/* ---- The allocator ---- */

Test(dir, route_objects_are_recycled_after_reclaim_and_counted_in_bytes)
{
    uint64_t empty = yard_dir_bytes(dir);
    cr_assert_geq(empty, 256 * 8 * 8 / 5, "the table at least: 1.6 slots of 8 bytes per name");
    cr_assert_eq(yard_dir_capacity(dir), 256);

    struct yard_route *a = new_route(1, 0);
    cr_assert_eq((uintptr_t)a % 64, 0, "a route object starts a cache line");
    cr_assert_gt(yard_dir_bytes(dir), empty, "route memory is counted");
    cr_assert_eq(set("a", a), 0);
    struct yard_route *b = new_route(1, 1);
    cr_assert_eq(set("a", b), 0);
    cr_assert_eq(a->nb_locs, 1, "retired, not yet freed");
    cr_assert_eq(yard_dir_reclaim(dir), 1);
    cr_assert_eq(a->type, 0xff, "a freed object is poisoned");
    cr_assert_eq(a->nb_locs, 0);
    cr_assert_eq(new_route(2, 0), a, "the freed object is the next one handed out");

    /* Every size up to the largest destination. */
    for (unsigned n = 1; n <= YARD_ROUTE_MAX_LOCS; n += 37) {
        struct yard_route *r = yard_route_alloc(dir, n);
        cr_assert_not_null(r, "%u locations", n);
        cr_assert_geq(r->cap_locs, n);
        r->loc[n - 1].dst_udp_port = 1; /* the last location is inside the object */
        yard_route_discard(dir, r);
    }
    cr_assert_null(yard_route_alloc(dir, 0));
    cr_assert_null(yard_route_alloc(dir, YARD_ROUTE_MAX_LOCS + 1));
}

/* ---- Destinations ---- */

static const uint8_t mac_b[6] = {0x02, 0x0b, 0, 0, 0, 2};

static int add(const char *name, unsigned type, uint32_t ipv4, uint16_t port, uint8_t origin,
               uint32_t node)
{
    struct yard_loc_spec spec = {.ipv4 = ipv4,
                                 .udp_port = port,
                                 .dest_type = (uint8_t)type,
                                 .origin = origin,
                                 .node = node,
                                 .mac = mac_b};
    return yard_dest_add(&yard_dp.dests, name, (unsigned)strlen(name), &spec, err, sizeof(err));
}

static int add_ep(const char *name, unsigned host, uint16_t port)
{
    return add(name, YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, host), port, YARD_ORIGIN_REGISTERED, 0);
}

static int config_route(const char *name, unsigned host, uint16_t port)
{
    struct yard_route_conf rc = {.ipv4 = yt_ip4(198, 18, 1, host), .udp_port = port};
    snprintf(rc.name, sizeof(rc.name), "%s", name);
    rc.name_len = (uint8_t)strlen(name);
    return yard_dest_set_config(&yard_dp.dests, &rc, err, sizeof(err));
}

/* "host:port" of every location of name, in the route's order; "" if absent. */
static const char *locs_of(const char *name)
{
    static char out[4096];
    out[0] = 0;
    struct yard_route *r = get(name);
    if (r == NULL)
        return out;
    size_t o = 0;
    for (unsigned i = 0; i < r->nb_locs; i++)
        o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%u:%u", i ? " " : "",
                              ntohl(r->loc[i].dst_ipv4) & 0xff, ntohs(r->loc[i].dst_udp_port));
    return out;
}

Test(dir, locations_make_endpoints_groups_and_topics)
{
    cr_assert_eq(add_ep("svc", 20, 7000), 0, "%s", err);
    cr_assert_str_eq(locs_of("svc"), "20:7000");
    struct yard_route *one = get("svc");
    cr_assert_eq(one->type, YARD_DEST_ENDPOINT);
    cr_assert_eq(one->loc[0].port_id, yard_dp.ports[1].port_id, "egress by subnet");
    cr_assert_eq(one->loc[0].nh->ipv4, yt_ip4(198, 18, 1, 20), "its own next hop");
    cr_assert_eq(one->loc[0].nh->state, YARD_NEIGH_STATIC, "the given MAC, no ARP");

    /* Members arrive in any order and are kept sorted: local first. */
    cr_assert_eq(add("svc", YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, 9), 7000, YARD_ORIGIN_REMOTE, 4),
                 0, "%s", err);
    cr_assert_eq(add_ep("svc", 30, 7000), 0);
    cr_assert_eq(add_ep("svc", 20, 6999), 0);
    cr_assert_str_eq(locs_of("svc"), "20:6999 20:7000 30:7000 9:7000");
    cr_assert_eq(get("svc")->nb_local, 3);
    cr_assert_eq(yard_dp.dests.nb_locations, 4);
    cr_assert_eq(yard_dir_count(dir), 1);

    /* The same address and port again refreshes: no new member. */
    cr_assert_eq(
        add("svc", YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, 30), 7000, YARD_ORIGIN_STATIC, 0), 0);
    cr_assert_str_eq(locs_of("svc"), "20:6999 20:7000 30:7000 9:7000");
    cr_assert_eq(get("svc")->loc[2].origin, YARD_ORIGIN_STATIC, "the refresh's origin");
    cr_assert_eq(yard_dp.dests.nb_locations, 4);
    /* A refresh that moves a member to another node re-sorts the group. */
    cr_assert_eq(
        add("svc", YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, 20), 6999, YARD_ORIGIN_REMOTE, 2), 0);
    cr_assert_str_eq(locs_of("svc"), "20:7000 30:7000 9:7000 20:6999");
    cr_assert_eq(get("svc")->nb_local, 2);

    /* A topic is a topic; an endpoint stays an endpoint. */
    cr_assert_eq(
        add("feed", YARD_DEST_TOPIC, yt_ip4(198, 18, 1, 40), 8000, YARD_ORIGIN_REGISTERED, 0), 0);
    cr_assert_eq(get("feed")->type, YARD_DEST_TOPIC);
    cr_assert_eq(
        add("feed", YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, 41), 8000, YARD_ORIGIN_REGISTERED, 0),
        -EEXIST);
    cr_assert(strstr(err, "'feed' is a topic") != NULL, "%s", err);
    cr_assert_eq(
        add("svc", YARD_DEST_TOPIC, yt_ip4(198, 18, 1, 41), 8000, YARD_ORIGIN_REGISTERED, 0),
        -EEXIST);
    cr_assert_str_eq(locs_of("feed"), "40:8000");

    /* Removing: one location, then the rest; absent things are no error. */
    cr_assert_eq(
        yard_dest_del_loc(&yard_dp.dests, "svc", 3, yt_ip4(198, 18, 1, 30), 7000, err, sizeof(err)),
        0);
    cr_assert_str_eq(locs_of("svc"), "20:7000 9:7000 20:6999");
    cr_assert_eq(
        yard_dest_del_loc(&yard_dp.dests, "svc", 3, yt_ip4(198, 18, 1, 30), 7000, err, sizeof(err)),
        0, "an absent location");
    cr_assert_eq(yard_dest_del_loc(&yard_dp.dests, "nobody", 6, yt_ip4(198, 18, 1, 30), 7000, err,
                                   sizeof(err)),
                 0, "an absent name");
    cr_assert_eq(yard_dest_del_name(&yard_dp.dests, "svc", 3, err, sizeof(err)), 0);
    cr_assert_null(get("svc"));
    cr_assert_eq(yard_dest_del_name(&yard_dp.dests, "svc", 3, err, sizeof(err)), 0);
    cr_assert_eq(yard_dest_del_loc(&yard_dp.dests, "feed", 4, yt_ip4(198, 18, 1, 40), 8000, err,
                                   sizeof(err)),
                 0);
    cr_assert_null(get("feed"), "the last location takes the name with it");
    cr_assert_eq(yard_dir_count(dir), 0);
    cr_assert_eq(yard_dp.dests.nb_locations, 0);
}

Test(dir, unusable_locations_are_refused_with_a_reason)
{
    cr_assert_eq(
        add("x", YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, 1), 7000, YARD_ORIGIN_REGISTERED, 0),
        -EINVAL);
    cr_assert(strstr(err, "own address") != NULL, "%s", err);
    cr_assert_eq(
        add("x", YARD_DEST_ENDPOINT, yt_ip4(224, 0, 0, 5), 7000, YARD_ORIGIN_REGISTERED, 0),
        -EINVAL);
    cr_assert(strstr(err, "multicast") != NULL, "%s", err);
    cr_assert_eq(add("x", YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, 5), 0, YARD_ORIGIN_REGISTERED, 0),
                 -EINVAL);
    cr_assert_eq(add("x", YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, 5), 7000, YARD_ORIGIN_CONFIG, 0),
                 -EINVAL, "the configuration's origin is not the control plane's to give");
    cr_assert_eq(add("x", 2, yt_ip4(198, 18, 1, 5), 7000, YARD_ORIGIN_REGISTERED, 0), -EINVAL);
    cr_assert_eq(add("x", YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, 5), 7000, 9, 0), -EINVAL);
    cr_assert_eq(
        add("", YARD_DEST_ENDPOINT, yt_ip4(198, 18, 1, 5), 7000, YARD_ORIGIN_REGISTERED, 0),
        -EINVAL);

    /* Port 1 has no gateway, but port 0 has: far addresses go there. */
    cr_assert_eq(
        add("far", YARD_DEST_ENDPOINT, yt_ip4(203, 0, 113, 9), 7000, YARD_ORIGIN_REMOTE, 3), 0,
        "%s", err);
    cr_assert_eq(get("far")->loc[0].nh->ipv4, yt_ip4(198, 18, 0, 254), "next hop: the gateway");
    yard_dp.ports[0].gateway = 0;
    cr_assert_eq(
        add("far2", YARD_DEST_ENDPOINT, yt_ip4(203, 0, 113, 9), 7000, YARD_ORIGIN_REMOTE, 3),
        -EINVAL);
    cr_assert(strstr(err, "not inside any port's subnet") != NULL, "%s", err);
    cr_assert_eq(yard_dir_count(dir), 1);
}

Test(dir, a_destination_holds_at_most_its_maximum_of_locations)
{
    for (unsigned i = 0; i < YARD_DEST_MAX_LOCATIONS; i++)
        cr_assert_eq(add("big", YARD_DEST_TOPIC, yt_ip4(198, 18, 1, 2 + i % 200),
                         (uint16_t)(10000 + i), YARD_ORIGIN_REGISTERED, 0),
                     0, "location %u: %s", i, err);
    cr_assert_eq(get("big")->nb_locs, YARD_DEST_MAX_LOCATIONS);
    cr_assert_eq(
        add("big", YARD_DEST_TOPIC, yt_ip4(198, 18, 1, 250), 10000, YARD_ORIGIN_REGISTERED, 0),
        -E2BIG);
    cr_assert(strstr(err, "256 locations") != NULL, "%s", err);
    /* A refresh of one it has still works when full. */
    cr_assert_eq(add("big", YARD_DEST_TOPIC, yt_ip4(198, 18, 1, 2), 10000, YARD_ORIGIN_STATIC, 0),
                 0);
}

Test(dir, a_full_directory_refuses_new_names_only)
{
    char name[32];
    for (unsigned n = 0; n < 256; n++) {
        snprintf(name, sizeof(name), "n%u", n);
        cr_assert_eq(add_ep(name, 10, (uint16_t)(1000 + n)), 0, "%s: %s", name, err);
    }
    cr_assert_eq(add_ep("n256", 10, 999), -ENOSPC);
    cr_assert(strstr(err, "directory_capacity") != NULL, "%s", err);
    cr_assert_eq(add_ep("n7", 11, 999), 0, "a new location of a present name needs no slot");
    cr_assert_eq(yard_dp.dests.nb_locations, 257);
}

Test(dir, configuration_loads_touch_only_configuration_locations)
{
    /* Load 1: a and b from the file; the control plane adds to a and owns c. */
    yard_dest_config_begin(&yard_dp.dests);
    cr_assert_eq(config_route("a", 10, 7000), 0, "%s", err);
    cr_assert_eq(config_route("b", 11, 7000), 0);
    cr_assert_eq(yard_dest_config_end(&yard_dp.dests, NULL, 0), 0);
    cr_assert_eq(add_ep("a", 12, 7000), 0);
    cr_assert_eq(add_ep("c", 13, 7000), 0);
    cr_assert_eq(get("a")->loc[0].origin, YARD_ORIGIN_CONFIG);

    /* The control plane cannot delete the file's location; NAME_DEL leaves it. */
    cr_assert_eq(
        yard_dest_del_loc(&yard_dp.dests, "a", 1, yt_ip4(198, 18, 1, 10), 7000, err, sizeof(err)),
        -EPERM);
    cr_assert(strstr(err, "configuration file") != NULL, "%s", err);
    cr_assert_eq(yard_dest_del_name(&yard_dp.dests, "b", 1, err, sizeof(err)), 0);
    cr_assert_str_eq(locs_of("b"), "11:7000");

    /* Load 2: a moves to .20 in one step, b goes, c appears in the file. */
    struct yard_route_conf old[2];
    memset(old, 0, sizeof(old));
    snprintf(old[0].name, sizeof(old[0].name), "a");
    old[0].name_len = 1;
    snprintf(old[1].name, sizeof(old[1].name), "b");
    old[1].name_len = 1;
    struct yard_route *a_before = get("a");
    yard_dest_config_begin(&yard_dp.dests);
    cr_assert_eq(config_route("a", 20, 7000), 0);
    cr_assert_str_eq(locs_of("a"), "12:7000 20:7000",
                     "the moved route replaced the file's old location at once");
    cr_assert_neq(get("a"), a_before, "a new object was published");
    cr_assert_eq(config_route("c", 13, 7000), 0);
    cr_assert_eq(get("c")->loc[0].origin, YARD_ORIGIN_REGISTERED,
                 "the control plane's location at that address stays the control plane's");
    cr_assert_eq(yard_dest_config_end(&yard_dp.dests, old, 2), 1, "b's location went");
    cr_assert_null(get("b"));
    cr_assert_str_eq(locs_of("a"), "12:7000 20:7000");
    cr_assert_str_eq(locs_of("c"), "13:7000");

    /* Load 3, unchanged: nothing republished, nothing removed. */
    struct yard_route *a_now = get("a");
    yard_dest_config_begin(&yard_dp.dests);
    cr_assert_eq(config_route("a", 20, 7000), 0);
    cr_assert_eq(yard_dest_config_end(&yard_dp.dests, old, 1), 0);
    cr_assert_eq(get("a"), a_now, "an unchanged route keeps its object");

    /* A file route cannot turn a topic into an endpoint. */
    cr_assert_eq(add("t", YARD_DEST_TOPIC, yt_ip4(198, 18, 1, 30), 7000, YARD_ORIGIN_STATIC, 0), 0);
    cr_assert_eq(config_route("t", 31, 7000), -EEXIST);
    cr_assert_str_eq(locs_of("t"), "30:7000");
}

Test(dir, a_sync_sweeps_only_unseen_control_locations_and_only_at_its_end)
{
    yard_dest_config_begin(&yard_dp.dests);
    cr_assert_eq(config_route("cfg", 10, 7000), 0);
    cr_assert_eq(add_ep("cfg", 11, 7000), 0); /* a control location on a file's name */
    cr_assert_eq(add_ep("kept", 12, 7000), 0);
    cr_assert_eq(add_ep("gone", 13, 7000), 0);
    cr_assert_eq(add_ep("grp", 14, 7000), 0);
    cr_assert_eq(add_ep("grp", 15, 7000), 0);

    uint64_t swept = 99;
    cr_assert_eq(yard_dest_sync_end(&yard_dp.dests, 4, &swept, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "without SYNC_BEGIN") != NULL, "%s", err);
    cr_assert_eq(swept, 0);

    yard_dest_sync_begin(&yard_dp.dests, 4);
    cr_assert_eq(add_ep("kept", 12, 7000), 0);
    cr_assert_eq(add_ep("grp", 15, 7000), 0);
    cr_assert_eq(add_ep("new", 16, 7000), 0);
    /* Nothing is removed before the end. */
    cr_assert_str_eq(locs_of("gone"), "13:7000");
    cr_assert_str_eq(locs_of("grp"), "14:7000 15:7000");
    cr_assert_str_eq(locs_of("cfg"), "10:7000 11:7000");

    cr_assert_eq(yard_dest_sync_end(&yard_dp.dests, 5, &swept, err, sizeof(err)), -EINVAL,
                 "another generation's end");
    cr_assert(strstr(err, "SYNC_BEGIN(4)") != NULL, "%s", err);
    cr_assert_str_eq(locs_of("gone"), "13:7000");

    cr_assert_eq(yard_dest_sync_end(&yard_dp.dests, 4, &swept, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(swept, 3, "gone, grp's .14 and cfg's control location");
    cr_assert_eq(yard_dp.dests.swept, 3);
    cr_assert_null(get("gone"));
    cr_assert_str_eq(locs_of("grp"), "15:7000");
    cr_assert_str_eq(locs_of("cfg"), "10:7000", "the file's location is never swept");
    cr_assert_str_eq(locs_of("kept"), "12:7000");
    cr_assert_str_eq(locs_of("new"), "16:7000");
    cr_assert_eq(yard_dp.dests.nb_locations, 4);
    cr_assert_eq(yard_dest_sync_end(&yard_dp.dests, 4, &swept, err, sizeof(err)), -EINVAL,
                 "a sync ends once");

    /* A sync begun again replaces the open one; reusing a generation
     * number does not make old locations look fresh. */
    yard_dest_sync_begin(&yard_dp.dests, 4);
    yard_dest_sync_begin(&yard_dp.dests, 4);
    cr_assert_eq(add_ep("kept", 12, 7000), 0);
    cr_assert_eq(yard_dest_sync_end(&yard_dp.dests, 4, &swept, err, sizeof(err)), 0);
    cr_assert_eq(swept, 2, "grp and new were not re-sent");
    cr_assert_str_eq(locs_of("kept"), "12:7000");
    cr_assert_str_eq(locs_of("cfg"), "10:7000");
    cr_assert_eq(yard_dir_count(dir), 2);
}

/* ---- Readers while locations churn ---- */

#define CHURN_NAMES 32

struct churn_reader {
    atomic_int stop;
    uint64_t rounds, hits, bad;
    char bad_what[200];
};

static struct yard_name_key churn_keys[CHURN_NAMES];

/* A route a reader may see for churn name i: live, of i's type, every location i's. */
static bool churn_route_ok(const struct yard_route *r, unsigned i, char *why, size_t len)
{
    unsigned type = i % 2 ? YARD_DEST_TOPIC : YARD_DEST_ENDPOINT;
    if (r->type != type || r->nb_locs == 0 || r->nb_locs > 8 || r->nb_local > r->nb_locs) {
        snprintf(why, len, "name %u: type %u, %u locations", i, r->type, r->nb_locs);
        return false;
    }
    for (unsigned k = 0; k < r->nb_locs; k++) {
        const struct yard_loc *l = &r->loc[k];
        unsigned port = ntohs(l->dst_udp_port);
        if (port / 100 != 100 + i || l->nh == NULL || l->nh->ipv4 != l->dst_ipv4 ||
            l->port_id != yard_dp.ports[1].port_id) {
            snprintf(why, len, "name %u: location %u is port %u", i, k, port);
            return false;
        }
    }
    return true;
}

static void *churn_reader_main(void *arg)
{
    struct churn_reader *st = arg;
    pin_to_other_cpu();
    rcu_register_thread();
    const void *key_ptrs[CHURN_NAMES];
    for (unsigned i = 0; i < CHURN_NAMES; i++)
        key_ptrs[i] = &churn_keys[i];
    while (!atomic_load_explicit(&st->stop, memory_order_relaxed)) {
        uint64_t hits = 0;
        struct yard_route *routes[CHURN_NAMES];
        char why[160];
        yard_dir_lookup_bulk(yard_dir_hash(dir), key_ptrs, CHURN_NAMES, &hits, routes);
        for (unsigned i = 0; i < CHURN_NAMES; i++)
            if ((hits & (1ull << i)) && !churn_route_ok(routes[i], i, why, sizeof(why)) &&
                st->bad++ == 0)
                snprintf(st->bad_what, sizeof(st->bad_what), "right after lookup: %s", why);
        for (unsigned k = 0; k < 200; k++)
            rte_pause();
        for (unsigned i = 0; i < CHURN_NAMES; i++)
            if ((hits & (1ull << i)) && !churn_route_ok(routes[i], i, why, sizeof(why)) &&
                st->bad++ == 0)
                snprintf(st->bad_what, sizeof(st->bad_what), "while held: %s", why);
        st->rounds++;
        st->hits += (uint64_t)__builtin_popcountll(hits);
        rcu_quiescent_state();
    }
    rcu_unregister_thread();
    return NULL;
}

Test(dir, readers_never_see_a_freed_route_while_locations_churn, .timeout = 60)
{
    char name[32];
    for (unsigned i = 0; i < CHURN_NAMES; i++) {
        snprintf(name, sizeof(name), "churn.%02u", i);
        yard_name_key_set(&churn_keys[i], name, (unsigned)strlen(name));
    }
    static struct churn_reader st;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, churn_reader_main, &st), 0);

    /* Names have up to 8 locations (ports 100i00 + k); the writer adds,
     * refreshes, removes one and removes whole names at random, with one
     * grace period per 8 changes, as the agent does per batch. */
    uint64_t seed = 7, ops = 0, reclaims = 0, end = now_ns() + 1500ull * 1000 * 1000;
    while (now_ns() < end) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        unsigned i = (unsigned)(seed >> 33) % CHURN_NAMES, k = (unsigned)(seed >> 20) % 8;
        unsigned what = (unsigned)(seed >> 40) % 10;
        uint16_t port = (uint16_t)((100 + i) * 100 + k);
        snprintf(name, sizeof(name), "churn.%02u", i);
        if (what < 6) {
            cr_assert_eq(add(name, i % 2 ? YARD_DEST_TOPIC : YARD_DEST_ENDPOINT,
                             yt_ip4(198, 18, 1, 100 + k), port, YARD_ORIGIN_REGISTERED, k % 3),
                         0, "%s", err);
        } else if (what < 9) {
            cr_assert_eq(yard_dest_del_loc(&yard_dp.dests, name, (unsigned)strlen(name),
                                           yt_ip4(198, 18, 1, 100 + k), port, err, sizeof(err)),
                         0);
        } else {
            cr_assert_eq(
                yard_dest_del_name(&yard_dp.dests, name, (unsigned)strlen(name), err, sizeof(err)),
                0);
        }
        if (++ops % 8 == 0) {
            yard_dir_reclaim(dir);
            reclaims++;
        }
    }
    yard_dir_reclaim(dir);
    atomic_store(&st.stop, 1);
    pthread_join(t, NULL);

    cr_log_info("writer: %llu changes, %llu reclaims; reader: %llu bulk lookups, %llu hits",
                (unsigned long long)ops, (unsigned long long)reclaims,
                (unsigned long long)st.rounds, (unsigned long long)st.hits);
    cr_assert_eq(st.bad, 0, "%llu bad routes read; first: %s", (unsigned long long)st.bad,
                 st.bad_what);
    cr_assert_gt(st.rounds, 1000, "the reader ran");
    cr_assert_gt(st.hits, 0);
    cr_assert_gt(reclaims, 100);
    /* The writer's count of locations matches what the directory holds. */
    uint64_t total = 0;
    for (unsigned i = 0; i < CHURN_NAMES; i++) {
        snprintf(name, sizeof(name), "churn.%02u", i);
        struct yard_route *r = get(name);
        if (r != NULL) {
            char why[160];
            cr_assert(churn_route_ok(r, i, why, sizeof(why)), "%s", why);
            total += r->nb_locs;
        }
    }
    cr_assert_eq(yard_dp.dests.nb_locations, total);
}
