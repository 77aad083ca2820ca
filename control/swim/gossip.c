/*
 * gossip.c - dissemination (memberlist's gossip and getBroadcasts;
 * shared/memberlist.md section 6.3).
 *
 * Every gossip interval, up to gossip_nodes random members (alive,
 * suspect, or dead for less than gossip_to_the_dead_ms, so a member
 * wrongly declared dead hears of it and can refute) each get one packet of
 * queued broadcasts: membership news first, then the delegate's user
 * messages (each prefixed with the user type byte), one message bare or
 * several as a compound, within memberlist's 1400-byte budget. The same
 * pull feeds the piggy-backing of pings and acks (net.c), so the queues'
 * retransmit limits count both.
 *
 * The gossip tick also watches a leave in progress: the leave is complete
 * once our dead{self} broadcast has been sent its full count.
 */
#include <string.h>

#include "swim_impl.h"
#include "wire.h"

static void gossip_tick(struct swim_timer *t, void *arg);

void swim_gossip_start(struct swim *s)
{
    swim_timer_init(&s->gossip_tick, gossip_tick, s);
    swim_timer_arm_in(&s->timers, &s->gossip_tick,
                      swim_rand_below(&s->rand, s->cfg.gossip_interval_ms));
}

void swim_gossip_stop(struct swim *s)
{
    swim_timer_cancel(&s->timers, &s->gossip_tick);
}

static bool wants_user(const struct swim *s, const struct swim_node *dest)
{
    if (s->delegate.wants_user_msgs == NULL)
        return true;
    return dest != NULL && s->delegate.wants_user_msgs(s->delegate.arg, &dest->m);
}

unsigned swim_gossip_pull(struct swim *s, const struct swim_node *dest, size_t overhead,
                          size_t limit, const uint8_t **parts, size_t *lens, unsigned max_parts)
{
    unsigned nb_nodes = s->members.nb;
    unsigned n = swim_bcast_queue_pull(&s->bcast, nb_nodes, overhead, limit, -1, s->parts_buf,
                                       sizeof(s->parts_buf), parts, lens, max_parts);

    size_t used = 0;
    for (unsigned i = 0; i < n; i++)
        used += lens[i] + overhead;
    if (n < max_parts && used < limit && limit - used > overhead + SWIM_USER_MSG_OVERHEAD &&
        swim_bcast_queue_len(&s->user_bcast) > 0 && wants_user(s, dest)) {
        size_t off = 0;
        for (unsigned i = 0; i < n; i++)
            off += lens[i];
        n += swim_bcast_queue_pull(&s->user_bcast, nb_nodes, overhead + SWIM_USER_MSG_OVERHEAD,
                                   limit - used, SWIM_MSG_USER, s->parts_buf + off,
                                   sizeof(s->parts_buf) - off, parts + n, lens + n, max_parts - n);
    }
    return n;
}

static void check_leave(struct swim *s)
{
    if (!s->leave_started || s->left)
        return;
    if (!swim_bcast_queue_pending(&s->bcast, s->members.leave_bcast_id) ||
        swim_members_nb_live_others(&s->members) == 0)
        s->left = true;
}

static void gossip_tick(struct swim_timer *t, void *arg)
{
    (void)t;
    struct swim *s = arg;
    swim_timer_arm_in(&s->timers, &s->gossip_tick, s->cfg.gossip_interval_ms);

    struct swim_node *dest[64];
    unsigned k = s->cfg.gossip_nodes < 64 ? s->cfg.gossip_nodes : 64;
    unsigned nb = swim_members_pick(&s->members, k, SWIM_PICK_GOSSIP, NULL, dest);
    size_t limit =
        SWIM_UDP_BUDGET - SWIM_COMPOUND_HEADER - (s->encrypted ? SWIM_ENCRYPT_OVERHEAD : 0);
    for (unsigned i = 0; i < nb; i++) {
        const uint8_t *parts[SWIM_COMPOUND_MAX];
        size_t lens[SWIM_COMPOUND_MAX];
        unsigned n = swim_gossip_pull(s, dest[i], SWIM_COMPOUND_OVERHEAD, limit, parts, lens,
                                      SWIM_COMPOUND_MAX);
        if (n == 0)
            break; /* nothing left to say to anyone */
        struct sockaddr_in to;
        if (!swim_node_sockaddr(dest[i], &to))
            continue;
        if (n == 1) {
            swim_net_send_raw(s, &to, dest[i], parts[0], lens[0]);
            continue;
        }
        int c = swim_encode_compound(s->compound, sizeof(s->compound), parts, lens, n);
        if (c > 0)
            swim_net_send_raw(s, &to, dest[i], s->compound, (size_t)c);
    }
    check_leave(s);
    if (s->left)
        swim_timer_cancel(&s->timers, &s->gossip_tick);
}
