/*
 * registrar.c - REGISTER, UNREGISTER, SUBSCRIBE, UNSUBSCRIBE (see
 * registrar.h).
 *
 * The punt ring is polled, not signalled (it is an rte_ring in shared
 * memory, with no file descriptor): the loop's 1 ms timer drains it while
 * there is traffic. A batch is bounded, so a punt flood costs the loop a
 * fixed slice per round and the API and HTTP stay served; the dataplane's
 * per-source rate limit and the bounded ring (overflow counted as
 * punt_full) keep the flood out of here in the first place.
 */
#include "registrar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "ctl.h"
#include "envelope.h"
#include "parse.h"

int yard_registrar_init(struct yard_registrar *r)
{
    memset(r, 0, sizeof(*r));
    r->pending = malloc(sizeof(*r->pending) * YARD_REG_PENDING_MAX);
    return r->pending == NULL ? -ENOMEM : 0;
}

void yard_registrar_fini(struct yard_registrar *r)
{
    free(r->pending);
    r->pending = NULL;
}

/* Everything a handler needs about the request it answers. */
struct request {
    const struct yard_punt *punt;
    struct yard_envelope env;
    const char *dst, *src;
};

static void queue_reply(struct yard_ctl *c, const struct request *q, uint8_t kind,
                        uint32_t lease_ms, const char *reason, uint64_t seq)
{
    struct yard_registrar *r = &c->reg;
    if (r->p_len >= YARD_REG_PENDING_MAX) {
        c->n.replies_dropped++;
        return;
    }
    struct yard_pending_reply *p = &r->pending[(r->p_head + r->p_len) % YARD_REG_PENDING_MAX];
    r->p_len++;
    p->seq = seq;
    p->queued_ms = yard_ctl_now_ms();
    struct yard_reply *rec = &p->rec;
    rec->dst_ipv4 = q->punt->src_ipv4;
    rec->dst_udp_port = q->punt->src_udp_port;
    rec->tx_port = q->punt->rx_port;
    memcpy(rec->dst_mac, q->punt->src_mac, sizeof(rec->dst_mac));
    /* The reply goes to the application by the name it gave; a request
     * without one (src may be empty) is answered to its dst. */
    struct yard_env_reply er = {
        .kind = kind,
        .prio = q->env.prio,
        .id = q->env.id,
        .dst = q->env.src_len > 0 ? q->src : q->dst,
        .dst_len = q->env.src_len > 0 ? q->env.src_len : q->env.dst_len,
        .src = c->node,
        .src_len = c->node_len,
        .lease_ms = lease_ms,
        .reason = reason,
    };
    rec->len = (uint16_t)yard_env_encode_reply(rec->data, &er);
    if (kind == YARD_KIND_ACK)
        c->n.acks++;
    else
        c->n.nacks++;
    r->need_durable = true;
}

static uint32_t grant_lease(const struct yard_ctl *c, const struct request *q, const char **why)
{
    uint64_t asked = 0;
    const uint8_t *body = q->punt->data + q->env.body_off;
    if (yard_env_requested_lease(body, q->env.body_len, &asked) < 0) {
        *why = "body must be empty or a msgpack map with an unsigned lease_ms";
        return 0;
    }
    const struct yard_control_conf *cc = &c->cfg.control;
    if (asked == 0)
        return cc->lease_ms;
    if (asked < 1000)
        return 1000; /* shorter leases would only generate churn */
    return asked > cc->max_lease_ms ? cc->max_lease_ms : (uint32_t)asked;
}

static const char *add_failure(int rc)
{
    switch (rc) {
    case YARD_CTL_DIR_TYPE:
        return "name is in use as the other kind (endpoint or topic)";
    case YARD_CTL_DIR_FULL:
        return "too many locations for this name";
    case -EIO:
        return "cannot persist the change (write-ahead log failed)";
    default:
        return yard_ctl_dir_err_text(rc);
    }
}

/* REGISTER and SUBSCRIBE: a leased location of src (an endpoint) or of dst
 * (a topic, with src as the subscriber). */
static void handle_add(struct yard_ctl *c, const struct request *q, bool topic)
{
    const char *why = NULL;
    uint32_t lease = grant_lease(c, q, &why);
    if (why != NULL) {
        queue_reply(c, q, YARD_KIND_NACK, 0, why, 0);
        return;
    }
    if (!topic && q->env.src_len == 0) {
        queue_reply(c, q, YARD_KIND_NACK, 0, "REGISTER needs src: the endpoint's name", 0);
        return;
    }
    struct yard_ctl_loc_spec spec = {
        .name = topic ? q->dst : q->src,
        .name_len = topic ? q->env.dst_len : q->env.src_len,
        .type = topic ? YARD_DEST_TOPIC : YARD_DEST_ENDPOINT,
        .origin = YARD_LOC_REGISTERED,
        .ipv4 = q->punt->src_ipv4,
        .udp_port = q->punt->src_udp_port,
        .sub = topic ? q->src : NULL,
        .sub_len = topic ? q->env.src_len : 0,
        .lease_ms = lease,
        /* The frame came from this MAC: the dataplane can send to the
         * application at once instead of holding its first messages for
         * ARP (it still refreshes the entry by ARP as usual). */
        .has_mac = true,
    };
    memcpy(spec.mac, q->punt->src_mac, sizeof(spec.mac));
    /* The operator's locations are not leased: a REGISTER from the same
     * address just confirms them. */
    struct yard_ctl_name *n = yard_ctl_dir_find(&c->dir, spec.name, spec.name_len);
    struct yard_ctl_loc *existing =
        n == NULL ? NULL : yard_ctl_dir_loc(n, spec.ipv4, spec.udp_port);
    if (existing != NULL && existing->origin != YARD_LOC_REGISTERED && n->type == spec.type) {
        queue_reply(c, q, YARD_KIND_ACK, lease, NULL, 0);
        c->n.renewals++;
        return;
    }
    struct yard_ctl_loc *loc;
    uint64_t seq = 0;
    int rc = yard_ctl_add(c, &spec, &loc, &seq);
    if (rc != 0) {
        queue_reply(c, q, YARD_KIND_NACK, 0, add_failure(rc), 0);
        return;
    }
    if (existing != NULL)
        c->n.renewals++;
    else if (topic)
        c->n.subscriptions++;
    else
        c->n.registrations++;
    queue_reply(c, q, YARD_KIND_ACK, lease, NULL, seq);
}

/* UNREGISTER and UNSUBSCRIBE. */
static void handle_remove(struct yard_ctl *c, const struct request *q, bool topic)
{
    const char *name = topic ? q->dst : q->src;
    unsigned len = topic ? q->env.dst_len : q->env.src_len;
    struct yard_ctl_name *n = yard_ctl_dir_find(&c->dir, name, len);
    struct yard_ctl_loc *loc = NULL;
    if (n != NULL && n->type == (topic ? YARD_DEST_TOPIC : YARD_DEST_ENDPOINT))
        loc = yard_ctl_dir_loc(n, q->punt->src_ipv4, q->punt->src_udp_port);
    if (loc == NULL || loc->origin != YARD_LOC_REGISTERED) {
        queue_reply(c, q, YARD_KIND_NACK, 0,
                    topic ? "not subscribed from this address" : "not registered from this address",
                    0);
        return;
    }
    uint64_t seq = 0;
    if (yard_ctl_remove(c, loc, &seq) < 0) {
        queue_reply(c, q, YARD_KIND_NACK, 0, add_failure(-EIO), 0);
        return;
    }
    if (topic)
        c->n.unsubscriptions++;
    else
        c->n.unregistrations++;
    queue_reply(c, q, YARD_KIND_ACK, 0, NULL, seq);
}

static void handle(struct yard_ctl *c, const struct yard_punt *punt)
{
    struct request q = {.punt = punt};
    c->n.punts++;
    if (punt->len > YARD_PUNT_MAX_BYTES ||
        yard_envelope_parse(punt->data, punt->len, &q.env) != YARD_PARSE_OK) {
        c->n.punts_bad++;
        return;
    }
    q.dst = (const char *)punt->data + q.env.dst_off;
    q.src = (const char *)punt->data + q.env.src_off;
    switch (q.env.kind) {
    case YARD_KIND_REGISTER:
        handle_add(c, &q, false);
        break;
    case YARD_KIND_SUBSCRIBE:
        handle_add(c, &q, true);
        break;
    case YARD_KIND_UNREGISTER:
        handle_remove(c, &q, false);
        break;
    case YARD_KIND_UNSUBSCRIBE:
        handle_remove(c, &q, true);
        break;
    default:
        c->n.punts_bad++;
        break;
    }
}

unsigned yard_registrar_poll(struct yard_ctl *c)
{
    if (!c->dp.attached)
        return 0;
    struct rte_ring *ring = yard_shm_punt_ring(&c->dp.shm);
    static struct yard_punt batch[64];
    unsigned total = 0;
    while (total < YARD_REG_BATCH) {
        unsigned n = rte_ring_sc_dequeue_burst_elem(ring, batch, sizeof(batch[0]), 64, NULL);
        for (unsigned i = 0; i < n; i++)
            handle(c, &batch[i]);
        total += n;
        if (n < 64)
            break;
    }
    return total;
}

bool yard_registrar_flush(struct yard_ctl *c)
{
    struct yard_registrar *r = &c->reg;
    if (r->p_len == 0)
        return false;
    uint64_t now = yard_ctl_now_ms();
    uint64_t applied = yard_dpsync_applied(&c->dp);
    bool can_send = c->dp.attached && c->dp.state == YARD_DP_UP;
    struct rte_ring *ring = c->dp.attached ? yard_shm_reply_ring(&c->dp.shm) : NULL;
    while (r->p_len > 0) {
        struct yard_pending_reply *p = &r->pending[r->p_head];
        bool expired = now - p->queued_ms > YARD_REG_REPLY_TIMEOUT_MS;
        if (!expired) {
            if (!can_send || (p->seq != 0 && applied < p->seq))
                break; /* replies are in seq order: the rest wait too */
            if (rte_ring_mp_enqueue_elem(ring, &p->rec, sizeof(p->rec)) != 0)
                break;
            c->n.replies_sent++;
        } else {
            c->n.replies_dropped++;
        }
        r->p_head = (r->p_head + 1) % YARD_REG_PENDING_MAX;
        r->p_len--;
    }
    return r->p_len > 0;
}
