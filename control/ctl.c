/*
 * ctl.c - the one place yard-control's directory changes (see ctl.h).
 *
 * Order matters and differs for add and remove. Add: directory first (it
 * validates and may refuse), then the log (if the log refuses, the
 * directory change is undone), then the dataplane. Remove: log first (a
 * removal that is not durable must not happen), then the dataplane, then
 * the directory (the location's fields are needed for both).
 *
 * REMOTE locations are another node's (the cluster installs them from
 * gossip): they skip the log, since their owner spreads them again after any
 * restart. Changes to this node's own names are reported to the cluster,
 * which spreads them.
 */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "records.h"
#include "wal.h"

uint64_t yard_ctl_now_ms(void)
{
    return yard_monotonic_ns() / 1000000;
}

/* One of this node's names may have changed: tell the cluster. */
static void local_changed(struct yard_ctl *c, unsigned origin, const char *name, unsigned len)
{
    if (c->cluster != NULL && yard_loc_is_local(origin))
        yard_cluster_local_changed(c->cluster, name, len);
}

int yard_ctl_add(struct yard_ctl *c, const struct yard_ctl_loc_spec *spec,
                 struct yard_ctl_loc **out, uint64_t *seq)
{
    uint64_t now = yard_ctl_now_ms();
    if (seq != NULL)
        *seq = 0;
    bool created, changed;
    struct yard_ctl_loc *loc;
    int rc = yard_ctl_dir_add(&c->dir, spec, now, &loc, &created, &changed);
    if (rc != YARD_CTL_DIR_OK)
        return rc;
    if (out != NULL)
        *out = loc;
    /* Replay: the directory only. A renewal: the lease moved, nothing else. */
    if (c->replaying || !changed)
        return 0;

    if (spec->origin != YARD_LOC_REMOTE) {
        uint8_t rec[YARD_REC_MAX_BYTES];
        size_t len = yard_rec_encode_add(rec, loc);
        if (yard_wal_append(c->wal, rec, len, NULL) < 0) {
            c->n.wal_errors++;
            if (created)
                yard_ctl_dir_remove(&c->dir, loc);
            return -EIO;
        }
    }
    local_changed(c, spec->origin, spec->name, spec->name_len);
    uint64_t s = yard_dpsync_loc(&c->dp, YARD_CMD_LOC_ADD, loc);
    if (seq != NULL)
        *seq = s;
    yard_ctl_wake(c);
    return 0;
}

int yard_ctl_remove(struct yard_ctl *c, struct yard_ctl_loc *loc, uint64_t *seq)
{
    if (seq != NULL)
        *seq = 0;
    if (!c->replaying) {
        if (loc->origin != YARD_LOC_REMOTE) {
            uint8_t rec[YARD_REC_MAX_BYTES];
            size_t len = yard_rec_encode_del(rec, loc->owner, loc->ipv4, loc->udp_port);
            if (yard_wal_append(c->wal, rec, len, NULL) < 0) {
                c->n.wal_errors++;
                return -EIO;
            }
        }
        uint64_t s = yard_dpsync_loc(&c->dp, YARD_CMD_LOC_DEL, loc);
        if (seq != NULL)
            *seq = s;
        yard_ctl_wake(c);
    }
    unsigned origin = loc->origin;
    char name[YARD_NAME_MAX + 1];
    unsigned name_len = loc->owner->len;
    memcpy(name, loc->owner->name, name_len);
    yard_ctl_dir_remove(&c->dir, loc);
    if (!c->replaying)
        local_changed(c, origin, name, name_len);
    return 0;
}

void yard_ctl_wake(struct yard_ctl *c)
{
    if (!c->fast_on && c->fast != NULL) {
        yard_loop_timer_set(c->fast, YARD_CTL_FAST_MS);
        c->fast_on = true;
    }
}

int yard_ctl_durable(struct yard_ctl *c)
{
    if (yard_wal_sync(c->wal) < 0) {
        c->n.wal_errors++;
        return -EIO;
    }
    return 0;
}

bool yard_ctl_ready(const struct yard_ctl *c, const char **reason)
{
    const char *why = NULL;
    const struct yard_dpsync *dp = &c->dp;
    if (!dp->attached)
        why = "no dataplane: its shared-memory segment does not exist";
    else if (dp->state != YARD_DP_UP)
        why = "dataplane down: no fresh heartbeat";
    else if (!dp->shm.hdr->dataplane_ready)
        why = "dataplane starting: ports not up yet";
    else if (!yard_dpsync_synced(dp))
        why = "directory not synced to the dataplane yet";
    if (reason != NULL)
        *reason = why;
    return why == NULL;
}
