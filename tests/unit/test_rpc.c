/*
 * test_rpc.c - the management API's codec, server and client (control/rpc*.c).
 *
 * The codec's scanner is judged against msgpack-c itself: objects packed by
 * msgpack-c must scan to exactly their packed length, every prefix must ask
 * for more, and nested depths must be refused exactly where msgpack-c's own
 * unpacker gives up. The server runs on the real event loop in a thread of
 * the test process (the loop's thread is the only one touching it), with
 * the test methods of rpc_test_methods.c, and is driven over a real socket
 * in a temporary directory, both by the blocking client and by raw bytes
 * written on a plain socket, so malformed input can be sent exactly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpc.h"
#include "rpc_client.h"
#include "rpc_server.h"
#include "rpc_test_methods.h"

/* ------------------------------------------------------------ helpers */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Scan buf whole with a fresh scanner. */
static enum yard_rpc_scan_result scan_all(const void *buf, size_t n, size_t max, size_t *len)
{
    struct yard_rpc_scan s;
    yard_rpc_scan_reset(&s);
    *len = 0;
    return yard_rpc_scan_next(&s, buf, n, max, len);
}

/* A random msgpack object of every kind, packed by msgpack-c. */
static void pack_random(msgpack_packer *pk, unsigned depth)
{
    int kind = rand() % (depth < 4 ? 14 : 10);
    char buf[300];
    size_t n;
    switch (kind) {
    case 0:
        msgpack_pack_nil(pk);
        break;
    case 1:
        msgpack_pack_true(pk);
        break;
    case 2:
        msgpack_pack_uint64(pk, (uint64_t)rand() << (rand() % 40));
        break;
    case 3:
        msgpack_pack_int64(pk, -(int64_t)((uint64_t)rand() << (rand() % 32)));
        break;
    case 4:
        msgpack_pack_double(pk, rand() / 7.0);
        break;
    case 5:
        msgpack_pack_float(pk, (float)rand());
        break;
    case 6:
    case 7:
        n = (size_t)(rand() % 2 ? rand() % 40 : rand() % 300);
        memset(buf, 'a' + rand() % 26, n);
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, buf, n);
        break;
    case 8:
        n = (size_t)(rand() % 300);
        memset(buf, rand() & 0xff, n);
        msgpack_pack_bin(pk, n);
        msgpack_pack_bin_body(pk, buf, n);
        break;
    case 9: {
        static const size_t ext_sizes[] = {1, 2, 4, 8, 16, 0, 3, 17, 255, 256};
        n = ext_sizes[rand() % 10];
        memset(buf, 7, n);
        msgpack_pack_ext(pk, n, (int8_t)(rand() % 100));
        msgpack_pack_ext_body(pk, buf, n);
        break;
    }
    case 10:
    case 11: {
        unsigned k = (unsigned)(rand() % 2 ? rand() % 5 : rand() % 20);
        msgpack_pack_array(pk, k);
        for (unsigned i = 0; i < k; i++)
            pack_random(pk, depth + 1);
        break;
    }
    default: {
        unsigned k = (unsigned)(rand() % 2 ? rand() % 4 : rand() % 18);
        msgpack_pack_map(pk, k);
        for (unsigned i = 0; i < 2 * k; i++)
            pack_random(pk, depth + 1);
        break;
    }
    }
}

/* ------------------------------------------------------------ codec */

Test(codec, scan_matches_msgpack_lengths_and_prefixes)
{
    srand(1234);
    for (int iter = 0; iter < 400; iter++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pack_random(&pk, 0);
        size_t whole = sb.size;
        /* a second object behind it must not be counted */
        msgpack_pack_array(&pk, 2);
        msgpack_pack_nil(&pk);
        msgpack_pack_nil(&pk);

        size_t len;
        cr_assert_eq(scan_all(sb.data, sb.size, 1 << 20, &len), YARD_RPC_SCAN_COMPLETE);
        cr_assert_eq(len, whole, "iteration %d: scanned %zu, packed %zu", iter, len, whole);
        /* msgpack-c agrees on where the object ends */
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        cr_assert_eq(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
        cr_assert_eq(off, whole);
        msgpack_unpacked_destroy(&up);

        /* Every strict prefix asks for more, fed fresh or a byte at a time. */
        for (size_t cut = 0; cut < whole; cut += 1 + whole / 50)
            cr_assert_eq(scan_all(sb.data, cut, 1 << 20, &len), YARD_RPC_SCAN_MORE,
                         "prefix %zu of %zu", cut, whole);
        struct yard_rpc_scan s;
        yard_rpc_scan_reset(&s);
        enum yard_rpc_scan_result r = YARD_RPC_SCAN_MORE;
        size_t fed = 0;
        while (r == YARD_RPC_SCAN_MORE && fed < sb.size)
            r = yard_rpc_scan_next(&s, (const uint8_t *)sb.data, ++fed, 1 << 20, &len);
        cr_assert_eq(r, YARD_RPC_SCAN_COMPLETE);
        cr_assert_eq(fed, whole, "completed after %zu of %zu bytes", fed, whole);
        cr_assert_eq(len, whole);
        msgpack_sbuffer_destroy(&sb);
    }
}

Test(codec, scan_refuses_what_is_not_msgpack)
{
    const uint8_t c1[] = {0xc1};
    const uint8_t inner[] = {0x93, 0x01, 0xc1, 0x02};
    size_t len;
    cr_assert_eq(scan_all(c1, sizeof(c1), 1024, &len), YARD_RPC_SCAN_INVALID);
    cr_assert_eq(scan_all(inner, sizeof(inner), 1024, &len), YARD_RPC_SCAN_INVALID);
    /* msgpack-c agrees these are not msgpack */
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)inner, sizeof(inner), &off),
                 MSGPACK_UNPACK_PARSE_ERROR);
    msgpack_unpacked_destroy(&up);
}

Test(codec, scan_judges_size_from_length_prefixes)
{
    size_t len;
    /* claims alone, no body bytes present */
    const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    const uint8_t map32[] = {0xdf, 0x00, 0x10, 0x00, 0x00};
    const uint8_t str32[] = {0xdb, 0x7f, 0xff, 0xff, 0xff};
    const uint8_t bin32[] = {0xc6, 0x00, 0x20, 0x00, 0x00};
    const uint8_t ext32[] = {0xc9, 0x00, 0x20, 0x00, 0x00, 0x01};
    cr_assert_eq(scan_all(arr32, sizeof(arr32), 1 << 20, &len), YARD_RPC_SCAN_TOO_BIG);
    cr_assert_eq(scan_all(map32, sizeof(map32), 1 << 20, &len), YARD_RPC_SCAN_TOO_BIG);
    cr_assert_eq(scan_all(str32, sizeof(str32), 1 << 20, &len), YARD_RPC_SCAN_TOO_BIG);
    cr_assert_eq(scan_all(bin32, sizeof(bin32), 1 << 20, &len), YARD_RPC_SCAN_TOO_BIG);
    cr_assert_eq(scan_all(ext32, sizeof(ext32), 1 << 20, &len), YARD_RPC_SCAN_TOO_BIG);
    /* exactly at the limit is fine: a str of 1000 bytes in 1003 */
    uint8_t s[1003] = {0xda, 0x03, 0xe8};
    cr_assert_eq(scan_all(s, sizeof(s), 1003, &len), YARD_RPC_SCAN_COMPLETE);
    cr_assert_eq(len, 1003);
    cr_assert_eq(scan_all(s, sizeof(s), 1002, &len), YARD_RPC_SCAN_TOO_BIG);
    /* an array whose elements cannot all fit */
    const uint8_t arr16[] = {0xdc, 0x04, 0x00}; /* 1024 elements */
    cr_assert_eq(scan_all(arr16, sizeof(arr16), 1026, &len), YARD_RPC_SCAN_TOO_BIG);
    cr_assert_eq(scan_all(arr16, sizeof(arr16), 1027, &len), YARD_RPC_SCAN_MORE);
}

/* depth nested arrays around a nil: [[[...nil...]]] */
static size_t nested(uint8_t *buf, unsigned depth)
{
    for (unsigned i = 0; i < depth; i++)
        buf[i] = 0x91;
    buf[depth] = 0xc0;
    return depth + 1;
}

Test(codec, scan_depth_limit_is_msgpack_c_limit)
{
    uint8_t buf[64];
    size_t len;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);

    size_t n = nested(buf, YARD_RPC_MAX_DEPTH);
    cr_assert_eq(scan_all(buf, n, 1024, &len), YARD_RPC_SCAN_COMPLETE);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)buf, n, &off), MSGPACK_UNPACK_SUCCESS,
                 "msgpack-c takes %d levels", YARD_RPC_MAX_DEPTH);

    /* one more level: msgpack-c fails, the scanner says so but knows the length */
    n = nested(buf, YARD_RPC_MAX_DEPTH + 1);
    cr_assert_eq(scan_all(buf, n, 1024, &len), YARD_RPC_SCAN_TOO_DEEP);
    cr_assert_eq(len, n);
    off = 0;
    cr_assert_neq(msgpack_unpack_next(&up, (const char *)buf, n, &off), MSGPACK_UNPACK_SUCCESS);

    /* an empty container at the limit counts as a level, as in msgpack-c */
    memset(buf, 0x91, YARD_RPC_MAX_DEPTH);
    buf[YARD_RPC_MAX_DEPTH] = 0x90;
    cr_assert_eq(scan_all(buf, YARD_RPC_MAX_DEPTH + 1, 1024, &len), YARD_RPC_SCAN_TOO_DEEP);
    off = 0;
    cr_assert_neq(msgpack_unpack_next(&up, (const char *)buf, YARD_RPC_MAX_DEPTH + 1, &off),
                  MSGPACK_UNPACK_SUCCESS);
    /* deep but wide: siblings at the limit are fine */
    memset(buf, 0x91, YARD_RPC_MAX_DEPTH - 1);
    buf[YARD_RPC_MAX_DEPTH - 1] = 0x92;
    buf[YARD_RPC_MAX_DEPTH] = 0x01;
    buf[YARD_RPC_MAX_DEPTH + 1] = 0x02;
    cr_assert_eq(scan_all(buf, YARD_RPC_MAX_DEPTH + 2, 1024, &len), YARD_RPC_SCAN_COMPLETE);
    cr_assert_eq(len, YARD_RPC_MAX_DEPTH + 2);
    msgpack_unpacked_destroy(&up);
}

/* Unpack a map literal built by the packer callback. */
struct packed {
    msgpack_sbuffer sb;
    msgpack_unpacked up;
};

static const msgpack_object *packed_args(struct packed *p, void (*fill)(msgpack_packer *))
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
    fill(&pk);
    msgpack_unpacked_init(&p->up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&p->up, p->sb.data, p->sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    return &p->up.data;
}

static void packed_free(struct packed *p)
{
    msgpack_unpacked_destroy(&p->up);
    msgpack_sbuffer_destroy(&p->sb);
}

static void fill_args(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 8);
    yard_rpc_pack_kv_str(pk, "name", "svc.a");
    yard_rpc_pack_kv_u64(pk, "port", 9000);
    yard_rpc_pack_kv_i64(pk, "delta", -5);
    yard_rpc_pack_kv_bool(pk, "wait", true);
    yard_rpc_pack_kv_double(pk, "ratio", 0.25);
    yard_rpc_pack_kv_nil(pk, "mac");
    yard_rpc_pack_cstr(pk, "nul");
    msgpack_pack_str(pk, 3);
    msgpack_pack_str_body(pk, "a\0b", 3);
    yard_rpc_pack_kv_u64(pk, "huge", UINT64_MAX);
}

Test(codec, named_argument_getters)
{
    struct packed p;
    const msgpack_object *a = packed_args(&p, fill_args);
    char s[16];
    uint64_t u;
    int64_t i;
    bool b;
    double d;
    cr_assert_eq(yard_rpc_param_str(a, "name", s, sizeof(s)), 0);
    cr_assert_str_eq(s, "svc.a");
    cr_assert_eq(yard_rpc_param_str(a, "name", s, 5), -EINVAL, "5 bytes cannot hold svc.a");
    cr_assert_eq(yard_rpc_param_str(a, "nul", s, sizeof(s)), -EINVAL, "embedded NUL");
    cr_assert_eq(yard_rpc_param_str(a, "port", s, sizeof(s)), -EINVAL, "wrong type");
    cr_assert_eq(yard_rpc_param_u64(a, "port", &u), 0);
    cr_assert_eq(u, 9000);
    cr_assert_eq(yard_rpc_param_u64(a, "delta", &u), -EINVAL, "negative is not u64");
    cr_assert_eq(yard_rpc_param_i64(a, "delta", &i), 0);
    cr_assert_eq(i, -5);
    cr_assert_eq(yard_rpc_param_i64(a, "port", &i), 0);
    cr_assert_eq(i, 9000);
    cr_assert_eq(yard_rpc_param_i64(a, "huge", &i), -EINVAL, "2^64-1 does not fit i64");
    cr_assert_eq(yard_rpc_param_bool(a, "wait", &b), 0);
    cr_assert(b);
    cr_assert_eq(yard_rpc_param_bool(a, "port", &b), -EINVAL);
    cr_assert_eq(yard_rpc_param_double(a, "ratio", &d), 0);
    cr_assert_float_eq(d, 0.25, 1e-12);
    cr_assert_eq(yard_rpc_param_double(a, "delta", &d), 0);
    cr_assert_float_eq(d, -5.0, 1e-12);
    cr_assert_eq(yard_rpc_param_u64(a, "absent", &u), -ENOENT);
    cr_assert_eq(yard_rpc_param_str(a, "mac", s, sizeof(s)), -ENOENT, "nil means not given");
    cr_assert_not_null(yard_rpc_param(a, "mac"), "but the key is there");
    packed_free(&p);
}

static void fill_strict_ok(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    yard_rpc_pack_kv_str(pk, "name", "x");
    yard_rpc_pack_kv_u64(pk, "count", 3);
}

static void fill_strict_unknown(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    yard_rpc_pack_kv_str(pk, "name", "x");
    yard_rpc_pack_kv_u64(pk, "cuont", 3);
}

static void fill_strict_missing(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    yard_rpc_pack_kv_u64(pk, "count", 3);
}

static void fill_strict_type(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    yard_rpc_pack_kv_str(pk, "name", "x");
    yard_rpc_pack_kv_str(pk, "count", "3");
}

Test(codec, params_read_table)
{
    char name[8], err[128];
    uint64_t count = 0;
    bool has = false;
    const struct yard_rpc_param_spec spec[] = {
        {"name", YARD_RPC_P_STR, true, name, sizeof(name), NULL},
        {"count", YARD_RPC_P_U64, false, &count, 0, &has},
    };
    struct packed p;
    cr_assert_eq(yard_rpc_params_read(packed_args(&p, fill_strict_ok), spec, 2, err, sizeof(err)),
                 0);
    cr_assert_str_eq(name, "x");
    cr_assert_eq(count, 3);
    cr_assert(has);
    packed_free(&p);

    cr_assert_eq(
        yard_rpc_params_read(packed_args(&p, fill_strict_unknown), spec, 2, err, sizeof(err)),
        -EINVAL);
    cr_assert(strstr(err, "unknown argument 'cuont'") != NULL, "%s", err);
    packed_free(&p);
    cr_assert_eq(
        yard_rpc_params_read(packed_args(&p, fill_strict_missing), spec, 2, err, sizeof(err)),
        -EINVAL);
    cr_assert(strstr(err, "missing argument 'name'") != NULL, "%s", err);
    packed_free(&p);
    cr_assert_eq(yard_rpc_params_read(packed_args(&p, fill_strict_type), spec, 2, err, sizeof(err)),
                 -EINVAL);
    cr_assert(strstr(err, "'count' must be a non-negative integer") != NULL, "%s", err);
    packed_free(&p);
}

/* ------------------------------------------------------------ server fixture */

struct fixture {
    char dir[40];
    char path[96];
    struct yard_loop loop;
    struct rpc_test_ctx ctx;
    int wake[2];
    pthread_t thread;
    bool running;
};

static struct fixture F;

static void on_wake(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)events;
    (void)arg;
    char b;
    if (read(fd, &b, 1) >= 0)
        yard_loop_stop(loop);
}

static void *loop_thread(void *arg)
{
    struct fixture *f = arg;
    yard_loop_run(&f->loop);
    return NULL;
}

static void make_dir(struct fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/yard-rpc-test-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/run/ctl.sock", f->dir);
}

static void server_start(const struct yard_rpc_limits *lim)
{
    struct fixture *f = &F;
    memset(f, 0, sizeof(*f));
    make_dir(f);
    cr_assert_eq(yard_loop_init(&f->loop), 0);
    f->ctx.loop = &f->loop;
    char err[256];
    int rc = yard_rpc_server_open(&f->ctx.srv, &f->loop, f->path, 0660, rpc_test_dispatch, &f->ctx,
                                  err, sizeof(err));
    cr_assert_eq(rc, 0, "open: %s", err);
    if (lim != NULL)
        yard_rpc_server_set_limits(f->ctx.srv, lim);
    cr_assert_eq(pipe2(f->wake, O_CLOEXEC | O_NONBLOCK), 0);
    cr_assert_eq(yard_loop_add(&f->loop, f->wake[0], EPOLLIN, on_wake, NULL), 0);
    cr_assert_eq(pthread_create(&f->thread, NULL, loop_thread, f), 0);
    f->running = true;
}

static void server_stop(void)
{
    struct fixture *f = &F;
    if (!f->running)
        return;
    cr_assert_eq(write(f->wake[1], "x", 1), 1);
    pthread_join(f->thread, NULL);
    f->running = false;
    yard_rpc_server_close(f->ctx.srv);
    yard_loop_del(&f->loop, f->wake[0]);
    close(f->wake[0]);
    close(f->wake[1]);
    yard_loop_fini(&f->loop);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    cr_assert_eq(system(cmd), 0);
}

static void setup_default(void)
{
    server_start(NULL);
}

static void connect_client(struct yard_rpc_client *c)
{
    char err[256];
    cr_assert_eq(yard_rpc_client_connect(c, F.path, 5000, err, sizeof(err)), 0, "%s", err);
}

/* The server's counters, asked for over a fresh connection. */
static uint64_t server_stat(const char *name)
{
    struct yard_rpc_client c;
    struct yard_rpc_response r;
    char err[256];
    connect_client(&c);
    cr_assert_eq(yard_rpc_client_call(&c, "stats", NULL, NULL, &r, err, sizeof(err)), 0, "%s", err);
    const msgpack_object *v = yard_rpc_map_get(&r.result, name);
    cr_assert_not_null(v, "no stat %s", name);
    uint64_t n = v->via.u64;
    yard_rpc_response_free(&r);
    yard_rpc_client_close(&c);
    return n;
}

/* A plain socket for raw bytes. */
static int raw_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", F.path);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void raw_send(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        cr_assert_gt(w, 0, "send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Read one msgpack object from fd (5 s at most); false at end of stream. */
struct raw_reader {
    int fd;
    msgpack_unpacker up;
    msgpack_unpacked msg;
};

static void reader_init(struct raw_reader *r, int fd)
{
    r->fd = fd;
    cr_assert(msgpack_unpacker_init(&r->up, 4096));
    msgpack_unpacked_init(&r->msg);
}

static void reader_fini(struct raw_reader *r)
{
    msgpack_unpacked_destroy(&r->msg);
    msgpack_unpacker_destroy(&r->up);
}

static bool reader_next(struct raw_reader *r)
{
    for (;;) {
        msgpack_unpack_return ret = msgpack_unpacker_next(&r->up, &r->msg);
        if (ret == MSGPACK_UNPACK_SUCCESS)
            return true;
        cr_assert_eq(ret, MSGPACK_UNPACK_CONTINUE, "server sent something that is not msgpack");
        msgpack_unpacker_reserve_buffer(&r->up, 65536);
        ssize_t n = recv(r->fd, msgpack_unpacker_buffer(&r->up),
                         msgpack_unpacker_buffer_capacity(&r->up), 0);
        /* A close with unread input shows as a reset rather than an end. */
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return false;
        cr_assert_gt(n, 0, "recv: %s", strerror(errno));
        msgpack_unpacker_buffer_consumed(&r->up, (size_t)n);
    }
}

/* The response just read: checks its shape; returns the error code (0 for
 * a result) and the msgid (-1 for nil). */
static int64_t response_code(struct raw_reader *r, int64_t *msgid)
{
    const msgpack_object *o = &r->msg.data;
    cr_assert_eq(o->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(o->via.array.size, 4);
    const msgpack_object *a = o->via.array.ptr;
    cr_assert_eq(a[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    cr_assert_eq(a[0].via.u64, 1);
    if (a[1].type == MSGPACK_OBJECT_NIL)
        *msgid = -1;
    else
        *msgid = (int64_t)a[1].via.u64;
    if (a[2].type == MSGPACK_OBJECT_NIL)
        return 0;
    cr_assert_eq(a[2].type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(a[2].via.map.size, 2);
    const msgpack_object *code = yard_rpc_map_get(&a[2], "code");
    const msgpack_object *msg = yard_rpc_map_get(&a[2], "message");
    cr_assert_not_null(code);
    cr_assert_not_null(msg);
    cr_assert_eq(msg->type, MSGPACK_OBJECT_STR);
    cr_assert_gt(msg->via.str.size, 0, "an error has a message");
    cr_assert_eq(a[3].type, MSGPACK_OBJECT_NIL, "an error has no result");
    return code->via.i64;
}

/* Expect the next response to carry this msgid and code. */
static void expect_response(struct raw_reader *r, int64_t msgid, int64_t code)
{
    cr_assert(reader_next(r), "connection closed, expected msgid %ld code %ld", (long)msgid,
              (long)code);
    int64_t got_id;
    int64_t got_code = response_code(r, &got_id);
    cr_assert_eq(got_id, msgid, "msgid %ld, want %ld", (long)got_id, (long)msgid);
    cr_assert_eq(got_code, code, "code %ld, want %ld", (long)got_code, (long)code);
}

/* Pack a request [0, id, method, [ {} ]] into sb. */
static void pack_request(msgpack_sbuffer *sb, uint32_t id, const char *method)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    yard_rpc_pack_request_head(&pk, id, method);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    yard_rpc_pack_kv_u64(&pk, "id", id);
}

/* ------------------------------------------------------------ server */

struct echo_args {
    const char *name;
    uint64_t port;
};

static void pack_echo(msgpack_packer *pk, void *arg)
{
    struct echo_args *a = arg;
    msgpack_pack_map(pk, 3);
    yard_rpc_pack_kv_str(pk, "name", a->name);
    yard_rpc_pack_kv_u64(pk, "port", a->port);
    yard_rpc_pack_kv_bool(pk, "flag", true);
}

Test(server, echo_error_and_unknown_method, .init = setup_default, .fini = server_stop)
{
    struct yard_rpc_client c;
    struct yard_rpc_response r;
    char err[256];
    connect_client(&c);

    struct echo_args a = {"svc.echo", 4242};
    cr_assert_eq(yard_rpc_client_call(&c, "echo", pack_echo, &a, &r, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_not(r.is_error, "%s", r.message);
    cr_assert(yard_rpc_obj_streq(yard_rpc_map_get(&r.result, "name"), "svc.echo"));
    cr_assert_eq(yard_rpc_map_get(&r.result, "port")->via.u64, 4242);
    cr_assert(yard_rpc_map_get(&r.result, "flag")->via.boolean);
    yard_rpc_response_free(&r);

    /* no arguments: params [] becomes an empty map */
    cr_assert_eq(yard_rpc_client_call(&c, "echo", NULL, NULL, &r, err, sizeof(err)), 0);
    cr_assert_eq(r.result.type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(r.result.via.map.size, 0);
    yard_rpc_response_free(&r);

    cr_assert_eq(yard_rpc_client_call(&c, "no.such", NULL, NULL, &r, err, sizeof(err)), 0);
    cr_assert(r.is_error);
    cr_assert_eq(r.code, YARD_RPC_METHOD_NOT_FOUND);
    cr_assert(strstr(r.message, "no.such") != NULL, "%s", r.message);
    yard_rpc_response_free(&r);

    /* handler mistakes become internal errors, and the connection goes on */
    const char *bugs[] = {"noreply", "fail", "two"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(yard_rpc_client_call(&c, bugs[i], NULL, NULL, &r, err, sizeof(err)), 0);
        cr_assert(r.is_error, "%s", bugs[i]);
        cr_assert_eq(r.code, YARD_RPC_INTERNAL);
        cr_assert(strstr(r.message, bugs[i]) != NULL, "%s", r.message);
        yard_rpc_response_free(&r);
    }
    cr_assert_eq(yard_rpc_client_call(&c, "fail", NULL, NULL, &r, err, sizeof(err)), 0);
    cr_assert(strstr(r.message, strerror(EIO)) != NULL, "%s", r.message);
    yard_rpc_response_free(&r);
    yard_rpc_client_close(&c);
}

static void pack_error_args(msgpack_packer *pk, void *arg)
{
    (void)arg;
    msgpack_pack_map(pk, 2);
    yard_rpc_pack_kv_i64(pk, "code", YARD_RPC_CONFLICT);
    yard_rpc_pack_kv_str(pk, "message", "endpoint svc.a already has 10.0.0.1:9000");
}

Test(server, error_reply_carries_code_and_message, .init = setup_default, .fini = server_stop)
{
    struct yard_rpc_client c;
    struct yard_rpc_response r;
    char err[256];
    connect_client(&c);
    cr_assert_eq(yard_rpc_client_call(&c, "error", pack_error_args, NULL, &r, err, sizeof(err)), 0);
    cr_assert(r.is_error);
    cr_assert_eq(r.code, YARD_RPC_CONFLICT);
    cr_assert_str_eq(r.message, "endpoint svc.a already has 10.0.0.1:9000");
    cr_assert_eq(r.result.type, MSGPACK_OBJECT_NIL);
    yard_rpc_response_free(&r);
    yard_rpc_client_close(&c);
}

static void pack_defer(msgpack_packer *pk, void *arg)
{
    msgpack_pack_map(pk, 2);
    yard_rpc_pack_kv_u64(pk, "ms", *(uint64_t *)arg);
    yard_rpc_pack_kv_str(pk, "value", "later");
}

Test(server, deferred_completion, .init = setup_default, .fini = server_stop)
{
    struct yard_rpc_client c;
    struct yard_rpc_response r;
    char err[256];
    connect_client(&c);
    uint64_t ms = 150;
    uint64_t t0 = mono_ms();
    cr_assert_eq(yard_rpc_client_call(&c, "defer", pack_defer, &ms, &r, err, sizeof(err)), 0, "%s",
                 err);
    uint64_t took = mono_ms() - t0;
    cr_assert_not(r.is_error, "%s", r.message);
    cr_assert(yard_rpc_obj_streq(yard_rpc_map_get(&r.result, "value"), "later"));
    cr_assert_geq(took, 140, "answered after %lu ms, before the timer", (unsigned long)took);
    yard_rpc_response_free(&r);
    yard_rpc_client_close(&c);
    cr_assert_eq(server_stat("deferred"), 1);
    cr_assert_eq(server_stat("deferred_pending"), 0);
}

Test(server, deferred_answers_out_of_order_by_msgid, .init = setup_default, .fini = server_stop)
{
    int fd = raw_connect();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* id 7 waits 300 ms, id 8 waits 50 ms, id 9 answers at once */
    const uint32_t ids[] = {7, 8};
    const uint64_t mss[] = {300, 50};
    for (int i = 0; i < 2; i++) {
        yard_rpc_pack_request_head(&pk, ids[i], "defer");
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, 2);
        yard_rpc_pack_kv_u64(&pk, "ms", mss[i]);
        yard_rpc_pack_kv_u64(&pk, "value", ids[i]);
    }
    pack_request(&sb, 9, "echo");
    raw_send(fd, sb.data, sb.size);
    struct raw_reader r;
    reader_init(&r, fd);
    expect_response(&r, 9, 0);
    expect_response(&r, 8, 0);
    cr_assert_eq(yard_rpc_map_get(&r.msg.data.via.array.ptr[3], "value")->via.u64, 8);
    expect_response(&r, 7, 0);
    cr_assert_eq(yard_rpc_map_get(&r.msg.data.via.array.ptr[3], "value")->via.u64, 7);
    reader_fini(&r);
    msgpack_sbuffer_destroy(&sb);
    close(fd);
}

Test(server, client_leaves_while_call_is_kept, .init = setup_default, .fini = server_stop)
{
    /* Three kept calls; the client hangs up before any is answered. */
    int fd = raw_connect();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (uint32_t id = 1; id <= 3; id++) {
        yard_rpc_pack_request_head(&pk, id, "defer");
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, 1);
        yard_rpc_pack_kv_u64(&pk, "ms", 100 + 50 * id);
    }
    raw_send(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    /* let the server read them before the hang-up */
    uint64_t t0 = mono_ms();
    while (server_stat("deferred_pending") < 3 && mono_ms() - t0 < 2000)
        usleep(5000);
    cr_assert_eq(server_stat("deferred_pending"), 3);
    close(fd);
    t0 = mono_ms();
    while (server_stat("deferred_done") < 3 && mono_ms() - t0 < 3000)
        usleep(10000);
    cr_assert_eq(server_stat("deferred_done"), 3);
    cr_assert_eq(server_stat("deferred_abandoned"), 3, "handlers saw the client gone");
    cr_assert_eq(server_stat("abandoned"), 3);
    cr_assert_eq(server_stat("deferred_pending"), 0);
    /* and the server still serves */
    struct yard_rpc_client c;
    struct yard_rpc_response r;
    char err[256];
    connect_client(&c);
    cr_assert_eq(yard_rpc_client_call(&c, "echo", NULL, NULL, &r, err, sizeof(err)), 0);
    cr_assert_not(r.is_error);
    yard_rpc_response_free(&r);
    yard_rpc_client_close(&c);
}

Test(server, half_closed_client_still_gets_kept_answers, .init = setup_default, .fini = server_stop)
{
    int fd = raw_connect();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    yard_rpc_pack_request_head(&pk, 5, "defer");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    yard_rpc_pack_kv_u64(&pk, "ms", 100);
    raw_send(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    shutdown(fd, SHUT_WR);
    struct raw_reader r;
    reader_init(&r, fd);
    expect_response(&r, 5, 0);
    cr_assert_not(reader_next(&r), "the server closes once the last answer is out");
    reader_fini(&r);
    close(fd);
}

Test(server, split_and_pipelined_requests, .init = setup_default, .fini = server_stop)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint32_t id = 100; id < 110; id++)
        pack_request(&sb, id, "echo");

    /* one byte per write, with pauses so the server sees each piece */
    int fd = raw_connect();
    struct raw_reader r;
    reader_init(&r, fd);
    size_t first = 0;
    {
        struct yard_rpc_scan s;
        yard_rpc_scan_reset(&s);
        cr_assert_eq(yard_rpc_scan_next(&s, (const uint8_t *)sb.data, sb.size, 1 << 20, &first),
                     YARD_RPC_SCAN_COMPLETE);
    }
    for (size_t i = 0; i < first; i++) {
        raw_send(fd, sb.data + i, 1);
        usleep(2000);
    }
    expect_response(&r, 100, 0);
    cr_assert_eq(yard_rpc_map_get(&r.msg.data.via.array.ptr[3], "id")->via.u64, 100);

    /* the other nine in one write, and in odd-sized pieces */
    raw_send(fd, sb.data + first, (sb.size - first) / 2);
    usleep(20000);
    raw_send(fd, sb.data + first + (sb.size - first) / 2, sb.size - first - (sb.size - first) / 2);
    for (uint32_t id = 101; id < 110; id++) {
        expect_response(&r, id, 0);
        cr_assert_eq(yard_rpc_map_get(&r.msg.data.via.array.ptr[3], "id")->via.u64, id);
    }
    reader_fini(&r);
    close(fd);
    msgpack_sbuffer_destroy(&sb);
}

/* Send raw bytes on a fresh connection, expect one answer with this msgid
 * and code, then either a working connection or a closed one. */
static void malformed_case(const void *bytes, size_t n, int64_t msgid, int64_t code,
                           bool stays_open)
{
    int fd = raw_connect();
    raw_send(fd, bytes, n);
    struct raw_reader r;
    reader_init(&r, fd);
    expect_response(&r, msgid, code);
    if (stays_open) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        pack_request(&sb, 77, "echo");
        raw_send(fd, sb.data, sb.size);
        expect_response(&r, 77, 0);
        msgpack_sbuffer_destroy(&sb);
    } else {
        cr_assert_not(reader_next(&r), "connection should be closed");
    }
    reader_fini(&r);
    close(fd);
}

Test(server, malformed_objects_get_answers_and_connection_stays, .init = setup_default,
     .fini = server_stop)
{
    /* not an array */
    const uint8_t map[] = {0x81, 0xa1, 'a', 0x01};
    malformed_case(map, sizeof(map), -1, YARD_RPC_INVALID_REQUEST, true);
    const uint8_t fixint[] = {0x2a};
    malformed_case(fixint, sizeof(fixint), -1, YARD_RPC_INVALID_REQUEST, true);
    const uint8_t empty[] = {0x90};
    malformed_case(empty, sizeof(empty), -1, YARD_RPC_INVALID_REQUEST, true);
    /* wrong arity, msgid found */
    const uint8_t three[] = {0x93, 0x00, 0x05, 0xa4, 'e', 'c', 'h', 'o'};
    malformed_case(three, sizeof(three), 5, YARD_RPC_INVALID_REQUEST, true);
    const uint8_t five[] = {0x95, 0x00, 0xcd, 0x01, 0x00, 0xa4, 'e', 'c', 'h', 'o', 0x90, 0xc0};
    malformed_case(five, sizeof(five), 256, YARD_RPC_INVALID_REQUEST, true);
    /* msgid of the wrong type or range: answered with nil */
    const uint8_t strid[] = {0x94, 0x00, 0xa1, 'x', 0xa4, 'e', 'c', 'h', 'o', 0x90};
    malformed_case(strid, sizeof(strid), -1, YARD_RPC_INVALID_REQUEST, true);
    const uint8_t negid[] = {0x94, 0x00, 0xff, 0xa4, 'e', 'c', 'h', 'o', 0x90};
    malformed_case(negid, sizeof(negid), -1, YARD_RPC_INVALID_REQUEST, true);
    const uint8_t bigid[] = {0x94, 0x00, 0xcf, 0,   0,   0,   1,   0,   0,
                             0,    0,    0xa4, 'e', 'c', 'h', 'o', 0x90};
    malformed_case(bigid, sizeof(bigid), -1, YARD_RPC_INVALID_REQUEST, true);
    /* method not a string, empty, too long */
    const uint8_t intmethod[] = {0x94, 0x00, 0x06, 0x07, 0x90};
    malformed_case(intmethod, sizeof(intmethod), 6, YARD_RPC_INVALID_REQUEST, true);
    const uint8_t nomethod[] = {0x94, 0x00, 0x06, 0xa0, 0x90};
    malformed_case(nomethod, sizeof(nomethod), 6, YARD_RPC_INVALID_REQUEST, true);
    uint8_t longm[5 + 2 + 100] = {0x94, 0x00, 0x06, 0xd9, 100};
    memset(longm + 5, 'm', 100);
    longm[105] = 0x90;
    malformed_case(longm, 106, 6, YARD_RPC_INVALID_REQUEST, true);
    /* params neither array nor map */
    const uint8_t intparams[] = {0x94, 0x00, 0x08, 0xa4, 'e', 'c', 'h', 'o', 0x03};
    malformed_case(intparams, sizeof(intparams), 8, YARD_RPC_INVALID_REQUEST, true);
    /* params an array, but not [ {map} ] */
    const uint8_t posparams[] = {0x94, 0x00, 0x09, 0xa4, 'e', 'c', 'h', 'o', 0x92, 0x01, 0x02};
    malformed_case(posparams, sizeof(posparams), 9, YARD_RPC_INVALID_PARAMS, true);
    const uint8_t strparam[] = {0x94, 0x00, 0x09, 0xa4, 'e', 'c', 'h', 'o', 0x91, 0xa1, 'x'};
    malformed_case(strparam, sizeof(strparam), 9, YARD_RPC_INVALID_PARAMS, true);
    /* a response or an unknown type sent to the server */
    const uint8_t resp[] = {0x94, 0x01, 0x0a, 0xc0, 0xc0};
    malformed_case(resp, sizeof(resp), 10, YARD_RPC_INVALID_REQUEST, true);
    const uint8_t type7[] = {0x94, 0x07, 0x0b, 0xa4, 'e', 'c', 'h', 'o', 0x90};
    malformed_case(type7, sizeof(type7), 11, YARD_RPC_INVALID_REQUEST, true);
    /* nested too deep: skipped whole, msgid still found */
    uint8_t deep[64] = {0x94, 0x00, 0x0c, 0xa4, 'e', 'c', 'h', 'o'};
    size_t dn = 8 + nested(deep + 8, YARD_RPC_MAX_DEPTH);
    malformed_case(deep, dn, 12, YARD_RPC_INVALID_REQUEST, true);
    /* a bare map as params is accepted */
    const uint8_t bare[] = {0x94, 0x00, 0x0d, 0xa4, 'e', 'c', 'h', 'o', 0x80};
    malformed_case(bare, sizeof(bare), 13, 0, true);
    cr_assert_eq(server_stat("malformed"), 15);
}

Test(server, garbage_and_huge_prefixes_close_the_connection, .init = setup_default,
     .fini = server_stop)
{
    const uint8_t c1[] = {0xc1, 0x00, 0x01};
    malformed_case(c1, sizeof(c1), -1, YARD_RPC_PARSE_ERROR, false);
    /* 0xc1 inside a request */
    const uint8_t inner[] = {0x94, 0x00, 0x03, 0xc1};
    malformed_case(inner, sizeof(inner), -1, YARD_RPC_PARSE_ERROR, false);
    /* a request claiming 4 GiB of elements or bytes: judged from the prefix */
    const uint8_t arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    malformed_case(arr, sizeof(arr), -1, YARD_RPC_INVALID_REQUEST, false);
    const uint8_t str[] = {0x94, 0x00, 0x21, 0xdb, 0xff, 0xff, 0xff, 0xff};
    malformed_case(str, sizeof(str), 0x21, YARD_RPC_INVALID_REQUEST, false);
    const uint8_t map[] = {0x94, 0x00, 0x22, 0xa1, 'x', 0xdf, 0x7f, 0xff, 0xff, 0xff};
    malformed_case(map, sizeof(map), 0x22, YARD_RPC_INVALID_REQUEST, false);
    /* a real 2 MiB request, over the 1 MiB limit */
    size_t big = 2u << 20;
    uint8_t *b = malloc(big + 16);
    memcpy(b,
           (const uint8_t[]){0x94, 0x00, 0x23, 0xa4, 'e', 'c', 'h', 'o', 0x91, 0xc6, 0x00, 0x20,
                             0x00, 0x00},
           14);
    memset(b + 14, 0x55, big);
    int fd = raw_connect();
    /* the server answers and closes before reading it all: sending may fail */
    size_t off = 0;
    while (off < 65536 + 14) {
        ssize_t w = send(fd, b + off, 65536 + 14 - off, MSG_NOSIGNAL);
        cr_assert_gt(w, 0);
        off += (size_t)w;
    }
    struct raw_reader r;
    reader_init(&r, fd);
    expect_response(&r, 0x23, YARD_RPC_INVALID_REQUEST);
    cr_assert(strstr(r.msg.data.via.array.ptr[2].via.map.ptr[1].val.via.str.ptr, "limit") != NULL);
    cr_assert_not(reader_next(&r));
    reader_fini(&r);
    close(fd);
    free(b);
    cr_assert_eq(server_stat("connections_closed_by_server"), 6);
}

Test(server, notifications_are_ignored, .init = setup_default, .fini = server_stop)
{
    int fd = raw_connect();
    const uint8_t note[] = {0x93, 0x02, 0xa4, 'e', 'c', 'h', 'o', 0x90};
    raw_send(fd, note, sizeof(note));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, 31, "echo");
    raw_send(fd, sb.data, sb.size);
    struct raw_reader r;
    reader_init(&r, fd);
    expect_response(&r, 31, 0); /* the first answer is the request's */
    reader_fini(&r);
    msgpack_sbuffer_destroy(&sb);
    close(fd);
    cr_assert_eq(server_stat("notifications"), 1);
}

Test(server, random_bytes_never_crash_it, .init = setup_default, .fini = server_stop)
{
    srand(99);
    for (int i = 0; i < 200; i++) {
        uint8_t buf[256];
        size_t n = 1 + (size_t)(rand() % (int)sizeof(buf));
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)rand();
        if (i % 2)
            buf[0] = (uint8_t)(0x94 + 0); /* look like a request */
        int fd = raw_connect();
        send(fd, buf, n, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        char sink[4096];
        while (recv(fd, sink, sizeof(sink), 0) > 0)
            ;
        close(fd);
    }
    struct yard_rpc_client c;
    struct yard_rpc_response r;
    char err[256];
    connect_client(&c);
    cr_assert_eq(yard_rpc_client_call(&c, "echo", NULL, NULL, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_not(r.is_error);
    yard_rpc_response_free(&r);
    yard_rpc_client_close(&c);
}

static void setup_small_limits(void)
{
    struct yard_rpc_limits lim = {.max_connections = 8, .max_output_bytes = 4u << 20};
    server_start(&lim);
}

Test(server, connection_flood_beyond_the_limit, .init = setup_small_limits, .fini = server_stop)
{
    struct yard_rpc_client held[8];
    char err[256];
    for (int i = 0; i < 8; i++)
        connect_client(&held[i]);
    /* the server keeps serving its 8 ... */
    struct yard_rpc_response r;
    cr_assert_eq(yard_rpc_client_call(&held[0], "echo", NULL, NULL, &r, err, sizeof(err)), 0);
    yard_rpc_response_free(&r);
    /* ... and tells 40 more why it will not */
    for (int i = 0; i < 40; i++) {
        int fd = raw_connect();
        struct raw_reader rd;
        reader_init(&rd, fd);
        expect_response(&rd, -1, YARD_RPC_NO_SPACE);
        cr_assert_not(reader_next(&rd));
        reader_fini(&rd);
        close(fd);
    }
    /* the blocking client reports it as the call's error */
    struct yard_rpc_client extra;
    connect_client(&extra);
    cr_assert_eq(yard_rpc_client_call(&extra, "echo", NULL, NULL, &r, err, sizeof(err)), 0);
    cr_assert(r.is_error);
    cr_assert_eq(r.code, YARD_RPC_NO_SPACE);
    cr_assert(strstr(r.message, "at most 8 connections") != NULL, "%s", r.message);
    yard_rpc_response_free(&r);
    yard_rpc_client_close(&extra);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(yard_rpc_client_call(&held[i], "echo", NULL, NULL, &r, err, sizeof(err)), 0,
                     "%s", err);
        cr_assert_not(r.is_error, "held connection %d: %s", i, r.message);
        yard_rpc_response_free(&r);
    }
    /* one leaves, one more gets in */
    yard_rpc_client_close(&held[7]);
    usleep(50000);
    connect_client(&held[7]);
    cr_assert_eq(yard_rpc_client_call(&held[7], "echo", NULL, NULL, &r, err, sizeof(err)), 0);
    cr_assert_not(r.is_error, "%s", r.message);
    yard_rpc_response_free(&r);
    for (int i = 0; i < 7; i++)
        yard_rpc_client_close(&held[i]);
    cr_assert_geq(server_stat("connections_refused"), 41);
    yard_rpc_client_close(&held[7]);
}

Test(server, client_that_does_not_read_is_paused_then_dropped, .init = setup_small_limits,
     .fini = server_stop)
{
    /* 40 requests for 256 KiB each (10 MiB) without reading: the server
     * stops reading past 1 MiB of unsent answers, so nothing is dropped ... */
    int fd = raw_connect();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (uint32_t id = 1; id <= 40; id++) {
        yard_rpc_pack_request_head(&pk, id, "big");
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, 1);
        yard_rpc_pack_kv_u64(&pk, "bytes", 256 * 1024);
    }
    raw_send(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    usleep(200000);
    struct raw_reader r;
    reader_init(&r, fd);
    for (uint32_t id = 1; id <= 40; id++) {
        expect_response(&r, id, 0);
        const msgpack_object *res = &r.msg.data.via.array.ptr[3];
        cr_assert_eq(res->type, MSGPACK_OBJECT_BIN);
        cr_assert_eq(res->via.bin.size, 256 * 1024);
        cr_assert_eq((uint8_t)res->via.bin.ptr[1000], 1000 & 0xff);
    }
    reader_fini(&r);
    close(fd);

    /* ... but one answer larger than max_output_bytes (4 MiB) is */
    struct yard_rpc_client c;
    struct yard_rpc_response resp;
    char err[256];
    connect_client(&c);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 1);
    yard_rpc_pack_kv_u64(&pk, "bytes", 6u << 20);
    int rc = yard_rpc_client_call_raw(&c, "big", sb.data, sb.size, &resp, err, sizeof(err));
    cr_assert_eq(rc, -ECONNRESET, "rc %d: %s", rc, err);
    cr_assert(strstr(err, "closed the connection") != NULL, "%s", err);
    msgpack_sbuffer_destroy(&sb);
    yard_rpc_client_close(&c);
    cr_assert_eq(server_stat("connections_closed_by_server"), 1);
}

/* ------------------------------------------------------------ socket file */

Test(socket, mode_is_exact_whatever_the_umask)
{
    struct fixture f = {0};
    make_dir(&f);
    struct yard_loop loop;
    cr_assert_eq(yard_loop_init(&loop), 0);
    struct rpc_test_ctx ctx = {.loop = &loop};
    char err[256];
    const mode_t modes[] = {0660, 0600, 0666};
    const mode_t umasks[] = {0, 022, 077};
    for (int i = 0; i < 3; i++) {
        mode_t old = umask(umasks[i]);
        struct yard_rpc_server *srv;
        cr_assert_eq(yard_rpc_server_open(&srv, &loop, f.path, modes[i], rpc_test_dispatch, &ctx,
                                          err, sizeof(err)),
                     0, "%s", err);
        umask(old);
        struct stat st;
        cr_assert_eq(stat(f.path, &st), 0);
        cr_assert(S_ISSOCK(st.st_mode));
        cr_assert_eq(st.st_mode & 07777, modes[i], "mode %o with umask %o, want %o",
                     st.st_mode & 07777, umasks[i], modes[i]);
        /* the created directory is 0755 */
        char dir[128];
        snprintf(dir, sizeof(dir), "%s/run", f.dir);
        cr_assert_eq(stat(dir, &st), 0);
        cr_assert(S_ISDIR(st.st_mode));
        yard_rpc_server_close(srv);
        cr_assert_eq(access(f.path, F_OK), -1, "close removes the socket file");
    }
    yard_loop_fini(&loop);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f.dir);
    cr_assert_eq(system(cmd), 0);
}

/* A socket file left by a server that died: bound, never unlinked. */
static void leave_stale_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
}

Test(socket, stale_replaced_live_refused_file_kept)
{
    struct fixture f = {0};
    make_dir(&f);
    char err[256];
    struct yard_loop loop;
    cr_assert_eq(yard_loop_init(&loop), 0);
    struct rpc_test_ctx ctx = {.loop = &loop};
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/run", f.dir);
    cr_assert_eq(mkdir(dir, 0755), 0);

    /* stale: the client says nobody listens, the server takes it over */
    leave_stale_socket(f.path);
    struct yard_rpc_client c;
    cr_assert_eq(yard_rpc_client_connect(&c, f.path, 1000, err, sizeof(err)), -ECONNREFUSED);
    cr_assert(strstr(err, "is yard-control running?") != NULL, "%s", err);
    struct yard_rpc_server *srv;
    cr_assert_eq(
        yard_rpc_server_open(&srv, &loop, f.path, 0660, rpc_test_dispatch, &ctx, err, sizeof(err)),
        0, "%s", err);

    /* live: a second server is refused and the first keeps its socket */
    struct stat before, after;
    cr_assert_eq(stat(f.path, &before), 0);
    struct yard_rpc_server *second;
    int rc = yard_rpc_server_open(&second, &loop, f.path, 0660, rpc_test_dispatch, &ctx, err,
                                  sizeof(err));
    cr_assert_eq(rc, -EADDRINUSE, "rc %d: %s", rc, err);
    cr_assert(strstr(err, "already running") != NULL, "%s", err);
    cr_assert_null(second);
    cr_assert_eq(stat(f.path, &after), 0);
    cr_assert_eq(before.st_ino, after.st_ino, "the live socket file is untouched");
    yard_rpc_server_close(srv);

    /* something else at the path is never removed */
    int fd = open(f.path, O_CREAT | O_WRONLY, 0644);
    cr_assert_geq(fd, 0);
    close(fd);
    rc = yard_rpc_server_open(&srv, &loop, f.path, 0660, rpc_test_dispatch, &ctx, err, sizeof(err));
    cr_assert_eq(rc, -EEXIST, "%s", err);
    cr_assert(strstr(err, "not a socket") != NULL, "%s", err);
    struct stat st;
    cr_assert_eq(stat(f.path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));

    /* a path too long for a unix socket */
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    cr_assert_eq(yard_rpc_server_open(&srv, &loop, longpath, 0660, rpc_test_dispatch, &ctx, err,
                                      sizeof(err)),
                 -ENAMETOOLONG);
    yard_loop_fini(&loop);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f.dir);
    cr_assert_eq(system(cmd), 0);
}

Test(socket, close_leaves_a_successors_socket_alone)
{
    struct fixture f = {0};
    make_dir(&f);
    char err[256];
    struct yard_loop loop;
    cr_assert_eq(yard_loop_init(&loop), 0);
    struct rpc_test_ctx ctx = {.loop = &loop};
    struct yard_rpc_server *srv;
    cr_assert_eq(
        yard_rpc_server_open(&srv, &loop, f.path, 0660, rpc_test_dispatch, &ctx, err, sizeof(err)),
        0);
    /* someone replaced the file (an operator, a new daemon) */
    cr_assert_eq(unlink(f.path), 0);
    leave_stale_socket(f.path);
    yard_rpc_server_close(srv);
    cr_assert_eq(access(f.path, F_OK), 0, "not ours: left in place");
    yard_loop_fini(&loop);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f.dir);
    cr_assert_eq(system(cmd), 0);
}

/* ------------------------------------------------------------ client */

Test(client, missing_socket_says_so)
{
    struct yard_rpc_client c;
    char err[256];
    int rc = yard_rpc_client_connect(&c, "/tmp/yard-rpc-test-nonexistent/x.sock", 1000, err,
                                     sizeof(err));
    cr_assert_eq(rc, -ENOENT);
    cr_assert(strstr(err, "is yard-control running? socket /tmp/yard-rpc-test-nonexistent/x.sock: "
                          "No such file or directory") != NULL,
              "%s", err);
}

Test(client, permission_denied_names_mode_and_group, .init = setup_default, .fini = server_stop)
{
    cr_assert_eq(chmod(F.dir, 0755), 0);
    char rundir[128];
    snprintf(rundir, sizeof(rundir), "%s/run", F.dir);
    cr_assert_eq(chmod(F.path, 0660), 0);
    cr_assert_eq(chown(F.path, 0, 0), 0);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* as nobody, who is neither the owner nor in group root */
        close(pfd[0]);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(9);
        struct yard_rpc_client c;
        char err[512] = "";
        int rc = yard_rpc_client_connect(&c, F.path, 1000, err, sizeof(err));
        dprintf(pfd[1], "%d %s", rc, err);
        _exit(0);
    }
    close(pfd[1]);
    char out[600] = "";
    ssize_t n = read(pfd[0], out, sizeof(out) - 1);
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed");
    cr_assert_gt(n, 0);
    cr_assert(strncmp(out, "-13 ", 4) == 0, "%s", out);
    cr_assert(strstr(out, "permission denied on socket") != NULL, "%s", out);
    cr_assert(strstr(out, "mode 0660") != NULL && strstr(out, "group root") != NULL, "%s", out);
}

Test(client, timeout_when_nobody_answers)
{
    /* a listening socket that never accepts: connect succeeds (backlog),
     * the answer never comes */
    struct fixture f = {0};
    make_dir(&f);
    snprintf(f.path, sizeof(f.path), "%s/mute.sock", f.dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.path);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(lfd, 4), 0);
    struct yard_rpc_client c;
    struct yard_rpc_response r;
    char err[256];
    cr_assert_eq(yard_rpc_client_connect(&c, f.path, 300, err, sizeof(err)), 0, "%s", err);
    uint64_t t0 = mono_ms();
    int rc = yard_rpc_client_call(&c, "status.get", NULL, NULL, &r, err, sizeof(err));
    uint64_t took = mono_ms() - t0;
    cr_assert_eq(rc, -ETIMEDOUT, "%d %s", rc, err);
    cr_assert(took >= 290 && took < 1500, "took %lu ms", (unsigned long)took);
    cr_assert(strstr(err, "no answer") != NULL && strstr(err, "300 ms") != NULL, "%s", err);
    yard_rpc_client_close(&c);
    close(lfd);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f.dir);
    cr_assert_eq(system(cmd), 0);
}
