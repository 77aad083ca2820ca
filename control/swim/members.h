/*
 * members.h - the member table and memberlist's state rules (state.go's
 * aliveNode, suspectNode, deadNode, mergeState, verifyProtocol and
 * resetNodes; shared/memberlist.md section 6.2).
 *
 * Members are keyed by name. Each has an incarnation number that only its
 * owner raises; news about a member (alive, suspect, dead) is applied only
 * if it is not older than what we know, and every change we apply is
 * queued for re-gossip. News that accuses this node is refuted by
 * re-announcing it alive with a higher incarnation. A suspect member gets
 * a Lifeguard suspicion timer (suspicion.h) whose expiry declares it dead.
 * Dead members stay in the table (and are still gossiped to) for
 * gossip_to_the_dead_ms and are removed at the next probe-round wrap;
 * left members are never removed (as in memberlist 0.2.2).
 *
 * The table is an array in probe order (shuffled at each wrap; new
 * members go in at a random position, so failure detection time does not
 * depend on join order) plus a hash index by name. Nodes are allocated
 * when they join and freed when reaped; nothing else allocates except a
 * suspicion record per suspect member.
 *
 * Who may call: the loop thread (or a test) that owns the table. Costs:
 * find O(1); each rule O(1) plus an O(queue) broadcast push; reset and
 * merge O(n).
 */
#ifndef YARD_SWIM_MEMBERS_H
#define YARD_SWIM_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "awareness.h"
#include "broadcast.h"
#include "config.h"
#include "msg.h"
#include "rand.h"
#include "stats.h"
#include "suspicion.h"
#include "swim.h"
#include "timers.h"

struct swim_members;

struct swim_node {
    struct swim_member m; /* first: the view handed out is the node itself */
    struct swim_node *hash_next;
    uint32_t hash;
    struct swim_suspicion *susp; /* while suspect: the Lifeguard timer's state */
    struct swim_timer susp_timer;
    struct swim_members *ms;
};

/* What the rules act on besides the table; all owned by the caller. */
struct swim_members_env {
    const struct swim_config *cfg;
    struct swim_bcast_queue *bcast; /* membership broadcasts */
    struct swim_awareness *awareness;
    struct swim_timers *timers; /* clock and suspicion timers */
    struct swim_rand *rand;
    struct swim_stats *stats;
    const struct swim_delegate *delegate; /* on_join, on_update, on_leave */
};

struct swim_members {
    struct swim_members_env env;
    struct swim_node **nodes; /* probe order */
    unsigned nb, cap;
    struct swim_node **buckets; /* by name hash */
    unsigned nb_buckets;        /* power of two */
    struct swim_node *self;
    unsigned probe_index;
    bool leaving;            /* swim_members_leave() was called */
    uint64_t leave_bcast_id; /* the dead{self} broadcast, to know when it is out */
    uint8_t enc[SWIM_BCAST_MSG_MAX];
};

/* An empty table. 0 or -ENOMEM. */
int swim_members_init(struct swim_members *ms, const struct swim_members_env *env);

/* Cancel suspicion timers and free every node. */
void swim_members_fini(struct swim_members *ms);

/*
 * Add this node: alive, incarnation 1, versions SWIM_VSN_INIT, queued for
 * gossip; fires on_join for it. addr_len 4 or 16. 0, -EINVAL (bad name or
 * address), -EMSGSIZE (meta > SWIM_META_MAX) or -ENOMEM.
 */
int swim_members_start(struct swim_members *ms, const char *name, const uint8_t *addr,
                       uint8_t addr_len, uint16_t port, const uint8_t *meta, size_t meta_len);

/* The member named name[0..len), or NULL. */
struct swim_node *swim_members_find(const struct swim_members *ms, const uint8_t *name, size_t len);

/* Same, from a C string. */
struct swim_node *swim_members_find_str(const struct swim_members *ms, const char *name);

/*
 * memberlist's aliveNode: unknown members are added; a known name at
 * another address is a conflict (refused, counted) unless the entry is
 * left; older news is ignored; news about us is refuted unless it matches
 * us exactly; otherwise the member is updated and made alive, the alive is
 * queued for gossip and on_join (was dead/left/new) or on_update (meta or
 * address changed) fires. bootstrap: the message is our own announcement
 * (start, set_meta), applied rather than refuted.
 */
void swim_members_on_alive(struct swim_members *ms, const struct swim_alive *a, bool bootstrap);

/*
 * memberlist's suspectNode: confirms a running suspicion (re-gossiped if
 * the accuser is new), or makes an alive member suspect and starts its
 * Lifeguard timer, or refutes it if it is about us.
 */
void swim_members_on_suspect(struct swim_members *ms, const struct swim_suspect *s);

/*
 * memberlist's deadNode: ends any suspicion; makes the member dead (left
 * if From == Node) and fires on_leave, or refutes it if it is about us
 * and we are not leaving.
 */
void swim_members_on_dead(struct swim_members *ms, const struct swim_dead *d);

/*
 * memberlist's verifyProtocol for a push/pull's node list against our
 * table: the protocol and delegate ranges every alive node understands
 * must contain every node's current versions. 0, or -EPROTO with the
 * offending node and range written to why.
 */
int swim_members_verify(const struct swim_members *ms, const struct swim_push_node_state *remote,
                        unsigned n, char *why, size_t whylen);

/* memberlist's mergeState: alive -> alive rule; left -> dead with From =
 * the node; suspect or dead -> suspect with From = us. */
void swim_members_merge(struct swim_members *ms, const struct swim_push_node_state *remote,
                        unsigned n);

/* Remove dead members older than gossip_to_the_dead_ms and shuffle the
 * probe order (memberlist's resetNodes). */
void swim_members_reset(struct swim_members *ms);

/*
 * The next member to probe in the shuffled round, skipping us, dead and
 * left members, and calling swim_members_reset() when the round wraps
 * (memberlist's probe()). NULL if there is nobody to probe.
 */
struct swim_node *swim_members_next_probe(struct swim_members *ms);

enum swim_pick {
    SWIM_PICK_ALIVE,  /* alive members other than us */
    SWIM_PICK_GOSSIP, /* alive, suspect, or dead for less than gossip_to_the_dead_ms */
};

/* Up to k distinct random members matching how, never `exclude`
 * (memberlist's kRandomNodes: 3 x n random draws at most). */
unsigned swim_members_pick(struct swim_members *ms, unsigned k, enum swim_pick how,
                           const struct swim_node *exclude, struct swim_node **out);

/* Announce new meta with incarnation + 1 (memberlist's UpdateNode). 0 or
 * -EMSGSIZE. */
int swim_members_set_meta(struct swim_members *ms, const uint8_t *meta, size_t len);

/* Leave: dead{self, From = self} applied and queued; its broadcast id is
 * in leave_bcast_id. 0 or -EALREADY. */
int swim_members_leave(struct swim_members *ms);

/* Alive or suspect members other than us (memberlist's anyAlive, counted). */
unsigned swim_members_nb_live_others(const struct swim_members *ms);

#endif
