/*
 * test_swim_members.c - the member table and memberlist's alive / suspect
 * / dead rules (control/swim/members.c; memberlist.md section 6.2),
 * driven with a fake clock: what is applied, ignored, refuted, re-gossiped
 * (read back from the broadcast queue and decoded), which events fire,
 * when suspicion turns into death, the push/pull merge and version check,
 * reaping and the probe order.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "members.h"
#include "wire.h"

#define T0 1000000

static struct swim_config cfg;
static struct swim_bcast_queue bq;
static struct swim_awareness aw;
static struct swim_timers tm;
static struct swim_rand rnd;
static struct swim_stats st;
static struct swim_delegate dg;
static struct swim_members ms;
static char events[8192];

static const uint8_t lo[4] = {127, 0, 0, 1};
static const uint8_t vsn[6] = {1, 5, 2, 2, 5, 5};

static void ev(const char *fmt, const struct swim_member *m)
{
    size_t n = strlen(events);
    snprintf(events + n, sizeof(events) - n, fmt, m->name, swim_state_name(m->state));
}
static void on_join(void *arg, const struct swim_member *m)
{
    (void)arg;
    ev("join %s;", m);
}
static void on_update(void *arg, const struct swim_member *m)
{
    (void)arg;
    ev("update %s;", m);
}
static void on_leave(void *arg, const struct swim_member *m)
{
    (void)arg;
    ev("leave %s %s;", m);
}

static void setup(void)
{
    swim_config_profile(&cfg, SWIM_PROFILE_LAN);
    cr_assert_eq(swim_bcast_queue_init(&bq, 1024, cfg.retransmit_mult), 0);
    swim_awareness_init(&aw, cfg.awareness_max_multiplier);
    swim_timers_init(&tm);
    swim_timers_set_now(&tm, T0);
    swim_rand_seed(&rnd, 42);
    memset(&st, 0, sizeof(st));
    dg = (struct swim_delegate){.on_join = on_join, .on_update = on_update, .on_leave = on_leave};
    struct swim_members_env env = {&cfg, &bq, &aw, &tm, &rnd, &st, &dg};
    cr_assert_eq(swim_members_init(&ms, &env), 0);
    const uint8_t meta[] = {0xff, 0x80};
    cr_assert_eq(swim_members_start(&ms, "me", lo, 4, 7946, meta, 2), 0);
    events[0] = '\0';
}

static void teardown(void)
{
    swim_members_fini(&ms);
    swim_bcast_queue_fini(&bq);
    swim_timers_fini(&tm);
}

TestSuite(swim_members, .init = setup, .fini = teardown);

static struct swim_bytes B(const char *s) {
    return (struct swim_bytes){(const uint8_t *)s, (uint32_t)strlen(s)};
}

static void
alive_at(const char *name, uint32_t inc, uint16_t port, const char *meta)
{
    struct swim_alive a = {.addr = {lo, 4},
                           .incarnation = inc,
                           .meta = B(meta),
                           .node = B(name),
                           .port = port,
                           .vsn = {vsn, 6}};
    swim_members_on_alive(&ms, &a, false);
}

static void alive(const char *name, uint32_t inc, const char *meta)
{
    alive_at(name, inc, 8000, meta);
}

static void suspect(const char *name, uint32_t inc, const char *from)
{
    struct swim_suspect s = {.from = B(from), .incarnation = inc, .node = B(name)};
    swim_members_on_suspect(&ms, &s);
}

static void dead(const char *name, uint32_t inc, const char *from)
{
    struct swim_dead d = {.from = B(from), .incarnation = inc, .node = B(name)};
    swim_members_on_dead(&ms, &d);
}

static const struct swim_member *M(const char *name)
{
    const struct swim_node *n = swim_members_find_str(&ms, name);
    return n != NULL ? &n->m : NULL;
}

/* The queued broadcast about `name` (NULL if none). */
static const struct swim_bcast *queued(const char *name)
{
    for (unsigned i = 0; i < bq.nb; i++) {
        const struct swim_bcast *b = bq.items[i];
        if (b->name_len == strlen(name) && memcmp(b->name, name, b->name_len) == 0)
            return b;
    }
    return NULL;
}

static bool str_is(struct swim_bytes b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

static void advance(uint64_t ms_)
{
    swim_timers_set_now(&tm, swim_timers_now(&tm) + ms_);
    swim_timers_run(&tm);
}

Test(swim_members, start_adds_us_alive_at_incarnation_one_and_announces_it)
{
    const struct swim_member *me = M("me");
    cr_assert_not_null(me);
    cr_assert(me->is_self);
    cr_assert_eq(me->state, SWIM_STATE_ALIVE);
    cr_assert_eq(me->incarnation, 1);
    cr_assert_arr_eq(me->vsn, vsn, 6);
    const struct swim_bcast *b = queued("me");
    cr_assert_not_null(b);
    cr_assert_eq(b->msg[0], SWIM_MSG_ALIVE);
    struct swim_alive a;
    cr_assert_gt(swim_decode_alive(b->msg + 1, b->len - 1, &a), 0);
    cr_assert_eq(a.incarnation, 1);
    cr_assert_eq(a.port, 7946);
    cr_assert_eq(a.vsn.len, 6);
    cr_assert_eq(a.meta.len, 2);
}

Test(swim_members, alive_adds_unknown_members_and_regossips)
{
    alive("x", 1, "m1");
    cr_assert_str_eq(events, "join x;");
    cr_assert_eq(M("x")->state, SWIM_STATE_ALIVE);
    cr_assert_eq(M("x")->port, 8000);
    cr_assert_eq(ms.nb, 2);
    const struct swim_bcast *b = queued("x");
    cr_assert_not_null(b);
    cr_assert_eq(b->msg[0], SWIM_MSG_ALIVE);
}

Test(swim_members, alive_with_old_or_equal_incarnation_is_ignored)
{
    alive("x", 2, "m1");
    swim_bcast_queue_reset(&bq);
    events[0] = '\0';
    alive("x", 2, "other");
    alive("x", 1, "other");
    cr_assert_str_eq(events, "");
    cr_assert_eq(M("x")->meta_len, 2);
    cr_assert_null(queued("x"), "stale news must not be re-gossiped");
    alive("x", 3, "m2");
    cr_assert_str_eq(events, "update x;");
    cr_assert_eq(M("x")->incarnation, 3);
    cr_assert_eq(memcmp(M("x")->meta, "m2", 2), 0);
    alive("x", 4, "m2");
    cr_assert_str_eq(events, "update x;", "same meta: no update event");
}

Test(swim_members, alive_with_bad_versions_is_ignored)
{
    const uint8_t bad[6] = {0, 5, 2, 2, 5, 5};
    struct swim_alive a = {.addr = {lo, 4},
                           .incarnation = 1,
                           .meta = B(""),
                           .node = B("x"),
                           .port = 8000,
                           .vsn = {bad, 6}};
    swim_members_on_alive(&ms, &a, false);
    cr_assert_null(M("x"));
    const uint8_t inverted[6] = {4, 3, 2, 2, 5, 5};
    a.vsn.ptr = inverted;
    swim_members_on_alive(&ms, &a, false);
    cr_assert_null(M("x"));
    cr_assert_eq(st.rejects_version, 2);
}

Test(swim_members, another_address_for_a_known_name_is_a_conflict_unless_it_left)
{
    alive_at("x", 1, 8000, "");
    alive_at("x", 5, 9000, "");
    cr_assert_eq(M("x")->port, 8000);
    cr_assert_eq(M("x")->incarnation, 1);
    cr_assert_eq(st.rejects_conflict, 1);
    /* dead (not left) cannot be re-addressed either */
    dead("x", 1, "me");
    alive_at("x", 5, 9000, "");
    cr_assert_eq(M("x")->state, SWIM_STATE_DEAD);
    cr_assert_eq(st.rejects_conflict, 2);
    /* a left node may come back elsewhere, even with a lower incarnation */
    alive_at("y", 7, 8001, "");
    dead("y", 7, "y");
    cr_assert_eq(M("y")->state, SWIM_STATE_LEFT);
    events[0] = '\0';
    alive_at("y", 1, 9001, "");
    cr_assert_eq(M("y")->state, SWIM_STATE_ALIVE);
    cr_assert_eq(M("y")->port, 9001);
    cr_assert_str_eq(events, "join y;");
}

Test(swim_members, alive_about_us_is_refuted_unless_it_matches)
{
    const uint8_t ours[] = {0xff, 0x80};
    struct swim_alive a = {.addr = {lo, 4},
                           .incarnation = 1,
                           .meta = {ours, 2},
                           .node = B("me"),
                           .port = 7946,
                           .vsn = {vsn, 6}};
    swim_bcast_queue_reset(&bq);
    swim_members_on_alive(&ms, &a, false);
    cr_assert_eq(M("me")->incarnation, 1, "our own news coming back is not refuted");
    cr_assert_eq(st.refutations, 0);
    cr_assert_null(queued("me"));

    a.meta = B("stale"); /* say, from before a restart */
    swim_members_on_alive(&ms, &a, false);
    cr_assert_eq(M("me")->incarnation, 2);
    cr_assert_eq(st.refutations, 1);
    cr_assert_eq(swim_awareness_score(&aw), 1, "a refutation costs health");
    cr_assert_eq(M("me")->meta_len, 2, "we keep our meta");

    a.incarnation = 9;
    swim_members_on_alive(&ms, &a, false);
    cr_assert_eq(M("me")->incarnation, 10, "refute with accused + 1");
    const struct swim_bcast *b = queued("me");
    cr_assert_not_null(b);
    struct swim_alive got;
    cr_assert_gt(swim_decode_alive(b->msg + 1, b->len - 1, &got), 0);
    cr_assert_eq(got.incarnation, 10);
    cr_assert_eq(got.meta.len, 2);
    cr_assert_eq(M("me")->state, SWIM_STATE_ALIVE);
    cr_assert_str_eq(events, "", "refuting fires no event");
}

Test(swim_members, suspect_rules)
{
    suspect("nobody", 1, "x");
    cr_assert_eq(ms.nb, 1, "suspicion of an unknown node is ignored");
    alive("x", 3, "");
    suspect("x", 2, "y");
    cr_assert_eq(M("x")->state, SWIM_STATE_ALIVE, "older incarnation ignored");
    swim_bcast_queue_reset(&bq);
    suspect("x", 3, "y");
    cr_assert_eq(M("x")->state, SWIM_STATE_SUSPECT);
    cr_assert_eq(M("x")->state_change_ms, T0);
    const struct swim_bcast *b = queued("x");
    cr_assert_not_null(b);
    cr_assert_eq(b->msg[0], SWIM_MSG_SUSPECT);
    struct swim_suspect got;
    cr_assert_gt(swim_decode_suspect(b->msg + 1, b->len - 1, &got), 0);
    cr_assert(str_is(got.from, "y"));
    cr_assert_eq(st.suspicions, 1);
}

Test(swim_members, suspicion_expires_into_death_at_min_for_small_clusters)
{
    alive("x", 1, "");
    events[0] = '\0';
    suspect("x", 1, "me");
    /* n = 2 (us and x): k = 0, the timer is min = 4 s. */
    advance(3999);
    cr_assert_eq(M("x")->state, SWIM_STATE_SUSPECT);
    swim_bcast_queue_reset(&bq);
    advance(1);
    cr_assert_eq(M("x")->state, SWIM_STATE_DEAD);
    cr_assert_str_eq(events, "leave x dead;");
    cr_assert_eq(st.deaths_declared, 1);
    const struct swim_bcast *b = queued("x");
    cr_assert_not_null(b);
    cr_assert_eq(b->msg[0], SWIM_MSG_DEAD);
    struct swim_dead d;
    cr_assert_gt(swim_decode_dead(b->msg + 1, b->len - 1, &d), 0);
    cr_assert(str_is(d.from, "me"));
    cr_assert_eq(d.incarnation, 1);
}

Test(swim_members, independent_confirmations_shorten_the_timer)
{
    char name[8];
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        alive(name, 1, "");
    }
    /* n = 10: min 4 s, max 24 s, k = 2. */
    suspect("n0", 1, "a");
    advance(11000);
    cr_assert_eq(M("n0")->state, SWIM_STATE_SUSPECT);
    swim_bcast_queue_reset(&bq);
    suspect("n0", 1, "a");
    cr_assert_null(queued("n0"), "the first accuser again: nothing new");
    suspect("n0", 1, "b");
    cr_assert_not_null(queued("n0"), "a new confirmation is re-gossiped");
    cr_assert_eq(st.suspicion_confirmations, 1);
    /* one confirmation: 11.381 s from the start */
    advance(380);
    cr_assert_eq(M("n0")->state, SWIM_STATE_SUSPECT);
    advance(1);
    cr_assert_eq(M("n0")->state, SWIM_STATE_DEAD);

    /* two confirmations: 4 s (already elapsed -> at once) */
    suspect("n1", 1, "a");
    advance(3000);
    suspect("n1", 1, "b");
    suspect("n1", 1, "c");
    cr_assert_eq(M("n1")->state, SWIM_STATE_SUSPECT);
    advance(999);
    cr_assert_eq(M("n1")->state, SWIM_STATE_SUSPECT);
    advance(1);
    cr_assert_eq(M("n1")->state, SWIM_STATE_DEAD);
}

Test(swim_members, suspicion_of_us_is_refuted)
{
    suspect("me", 4, "x");
    cr_assert_eq(M("me")->state, SWIM_STATE_ALIVE);
    cr_assert_eq(M("me")->incarnation, 5);
    cr_assert_eq(st.refutations, 1);
    cr_assert_eq(swim_awareness_score(&aw), 1);
    suspect("me", 1, "x");
    cr_assert_eq(M("me")->incarnation, 5, "older accusations are ignored");
}

Test(swim_members, newer_alive_clears_suspicion)
{
    alive("x", 1, "");
    suspect("x", 1, "y");
    events[0] = '\0';
    alive("x", 2, "");
    cr_assert_eq(M("x")->state, SWIM_STATE_ALIVE);
    cr_assert_str_eq(events, "", "suspect -> alive is neither join nor update");
    advance(60000);
    cr_assert_eq(M("x")->state, SWIM_STATE_ALIVE, "the suspicion timer was cancelled");
}

Test(swim_members, dead_rules)
{
    dead("nobody", 1, "x");
    cr_assert_eq(ms.nb, 1);
    alive("x", 3, "");
    events[0] = '\0';
    dead("x", 2, "y");
    cr_assert_eq(M("x")->state, SWIM_STATE_ALIVE, "older incarnation ignored");
    dead("x", 3, "y");
    cr_assert_eq(M("x")->state, SWIM_STATE_DEAD);
    cr_assert_str_eq(events, "leave x dead;");
    dead("x", 4, "z");
    cr_assert_str_eq(events, "leave x dead;", "already dead: no second event");
    cr_assert_eq(M("x")->incarnation, 3);
    alive("x", 3, "");
    cr_assert_eq(M("x")->state, SWIM_STATE_DEAD, "dead needs a newer alive");
    alive("x", 4, "");
    cr_assert_eq(M("x")->state, SWIM_STATE_ALIVE);
    cr_assert_str_eq(events, "leave x dead;join x;");
    dead("x", 4, "x");
    cr_assert_eq(M("x")->state, SWIM_STATE_LEFT, "From == Node is a voluntary leave");
}

Test(swim_members, dead_about_us_is_refuted_unless_leaving)
{
    dead("me", 1, "x");
    cr_assert_eq(M("me")->state, SWIM_STATE_ALIVE);
    cr_assert_eq(M("me")->incarnation, 2);
    alive("x", 1, "");
    events[0] = '\0';
    cr_assert_eq(swim_members_leave(&ms), 0);
    cr_assert_eq(swim_members_leave(&ms), -EALREADY);
    cr_assert_eq(M("me")->state, SWIM_STATE_LEFT);
    cr_assert_str_eq(events, "leave me left;");
    cr_assert(swim_bcast_queue_pending(&bq, ms.leave_bcast_id));
    const struct swim_bcast *b = queued("me");
    cr_assert_eq(b->msg[0], SWIM_MSG_DEAD);
    /* while leaving, alive news about us no longer resurrects us */
    alive_at("me", 9, 7946, "");
    cr_assert_eq(M("me")->state, SWIM_STATE_LEFT);
}

Test(swim_members, merge_makes_remote_dead_only_suspect)
{
    alive("x", 1, "");
    alive("w", 1, "");
    events[0] = '\0';
    const uint8_t zero_meta[] = {0xff, 0x80};
    struct swim_push_node_state r[3] = {
        {.addr = {lo, 4},
         .incarnation = 1,
         .meta = {zero_meta, 2},
         .name = B("x"),
         .port = 8000,
         .state = SWIM_STATE_DEAD,
         .vsn = {vsn, 6}},
        {.addr = {lo, 4},
         .incarnation = 1,
         .meta = {zero_meta, 2},
         .name = B("w"),
         .port = 8000,
         .state = SWIM_STATE_LEFT,
         .vsn = {vsn, 6}},
        {.addr = {lo, 4},
         .incarnation = 1,
         .meta = {zero_meta, 2},
         .name = B("y"),
         .port = 8002,
         .state = SWIM_STATE_ALIVE,
         .vsn = {vsn, 6}},
    };
    cr_assert_eq(swim_members_verify(&ms, r, 3, NULL, 0), 0);
    swim_members_merge(&ms, r, 3);
    cr_assert_eq(M("x")->state, SWIM_STATE_SUSPECT);
    cr_assert_eq(M("w")->state, SWIM_STATE_LEFT);
    cr_assert_eq(M("y")->state, SWIM_STATE_ALIVE);
    cr_assert_str_eq(events, "leave w left;join y;");
}

Test(swim_members, version_check_refuses_incompatible_merges)
{
    const uint8_t no_delegate[6] = {1, 5, 2, 0, 0, 0};
    const uint8_t too_new[6] = {6, 7, 6, 2, 5, 5};
    struct swim_push_node_state r = {.addr = {lo, 4},
                                     .incarnation = 1,
                                     .name = B("z"),
                                     .port = 8000,
                                     .state = SWIM_STATE_ALIVE,
                                     .vsn = {no_delegate, 6}};
    char why[160];
    cr_assert_eq(swim_members_verify(&ms, &r, 1, why, sizeof(why)), -EPROTO);
    cr_assert(strstr(why, "delegate protocol version (0) is incompatible") != NULL, "%s", why);
    r.vsn.ptr = too_new;
    cr_assert_eq(swim_members_verify(&ms, &r, 1, why, sizeof(why)), -EPROTO);
    cr_assert(strstr(why, "protocol version") != NULL, "%s", why);
    r.vsn.ptr = vsn;
    cr_assert_eq(swim_members_verify(&ms, &r, 1, why, sizeof(why)), 0);
}

Test(swim_members, reset_reaps_dead_after_gossip_to_the_dead_but_keeps_left)
{
    alive("x", 1, "");
    alive("y", 1, "");
    dead("x", 1, "me");
    dead("y", 1, "y");
    swim_timers_set_now(&tm, T0 + 30000);
    swim_members_reset(&ms);
    cr_assert_not_null(M("x"), "still gossiped to for gossip_to_the_dead_ms");
    swim_timers_set_now(&tm, T0 + 30001);
    swim_members_reset(&ms);
    cr_assert_null(M("x"));
    cr_assert_not_null(M("y"), "left nodes are never reaped (memberlist 0.2.2)");
    cr_assert_eq(st.reaped, 1);
    cr_assert_eq(ms.nb, 2);
}

Test(swim_members, probe_order_visits_each_live_member_once_per_round)
{
    char name[8];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        alive(name, 1, "");
    }
    alive("d", 1, "");
    dead("d", 1, "me");
    alive("l", 1, "");
    dead("l", 1, "l");
    alive("s", 1, "");
    suspect("s", 1, "x");
    for (int round = 0; round < 3; round++) {
        unsigned seen = 0;
        for (int i = 0; i < 6; i++) {
            struct swim_node *n = swim_members_next_probe(&ms);
            cr_assert_not_null(n);
            cr_assert(!n->m.is_self && n->m.state != SWIM_STATE_DEAD &&
                          n->m.state != SWIM_STATE_LEFT,
                      "probed %s", n->m.name);
            unsigned bit = n->m.name[0] == 's' ? 5 : (unsigned)(n->m.name[1] - '0');
            cr_assert_not(seen & (1u << bit), "%s probed twice in a round", n->m.name);
            seen |= 1u << bit;
        }
        cr_assert_eq(seen, 0x3f);
    }
}

/* The first letters of every member picked in 50 draws of up to 8, sorted. */
static const char *picked(enum swim_pick how)
{
    static char out[27];
    bool seen[26] = {false};
    for (int round = 0; round < 50; round++) {
        struct swim_node *got[8];
        unsigned n = swim_members_pick(&ms, 8, how, NULL, got);
        for (unsigned i = 0; i < n; i++) {
            for (unsigned j = 0; j < i; j++)
                cr_assert_neq(got[i], got[j], "picked twice in one draw");
            seen[got[i]->m.name[0] - 'a'] = true;
        }
    }
    unsigned k = 0;
    for (int c = 0; c < 26; c++)
        if (seen[c])
            out[k++] = (char)('a' + c);
    out[k] = '\0';
    return out;
}

Test(swim_members, picks_follow_the_gossip_and_alive_filters)
{
    alive("a", 1, "");
    alive("s", 1, "");
    suspect("s", 1, "x");
    alive("d", 1, "");
    dead("d", 1, "me");
    alive("l", 1, "");
    dead("l", 1, "l");
    /* Random draws (3 x n of them, as memberlist): judge the union of many. */
    cr_assert_str_eq(picked(SWIM_PICK_GOSSIP), "ads", "alive, suspect, recently dead");
    cr_assert_str_eq(picked(SWIM_PICK_ALIVE), "a");
    swim_timers_set_now(&tm, T0 + cfg.gossip_to_the_dead_ms + 1);
    cr_assert_str_eq(picked(SWIM_PICK_GOSSIP), "as", "dead too long: no more gossip to it");
}

Test(swim_members, set_meta_announces_a_new_incarnation)
{
    cr_assert_eq(swim_members_set_meta(&ms, (const uint8_t *)"new", 3), 0);
    cr_assert_eq(M("me")->incarnation, 2);
    cr_assert_eq(M("me")->meta_len, 3);
    cr_assert_str_eq(events, "update me;");
    const struct swim_bcast *b = queued("me");
    struct swim_alive a;
    cr_assert_gt(swim_decode_alive(b->msg + 1, b->len - 1, &a), 0);
    cr_assert_eq(a.incarnation, 2);
    cr_assert(str_is(a.meta, "new"));
    uint8_t big[SWIM_META_MAX + 1] = {0};
    cr_assert_eq(swim_members_set_meta(&ms, big, sizeof(big)), -EMSGSIZE);
}
