/*
 * pushpull.c - TCP state exchange (memberlist's pushPull, pushPullNode,
 * sendLocalState, readRemoteState, mergeRemoteState, handleConn and Join;
 * shared/memberlist.md sections 5 and 6.2).
 *
 * A push/pull sends our whole table (ourselves, suspect, unreaped dead and
 * left members included) plus the delegate's user state, and merges the
 * peer's in return, after memberlist's version check over both tables.
 * It runs when joining (Join=true, retried with back-off until a seed
 * answers), every push/pull interval with one random alive member
 * (scaled up above 32 members, as memberlist does, so big clusters do not
 * drown in full syncs), and on demand. The serving side replies before it
 * merges, as memberlist does, so the initiator sees our table as it was.
 *
 * The listening socket also serves the other two stream messages: the
 * TCP fallback ping (answered with an ack) and reliable user messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "stream.h"
#include "swim_impl.h"
#include "wire.h"

/* memberlist's pushPullScaleThreshold and pushPullScale. */
#define PUSH_PULL_SCALE_THRESHOLD 32

static uint64_t push_pull_scale(uint64_t interval_ms, unsigned n)
{
    if (n <= PUSH_PULL_SCALE_THRESHOLD)
        return interval_ms;
    double mult = ceil(log2((double)n) - log2((double)PUSH_PULL_SCALE_THRESHOLD)) + 1.0;
    return (uint64_t)mult * interval_ms;
}

static int grow_pp(struct swim *s, size_t want)
{
    if (s->pp_cap >= want)
        return 0;
    size_t n = s->pp_cap ? s->pp_cap : 16384;
    while (n < want)
        n *= 2;
    uint8_t *p = realloc(s->pp_buf, n);
    if (p == NULL)
        return -ENOMEM;
    s->pp_buf = p;
    s->pp_cap = n;
    return 0;
}

/* memberlist's sendLocalState: header, every node, user state. */
static int build_local_state(struct swim *s, bool join, const struct swim_node *peer,
                             const uint8_t *remote_user, size_t remote_user_len, size_t *out_len)
{
    size_t user_len = 0;
    bool reply = remote_user != NULL && s->delegate.reply_state != NULL;
    if (s->delegate.local_state != NULL || reply) {
        if (s->user_state == NULL && (s->user_state = malloc(SWIM_USER_STATE_MAX)) == NULL)
            return -ENOMEM;
        if (reply)
            user_len = s->delegate.reply_state(s->delegate.arg, remote_user, remote_user_len, join,
                                               s->user_state, SWIM_USER_STATE_MAX);
        else
            user_len = s->delegate.local_state(s->delegate.arg, peer != NULL ? &peer->m : NULL,
                                               join, s->user_state, SWIM_USER_STATE_MAX);
        if (user_len > SWIM_USER_STATE_MAX)
            user_len = 0;
    }
    struct swim_members *ms = &s->members;
    size_t per_node = SWIM_NAME_MAX + SWIM_META_MAX + 128;
    int rc = grow_pp(s, 64 + (size_t)ms->nb * per_node + user_len);
    if (rc < 0)
        return rc;
    struct swim_push_pull_header h = {
        .join = join, .nodes = ms->nb, .user_state_len = (uint32_t)user_len};
    int n = swim_encode_push_pull_header(s->pp_buf, s->pp_cap, &h);
    if (n < 0)
        return n;
    size_t off = (size_t)n;
    for (unsigned i = 0; i < ms->nb; i++) {
        const struct swim_member *m = &ms->nodes[i]->m;
        struct swim_push_node_state ns = {
            .addr = {m->addr, m->addr_len},
            .incarnation = m->incarnation,
            .meta = {m->meta, m->meta_len},
            .name = {(const uint8_t *)m->name, (uint32_t)strlen(m->name)},
            .port = m->port,
            .state = m->state,
            .vsn = {m->vsn, SWIM_VSN_LEN},
        };
        n = swim_encode_push_node_state(s->pp_buf + off, s->pp_cap - off, &ns);
        if (n < 0)
            return n;
        off += (size_t)n;
    }
    if (user_len > 0)
        memcpy(s->pp_buf + off, s->user_state, user_len);
    *out_len = off + user_len;
    return 0;
}

/* memberlist's readRemoteState over a whole message (06 first). */
static int parse_remote(struct swim *s, const uint8_t *msg, size_t len,
                        struct swim_push_pull_header *h, const uint8_t **user)
{
    if (len < 1 || msg[0] != SWIM_MSG_PUSH_PULL)
        return -EBADMSG;
    size_t off = 1;
    int rc = swim_decode_push_pull_header(msg + off, len - off, h);
    if (rc < 0)
        return -EBADMSG;
    off += (size_t)rc;
    if (h->nodes > len) /* each node is at least one byte */
        return -EBADMSG;
    if (h->nodes > s->pp_nodes_cap) {
        void *p = realloc(s->pp_nodes, h->nodes * sizeof(*s->pp_nodes));
        if (p == NULL)
            return -ENOMEM;
        s->pp_nodes = p;
        s->pp_nodes_cap = h->nodes;
    }
    for (uint32_t i = 0; i < h->nodes; i++) {
        rc = swim_decode_push_node_state(msg + off, len - off, &s->pp_nodes[i]);
        if (rc < 0)
            return -EBADMSG;
        off += (size_t)rc;
        if (s->pp_nodes[i].port == 0) /* protocol 1 peers: our port (memberlist) */
            s->pp_nodes[i].port = ntohs(s->bind.sin_port);
    }
    if (len - off < h->user_state_len)
        return -EBADMSG;
    *user = msg + off;
    return 0;
}

/* memberlist's mergeRemoteState: version check, members, user state. */
static int merge_remote(struct swim *s, const struct swim_push_pull_header *h, const uint8_t *user,
                        const struct sockaddr_in *peer_addr)
{
    char why[256];
    if (swim_members_verify(&s->members, s->pp_nodes, h->nodes, why, sizeof(why)) < 0) {
        s->stats.rejects_version++;
        return -EPROTO;
    }
    swim_members_merge(&s->members, s->pp_nodes, h->nodes);
    if (h->user_state_len > 0 && s->delegate.merge_remote_state != NULL) {
        /* The peer: the member at the address we dialled (known after a
         * join's merge), unknown for streams we accepted. */
        const struct swim_member *peer = NULL;
        for (unsigned i = 0; peer_addr != NULL && i < s->members.nb; i++) {
            const struct swim_node *n = s->members.nodes[i];
            struct sockaddr_in a;
            if (swim_node_sockaddr(n, &a) && a.sin_addr.s_addr == peer_addr->sin_addr.s_addr &&
                a.sin_port == peer_addr->sin_port)
                peer = &n->m;
        }
        s->delegate.merge_remote_state(s->delegate.arg, peer, user, h->user_state_len, h->join);
    }
    return 0;
}

/* ---- serving inbound streams */

static void in_msg(struct swim_stream *st, const uint8_t *msg, size_t len)
{
    struct swim *s = st->s;
    switch (msg[0]) {
    case SWIM_MSG_PUSH_PULL: {
        struct swim_push_pull_header h;
        const uint8_t *user;
        size_t out_len;
        s->stats.msg_push_pull_in++;
        if (parse_remote(s, msg, len, &h, &user) < 0) {
            s->stats.msg_bad_in++;
            return;
        }
        /* The initiator is not known by name here: its user state (read
         * first, as memberlist reads before it answers) tells the delegate
         * what kind of peer it is. */
        if (build_local_state(s, h.join, NULL, user != NULL ? user : (const uint8_t *)"",
                              h.user_state_len, &out_len) < 0)
            return;
        /* Reply first, then merge: the reply is already wrapped in the
         * stream's buffer, so the merge cannot change it. */
        if (swim_stream_reply(st, s->pp_buf, out_len) < 0)
            return;
        if (merge_remote(s, &h, user, NULL) == 0)
            s->stats.push_pulls_in++;
        return;
    }
    case SWIM_MSG_PING: {
        struct swim_ping ping;
        s->stats.msg_ping_in++;
        if (swim_decode_ping(msg + 1, len - 1, &ping) < 0) {
            s->stats.msg_bad_in++;
            return;
        }
        if (ping.node.len > 0 &&
            (ping.node.len != strlen(s->name) || memcmp(ping.node.ptr, s->name, ping.node.len))) {
            s->stats.msg_foreign_ping++;
            return;
        }
        uint8_t buf[32];
        struct swim_ack ack = {.seq_no = ping.seq_no};
        int n = swim_encode_ack(buf, sizeof(buf), &ack);
        if (n > 0)
            swim_stream_reply(st, buf, (size_t)n);
        return;
    }
    case SWIM_MSG_USER: {
        struct swim_user_msg_header h;
        s->stats.msg_user_in++;
        int rc = swim_decode_user_msg_header(msg + 1, len - 1, &h);
        if (rc < 0 || len - 1 - (size_t)rc < h.user_msg_len) {
            s->stats.msg_bad_in++;
            return;
        }
        if (h.user_msg_len > 0 && s->delegate.on_user_msg != NULL)
            s->delegate.on_user_msg(s->delegate.arg, msg + 1 + rc, h.user_msg_len);
        return;
    }
    default:
        s->stats.msg_bad_in++;
        return;
    }
}

static const struct swim_stream_ops in_ops = {.on_msg = in_msg};

void swim_push_pull_on_accept(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)events;
    struct swim *s = arg;
    for (int i = 0; i < 16; i++) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
            return;
        s->stats.tcp_accepts++;
        if (s->nb_streams_in >= SWIM_STREAMS_IN_MAX) {
            s->stats.tcp_busy++;
            close(c);
            continue;
        }
        int err;
        swim_stream_accepted(s, c, s->cfg.tcp_timeout_ms, &in_ops, &err);
    }
}

/* ---- push/pulls we start */

static void join_result(struct swim *s, int idx, bool ok);

static void out_msg(struct swim_stream *st, const uint8_t *msg, size_t len)
{
    struct swim *s = st->s;
    struct swim_push_pull_header h;
    const uint8_t *user;
    if (msg[0] == SWIM_MSG_ERR) {
        s->stats.msg_err_in++;
        swim_stream_close(st, -EREMOTEIO);
        return;
    }
    s->stats.msg_push_pull_in++;
    if (parse_remote(s, msg, len, &h, &user) < 0) {
        s->stats.msg_bad_in++;
        swim_stream_close(st, -EBADMSG);
        return;
    }
    struct sockaddr_in peer = st->remote;
    int rc = merge_remote(s, &h, user, &peer);
    if (rc < 0) {
        swim_stream_close(st, rc);
        return;
    }
    s->stats.push_pulls_out++;
}

static void out_end(struct swim_stream *st, int err)
{
    struct swim *s = st->s;
    if (err < 0)
        s->stats.push_pull_failures++;
    if (st->join_idx >= 0)
        join_result(s, st->join_idx, err == 0);
}

static const struct swim_stream_ops out_ops = {.on_msg = out_msg, .on_end = out_end};

int swim_push_pull_begin(struct swim *s, const struct sockaddr_in *addr, bool join, int join_idx,
                         const struct swim_node *peer)
{
    size_t len;
    int rc = build_local_state(s, join, peer, NULL, 0, &len);
    if (rc < 0)
        return rc;
    struct swim_stream *st =
        swim_stream_connect(s, addr, s->pp_buf, len, s->cfg.tcp_timeout_ms, 0, &out_ops, &rc);
    if (st == NULL) {
        s->stats.push_pull_failures++;
        return rc;
    }
    st->join_idx = join_idx;
    st->remote = *addr;
    return 0;
}

static void push_pull_tick(struct swim_timer *t, void *arg)
{
    (void)t;
    struct swim *s = arg;
    if (s->left)
        return;
    swim_timer_arm_in(&s->timers, &s->push_pull_tick,
                      push_pull_scale(s->cfg.push_pull_interval_ms, s->members.nb));
    struct swim_node *n;
    struct sockaddr_in addr;
    if (swim_members_pick(&s->members, 1, SWIM_PICK_ALIVE, NULL, &n) == 1 &&
        swim_node_sockaddr(n, &addr))
        swim_push_pull_begin(s, &addr, false, -1, n);
}

void swim_push_pull_start(struct swim *s)
{
    swim_timer_init(&s->push_pull_tick, push_pull_tick, s);
    if (s->cfg.push_pull_interval_ms > 0)
        swim_timer_arm_in(&s->timers, &s->push_pull_tick,
                          swim_rand_below(&s->rand, s->cfg.push_pull_interval_ms));
}

void swim_push_pull_stop(struct swim *s)
{
    swim_timer_cancel(&s->timers, &s->push_pull_tick);
}

/* ---- the TCP fallback ping */

static void ping_msg(struct swim_stream *st, const uint8_t *msg, size_t len)
{
    struct swim_ack ack;
    if (msg[0] == SWIM_MSG_ACK && swim_decode_ack(msg + 1, len - 1, &ack) >= 0) {
        st->s->stats.msg_ack_in++;
        if (ack.seq_no == st->seq)
            swim_probe_tcp_result(st->s, st->seq, true);
    }
}

static void ping_end(struct swim_stream *st, int err)
{
    (void)err;
    swim_probe_tcp_result(st->s, st->seq, false);
}

static const struct swim_stream_ops ping_ops = {.on_msg = ping_msg, .on_end = ping_end};

struct swim_stream *swim_push_pull_tcp_ping(struct swim *s, const struct swim_node *target,
                                            const uint8_t *ping, size_t len, uint32_t seq,
                                            uint64_t deadline_ms)
{
    struct sockaddr_in addr;
    int err;
    if (!swim_node_sockaddr(target, &addr))
        return NULL;
    struct swim_stream *st =
        swim_stream_connect(s, &addr, ping, len, 0, deadline_ms, &ping_ops, &err);
    if (st == NULL)
        return NULL;
    st->seq = seq;
    st->remote = addr;
    return st;
}

/* ---- joining */

#define JOIN_BACKOFF_MIN_MS 1000
#define JOIN_BACKOFF_MAX_MS 30000

static void join_attempt(struct swim *s, int idx)
{
    struct swim_join_target *j = &s->joins[idx];
    j->in_flight = true;
    s->stats.join_attempts++;
    if (swim_push_pull_begin(s, &j->addr, true, idx, NULL) < 0)
        join_result(s, idx, false);
}

static void join_retry(struct swim_timer *t, void *arg)
{
    (void)t;
    struct swim_join_target *j = arg;
    struct swim *s = j->s;
    if (!s->joined && !s->leave_started)
        join_attempt(s, (int)(j - s->joins));
}

static void join_result(struct swim *s, int idx, bool ok)
{
    if (s->destroying || s->joins == NULL || idx >= (int)s->nb_joins)
        return;
    struct swim_join_target *j = &s->joins[idx];
    j->in_flight = false;
    if (ok) {
        s->joined = true;
        for (unsigned i = 0; i < s->nb_joins; i++)
            swim_timer_cancel(&s->timers, &s->joins[i].retry);
        return;
    }
    s->stats.join_failures++;
    if (s->joined || s->leave_started)
        return;
    swim_timer_arm_in(&s->timers, &j->retry, j->backoff_ms);
    j->backoff_ms =
        j->backoff_ms * 2 > JOIN_BACKOFF_MAX_MS ? JOIN_BACKOFF_MAX_MS : j->backoff_ms * 2;
}

void swim_join_stop(struct swim *s)
{
    for (unsigned i = 0; i < s->nb_joins; i++)
        swim_timer_cancel(&s->timers, &s->joins[i].retry);
    /* Streams still running for the old targets no longer report to them. */
    for (struct swim_stream *st = s->streams; st != NULL; st = st->next)
        st->join_idx = -1;
    free(s->joins);
    s->joins = NULL;
    s->nb_joins = 0;
}

int swim_join_start(struct swim *s, const struct sockaddr_in *addrs, unsigned n)
{
    swim_join_stop(s);
    s->joined = n == 0;
    if (n == 0)
        return 0;
    s->joins = calloc(n, sizeof(*s->joins));
    if (s->joins == NULL)
        return -ENOMEM;
    s->nb_joins = n;
    for (unsigned i = 0; i < n; i++) {
        struct swim_join_target *j = &s->joins[i];
        j->s = s;
        j->addr = addrs[i];
        j->backoff_ms = JOIN_BACKOFF_MIN_MS;
        swim_timer_init(&j->retry, join_retry, j);
    }
    for (unsigned i = 0; i < n && !s->joined; i++)
        join_attempt(s, (int)i);
    return 0;
}
