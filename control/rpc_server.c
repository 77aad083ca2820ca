/*
 * rpc_server.c - the management API's server on the event loop (see
 * rpc_server.h for the contract and the behaviour on malformed input).
 *
 * Input: each connection has a byte buffer and a resumable yard_rpc_scan.
 * The scanner finds where each object ends (and refuses oversized or
 * non-msgpack input from its length prefixes alone) before msgpack-c sees
 * the bytes, because msgpack-c allocates for a container's claimed size as
 * soon as it reads the header. A complete request is copied out of the
 * buffer and unpacked into its own zone: msgpack-c's strings point into the
 * bytes they were parsed from, and a kept call must outlive the buffer.
 *
 * Output: replies are appended to a per-connection buffer and written at
 * once; what the socket does not take waits for EPOLLOUT. Past a high-water
 * mark the connection's input is left unread (the client is pipelining
 * faster than it reads), and past max_output_bytes it is closed.
 *
 * Lifetime: a connection is reference-counted, one reference for being
 * open and one per kept call. Closing it (hang-up, protocol error, server
 * shutdown) closes the fd and detaches it from the server at once; the
 * struct lives on until the last kept call is completed, and a completion
 * on a closed connection only frees.
 */
#include "rpc_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK        (64u * 1024)
#define OUTPUT_HIGH_WATER (1u << 20)
#define DEFAULT_MAX_CONNS 64
#define DEFAULT_MAX_OUT   (16u << 20)
#define DEFAULT_MAX_DEFER 1024

struct yard_rpc_conn {
    struct yard_rpc_server *srv; /* NULL once closed */
    int fd;
    unsigned refs;
    bool eof;        /* the client shut down its sending side */
    bool closing;    /* close once the output is sent (after a parse error) */
    bool processing; /* inside process_input: flush at its end */
    bool out_failed; /* an append ran out of memory: the stream is cut */
    uint32_t events; /* registered with the loop */

    uint8_t *in;
    size_t in_len, in_cap;
    struct yard_rpc_scan scan;

    uint8_t *out;
    size_t out_off, out_len, out_cap;

    unsigned nb_kept;
    struct yard_rpc_call *kept;
    struct yard_rpc_conn *prev, *next;
};

struct yard_rpc_server {
    struct yard_loop *loop;
    int fd;
    int spare_fd; /* released to accept-and-close when out of fds */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
    yard_rpc_dispatch_fn dispatch;
    void *ctx;
    struct yard_rpc_limits limits;
    struct yard_rpc_stats stats;
    struct yard_rpc_conn *conns;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- connection lifetime ---- */

static void conn_unref(struct yard_rpc_conn *c)
{
    if (--c->refs > 0)
        return;
    free(c->in);
    free(c->out);
    free(c);
}

static void conn_close(struct yard_rpc_conn *c)
{
    struct yard_rpc_server *srv = c->srv;
    if (srv == NULL)
        return;
    yard_loop_del(srv->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->stats.connections_open--;
    srv->stats.abandoned += c->nb_kept;
    srv->stats.deferred_pending -= c->nb_kept;
    c->srv = NULL;
    conn_unref(c);
}

static void conn_update_events(struct yard_rpc_conn *c)
{
    if (c->srv == NULL)
        return;
    uint32_t ev = 0;
    bool backlogged = c->out_len - c->out_off >= OUTPUT_HIGH_WATER;
    if (!c->eof && !c->closing && !backlogged)
        ev |= EPOLLIN;
    if (c->out_len > c->out_off)
        ev |= EPOLLOUT;
    if (ev != c->events && yard_loop_mod(c->srv->loop, c->fd, ev) == 0)
        c->events = ev;
}

/* Write what the socket takes. Closes the connection when it is done with
 * (peer gone, parse error answered, client finished). */
static void conn_flush(struct yard_rpc_conn *c)
{
    if (c->srv == NULL)
        return;
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_close(c); /* EPIPE, ECONNRESET: the client is gone */
            return;
        }
        c->out_off += (size_t)n;
        c->srv->stats.bytes_out += (uint64_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len == 0 && (c->closing || (c->eof && c->nb_kept == 0))) {
        conn_close(c);
        return;
    }
    conn_update_events(c);
}

/* msgpack_packer's write callback: append to the connection's output. */
static int conn_append(void *data, const char *buf, size_t len)
{
    struct yard_rpc_conn *c = data;
    if (c->out_len + len > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + len > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap < c->out_len + len)
                cap *= 2;
            uint8_t *grown = realloc(c->out, cap);
            if (grown == NULL) {
                c->out_failed = true;
                return -1;
            }
            c->out = grown;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    return 0;
}

/* After appending a response: send now unless a batch is being read (then
 * process_input flushes once at its end), and drop a client that lets
 * more than max_output_bytes pile up. */
static void conn_after_append(struct yard_rpc_conn *c)
{
    if (c->srv == NULL)
        return;
    if (c->out_failed || c->out_len - c->out_off > c->srv->limits.max_output_bytes) {
        c->srv->stats.connections_closed_by_server++;
        conn_close(c);
        return;
    }
    if (!c->processing)
        conn_flush(c);
}

/* A whole response: [1, msgid, error, result] with result already packed
 * (result_len bytes) or nil. msgid < 0 sends nil. */
static void send_response(struct yard_rpc_conn *c, int64_t msgid, int code, const char *message,
                          const char *result, size_t result_len)
{
    if (c->srv == NULL)
        return;
    msgpack_packer pk;
    msgpack_packer_init(&pk, c, conn_append);
    yard_rpc_pack_response_head(&pk, msgid);
    if (message != NULL) {
        yard_rpc_pack_error(&pk, code, message);
        msgpack_pack_nil(&pk);
        c->srv->stats.errors++;
    } else {
        msgpack_pack_nil(&pk);
        if (result_len > 0)
            conn_append(c, result, result_len);
        else
            msgpack_pack_nil(&pk);
    }
    conn_after_append(c);
}

/* ---- calls ---- */

static void call_free(struct yard_rpc_call *call)
{
    msgpack_unpacked_destroy(&call->request);
    msgpack_sbuffer_destroy(&call->result);
    free(call);
}

/* A call is finished: unlink it if it was kept and free it, unless its
 * dispatch is still on the stack (process_request frees it then). */
static void call_finish(struct yard_rpc_call *call)
{
    call->done = true;
    if (call->in_dispatch)
        return;
    struct yard_rpc_conn *c = call->conn;
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        c->kept = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    c->nb_kept--;
    if (c->srv != NULL)
        c->srv->stats.deferred_pending--;
    call_free(call);
    if (c->srv != NULL && c->eof && c->nb_kept == 0 && c->out_len == 0)
        conn_close(c);
    conn_unref(c);
}

bool yard_rpc_call_abandoned(const struct yard_rpc_call *call)
{
    return call->conn->srv == NULL;
}

void yard_rpc_reply_verror(struct yard_rpc_call *call, int code, const char *fmt, va_list ap)
{
    if (call->done)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    send_response(call->conn, call->msgid, code, msg, NULL, 0);
    call_finish(call);
}

void yard_rpc_reply_error(struct yard_rpc_call *call, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    yard_rpc_reply_verror(call, code, fmt, ap);
    va_end(ap);
}

void yard_rpc_reply_result(struct yard_rpc_call *call)
{
    if (call->done)
        return;
    size_t n = call->result.size;
    if (n > 0) {
        /* Exactly one object that any client can parse, or nothing. */
        struct yard_rpc_scan s;
        size_t len = 0;
        yard_rpc_scan_reset(&s);
        enum yard_rpc_scan_result r =
            yard_rpc_scan_next(&s, (const uint8_t *)call->result.data, n, SIZE_MAX, &len);
        if (r != YARD_RPC_SCAN_COMPLETE || len != n) {
            yard_rpc_reply_error(call, YARD_RPC_INTERNAL,
                                 "%s packed %s as its result; this is a bug in yard-control",
                                 call->method,
                                 r == YARD_RPC_SCAN_TOO_DEEP   ? "an object nested too deeply"
                                 : r == YARD_RPC_SCAN_COMPLETE ? "more than one object"
                                                               : "an incomplete object");
            return;
        }
    }
    send_response(call->conn, call->msgid, 0, NULL, call->result.data, n);
    call_finish(call);
}

/* ---- requests ---- */

static const char *type_name(msgpack_object_type t)
{
    switch (t) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "float";
    case MSGPACK_OBJECT_STR:
        return "string";
    case MSGPACK_OBJECT_BIN:
        return "bin";
    case MSGPACK_OBJECT_ARRAY:
        return "array";
    case MSGPACK_OBJECT_MAP:
        return "map";
    case MSGPACK_OBJECT_EXT:
        return "ext";
    }
    return "unknown";
}

/* The request's msgid read from its first bytes without unpacking, for
 * answering an object the server will not unpack; -1 when there is none. */
static int64_t peek_msgid(const uint8_t *p, size_t n)
{
    size_t i;
    if (n >= 1 && p[0] >= 0x92 && p[0] <= 0x9f)
        i = 1;
    else if (n >= 3 && p[0] == 0xdc)
        i = 3;
    else if (n >= 5 && p[0] == 0xdd)
        i = 5;
    else
        return -1;
    if (i >= n || p[i] > 0x7f) /* the type: a positive fixint */
        return -1;
    i++;
    if (i >= n)
        return -1;
    uint8_t b = p[i];
    if (b <= 0x7f)
        return b;
    unsigned nb = b == 0xcc ? 1 : b == 0xcd ? 2 : b == 0xce ? 4 : 0;
    if (nb == 0 || i + nb >= n)
        return -1;
    uint32_t v = 0;
    for (unsigned k = 1; k <= nb; k++)
        v = v << 8 | p[i + k];
    return v;
}

static void malformed(struct yard_rpc_conn *c, int64_t msgid, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void malformed(struct yard_rpc_conn *c, int64_t msgid, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->srv == NULL)
        return;
    c->srv->stats.malformed++;
    send_response(c, msgid, code, msg, NULL, 0);
}

/* The msgid of a request array, or -1 when element 1 is not a uint32. */
static int64_t array_msgid(const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2)
        return -1;
    const msgpack_object *id = &o->via.array.ptr[1];
    if (id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || id->via.u64 > UINT32_MAX)
        return -1;
    return (int64_t)id->via.u64;
}

/* Check the shape of a request; answers and returns false when it is not
 * one to dispatch. */
static bool check_request(struct yard_rpc_conn *c, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0) {
        malformed(c, -1, YARD_RPC_INVALID_REQUEST,
                  "a request is an array [0, msgid, method, params]; got %s %s",
                  o->type == MSGPACK_OBJECT_ARRAY ? "an empty" : "a", type_name(o->type));
        return false;
    }
    const msgpack_object *e = o->via.array.ptr;
    uint32_t n = o->via.array.size;
    if (e[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[0].via.u64 == YARD_RPC_NOTIFY) {
        /* Notifications never get an answer, not even a complaint. */
        if (n == 3 && e[1].type == MSGPACK_OBJECT_STR)
            c->srv->stats.notifications++;
        else
            c->srv->stats.malformed++;
        return false;
    }
    int64_t msgid = array_msgid(o);
    if (e[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || e[0].via.u64 != YARD_RPC_REQUEST) {
        malformed(c, msgid, YARD_RPC_INVALID_REQUEST,
                  "message type must be 0 (request) or 2 (notification); got %s%s",
                  type_name(e[0].type),
                  e[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER ? " other than 0 or 2" : "");
        return false;
    }
    if (n != 4) {
        malformed(c, msgid, YARD_RPC_INVALID_REQUEST,
                  "a request is an array of 4 [0, msgid, method, params]; got %u elements", n);
        return false;
    }
    if (msgid < 0) {
        malformed(c, -1, YARD_RPC_INVALID_REQUEST,
                  "msgid must be an integer from 0 to 4294967295; got %s", type_name(e[1].type));
        return false;
    }
    const msgpack_object *m = &e[2];
    const char *mp = m->type == MSGPACK_OBJECT_STR   ? m->via.str.ptr
                     : m->type == MSGPACK_OBJECT_BIN ? m->via.bin.ptr
                                                     : NULL;
    uint32_t ml = m->type == MSGPACK_OBJECT_STR ? m->via.str.size : m->via.bin.size;
    if (mp == NULL || ml == 0 || ml > YARD_RPC_MAX_METHOD || memchr(mp, '\0', ml) != NULL) {
        malformed(c, msgid, YARD_RPC_INVALID_REQUEST,
                  "method must be a name of 1 to %d characters; got %s", YARD_RPC_MAX_METHOD,
                  mp == NULL ? type_name(m->type) : "a string of another length or with a NUL");
        return false;
    }
    if (e[3].type != MSGPACK_OBJECT_ARRAY && e[3].type != MSGPACK_OBJECT_MAP) {
        malformed(c, msgid, YARD_RPC_INVALID_REQUEST,
                  "params must be an array [ {name: value, ...} ] or a map; got %s",
                  type_name(e[3].type));
        return false;
    }
    return true;
}

/* The named arguments of a request, or NULL (answered) when params has
 * another shape. */
static const msgpack_object *request_args(struct yard_rpc_call *call, const msgpack_object *p)
{
    if (p->type == MSGPACK_OBJECT_MAP)
        return p;
    if (p->via.array.size == 0)
        return &call->empty_args;
    if (p->via.array.size == 1 && p->via.array.ptr[0].type == MSGPACK_OBJECT_MAP)
        return &p->via.array.ptr[0];
    return NULL;
}

static void dispatch_call(struct yard_rpc_conn *c, struct yard_rpc_call *call)
{
    struct yard_rpc_server *srv = c->srv;
    srv->stats.requests++;
    if (c->nb_kept >= srv->limits.max_deferred) {
        call->in_dispatch = true; /* answered here, freed here */
        yard_rpc_reply_error(call, YARD_RPC_NO_SPACE,
                             "%u calls are already waiting on this connection; wait for their "
                             "answers or use another connection",
                             c->nb_kept);
        call_free(call);
        return;
    }
    call->in_dispatch = true;
    int rc = srv->dispatch(srv->ctx, call);
    call->in_dispatch = false;
    if (!call->done && rc == YARD_RPC_DEFERRED) {
        call->prev = NULL;
        call->next = c->kept;
        if (c->kept != NULL)
            c->kept->prev = call;
        c->kept = call;
        c->nb_kept++;
        c->refs++;
        if (c->srv != NULL) {
            srv->stats.deferred++;
            srv->stats.deferred_pending++;
        }
        return;
    }
    if (!call->done && rc < 0) {
        call->in_dispatch = true; /* so the reply does not free it */
        yard_rpc_reply_error(call, YARD_RPC_INTERNAL, "%s failed: %s", call->method, strerror(-rc));
    } else if (!call->done) {
        call->in_dispatch = true;
        yard_rpc_reply_error(call, YARD_RPC_INTERNAL, "%s returned without an answer",
                             call->method);
    }
    call_free(call);
}

/* One complete object of len bytes at p. */
static void process_object(struct yard_rpc_conn *c, const uint8_t *p, size_t len)
{
    struct yard_rpc_call *call = calloc(1, sizeof(*call) + len + YARD_RPC_MAX_METHOD + 1);
    if (call == NULL) {
        malformed(c, peek_msgid(p, len), YARD_RPC_INTERNAL, "out of memory");
        return;
    }
    /* The request's own copy of its bytes, which its strings point into,
     * followed by the method's NUL-terminated copy. */
    char *raw = (char *)(call + 1);
    memcpy(raw, p, len);
    msgpack_unpacked_init(&call->request);
    msgpack_sbuffer_init(&call->result);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&call->request, raw, len, &off);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        /* The scanner vouched for the framing: only memory can fail here. */
        malformed(c, peek_msgid(p, len), YARD_RPC_INTERNAL,
                  "could not unpack a request of %zu bytes", len);
        call_free(call);
        return;
    }
    const msgpack_object *o = &call->request.data;
    if (!check_request(c, o)) {
        call_free(call);
        return;
    }
    const msgpack_object *e = o->via.array.ptr;
    call->msgid = (uint32_t)e[1].via.u64;
    char *method = raw + len;
    const char *mp = e[2].type == MSGPACK_OBJECT_STR ? e[2].via.str.ptr : e[2].via.bin.ptr;
    uint32_t ml = e[2].type == MSGPACK_OBJECT_STR ? e[2].via.str.size : e[2].via.bin.size;
    memcpy(method, mp, ml);
    method[ml] = '\0';
    call->method = method;
    call->params = &e[3];
    call->empty_args.type = MSGPACK_OBJECT_MAP;
    call->conn = c;
    call->started_ns = now_ns();
    msgpack_packer_init(&call->packer, &call->result, msgpack_sbuffer_write);
    call->pk = &call->packer;
    call->args = request_args(call, &e[3]);
    if (call->args == NULL) {
        c->srv->stats.requests++;
        call->in_dispatch = true;
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS,
                             "params must be [], [ {name: value, ...} ] or a map; got an array "
                             "of %u elements%s",
                             e[3].via.array.size,
                             e[3].via.array.size == 1 ? " that is not a map" : "");
        call_free(call);
        return;
    }
    dispatch_call(c, call);
}

/* Serve every complete object in the input buffer. */
/* Serve complete objects from the input buffer until it runs out or the
 * unsent output reaches the high-water mark. Returns true when it stopped
 * for the output. */
static bool serve_buffered(struct yard_rpc_conn *c)
{
    size_t used = 0;
    bool paused = false;
    while (c->srv != NULL && !c->closing && used < c->in_len) {
        if (c->out_len - c->out_off >= OUTPUT_HIGH_WATER) {
            paused = true;
            break;
        }
        size_t len = 0;
        const uint8_t *p = c->in + used;
        enum yard_rpc_scan_result r = yard_rpc_scan_next(&c->scan, p, c->in_len - used,
                                                         c->srv->limits.max_request_bytes, &len);
        if (r == YARD_RPC_SCAN_MORE)
            break;
        if (r == YARD_RPC_SCAN_COMPLETE) {
            process_object(c, p, len);
            used += len;
        } else if (r == YARD_RPC_SCAN_TOO_DEEP) {
            malformed(c, peek_msgid(p, len), YARD_RPC_INVALID_REQUEST,
                      "request nested deeper than %d levels", YARD_RPC_MAX_DEPTH);
            used += len;
        } else {
            /* Cannot find the next request's start: answer and hang up. */
            if (r == YARD_RPC_SCAN_INVALID)
                malformed(c, -1, YARD_RPC_PARSE_ERROR,
                          "not msgpack (byte 0xc1 at offset %zu of the request); closing",
                          c->scan.pos);
            else
                malformed(c, peek_msgid(p, c->in_len - used), YARD_RPC_INVALID_REQUEST,
                          "request larger than the limit of %zu bytes; closing",
                          c->srv->limits.max_request_bytes);
            if (c->srv != NULL)
                c->srv->stats.connections_closed_by_server++;
            c->closing = true;
            used = c->in_len;
        }
    }
    if (used > 0) {
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    return paused;
}

static void process_input(struct yard_rpc_conn *c)
{
    c->refs++; /* a handler may close the connection under us */
    for (;;) {
        c->processing = true;
        bool paused = serve_buffered(c);
        c->processing = false;
        conn_flush(c);
        /* The socket took enough to go on: no EPOLLOUT will come to
         * resume the requests still buffered, so serve them now. */
        if (!paused || c->srv == NULL || c->out_len - c->out_off >= OUTPUT_HIGH_WATER)
            break;
    }
    conn_unref(c);
}

/* One recv into the input buffer and serve what it completed. Returns the
 * bytes read, 0 at end of input, -1 when nothing was read. */
static ssize_t read_input(struct yard_rpc_conn *c)
{
    size_t want = c->srv->limits.max_request_bytes + READ_CHUNK;
    if (c->in_cap < want && c->in_cap - c->in_len < READ_CHUNK) {
        size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK;
        if (cap > want)
            cap = want;
        uint8_t *grown = realloc(c->in, cap);
        if (grown == NULL) {
            conn_close(c);
            return -1;
        }
        c->in = grown;
        c->in_cap = cap;
    }
    size_t room = c->in_cap - c->in_len;
    if (room == 0) {
        process_input(c);
        return -1;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return -1;
    if (n < 0) {
        conn_close(c);
        return -1;
    }
    if (n == 0) {
        c->eof = true; /* half-close: answer what was asked, then close */
    } else {
        c->in_len += (size_t)n;
        c->srv->stats.bytes_in += (uint64_t)n;
    }
    process_input(c);
    return n;
}

static void on_conn_event(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    struct yard_rpc_conn *c = arg;
    c->refs++; /* closing it below must not free it under us */
    if (events & EPOLLOUT) {
        conn_flush(c);
        /* Caught up: serve what was left unread while backlogged. */
        if (c->srv != NULL && c->in_len > 0 && c->out_len - c->out_off < OUTPUT_HIGH_WATER)
            process_input(c);
    }
    if (c->srv != NULL && (events & EPOLLIN) && !c->eof && !c->closing) {
        /* After a hang-up, still serve what the client sent before it:
         * a request sent just before closing is carried out. */
        bool hup = (events & (EPOLLHUP | EPOLLERR)) != 0;
        while (read_input(c) > 0 && hup && c->srv != NULL && !c->closing)
            ;
    }
    if (c->srv != NULL && (events & (EPOLLHUP | EPOLLERR)))
        conn_close(c);
    conn_unref(c);
}

/* ---- accepting ---- */

static void refuse(struct yard_rpc_server *srv, int fd)
{
    char msg[160];
    snprintf(msg, sizeof(msg),
             "yard-control serves at most %u connections at once; try again later",
             srv->limits.max_connections);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    yard_rpc_pack_response_head(&pk, -1);
    yard_rpc_pack_error(&pk, YARD_RPC_NO_SPACE, msg);
    msgpack_pack_nil(&pk);
    /* A fresh socket's buffer is empty: this never blocks. */
    ssize_t n = send(fd, sb.data, sb.size, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    msgpack_sbuffer_destroy(&sb);
    close(fd);
    srv->stats.connections_refused++;
}

static void on_accept(struct yard_loop *loop, int lfd, uint32_t events, void *arg)
{
    (void)events;
    struct yard_rpc_server *srv = arg;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if ((errno == EMFILE || errno == ENFILE) && srv->spare_fd >= 0) {
                /* Out of fds: the pending client would keep the listener
                 * readable and spin the loop. Take it with the spare fd
                 * and drop it. */
                close(srv->spare_fd);
                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    close(fd);
                srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                srv->stats.connections_refused++;
            }
            return;
        }
        if (srv->stats.connections_open >= srv->limits.max_connections) {
            refuse(srv, fd);
            continue;
        }
        struct yard_rpc_conn *c = calloc(1, sizeof(*c));
        if (c == NULL || yard_loop_add(loop, fd, EPOLLIN, on_conn_event, c) != 0) {
            free(c);
            close(fd);
            srv->stats.connections_refused++;
            continue;
        }
        c->srv = srv;
        c->fd = fd;
        c->refs = 1;
        c->events = EPOLLIN;
        yard_rpc_scan_reset(&c->scan);
        c->next = srv->conns;
        if (srv->conns != NULL)
            srv->conns->prev = c;
        srv->conns = c;
        srv->stats.connections_accepted++;
        srv->stats.connections_open++;
    }
}

/* ---- the listening socket ---- */

/* mkdir -p of path's parent directory. */
static int make_parent(const char *path, char *err, size_t errlen)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            int e = errno;
            snprintf(err, errlen, "rpc: cannot create directory %s for socket %s: %s", dir, path,
                     strerror(e));
            return -e;
        }
        *p = '/';
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "rpc: cannot create directory %s for socket %s: %s", dir, path,
                 strerror(e));
        return -e;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "rpc: %s (the directory of socket %s) is not a directory", dir, path);
        return -ENOTDIR;
    }
    return 0;
}

/* Remove a socket file nobody serves; refuse to touch a live one. */
static int clear_stale(const struct sockaddr_un *sa, char *err, size_t errlen)
{
    const char *path = sa->sun_path;
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen,
                 "rpc: %s exists and is not a socket; remove it or choose another socket path",
                 path);
        return -EEXIST;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return -errno;
    int rc = connect(probe, (const struct sockaddr *)sa, sizeof(*sa));
    int e = errno;
    close(probe);
    if (rc == 0 || e == EAGAIN) {
        snprintf(err, errlen,
                 "rpc: another server is listening on %s (is yard-control of this instance "
                 "already running?); stop it or use another instance or socket path",
                 path);
        return -EADDRINUSE;
    }
    if (e != ECONNREFUSED) {
        snprintf(err, errlen, "rpc: cannot tell whether %s is in use: %s", path, strerror(e));
        return -e;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        e = errno;
        snprintf(err, errlen, "rpc: cannot remove the stale socket %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

int yard_rpc_server_open(struct yard_rpc_server **out, struct yard_loop *loop, const char *path,
                         mode_t mode, yard_rpc_dispatch_fn dispatch, void *ctx, char *err,
                         size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    *out = NULL;
    if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "rpc: socket path '%s' is empty or longer than %zu bytes",
                 path ? path : "", sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    if (dispatch == NULL) {
        snprintf(err, errlen, "rpc: no dispatch function");
        return -EINVAL;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);

    int rc = make_parent(path, err, errlen);
    if (rc < 0)
        return rc;
    rc = clear_stale(&sa, err, errlen);
    if (rc < 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "rpc: %s: %s", path, strerror(-rc));
        return rc;
    }

    struct yard_rpc_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        snprintf(err, errlen, "rpc: out of memory");
        return -ENOMEM;
    }
    srv->loop = loop;
    srv->dispatch = dispatch;
    srv->ctx = ctx;
    srv->spare_fd = -1;
    snprintf(srv->path, sizeof(srv->path), "%s", path);
    yard_rpc_server_set_limits(srv, NULL);

    srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "rpc: socket(): %s", strerror(-rc));
        free(srv);
        return rc;
    }
    /* The umask decides the mode bind() gives the file: narrow it so the
     * socket is never wider than `mode`, then set `mode` exactly. The
     * daemon is single-threaded, so the umask change races nothing. */
    mode_t old = umask(~mode & 0777);
    rc = bind(srv->fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    umask(old);
    if (rc < 0) {
        snprintf(err, errlen, "rpc: cannot bind %s: %s", path, strerror(e));
        goto fail;
    }
    struct stat st;
    if (chmod(path, mode & 07777) < 0 || stat(path, &st) < 0) {
        e = errno;
        snprintf(err, errlen, "rpc: cannot set mode %04o on %s: %s", (unsigned)mode, path,
                 strerror(e));
        unlink(path);
        goto fail;
    }
    srv->dev = st.st_dev;
    srv->ino = st.st_ino;
    if (listen(srv->fd, SOMAXCONN) < 0 ||
        (e = -yard_loop_add(loop, srv->fd, EPOLLIN, on_accept, srv)) != 0) {
        if (e == 0)
            e = errno;
        snprintf(err, errlen, "rpc: cannot listen on %s: %s", path, strerror(e));
        unlink(path);
        goto fail;
    }
    srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    *out = srv;
    return 0;
fail:
    close(srv->fd);
    free(srv);
    return -e;
}

void yard_rpc_server_set_limits(struct yard_rpc_server *srv, const struct yard_rpc_limits *l)
{
    struct yard_rpc_limits d = {
        .max_request_bytes = YARD_RPC_MAX_REQUEST_BYTES,
        .max_connections = DEFAULT_MAX_CONNS,
        .max_output_bytes = DEFAULT_MAX_OUT,
        .max_deferred = DEFAULT_MAX_DEFER,
    };
    if (l != NULL) {
        if (l->max_request_bytes)
            d.max_request_bytes = l->max_request_bytes;
        if (l->max_connections)
            d.max_connections = l->max_connections;
        if (l->max_output_bytes)
            d.max_output_bytes = l->max_output_bytes;
        if (l->max_deferred)
            d.max_deferred = l->max_deferred;
    }
    srv->limits = d;
}

void yard_rpc_server_close(struct yard_rpc_server *srv)
{
    if (srv == NULL)
        return;
    while (srv->conns != NULL)
        conn_close(srv->conns);
    yard_loop_del(srv->loop, srv->fd);
    close(srv->fd);
    if (srv->spare_fd >= 0)
        close(srv->spare_fd);
    /* Unlink only our own socket: a successor may have bound the path. */
    struct stat st;
    if (lstat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino)
        unlink(srv->path);
    free(srv);
}

const struct yard_rpc_stats *yard_rpc_server_stats(const struct yard_rpc_server *srv)
{
    return &srv->stats;
}

const char *yard_rpc_server_path(const struct yard_rpc_server *srv)
{
    return srv->path;
}
