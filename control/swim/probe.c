/*
 * probe.c - failure detection: SWIM's probe with Lifeguard's extensions
 * (memberlist's probe, probeNode, handlePing, handleIndirectPing,
 * handleAck and handleNack; shared/memberlist.md section 6.1).
 *
 * One member is probed per (health-scaled) probe interval, in the table's
 * shuffled order. A probe is a ping; after probe_timeout_ms without an ack,
 * indirect pings through up to indirect_checks other members (asking for
 * nacks from those that speak protocol 4) and a TCP ping (protocol 3) go
 * out; if nothing has acked when the interval ends, the member is
 * suspected. The next probe starts at the same moment, so probes never
 * overlap and the member pointer held by the current one stays valid
 * (members are only reaped when the next probe wraps the round).
 * Acks are matched only by sequence number.
 *
 * Lifeguard's awareness moves here: -1 per acked probe, +missing nacks
 * (or +1 when no nack was expected) per failed one.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "stream.h"
#include "swim_impl.h"
#include "wire.h"

static void probe_tick(struct swim_timer *t, void *arg);
static void probe_timeout(struct swim_timer *t, void *arg);

void swim_probe_init(struct swim *s)
{
    struct swim_probe *p = &s->probe;
    memset(p, 0, sizeof(*p));
    swim_timer_init(&p->tick, probe_tick, s);
    swim_timer_init(&p->timeout, probe_timeout, s);
}

void swim_probe_start(struct swim *s)
{
    swim_timer_arm_in(&s->timers, &s->probe.tick,
                      swim_rand_below(&s->rand, s->cfg.probe_interval_ms));
}

static struct swim_bytes our_name(const struct swim *s)
{
    return (struct swim_bytes){(const uint8_t *)s->name, (uint32_t)strlen(s->name)};
}

static void release_relay(struct swim *s, struct swim_relay *r)
{
    struct swim_relay **pp = &s->probe.relays;
    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    swim_timer_cancel(&s->timers, &r->timer);
    r->next = s->probe.relay_free;
    s->probe.relay_free = r;
    s->probe.nb_relays--;
}

/* End the current probe (acked or not). */
static void finish(struct swim *s)
{
    struct swim_probe *p = &s->probe;
    p->active = false;
    swim_timer_cancel(&s->timers, &p->timeout);
    if (p->tcp != NULL) {
        struct swim_stream *st = p->tcp;
        p->tcp = NULL;
        swim_stream_close(st, 0);
    }
}

void swim_probe_stop(struct swim *s)
{
    struct swim_probe *p = &s->probe;
    finish(s);
    swim_timer_cancel(&s->timers, &p->tick);
    while (p->relays != NULL)
        release_relay(s, p->relays);
    while (p->relay_free != NULL) {
        struct swim_relay *r = p->relay_free;
        p->relay_free = r->next;
        free(r);
    }
}

static void acked(struct swim *s)
{
    swim_awareness_apply(&s->awareness, -1);
    finish(s);
}

/* The interval ended without any ack: Lifeguard's health update, then
 * suspect the member. */
static void failed(struct swim *s)
{
    struct swim_probe *p = &s->probe;
    int delta = 1;
    if (p->expected_nacks > 0)
        delta = p->nacks < p->expected_nacks ? (int)(p->expected_nacks - p->nacks) : 0;
    swim_awareness_apply(&s->awareness, delta);
    s->stats.probe_failures++;
    s->stats.suspects_raised++;
    struct swim_suspect sus = {
        .from = our_name(s),
        .incarnation = p->target_inc,
        .node = {(const uint8_t *)p->target->m.name, (uint32_t)strlen(p->target->m.name)},
    };
    finish(s);
    swim_members_on_suspect(&s->members, &sus);
}

static struct swim_ping our_ping(const struct swim *s, const struct swim_node *target, uint32_t seq)
{
    return (struct swim_ping){
        .node = {(const uint8_t *)target->m.name, (uint32_t)strlen(target->m.name)},
        .seq_no = seq,
        .source_addr = {(const uint8_t *)&s->adv.sin_addr, 4},
        .source_node = our_name(s),
        .source_port = ntohs(s->adv.sin_port),
    };
}

static void start(struct swim *s, struct swim_node *n, uint64_t interval_ms)
{
    struct swim_probe *p = &s->probe;
    struct sockaddr_in to;
    if (!swim_node_sockaddr(n, &to))
        return;
    uint64_t now = swim_timers_now(&s->timers);
    p->seq = swim_next_seq(s);
    p->target = n;
    p->target_inc = n->m.incarnation;
    p->target_state = n->m.state;
    p->deadline_ms = now + interval_ms;
    p->expected_nacks = p->nacks = 0;
    p->active = true;
    s->stats.probes++;
    swim_timer_arm(&s->timers, &p->timeout, now + s->cfg.probe_timeout_ms);

    struct swim_ping ping = our_ping(s, n, p->seq);
    int len = swim_encode_ping(s->enc, sizeof(s->enc), &ping);
    if (len < 0)
        return;
    if (n->m.state == SWIM_STATE_ALIVE) {
        swim_net_send_msg(s, &to, n, s->enc, (size_t)len);
        return;
    }
    /* Suspect: tell it, so it can refute at once. */
    struct swim_suspect sus = {
        .from = our_name(s),
        .incarnation = n->m.incarnation,
        .node = ping.node,
    };
    uint8_t sbuf[SWIM_NAME_MAX * 2 + 64];
    int slen = swim_encode_suspect(sbuf, sizeof(sbuf), &sus);
    if (slen < 0)
        return;
    const uint8_t *parts[2] = {s->enc, sbuf};
    size_t lens[2] = {(size_t)len, (size_t)slen};
    int c = swim_encode_compound(s->compound, sizeof(s->compound), parts, lens, 2);
    if (c > 0)
        swim_net_send_raw(s, &to, n, s->compound, (size_t)c);
}

static void probe_tick(struct swim_timer *t, void *arg)
{
    (void)t;
    struct swim *s = arg;
    if (s->probe.active)
        failed(s);
    if (s->left)
        return;
    /* Lifeguard: a node in doubt about its own health probes more slowly
     * and so gives acks longer to arrive. */
    uint64_t interval = swim_awareness_scale_ms(&s->awareness, s->cfg.probe_interval_ms);
    swim_timer_arm_in(&s->timers, &s->probe.tick, interval);
    struct swim_node *n = swim_members_next_probe(&s->members);
    if (n != NULL)
        start(s, n, interval);
}

/* No direct ack within probe_timeout_ms: ask others, and try TCP. */
static void probe_timeout(struct swim_timer *t, void *arg)
{
    (void)t;
    struct swim *s = arg;
    struct swim_probe *p = &s->probe;
    if (!p->active)
        return;
    struct swim_node *helpers[16];
    unsigned k = s->cfg.indirect_checks < 16 ? s->cfg.indirect_checks : 16;
    unsigned nb = swim_members_pick(&s->members, k, SWIM_PICK_ALIVE, p->target, helpers);
    struct swim_indirect_ping ind = {
        .node = {(const uint8_t *)p->target->m.name, (uint32_t)strlen(p->target->m.name)},
        .port = p->target->m.port,
        .seq_no = p->seq,
        .source_addr = {(const uint8_t *)&s->adv.sin_addr, 4},
        .source_node = our_name(s),
        .source_port = ntohs(s->adv.sin_port),
        .target = {p->target->m.addr, p->target->m.addr_len},
    };
    for (unsigned i = 0; i < nb; i++) {
        struct sockaddr_in to;
        if (!swim_node_sockaddr(helpers[i], &to))
            continue;
        /* Protocol 4 added nacks: only those helpers will send one. */
        ind.nack = helpers[i]->m.vsn[1] >= 4;
        if (ind.nack)
            p->expected_nacks++;
        int len = swim_encode_indirect_ping(s->enc, sizeof(s->enc), &ind);
        if (len < 0)
            continue;
        s->stats.probe_indirect_requests++;
        swim_net_send_msg(s, &to, helpers[i], s->enc, (size_t)len);
    }
    /* Protocol 3 added TCP pings: a member whose UDP is lost but whose
     * TCP works is not dead. */
    if (p->target->m.vsn[1] >= 3 && p->tcp == NULL) {
        struct swim_ping ping = our_ping(s, p->target, p->seq);
        int len = swim_encode_ping(s->enc, sizeof(s->enc), &ping);
        if (len > 0) {
            s->stats.probe_tcp_fallbacks++;
            p->tcp =
                swim_push_pull_tcp_ping(s, p->target, s->enc, (size_t)len, p->seq, p->deadline_ms);
        }
    }
}

void swim_probe_tcp_result(struct swim *s, uint32_t seq, bool ok)
{
    struct swim_probe *p = &s->probe;
    if (!p->active || seq != p->seq)
        return;
    p->tcp = NULL; /* the stream is ending */
    if (ok) {
        s->stats.probe_tcp_acks++;
        acked(s);
    }
}

void swim_probe_handle_ack(struct swim *s, uint32_t seq)
{
    struct swim_probe *p = &s->probe;
    if (p->active && seq == p->seq) {
        acked(s);
        return;
    }
    for (struct swim_relay *r = p->relays; r != NULL; r = r->next) {
        if (r->seq != seq)
            continue;
        /* The target answered our relayed ping: ack the requester with its
         * own sequence number. */
        struct swim_ack ack = {.seq_no = r->orig_seq};
        int len = swim_encode_ack(s->enc, sizeof(s->enc), &ack);
        const struct swim_node *to_node = swim_members_find_str(&s->members, r->requester_name);
        struct sockaddr_in to = r->requester;
        release_relay(s, r);
        if (len > 0)
            swim_net_send_msg(s, &to, to_node, s->enc, (size_t)len);
        return;
    }
    s->stats.acks_late++;
}

void swim_probe_handle_nack(struct swim *s, uint32_t seq)
{
    struct swim_probe *p = &s->probe;
    if (p->active && seq == p->seq)
        p->nacks++;
}

/* The requester's address for replies: its Source* fields when both are
 * there (and IPv4), else where the packet came from. */
static struct sockaddr_in reply_addr(const struct swim *s, const struct swim_bytes *addr,
                                     uint16_t port)
{
    struct sockaddr_in to = s->rx_from;
    if (addr->len == 4 && port > 0) {
        memset(&to, 0, sizeof(to));
        to.sin_family = AF_INET;
        memcpy(&to.sin_addr, addr->ptr, 4);
        to.sin_port = htons(port);
    }
    return to;
}

static bool is_us(const struct swim *s, const struct swim_bytes *name)
{
    return name->len == strlen(s->name) && memcmp(name->ptr, s->name, name->len) == 0;
}

void swim_probe_handle_ping(struct swim *s, const uint8_t *body, size_t len)
{
    struct swim_ping ping;
    if (swim_decode_ping(body, len, &ping) < 0) {
        s->stats.msg_bad_in++;
        return;
    }
    if (ping.node.len > 0 && !is_us(s, &ping.node)) {
        s->stats.msg_foreign_ping++;
        return;
    }
    struct sockaddr_in to = reply_addr(s, &ping.source_addr, ping.source_port);
    const struct swim_node *to_node =
        ping.source_node.len > 0
            ? swim_members_find(&s->members, ping.source_node.ptr, ping.source_node.len)
            : NULL;
    struct swim_ack ack = {.seq_no = ping.seq_no};
    int n = swim_encode_ack(s->enc, sizeof(s->enc), &ack);
    if (n > 0)
        swim_net_send_msg(s, &to, to_node, s->enc, (size_t)n);
}

static void relay_expired(struct swim_timer *t, void *arg)
{
    (void)t;
    struct swim_relay *r = arg;
    struct swim *s = r->s;
    if (r->nack) {
        struct swim_nack nack = {.seq_no = r->orig_seq};
        int len = swim_encode_nack(s->enc, sizeof(s->enc), &nack);
        const struct swim_node *to_node = swim_members_find_str(&s->members, r->requester_name);
        if (len > 0) {
            s->stats.nacks_sent++;
            swim_net_send_msg(s, &r->requester, to_node, s->enc, (size_t)len);
        }
    }
    release_relay(s, r);
}

void swim_probe_handle_indirect(struct swim *s, const uint8_t *body, size_t len)
{
    struct swim_indirect_ping ind;
    if (swim_decode_indirect_ping(body, len, &ind) < 0) {
        s->stats.msg_bad_in++;
        return;
    }
    if (ind.target.len != 4 || ind.source_node.len > SWIM_NAME_MAX ||
        s->probe.nb_relays >= SWIM_RELAYS_MAX)
        return;
    if (ind.port == 0)
        ind.port = ntohs(s->bind.sin_port);
    struct swim_relay *r = s->probe.relay_free;
    if (r != NULL) {
        s->probe.relay_free = r->next;
    } else {
        r = malloc(sizeof(*r));
        if (r == NULL)
            return;
    }
    memset(r, 0, sizeof(*r));
    r->s = s;
    r->seq = swim_next_seq(s);
    r->orig_seq = ind.seq_no;
    r->nack = ind.nack;
    r->requester = reply_addr(s, &ind.source_addr, ind.source_port);
    if (ind.source_node.len > 0)
        memcpy(r->requester_name, ind.source_node.ptr, ind.source_node.len);
    swim_timer_init(&r->timer, relay_expired, r);
    swim_timer_arm_in(&s->timers, &r->timer, s->cfg.probe_timeout_ms);
    r->next = s->probe.relays;
    s->probe.relays = r;
    s->probe.nb_relays++;

    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(ind.port)};
    memcpy(&to.sin_addr, ind.target.ptr, 4);
    struct swim_ping ping = {
        .node = ind.node,
        .seq_no = r->seq,
        .source_addr = {(const uint8_t *)&s->adv.sin_addr, 4},
        .source_node = our_name(s),
        .source_port = ntohs(s->adv.sin_port),
    };
    int n = swim_encode_ping(s->enc, sizeof(s->enc), &ping);
    if (n < 0)
        return;
    s->stats.indirect_pings_served++;
    const struct swim_node *target =
        ind.node.len > 0 ? swim_members_find(&s->members, ind.node.ptr, ind.node.len) : NULL;
    swim_net_send_msg(s, &to, target, s->enc, (size_t)n);
}
