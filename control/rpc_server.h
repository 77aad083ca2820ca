/*
 * rpc_server.h - the management API's server: MessagePack-RPC over a unix
 * stream socket, served from yard-control's one event loop.
 *
 * The server owns the socket, the connections and the framing; the daemon
 * supplies one dispatch function that sees each request as a struct
 * yard_rpc_call (method, named arguments, a packer for the result). A
 * handler answers at once, or keeps the call and answers later (a change
 * that must wait for the WAL's group commit, wait.applied waiting for the
 * dataplane): replies may go out in any order, as msgpack-rpc allows, and a
 * client that hangs up while its call is kept never makes the later answer
 * touch freed memory.
 *
 * On malformed input the server answers and keeps serving:
 *  - a msgpack object that is not a valid request ([0, msgid, method,
 *    params] with a uint32 msgid, a string method and an array or map for
 *    params) gets [1, msgid, {"code": -32600, "message": ...}, nil], with
 *    the request's msgid when element 1 is a uint32 and nil otherwise; the
 *    connection stays open. Notifications ([2, method, params]) are counted
 *    and ignored. Objects nested deeper than YARD_RPC_MAX_DEPTH get the
 *    same answer.
 *  - params that are neither [], [ {map} ] nor a bare map get -32602.
 *  - an unknown method gets -32601.
 *  - bytes that are not msgpack (0xc1), or a request larger than
 *    YARD_RPC_MAX_REQUEST_BYTES (judged from its length prefixes, before
 *    any of it is buffered), get an answer with msgid nil (-32700 or
 *    -32600) and the connection is closed once that answer is sent: the
 *    stream cannot be resynchronised.
 *  - a connection beyond max_connections is accepted, told
 *    [1, nil, {"code": 5, ...}, nil] and closed.
 *  - a connection whose unsent output passes max_output_bytes (a client
 *    that stopped reading) is closed; above 1 MiB of unsent output the
 *    server stops reading that client's requests until it catches up.
 *
 * Everything is called from the loop's thread only.
 */
#ifndef YARD_RPC_SERVER_H
#define YARD_RPC_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <msgpack.h>

#include "loop.h"
#include "rpc.h"

struct yard_rpc_server;
struct yard_rpc_conn;

/* One request being answered. The handler reads method and args, packs
 * its result with pk, and completes it with one of the reply functions. */
struct yard_rpc_call {
    const char *method; /* NUL-terminated copy */
    /* The named arguments: always a map (empty when the client sent []). */
    const msgpack_object *args;
    /* The params element exactly as received (array or map). */
    const msgpack_object *params;
    uint32_t msgid;
    /* Pack exactly one object, the result, then call yard_rpc_reply_result. */
    msgpack_packer *pk;
    void *user; /* free for the handler: e.g. its own record of a kept call */

    /* Private to the server. */
    struct yard_rpc_conn *conn;
    msgpack_sbuffer result;
    msgpack_packer packer;
    msgpack_unpacked request; /* owns the zone method, args and params live in */
    msgpack_object empty_args;
    bool in_dispatch, done;
    uint64_t started_ns;
    struct yard_rpc_call *prev, *next; /* the connection's kept calls */
};

/* Returned by a dispatch function that keeps the call to answer later. */
#define YARD_RPC_DEFERRED 1

/*
 * Handle one request. Either complete it before returning (reply_result or
 * reply_error; return 0), or keep it and return YARD_RPC_DEFERRED (then
 * complete it exactly once later, from the loop's thread). A negative errno
 * without a reply is answered as an internal error naming it. The call's
 * memory (method, args, params) stays valid until it is completed.
 */
typedef int (*yard_rpc_dispatch_fn)(void *ctx, struct yard_rpc_call *call);

struct yard_rpc_limits {
    size_t max_request_bytes; /* default YARD_RPC_MAX_REQUEST_BYTES */
    unsigned max_connections; /* default 64 */
    size_t max_output_bytes;  /* unsent bytes per connection; default 16 MiB */
    unsigned max_deferred;    /* kept calls per connection; default 1024 */
};

/* Counters for /metrics and status. Gauges are marked. */
struct yard_rpc_stats {
    uint64_t connections_accepted;
    uint64_t connections_refused;          /* over max_connections */
    uint64_t connections_closed_by_server; /* parse error, output overflow */
    uint64_t connections_open;             /* gauge */
    uint64_t requests;                     /* well-formed requests dispatched */
    uint64_t notifications;                /* ignored */
    uint64_t malformed;                    /* objects that were not requests, and parse errors */
    uint64_t errors;                       /* error responses sent, malformed ones included */
    uint64_t deferred;                     /* calls a handler kept */
    uint64_t deferred_pending;             /* gauge: kept calls not yet completed */
    uint64_t abandoned;                    /* kept calls whose client left before the answer */
    uint64_t bytes_in, bytes_out;
};

/*
 * Listen on the unix socket `path` and serve it from loop, handing each
 * request to dispatch(ctx, call). Creates the socket's missing parent
 * directories (0755). An existing socket file is removed only if nothing
 * accepts connections on it; if a live server answers, fails with
 * -EADDRINUSE (another daemon of this instance runs); a path that exists
 * and is not a socket is never removed (-EEXIST). The socket file gets
 * exactly `mode` (e.g. 0660) whatever the umask, and is never more
 * permissive than that, even for a moment. On failure returns -errno and
 * writes a message naming the path and the fix into err. Cost: a few
 * syscalls.
 */
int yard_rpc_server_open(struct yard_rpc_server **out, struct yard_loop *loop, const char *path,
                         mode_t mode, yard_rpc_dispatch_fn dispatch, void *ctx, char *err,
                         size_t errlen);

/* Replace the default limits (zero fields keep their defaults). Applies to
 * connections accepted afterwards and to requests read afterwards. */
void yard_rpc_server_set_limits(struct yard_rpc_server *srv, const struct yard_rpc_limits *limits);

/*
 * Stop listening, close every connection, unlink the socket file (only if
 * it is still the one this server bound) and free the server. Calls still
 * kept by handlers stay valid: completing them afterwards just frees them.
 */
void yard_rpc_server_close(struct yard_rpc_server *srv);

const struct yard_rpc_stats *yard_rpc_server_stats(const struct yard_rpc_server *srv);
const char *yard_rpc_server_path(const struct yard_rpc_server *srv);

/*
 * Complete a call with the object packed into call->pk (nil when nothing
 * was packed; an internal error when more than one object was packed).
 * After this the call is gone (freed now if it was kept, or when dispatch
 * returns). If the client has hung up, the answer is dropped. Cost: one
 * copy of the result into the connection's output, and a write attempt.
 */
void yard_rpc_reply_result(struct yard_rpc_call *call);

/* Complete a call with an error; whatever was packed into call->pk is
 * discarded. message is printf-formatted. */
void yard_rpc_reply_error(struct yard_rpc_call *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void yard_rpc_reply_verror(struct yard_rpc_call *call, int code, const char *fmt, va_list ap);

/* True when the client that made this call has gone: the handler may
 * complete the call at once instead of finishing the work. */
bool yard_rpc_call_abandoned(const struct yard_rpc_call *call);

#endif
