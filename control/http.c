/*
 * http.c - the HTTP/1.1 server behind /metrics and /health (see http.h).
 *
 * Built for one thread that must never wait: every connection is a small
 * state machine driven by level-triggered epoll events. Input accumulates
 * in a fixed buffer the size of the header limit; each complete header
 * block is parsed in place, answered into the connection's output queue
 * and consumed, so keep-alive, pipelining and requests split across reads
 * all take the same path. The server stops reading from a connection
 * while a lot of its output is unsent (a client that pipelines without
 * reading cannot make it buffer without bound) and a sweep timer closes
 * connections that have made no progress for the idle timeout; trickling
 * header bytes is not progress, so a slow client cannot hold a slot.
 *
 * After an error the connection is half-closed and its remaining input is
 * read and discarded for a short while before the close ("lingering
 * close", as nginx and Apache do): closing a socket with unread input
 * makes the kernel send a RST, which can destroy the error response
 * before the client has read it.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_CONNS    128
#define DEFAULT_IDLE_MS      10000
#define DEFAULT_HEADER_BYTES 8192
#define MAX_HEADER_BYTES     65536

/* No new pipelined request is parsed while this much output is unsent. */
#define OUTPUT_HIGH_WATER (256u * 1024u)
/* Longest wait for a client to close after an error response. */
#define LINGER_MS 2000
/* Work bounds per callback, so one busy socket cannot starve the others. */
#define ACCEPT_BURST 32
#define READ_ROUNDS  8

/* ---- yard_buf ---- */

void yard_buf_init(struct yard_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void yard_buf_free(struct yard_buf *b)
{
    free(b->data);
    yard_buf_init(b);
}

void yard_buf_reset(struct yard_buf *b)
{
    b->len = 0;
    b->oom = false;
}

int yard_buf_reserve(struct yard_buf *b, size_t extra)
{
    if (b->oom)
        return -ENOMEM;
    if (extra <= b->cap - b->len)
        return 0;
    size_t need = b->len + extra;
    if (need < b->len)
        goto fail;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    b->oom = true;
    return -ENOMEM;
}

int yard_buf_append(struct yard_buf *b, const void *data, size_t len)
{
    if (yard_buf_reserve(b, len) < 0)
        return -ENOMEM;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int yard_buf_puts(struct yard_buf *b, const char *s)
{
    return yard_buf_append(b, s, strlen(s));
}

int yard_buf_printf(struct yard_buf *b, const char *fmt, ...)
{
    if (b->oom)
        return -ENOMEM;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    size_t room = b->cap - b->len;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    int rc = n < 0 ? -EINVAL : 0;
    if (rc == 0 && (size_t)n >= room) {
        /* too long for the room left: grow once, format again */
        rc = yard_buf_reserve(b, (size_t)n + 1);
        if (rc == 0)
            vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    if (rc == 0)
        b->len += (size_t)n;
    return rc;
}

int yard_buf_u64(struct yard_buf *b, uint64_t v)
{
    char tmp[20];
    char *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return yard_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

const char *yard_buf_cstr(struct yard_buf *b)
{
    if (yard_buf_reserve(b, 1) < 0)
        return NULL;
    b->data[b->len] = '\0';
    return b->data;
}

/* ---- the server's state ---- */

enum conn_state {
    CONN_OPEN,   /* reading requests, writing responses */
    CONN_LINGER, /* half-closed after the last response: discarding input */
};

struct conn {
    struct yard_http_server *srv;
    struct conn *prev, *next;
    int fd;
    enum conn_state state;
    uint32_t events;        /* what the loop watches for now */
    bool close_after_write; /* no more requests: close once the output is sent */
    bool peer_eof;          /* the client shut down its sending side */
    uint64_t deadline_ns;   /* closed if no progress by then */
    size_t in_len;
    size_t scan_from; /* where the search for the header block's end resumes */
    size_t out_off;   /* bytes of out already sent */
    struct yard_buf out;
    char in[]; /* srv->header_bytes */
};

struct route {
    char path[64];
    yard_http_handler_fn fn;
    void *arg;
};

struct yard_http_server {
    struct yard_loop *loop;
    int fd;
    bool listen_paused; /* out of file descriptors: accept resumes on the next sweep */
    uint16_t port;
    unsigned max_conns, idle_ms, header_bytes;
    struct yard_loop_timer *sweep;
    struct conn *conns;
    unsigned nb_routes;
    struct route routes[YARD_HTTP_MAX_ROUTES];
    struct yard_http_reply reply; /* reused: its body keeps its storage */
    struct yard_http_stats stats;
    time_t date_sec;
    char date[32];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *yard_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* RFC 7231's IMF-fixdate, built by hand so the C locale is not assumed. */
static const char *http_date(struct yard_http_server *srv)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = time(NULL);
    if (t != srv->date_sec || srv->date[0] == '\0') {
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(srv->date, sizeof(srv->date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        srv->date_sec = t;
    }
    return srv->date;
}

/* ---- connections ---- */

static size_t out_pending(const struct conn *c)
{
    return c->out.len - c->out_off;
}

static void progress(struct conn *c)
{
    c->deadline_ns = now_ns() + (uint64_t)c->srv->idle_ms * 1000000ull;
}

static void conn_close(struct conn *c)
{
    struct yard_http_server *srv = c->srv;
    yard_loop_del(srv->loop, c->fd);
    close(c->fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->stats.open--;
    yard_buf_free(&c->out);
    free(c);
}

/* Watch for input while another request may be read, for output while
 * some is unsent. Returns false if the loop refused (the connection is
 * closed then). */
static bool conn_watch(struct conn *c)
{
    uint32_t ev = 0;
    if (c->state == CONN_LINGER ||
        (!c->close_after_write && !c->peer_eof && out_pending(c) < OUTPUT_HIGH_WATER))
        ev |= EPOLLIN;
    if (out_pending(c) > 0)
        ev |= EPOLLOUT;
    if (ev == c->events)
        return true;
    if (yard_loop_mod(c->srv->loop, c->fd, ev) < 0) {
        conn_close(c);
        return false;
    }
    c->events = ev;
    return true;
}

static void queue_head(struct conn *c, int status, const char *content_type, size_t body_len,
                       bool keep_alive, unsigned minor)
{
    struct yard_buf *o = &c->out;
    yard_buf_printf(o, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, yard_http_reason(status),
                    http_date(c->srv));
    if (status != 204 && status != 304) {
        yard_buf_printf(o, "Content-Type: %s\r\nContent-Length: ", content_type);
        yard_buf_u64(o, body_len);
        yard_buf_puts(o, "\r\n");
    }
    if (status == 405)
        yard_buf_puts(o, "Allow: GET, HEAD\r\n");
    if (!keep_alive)
        yard_buf_puts(o, "Connection: close\r\n");
    else if (minor == 0)
        yard_buf_puts(o, "Connection: keep-alive\r\n");
    yard_buf_puts(o, "\r\n");
}

static void count_status(struct yard_http_server *srv, int status)
{
    srv->stats.requests++;
    srv->stats.status[status / 100 < 6 ? status / 100 : 5]++;
}

/* A short text answer; unless keep_alive, the connection then closes. */
static void respond_text(struct conn *c, int status, const char *text, bool head, bool keep_alive,
                         unsigned minor)
{
    size_t len = strlen(text);
    queue_head(c, status, YARD_HTTP_TEXT, len, keep_alive, minor);
    if (!head)
        yard_buf_append(&c->out, text, len);
    count_status(c->srv, status);
    if (!keep_alive)
        c->close_after_write = true;
}

static void respond_error(struct conn *c, int status, const char *text)
{
    respond_text(c, status, text, false, false, 1);
}

/* ---- request parsing ---- */

/* RFC 7230 tchar: what a method or header name may contain. */
static bool is_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

/* Next line of the block: NUL-terminates it (dropping CR LF) and returns
 * it, or NULL at the block's end. */
static char *next_line(char **cursor, char *end)
{
    char *line = *cursor;
    if (line >= end)
        return NULL;
    char *nl = memchr(line, '\n', (size_t)(end - line));
    if (nl == NULL)
        nl = end - 1; /* cannot happen: the block ends with LF */
    *cursor = nl + 1;
    *nl = '\0';
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    return line;
}

static bool header_has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = value;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != ',')
            p++;
        const char *stop = p;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if ((size_t)(stop - start) == tlen && strncasecmp(start, token, tlen) == 0)
            return true;
    }
    return false;
}

struct parsed {
    bool keep_alive;
    bool has_body; /* the request carries a body this server does not read */
};

/*
 * Parse the header block [p, p + len) in place. Returns 0, or the status
 * code of the error to answer with.
 */
static int parse_request(char *p, size_t len, struct yard_http_request *req, struct parsed *out)
{
    char *end = p + len;
    char *cursor = p;
    memset(req, 0, sizeof(*req));
    memset(out, 0, sizeof(*out));

    char *line = next_line(&cursor, end);
    if (line == NULL)
        return 400;
    char *sp1 = strchr(line, ' ');
    if (sp1 == NULL)
        return 400;
    *sp1 = '\0';
    char *target = sp1 + 1;
    char *sp2 = strchr(target, ' ');
    if (sp2 == NULL)
        return 400;
    *sp2 = '\0';
    char *version = sp2 + 1;
    if (!is_token(line) || *target == '\0')
        return 400;
    for (const char *t = target; *t != '\0'; t++)
        if ((unsigned char)*t <= ' ' || (unsigned char)*t == 0x7f)
            return 400;
    if (strncmp(version, "HTTP/", 5) != 0 || version[5] < '0' || version[5] > '9' ||
        version[6] != '.' || version[7] < '0' || version[7] > '9' || version[8] != '\0')
        return 400;
    if (version[5] != '1')
        return 505;
    req->method = line;
    req->minor = (unsigned)(version[7] - '0');

    bool conn_close = false, conn_keep = false;
    bool have_length = false;
    unsigned long long length = 0;
    while ((line = next_line(&cursor, end)) != NULL && *line != '\0') {
        if (*line == ' ' || *line == '\t')
            return 400; /* obsolete line folding (RFC 7230 3.2.4) */
        char *colon = strchr(line, ':');
        if (colon == NULL)
            return 400;
        *colon = '\0';
        if (!is_token(line))
            return 400; /* includes blanks before the colon */
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        char *vend = value + strlen(value);
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            *--vend = '\0';
        if (req->nb_headers == YARD_HTTP_MAX_HEADERS)
            return 431;
        req->headers[req->nb_headers].name = line;
        req->headers[req->nb_headers].value = value;
        req->nb_headers++;

        if (strcasecmp(line, "Connection") == 0) {
            conn_close |= header_has_token(value, "close");
            conn_keep |= header_has_token(value, "keep-alive");
        } else if (strcasecmp(line, "Content-Length") == 0) {
            if (*value == '\0' || strspn(value, "0123456789") != strlen(value) ||
                strlen(value) > 18)
                return 400;
            unsigned long long v = strtoull(value, NULL, 10);
            if (have_length && v != length)
                return 400;
            have_length = true;
            length = v;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            out->has_body = true;
        }
    }
    if (length > 0)
        out->has_body = true;
    out->keep_alive = !conn_close && (req->minor >= 1 || conn_keep);

    /* absolute-form (RFC 7230 5.3.2): keep only the path */
    char *scheme = strstr(target, "://");
    if (scheme != NULL && target[0] != '/') {
        char *path = strchr(scheme + 3, '/');
        if (path == NULL)
            target = "/";
        else
            target = path;
    }
    if (target[0] != '/')
        return 400;
    char *q = strchr(target, '?');
    if (q != NULL) {
        *q = '\0';
        req->query = q + 1;
    } else {
        req->query = "";
    }
    char *frag = strchr(target, '#');
    if (frag != NULL)
        *frag = '\0';
    req->path = target;
    req->head = strcmp(req->method, "HEAD") == 0;
    return 0;
}

const char *yard_http_header(const struct yard_http_request *req, const char *name)
{
    for (unsigned i = 0; i < req->nb_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static const struct route *find_route(const struct yard_http_server *srv, const char *path)
{
    for (unsigned i = 0; i < srv->nb_routes; i++)
        if (strcmp(srv->routes[i].path, path) == 0)
            return &srv->routes[i];
    return NULL;
}

/* Answer one complete header block of `len` bytes at the buffer's start. */
static void handle_request(struct conn *c, size_t len)
{
    struct yard_http_server *srv = c->srv;
    struct yard_http_request req;
    struct parsed pr;
    int err = parse_request(c->in, len, &req, &pr);
    if (err != 0) {
        respond_error(c, err, err == 505 ? "only HTTP/1.x is supported\n" : "bad request\n");
        return;
    }
    /* A body is never read, so the next request's start would be unknown. */
    bool keep_alive = pr.keep_alive && !pr.has_body;

    if (strcmp(req.method, "GET") != 0 && !req.head) {
        respond_text(c, 405, "only GET and HEAD are supported\n", false, keep_alive, req.minor);
        return;
    }
    const struct route *r = find_route(srv, req.path);
    if (r == NULL) {
        respond_text(c, 404, "not found\n", req.head, keep_alive, req.minor);
        return;
    }

    struct yard_http_reply *reply = &srv->reply;
    yard_buf_reset(&reply->body);
    reply->content_type = YARD_HTTP_TEXT;
    int status = r->fn(&req, reply, r->arg);
    if (status < 200 || status > 599 || reply->body.oom) {
        respond_text(c, 500, "internal error\n", req.head, keep_alive, req.minor);
        return;
    }
    bool bodiless = status == 204 || status == 304;
    queue_head(c, status, reply->content_type, reply->body.len, keep_alive, req.minor);
    if (!req.head && !bodiless)
        yard_buf_append(&c->out, reply->body.data, reply->body.len);
    count_status(srv, status);
    if (!keep_alive)
        c->close_after_write = true;
}

/* Length of the header block at the buffer's start (through its empty
 * line), or 0 while it is incomplete. */
static size_t head_length(struct conn *c)
{
    for (size_t i = c->scan_from; i < c->in_len; i++) {
        if (c->in[i] != '\n')
            continue;
        if (i + 1 < c->in_len && c->in[i + 1] == '\n')
            return i + 2;
        if (i + 2 < c->in_len && c->in[i + 1] == '\r' && c->in[i + 2] == '\n')
            return i + 3;
    }
    c->scan_from = c->in_len >= 2 ? c->in_len - 2 : 0;
    return 0;
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    c->scan_from = 0;
}

/* Answer every complete request in the buffer, as far as allowed. */
static void process_input(struct conn *c)
{
    while (c->state == CONN_OPEN && !c->close_after_write && out_pending(c) < OUTPUT_HIGH_WATER) {
        /* RFC 7230 3.5: ignore empty lines before a request line */
        size_t blank = 0;
        while (blank < c->in_len && (c->in[blank] == '\r' || c->in[blank] == '\n'))
            blank++;
        if (blank > 0)
            consume(c, blank);

        size_t len = head_length(c);
        if (len == 0) {
            if (c->in_len >= c->srv->header_bytes) {
                if (memchr(c->in, '\n', c->in_len) == NULL)
                    respond_error(c, 414, "request line too long\n");
                else
                    respond_error(c, 431, "request headers too large\n");
            } else if (c->peer_eof) {
                c->close_after_write = true; /* an incomplete request: nothing to answer */
            }
            return;
        }
        handle_request(c, len);
        consume(c, len);
        progress(c);
    }
}

static bool has_complete_request(struct conn *c)
{
    return c->in_len > 0 && head_length(c) > 0;
}

/* Send what the socket takes. false if the connection was closed. */
static bool flush_output(struct conn *c)
{
    while (out_pending(c) > 0) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, out_pending(c), MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            progress(c);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        conn_close(c);
        return false;
    }
    yard_buf_reset(&c->out);
    c->out_off = 0;
    return true;
}

static void begin_linger(struct conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_LINGER;
    c->in_len = 0;
    unsigned ms = c->srv->idle_ms < LINGER_MS ? c->srv->idle_ms : LINGER_MS;
    c->deadline_ns = now_ns() + (uint64_t)ms * 1000000ull;
}

/* Answer, send, and decide what to wait for next. false if closed. */
static bool conn_service(struct conn *c)
{
    for (;;) {
        process_input(c);
        if (c->out.oom) {
            conn_close(c);
            return false;
        }
        if (!flush_output(c))
            return false;
        if (out_pending(c) > 0)
            break;
        if (c->close_after_write) {
            if (c->peer_eof) {
                conn_close(c);
                return false;
            }
            begin_linger(c);
            break;
        }
        if (!has_complete_request(c))
            break;
    }
    return conn_watch(c);
}

static void conn_linger_read(struct conn *c)
{
    char sink[4096];
    for (int i = 0; i < READ_ROUNDS; i++) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(c);
        return;
    }
}

static void on_conn(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    struct conn *c = arg;
    if (events & EPOLLERR) {
        conn_close(c);
        return;
    }
    if (c->state == CONN_LINGER) {
        conn_linger_read(c);
        return;
    }
    if ((events & (EPOLLIN | EPOLLHUP)) && (c->events & EPOLLIN)) {
        for (int i = 0; i < READ_ROUNDS && !c->peer_eof; i++) {
            size_t room = c->srv->header_bytes - c->in_len;
            if (room == 0 || c->close_after_write || out_pending(c) >= OUTPUT_HIGH_WATER)
                break;
            ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
            if (n > 0) {
                c->in_len += (size_t)n;
                process_input(c);
                continue;
            }
            if (n == 0) {
                c->peer_eof = true;
                break;
            }
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(c);
            return;
        }
    }
    conn_service(c);
}

static void conn_open(struct yard_http_server *srv, int fd)
{
    struct conn *c = calloc(1, sizeof(*c) + srv->header_bytes);
    if (c == NULL) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->srv = srv;
    c->fd = fd;
    c->events = EPOLLIN;
    yard_buf_init(&c->out);
    if (yard_loop_add(srv->loop, fd, EPOLLIN, on_conn, c) < 0) {
        close(fd);
        free(c);
        return;
    }
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    srv->stats.open++;
    srv->stats.accepted++;
    progress(c);
}

/* At the connection limit: one best-effort 503, then close. */
static void refuse(struct yard_http_server *srv, int fd)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
                              "Content-Type: " YARD_HTTP_TEXT "\r\n"
                              "Content-Length: 21\r\n"
                              "Connection: close\r\n"
                              "\r\n"
                              "too many connections\n";
    ssize_t n = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    shutdown(fd, SHUT_WR);
    close(fd);
    srv->stats.refused++;
}

static void on_listen(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct yard_http_server *srv = arg;
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* level-triggered: stop watching or this callback spins */
                if (yard_loop_mod(loop, fd, 0) == 0)
                    srv->listen_paused = true;
                return;
            }
            continue; /* ECONNABORTED and the like: that client is gone */
        }
        if (srv->stats.open >= srv->max_conns)
            refuse(srv, cfd);
        else
            conn_open(srv, cfd);
    }
}

static void on_sweep(struct yard_loop *loop, uint64_t expirations, void *arg)
{
    (void)expirations;
    struct yard_http_server *srv = arg;
    uint64_t now = now_ns();
    struct conn *c = srv->conns;
    while (c != NULL) {
        struct conn *next = c->next;
        if (now >= c->deadline_ns) {
            if (c->state == CONN_OPEN)
                srv->stats.timed_out++;
            conn_close(c);
        }
        c = next;
    }
    if (srv->listen_paused && yard_loop_mod(loop, srv->fd, EPOLLIN) == 0)
        srv->listen_paused = false;
}

/* ---- setup ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int yard_http_parse_listen(const char *listen, uint32_t *addr_be, uint16_t *port)
{
    if (listen == NULL)
        return -EINVAL;
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= 64)
        return -EINVAL;
    char host[64];
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    const char *ps = colon + 1;
    if (*ps == '\0' || strlen(ps) > 5 || strspn(ps, "0123456789") != strlen(ps))
        return -EINVAL;
    unsigned long p = strtoul(ps, NULL, 10);
    if (p > 65535)
        return -EINVAL;
    struct in_addr a;
    if (strcmp(host, "localhost") == 0)
        a.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &a) != 1)
        return -EINVAL;
    *addr_be = a.s_addr;
    *port = (uint16_t)p;
    return 0;
}

int yard_http_start(struct yard_http_server **out, struct yard_loop *loop,
                    const struct yard_http_config *cfg, char *err, size_t errlen)
{
    struct yard_http_config c = {0};
    if (cfg != NULL)
        c = *cfg;
    const char *listen_at = c.listen ? c.listen : YARD_HTTP_DEFAULT_LISTEN;
    if (c.max_header_bytes > MAX_HEADER_BYTES) {
        set_err(err, errlen, "http: header limit %u bytes is over the maximum %u; lower it",
                c.max_header_bytes, MAX_HEADER_BYTES);
        return -EINVAL;
    }
    uint32_t addr;
    uint16_t port;
    if (yard_http_parse_listen(listen_at, &addr, &port) < 0) {
        set_err(err, errlen,
                "http: listen address '%s' is unusable; write ADDR:PORT with an IPv4 address, "
                "e.g. " YARD_HTTP_DEFAULT_LISTEN,
                listen_at);
        return -EINVAL;
    }

    struct yard_http_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        set_err(err, errlen, "http: out of memory");
        return -ENOMEM;
    }
    srv->loop = loop;
    srv->max_conns = c.max_conns ? c.max_conns : DEFAULT_MAX_CONNS;
    srv->idle_ms = c.idle_timeout_ms ? c.idle_timeout_ms : DEFAULT_IDLE_MS;
    srv->header_bytes = c.max_header_bytes ? c.max_header_bytes : DEFAULT_HEADER_BYTES;
    if (srv->header_bytes < 64)
        srv->header_bytes = 64;
    yard_buf_init(&srv->reply.body);

    int rc;
    srv->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->fd < 0) {
        rc = -errno;
        set_err(err, errlen, "http: socket: %s", strerror(-rc));
        goto fail_free;
    }
    int one = 1;
    setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = addr};
    if (bind(srv->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        if (rc == -EADDRINUSE)
            set_err(err, errlen,
                    "http: cannot listen on %s: the port is already in use by another process; "
                    "stop it (ss -ltnp shows which) or choose another ADDR:PORT",
                    listen_at);
        else if (rc == -EADDRNOTAVAIL)
            set_err(err, errlen,
                    "http: cannot listen on %s: no local interface has that address; "
                    "use 127.0.0.1, 0.0.0.0 or one of this host's addresses",
                    listen_at);
        else
            set_err(err, errlen, "http: cannot listen on %s: %s", listen_at, strerror(-rc));
        goto fail_close;
    }
    if (listen(srv->fd, 128) < 0) {
        rc = -errno;
        set_err(err, errlen, "http: listen on %s: %s", listen_at, strerror(-rc));
        goto fail_close;
    }
    socklen_t salen = sizeof(sa);
    getsockname(srv->fd, (struct sockaddr *)&sa, &salen);
    srv->port = ntohs(sa.sin_port);

    unsigned period = srv->idle_ms / 4;
    period = period < 10 ? 10 : period > 1000 ? 1000 : period;
    srv->sweep = yard_loop_timer_add(loop, period, on_sweep, srv);
    if (srv->sweep == NULL) {
        rc = -ENOMEM;
        set_err(err, errlen, "http: cannot create the idle timer");
        goto fail_close;
    }
    rc = yard_loop_add(loop, srv->fd, EPOLLIN, on_listen, srv);
    if (rc < 0) {
        set_err(err, errlen, "http: cannot watch the listening socket: %s", strerror(-rc));
        yard_loop_timer_del(loop, srv->sweep);
        goto fail_close;
    }
    *out = srv;
    return 0;

fail_close:
    close(srv->fd);
fail_free:
    free(srv);
    return rc;
}

int yard_http_route(struct yard_http_server *srv, const char *path, yard_http_handler_fn fn,
                    void *arg)
{
    if (path == NULL || path[0] != '/' || strlen(path) >= sizeof(srv->routes[0].path) || fn == NULL)
        return -EINVAL;
    struct route *r = (struct route *)find_route(srv, path);
    if (r == NULL) {
        if (srv->nb_routes == YARD_HTTP_MAX_ROUTES)
            return -ENOSPC;
        r = &srv->routes[srv->nb_routes++];
        snprintf(r->path, sizeof(r->path), "%s", path);
    }
    r->fn = fn;
    r->arg = arg;
    return 0;
}

uint16_t yard_http_port(const struct yard_http_server *srv)
{
    return srv->port;
}

const struct yard_http_stats *yard_http_stats(const struct yard_http_server *srv)
{
    return &srv->stats;
}

void yard_http_stop(struct yard_http_server *srv)
{
    if (srv == NULL)
        return;
    while (srv->conns != NULL)
        conn_close(srv->conns);
    yard_loop_del(srv->loop, srv->fd);
    close(srv->fd);
    yard_loop_timer_del(srv->loop, srv->sweep);
    yard_buf_free(&srv->reply.body);
    free(srv);
}
