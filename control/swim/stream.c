/*
 * stream.c - one TCP exchange on the loop (stream.h).
 *
 * A small state machine per socket: CONNECTING -> WRITING -> READING for
 * the side that starts an exchange, READING -> HANDLING -> WRITING for the
 * side that serves one. Callbacks into the owner happen only from loop
 * events (never from inside swim_stream_connect or swim_stream_reply), and
 * a record's generation number tells the read path whether on_msg ended
 * the stream, so an owner may close or even start new streams from any
 * callback.
 */
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "packet.h"
#include "swim_impl.h"
#include "wire.h"

/* The most a stream may bring in: memberlist's 20 MiB plus the layers. */
#define IN_MAX      (SWIM_STREAM_MAX + 64)
#define SCRATCH_MAX (2 * (size_t)SWIM_STREAM_MAX)

static void on_fd(struct yard_loop *loop, int fd, uint32_t events, void *arg);

static int grow(uint8_t **buf, size_t *cap, size_t want, size_t max)
{
    if (*cap >= want)
        return 0;
    if (want > max)
        return -EMSGSIZE;
    size_t n = *cap ? *cap : 4096;
    while (n < want)
        n *= 2;
    if (n > max)
        n = max;
    uint8_t *p = realloc(*buf, n);
    if (p == NULL)
        return -ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

static void on_deadline(struct swim_timer *t, void *arg)
{
    (void)t;
    struct swim_stream *st = arg;
    st->s->stats.tcp_timeouts++;
    swim_stream_close(st, -ETIMEDOUT);
}

static struct swim_stream *get_record(struct swim *s)
{
    struct swim_stream *st = s->stream_free;
    if (st != NULL) {
        s->stream_free = st->next;
    } else {
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return NULL;
    }
    uint32_t gen = st->gen;
    uint8_t *in = st->in, *out = st->out, *scratch = st->scratch;
    size_t in_cap = st->in_cap, out_cap = st->out_cap, scratch_cap = st->scratch_cap;
    memset(st, 0, sizeof(*st));
    st->gen = gen;
    st->in = in;
    st->in_cap = in_cap;
    st->out = out;
    st->out_cap = out_cap;
    st->scratch = scratch;
    st->scratch_cap = scratch_cap;
    st->s = s;
    st->fd = -1;
    st->join_idx = -1;
    swim_timer_init(&st->deadline, on_deadline, st);
    st->next = s->streams;
    if (s->streams != NULL)
        s->streams->prev = st;
    s->streams = st;
    return st;
}

static void unlink_stream(struct swim_stream *st)
{
    struct swim *s = st->s;
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        s->streams = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    st->next = st->prev = NULL;
}

static void release(struct swim_stream *st)
{
    struct swim *s = st->s;
    unlink_stream(st);
    st->gen++;
    st->phase = SWIM_STREAM_CLOSED;
    st->next = s->stream_free;
    s->stream_free = st;
}

/* Wrap msg as the stream carries it (compress, encrypt) into st->out. */
static int queue_out(struct swim_stream *st, const uint8_t *msg, size_t len)
{
    struct swim *s = st->s;
    /* LZW may expand a little; the layers add a few dozen bytes. */
    int rc = grow(&st->out, &st->out_cap, len + len / 2 + 128, (size_t)3 * SWIM_STREAM_MAX);
    if (rc < 0)
        return rc;
    int n = swim_stream_wrap(s->encrypted ? &s->keyring : NULL, s->cfg.compress, st->out,
                             st->out_cap, msg, len);
    if (n < 0)
        return n;
    st->out_len = (size_t)n;
    st->out_off = 0;
    return 0;
}

static void arm_phase(struct swim_stream *st)
{
    if (st->phase_timeout_ms > 0)
        swim_timer_arm_in(&st->s->timers, &st->deadline, st->phase_timeout_ms);
}

struct swim_stream *swim_stream_connect(struct swim *s, const struct sockaddr_in *to,
                                        const uint8_t *msg, size_t len, uint64_t phase_timeout_ms,
                                        uint64_t deadline_ms, const struct swim_stream_ops *ops,
                                        int *err)
{
    struct swim_stream *st = get_record(s);
    if (st == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    st->ops = ops;
    st->read_after_write = true;
    st->phase_timeout_ms = phase_timeout_ms;
    int rc = queue_out(st, msg, len);
    if (rc < 0)
        goto fail;
    st->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (st->fd < 0) {
        rc = -errno;
        goto fail;
    }
    if (connect(st->fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS) {
        rc = -errno;
        goto fail;
    }
    rc = yard_loop_add(s->loop, st->fd, EPOLLOUT, on_fd, st);
    if (rc < 0)
        goto fail;
    st->phase = SWIM_STREAM_CONNECTING;
    if (phase_timeout_ms > 0)
        arm_phase(st);
    else
        swim_timer_arm(&s->timers, &st->deadline, deadline_ms);
    s->stats.tcp_connects++;
    return st;
fail:
    if (st->fd >= 0)
        close(st->fd);
    release(st);
    *err = rc;
    return NULL;
}

struct swim_stream *swim_stream_accepted(struct swim *s, int fd, uint64_t timeout_ms,
                                         const struct swim_stream_ops *ops, int *err)
{
    struct swim_stream *st = get_record(s);
    if (st == NULL) {
        close(fd);
        *err = -ENOMEM;
        return NULL;
    }
    st->fd = fd;
    st->ops = ops;
    st->inbound = true;
    st->phase = SWIM_STREAM_READING;
    int rc = yard_loop_add(s->loop, fd, EPOLLIN, on_fd, st);
    if (rc < 0) {
        close(fd);
        release(st);
        *err = rc;
        return NULL;
    }
    s->nb_streams_in++;
    swim_timer_arm_in(&s->timers, &st->deadline, timeout_ms);
    return st;
}

int swim_stream_reply(struct swim_stream *st, const uint8_t *msg, size_t len)
{
    int rc = queue_out(st, msg, len);
    if (rc == 0)
        rc = yard_loop_mod(st->s->loop, st->fd, EPOLLOUT);
    if (rc < 0) {
        swim_stream_close(st, rc);
        return rc;
    }
    st->read_after_write = false;
    st->phase = SWIM_STREAM_WRITING;
    return 0;
}

void swim_stream_close(struct swim_stream *st, int err)
{
    struct swim *s = st->s;
    if (st->phase == SWIM_STREAM_CLOSED)
        return;
    st->phase = SWIM_STREAM_CLOSED;
    swim_timer_cancel(&s->timers, &st->deadline);
    if (st->fd >= 0) {
        yard_loop_del(s->loop, st->fd);
        /* Unread input would turn the close into a reset that can destroy
         * the reply still in flight: drain what has arrived. */
        uint8_t sink[512];
        while (read(st->fd, sink, sizeof(sink)) > 0)
            ;
        close(st->fd);
        st->fd = -1;
    }
    if (st->inbound)
        s->nb_streams_in--;
    if (err < 0 && err != -ETIMEDOUT && err != -ENODATA)
        s->stats.tcp_errors++;
    if (st->ops != NULL && st->ops->on_end != NULL)
        st->ops->on_end(st, err);
    release(st);
}

void swim_stream_close_all(struct swim *s)
{
    while (s->streams != NULL) {
        struct swim_stream *st = s->streams;
        st->ops = NULL;
        swim_stream_close(st, -ECANCELED);
    }
    while (s->stream_free != NULL) {
        struct swim_stream *st = s->stream_free;
        s->stream_free = st->next;
        free(st->in);
        free(st->out);
        free(st->scratch);
        free(st);
    }
}

static void do_write(struct swim_stream *st)
{
    struct swim *s = st->s;
    while (st->out_off < st->out_len) {
        ssize_t n = send(st->fd, st->out + st->out_off, st->out_len - st->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            swim_stream_close(st, -errno);
            return;
        }
        st->out_off += (size_t)n;
        s->stats.tcp_bytes_out += (uint64_t)n;
    }
    if (!st->read_after_write) {
        swim_stream_close(st, st->end_err);
        return;
    }
    st->phase = SWIM_STREAM_READING;
    arm_phase(st);
    if (yard_loop_mod(s->loop, st->fd, EPOLLIN) < 0)
        swim_stream_close(st, -EIO);
}

/* Serving side: a stream we cannot read gets memberlist's errResp (through
 * the normal send path, so compressed and encrypted as configured). */
static void refuse(struct swim_stream *st, int rc)
{
    struct swim *s = st->s;
    const char *text = "failed to read stream message";
    if (rc == -EACCES) {
        text = "Encryption is configured but remote state is not encrypted";
        s->stats.rejects_key++;
    } else if (st->in_len > 0 && st->in[0] == SWIM_MSG_ENCRYPT) {
        text = s->encrypted ? "No installed keys could decrypt the message"
                            : "Remote state is encrypted and encryption is not configured";
        s->stats.rejects_key++;
    }
    uint8_t buf[128];
    struct swim_err e = {.error = {(const uint8_t *)text, (uint32_t)strlen(text)}};
    int n = swim_encode_err(buf, sizeof(buf), &e);
    if (n < 0) {
        swim_stream_close(st, rc);
        return;
    }
    if (swim_stream_reply(st, buf, (size_t)n) < 0)
        return;       /* closed */
    st->end_err = rc; /* on_end hears of it once the reply is out */
    swim_timer_arm_in(&s->timers, &st->deadline, s->cfg.tcp_timeout_ms);
}

static void try_parse(struct swim_stream *st)
{
    struct swim *s = st->s;
    const uint8_t *msg;
    size_t mlen;
    int rc;
    if (st->in_len == 0) {
        if (st->eof)
            swim_stream_close(st, -ENODATA);
        return;
    }
    for (;;) {
        rc = swim_stream_unwrap(s->encrypted ? &s->keyring : NULL, st->in, st->in_len, st->scratch,
                                st->scratch_cap, &msg, &mlen);
        if (rc != -ENOSPC)
            break;
        size_t want = st->scratch_cap ? st->scratch_cap * 2 : 65536;
        if (grow(&st->scratch, &st->scratch_cap, want, SCRATCH_MAX) < 0) {
            rc = -EBADMSG;
            break;
        }
    }
    if (rc == -EAGAIN) {
        if (st->eof)
            swim_stream_close(st, -EPIPE);
        return;
    }
    if (rc < 0) {
        if (st->inbound) {
            refuse(st, rc);
        } else {
            if (rc == -EACCES || st->in[0] == SWIM_MSG_ENCRYPT)
                s->stats.rejects_key++;
            swim_stream_close(st, rc);
        }
        return;
    }
    uint32_t gen = st->gen;
    st->phase = SWIM_STREAM_HANDLING;
    swim_timer_cancel(&s->timers, &st->deadline);
    st->ops->on_msg(st, msg, mlen);
    if (st->gen == gen && st->phase == SWIM_STREAM_HANDLING)
        swim_stream_close(st, 0);
    else if (st->gen == gen && st->phase == SWIM_STREAM_WRITING)
        swim_timer_arm_in(&s->timers, &st->deadline, s->cfg.tcp_timeout_ms);
}

static void do_read(struct swim_stream *st)
{
    struct swim *s = st->s;
    for (;;) {
        if (st->in_len == st->in_cap) {
            int rc = grow(&st->in, &st->in_cap, st->in_len + 1, IN_MAX);
            if (rc < 0) {
                swim_stream_close(st, rc);
                return;
            }
        }
        ssize_t n = read(st->fd, st->in + st->in_len, st->in_cap - st->in_len);
        if (n > 0) {
            st->in_len += (size_t)n;
            s->stats.tcp_bytes_in += (uint64_t)n;
            continue;
        }
        if (n == 0) {
            st->eof = true;
            break;
        }
        if (errno == EAGAIN || errno == EINTR)
            break;
        swim_stream_close(st, -errno);
        return;
    }
    try_parse(st);
}

static void on_fd(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    struct swim_stream *st = arg;
    switch (st->phase) {
    case SWIM_STREAM_CONNECTING: {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr != 0) {
            swim_stream_close(st, -soerr);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        st->phase = SWIM_STREAM_WRITING;
        arm_phase(st);
        do_write(st);
        return;
    }
    case SWIM_STREAM_WRITING:
        if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLOUT)) {
            swim_stream_close(st, -EPIPE);
            return;
        }
        do_write(st);
        return;
    case SWIM_STREAM_READING:
        do_read(st);
        return;
    case SWIM_STREAM_HANDLING:
    case SWIM_STREAM_CLOSED:
        return;
    }
}
