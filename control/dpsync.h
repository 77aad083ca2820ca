/*
 * dpsync.h - yard-control's link to the dataplane: the shm segment, the
 * command stream, full syncs and liveness.
 *
 * Every directory change becomes one command with the next sequence number,
 * queued here and pushed into the shm command ring as space allows (the
 * dataplane's agent drains it continuously). The dataplane publishes the
 * last sequence it applied; callers wait on that (yard_dpsync_applied).
 *
 * A full sync re-sends the whole directory between SYNC_BEGIN(g) and
 * SYNC_END(g): at attach (a restarted control plane), whenever the
 * dataplane's start epoch changes (a restarted dataplane), and when the
 * queue overflows. Nothing is removed in the dataplane before SYNC_END, so
 * a sync never opens a gap in forwarding. Changes made during a sync are
 * queued as usual and pushed, in sequence order, between the sync's own
 * commands.
 *
 * The segment may not exist yet (either daemon may start first): attaching
 * is retried every heartbeat tick. One thread (the event loop).
 */
#ifndef YARD_CTL_DPSYNC_H
#define YARD_CTL_DPSYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "directory.h"
#include "replica.h"
#include "yard_shm.h"

/* Queued commands beyond this trigger a full sync instead (64 MB). */
#define YARD_DPSYNC_QUEUE_MAX (1u << 18)
/* The dataplane is down when its heartbeat is older than this. */
#define YARD_DPSYNC_DEAD_MS 1000u

enum yard_dp_state {
    YARD_DP_ABSENT = 0, /* no segment */
    YARD_DP_DOWN = 1,   /* segment, but no live dataplane */
    YARD_DP_UP = 2,
};

struct yard_dpsync {
    char instance[32];
    struct yard_shm shm;
    bool attached;
    dev_t shm_dev;
    ino_t shm_ino;
    int32_t dp_pid;
    uint64_t dp_epoch;
    enum yard_dp_state state;

    uint64_t next_seq; /* the next command's sequence number */
    uint64_t last_pushed_seq;

    /* Circular queue of commands not yet in the ring. */
    struct yard_cmd *queue;
    uint32_t q_head, q_len, q_cap;

    /* Full sync in progress. */
    bool syncing;
    bool sync_begun;        /* SYNC_BEGIN is in the ring */
    bool sync_members_done; /* the members are in the ring */
    uint32_t sync_gen;
    uint64_t sync_end_seq; /* SYNC_END's sequence, once pushed */
    uint32_t synced_gen;   /* last generation whose SYNC_END was pushed */

    struct yard_ctl_dir *dir;
    const struct yard_replica *replica; /* cluster members for full syncs; NULL: standalone */
    uint64_t start_epoch_ns;

    /* Counters for status and metrics. */
    uint64_t cmds_pushed;
    uint64_t full_syncs;
    uint64_t queue_overflows;
    uint64_t dp_restarts_seen;
};

void yard_dpsync_init(struct yard_dpsync *s, const char *instance, struct yard_ctl_dir *dir);
void yard_dpsync_fini(struct yard_dpsync *s);

/*
 * Every ~100 ms: attach if not attached, write the control side's
 * heartbeat, notice a dataplane that died or restarted (and start a full
 * sync for a new one). Returns true when the state changed.
 */
bool yard_dpsync_tick(struct yard_dpsync *s);

/* Queue the command for a location's addition or removal; returns its seq
 * (0 when no dataplane is attached: the next full sync will carry it). */
uint64_t yard_dpsync_loc(struct yard_dpsync *s, uint32_t type, const struct yard_ctl_loc *loc);

/* Queue MEMBER_ADD or MEMBER_DEL (type) for a cluster member's data
 * address ipv4 (network order) and node number; returns its seq (0 when no
 * dataplane is attached). */
uint64_t yard_dpsync_member(struct yard_dpsync *s, uint32_t type, uint32_t ipv4, uint32_t node);

/* Push what fits into the ring. True while work remains (call again soon). */
bool yard_dpsync_pump(struct yard_dpsync *s);

/* Start a full sync (at attach, on a dataplane restart, on queue overflow). */
void yard_dpsync_full_sync(struct yard_dpsync *s);

/* The last command sequence the dataplane applied (0 if none / absent). */
uint64_t yard_dpsync_applied(const struct yard_dpsync *s);

/* Live and has applied everything sent, the last full sync included. */
bool yard_dpsync_synced(const struct yard_dpsync *s);

/* Milliseconds since the dataplane's last heartbeat, or -1 with no segment. */
int64_t yard_dpsync_heartbeat_age_ms(const struct yard_dpsync *s);

const char *yard_dp_state_name(enum yard_dp_state st);

#endif
