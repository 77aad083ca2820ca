/*
 * test_shm.c - the shared-memory contract: creation and mapping, what a
 * reader refuses, takeover from a dead dataplane, and the rings used across
 * real processes that never start a DPDK EAL.
 *
 * Every test uses its own instance name (with the pid) and unlinks it, so
 * tests can run in parallel with each other and with a real appliance.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>

#include "yard_shm.h"

static char instance[32];
static char err[512];

static void make_instance(const char *tag)
{
    snprintf(instance, sizeof(instance), "t-%s-%d", tag, (int)getpid());
}

static void cleanup(void)
{
    if (instance[0] != '\0')
        yard_shm_unlink(instance);
}

/* A pid that existed a moment ago and no longer does. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    cr_assert_eq(kill(pid, 0), -1, "pid %d should be gone", (int)pid);
    return pid;
}

static off_t object_size(void)
{
    char path[96];
    struct stat st;
    snprintf(path, sizeof(path), "/dev/shm/yard-%s", instance);
    if (stat(path, &st) != 0)
        return -1;
    return st.st_size;
}

TestSuite(shm, .fini = cleanup);

Test(shm, create_then_open_sees_the_same_header)
{
    make_instance("rt");
    struct yard_shm dp, rd;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), 0, "%s", err);

    const struct yard_shm_header *h = rd.hdr;
    cr_assert_neq((void *)rd.hdr, (void *)dp.hdr, "two mappings, two addresses");
    cr_assert_eq(h->magic, YARD_SHM_MAGIC);
    cr_assert_eq(h->abi_version, YARD_SHM_ABI_VERSION);
    cr_assert_str_eq(h->instance, instance);
    cr_assert_eq(h->dataplane.pid, getpid());
    cr_assert_eq(h->control.pid, 0);
    cr_assert_eq(h->tsc_hz, 0, "tsc_hz is the dataplane's to set");
    cr_assert_eq(h->nb_events, YARD_EV_MAX);
    cr_assert_eq(h->nb_drops, YARD_DROP_MAX);
    cr_assert_eq(h->nb_classes, YARD_NB_CLASSES);
    cr_assert_eq(h->hist_buckets, YARD_HIST_BUCKETS);
    cr_assert_eq(h->max_lcores, YARD_SHM_MAX_LCORES);
    cr_assert_eq(h->max_ports, YARD_SHM_MAX_PORTS);
    cr_assert_eq(h->cmd_slots, YARD_SHM_CMD_SLOTS);
    cr_assert_eq(h->cmd_record_bytes, sizeof(struct yard_cmd));
    cr_assert_eq(h->punt_slots, YARD_SHM_PUNT_SLOTS);
    cr_assert_eq(h->punt_record_bytes, sizeof(struct yard_punt));
    cr_assert_eq(h->reply_slots, YARD_SHM_REPLY_SLOTS);
    cr_assert_eq(h->reply_record_bytes, sizeof(struct yard_reply));
    cr_assert_eq(h->abi_version, 3);
    /* The directory's numbers start at zero for a new dataplane. */
    cr_assert_eq(h->dir_names + h->dir_locations + h->dir_capacity + h->dir_bytes, 0);
    cr_assert_eq(h->cmd_applied + h->cmd_rejected + h->sync_swept, 0);
    cr_assert_eq(h->dir_members + h->sync_members_swept, 0);

    /* start epoch is wall-clock now, heartbeat is monotonic now */
    uint64_t now = yard_realtime_ns();
    cr_assert(h->dataplane.start_epoch_ns <= now && now - h->dataplane.start_epoch_ns < 10e9);
    cr_assert(yard_shm_side_alive(&h->dataplane, 10000000000ull));

    /* sections: page aligned, in order, not overlapping, inside the object */
    cr_assert_eq(h->cmd_ring_off % 4096, 0);
    cr_assert_eq(h->punt_ring_off % 4096, 0);
    cr_assert_eq(h->reply_ring_off % 4096, 0);
    cr_assert_eq(h->lcore_off % 4096, 0);
    cr_assert_eq(h->port_off % 4096, 0);
    cr_assert_geq(h->cmd_ring_off, sizeof(struct yard_shm_header));
    cr_assert_geq(h->punt_ring_off,
                  h->cmd_ring_off + (uint64_t)rte_ring_get_memsize_elem(sizeof(struct yard_cmd),
                                                                        YARD_SHM_CMD_SLOTS));
    cr_assert_geq(h->reply_ring_off,
                  h->punt_ring_off + (uint64_t)rte_ring_get_memsize_elem(sizeof(struct yard_punt),
                                                                         YARD_SHM_PUNT_SLOTS));
    cr_assert_geq(h->lcore_off,
                  h->reply_ring_off + (uint64_t)rte_ring_get_memsize_elem(sizeof(struct yard_reply),
                                                                          YARD_SHM_REPLY_SLOTS));
    cr_assert_geq(h->port_off, h->lcore_off + (uint64_t)YARD_SHM_MAX_LCORES * h->lcore_block_bytes);
    cr_assert_leq(h->port_off + (uint64_t)YARD_SHM_MAX_PORTS * h->port_block_bytes, h->total_bytes);
    cr_assert_geq(h->lcore_block_bytes, sizeof(struct yard_lcore_stats));
    cr_assert_eq(h->lcore_block_bytes % 64, 0);
    cr_assert_eq(h->port_block_bytes % 64, 0);
    cr_assert_eq((uint64_t)object_size(), h->total_bytes);
    cr_assert_eq(rd.bytes, h->total_bytes);
    cr_assert_str_eq(rd.name, dp.name);

    /* the last blocks are usable through the inline accessors */
    yard_shm_lcore(&dp, YARD_SHM_MAX_LCORES - 1)->latency.bucket[YARD_HIST_BUCKETS - 1] = 7;
    yard_shm_port(&dp, YARD_SHM_MAX_PORTS - 1)->rx_nombuf = 9;
    cr_assert_eq(
        yard_shm_lcore(&rd, YARD_SHM_MAX_LCORES - 1)->latency.bucket[YARD_HIST_BUCKETS - 1], 7);
    cr_assert_eq(yard_shm_port(&rd, YARD_SHM_MAX_PORTS - 1)->rx_nombuf, 9);

    yard_shm_close(&rd);
    yard_shm_close(&dp);
    cr_assert_null(dp.hdr);
    cr_assert_eq(yard_shm_unlink(instance), 0);
    cr_assert_eq(object_size(), -1, "unlink removes /dev/shm/yard-%s", instance);
    cr_assert_eq(yard_shm_unlink(instance), -ENOENT);
}

Test(shm, counters_written_through_one_mapping_are_seen_through_another)
{
    make_instance("ctr");
    struct yard_shm dp, rd;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(yard_shm_open(&rd, instance, true, err, sizeof(err)), 0, "%s", err);

    struct yard_lcore_stats *w = yard_shm_lcore(&dp, 5);
    w->in_use = 1;
    w->role = YARD_ROLE_WORKER;
    w->events[YARD_EV_RX_PACKETS] = 123456789;
    w->drops[YARD_DROP_NO_ROUTE] = 42;
    w->class_tx[3] = 17;
    yard_hist_record(&w->latency, 1500);
    yard_shm_port(&dp, 2)->ipackets = 99;

    const struct yard_lcore_stats *r = yard_shm_lcore(&rd, 5);
    cr_assert_eq(r->in_use, 1);
    cr_assert_eq(r->role, YARD_ROLE_WORKER);
    cr_assert_eq(r->events[YARD_EV_RX_PACKETS], 123456789);
    cr_assert_eq(r->drops[YARD_DROP_NO_ROUTE], 42);
    cr_assert_eq(r->class_tx[3], 17);
    cr_assert_eq(r->latency.count, 1);
    cr_assert_eq(r->latency.bucket[yard_hist_bucket(1500)], 1);
    cr_assert_eq(yard_shm_port(&rd, 2)->ipackets, 99);
    cr_assert_eq(yard_shm_lcore(&rd, 4)->events[YARD_EV_RX_PACKETS], 0, "neighbour untouched");

    /* and the other way: the control plane's side written by the reader */
    rd.hdr->control.pid = 4242;
    cr_assert_eq(dp.hdr->control.pid, 4242);

    yard_shm_close(&rd);
    yard_shm_close(&dp);
}

Test(shm, lcore_totals_sum_only_the_blocks_in_use)
{
    make_instance("tot");
    struct yard_shm dp;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);

    struct yard_lcore_stats *a = yard_shm_lcore(&dp, 1), *b = yard_shm_lcore(&dp, 7);
    struct yard_lcore_stats *idle = yard_shm_lcore(&dp, 3);
    a->in_use = b->in_use = 1;
    a->events[YARD_EV_ROUTED] = 10;
    b->events[YARD_EV_ROUTED] = 32;
    a->drops[YARD_DROP_SHED] = 2;
    b->drops[YARD_DROP_SHED] = 5;
    b->class_dropped[3] = 5;
    a->class_tx[0] = 4;
    yard_hist_record(&a->latency, 900);
    yard_hist_record(&b->latency, 2000);
    idle->events[YARD_EV_ROUTED] = 1000; /* not in use: must not count */

    struct yard_lcore_stats total;
    cr_assert_eq(yard_shm_lcores_total(&dp, &total), 2);
    cr_assert_eq(total.events[YARD_EV_ROUTED], 42);
    cr_assert_eq(total.drops[YARD_DROP_SHED], 7);
    cr_assert_eq(total.class_dropped[3], 5);
    cr_assert_eq(total.class_tx[0], 4);
    cr_assert_eq(total.latency.count, 2);
    cr_assert_eq(total.latency.max_ns, 2000);
    cr_assert_eq(total.latency.bucket[yard_hist_bucket(900)], 1);
    yard_shm_close(&dp);
}

Test(shm, open_refuses_another_abi_version_naming_both)
{
    make_instance("abi");
    struct yard_shm dp, rd;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    dp.hdr->abi_version = YARD_SHM_ABI_VERSION + 1;

    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), -EPROTO);
    cr_assert_null(rd.hdr);
    char expect[256];
    snprintf(expect, sizeof(expect),
             "shm /yard-%s: ABI version %u, this program speaks version %u; run matching "
             "versions of yard-dataplane, yard-control and yardctl",
             instance, YARD_SHM_ABI_VERSION + 1, YARD_SHM_ABI_VERSION);
    cr_assert_str_eq(err, expect);

    dp.hdr->abi_version = YARD_SHM_ABI_VERSION;
    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), 0, "%s", err);
    yard_shm_close(&rd);
    yard_shm_close(&dp);
}

Test(shm, open_refuses_bad_magic_and_waits_out_initialisation)
{
    make_instance("mag");
    struct yard_shm dp, rd;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);

    dp.hdr->magic = 0x4f4f505346414b45ull;
    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), -EPROTO);
    cr_assert(strstr(err, "bad magic 0x4f4f505346414b45") != NULL, "%s", err);

    dp.hdr->magic = 0; /* what a reader sees while the dataplane initialises */
    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), -EAGAIN);
    cr_assert(strstr(err, "retry") != NULL, "%s", err);
    yard_shm_close(&dp);
}

Test(shm, open_refuses_a_geometry_that_does_not_fit)
{
    make_instance("geo");
    struct yard_shm dp, rd;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);

    dp.hdr->nb_drops = YARD_SHM_DROP_SLOTS + 1;
    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), -EPROTO);
    cr_assert(strstr(err, "drop reasons") != NULL, "%s", err);
    dp.hdr->nb_drops = YARD_DROP_MAX;

    dp.hdr->port_off = dp.hdr->total_bytes - 64;
    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), -EPROTO);
    cr_assert(strstr(err, "port blocks") != NULL, "%s", err);
    yard_shm_close(&dp);
}

Test(shm, open_of_a_missing_instance_says_which)
{
    make_instance("none");
    struct yard_shm rd;
    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), -ENOENT);
    char expect[256];
    snprintf(expect, sizeof(expect),
             "no appliance instance '%s' (no /dev/shm/yard-%s); is yard-dataplane running with "
             "instance %s?",
             instance, instance, instance);
    cr_assert_str_eq(err, expect);
}

Test(shm, instance_names_are_validated)
{
    char buf[64];
    const char *bad[] = {"",
                         "a/b",
                         "has space",
                         "..",
                         ".",
                         "tab\there",
                         "caf\xc3\xa9",
                         "0123456789012345678901234567890123" /* 34 */,
                         "01234567890123456789012345678901" /* 32 */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct yard_shm s;
        cr_assert_eq(yard_shm_object_name(bad[i], buf, sizeof(buf)), -EINVAL, "'%s'", bad[i]);
        cr_assert_eq(yard_shm_create(&s, bad[i], err, sizeof(err)), -EINVAL, "'%s'", bad[i]);
        cr_assert(strstr(err, "unusable") != NULL, "%s", err);
        cr_assert_eq(yard_shm_open(&s, bad[i], false, err, sizeof(err)), -EINVAL, "'%s'", bad[i]);
        cr_assert_eq(yard_shm_unlink(bad[i]), -EINVAL);
    }
    cr_assert_eq(yard_shm_object_name(NULL, buf, sizeof(buf)), -EINVAL);

    cr_assert_eq(yard_shm_object_name("a.b-c_D9", buf, sizeof(buf)), 0);
    cr_assert_str_eq(buf, "/yard-a.b-c_D9");
    cr_assert_eq(yard_shm_object_name("0123456789012345678901234567890" /* 31 */, buf, sizeof(buf)),
                 0);
    cr_assert_str_eq(buf, "/yard-0123456789012345678901234567890");
    cr_assert_eq(yard_shm_object_name("ok", buf, 6), -ENAMETOOLONG);
}

Test(shm, a_dead_dataplane_is_taken_over_in_place_keeping_the_control_side)
{
    make_instance("take");
    struct yard_shm old, cp, dp;
    cr_assert_eq(yard_shm_create(&old, instance, err, sizeof(err)), 0, "%s", err);
    /* the control plane, mapped before and after the takeover */
    cr_assert_eq(yard_shm_open(&cp, instance, true, err, sizeof(err)), 0, "%s", err);
    cp.hdr->control.pid = 31337;
    cp.hdr->control.generation = 12;
    cp.hdr->control.heartbeat_ns = 5555;
    old.hdr->tsc_hz = 2000000000;
    old.hdr->cmd_applied_seq = 77;
    old.hdr->dataplane_ready = 1;
    old.hdr->dataplane.generation = 5;
    old.hdr->dir_names = 10;
    old.hdr->dir_locations = 12;
    old.hdr->cmd_applied = 20;
    old.hdr->cmd_rejected = 2;
    old.hdr->sync_swept = 3;
    old.hdr->dir_members = 4;
    old.hdr->sync_members_swept = 1;
    yard_shm_lcore(&old, 1)->in_use = 1;
    yard_shm_lcore(&old, 1)->events[YARD_EV_ROUTED] = 1000;
    yard_shm_port(&old, 0)->in_use = 1;
    struct yard_cmd stale = {.seq = 1};
    cr_assert_eq(rte_ring_mp_enqueue_elem(yard_shm_cmd_ring(&old), &stale, sizeof(stale)), 0);
    struct yard_reply stale_reply = {.len = 1};
    cr_assert_eq(
        rte_ring_mp_enqueue_elem(yard_shm_reply_ring(&old), &stale_reply, sizeof(stale_reply)), 0);

    pid_t gone = dead_pid();
    old.hdr->dataplane.pid = gone;
    uint64_t old_start = old.hdr->dataplane.start_epoch_ns;
    yard_shm_close(&old);
    struct timespec ms = {0, 2000000};
    nanosleep(&ms, NULL);

    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    /* same object: the control plane's old mapping sees the new dataplane */
    cr_assert_eq(cp.hdr->dataplane.pid, getpid());
    cr_assert_gt(cp.hdr->dataplane.start_epoch_ns, old_start);
    cr_assert_eq(cp.hdr->control.pid, 31337);
    cr_assert_eq(cp.hdr->control.generation, 12);
    cr_assert_eq(cp.hdr->control.heartbeat_ns, 5555);
    cr_assert_eq(cp.hdr->magic, YARD_SHM_MAGIC);
    /* the dataplane's parts start again */
    cr_assert_eq(cp.hdr->tsc_hz, 0);
    cr_assert_eq(cp.hdr->cmd_applied_seq, 0);
    cr_assert_eq(cp.hdr->dataplane_ready, 0);
    cr_assert_eq(yard_shm_lcore(&cp, 1)->in_use, 0);
    cr_assert_eq(yard_shm_lcore(&cp, 1)->events[YARD_EV_ROUTED], 0);
    cr_assert_eq(yard_shm_port(&cp, 0)->in_use, 0);
    cr_assert_eq(rte_ring_count(yard_shm_cmd_ring(&cp)), 0, "stale commands are gone");
    cr_assert_eq(rte_ring_count(yard_shm_reply_ring(&cp)), 0, "stale replies are gone");
    cr_assert_eq(cp.hdr->dataplane.generation, 0, "the new dataplane has synced nothing");
    cr_assert_eq(cp.hdr->dir_names + cp.hdr->dir_locations, 0);
    cr_assert_eq(cp.hdr->cmd_applied + cp.hdr->cmd_rejected + cp.hdr->sync_swept, 0);
    cr_assert_eq(cp.hdr->dir_members + cp.hdr->sync_members_swept, 0, "no member yet");

    yard_shm_close(&dp);
    yard_shm_close(&cp);
}

Test(shm, a_live_dataplane_is_not_taken_over)
{
    make_instance("busy");
    struct yard_shm dp, again;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    yard_shm_lcore(&dp, 0)->events[YARD_EV_RX_PACKETS] = 5;

    /* alive: our parent */
    pid_t parent = getppid();
    dp.hdr->dataplane.pid = parent;
    cr_assert_eq(yard_shm_create(&again, instance, err, sizeof(err)), -EBUSY);
    char expect[256];
    snprintf(expect, sizeof(expect),
             "instance '%s' already has a running yard-dataplane (pid %d); stop it or use "
             "another instance name",
             instance, (int)parent);
    cr_assert_str_eq(err, expect);

    /* alive: a child that sleeps; once it is reaped the instance is free */
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    dp.hdr->dataplane.pid = child;
    cr_assert_eq(yard_shm_create(&again, instance, err, sizeof(err)), -EBUSY);
    cr_assert_eq(yard_shm_lcore(&dp, 0)->events[YARD_EV_RX_PACKETS], 5, "refusal changes nothing");
    cr_assert_eq(dp.hdr->dataplane.pid, child);

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    cr_assert_eq(yard_shm_create(&again, instance, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(dp.hdr->dataplane.pid, getpid());
    yard_shm_close(&again);
    yard_shm_close(&dp);
}

Test(shm, an_incompatible_segment_is_replaced)
{
    make_instance("incompat");
    struct yard_shm old, dp, rd;
    cr_assert_eq(yard_shm_create(&old, instance, err, sizeof(err)), 0, "%s", err);
    old.hdr->abi_version = 99;
    old.hdr->dataplane.pid = getppid(); /* even "alive": another ABI is not ours to refuse */
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(dp.hdr->abi_version, YARD_SHM_ABI_VERSION);
    cr_assert_eq(old.hdr->abi_version, 99, "the old mapping is an orphaned copy");
    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), 0, "%s", err);
    yard_shm_close(&rd);
    yard_shm_close(&old);
    yard_shm_close(&dp);

    /* a segment of another size, e.g. a different build's slot counts */
    char name[64];
    cr_assert_eq(yard_shm_object_name(instance, name, sizeof(name)), 0);
    int fd = shm_open(name, O_RDWR, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 8192), 0);
    close(fd);
    cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), -EPROTO, "%s", err);
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq((uint64_t)object_size(), dp.hdr->total_bytes);
    yard_shm_close(&dp);
}

Test(shm, side_alive_needs_a_live_pid_and_a_fresh_heartbeat)
{
    struct yard_shm_side s = {.pid = getpid(), .heartbeat_ns = yard_monotonic_ns()};
    cr_assert(yard_shm_side_alive(&s, 1000000000ull));
    s.heartbeat_ns = yard_monotonic_ns() - 5000000000ull;
    cr_assert_not(yard_shm_side_alive(&s, 1000000000ull), "stale heartbeat");
    cr_assert(yard_shm_side_alive(&s, 10000000000ull));
    s.heartbeat_ns = 0;
    cr_assert_not(yard_shm_side_alive(&s, 10000000000ull), "never beat");
    s.heartbeat_ns = yard_monotonic_ns();
    s.pid = dead_pid();
    cr_assert_not(yard_shm_side_alive(&s, 1000000000ull), "dead pid");
    s.pid = 0;
    cr_assert_not(yard_shm_side_alive(&s, 1000000000ull), "no pid");
}

/* ---- rings across processes, no EAL anywhere ---- */

#define RING_MSGS 10000

static int wait_child(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Child: map the segment itself (at its own address) and send commands. */
static void cmd_producer(void)
{
    struct yard_shm c;
    char e[512];
    if (yard_shm_open(&c, instance, true, e, sizeof(e)) != 0)
        _exit(10);
    struct rte_ring *r = yard_shm_cmd_ring(&c);
    for (uint64_t seq = 1; seq <= RING_MSGS; seq++) {
        struct yard_cmd cmd = {.seq = seq, .type = YARD_CMD_LOC_ADD, .generation = 3};
        cmd.u.loc.name_len = (uint8_t)snprintf(cmd.u.loc.name, sizeof(cmd.u.loc.name), "ep-%llu",
                                               (unsigned long long)seq);
        cmd.u.loc.dest_type = (uint8_t)(seq % 2);
        cmd.u.loc.origin = (uint8_t)(1 + seq % 3);
        cmd.u.loc.ipv4 = (uint32_t)seq * 2654435761u;
        cmd.u.loc.udp_port = (uint16_t)seq;
        cmd.u.loc.node = (uint32_t)(seq * 7);
        cmd.u.loc.has_mac = 1;
        memcpy(cmd.u.loc.mac, &seq, 6);
        while (rte_ring_mp_enqueue_elem(r, &cmd, sizeof(cmd)) != 0)
            sched_yield();
    }
    yard_shm_close(&c);
    _exit(0);
}

Test(shm, command_ring_carries_commands_in_order_across_processes, .timeout = 60)
{
    make_instance("cmd");
    struct yard_shm dp;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    struct rte_ring *r = yard_shm_cmd_ring(&dp);
    cr_assert_eq(rte_ring_get_capacity(r), YARD_SHM_CMD_SLOTS - 1);
    cr_assert_eq(rte_ring_count(r), 0);

    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        cmd_producer();

    uint64_t expect = 1;
    while (expect <= RING_MSGS) {
        struct yard_cmd cmd;
        if (rte_ring_sc_dequeue_elem(r, &cmd, sizeof(cmd)) != 0) {
            sched_yield();
            continue;
        }
        char name[32];
        snprintf(name, sizeof(name), "ep-%llu", (unsigned long long)expect);
        cr_assert_eq(cmd.seq, expect);
        cr_assert_eq(cmd.type, YARD_CMD_LOC_ADD);
        cr_assert_eq(cmd.generation, 3);
        cr_assert_str_eq(cmd.u.loc.name, name);
        cr_assert_eq(cmd.u.loc.name_len, strlen(name));
        cr_assert_eq(cmd.u.loc.dest_type, expect % 2);
        cr_assert_eq(cmd.u.loc.origin, 1 + expect % 3);
        cr_assert_eq(cmd.u.loc.ipv4, (uint32_t)expect * 2654435761u);
        cr_assert_eq(cmd.u.loc.udp_port, (uint16_t)expect);
        cr_assert_eq(cmd.u.loc.node, (uint32_t)(expect * 7));
        cr_assert_eq(cmd.u.loc.has_mac, 1);
        cr_assert_eq(memcmp(cmd.u.loc.mac, &expect, 6), 0);
        expect++;
    }
    cr_assert_eq(wait_child(child), 0);
    cr_assert_eq(rte_ring_count(r), 0);
    yard_shm_close(&dp);
}

/* Child: one of several punting workers; data carries producer and seq. */
static void punt_producer(uint16_t producer)
{
    struct yard_shm c;
    char e[512];
    if (yard_shm_open(&c, instance, true, e, sizeof(e)) != 0)
        _exit(10);
    struct rte_ring *r = yard_shm_punt_ring(&c);
    for (uint32_t seq = 1; seq <= RING_MSGS; seq++) {
        struct yard_punt p = {.rx_ns = seq, .rx_port = producer, .src_udp_port = 7946};
        p.src_mac[0] = 0x02;
        p.src_mac[5] = (uint8_t)seq;
        p.len = (uint16_t)(seq % YARD_PUNT_MAX_BYTES);
        memset(p.data, (int)(seq & 0xff), p.len);
        p.data[YARD_PUNT_MAX_BYTES - 1] = (uint8_t)producer;
        while (rte_ring_mp_enqueue_burst_elem(r, &p, sizeof(p), 1, NULL) != 1)
            sched_yield();
    }
    yard_shm_close(&c);
    _exit(0);
}

Test(shm, punt_ring_takes_punts_from_several_processes_in_order, .timeout = 60)
{
    make_instance("punt");
    struct yard_shm cp;
    struct yard_shm dp;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    /* the consumer is the control plane, with its own mapping */
    cr_assert_eq(yard_shm_open(&cp, instance, true, err, sizeof(err)), 0, "%s", err);
    struct rte_ring *r = yard_shm_punt_ring(&cp);
    cr_assert_eq(rte_ring_get_capacity(r), YARD_SHM_PUNT_SLOTS - 1);

    pid_t kids[2];
    for (uint16_t k = 0; k < 2; k++) {
        kids[k] = fork();
        cr_assert_geq(kids[k], 0);
        if (kids[k] == 0)
            punt_producer(k);
    }

    uint64_t next[2] = {1, 1};
    struct yard_punt batch[32];
    while (next[0] <= RING_MSGS || next[1] <= RING_MSGS) {
        unsigned n = rte_ring_sc_dequeue_burst_elem(r, batch, sizeof(batch[0]), 32, NULL);
        if (n == 0) {
            sched_yield();
            continue;
        }
        for (unsigned i = 0; i < n; i++) {
            const struct yard_punt *p = &batch[i];
            cr_assert_lt(p->rx_port, 2);
            cr_assert_eq(p->data[YARD_PUNT_MAX_BYTES - 1], p->rx_port);
            cr_assert_eq(p->rx_ns, next[p->rx_port], "producer %u: got %llu, expected %llu",
                         p->rx_port, (unsigned long long)p->rx_ns,
                         (unsigned long long)next[p->rx_port]);
            cr_assert_eq(p->len, p->rx_ns % YARD_PUNT_MAX_BYTES);
            cr_assert_eq(p->src_udp_port, 7946);
            cr_assert_eq(p->src_mac[0], 0x02);
            cr_assert_eq(p->src_mac[5], (uint8_t)p->rx_ns, "the source MAC travels");
            for (unsigned b = 0; b < p->len; b++)
                cr_assert_eq(p->data[b], (uint8_t)(p->rx_ns & 0xff));
            next[p->rx_port]++;
        }
    }
    cr_assert_eq(wait_child(kids[0]), 0);
    cr_assert_eq(wait_child(kids[1]), 0);
    cr_assert_eq(rte_ring_count(r), 0);
    yard_shm_close(&cp);
    yard_shm_close(&dp);
}

/* Child: a control plane sending replies; data carries producer and seq. */
static void reply_producer(uint16_t producer)
{
    struct yard_shm c;
    char e[512];
    if (yard_shm_open(&c, instance, true, e, sizeof(e)) != 0)
        _exit(10);
    struct rte_ring *r = yard_shm_reply_ring(&c);
    for (uint32_t seq = 1; seq <= RING_MSGS; seq++) {
        struct yard_reply p = {.dst_ipv4 = seq, .dst_udp_port = 40000, .tx_port = producer};
        p.len = (uint16_t)(1 + seq % YARD_REPLY_MAX_BYTES);
        memset(p.data, (int)(seq & 0xff), p.len);
        p.dst_mac[5] = (uint8_t)producer;
        while (rte_ring_mp_enqueue_elem(r, &p, sizeof(p)) != 0)
            sched_yield();
    }
    yard_shm_close(&c);
    _exit(0);
}

Test(shm, reply_ring_takes_replies_from_several_processes_in_order, .timeout = 60)
{
    make_instance("reply");
    struct yard_shm dp;
    cr_assert_eq(yard_shm_create(&dp, instance, err, sizeof(err)), 0, "%s", err);
    /* the consumer is the dataplane's agent */
    struct rte_ring *r = yard_shm_reply_ring(&dp);
    cr_assert_eq(rte_ring_get_capacity(r), YARD_SHM_REPLY_SLOTS - 1);
    cr_assert_eq(rte_ring_count(r), 0);
    cr_assert_eq(sizeof(struct yard_reply) % 4, 0);

    pid_t kids[2];
    for (uint16_t k = 0; k < 2; k++) {
        kids[k] = fork();
        cr_assert_geq(kids[k], 0);
        if (kids[k] == 0)
            reply_producer(k);
    }

    uint32_t next[2] = {1, 1};
    struct yard_reply batch[32];
    while (next[0] <= RING_MSGS || next[1] <= RING_MSGS) {
        unsigned n = rte_ring_sc_dequeue_burst_elem(r, batch, sizeof(batch[0]), 32, NULL);
        if (n == 0) {
            sched_yield();
            continue;
        }
        for (unsigned i = 0; i < n; i++) {
            const struct yard_reply *p = &batch[i];
            cr_assert_lt(p->tx_port, 2);
            cr_assert_eq(p->dst_mac[5], p->tx_port);
            cr_assert_eq(p->dst_ipv4, next[p->tx_port], "producer %u: got %u, expected %u",
                         p->tx_port, p->dst_ipv4, next[p->tx_port]);
            cr_assert_eq(p->len, 1 + p->dst_ipv4 % YARD_REPLY_MAX_BYTES);
            cr_assert_eq(p->dst_udp_port, 40000);
            for (unsigned b = 0; b < p->len; b++)
                cr_assert_eq(p->data[b], (uint8_t)(p->dst_ipv4 & 0xff));
            next[p->tx_port]++;
        }
    }
    cr_assert_eq(wait_child(kids[0]), 0);
    cr_assert_eq(wait_child(kids[1]), 0);
    cr_assert_eq(rte_ring_count(r), 0);
    yard_shm_close(&dp);
}

/* ---- two dataplanes starting at the same moment ---- */

#define RACERS 4

static void racer(int go, int results, int release)
{
    char c;
    struct yard_shm s;
    char e[512];
    if (read(go, &c, 1) != 0) /* EOF is the starting shot */
        _exit(10);
    int rc = yard_shm_create(&s, instance, e, sizeof(e));
    if (write(results, &rc, sizeof(rc)) != sizeof(rc))
        _exit(11);
    if (read(release, &c, 1) != 0) /* stay alive as the dataplane until told */
        _exit(12);
    _exit(0);
}

Test(shm, of_dataplanes_starting_together_exactly_one_wins, .timeout = 60)
{
    make_instance("race");
    for (int round = 0; round < 20; round++) {
        int go[2], results[2], release[2];
        cr_assert_eq(pipe(go), 0);
        cr_assert_eq(pipe(results), 0);
        cr_assert_eq(pipe(release), 0);
        pid_t kids[RACERS];
        for (int k = 0; k < RACERS; k++) {
            kids[k] = fork();
            cr_assert_geq(kids[k], 0);
            if (kids[k] == 0) {
                close(go[1]);
                close(results[0]);
                close(release[1]);
                racer(go[0], results[1], release[0]);
            }
        }
        close(go[0]);
        close(results[1]);
        close(release[0]);
        close(go[1]);

        int winners = 0, busy = 0;
        for (int k = 0; k < RACERS; k++) {
            int rc;
            cr_assert_eq(read(results[0], &rc, sizeof(rc)), sizeof(rc));
            winners += rc == 0;
            busy += rc == -EBUSY;
        }
        cr_assert_eq(winners, 1, "round %d: %d winners", round, winners);
        cr_assert_eq(busy, RACERS - 1, "round %d: the others are refused", round);

        struct yard_shm rd;
        cr_assert_eq(yard_shm_open(&rd, instance, false, err, sizeof(err)), 0, "%s", err);
        bool winner_is_a_kid = false;
        for (int k = 0; k < RACERS; k++)
            winner_is_a_kid |= rd.hdr->dataplane.pid == kids[k];
        cr_assert(winner_is_a_kid, "the named segment belongs to the winner");
        yard_shm_close(&rd);

        close(release[1]);
        for (int k = 0; k < RACERS; k++)
            cr_assert_eq(wait_child(kids[k]), 0);
        close(results[0]);
        if (round % 2 == 0)
            yard_shm_unlink(instance); /* odd rounds race over a dead one's segment */
    }
}

Test(shm, member_commands_are_built_whole)
{
    struct yard_cmd cmd;
    memset(&cmd, 0xa5, sizeof(cmd)); /* whatever the caller's stack held */
    yard_cmd_member_init(&cmd, YARD_CMD_MEMBER_ADD, htonl(0xc6120207), 42, 1234, 9);
    cr_assert_eq(cmd.seq, 1234);
    cr_assert_eq(cmd.type, YARD_CMD_MEMBER_ADD);
    cr_assert_eq(cmd.generation, 9);
    cr_assert_eq(cmd.u.member.ipv4, htonl(0xc6120207), "the address stays in network order");
    cr_assert_eq(cmd.u.member.node, 42);
    const uint8_t *rest = cmd.u.raw + sizeof(cmd.u.member);
    for (size_t i = 0; i < sizeof(cmd.u.raw) - sizeof(cmd.u.member); i++)
        cr_assert_eq(rest[i], 0, "byte %zu after the member is zero", i);

    yard_cmd_member_init(&cmd, YARD_CMD_MEMBER_DEL, htonl(0xc6120208), 43, 1235, 0);
    cr_assert_eq(cmd.type, YARD_CMD_MEMBER_DEL);
    cr_assert_eq(cmd.u.member.ipv4, htonl(0xc6120208));
    cr_assert_eq(cmd.u.member.node, 43);
    cr_assert_eq(cmd.generation, 0);
}
