/*
 * test_agent.c - the agent's side of the shared-memory contract: commands
 * taken from the command ring and what they do to the directory, what the
 * header then says (applied, rejected, swept, generation, the directory's
 * size, the last applied sequence), and replies taken from the reply ring
 * and framed for a port.
 *
 * Commands are put in the real command ring exactly as a control plane
 * would (rte_ring_mp_enqueue_elem on struct yard_cmd) and applied by
 * yard_agent_serve_commands(), the function the agent's loop runs. The
 * dataplane state is dp_fixture.h's. Reply frames are judged by checksums
 * computed here from a plain RFC 1071 sum, not by DPDK's helpers.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include <urcu-qsbr.h>

#include "agent.h"
#include "dp_fixture.h"
#include "members.h"
#include "reply.h"
#include "yard_shm.h"

struct yard_dp yard_dp; /* defined by main.c in the appliance */

static struct yard_lcore_stats *agent_stats;
static uint64_t next_seq = 1;

static void setup(void)
{
    yard_test_dp_start("agent", 1024);
    agent_stats = yard_shm_lcore(&yard_dp.shm, 0);
}

static void teardown(void)
{
    yard_members_free(&yard_dp.members);
    yard_test_dp_stop();
}

TestSuite(agent, .init = setup, .fini = teardown, .timeout = 60);

/* ---- Commands ---- */

static const uint8_t app_mac[6] = {0x02, 0xaa, 0, 0, 0, 1};

static struct yard_cmd loc_cmd(unsigned type, const char *name, unsigned dest_type, unsigned host,
                               uint16_t port, unsigned origin)
{
    struct yard_cmd c;
    memset(&c, 0, sizeof(c));
    c.seq = next_seq++;
    c.type = type;
    c.u.loc.name_len = (uint8_t)strlen(name);
    snprintf(c.u.loc.name, sizeof(c.u.loc.name), "%s", name);
    c.u.loc.dest_type = (uint8_t)dest_type;
    c.u.loc.origin = (uint8_t)origin;
    c.u.loc.has_mac = 1;
    memcpy(c.u.loc.mac, app_mac, 6);
    c.u.loc.udp_port = port;
    c.u.loc.ipv4 = yt_ip4(198, 18, 1, host);
    return c;
}

static struct yard_cmd add_cmd(const char *name, unsigned dest_type, unsigned host, uint16_t port)
{
    return loc_cmd(YARD_CMD_LOC_ADD, name, dest_type, host, port, YARD_ORIGIN_REGISTERED);
}

static struct yard_cmd sync_cmd(unsigned type, uint32_t generation)
{
    struct yard_cmd c;
    memset(&c, 0, sizeof(c));
    c.seq = next_seq++;
    c.type = type;
    c.generation = generation;
    return c;
}

static void push(struct yard_cmd c)
{
    cr_assert_eq(rte_ring_mp_enqueue_elem(yard_shm_cmd_ring(&yard_dp.shm), &c, sizeof(c)), 0,
                 "command ring full");
}

/* Apply what the ring holds; the header must then say every command went through. */
static void serve(void)
{
    yard_agent_serve_commands(agent_stats);
    cr_assert_eq(rte_ring_count(yard_shm_cmd_ring(&yard_dp.shm)), 0, "ring drained");
    cr_assert_eq(__atomic_load_n(&yard_dp.shm.hdr->cmd_applied_seq, __ATOMIC_ACQUIRE), next_seq - 1,
                 "cmd_applied_seq is the last command's");
}

static const struct yard_shm_header *hdr(void)
{
    return yard_dp.shm.hdr;
}

static struct yard_route *get(const char *name)
{
    return yard_dir_get(yard_dp.dir, name, (unsigned)strlen(name));
}

/* A lookup as workers make it. */
static bool worker_sees(const char *name)
{
    struct yard_name_key key;
    yard_name_key_set(&key, name, (unsigned)strlen(name));
    const void *keys[1] = {&key};
    uint64_t hits = 0;
    struct yard_route *r[1];
    yard_dir_lookup_bulk(yard_dir_hash(yard_dp.dir), keys, 1, &hits, r);
    return hits == 1;
}

Test(agent, commands_build_destinations_and_the_header_counts_them)
{
    push(add_cmd("svc", YARD_DEST_ENDPOINT, 20, 7000));
    push(add_cmd("grp", YARD_DEST_ENDPOINT, 21, 7000));
    push(add_cmd("grp", YARD_DEST_ENDPOINT, 22, 7000));
    push(add_cmd("grp", YARD_DEST_ENDPOINT, 23, 7000));
    push(add_cmd("news", YARD_DEST_TOPIC, 24, 7100));
    push(add_cmd("news", YARD_DEST_TOPIC, 25, 7100));
    push(add_cmd("news", YARD_DEST_TOPIC, 25, 7100)); /* a refresh */
    serve();
    cr_assert_eq(hdr()->cmd_applied, 7);
    cr_assert_eq(hdr()->cmd_rejected, 0);
    cr_assert_eq(hdr()->dir_names, 3);
    cr_assert_eq(hdr()->dir_locations, 6);
    cr_assert_eq(hdr()->dir_capacity, 1024);
    cr_assert_eq(hdr()->dir_bytes, yard_dir_bytes(yard_dp.dir));
    cr_assert_eq(get("svc")->nb_locs, 1);
    cr_assert_eq(get("grp")->nb_locs, 3);
    cr_assert_eq(get("news")->type, YARD_DEST_TOPIC);
    cr_assert_eq(get("news")->nb_locs, 2);
    struct yard_neighbor *nh = get("svc")->loc[0].nh;
    cr_assert_eq(nh->state, YARD_NEIGH_STATIC, "the command's MAC, no ARP");
    cr_assert_eq(memcmp(nh->mac.addr_bytes, app_mac, 6), 0);
    cr_assert(nh->fixed_by_control);

    push(loc_cmd(YARD_CMD_LOC_DEL, "grp", 0, 22, 7000, YARD_ORIGIN_REGISTERED));
    push(loc_cmd(YARD_CMD_NAME_DEL, "news", 0, 0, 0, YARD_ORIGIN_REGISTERED));
    push(loc_cmd(YARD_CMD_NAME_DEL, "never", 0, 0, 0, YARD_ORIGIN_REGISTERED));
    push(loc_cmd(YARD_CMD_LOC_DEL, "svc", 0, 99, 7000, YARD_ORIGIN_REGISTERED));
    serve();
    cr_assert_eq(hdr()->cmd_applied, 11, "removing what is absent is no error");
    cr_assert_eq(hdr()->cmd_rejected, 0);
    cr_assert_eq(hdr()->dir_names, 2);
    cr_assert_eq(hdr()->dir_locations, 3);
    cr_assert_null(get("news"));
    cr_assert_eq(get("grp")->nb_locs, 2);
}

Test(agent, bad_commands_are_rejected_and_counted)
{
    struct yard_cmd c;
    push(add_cmd("ep", YARD_DEST_ENDPOINT, 20, 7000));
    push(add_cmd("ep", YARD_DEST_TOPIC, 21, 7000)); /* 1: other type */
    c = add_cmd("x", YARD_DEST_ENDPOINT, 20, 7000);
    c.u.loc.name_len = 0; /* 2 */
    push(c);
    c = add_cmd("x", YARD_DEST_ENDPOINT, 20, 7000);
    c.u.loc.name_len = 64; /* 3 */
    push(c);
    c = add_cmd("ab", YARD_DEST_ENDPOINT, 20, 7000);
    c.u.loc.name[1] = 0; /* 4: a NUL inside the name */
    push(c);
    push(loc_cmd(YARD_CMD_LOC_ADD, "cf", 0, 20, 7000, YARD_ORIGIN_CONFIG)); /* 5 */
    push(add_cmd("bad.type", 7, 20, 7000));                                 /* 6 */
    push(add_cmd("own", YARD_DEST_ENDPOINT, 1, 7000));                      /* 7: own address */
    push(add_cmd("port0", YARD_DEST_ENDPOINT, 20, 0));                      /* 8 */
    push(sync_cmd(YARD_CMD_SYNC_END, 1));                                   /* 9: no BEGIN */
    c = sync_cmd(YARD_CMD_SYNC_BEGIN, 0);
    c.type = 42; /* 10: unknown */
    push(c);
    c = loc_cmd(YARD_CMD_LOC_DEL, "ep", 0, 20, 7000, YARD_ORIGIN_REGISTERED);
    c.u.loc.name_len = 70; /* 11 */
    push(c);
    serve();
    cr_assert_eq(hdr()->cmd_rejected, 11);
    cr_assert_eq(hdr()->cmd_applied, 1);
    cr_assert_eq(hdr()->dir_names, 1);
    cr_assert_eq(get("ep")->type, YARD_DEST_ENDPOINT);
    cr_assert_eq(hdr()->dataplane.generation, 0, "no sync completed");
}

Test(agent, a_location_from_the_file_is_not_the_control_planes_to_delete)
{
    struct yard_route_conf *rc = calloc(1, sizeof(*rc));
    snprintf(rc->name, sizeof(rc->name), "cfg");
    rc->name_len = 3;
    rc->ipv4 = yt_ip4(198, 18, 1, 10);
    rc->udp_port = 7000;
    yard_dp.cfg.routes = rc;
    yard_dp.cfg.nb_routes = 1;
    char err[256];
    cr_assert_eq(yard_agent_load_routes(err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(hdr()->dir_names, 1, "published at load");

    push(add_cmd("cfg", YARD_DEST_ENDPOINT, 11, 7000));
    push(loc_cmd(YARD_CMD_LOC_DEL, "cfg", 0, 10, 7000, YARD_ORIGIN_REGISTERED));
    push(loc_cmd(YARD_CMD_NAME_DEL, "cfg", 0, 0, 0, YARD_ORIGIN_REGISTERED));
    serve();
    cr_assert_eq(hdr()->cmd_rejected, 1, "LOC_DEL of the file's location");
    cr_assert_eq(hdr()->cmd_applied, 2);
    struct yard_route *r = get("cfg");
    cr_assert_not_null(r);
    cr_assert_eq(r->nb_locs, 1);
    cr_assert_eq(r->loc[0].dst_ipv4, yt_ip4(198, 18, 1, 10));
    cr_assert_eq(r->loc[0].origin, YARD_ORIGIN_CONFIG);
}

Test(agent, a_full_sync_sweeps_at_its_end_and_publishes_its_generation)
{
    for (unsigned i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "x%u", i);
        push(add_cmd(name, YARD_DEST_ENDPOINT, 20 + i, 7000));
    }
    serve();
    cr_assert_eq(hdr()->dir_names, 10);

    /* The control plane restarts and re-sends what it still has: x0-x4 and
     * a new one. Until SYNC_END, every old name keeps forwarding. */
    push(sync_cmd(YARD_CMD_SYNC_BEGIN, 9));
    for (unsigned i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "x%u", i);
        push(add_cmd(name, YARD_DEST_ENDPOINT, 20 + i, 7000));
    }
    push(add_cmd("y", YARD_DEST_ENDPOINT, 40, 7000));
    serve();
    for (unsigned i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "x%u", i);
        cr_assert(worker_sees(name), "%s removed before SYNC_END", name);
    }
    cr_assert_eq(hdr()->sync_swept, 0);
    cr_assert_eq(hdr()->dataplane.generation, 0, "the generation moves at the end only");

    push(sync_cmd(YARD_CMD_SYNC_END, 9));
    serve();
    cr_assert_eq(hdr()->dataplane.generation, 9);
    cr_assert_eq(hdr()->sync_swept, 5);
    cr_assert_eq(hdr()->dir_names, 6);
    cr_assert_eq(hdr()->dir_locations, 6);
    for (unsigned i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "x%u", i);
        cr_assert_eq(worker_sees(name), i < 5, "%s after SYNC_END", name);
    }
    cr_assert(worker_sees("y"));
    cr_assert_eq(hdr()->cmd_rejected, 0);

    /* A stray end changes nothing. */
    push(sync_cmd(YARD_CMD_SYNC_END, 9));
    serve();
    cr_assert_eq(hdr()->cmd_rejected, 1);
    cr_assert_eq(hdr()->dataplane.generation, 9);
    cr_assert_eq(hdr()->dir_names, 6);
}

/* The agent keeps draining while commands keep coming: more than the ring
 * holds, pushed by another thread, all applied by one call or a few. */
static void *producer(void *arg)
{
    unsigned n = *(unsigned *)arg;
    struct rte_ring *r = yard_shm_cmd_ring(&yard_dp.shm);
    for (unsigned i = 0; i < n; i++) {
        struct yard_cmd c;
        memset(&c, 0, sizeof(c));
        c.seq = 1000 + i;
        c.type = YARD_CMD_LOC_ADD;
        c.u.loc.name_len = (uint8_t)snprintf(c.u.loc.name, sizeof(c.u.loc.name), "p%u", i);
        c.u.loc.origin = YARD_ORIGIN_REGISTERED;
        c.u.loc.ipv4 = yt_ip4(198, 18, 1, 10 + i % 200);
        c.u.loc.udp_port = (uint16_t)(7000 + i % 50);
        while (rte_ring_mp_enqueue_elem(r, &c, sizeof(c)) != 0)
            sched_yield();
    }
    return NULL;
}

Test(agent, commands_beyond_the_rings_size_are_all_applied)
{
    yard_dir_free(yard_dp.dir);
    yard_dp.dir = yard_dir_create("yt_dir2", 40000, SOCKET_ID_ANY);
    cr_assert_not_null(yard_dp.dir);
    yard_dests_init(&yard_dp.dests, yard_dp.dir);
    unsigned n = 30000;
    cr_assert_gt(n, YARD_SHM_CMD_SLOTS);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, producer, &n), 0);
    uint64_t last = 1000 + n - 1;
    unsigned calls = 0;
    while (__atomic_load_n(&hdr()->cmd_applied_seq, __ATOMIC_ACQUIRE) != last) {
        if (yard_agent_serve_commands(agent_stats) == 0)
            sched_yield();
        calls++;
    }
    pthread_join(t, NULL);
    cr_assert_eq(hdr()->cmd_applied, n);
    cr_assert_eq(hdr()->dir_names, n);
    cr_assert_eq(hdr()->dir_locations, n);
    cr_assert(worker_sees("p0") && worker_sees("p29999"));
}

/* ---- Cluster members: the sources FANOUT is accepted from ---- */

static struct yard_cmd member_cmd(unsigned type, uint32_t ipv4, uint32_t node)
{
    struct yard_cmd c;
    yard_cmd_member_init(&c, type, ipv4, node, next_seq++, 0);
    return c;
}

/* What a worker's check of a FANOUT's source says. */
static bool worker_accepts(uint32_t ipv4)
{
    return yard_members_has(&yard_dp.members, ipv4);
}

Test(agent, member_commands_keep_the_addresses_fanout_is_accepted_from)
{
    cr_assert_not(worker_accepts(yt_ip4(198, 18, 0, 7)), "no member before any command");
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 7), 2));
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 1, 8), 3));
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 7), 2)); /* a refresh */
    serve();
    cr_assert_eq(hdr()->cmd_applied, 3);
    cr_assert_eq(hdr()->cmd_rejected, 0);
    cr_assert_eq(hdr()->dir_members, 2);
    cr_assert(worker_accepts(yt_ip4(198, 18, 0, 7)));
    cr_assert(worker_accepts(yt_ip4(198, 18, 1, 8)));
    cr_assert_not(worker_accepts(yt_ip4(198, 18, 0, 8)));
    cr_assert_not(worker_accepts(yt_ip4(198, 18, 1, 7)));

    push(member_cmd(YARD_CMD_MEMBER_DEL, yt_ip4(198, 18, 0, 7), 2));
    push(member_cmd(YARD_CMD_MEMBER_DEL, yt_ip4(198, 18, 0, 7), 2)); /* absent: no error */
    push(member_cmd(YARD_CMD_MEMBER_DEL, yt_ip4(198, 18, 1, 8), 9)); /* another node's: kept */
    serve();
    cr_assert_eq(hdr()->cmd_applied, 6);
    cr_assert_eq(hdr()->cmd_rejected, 0);
    cr_assert_eq(hdr()->dir_members, 1);
    cr_assert_not(worker_accepts(yt_ip4(198, 18, 0, 7)), "refused once removed");
    cr_assert(worker_accepts(yt_ip4(198, 18, 1, 8)));
}

Test(agent, members_that_cannot_be_are_rejected_and_counted)
{
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 7), 0));      /* this node */
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(0, 0, 0, 0), 2));         /* no address */
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(127, 0, 0, 1), 2));       /* loopback */
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(224, 0, 0, 9), 2));       /* multicast */
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(255, 255, 255, 255), 2)); /* broadcast */
    serve();
    cr_assert_eq(hdr()->cmd_rejected, 5);
    cr_assert_eq(hdr()->cmd_applied, 0);
    cr_assert_eq(hdr()->dir_members, 0);
    cr_assert_not(worker_accepts(yt_ip4(198, 18, 0, 7)));
}

Test(agent, at_most_1024_members)
{
    for (unsigned i = 0; i < YARD_MEMBERS_MAX; i++)
        push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(10, 1, i >> 8, i & 0xff), 100 + i));
    serve();
    cr_assert_eq(hdr()->cmd_applied, YARD_MEMBERS_MAX);
    cr_assert_eq(hdr()->dir_members, YARD_MEMBERS_MAX);
    for (unsigned i = 0; i < YARD_MEMBERS_MAX; i++)
        cr_assert(worker_accepts(yt_ip4(10, 1, i >> 8, i & 0xff)), "member %u", i);

    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(10, 9, 9, 9), 5000)); /* one too many */
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(10, 1, 0, 5), 105));  /* a refresh still goes */
    serve();
    cr_assert_eq(hdr()->cmd_rejected, 1, "the 1025th member is refused");
    cr_assert_eq(hdr()->dir_members, YARD_MEMBERS_MAX);
    cr_assert_not(worker_accepts(yt_ip4(10, 9, 9, 9)));

    push(member_cmd(YARD_CMD_MEMBER_DEL, yt_ip4(10, 1, 3, 255), 100 + 1023));
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(10, 9, 9, 9), 5000));
    serve();
    cr_assert_eq(hdr()->cmd_rejected, 1, "room again after a removal");
    cr_assert(worker_accepts(yt_ip4(10, 9, 9, 9)));
    cr_assert_not(worker_accepts(yt_ip4(10, 1, 3, 255)));
}

Test(agent, a_full_sync_sweeps_the_members_not_re_added)
{
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 11), 1));
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 12), 2));
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 13), 3));
    push(add_cmd("svc", YARD_DEST_ENDPOINT, 20, 7000));
    serve();
    cr_assert_eq(hdr()->dir_members, 3);

    /* The control plane re-sends what it still has: member 11, a new 14. */
    push(sync_cmd(YARD_CMD_SYNC_BEGIN, 4));
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 11), 1));
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 14), 4));
    push(add_cmd("svc", YARD_DEST_ENDPOINT, 20, 7000));
    serve();
    cr_assert_eq(hdr()->dir_members, 4, "nothing removed before SYNC_END");
    for (unsigned h = 11; h <= 14; h++)
        cr_assert(worker_accepts(yt_ip4(198, 18, 0, h)), "member .%u during the sync", h);
    cr_assert_eq(hdr()->sync_members_swept, 0);

    push(sync_cmd(YARD_CMD_SYNC_END, 4));
    serve();
    cr_assert_eq(hdr()->cmd_rejected, 0);
    cr_assert_eq(hdr()->dataplane.generation, 4);
    cr_assert_eq(hdr()->dir_members, 2);
    cr_assert_eq(hdr()->sync_members_swept, 2);
    cr_assert_eq(hdr()->sync_swept, 0, "the re-added location stays");
    cr_assert(worker_accepts(yt_ip4(198, 18, 0, 11)));
    cr_assert_not(worker_accepts(yt_ip4(198, 18, 0, 12)), "swept");
    cr_assert_not(worker_accepts(yt_ip4(198, 18, 0, 13)), "swept");
    cr_assert(worker_accepts(yt_ip4(198, 18, 0, 14)));
    cr_assert(worker_sees("svc"));

    /* A sync that re-sends no member leaves none. */
    push(sync_cmd(YARD_CMD_SYNC_BEGIN, 5));
    push(sync_cmd(YARD_CMD_SYNC_END, 5));
    serve();
    cr_assert_eq(hdr()->dir_members, 0);
    cr_assert_eq(hdr()->sync_members_swept, 4);
    cr_assert_not(worker_accepts(yt_ip4(198, 18, 0, 11)));
}

/* A worker: QSBR reader, checks two addresses until told to stop. */
struct reader_arg {
    bool stop;
    unsigned long lookups, misses; /* written by the reader, read once it is running or done */
};

static void *member_reader(void *p)
{
    struct reader_arg *a = p;
    rcu_register_thread();
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        unsigned long misses = 0;
        for (unsigned i = 0; i < 64; i++) {
            misses += !yard_members_has(&yard_dp.members, yt_ip4(198, 18, 0, 50));
            (void)yard_members_has(&yard_dp.members, yt_ip4(198, 18, 0, 51));
        }
        __atomic_fetch_add(&a->misses, misses, __ATOMIC_RELAXED);
        __atomic_fetch_add(&a->lookups, 64, __ATOMIC_RELEASE);
        rcu_quiescent_state();
    }
    rcu_unregister_thread();
    return NULL;
}

/* Arrays replaced under a reader: it never sees a table without the member
 * that stays, and (in the sanitizer build) never reads a freed array. */
Test(agent, members_change_under_a_reading_worker)
{
    push(member_cmd(YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 50), 1));
    serve();
    struct reader_arg arg = {0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, member_reader, &arg), 0);
    while (__atomic_load_n(&arg.lookups, __ATOMIC_ACQUIRE) == 0)
        sched_yield(); /* reading before the first change */
    for (unsigned i = 0; i < 500; i++) {
        push(member_cmd(i % 2 ? YARD_CMD_MEMBER_DEL : YARD_CMD_MEMBER_ADD, yt_ip4(198, 18, 0, 51),
                        2));
        serve();
        cr_assert_eq(worker_accepts(yt_ip4(198, 18, 0, 51)), i % 2 == 0, "round %u", i);
    }
    unsigned long during = __atomic_load_n(&arg.lookups, __ATOMIC_ACQUIRE);
    __atomic_store_n(&arg.stop, true, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    cr_assert_geq(during, 64 * 500, "the reader passed a quiescent state per change at least");
    cr_assert_eq(arg.misses, 0, "%lu of %lu lookups missed the steady member", arg.misses,
                 arg.lookups);
    cr_assert_eq(hdr()->cmd_applied, 501);
}

/* ---- Replies ---- */

static uint32_t sum16(uint32_t sum, const uint8_t *p, unsigned len)
{
    for (unsigned i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

static struct yard_reply reply_to(uint16_t tx_port, unsigned len)
{
    struct yard_reply r;
    memset(&r, 0, sizeof(r));
    r.dst_ipv4 = yt_ip4(198, 18, 1, 77);
    r.dst_udp_port = 40123;
    r.tx_port = tx_port;
    memcpy(r.dst_mac, app_mac, 6);
    r.len = (uint16_t)len;
    for (unsigned i = 0; i < len && i < sizeof(r.data); i++)
        r.data[i] = (uint8_t)(i * 13 + 5);
    return r;
}

static void push_reply(struct yard_reply r)
{
    cr_assert_eq(rte_ring_mp_enqueue_elem(yard_shm_reply_ring(&yard_dp.shm), &r, sizeof(r)), 0);
}

/* The frame of reply r as port p sent it, checked field by field. */
static void check_reply_frame(struct rte_mbuf *m, unsigned p, const struct yard_reply *r)
{
    cr_assert_not_null(m);
    const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
    cr_assert_eq(m->nb_segs, 1);
    cr_assert_eq(m->data_len, 14 + 20 + 8 + r->len);
    const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)f;
    const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
    const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(ip + 1);
    cr_assert_eq(memcmp(eth->dst_addr.addr_bytes, r->dst_mac, 6), 0, "to the given MAC");
    cr_assert_eq(memcmp(eth->src_addr.addr_bytes, yt_port_mac[p], 6), 0, "from the port's MAC");
    cr_assert_eq(eth->ether_type, htons(RTE_ETHER_TYPE_IPV4));
    cr_assert_eq(ip->version_ihl, 0x45);
    cr_assert_eq(ntohs(ip->total_length), 20 + 8 + r->len);
    cr_assert_eq(ip->time_to_live, 64);
    cr_assert_eq(ip->next_proto_id, IPPROTO_UDP);
    cr_assert_eq(ntohs(ip->fragment_offset) & 0x3fff, 0, "not a fragment");
    cr_assert_eq(ip->src_addr, yard_dp.ports[p].ipv4, "from the port's address");
    cr_assert_eq(ip->dst_addr, r->dst_ipv4);
    cr_assert_eq(sum16(0, (const uint8_t *)ip, 20), 0xffff, "IPv4 header checksum valid");
    cr_assert_eq(ntohs(udp->src_port), YT_DATA_PORT, "from the data port");
    cr_assert_eq(ntohs(udp->dst_port), r->dst_udp_port);
    cr_assert_eq(ntohs(udp->dgram_len), 8 + r->len);
    cr_assert_neq(udp->dgram_cksum, 0, "a UDP checksum is given");
    uint8_t pseudo[12];
    memcpy(pseudo, &ip->src_addr, 4);
    memcpy(pseudo + 4, &ip->dst_addr, 4);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_UDP;
    memcpy(pseudo + 10, &udp->dgram_len, 2);
    uint32_t sum = sum16(sum16(0, pseudo, 12), (const uint8_t *)udp, 8u + r->len);
    cr_assert_eq(sum, 0xffff, "UDP checksum valid (sum %#x)", sum);
    cr_assert_eq(memcmp(udp + 1, r->data, r->len), 0, "the payload as given");
}

static struct rte_mbuf *take_agent_tx(unsigned p)
{
    struct rte_mbuf *m = NULL;
    if (rte_ring_dequeue(yard_dp.ports[p].agent_tx, (void **)&m) != 0)
        return NULL;
    return m;
}

Test(agent, replies_are_framed_with_valid_checksums)
{
    unsigned lens[] = {1, 2, 37, 200, YARD_REPLY_MAX_BYTES};
    for (unsigned i = 0; i < 5; i++)
        push_reply(reply_to(yard_dp.ports[i % 2].port_id, lens[i]));
    unsigned in_use = yt_in_use(yt_pool);
    cr_assert_eq(yard_replies_serve(agent_stats, 100), 5);
    cr_assert_eq(agent_stats->events[YARD_EV_REPLIES_SENT], 5);
    for (unsigned i = 0; i < 5; i++) {
        struct yard_reply r = reply_to(yard_dp.ports[i % 2].port_id, lens[i]);
        struct rte_mbuf *m = take_agent_tx(i % 2);
        check_reply_frame(m, i % 2, &r);
        rte_pktmbuf_free(m);
    }
    cr_assert_null(take_agent_tx(0));
    cr_assert_null(take_agent_tx(1));
    cr_assert_eq(yt_in_use(yt_pool), in_use);
}

Test(agent, unusable_replies_are_dropped_and_counted)
{
    push_reply(reply_to(999, 10));                       /* no such port */
    push_reply(reply_to(0xffff, 10));                    /* beyond any port id */
    push_reply(reply_to(yard_dp.ports[0].port_id, 0));   /* empty */
    push_reply(reply_to(yard_dp.ports[0].port_id, 497)); /* too long */
    push_reply(reply_to(yard_dp.ports[1].port_id, 20));  /* fine */
    cr_assert_eq(yard_replies_serve(agent_stats, 100), 5);
    cr_assert_eq(agent_stats->drops[YARD_DROP_BAD_REPLY], 4);
    cr_assert_eq(agent_stats->events[YARD_EV_REPLIES_SENT], 1);
    struct rte_mbuf *m = take_agent_tx(1);
    cr_assert_not_null(m);
    rte_pktmbuf_free(m);
    cr_assert_null(take_agent_tx(0));

    /* No mbuf for a reply: counted, nothing queued. */
    unsigned left = rte_mempool_avail_count(yt_pool);
    struct rte_mbuf **hog = calloc(left, sizeof(*hog));
    cr_assert_eq(rte_pktmbuf_alloc_bulk(yt_pool, hog, left), 0);
    push_reply(reply_to(yard_dp.ports[0].port_id, 20));
    cr_assert_eq(yard_replies_serve(agent_stats, 100), 1);
    cr_assert_eq(agent_stats->drops[YARD_DROP_NO_MBUF], 1);
    cr_assert_null(take_agent_tx(0));
    rte_pktmbuf_free_bulk(hog, left);
    free(hog);
}

Test(agent, the_command_loop_also_sends_replies)
{
    push_reply(reply_to(yard_dp.ports[0].port_id, 30));
    push(add_cmd("svc", YARD_DEST_ENDPOINT, 20, 7000));
    serve();
    struct rte_mbuf *m = take_agent_tx(0);
    struct yard_reply r = reply_to(yard_dp.ports[0].port_id, 30);
    check_reply_frame(m, 0, &r);
    rte_pktmbuf_free(m);
}
