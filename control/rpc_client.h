/*
 * rpc_client.h - a blocking MessagePack-RPC client for the management
 * socket, used by yardctl and by tests.
 *
 * One call at a time on one connection: send the request, read until the
 * response with the same msgid arrives (others are skipped), all within a
 * deadline. Blocking is right here: yardctl does one thing and exits, and
 * tests want straight-line code. Failures come back as -errno with a
 * message an operator can act on (is the daemon running, who may use the
 * socket, how long was waited). Not thread-safe per client; separate
 * clients are independent.
 */
#ifndef YARD_RPC_CLIENT_H
#define YARD_RPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include <msgpack.h>

#include "rpc.h"

/* Responses larger than this are refused (-EMSGSIZE). */
#define YARD_RPC_CLIENT_MAX_RESPONSE (256u << 20)

struct yard_rpc_client {
    int fd;
    int timeout_ms; /* per call; may be changed between calls */
    uint32_t next_msgid;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    msgpack_unpacker unpacker;
};

/* What the server answered. result is valid until yard_rpc_response_free;
 * for an error it is nil and code/message say what went wrong. */
struct yard_rpc_response {
    bool is_error;
    int64_t code;
    char message[1024];
    msgpack_object result;
    msgpack_object error; /* the error element as received (nil when none) */
    msgpack_unpacked msg; /* owns the memory result points into */
};

/*
 * Connect to the server at path, waiting at most timeout_ms (a busy
 * server's full backlog is waited out; a missing or dead socket fails at
 * once). Returns 0, or -errno with a message in err:
 *   -ENOENT        no socket file ("is yard-control running?")
 *   -ECONNREFUSED  a socket file nobody listens on (the daemon died)
 *   -EACCES        not allowed; the message gives the socket's mode,
 *                  owner and group
 *   -ETIMEDOUT     the server did not accept in time
 *   -ENAMETOOLONG  path does not fit a unix socket address
 */
int yard_rpc_client_connect(struct yard_rpc_client *c, const char *path, int timeout_ms, char *err,
                            size_t errlen);

/* Close the connection (safe on a client that never connected, if zeroed). */
void yard_rpc_client_close(struct yard_rpc_client *c);

/* Packs the named arguments: exactly one map. */
typedef void (*yard_rpc_args_fn)(msgpack_packer *pk, void *arg);

/*
 * Call method with named arguments packed by args_fn (NULL: no arguments,
 * params []), and wait for its response within c->timeout_ms. Returns 0
 * when a response arrived (check resp->is_error; free it with
 * yard_rpc_response_free either way), or -errno with a message in err:
 * -ETIMEDOUT, -ECONNRESET (the server closed the connection), -EPROTO (the
 * answer is not msgpack-rpc), -EMSGSIZE. On error resp needs no freeing.
 * A server's answer with a nil msgid (it refused the connection or could
 * not read the request) is returned as this call's response.
 */
int yard_rpc_client_call(struct yard_rpc_client *c, const char *method, yard_rpc_args_fn args_fn,
                         void *arg, struct yard_rpc_response *resp, char *err, size_t errlen);

/* The same with the params element given pre-packed (params_len bytes of
 * exactly one object, sent as is; NULL sends []). */
int yard_rpc_client_call_raw(struct yard_rpc_client *c, const char *method, const void *params,
                             size_t params_len, struct yard_rpc_response *resp, char *err,
                             size_t errlen);

void yard_rpc_response_free(struct yard_rpc_response *resp);

#endif
