/*
 * stream.h - one memberlist TCP exchange on the event loop: connect (or
 * accept), write one message, read one message, close.
 *
 * memberlist's streams carry exactly one message each way and no framing
 * of their own: the reader parses msgpack off the socket until a whole
 * message is there (packet.h's swim_stream_unwrap tells). Here the socket
 * is non-blocking, bytes accumulate in a buffer that grows to the largest
 * message seen (and is kept for the next stream: stream records are
 * recycled, so steady-state push/pulls do not allocate), and one deadline
 * timer bounds the whole exchange (memberlist's TCPTimeout per phase).
 *
 * The owner's callbacks: on_msg gets the whole unwrapped message (the
 * type byte first); it may reply with swim_stream_send() or close; if it
 * does neither the stream closes. on_end runs exactly once when the
 * stream ends for any reason except swim_stream_close_all(), with 0 or
 * -errno (-ETIMEDOUT, -ECONNREFUSED, -EPIPE for a stream cut short,
 * -EACCES plaintext on an encrypted cluster, -EBADMSG unreadable).
 *
 * Who may call: the loop thread.
 */
#ifndef YARD_SWIM_STREAM_H
#define YARD_SWIM_STREAM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "timers.h"

struct swim;
struct swim_stream;

struct swim_stream_ops {
    void (*on_msg)(struct swim_stream *st, const uint8_t *msg, size_t len);
    void (*on_end)(struct swim_stream *st, int err);
};

enum swim_stream_phase {
    SWIM_STREAM_CONNECTING,
    SWIM_STREAM_WRITING,
    SWIM_STREAM_READING,
    SWIM_STREAM_HANDLING, /* inside on_msg */
    SWIM_STREAM_CLOSED,
};

struct swim_stream {
    struct swim_stream *next, *prev; /* s->streams, or the free list */
    struct swim *s;
    uint32_t gen; /* bumped when the record is released (reuse detection) */
    int fd;
    enum swim_stream_phase phase;
    bool inbound;
    bool read_after_write; /* else close once written */
    bool eof;
    int end_err;               /* what on_end gets when a reply-then-close finishes */
    uint64_t phase_timeout_ms; /* 0: one fixed deadline for everything */
    uint8_t *in, *out, *scratch;
    size_t in_len, in_cap, out_len, out_off, out_cap, scratch_cap;
    struct swim_timer deadline;
    const struct swim_stream_ops *ops;
    /* The owner's: what this exchange is for. */
    int join_idx;              /* a join target's attempt, else -1 */
    uint32_t seq;              /* a fallback ping's sequence number */
    struct sockaddr_in remote; /* where we connected (outbound) */
};

/*
 * Connect to `to` and, once connected, send msg (compressed and encrypted
 * as configured), then read one reply. phase_timeout_ms > 0: each phase
 * (connect, write, read) gets that long; else deadline_ms bounds it all.
 * Returns the stream, or NULL with *err set (socket failure, -ENOMEM).
 */
struct swim_stream *swim_stream_connect(struct swim *s, const struct sockaddr_in *to,
                                        const uint8_t *msg, size_t len, uint64_t phase_timeout_ms,
                                        uint64_t deadline_ms, const struct swim_stream_ops *ops,
                                        int *err);

/* Serve an accepted fd: read one message within timeout_ms. NULL with
 * *err (the fd is closed then). */
struct swim_stream *swim_stream_accepted(struct swim *s, int fd, uint64_t timeout_ms,
                                         const struct swim_stream_ops *ops, int *err);

/* From on_msg: send one message and close once it is written. 0 or -errno
 * (the stream is then closed). */
int swim_stream_reply(struct swim_stream *st, const uint8_t *msg, size_t len);

/* End the stream now: on_end(err), close, recycle. */
void swim_stream_close(struct swim_stream *st, int err);

/* Close every stream without callbacks and free all records (destroy). */
void swim_stream_close_all(struct swim *s);

#endif
