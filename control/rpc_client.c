/*
 * rpc_client.c - the blocking management-API client (see rpc_client.h).
 *
 * The socket is non-blocking and every wait is a poll() against one
 * deadline per call, so a wedged server costs the caller exactly its
 * timeout. Responses are read with a msgpack_unpacker: the server is the
 * trusted side here, and the unpacker copes with answers that arrive in
 * pieces; its message size is still capped.
 */
#include "rpc_client.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until the deadline: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

static void permission_message(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen,
                 "permission denied on socket %s: its directory is not accessible to this user",
                 path);
        return;
    }
    struct passwd *pw = getpwuid(st.st_uid);
    struct group *gr = getgrgid(st.st_gid);
    char owner[64], group[64];
    if (pw != NULL)
        snprintf(owner, sizeof(owner), "%s", pw->pw_name);
    else
        snprintf(owner, sizeof(owner), "%u", (unsigned)st.st_uid);
    if (gr != NULL)
        snprintf(group, sizeof(group), "%s", gr->gr_name);
    else
        snprintf(group, sizeof(group), "%u", (unsigned)st.st_gid);
    snprintf(err, errlen,
             "permission denied on socket %s (mode %04o, owner %s, group %s); run as %s or as a "
             "member of group '%s'",
             path, (unsigned)(st.st_mode & 07777), owner, group, owner, group);
}

int yard_rpc_client_connect(struct yard_rpc_client *c, const char *path, int timeout_ms, char *err,
                            size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->next_msgid = 1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "socket path %s is longer than %zu bytes", path,
                 sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    snprintf(c->path, sizeof(c->path), "%s", path);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "socket(): %s", strerror(e));
        return -e;
    }
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            break;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN) {
            /* The listen backlog is full: the server is alive but busy. */
            if (now_ms() >= deadline) {
                snprintf(err, errlen,
                         "timed out after %d ms connecting to %s (the server accepts no more "
                         "connections)",
                         timeout_ms, path);
                close(fd);
                return -ETIMEDOUT;
            }
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (e == ENOENT || e == ENOTDIR)
            snprintf(err, errlen, "is yard-control running? socket %s: %s", path, strerror(e));
        else if (e == ECONNREFUSED)
            snprintf(err, errlen,
                     "is yard-control running? socket %s: %s (the socket file is there but "
                     "nothing listens on it)",
                     path, strerror(e));
        else if (e == EACCES || e == EPERM)
            permission_message(path, err, errlen);
        else
            snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(e));
        close(fd);
        return e == EPERM ? -EACCES : e == ENOTDIR ? -ENOENT : -e;
    }
    if (!msgpack_unpacker_init(&c->unpacker, 64 * 1024)) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->fd = fd;
    return 0;
}

void yard_rpc_client_close(struct yard_rpc_client *c)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    msgpack_unpacker_destroy(&c->unpacker);
}

static int send_all(struct yard_rpc_client *c, const char *buf, size_t len, int64_t deadline,
                    const char *method, char *err, size_t errlen)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = wait_fd(c->fd, POLLOUT, deadline);
            if (w > 0)
                continue;
            if (w == 0) {
                snprintf(err, errlen, "%s: timed out after %d ms sending the request to %s", method,
                         c->timeout_ms, c->path);
                return -ETIMEDOUT;
            }
            errno = -w;
        }
        int e = errno;
        snprintf(err, errlen, "%s: connection to %s lost: %s", method, c->path, strerror(e));
        return e == EPIPE ? -ECONNRESET : -e;
    }
    return 0;
}

/* Fill resp from a response array [1, msgid, error, result]. */
static int take_response(struct yard_rpc_response *resp, const char *method)
{
    const msgpack_object *a = resp->msg.data.via.array.ptr;
    resp->error = a[2];
    resp->result = a[3];
    resp->is_error = a[2].type != MSGPACK_OBJECT_NIL;
    if (!resp->is_error)
        return 0;
    resp->result.type = MSGPACK_OBJECT_NIL;
    const msgpack_object *code = yard_rpc_map_get(&a[2], "code");
    const msgpack_object *msg = yard_rpc_map_get(&a[2], "message");
    if (code != NULL && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER && code->via.u64 <= INT64_MAX)
        resp->code = (int64_t)code->via.u64;
    else if (code != NULL && code->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        resp->code = code->via.i64;
    else
        resp->code = YARD_RPC_INTERNAL;
    if (msg != NULL && msg->type == MSGPACK_OBJECT_STR)
        snprintf(resp->message, sizeof(resp->message), "%.*s", (int)msg->via.str.size,
                 msg->via.str.ptr);
    else if (a[2].type == MSGPACK_OBJECT_STR) /* some servers send a bare string */
        snprintf(resp->message, sizeof(resp->message), "%.*s", (int)a[2].via.str.size,
                 a[2].via.str.ptr);
    else
        snprintf(resp->message, sizeof(resp->message), "the server answered %s with an error",
                 method);
    return 0;
}

/* Read until the response to msgid arrives. */
static int read_response(struct yard_rpc_client *c, uint32_t msgid, const char *method,
                         int64_t deadline, struct yard_rpc_response *resp, char *err, size_t errlen)
{
    msgpack_unpacked_init(&resp->msg);
    for (;;) {
        msgpack_unpack_return r = msgpack_unpacker_next(&c->unpacker, &resp->msg);
        if (r == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *o = &resp->msg.data;
            const msgpack_object *a = o->via.array.ptr;
            if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4 ||
                a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 != YARD_RPC_RESPONSE)
                continue; /* not a response (a notification?): not ours */
            if (a[1].type == MSGPACK_OBJECT_NIL && a[2].type != MSGPACK_OBJECT_NIL)
                return take_response(resp, method); /* about the connection */
            if (a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[1].via.u64 == msgid)
                return take_response(resp, method);
            continue; /* an answer to an earlier, abandoned call */
        }
        if (r == MSGPACK_UNPACK_PARSE_ERROR || r == MSGPACK_UNPACK_NOMEM_ERROR) {
            snprintf(err, errlen, "%s: the answer from %s is not msgpack-rpc", method, c->path);
            msgpack_unpacked_destroy(&resp->msg);
            return -EPROTO;
        }
        if (msgpack_unpacker_message_size(&c->unpacker) > YARD_RPC_CLIENT_MAX_RESPONSE) {
            snprintf(err, errlen, "%s: the answer from %s is larger than %u MiB", method, c->path,
                     YARD_RPC_CLIENT_MAX_RESPONSE >> 20);
            msgpack_unpacked_destroy(&resp->msg);
            return -EMSGSIZE;
        }
        if (!msgpack_unpacker_reserve_buffer(&c->unpacker, 64 * 1024)) {
            snprintf(err, errlen, "%s: out of memory", method);
            msgpack_unpacked_destroy(&resp->msg);
            return -ENOMEM;
        }
        ssize_t n = recv(c->fd, msgpack_unpacker_buffer(&c->unpacker),
                         msgpack_unpacker_buffer_capacity(&c->unpacker), MSG_DONTWAIT);
        if (n > 0) {
            msgpack_unpacker_buffer_consumed(&c->unpacker, (size_t)n);
            continue;
        }
        int e = n == 0 ? ECONNRESET : errno;
        if (n < 0 && e == EINTR)
            continue;
        if (n < 0 && (e == EAGAIN || e == EWOULDBLOCK)) {
            int w = wait_fd(c->fd, POLLIN, deadline);
            if (w > 0)
                continue;
            if (w == 0) {
                snprintf(err, errlen, "%s: no answer from %s within %d ms", method, c->path,
                         c->timeout_ms);
                msgpack_unpacked_destroy(&resp->msg);
                return -ETIMEDOUT;
            }
            e = -w;
        }
        snprintf(err, errlen, "%s: %s closed the connection before answering%s%s", method, c->path,
                 n == 0 ? "" : ": ", n == 0 ? "" : strerror(e));
        msgpack_unpacked_destroy(&resp->msg);
        return -ECONNRESET;
    }
}

static int call(struct yard_rpc_client *c, const char *method, yard_rpc_args_fn args_fn, void *arg,
                const void *params, size_t params_len, struct yard_rpc_response *resp, char *err,
                size_t errlen)
{
    memset(resp, 0, sizeof(*resp));
    if (c->fd < 0) {
        snprintf(err, errlen, "%s: not connected", method);
        return -ENOTCONN;
    }
    int64_t deadline = now_ms() + c->timeout_ms;
    uint32_t msgid = c->next_msgid++;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    yard_rpc_pack_request_head(&pk, msgid, method);
    if (params != NULL) {
        msgpack_sbuffer_write(&sb, params, params_len);
    } else if (args_fn != NULL) {
        msgpack_pack_array(&pk, 1);
        args_fn(&pk, arg);
    } else {
        msgpack_pack_array(&pk, 0);
    }
    int rc = send_all(c, sb.data, sb.size, deadline, method, err, errlen);
    msgpack_sbuffer_destroy(&sb);
    if (rc == -ECONNRESET) {
        /* The server may have said why before it closed (too many
         * connections): that answer is worth more than "connection lost". */
        char ignored[256];
        if (read_response(c, msgid, method, deadline, resp, ignored, sizeof(ignored)) == 0)
            return 0;
        memset(resp, 0, sizeof(*resp));
    }
    if (rc != 0)
        return rc;
    return read_response(c, msgid, method, deadline, resp, err, errlen);
}

int yard_rpc_client_call(struct yard_rpc_client *c, const char *method, yard_rpc_args_fn args_fn,
                         void *arg, struct yard_rpc_response *resp, char *err, size_t errlen)
{
    return call(c, method, args_fn, arg, NULL, 0, resp, err, errlen);
}

int yard_rpc_client_call_raw(struct yard_rpc_client *c, const char *method, const void *params,
                             size_t params_len, struct yard_rpc_response *resp, char *err,
                             size_t errlen)
{
    return call(c, method, NULL, NULL, params, params_len, resp, err, errlen);
}

void yard_rpc_response_free(struct yard_rpc_response *resp)
{
    msgpack_unpacked_destroy(&resp->msg);
    resp->result.type = MSGPACK_OBJECT_NIL;
}
