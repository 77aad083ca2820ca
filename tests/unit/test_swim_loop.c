/*
 * test_swim_loop.c - whole swim instances (control/swim/swim.c and
 * everything under it) on one real event loop, talking over 127.0.0.1
 * with the local profile: joining, user broadcasts, failure detection of
 * an instance that stops, refutation of a false suspicion, graceful
 * leave, and the errors swim_create reports.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "swim.h"
#include "wire.h"

#define MAX_NODES 3

struct node {
    struct swim *s;
    char name[16];
    char log[4096]; /* "join x;leave y dead;..." */
    unsigned user_msgs;
    char last_user[64];
    char remote_state[64]; /* the last user state a push/pull brought */
    bool remote_join;
};

static struct yard_loop loop;
static struct node nodes[MAX_NODES];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void logf_(struct node *n, const char *what, const struct swim_member *m)
{
    size_t l = strlen(n->log);
    snprintf(n->log + l, sizeof(n->log) - l, "%s %s %s;", what, m->name, swim_state_name(m->state));
}
static void on_join(void *arg, const struct swim_member *m)
{
    logf_(arg, "join", m);
}
static void on_leave(void *arg, const struct swim_member *m)
{
    logf_(arg, "leave", m);
}
static void on_user(void *arg, const uint8_t *msg, size_t len)
{
    struct node *n = arg;
    n->user_msgs++;
    snprintf(n->last_user, sizeof(n->last_user), "%.*s", (int)len, (const char *)msg);
}

static size_t local_state(void *arg, const struct swim_member *peer, bool join, uint8_t *buf,
                          size_t cap)
{
    (void)peer;
    (void)join;
    struct node *n = arg;
    return (size_t)snprintf((char *)buf, cap, "state of %s", n->name);
}
static void merge_state(void *arg, const struct swim_member *peer, const uint8_t *buf, size_t len,
                        bool join)
{
    (void)peer;
    struct node *n = arg;
    snprintf(n->remote_state, sizeof(n->remote_state), "%.*s", (int)len, (const char *)buf);
    n->remote_join = join;
}

static void setup(void)
{
    cr_assert_eq(yard_loop_init(&loop), 0);
    memset(nodes, 0, sizeof(nodes));
}

static void teardown(void)
{
    for (int i = 0; i < MAX_NODES; i++)
        swim_destroy(nodes[i].s);
    yard_loop_fini(&loop);
}

TestSuite(swim_loop, .init = setup, .fini = teardown, .timeout = 60);

static void start(int i, const struct swim_keyring *kr)
{
    struct node *n = &nodes[i];
    snprintf(n->name, sizeof(n->name), "node%d", i);
    const uint8_t meta[] = {0xff, 0x80};
    struct swim_opts o = {
        .name = n->name,
        .bind_addr = "127.0.0.1",
        .meta = meta,
        .meta_len = sizeof(meta),
        .keyring = kr,
        .delegate = {.arg = n,
                     .on_join = on_join,
                     .on_leave = on_leave,
                     .on_user_msg = on_user,
                     .local_state = local_state,
                     .merge_remote_state = merge_state},
    };
    swim_config_profile(&o.config, SWIM_PROFILE_LOCAL);
    /* The local profile sends each broadcast only twice; in three nodes
     * both sends may go to the same peer (memberlist picks gossip targets
     * with 3 x n random draws), which the assertions below would see as
     * loss once in a few dozen runs. LAN's four sends make that negligible;
     * anti-entropy repairs it in real clusters. */
    o.config.retransmit_mult = 4;
    char why[256];
    cr_assert_eq(swim_create(&loop, &o, &n->s, why, sizeof(why)), 0, "%s", why);
}

static void join(int i, int seed)
{
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", swim_local_port(nodes[seed].s));
    const char *addrs[] = {addr};
    cr_assert_eq(swim_join(nodes[i].s, addrs, 1), 0);
}

/* The state node i has for node j (-1: unknown). */
static int state_of(int i, int j)
{
    const struct swim_member *m = swim_member_find(nodes[i].s, nodes[j].name);
    return m != NULL ? m->state : -1;
}

/* Run the loop until cond() or timeout_ms; returns the ms it took, or -1. */
static long run_until(bool (*cond)(void), unsigned timeout_ms)
{
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < timeout_ms) {
        if (cond())
            return (long)(now_ms() - t0);
        yard_loop_run_once(&loop, 20);
    }
    return cond() ? (long)(now_ms() - t0) : -1;
}

static bool all_see_all_alive(void)
{
    for (int i = 0; i < MAX_NODES; i++)
        for (int j = 0; j < MAX_NODES; j++)
            if (nodes[i].s != NULL && nodes[j].s != NULL && state_of(i, j) != SWIM_STATE_ALIVE)
                return false;
    return true;
}

static void form_cluster(void)
{
    for (int i = 0; i < MAX_NODES; i++)
        start(i, NULL);
    join(1, 0);
    join(2, 0);
    if (run_until(all_see_all_alive, 5000) < 0) {
        char m[256] = "";
        for (int i = 0; i < MAX_NODES; i++)
            for (int j = 0; j < MAX_NODES; j++)
                snprintf(m + strlen(m), sizeof(m) - strlen(m), "%d->%d:%d ", i, j, state_of(i, j));
        cr_assert_fail("the cluster did not form: %s", m);
    }
    cr_assert(swim_joined(nodes[1].s) && swim_joined(nodes[2].s));
}

static bool node2_dead_for_others(void)
{
    return state_of(0, 2) == SWIM_STATE_DEAD && state_of(1, 2) == SWIM_STATE_DEAD;
}

Test(swim_loop, join_then_detect_a_stopped_instance_as_dead)
{
    form_cluster();
    cr_assert(strstr(nodes[0].log, "join node1 alive;") != NULL, "%s", nodes[0].log);
    cr_assert(strstr(nodes[0].log, "join node2 alive;") != NULL, "%s", nodes[0].log);
    cr_assert(strstr(nodes[2].log, "join node1 alive;") != NULL, "node2 learnt of node1: %s",
              nodes[2].log);

    swim_destroy(nodes[2].s);
    nodes[2].s = NULL;
    /* Local profile, three nodes: a probe round of up to 2 s, 1 s of
     * probing, then the suspicion timer: k = 1, so 18 s unless the other
     * survivor confirms, which brings it down to min = 3 s. */
    long took = run_until(node2_dead_for_others, 15000);
    cr_assert_geq(took, 0, "node2 was not declared dead in 15 s");
    cr_assert_lt(took, 10000, "took %ld ms", took);
    cr_assert(strstr(nodes[0].log, "leave node2 dead;") != NULL, "%s", nodes[0].log);
    cr_assert(strstr(nodes[1].log, "leave node2 dead;") != NULL, "%s", nodes[1].log);
    const struct swim_stats *st0 = swim_stats(nodes[0].s), *st1 = swim_stats(nodes[1].s);
    cr_assert_geq(st0->suspects_raised + st1->suspects_raised, 1);
    cr_assert_geq(st0->deaths_declared + st1->deaths_declared, 1);
    cr_assert_geq(st0->probes, 2);
    /* The survivors helped each other: indirect pings with nack asked for
     * (protocol 4), answered with a nack when node2 stayed silent. */
    cr_assert_geq(st0->probe_indirect_requests + st1->probe_indirect_requests, 1);
    cr_assert_geq(st0->nacks_sent + st1->nacks_sent, 1);
    cr_assert_geq(st0->msg_nack_in + st1->msg_nack_in, 1);
}

static bool all_got_user_msg(void)
{
    return nodes[1].user_msgs > 0 && nodes[2].user_msgs > 0;
}

Test(swim_loop, user_broadcasts_reach_every_member)
{
    form_cluster();
    cr_assert_eq(swim_user_broadcast(nodes[0].s, (const uint8_t *)"hello", 5), 0);
    cr_assert_geq(run_until(all_got_user_msg, 3000), 0);
    cr_assert_str_eq(nodes[1].last_user, "hello");
    cr_assert_str_eq(nodes[2].last_user, "hello");
    uint8_t big[2000] = {0};
    cr_assert_eq(swim_user_broadcast(nodes[0].s, big, swim_user_msg_max(nodes[0].s) + 1),
                 -EMSGSIZE);
}

static bool push_pull_done(void)
{
    return swim_stats(nodes[0].s)->push_pulls_out >= 1 &&
           swim_stats(nodes[1].s)->push_pulls_in >= 1;
}

Test(swim_loop, push_pull_on_demand_exchanges_tables_and_user_state)
{
    form_cluster();
    cr_assert_str_eq(nodes[1].remote_state, "state of node0", "node0's join reply carried it");
    cr_assert(nodes[1].remote_join);
    nodes[0].remote_state[0] = nodes[1].remote_state[0] = '\0';
    cr_assert_eq(swim_push_pull_with(nodes[0].s, "node1"), 0);
    cr_assert_eq(swim_push_pull_with(nodes[0].s, "nobody"), -ENOENT);
    cr_assert_eq(swim_push_pull_with(nodes[0].s, "node0"), -ENOENT, "not with ourselves");
    cr_assert_geq(run_until(push_pull_done, 3000), 0);
    cr_assert_str_eq(nodes[1].remote_state, "state of node0");
    cr_assert_str_eq(nodes[0].remote_state, "state of node1");
    cr_assert_not(nodes[0].remote_join, "anti-entropy, not a join");
}

static uint32_t inc_before;
static bool node1_refuted(void)
{
    const struct swim_member *m = swim_member_find(nodes[0].s, "node1");
    return m->state == SWIM_STATE_ALIVE && m->incarnation > inc_before;
}

Test(swim_loop, false_suspicion_is_refuted)
{
    form_cluster();
    inc_before = swim_member_find(nodes[1].s, "node1")->incarnation;

    /* Someone tells node0 that node1 is suspect: a plain memberlist
     * suspect message, as a serf agent would gossip it. */
    uint8_t pkt[256];
    struct swim_suspect sus = {
        .from = {(const uint8_t *)"mallory", 7},
        .incarnation = inc_before,
        .node = {(const uint8_t *)"node1", 5},
    };
    int len = swim_encode_suspect(pkt, sizeof(pkt), &sus);
    cr_assert_gt(len, 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(swim_local_port(nodes[0].s))};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    cr_assert_eq(sendto(fd, pkt, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)), len);
    close(fd);

    /* node0 suspects node1 and gossips it; node1 refutes with a higher
     * incarnation, which clears the suspicion everywhere. */
    cr_assert_geq(run_until(node1_refuted, 3000), 0, "node1 did not refute");
    cr_assert_geq(swim_stats(nodes[1].s)->refutations, 1);
    cr_assert_geq(swim_stats(nodes[0].s)->suspicions, 1);
    /* ... and nobody declares it dead once its suspicion would have run out. */
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < 4000)
        yard_loop_run_once(&loop, 20);
    for (int i = 0; i < MAX_NODES; i++)
        cr_assert_eq(state_of(i, 1), SWIM_STATE_ALIVE, "node%d sees node1 %s", i,
                     swim_state_name((uint8_t)state_of(i, 1)));
    cr_assert(strstr(nodes[0].log, "leave node1") == NULL);
}

static bool node2_left(void)
{
    return swim_left(nodes[2].s) && state_of(0, 2) == SWIM_STATE_LEFT &&
           state_of(1, 2) == SWIM_STATE_LEFT;
}

Test(swim_loop, graceful_leave_shows_as_left)
{
    form_cluster();
    cr_assert_eq(swim_leave(nodes[2].s, 3000), 0);
    cr_assert_eq(swim_leave(nodes[2].s, 3000), -EALREADY);
    cr_assert_geq(run_until(node2_left, 5000), 0);
    cr_assert(strstr(nodes[0].log, "leave node2 left;") != NULL, "%s", nodes[0].log);
}

Test(swim_loop, encrypted_cluster_refuses_a_node_with_another_key)
{
    struct swim_keyring good, bad;
    swim_keyring_init(&good);
    swim_keyring_init(&bad);
    uint8_t k1[32], k2[32];
    memset(k1, 1, sizeof(k1));
    memset(k2, 2, sizeof(k2));
    cr_assert_eq(swim_keyring_add(&good, k1, sizeof(k1)), 0);
    cr_assert_eq(swim_keyring_add(&bad, k2, sizeof(k2)), 0);
    start(0, &good);
    start(1, &good);
    start(2, &bad);
    join(1, 0);
    join(2, 0);
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < 2500)
        yard_loop_run_once(&loop, 20);
    cr_assert_eq(state_of(0, 1), SWIM_STATE_ALIVE);
    cr_assert_eq(state_of(1, 0), SWIM_STATE_ALIVE);
    cr_assert_eq(state_of(0, 2), -1, "the wrong key got in");
    cr_assert_eq(state_of(2, 0), -1);
    cr_assert_not(swim_joined(nodes[2].s));
    cr_assert_geq(swim_stats(nodes[2].s)->join_failures, 1);
    cr_assert_geq(swim_stats(nodes[0].s)->rejects_key, 1, "node0 refused the stream");
}

Test(swim_loop, create_names_the_problem)
{
    start(0, NULL);
    char why[256];
    struct swim *s = NULL;
    struct swim_opts o = {
        .name = "other", .bind_addr = "127.0.0.1", .bind_port = swim_local_port(nodes[0].s)};
    swim_config_profile(&o.config, SWIM_PROFILE_LOCAL);
    cr_assert_eq(swim_create(&loop, &o, &s, why, sizeof(why)), -EADDRINUSE);
    char where[32];
    snprintf(where, sizeof(where), "127.0.0.1:%u", swim_local_port(nodes[0].s));
    cr_assert(strstr(why, where) != NULL && strstr(why, "in use") != NULL, "%s", why);

    o.bind_port = 0;
    o.bind_addr = "300.1.1.1";
    cr_assert_eq(swim_create(&loop, &o, &s, why, sizeof(why)), -EINVAL);
    cr_assert(strstr(why, "300.1.1.1") != NULL, "%s", why);
    o.bind_addr = "0.0.0.0";
    cr_assert_eq(swim_create(&loop, &o, &s, why, sizeof(why)), -EINVAL);
    cr_assert(strstr(why, "advertise") != NULL, "%s", why);
    o.bind_addr = "127.0.0.1";
    uint8_t meta[SWIM_META_MAX + 1] = {0};
    o.meta = meta;
    o.meta_len = sizeof(meta);
    cr_assert_eq(swim_create(&loop, &o, &s, why, sizeof(why)), -EMSGSIZE);
}
