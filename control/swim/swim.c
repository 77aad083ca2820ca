/*
 * swim.c - the public face of the gossip engine (swim.h): creating and
 * destroying an instance, the calls yard-control's cluster code makes, and
 * the read-only views it takes.
 *
 * An instance owns everything it uses (sockets, timers, queues, the member
 * table, stream records) in one heap object, so several instances can run
 * on one loop, as the tests do. The protocol itself lives in members.c,
 * probe.c, gossip.c and pushpull.c.
 */
#include "swim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"
#include "swim_impl.h"

#define DEFAULT_PORT 7946

static void say(char *why, size_t whylen, const char *fmt, const char *arg)
{
    if (why != NULL && whylen > 0)
        snprintf(why, whylen, fmt, arg);
}

static int parse_ipv4(const char *text, struct sockaddr_in *out)
{
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    return text != NULL && inet_pton(AF_INET, text, &out->sin_addr) == 1 ? 0 : -EINVAL;
}

void swim_destroy(struct swim *s)
{
    if (s == NULL)
        return;
    s->destroying = true;
    swim_probe_stop(s); /* before the streams: it owns the fallback ping's */
    swim_stream_close_all(s);
    swim_join_stop(s);
    swim_gossip_stop(s);
    swim_push_pull_stop(s);
    swim_timer_cancel(&s->timers, &s->leave_timer);
    swim_members_fini(&s->members);
    swim_bcast_queue_fini(&s->bcast);
    swim_bcast_queue_fini(&s->user_bcast);
    swim_net_close(s);
    swim_timers_fini(&s->timers);
    swim_keyring_clear(&s->keyring);
    free(s->pp_buf);
    free(s->pp_nodes);
    free(s->user_state);
    free(s);
}

int swim_create(struct yard_loop *loop, const struct swim_opts *o, struct swim **out, char *why,
                size_t whylen)
{
    int rc;
    char dummy[1];
    if (why == NULL || whylen == 0) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    why[0] = '\0';
    if (o->name == NULL || o->name[0] == '\0' || strlen(o->name) > SWIM_NAME_MAX) {
        say(why, whylen, "swim: node name '%s' must be 1 to 255 bytes", o->name ? o->name : "");
        return -EINVAL;
    }
    if (o->meta_len > SWIM_META_MAX) {
        snprintf(why, whylen, "swim: node meta is %zu bytes, memberlist allows %d", o->meta_len,
                 SWIM_META_MAX);
        return -EMSGSIZE;
    }
    rc = swim_config_check(&o->config, why, whylen);
    if (rc < 0)
        return rc;

    struct swim *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        say(why, whylen, "swim: %s", "out of memory");
        return -ENOMEM;
    }
    s->udp_fd = s->tcp_fd = -1;
    s->loop = loop;
    s->cfg = o->config;
    if (s->cfg.broadcast_queue_max == 0)
        s->cfg.broadcast_queue_max = 1024;
    swim_keyring_init(&s->keyring);
    if (o->keyring != NULL)
        s->keyring = *o->keyring;
    s->encrypted = s->keyring.count > 0;
    s->delegate = o->delegate;
    strcpy(s->name, o->name);
    swim_rand_seed(&s->rand, 0);
    swim_timers_init(&s->timers);
    swim_awareness_init(&s->awareness, s->cfg.awareness_max_multiplier);
    swim_probe_init(s);
    swim_timer_init(&s->gossip_tick, NULL, s);
    swim_timer_init(&s->push_pull_tick, NULL, s);
    swim_timer_init(&s->leave_timer, NULL, s);

    if (parse_ipv4(o->bind_addr, &s->bind) < 0) {
        say(why, whylen, "swim: bind address '%s' is not an IPv4 address",
            o->bind_addr ? o->bind_addr : "");
        rc = -EINVAL;
        goto fail_early;
    }
    s->bind.sin_port = htons(o->bind_port);
    const char *adv = o->advertise_addr != NULL ? o->advertise_addr : o->bind_addr;
    if (parse_ipv4(adv, &s->adv) < 0) {
        say(why, whylen, "swim: advertise address '%s' is not an IPv4 address", adv);
        rc = -EINVAL;
        goto fail_early;
    }
    if (s->adv.sin_addr.s_addr == htonl(INADDR_ANY)) {
        say(why, whylen,
            "swim: bound to %s, which other members cannot reach: set an advertise address", adv);
        rc = -EINVAL;
        goto fail_early;
    }

    if ((rc = swim_timers_attach(&s->timers, loop)) < 0 ||
        (rc = swim_bcast_queue_init(&s->bcast, s->cfg.broadcast_queue_max,
                                    s->cfg.retransmit_mult)) < 0 ||
        (rc = swim_bcast_queue_init(&s->user_bcast, s->cfg.broadcast_queue_max,
                                    s->cfg.retransmit_mult)) < 0) {
        say(why, whylen, "swim: %s", strerror(-rc));
        goto fail;
    }
    struct swim_members_env env = {
        .cfg = &s->cfg,
        .bcast = &s->bcast,
        .awareness = &s->awareness,
        .timers = &s->timers,
        .rand = &s->rand,
        .stats = &s->stats,
        .delegate = &s->delegate,
    };
    if ((rc = swim_members_init(&s->members, &env)) < 0) {
        say(why, whylen, "swim: %s", strerror(-rc));
        goto fail;
    }
    rc = swim_net_open(s, why, whylen);
    if (rc < 0)
        goto fail;
    s->adv.sin_port = o->advertise_port != 0 ? htons(o->advertise_port) : s->bind.sin_port;
    rc = swim_members_start(&s->members, s->name, (const uint8_t *)&s->adv.sin_addr, 4,
                            ntohs(s->adv.sin_port), o->meta, o->meta_len);
    if (rc == 0)
        rc = swim_net_start(s);
    if (rc < 0) {
        say(why, whylen, "swim: %s", strerror(-rc));
        goto fail;
    }
    swim_probe_start(s);
    swim_gossip_start(s);
    swim_push_pull_start(s);
    *out = s;
    return 0;

fail_early:
    free(s);
    return rc;
fail:
    swim_destroy(s);
    return rc;
}

int swim_join(struct swim *s, const char *const *addrs, unsigned n)
{
    struct sockaddr_in *sa = calloc(n ? n : 1, sizeof(*sa));
    if (sa == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        char host[64];
        const char *colon = strrchr(addrs[i], ':');
        unsigned long port = DEFAULT_PORT;
        size_t hl = colon != NULL ? (size_t)(colon - addrs[i]) : strlen(addrs[i]);
        if (hl >= sizeof(host))
            goto bad;
        memcpy(host, addrs[i], hl);
        host[hl] = '\0';
        if (colon != NULL) {
            char *end;
            port = strtoul(colon + 1, &end, 10);
            if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535)
                goto bad;
        }
        if (parse_ipv4(host, &sa[i]) < 0)
            goto bad;
        sa[i].sin_port = htons((uint16_t)port);
    }
    int rc = swim_join_start(s, sa, n);
    free(sa);
    return rc;
bad:
    free(sa);
    return -EINVAL;
}

bool swim_joined(const struct swim *s)
{
    return s->joined;
}

static void leave_timeout(struct swim_timer *t, void *arg)
{
    (void)t;
    struct swim *s = arg;
    s->left = true;
}

int swim_leave(struct swim *s, unsigned timeout_ms)
{
    if (s->leave_started)
        return -EALREADY;
    s->leave_started = true;
    for (unsigned i = 0; i < s->nb_joins; i++)
        swim_timer_cancel(&s->timers, &s->joins[i].retry);
    swim_members_leave(&s->members);
    /* memberlist waits only if someone could hear the broadcast. */
    if (swim_members_nb_live_others(&s->members) == 0) {
        s->left = true;
        return 0;
    }
    swim_timer_init(&s->leave_timer, leave_timeout, s);
    swim_timer_arm_in(&s->timers, &s->leave_timer, timeout_ms);
    return 0;
}

bool swim_left(const struct swim *s)
{
    return s->left;
}

int swim_set_meta(struct swim *s, const uint8_t *meta, size_t len)
{
    if (s->leave_started)
        return -ESHUTDOWN;
    return swim_members_set_meta(&s->members, meta, len);
}

size_t swim_user_msg_max(const struct swim *s)
{
    /* One part of a gossip packet: budget - compound header - part
     * overhead - the user type byte (- encryption). */
    return SWIM_UDP_BUDGET - SWIM_COMPOUND_HEADER - SWIM_COMPOUND_OVERHEAD -
           SWIM_USER_MSG_OVERHEAD - (s->encrypted ? SWIM_ENCRYPT_OVERHEAD : 0);
}

int swim_user_broadcast(struct swim *s, const uint8_t *msg, size_t len)
{
    if (len == 0 || len > swim_user_msg_max(s))
        return -EMSGSIZE;
    return swim_bcast_queue_push(&s->user_bcast, NULL, 0, msg, len, NULL);
}

int swim_push_pull_with(struct swim *s, const char *member_name)
{
    struct swim_node *n = swim_members_find_str(&s->members, member_name);
    struct sockaddr_in addr;
    if (n == NULL || n == s->members.self || n->m.state != SWIM_STATE_ALIVE ||
        !swim_node_sockaddr(n, &addr))
        return -ENOENT;
    return swim_push_pull_begin(s, &addr, false, -1, n);
}

unsigned swim_nb_members(const struct swim *s)
{
    return s->members.nb;
}

const struct swim_member *swim_member_at(const struct swim *s, unsigned i)
{
    return i < s->members.nb ? &s->members.nodes[i]->m : NULL;
}

const struct swim_member *swim_member_find(const struct swim *s, const char *name)
{
    const struct swim_node *n = swim_members_find_str(&s->members, name);
    return n != NULL ? &n->m : NULL;
}

const struct swim_member *swim_self(const struct swim *s)
{
    return &s->members.self->m;
}

unsigned swim_health_score(const struct swim *s)
{
    return swim_awareness_score(&s->awareness);
}

const struct swim_stats *swim_stats(const struct swim *s)
{
    /* The queues count for themselves; fold them in when asked. The
     * instance is never const where it is defined, only in this view. */
    struct swim *w = (struct swim *)s;
    w->stats.broadcasts_queued = s->bcast.queued;
    w->stats.broadcasts_replaced = s->bcast.replaced;
    w->stats.broadcasts_sent = s->bcast.sent;
    w->stats.broadcasts_dropped = s->bcast.dropped;
    w->stats.user_broadcasts_queued = s->user_bcast.queued;
    w->stats.user_broadcasts_sent = s->user_bcast.sent;
    w->stats.user_broadcasts_dropped = s->user_bcast.dropped;
    return &s->stats;
}

uint16_t swim_local_port(const struct swim *s)
{
    return ntohs(s->bind.sin_port);
}

const char *swim_state_name(uint8_t state)
{
    static const char *const names[] = {"alive", "suspect", "dead", "left"};
    return state < 4 ? names[state] : "?";
}
