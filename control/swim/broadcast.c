/*
 * broadcast.c - memberlist's TransmitLimitedQueue on a flat array
 * (broadcast.h).
 *
 * memberlist keeps the queue in a B-tree ordered by (transmits ascending,
 * length descending, id descending) and walks it tier by tier. With the
 * few hundred entries a cluster queues, a linear search for the same
 * order is as fast and keeps the code obvious; the selection rules are
 * memberlist's, so what goes in each packet (and how often) is the same.
 */
#include "broadcast.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int swim_bcast_queue_init(struct swim_bcast_queue *q, unsigned max, unsigned retransmit_mult)
{
    memset(q, 0, sizeof(*q));
    if (max == 0)
        max = 1;
    q->items = calloc(max, sizeof(*q->items));
    if (q->items == NULL)
        return -ENOMEM;
    q->max = max;
    q->retransmit_mult = retransmit_mult;
    return 0;
}

static void release(struct swim_bcast_queue *q, unsigned i)
{
    struct swim_bcast *b = q->items[i];
    q->items[i] = q->items[--q->nb];
    b->next_free = q->free_list;
    q->free_list = b;
}

void swim_bcast_queue_reset(struct swim_bcast_queue *q)
{
    while (q->nb > 0)
        release(q, q->nb - 1);
}

void swim_bcast_queue_fini(struct swim_bcast_queue *q)
{
    swim_bcast_queue_reset(q);
    while (q->free_list != NULL) {
        struct swim_bcast *b = q->free_list;
        q->free_list = b->next_free;
        free(b);
    }
    free(q->items);
    memset(q, 0, sizeof(*q));
}

unsigned swim_bcast_retransmit_limit(unsigned retransmit_mult, unsigned n_nodes)
{
    double scale = ceil(log10((double)n_nodes + 1.0));
    return retransmit_mult * (unsigned)scale;
}

/* memberlist's limitedBroadcast.Less: does a sort before b? */
static bool before(const struct swim_bcast *a, const struct swim_bcast *b)
{
    if (a->transmits != b->transmits)
        return a->transmits < b->transmits;
    if (a->len != b->len)
        return a->len > b->len;
    return a->id > b->id;
}

int swim_bcast_queue_push(struct swim_bcast_queue *q, const uint8_t *name, size_t name_len,
                          const uint8_t *msg, size_t len, uint64_t *id)
{
    if (len == 0 || len > SWIM_BCAST_MSG_MAX || (name != NULL && name_len > SWIM_NAME_MAX))
        return -EMSGSIZE;
    if (name != NULL) {
        for (unsigned i = 0; i < q->nb; i++) {
            struct swim_bcast *b = q->items[i];
            if (b->name_len == name_len && memcmp(b->name, name, name_len) == 0) {
                release(q, i);
                q->replaced++;
                break; /* at most one per name is ever queued */
            }
        }
    }
    if (q->nb == q->max) {
        /* Full: drop the entry that would be sent last (memberlist's Prune). */
        unsigned last = 0;
        for (unsigned i = 1; i < q->nb; i++)
            if (before(q->items[last], q->items[i]))
                last = i;
        release(q, last);
        q->dropped++;
    }
    struct swim_bcast *b = q->free_list;
    if (b != NULL) {
        q->free_list = b->next_free;
    } else {
        b = malloc(sizeof(*b));
        if (b == NULL)
            return -ENOMEM;
    }
    b->id = ++q->next_id;
    b->taken_round = 0;
    b->transmits = 0;
    b->len = (uint16_t)len;
    memcpy(b->msg, msg, len);
    if (name != NULL) {
        b->name_len = (uint16_t)name_len;
        memcpy(b->name, name, name_len);
    } else {
        b->name_len = SWIM_BCAST_UNIQUE;
    }
    q->items[q->nb++] = b;
    q->queued++;
    if (id != NULL)
        *id = b->id;
    return 0;
}

unsigned swim_bcast_queue_pull(struct swim_bcast_queue *q, unsigned n_nodes, size_t overhead,
                               size_t limit, int prefix, uint8_t *buf, size_t bufcap,
                               const uint8_t **parts, size_t *lens, unsigned max_parts)
{
    if (q->nb == 0 || max_parts == 0)
        return 0;
    unsigned tx_limit = swim_bcast_retransmit_limit(q->retransmit_mult, n_nodes);
    size_t extra = prefix >= 0 ? 1 : 0;
    uint64_t round = ++q->round;
    size_t used = 0, off = 0;
    unsigned n = 0;

    while (n < max_parts) {
        if (used + overhead >= limit)
            break;
        size_t free_bytes = limit - used - overhead;
        /* The least-sent, then largest, then newest entry that fits. */
        int best = -1;
        for (unsigned i = 0; i < q->nb; i++) {
            struct swim_bcast *b = q->items[i];
            if (b->taken_round == round || b->len > free_bytes)
                continue;
            if (best < 0 || before(b, q->items[best]))
                best = (int)i;
        }
        if (best < 0 || off + extra + q->items[best]->len > bufcap)
            break;
        struct swim_bcast *b = q->items[best];
        if (extra)
            buf[off] = (uint8_t)prefix;
        memcpy(buf + off + extra, b->msg, b->len);
        parts[n] = buf + off;
        lens[n] = b->len + extra;
        off += b->len + extra;
        used += overhead + b->len;
        n++;
        q->sent++;
        if (b->transmits + 1 >= tx_limit) {
            release(q, (unsigned)best);
        } else {
            b->transmits++;
            b->taken_round = round;
        }
    }
    return n;
}

bool swim_bcast_queue_pending(const struct swim_bcast_queue *q, uint64_t id)
{
    for (unsigned i = 0; i < q->nb; i++)
        if (q->items[i]->id == id)
            return true;
    return false;
}
