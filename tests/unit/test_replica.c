/*
 * test_replica.c - the shared directory's versioning: what a node installs
 * for another node's names whatever order updates arrive in.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "replica.h"

static struct yard_replica r;
static struct yard_replica_owner *b;

static void setup(void)
{
    cr_assert_eq(yard_replica_init(&r), 0);
    b = yard_replica_owner(&r, "yard-b", true, false);
    cr_assert_not_null(b);
}

static void teardown(void)
{
    yard_replica_free(&r);
}

static int apply(const char *name, uint8_t type, bool present, uint64_t ver)
{
    return yard_replica_apply(&r, b, name, (unsigned)strlen(name), type, present, ver, 1000, NULL);
}

TestSuite(replica, .init = setup, .fini = teardown);

Test(replica, owners_get_stable_node_ids)
{
    struct yard_replica_owner *self = yard_replica_owner(&r, "yard-a", true, true);
    struct yard_replica_owner *c = yard_replica_owner(&r, "yard-c", true, false);
    cr_expect_eq(self->node_id, 0, "this node is node 0 in the dataplane");
    cr_expect_eq(b->node_id, 1);
    cr_expect_eq(c->node_id, 2);
    cr_expect_eq(yard_replica_owner(&r, "yard-b", true, false), b, "found, not created again");
    cr_expect_null(yard_replica_owner(&r, "yard-z", false, false));
}

Test(replica, newer_wins_older_and_repeats_are_ignored)
{
    cr_expect_eq(apply("svc", YARD_DEST_ENDPOINT, true, 10), YARD_REPLICA_ADDED);
    cr_expect_eq(apply("svc", YARD_DEST_ENDPOINT, true, 10), YARD_REPLICA_NONE, "repeat");
    cr_expect_eq(apply("svc", YARD_DEST_ENDPOINT, false, 9), YARD_REPLICA_NONE, "late removal");
    cr_expect_eq(b->nb_present, 1);
    cr_expect_eq(apply("svc", YARD_DEST_ENDPOINT, false, 11), YARD_REPLICA_REMOVED);
    cr_expect_eq(apply("svc", YARD_DEST_ENDPOINT, true, 10), YARD_REPLICA_NONE,
                 "the tombstone keeps a late add out");
    cr_expect_eq(b->nb_present, 0);
    cr_expect_eq(apply("svc", YARD_DEST_TOPIC, true, 12), YARD_REPLICA_ADDED);
    cr_expect_eq(apply("svc", YARD_DEST_ENDPOINT, true, 13), YARD_REPLICA_RETYPED);
}

Test(replica, removal_before_its_add_sticks)
{
    /* Gossip delivered the removal first. */
    cr_expect_eq(apply("late", YARD_DEST_ENDPOINT, false, 20), YARD_REPLICA_NEWER,
                 "taken: a tombstone");
    cr_expect_eq(apply("late", YARD_DEST_ENDPOINT, true, 19), YARD_REPLICA_NONE);
    struct yard_replica_entry *e = yard_replica_find(&r, b, "late", 4);
    cr_assert_not_null(e);
    cr_expect(!e->present);
}

static unsigned nb_removed;
static char last_removed[64];

static void on_removed(void *arg, const struct yard_replica_entry *e)
{
    (void)arg;
    nb_removed++;
    memcpy(last_removed, e->name, e->len);
    last_removed[e->len] = 0;
}

Test(replica, full_state_removes_what_is_no_longer_listed)
{
    apply("keep", YARD_DEST_ENDPOINT, true, 10);
    apply("gone", YARD_DEST_ENDPOINT, true, 11);
    apply("newer", YARD_DEST_ENDPOINT, true, 40); /* a delta newer than the full state */
    nb_removed = 0;
    yard_replica_full_begin(b);
    cr_expect_eq(yard_replica_full_entry(&r, b, "keep", 4, YARD_DEST_ENDPOINT, 10, 2000, NULL),
                 YARD_REPLICA_NONE);
    cr_expect_eq(yard_replica_full_entry(&r, b, "fresh", 5, YARD_DEST_TOPIC, 25, 2000, NULL),
                 YARD_REPLICA_ADDED);
    cr_expect_eq(yard_replica_full_sweep(&r, b, 30, 2000, on_removed, NULL), 1);
    cr_expect_eq(nb_removed, 1);
    cr_expect_str_eq(last_removed, "gone");
    cr_expect(yard_replica_find(&r, b, "newer", 5)->present, "changed after the full state");
    cr_expect_eq(b->nb_present, 3);
    /* A late delta from before the full state cannot bring "gone" back. */
    cr_expect_eq(apply("gone", YARD_DEST_ENDPOINT, true, 29), YARD_REPLICA_NONE);
}

Test(replica, clear_forgets_everything_so_a_return_is_taken_whole)
{
    apply("a", YARD_DEST_ENDPOINT, true, 10);
    apply("b", YARD_DEST_TOPIC, true, 11);
    apply("c", YARD_DEST_TOPIC, false, 12);
    nb_removed = 0;
    cr_expect_eq(yard_replica_owner_clear(&r, b, on_removed, NULL), 2);
    cr_expect_eq(nb_removed, 2);
    cr_expect_eq(r.nb_entries, 0, "tombstones go too");
    cr_expect_eq(apply("c", YARD_DEST_TOPIC, true, 5), YARD_REPLICA_ADDED,
                 "after a restart the owner's state is taken as it is");
}

Test(replica, tombstones_are_purged_and_the_table_grows)
{
    char name[32];
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "n%u", i);
        cr_assert_eq(apply(name, YARD_DEST_ENDPOINT, true, 100 + i), YARD_REPLICA_ADDED);
    }
    cr_expect_gt(r.nb_buckets, 1024u);
    for (unsigned i = 0; i < 5000; i += 2) {
        snprintf(name, sizeof(name), "n%u", i);
        cr_assert_eq(apply(name, YARD_DEST_ENDPOINT, false, 10000 + i), YARD_REPLICA_REMOVED);
    }
    cr_expect_eq(yard_replica_purge(&r, 999), 0, "not old enough");
    cr_expect_eq(yard_replica_purge(&r, 1001), 2500);
    cr_expect_eq(r.nb_entries, 2500);
    for (unsigned i = 1; i < 5000; i += 2) {
        snprintf(name, sizeof(name), "n%u", i);
        cr_assert_not_null(yard_replica_find(&r, b, name, (unsigned)strlen(name)));
    }
}

Test(replica, versions_only_grow)
{
    uint64_t v = yard_replica_next_version(0);
    cr_expect_gt(v, 1700000000ull * 1000000u, "wall-clock microseconds");
    cr_expect_gt(yard_replica_next_version(v), v);
    cr_expect_eq(yard_replica_next_version(UINT64_MAX - 1), UINT64_MAX);
}

Test(replica, bad_names_are_refused)
{
    char longname[80];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    cr_expect_eq(apply("", YARD_DEST_ENDPOINT, true, 1), -EINVAL);
    cr_expect_eq(apply(longname, YARD_DEST_ENDPOINT, true, 1), -EINVAL);
}
