/*
 * rpc_test_methods.c - the test RPC server's methods (see
 * rpc_test_methods.h). Each one exercises one path of the server: plain
 * results, errors, kept calls answered from a timer, large results, and the
 * handler mistakes the server must turn into internal errors.
 */
#include "rpc_test_methods.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"

struct kept {
    struct rpc_test_ctx *ctx;
    struct yard_rpc_call *call;
    struct yard_loop_timer *timer;
    const msgpack_object *value;
};

static void on_kept_timer(struct yard_loop *loop, uint64_t expirations, void *arg)
{
    (void)expirations;
    struct kept *k = arg;
    k->ctx->deferred_done++;
    if (yard_rpc_call_abandoned(k->call))
        k->ctx->deferred_abandoned++;
    msgpack_pack_map(k->call->pk, 1);
    yard_rpc_pack_cstr(k->call->pk, "value");
    if (k->value != NULL)
        msgpack_pack_object(k->call->pk, *k->value);
    else
        msgpack_pack_nil(k->call->pk);
    yard_rpc_reply_result(k->call);
    yard_loop_timer_del(loop, k->timer);
    free(k);
}

static int m_defer(struct rpc_test_ctx *ctx, struct yard_rpc_call *call)
{
    uint64_t ms = 0;
    if (yard_rpc_param_u64(call->args, "ms", &ms) != 0 || ms == 0 || ms > 60000) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "ms must be 1..60000");
        return 0;
    }
    struct kept *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return -ENOMEM;
    k->ctx = ctx;
    k->call = call;
    k->value = yard_rpc_param(call->args, "value");
    k->timer = yard_loop_timer_add(ctx->loop, (unsigned)ms, on_kept_timer, k);
    if (k->timer == NULL) {
        free(k);
        return -ENOMEM;
    }
    return YARD_RPC_DEFERRED;
}

static int m_stats(struct rpc_test_ctx *ctx, struct yard_rpc_call *call)
{
    const struct yard_rpc_stats *s = yard_rpc_server_stats(ctx->srv);
    msgpack_packer *pk = call->pk;
    msgpack_pack_map(pk, 15);
    yard_rpc_pack_kv_u64(pk, "connections_accepted", s->connections_accepted);
    yard_rpc_pack_kv_u64(pk, "connections_refused", s->connections_refused);
    yard_rpc_pack_kv_u64(pk, "connections_closed_by_server", s->connections_closed_by_server);
    yard_rpc_pack_kv_u64(pk, "connections_open", s->connections_open);
    yard_rpc_pack_kv_u64(pk, "requests", s->requests);
    yard_rpc_pack_kv_u64(pk, "notifications", s->notifications);
    yard_rpc_pack_kv_u64(pk, "malformed", s->malformed);
    yard_rpc_pack_kv_u64(pk, "errors", s->errors);
    yard_rpc_pack_kv_u64(pk, "deferred", s->deferred);
    yard_rpc_pack_kv_u64(pk, "deferred_pending", s->deferred_pending);
    yard_rpc_pack_kv_u64(pk, "abandoned", s->abandoned);
    yard_rpc_pack_kv_u64(pk, "bytes_in", s->bytes_in);
    yard_rpc_pack_kv_u64(pk, "bytes_out", s->bytes_out);
    yard_rpc_pack_kv_u64(pk, "deferred_done", ctx->deferred_done);
    yard_rpc_pack_kv_u64(pk, "deferred_abandoned", ctx->deferred_abandoned);
    yard_rpc_reply_result(call);
    return 0;
}

static int m_big(struct yard_rpc_call *call)
{
    uint64_t n = 0;
    if (yard_rpc_param_u64(call->args, "bytes", &n) != 0 || n > (64u << 20)) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "bytes must be 0..64 MiB");
        return 0;
    }
    char *b = malloc(n ? n : 1);
    if (b == NULL)
        return -ENOMEM;
    for (uint64_t i = 0; i < n; i++)
        b[i] = (char)(i & 0xff);
    msgpack_pack_bin(call->pk, n);
    msgpack_pack_bin_body(call->pk, b, n);
    free(b);
    yard_rpc_reply_result(call);
    return 0;
}

static int m_strict(struct yard_rpc_call *call)
{
    char name[16];
    uint64_t count = 1;
    bool has_count = false;
    const struct yard_rpc_param_spec spec[] = {
        {"name", YARD_RPC_P_STR, true, name, sizeof(name), NULL},
        {"count", YARD_RPC_P_U64, false, &count, 0, &has_count},
    };
    char err[256];
    if (yard_rpc_params_read(call->args, spec, 2, err, sizeof(err)) != 0) {
        yard_rpc_reply_error(call, YARD_RPC_INVALID_PARAMS, "%s", err);
        return 0;
    }
    msgpack_pack_map(call->pk, 3);
    yard_rpc_pack_kv_str(call->pk, "name", name);
    yard_rpc_pack_kv_u64(call->pk, "count", count);
    yard_rpc_pack_kv_bool(call->pk, "count_given", has_count);
    yard_rpc_reply_result(call);
    return 0;
}

int rpc_test_dispatch(void *arg, struct yard_rpc_call *call)
{
    struct rpc_test_ctx *ctx = arg;
    const char *m = call->method;
    if (strcmp(m, "echo") == 0) {
        msgpack_pack_object(call->pk, *call->args);
        yard_rpc_reply_result(call);
        return 0;
    }
    if (strcmp(m, "params") == 0) {
        msgpack_pack_object(call->pk, *call->params);
        yard_rpc_reply_result(call);
        return 0;
    }
    if (strcmp(m, "error") == 0) {
        int64_t code = 0;
        char msg[256] = "";
        yard_rpc_param_i64(call->args, "code", &code);
        yard_rpc_param_str(call->args, "message", msg, sizeof(msg));
        yard_rpc_reply_error(call, (int)code, "%s", msg);
        return 0;
    }
    if (strcmp(m, "defer") == 0)
        return m_defer(ctx, call);
    if (strcmp(m, "big") == 0)
        return m_big(call);
    if (strcmp(m, "stats") == 0)
        return m_stats(ctx, call);
    if (strcmp(m, "strict") == 0)
        return m_strict(call);
    if (strcmp(m, "noreply") == 0)
        return 0;
    if (strcmp(m, "fail") == 0)
        return -EIO;
    if (strcmp(m, "two") == 0) {
        msgpack_pack_nil(call->pk);
        msgpack_pack_nil(call->pk);
        yard_rpc_reply_result(call);
        return 0;
    }
    yard_rpc_reply_error(call, YARD_RPC_METHOD_NOT_FOUND, "no method '%s'", m);
    return 0;
}
