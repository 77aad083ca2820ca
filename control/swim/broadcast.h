/*
 * broadcast.h - the retransmit-limited broadcast queue (memberlist's
 * TransmitLimitedQueue, queue.go; shared/memberlist.md section 6.3).
 *
 * Gossip is piggy-backed: every gossip round and every ping or ack pulls
 * as many queued messages as fit the packet. Each message is sent at most
 * RetransmitMult x ceil(log10(n + 1)) times, enough to reach every member
 * with high probability; the least-sent ones go first (largest first
 * within a tier, then the newest), so fresh news spreads before old news
 * is repeated. A message about node X replaces any queued one about X
 * (only the latest state of a node is worth spreading); user messages are
 * never replaced. The queue is bounded: when full, the entry that has had
 * the most sends (oldest among equals) is dropped and counted, as
 * memberlist's Prune does for Serf's queues.
 *
 * Entries come from a free list that grows up to the bound and never
 * shrinks, so queueing allocates only until the queue has seen its peak.
 * The loop thread owns a queue; no locking. Costs: push O(n) (the name
 * search), pull O(n) per message pulled; n is small (hundreds at most).
 */
#ifndef YARD_SWIM_BROADCAST_H
#define YARD_SWIM_BROADCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/* The biggest broadcast: one whole UDP packet (memberlist's UDPBufferSize). */
#define SWIM_BCAST_MSG_MAX 1400

struct swim_bcast {
    struct swim_bcast *next_free;
    uint64_t id;          /* push order: larger is newer */
    uint64_t taken_round; /* the pull that last took it (not twice in one pull) */
    uint32_t transmits;   /* times sent so far */
    uint16_t len;
    uint16_t name_len; /* SWIM_BCAST_UNIQUE: never replaced */
    uint8_t name[SWIM_NAME_MAX];
    uint8_t msg[SWIM_BCAST_MSG_MAX];
};

#define SWIM_BCAST_UNIQUE 0xffff

struct swim_bcast_queue {
    struct swim_bcast **items; /* unordered; pull searches them */
    unsigned nb, max;
    struct swim_bcast *free_list;
    uint64_t next_id;
    uint64_t round;
    unsigned retransmit_mult;
    /* Counters (the owner copies them into its stats). */
    uint64_t queued;   /* pushes accepted */
    uint64_t replaced; /* queued entries superseded by a newer one about the same node */
    uint64_t sent;     /* messages handed out by pull (each send counts) */
    uint64_t dropped;  /* entries evicted because the queue was full */
};

/* An empty queue holding at most max entries (>= 1). 0 or -ENOMEM. */
int swim_bcast_queue_init(struct swim_bcast_queue *q, unsigned max, unsigned retransmit_mult);

/* Free every entry. */
void swim_bcast_queue_fini(struct swim_bcast_queue *q);

/* memberlist's retransmitLimit: mult x ceil(log10(n_nodes + 1)). */
unsigned swim_bcast_retransmit_limit(unsigned retransmit_mult, unsigned n_nodes);

/*
 * Queue msg[0..len). name: the node the message is about (a newer message
 * about it replaces the queued one), or NULL for a unique message. If the
 * queue is full the most-sent entry is dropped first. *id (if not NULL)
 * gets the entry's id for swim_bcast_queue_pending(). 0, -EMSGSIZE (len 0
 * or > SWIM_BCAST_MSG_MAX, or name too long) or -ENOMEM.
 */
int swim_bcast_queue_push(struct swim_bcast_queue *q, const uint8_t *name, size_t name_len,
                          const uint8_t *msg, size_t len, uint64_t *id);

/*
 * Take messages for one packet, exactly as memberlist's GetBroadcasts:
 * while limit - used - overhead > 0, take the least-sent, then largest,
 * then newest message that fits; each costs overhead + its length. Each
 * taken message's send count goes up; at the retransmit limit for n_nodes
 * it leaves the queue. Messages are copied to buf (prefixed with the byte
 * `prefix` if prefix >= 0, not counted in the budget: account for it in
 * overhead) and described in parts/lens, at most max_parts of them.
 * buf must hold limit bytes plus one prefix per part. Returns the count.
 */
unsigned swim_bcast_queue_pull(struct swim_bcast_queue *q, unsigned n_nodes, size_t overhead,
                               size_t limit, int prefix, uint8_t *buf, size_t bufcap,
                               const uint8_t **parts, size_t *lens, unsigned max_parts);

/* Whether the entry pushed with this id is still queued. */
bool swim_bcast_queue_pending(const struct swim_bcast_queue *q, uint64_t id);

/* Entries queued now. */
static inline unsigned swim_bcast_queue_len(const struct swim_bcast_queue *q)
{
    return q->nb;
}

/* Drop every entry (not counted as dropped). */
void swim_bcast_queue_reset(struct swim_bcast_queue *q);

#endif
