/*
 * rpc_test_methods.h - the methods of the test RPC server, shared by the
 * criterion tests (test_rpc.c, which run the server in a thread) and by
 * rpc_echo_server (which the Python client test drives), so both exercise
 * the same handlers on the real server and loop.
 *
 *   echo {...}              result: the named arguments, as a map
 *   params ...              result: the params element exactly as received
 *   error {code, message}   answers that error
 *   defer {ms, value?}      keeps the call, answers {"value": value} after ms
 *   big {bytes}             result: a bin of `bytes` bytes (i & 0xff)
 *   stats                   result: the server's counters and the handlers'
 *   noreply                 returns 0 without answering (a handler bug)
 *   fail                    returns -EIO without answering
 *   two                     packs two objects as its result (a handler bug)
 *   strict {name, count?}   reads its arguments with yard_rpc_params_read
 */
#ifndef RPC_TEST_METHODS_H
#define RPC_TEST_METHODS_H

#include <stdint.h>

#include "loop.h"
#include "rpc_server.h"

struct rpc_test_ctx {
    struct yard_loop *loop;
    struct yard_rpc_server *srv;
    uint64_t deferred_done;      /* kept calls completed */
    uint64_t deferred_abandoned; /* ... of which the client had gone */
};

/* The dispatch function; ctx is a struct rpc_test_ctx. */
int rpc_test_dispatch(void *ctx, struct yard_rpc_call *call);

#endif
