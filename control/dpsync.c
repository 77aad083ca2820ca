/*
 * dpsync.c - yard-control's link to the dataplane (see dpsync.h).
 *
 * Commands are pushed only while the dataplane is alive (its pid exists):
 * a restarting dataplane re-initialises the rings in place, and a producer
 * must not be half-way through an enqueue then. The window left (a check,
 * then an enqueue of a few microseconds) is closed by the full sync that
 * follows every new dataplane epoch.
 */
#include "dpsync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#define PUSH_BURST 256

void yard_dpsync_init(struct yard_dpsync *s, const char *instance, struct yard_ctl_dir *dir)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->instance, sizeof(s->instance), "%s", instance);
    s->dir = dir;
    s->next_seq = 1;
    s->start_epoch_ns = yard_realtime_ns();
}

void yard_dpsync_fini(struct yard_dpsync *s)
{
    if (s->attached) {
        struct yard_shm_side *me = &s->shm.hdr->control;
        if (me->pid == (int32_t)getpid())
            __atomic_store_n(&me->pid, 0, __ATOMIC_RELEASE);
        yard_shm_close(&s->shm);
    }
    free(s->queue);
    s->queue = NULL;
    s->attached = false;
}

static void detach(struct yard_dpsync *s)
{
    if (s->attached)
        yard_shm_close(&s->shm);
    s->attached = false;
    s->state = YARD_DP_ABSENT;
}

/* The file behind the segment's name now (0 or -1). */
static int object_stat(const struct yard_dpsync *s, struct stat *st)
{
    char path[96];
    snprintf(path, sizeof(path), "/dev/shm%s", s->shm.name);
    return stat(path, st);
}

/* The segment's file identity: a dataplane that had to re-create the
 * segment (another size or ABI) leaves our mapping on the old object. */
static bool same_object(const struct yard_dpsync *s)
{
    struct stat st;
    return object_stat(s, &st) == 0 && st.st_dev == s->shm_dev && st.st_ino == s->shm_ino;
}

static bool attach(struct yard_dpsync *s)
{
    char err[256];
    int rc = yard_shm_open(&s->shm, s->instance, true, err, sizeof(err));
    if (rc < 0) {
        static int last_rc;
        if (rc != -ENOENT && rc != -EAGAIN && rc != last_rc)
            fprintf(stderr, "yard-control: %s\n", err);
        last_rc = rc;
        return false;
    }
    struct stat st;
    if (object_stat(s, &st) < 0) {
        yard_shm_close(&s->shm);
        return false;
    }
    s->shm_dev = st.st_dev;
    s->shm_ino = st.st_ino;
    s->attached = true;
    struct yard_shm_side *me = &s->shm.hdr->control;
    me->start_epoch_ns = s->start_epoch_ns;
    __atomic_store_n(&me->heartbeat_ns, yard_monotonic_ns(), __ATOMIC_RELEASE);
    __atomic_store_n(&me->pid, (int32_t)getpid(), __ATOMIC_RELEASE);
    s->dp_epoch = 0; /* forces the "new dataplane" path below */
    s->dp_pid = 0;
    return true;
}

static bool dp_alive(const struct yard_dpsync *s)
{
    return yard_shm_side_alive(&s->shm.hdr->dataplane, (uint64_t)YARD_DPSYNC_DEAD_MS * 1000000);
}

bool yard_dpsync_tick(struct yard_dpsync *s)
{
    enum yard_dp_state before = s->state;
    if (s->attached && !same_object(s))
        detach(s);
    if (!s->attached && !attach(s))
        return before != s->state;

    struct yard_shm_header *h = s->shm.hdr;
    __atomic_store_n(&h->control.heartbeat_ns, yard_monotonic_ns(), __ATOMIC_RELEASE);
    if (__atomic_load_n(&h->control.pid, __ATOMIC_ACQUIRE) != (int32_t)getpid())
        __atomic_store_n(&h->control.pid, (int32_t)getpid(), __ATOMIC_RELEASE);

    bool alive = dp_alive(s);
    s->state = alive ? YARD_DP_UP : YARD_DP_DOWN;
    uint64_t epoch = __atomic_load_n(&h->dataplane.start_epoch_ns, __ATOMIC_ACQUIRE);
    int32_t pid = __atomic_load_n(&h->dataplane.pid, __ATOMIC_ACQUIRE);
    if (alive && (epoch != s->dp_epoch || pid != s->dp_pid)) {
        /* A dataplane we have not synced yet: a fresh start, a restart, or
         * the one that was running when this control plane started. Its
         * rings are new; whatever was queued for the old one is covered by
         * the full sync. */
        if (s->dp_epoch != 0)
            s->dp_restarts_seen++;
        s->dp_epoch = epoch;
        s->dp_pid = pid;
        yard_dpsync_full_sync(s);
    }
    return before != s->state;
}

static bool queue_push(struct yard_dpsync *s, const struct yard_cmd *cmd)
{
    if (s->q_len == s->q_cap) {
        if (s->q_cap >= YARD_DPSYNC_QUEUE_MAX)
            return false;
        uint32_t cap = s->q_cap ? s->q_cap * 2 : 1024;
        struct yard_cmd *q = malloc((size_t)cap * sizeof(*q));
        if (q == NULL)
            return false;
        for (uint32_t i = 0; i < s->q_len; i++)
            q[i] = s->queue[(s->q_head + i) % s->q_cap];
        free(s->queue);
        s->queue = q;
        s->q_head = 0;
        s->q_cap = cap;
    }
    s->queue[(s->q_head + s->q_len) % s->q_cap] = *cmd;
    s->q_len++;
    return true;
}

static void fill_loc(struct yard_cmd *cmd, const struct yard_ctl_loc *loc)
{
    struct yard_cmd_loc *c = &cmd->u.loc;
    const struct yard_ctl_name *n = loc->owner;
    c->name_len = n->len;
    memcpy(c->name, n->name, n->len);
    c->name[n->len] = 0;
    c->dest_type = n->type;
    c->origin = loc->origin == YARD_LOC_REGISTERED ? YARD_ORIGIN_REGISTERED
                : loc->origin == YARD_LOC_REMOTE   ? YARD_ORIGIN_REMOTE
                                                   : YARD_ORIGIN_STATIC;
    c->has_mac = loc->has_mac;
    memcpy(c->mac, loc->mac, sizeof(c->mac));
    c->udp_port = loc->udp_port;
    c->ipv4 = loc->ipv4;
    c->node = loc->node;
}

static void fill_member(struct yard_cmd *cmd, uint32_t ipv4, uint32_t node)
{
    cmd->u.member.ipv4 = ipv4;
    cmd->u.member.node = node;
}

/* Queue cmd (type and body filled) with the next sequence number. */
static uint64_t queue_cmd(struct yard_dpsync *s, struct yard_cmd *cmd)
{
    cmd->seq = s->next_seq;
    if (!queue_push(s, cmd)) {
        /* Too far behind: the directory itself is the queue now. */
        s->queue_overflows++;
        yard_dpsync_full_sync(s);
        return s->next_seq; /* covered by the sync's commands */
    }
    s->next_seq++;
    return cmd->seq;
}

uint64_t yard_dpsync_loc(struct yard_dpsync *s, uint32_t type, const struct yard_ctl_loc *loc)
{
    if (!s->attached)
        return 0;
    struct yard_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = type;
    fill_loc(&cmd, loc);
    return queue_cmd(s, &cmd);
}

uint64_t yard_dpsync_member(struct yard_dpsync *s, uint32_t type, uint32_t ipv4, uint32_t node)
{
    if (!s->attached)
        return 0;
    struct yard_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = type;
    fill_member(&cmd, ipv4, node);
    return queue_cmd(s, &cmd);
}

void yard_dpsync_full_sync(struct yard_dpsync *s)
{
    s->q_len = 0;
    s->q_head = 0;
    s->syncing = true;
    s->sync_begun = false;
    s->sync_members_done = false;
    s->sync_gen = s->synced_gen + 1;
    uint32_t dp_gen = s->attached ? (uint32_t)s->shm.hdr->dataplane.generation : 0;
    if (s->sync_gen <= dp_gen)
        s->sync_gen = dp_gen + 1;
    s->full_syncs++;
    yard_ctl_dir_cursor_start(s->dir);
}

static bool ring_put(struct yard_dpsync *s, struct rte_ring *r, struct yard_cmd *cmd)
{
    if (rte_ring_mp_enqueue_elem(r, cmd, sizeof(*cmd)) != 0)
        return false;
    s->last_pushed_seq = cmd->seq;
    s->cmds_pushed++;
    return true;
}

/* The sync's members: every live cluster node with a data address. */
static bool pump_sync_members(struct yard_dpsync *s, struct rte_ring *r)
{
    unsigned n = 0;
    for (const struct yard_replica_owner *o = s->replica ? s->replica->owners : NULL; o != NULL;
         o = o->next)
        n += o->live && o->node_id != 0 && o->data_ipv4 != 0;
    if (rte_ring_free_count(r) < n + 1) /* and room for SYNC_END */
        return false;
    for (const struct yard_replica_owner *o = s->replica ? s->replica->owners : NULL; o != NULL;
         o = o->next) {
        if (!o->live || o->node_id == 0 || o->data_ipv4 == 0)
            continue;
        struct yard_cmd cmd;
        memset(&cmd, 0, sizeof(cmd));
        cmd.type = YARD_CMD_MEMBER_ADD;
        cmd.generation = s->sync_gen;
        fill_member(&cmd, o->data_ipv4, o->node_id);
        cmd.seq = s->next_seq;
        ring_put(s, r, &cmd);
        s->next_seq++;
    }
    return true;
}

/* The sync's share of the ring: BEGIN, every name's locations, END. */
static bool pump_sync(struct yard_dpsync *s, struct rte_ring *r)
{
    struct yard_cmd cmd;
    memset(&cmd, 0, sizeof(cmd));
    if (!s->sync_begun) {
        cmd.type = YARD_CMD_SYNC_BEGIN;
        cmd.generation = s->sync_gen;
        cmd.seq = s->next_seq;
        if (!ring_put(s, r, &cmd))
            return true;
        s->next_seq++;
        s->sync_begun = true;
    }
    for (;;) {
        /* A name goes whole: it is started only when all its locations fit. */
        struct yard_ctl_name *n = s->dir->cursor_active ? s->dir->cursor : NULL;
        if (n == NULL)
            break;
        if (rte_ring_free_count(r) < n->nb_locs)
            return true;
        yard_ctl_dir_cursor_next(s->dir);
        for (struct yard_ctl_loc *l = n->locs; l != NULL; l = l->next) {
            memset(&cmd, 0, sizeof(cmd));
            cmd.type = YARD_CMD_LOC_ADD;
            cmd.generation = s->sync_gen;
            fill_loc(&cmd, l);
            cmd.seq = s->next_seq;
            if (!ring_put(s, r, &cmd))
                return true; /* cannot happen: free count checked */
            s->next_seq++;
        }
    }
    /* Members go last, in one piece, right before SYNC_END (there is room
     * for both when pump_sync_members says so). */
    if (!s->sync_members_done) {
        if (!pump_sync_members(s, r))
            return true;
        s->sync_members_done = true;
    }
    s->dir->cursor_active = false;
    memset(&cmd, 0, sizeof(cmd));
    cmd.type = YARD_CMD_SYNC_END;
    cmd.generation = s->sync_gen;
    cmd.seq = s->next_seq;
    if (!ring_put(s, r, &cmd))
        return true;
    s->next_seq++;
    s->sync_end_seq = cmd.seq;
    s->synced_gen = s->sync_gen;
    s->syncing = false;
    __atomic_store_n(&s->shm.hdr->control.generation, s->sync_gen, __ATOMIC_RELEASE);
    return false;
}

bool yard_dpsync_pump(struct yard_dpsync *s)
{
    if (!s->attached || !dp_alive(s))
        return false;
    struct rte_ring *r = yard_shm_cmd_ring(&s->shm);
    /* Queued commands first, then more of the sync: sequence numbers of
     * queued commands were taken when they were queued, a sync's when they
     * are pushed, so this order keeps the ring in sequence order (the
     * dataplane publishes the last one it applied). Interleaving is safe:
     * each sync command carries a name's state as of its push. */
    while (s->q_len > 0) {
        uint32_t n = s->q_len;
        uint32_t contiguous = s->q_cap - s->q_head;
        if (n > contiguous)
            n = contiguous;
        if (n > PUSH_BURST)
            n = PUSH_BURST;
        unsigned done = rte_ring_mp_enqueue_burst_elem(r, &s->queue[s->q_head],
                                                       sizeof(struct yard_cmd), n, NULL);
        if (done == 0)
            return true;
        s->last_pushed_seq = s->queue[(s->q_head + done - 1) % s->q_cap].seq;
        s->cmds_pushed += done;
        s->q_head = (s->q_head + done) % s->q_cap;
        s->q_len -= done;
    }
    return s->syncing && pump_sync(s, r);
}

uint64_t yard_dpsync_applied(const struct yard_dpsync *s)
{
    if (!s->attached)
        return 0;
    return __atomic_load_n(&s->shm.hdr->cmd_applied_seq, __ATOMIC_ACQUIRE);
}

bool yard_dpsync_synced(const struct yard_dpsync *s)
{
    if (!s->attached || s->state != YARD_DP_UP || s->syncing || s->q_len > 0 || s->synced_gen == 0)
        return false;
    const struct yard_shm_header *h = s->shm.hdr;
    return __atomic_load_n(&h->dataplane.generation, __ATOMIC_ACQUIRE) == s->synced_gen &&
           yard_dpsync_applied(s) >= s->last_pushed_seq;
}

int64_t yard_dpsync_heartbeat_age_ms(const struct yard_dpsync *s)
{
    if (!s->attached)
        return -1;
    uint64_t beat = __atomic_load_n(&s->shm.hdr->dataplane.heartbeat_ns, __ATOMIC_ACQUIRE);
    uint64_t now = yard_monotonic_ns();
    if (beat == 0)
        return -1;
    return now <= beat ? 0 : (int64_t)((now - beat) / 1000000);
}

const char *yard_dp_state_name(enum yard_dp_state st)
{
    switch (st) {
    case YARD_DP_UP:
        return "up";
    case YARD_DP_DOWN:
        return "down";
    default:
        return "absent";
    }
}
