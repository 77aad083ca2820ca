/*
 * test_http.c - the HTTP server as scrapers, health checkers and
 * misbehaving clients see it: real TCP sockets on 127.0.0.1, an ephemeral
 * port, the real event loop running in its own thread (it is the only
 * thread that touches the loop and the server) and blocking clients in the
 * test's thread.
 *
 * Covered: GET and HEAD, keep-alive, Connection: close, HTTP/1.0,
 * pipelining, requests split into single bytes, oversized headers, bad
 * methods and garbage, unknown paths, idle and trickling clients closed by
 * the timeout while others are served, many connections, the connection
 * limit, a large response to a slow reader, a client that pipelines
 * without reading, and listen errors.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

#define IDLE_MS   300
#define BIG_BYTES (1u << 20)

static struct yard_loop loop;
static struct yard_http_server *srv;
static pthread_t loop_thread;
static atomic_bool loop_stop;
static uint16_t port;
static unsigned counter; /* /count: touched only by the loop's thread */
static struct yard_http_stats final_stats;

/* ---- handlers ---- */

static int h_hello(const struct yard_http_request *req, struct yard_http_reply *reply, void *arg)
{
    (void)req;
    (void)arg;
    yard_buf_puts(&reply->body, "hello\n");
    return 200;
}

static int h_health(const struct yard_http_request *req, struct yard_http_reply *reply, void *arg)
{
    (void)req;
    (void)arg;
    reply->content_type = YARD_HTTP_JSON;
    yard_buf_puts(&reply->body, "{\"live\":true,\"ready\":false,\"reason\":\"dataplane down\"}");
    return 503;
}

static int h_count(const struct yard_http_request *req, struct yard_http_reply *reply, void *arg)
{
    (void)req;
    (void)arg;
    yard_buf_printf(&reply->body, "%u", ++counter);
    return 200;
}

static int h_echo(const struct yard_http_request *req, struct yard_http_reply *reply, void *arg)
{
    (void)arg;
    const char *x = yard_http_header(req, "x-test");
    yard_buf_printf(&reply->body, "%s %s query=%s x-test=%s", req->method, req->path, req->query,
                    x ? x : "(none)");
    return 200;
}

static int h_big(const struct yard_http_request *req, struct yard_http_reply *reply, void *arg)
{
    (void)req;
    (void)arg;
    yard_buf_reserve(&reply->body, BIG_BYTES);
    for (unsigned i = 0; i < BIG_BYTES; i++)
        reply->body.data[i] = (char)('a' + i % 26);
    reply->body.len = BIG_BYTES;
    return 200;
}

/* ---- the server in its thread ---- */

static void *run_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&loop_stop))
        yard_loop_run_once(&loop, 10);
    final_stats = *yard_http_stats(srv);
    yard_http_stop(srv);
    yard_loop_fini(&loop);
    return NULL;
}

static void start_server(unsigned max_conns)
{
    char err[256];
    cr_assert_eq(yard_loop_init(&loop), 0);
    struct yard_http_config cfg = {
        .listen = "127.0.0.1:0", .idle_timeout_ms = IDLE_MS, .max_conns = max_conns};
    int rc = yard_http_start(&srv, &loop, &cfg, err, sizeof(err));
    cr_assert_eq(rc, 0, "yard_http_start: %s", err);
    cr_assert_eq(yard_http_route(srv, "/hello", h_hello, NULL), 0);
    cr_assert_eq(yard_http_route(srv, "/health", h_health, NULL), 0);
    cr_assert_eq(yard_http_route(srv, "/count", h_count, NULL), 0);
    cr_assert_eq(yard_http_route(srv, "/echo", h_echo, NULL), 0);
    cr_assert_eq(yard_http_route(srv, "/big", h_big, NULL), 0);
    port = yard_http_port(srv);
    cr_assert_neq(port, 0);
    atomic_store(&loop_stop, false);
    cr_assert_eq(pthread_create(&loop_thread, NULL, run_loop, NULL), 0);
}

static void setup(void)
{
    start_server(0);
}

static void stop_server(void)
{
    atomic_store(&loop_stop, true);
    pthread_join(loop_thread, NULL);
}

/* ---- a blocking client ---- */

struct client {
    int fd;
    char *buf;
    size_t len, cap;
};

struct response {
    int status;
    char head[4096];
    char *body;
    size_t body_len;
};

static void client_open(struct client *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(c->fd, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
                 strerror(errno));
    struct timeval tv = {.tv_sec = 3};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->cap = 1 << 16;
    c->buf = malloc(c->cap);
    cr_assert_not_null(c->buf);
}

static void client_close(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

static void send_str(struct client *c, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t k = send(c->fd, s, n, MSG_NOSIGNAL);
        cr_assert_gt(k, 0, "send: %s", strerror(errno));
        s += k;
        n -= (size_t)k;
    }
}

/* Read more into the client's buffer; bytes read, 0 at EOF, -1 on error or timeout. */
static ssize_t fill(struct client *c)
{
    if (c->len == c->cap) {
        c->cap *= 2;
        c->buf = realloc(c->buf, c->cap);
        cr_assert_not_null(c->buf);
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n > 0)
        c->len += (size_t)n;
    return n;
}

static const char *header_value(const struct response *r, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (*v == ' ')
                v++;
            size_t k = strcspn(v, "\r");
            if (k >= len)
                k = len - 1;
            memcpy(out, v, k);
            out[k] = '\0';
            return out;
        }
    }
    return NULL;
}

/* One response; head: the request was HEAD (no body follows). 0, or -1
 * when the connection ended or timed out first. */
static int read_response(struct client *c, struct response *r, bool head)
{
    memset(r, 0, sizeof(*r));
    char *end;
    for (;;) {
        end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (end != NULL)
            break;
        if (fill(c) <= 0)
            return -1;
    }
    size_t head_len = (size_t)(end - c->buf) + 4;
    cr_assert_lt(head_len, sizeof(r->head));
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    cr_assert_eq(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1, "status line: %s", r->head);
    char v[64];
    size_t body = 0;
    if (!head && header_value(r, "Content-Length", v, sizeof(v)) != NULL)
        body = strtoul(v, NULL, 10);
    while (c->len < head_len + body)
        if (fill(c) <= 0)
            return -1;
    r->body = malloc(body + 1);
    memcpy(r->body, c->buf + head_len, body);
    r->body[body] = '\0';
    r->body_len = body;
    memmove(c->buf, c->buf + head_len + body, c->len - head_len - body);
    c->len -= head_len + body;
    return 0;
}

static void response_free(struct response *r)
{
    free(r->body);
    r->body = NULL;
}

/* The server closed the connection (EOF or reset) within timeout_ms. */
static bool closed_within(struct client *c, int timeout_ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    for (;;) {
        if (poll(&p, 1, timeout_ms) <= 0)
            return false;
        char tmp[4096];
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            return false;
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void get_ok(struct client *c, const char *path, const char *expect_body)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    send_str(c, req);
    struct response r;
    cr_assert_eq(read_response(c, &r, false), 0, "no response to GET %s", path);
    cr_assert_eq(r.status, 200, "GET %s: %d", path, r.status);
    if (expect_body != NULL)
        cr_assert_str_eq(r.body, expect_body);
    response_free(&r);
}

/* ---- tests ---- */

TestSuite(http, .init = setup, .fini = stop_server, .timeout = 30);

Test(http, get_and_head)
{
    struct client c;
    client_open(&c);
    send_str(&c, "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n");
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello\n");
    char v[128];
    cr_assert_str_eq(header_value(&r, "Content-Type", v, sizeof(v)), "text/plain; charset=utf-8");
    cr_assert_str_eq(header_value(&r, "Content-Length", v, sizeof(v)), "6");
    cr_assert_not_null(header_value(&r, "Date", v, sizeof(v)));
    cr_assert_null(header_value(&r, "Connection", v, sizeof(v)), "HTTP/1.1 keeps the connection");
    response_free(&r);

    /* HEAD: same headers, no body: the next response follows the head directly */
    send_str(&c, "HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_eq(read_response(&c, &r, true), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(header_value(&r, "Content-Length", v, sizeof(v)), "6");
    response_free(&r);
    get_ok(&c, "/hello", "hello\n");
    cr_assert_eq(c.len, 0, "no stray bytes after the responses");
    client_close(&c);
}

Test(http, keep_alive_serves_two_requests_on_one_connection)
{
    struct client c;
    client_open(&c);
    get_ok(&c, "/count", "1");
    get_ok(&c, "/count", "2");
    client_close(&c);
    stop_server();
    cr_assert_eq(final_stats.accepted, 1, "both requests on one connection");
    cr_assert_eq(final_stats.requests, 2);
    cr_assert_eq(final_stats.status[2], 2);
    start_server(0); /* for the suite's fini */
}

Test(http, connection_close_is_honoured)
{
    struct client c;
    client_open(&c);
    send_str(&c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    char v[64];
    cr_assert_str_eq(header_value(&r, "Connection", v, sizeof(v)), "close");
    cr_assert_str_eq(r.body, "hello\n");
    response_free(&r);
    cr_assert(closed_within(&c, 1000), "the server must close after Connection: close");
    client_close(&c);
}

Test(http, http10_closes_unless_keep_alive)
{
    struct client c;
    client_open(&c);
    send_str(&c, "GET /hello HTTP/1.0\r\n\r\n");
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 200);
    response_free(&r);
    cr_assert(closed_within(&c, 1000));
    client_close(&c);

    client_open(&c);
    send_str(&c, "GET /hello HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    cr_assert_eq(read_response(&c, &r, false), 0);
    char v[64];
    cr_assert_str_eq(header_value(&r, "Connection", v, sizeof(v)), "keep-alive");
    response_free(&r);
    get_ok(&c, "/hello", "hello\n");
    client_close(&c);
}

Test(http, pipelined_requests_are_answered_in_order)
{
    struct client c;
    client_open(&c);
    send_str(&c, "GET /count HTTP/1.1\r\n\r\nGET /count HTTP/1.1\r\n\r\n"
                 "HEAD /hello HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
                 "GET /echo?a=1 HTTP/1.1\r\nX-Test:  spaced  \r\n\r\n");
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_str_eq(r.body, "1");
    response_free(&r);
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_str_eq(r.body, "2");
    response_free(&r);
    cr_assert_eq(read_response(&c, &r, true), 0);
    cr_assert_eq(r.status, 200);
    response_free(&r);
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 404);
    response_free(&r);
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_str_eq(r.body, "GET /echo query=a=1 x-test=spaced");
    response_free(&r);
    client_close(&c);
}

Test(http, request_split_into_single_bytes)
{
    struct client c;
    client_open(&c);
    const char *req = "GET /echo?split=yes HTTP/1.1\r\nHost: t\r\nX-Test: bytes\r\n\r\n";
    for (const char *p = req; *p != '\0'; p++) {
        cr_assert_eq(send(c.fd, p, 1, MSG_NOSIGNAL), 1);
        usleep(2000);
    }
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_str_eq(r.body, "GET /echo query=split=yes x-test=bytes");
    response_free(&r);
    /* bare LF line ends are accepted too */
    send_str(&c, "GET /hello HTTP/1.1\nHost: t\n\n");
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 200);
    response_free(&r);
    client_close(&c);
}

Test(http, oversized_headers_get_431_and_close)
{
    struct client c;
    client_open(&c);
    send_str(&c, "GET /hello HTTP/1.1\r\n");
    char line[128];
    memset(line, 'a', sizeof(line));
    memcpy(line, "X-Pad: ", 7);
    line[sizeof(line) - 3] = '\r';
    line[sizeof(line) - 2] = '\n';
    line[sizeof(line) - 1] = '\0';
    for (int i = 0; i < 80; i++) /* about 10 KiB, never ending the block */
        send_str(&c, line);
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 431);
    char v[64];
    cr_assert_str_eq(header_value(&r, "Connection", v, sizeof(v)), "close");
    response_free(&r);
    cr_assert(closed_within(&c, 3000));
    client_close(&c);

    /* a request line alone over the limit */
    client_open(&c);
    send_str(&c, "GET /");
    char path[1025];
    memset(path, 'p', 1024);
    path[1024] = '\0';
    for (int i = 0; i < 9; i++)
        send_str(&c, path);
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 414);
    response_free(&r);
    cr_assert(closed_within(&c, 3000));
    client_close(&c);

    /* a block just under the limit is fine */
    client_open(&c);
    char big[8000];
    memset(big, 'b', sizeof(big));
    memcpy(big, "GET /hello HTTP/1.1\r\nX-Big: ", 28);
    memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
    send_str(&c, big);
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 200);
    response_free(&r);
    client_close(&c);
}

Test(http, bad_methods_get_405)
{
    struct client c;
    client_open(&c);
    send_str(&c, "POST /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 405);
    char v[64];
    cr_assert_str_eq(header_value(&r, "Allow", v, sizeof(v)), "GET, HEAD");
    response_free(&r);
    /* no body: the connection stays usable */
    send_str(&c, "DELETE /metrics HTTP/1.1\r\n\r\n");
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 405);
    response_free(&r);
    get_ok(&c, "/hello", "hello\n");

    /* with a body the server cannot know where the next request starts: close */
    send_str(&c, "PUT /hello HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde");
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 405);
    cr_assert_str_eq(header_value(&r, "Connection", v, sizeof(v)), "close");
    response_free(&r);
    cr_assert(closed_within(&c, 3000));
    client_close(&c);
}

static void expect_error(const char *request, int status)
{
    struct client c;
    client_open(&c);
    send_str(&c, request);
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0, "no answer to %s", request);
    cr_assert_eq(r.status, status, "%s: got %d, expected %d", request, r.status, status);
    response_free(&r);
    cr_assert(closed_within(&c, 3000), "closed after a %d", status);
    client_close(&c);
}

Test(http, garbage_gets_400_and_close)
{
    expect_error("\x01\x02\x03 garbage\r\n\r\n", 400);
    expect_error("GET\r\n\r\n", 400);
    expect_error("GET /hello\r\n\r\n", 400);
    expect_error("GET /hello HTTX/1.1\r\n\r\n", 400);
    expect_error("GET /hello HTTP/2.0\r\n\r\n", 505);
    expect_error("GET hello HTTP/1.1\r\n\r\n", 400);
    expect_error("GET /hello HTTP/1.1\r\nNoColon\r\n\r\n", 400);
    expect_error("GET /hello HTTP/1.1\r\nBad Name: x\r\n\r\n", 400);
    expect_error("GET /hello HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400);
    expect_error("GET /hello HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
    expect_error("GET /hello HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400);
    /* the server still serves */
    struct client c;
    client_open(&c);
    get_ok(&c, "/hello", "hello\n");
    client_close(&c);
}

Test(http, unknown_path_404_and_query_ignored)
{
    struct client c;
    client_open(&c);
    send_str(&c, "GET /nope HTTP/1.1\r\n\r\n");
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 404);
    response_free(&r);
    get_ok(&c, "/hello?x=1&y=2", "hello\n");
    get_ok(&c, "http://127.0.0.1/hello", "hello\n");
    send_str(&c, "GET /hello/ HTTP/1.1\r\n\r\n");
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 404, "paths match exactly");
    response_free(&r);
    client_close(&c);
}

Test(http, json_and_503_from_a_handler)
{
    struct client c;
    client_open(&c);
    send_str(&c, "GET /health HTTP/1.1\r\n\r\n");
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_eq(r.status, 503);
    cr_assert_not_null(strstr(r.head, "HTTP/1.1 503 Service Unavailable\r\n"));
    char v[64];
    cr_assert_str_eq(header_value(&r, "Content-Type", v, sizeof(v)), "application/json");
    cr_assert_str_eq(r.body, "{\"live\":true,\"ready\":false,\"reason\":\"dataplane down\"}");
    response_free(&r);
    get_ok(&c, "/hello", "hello\n");
    client_close(&c);
}

Test(http, silent_and_trickling_clients_time_out_while_others_are_served)
{
    struct client silent, trickle, other;
    double t0 = now_ms();
    client_open(&silent);
    client_open(&other);
    /* the loop answers others at once */
    get_ok(&other, "/hello", "hello\n");
    cr_assert_lt(now_ms() - t0, IDLE_MS, "served while a silent client is connected");
    cr_assert(closed_within(&silent, 2000), "a silent client must be closed");
    double silent_ms = now_ms() - t0;
    cr_assert(silent_ms >= IDLE_MS - 20 && silent_ms < IDLE_MS + 500,
              "silent client closed after %.0f ms, idle timeout %d ms", silent_ms, IDLE_MS);

    /* a byte every 50 ms is not progress: the trickler is closed too */
    client_open(&trickle);
    t0 = now_ms();
    const char *req = "GET /hello HTTP/1.1\r\nX-Slow: 1\r\n";
    bool closed = false;
    for (const char *p = req; *p != '\0' && !closed; p++) {
        if (send(trickle.fd, p, 1, MSG_NOSIGNAL) != 1)
            closed = true;
        else
            closed = closed_within(&trickle, 50);
    }
    if (!closed)
        closed = closed_within(&trickle, 2000);
    double trickle_ms = now_ms() - t0;
    cr_assert(closed, "a trickling client must be closed");
    cr_assert_lt(trickle_ms, IDLE_MS + 500, "trickler lasted %.0f ms", trickle_ms);

    /* a keep-alive connection that is used stays open */
    client_close(&other);
    client_open(&other);
    for (int i = 0; i < 5; i++) {
        usleep(IDLE_MS * 1000 / 3);
        get_ok(&other, "/hello", "hello\n");
    }
    cr_assert(closed_within(&other, 2000), "idle keep-alive connection closed");
    client_close(&silent);
    client_close(&trickle);
    client_close(&other);
    stop_server();
    cr_assert_geq(final_stats.timed_out, 3);
    start_server(0);
}

Test(http, many_connections)
{
    enum { N = 100 };
    static struct client c[N];
    for (int i = 0; i < N; i++)
        client_open(&c[i]);
    for (int i = 0; i < N; i++)
        send_str(&c[i], "GET /count HTTP/1.1\r\n\r\n");
    bool seen[N + 1] = {false};
    for (int i = 0; i < N; i++) {
        struct response r;
        cr_assert_eq(read_response(&c[i], &r, false), 0, "connection %d", i);
        cr_assert_eq(r.status, 200);
        unsigned v = (unsigned)atoi(r.body);
        cr_assert(v >= 1 && v <= N && !seen[v], "count %u", v);
        seen[v] = true;
        response_free(&r);
    }
    for (int i = 0; i < N; i++)
        get_ok(&c[i], "/hello", "hello\n");
    for (int i = 0; i < N; i++)
        client_close(&c[i]);
}

Test(http, connection_limit_answers_503)
{
    stop_server();
    start_server(4);
    struct client c[5];
    for (int i = 0; i < 4; i++)
        client_open(&c[i]);
    get_ok(&c[3], "/hello", "hello\n"); /* all four are accepted by now */
    client_open(&c[4]);
    struct response r;
    cr_assert_eq(read_response(&c[4], &r, false), 0);
    cr_assert_eq(r.status, 503);
    response_free(&r);
    cr_assert(closed_within(&c[4], 1000));
    client_close(&c[4]);
    /* a slot freed is usable again */
    client_close(&c[0]);
    usleep(50000);
    client_open(&c[0]);
    get_ok(&c[0], "/hello", "hello\n");
    for (int i = 0; i < 4; i++)
        client_close(&c[i]);
    stop_server();
    cr_assert_eq(final_stats.refused, 1);
    start_server(0);
}

Test(http, large_response_to_a_slow_reader)
{
    struct client slow, other;
    client_open(&slow);
    client_open(&other);
    send_str(&slow, "GET /big HTTP/1.1\r\n\r\n");
    /* read a little while the rest waits in the server, serve someone else */
    usleep(50000);
    cr_assert_gt(fill(&slow), 0);
    get_ok(&other, "/hello", "hello\n");
    struct response r;
    cr_assert_eq(read_response(&slow, &r, false), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, BIG_BYTES);
    for (unsigned i = 0; i < BIG_BYTES; i += 4099)
        cr_assert_eq(r.body[i], (char)('a' + i % 26));
    response_free(&r);
    get_ok(&slow, "/hello", "hello\n");
    client_close(&slow);
    client_close(&other);
}

Test(http, pipelining_without_reading_does_not_stall_the_loop)
{
    struct client greedy, other;
    client_open(&greedy);
    client_open(&other);
    /* 60 MiB of responses asked for; the client reads none of it */
    for (int i = 0; i < 60; i++)
        send_str(&greedy, "GET /big HTTP/1.1\r\n\r\n");
    usleep(100000);
    get_ok(&other, "/hello", "hello\n");
    /* it reads one response, then leaves */
    struct response r;
    cr_assert_eq(read_response(&greedy, &r, false), 0);
    cr_assert_eq(r.body_len, BIG_BYTES);
    response_free(&r);
    client_close(&greedy);
    get_ok(&other, "/hello", "hello\n");
    client_close(&other);
}

Test(http, peer_half_close_still_gets_its_answer)
{
    struct client c;
    client_open(&c);
    send_str(&c, "GET /hello HTTP/1.1\r\n\r\nGET /count HTTP/1.1\r\n\r\n");
    shutdown(c.fd, SHUT_WR);
    struct response r;
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_str_eq(r.body, "hello\n");
    response_free(&r);
    cr_assert_eq(read_response(&c, &r, false), 0);
    cr_assert_str_eq(r.body, "1");
    response_free(&r);
    cr_assert(closed_within(&c, 1000));
    client_close(&c);
}

Test(http, random_garbage_never_crashes)
{
    unsigned seed = 12345;
    for (int k = 0; k < 40; k++) {
        struct client c;
        client_open(&c);
        char junk[512];
        size_t n = 1 + (size_t)(rand_r(&seed) % sizeof(junk));
        for (size_t i = 0; i < n; i++)
            junk[i] = (char)(rand_r(&seed) % 256);
        if (k % 2)
            memcpy(junk, "GET / HTTP/1.1\r\n", n < 16 ? n : 16);
        ssize_t sent = send(c.fd, junk, n, MSG_NOSIGNAL);
        (void)sent;
        if (k % 3 == 0)
            send(c.fd, "\r\n\r\n", 4, MSG_NOSIGNAL);
        client_close(&c);
    }
    struct client c;
    client_open(&c);
    get_ok(&c, "/hello", "hello\n");
    client_close(&c);
}

/* ---- starting ---- */

Test(http_start, taken_port_and_bad_addresses)
{
    struct yard_loop l;
    cr_assert_eq(yard_loop_init(&l), 0);
    struct yard_http_server *a = NULL, *b = NULL;
    char err[256];
    struct yard_http_config cfg = {.listen = "127.0.0.1:0"};
    cr_assert_eq(yard_http_start(&a, &l, &cfg, err, sizeof(err)), 0, "%s", err);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", yard_http_port(a));
    cfg.listen = addr;
    cr_assert_eq(yard_http_start(&b, &l, &cfg, err, sizeof(err)), -EADDRINUSE);
    cr_assert_not_null(strstr(err, addr), "the message names the address: %s", err);
    cr_assert_not_null(strstr(err, "already in use"), "%s", err);

    static const char *bad[] = {"nonsense",     "127.0.0.1", "127.0.0.1:",   "127.0.0.1:65536",
                                "300.1.1.1:80", ":80",       "127.0.0.1:8x", "::1:80"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg.listen = bad[i];
        cr_assert_eq(yard_http_start(&b, &l, &cfg, err, sizeof(err)), -EINVAL, "%s", bad[i]);
        cr_assert_not_null(strstr(err, bad[i]), "%s", err);
    }
    uint32_t ip;
    uint16_t p;
    cr_assert_eq(yard_http_parse_listen("localhost:9740", &ip, &p), 0);
    cr_assert_eq(ip, htonl(INADDR_LOOPBACK));
    cr_assert_eq(p, 9740);
    cr_assert_eq(yard_http_parse_listen("0.0.0.0:0", &ip, &p), 0);
    cr_assert_eq(ip, 0);
    cr_assert_eq(yard_http_parse_listen(YARD_HTTP_DEFAULT_LISTEN, &ip, &p), 0);
    cr_assert_eq(p, 9740);

    cr_assert_eq(yard_http_route(a, "metrics", h_hello, NULL), -EINVAL);
    for (int i = 0; i < YARD_HTTP_MAX_ROUTES; i++) {
        char path[16];
        snprintf(path, sizeof(path), "/r%d", i);
        cr_assert_eq(yard_http_route(a, path, h_hello, NULL), 0);
    }
    cr_assert_eq(yard_http_route(a, "/one-too-many", h_hello, NULL), -ENOSPC);
    cr_assert_eq(yard_http_route(a, "/r3", h_count, NULL), 0, "re-registering replaces");
    yard_http_stop(a);
    yard_loop_fini(&l);
}

Test(http_start, buffer_helpers)
{
    struct yard_buf b;
    yard_buf_init(&b);
    cr_assert_eq(yard_buf_u64(&b, 0), 0);
    cr_assert_eq(yard_buf_puts(&b, " "), 0);
    cr_assert_eq(yard_buf_u64(&b, UINT64_MAX), 0);
    cr_assert_eq(yard_buf_printf(&b, " %s-%d", "x", 42), 0);
    char long_str[1000];
    memset(long_str, 'z', sizeof(long_str) - 1);
    long_str[sizeof(long_str) - 1] = '\0';
    cr_assert_eq(yard_buf_printf(&b, "%s", long_str), 0);
    const char *s = yard_buf_cstr(&b);
    cr_assert_eq(strncmp(s, "0 18446744073709551615 x-42zzz", 30), 0, "%.40s", s);
    cr_assert_eq(b.len, 27 + 999);
    yard_buf_reset(&b);
    cr_assert_eq(b.len, 0);
    yard_buf_free(&b);
    cr_assert_null(b.data);
}
