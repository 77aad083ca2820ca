/*
 * http.h - the small HTTP/1.1 server behind /metrics and /health.
 *
 * It runs on yard-control's event loop (loop.h) and nowhere else, so it
 * never blocks: sockets are non-blocking, each connection keeps its own
 * bounded input buffer and a queue of output that drains on EPOLLOUT, and
 * one loop timer closes connections that make no progress. It understands
 * exactly what a scraper, a load balancer's health check or curl sends:
 * GET and HEAD, a request line and headers (no request bodies), keep-alive
 * and pipelining. Anything else is answered with a status code, never with
 * a crash or a stall:
 *
 *   400  malformed request line or header
 *   404  no handler for the path
 *   405  a method other than GET or HEAD (with Allow: GET, HEAD)
 *   414  request line longer than the header limit
 *   431  header block over the limit (8 KiB by default) or too many headers
 *   503  the connection limit is reached (sent once, then closed)
 *   505  an HTTP version other than 1.x
 *
 * Handlers are registered by path (exact match, query string ignored) and
 * write their body into a growable buffer, struct yard_buf, whose helpers
 * the Prometheus renderer (metrics.h) uses too.
 *
 * Who may call what: everything from the loop's thread only.
 */
#ifndef YARD_HTTP_H
#define YARD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

/* ---- growable output buffer ---- */

/*
 * A byte buffer that grows on demand. After the first allocation failure
 * it stays failed (`oom`) and every later append is a no-op returning
 * -ENOMEM, so a writer may check once at the end instead of after every
 * call. The content is not NUL-terminated unless yard_buf_cstr() is used.
 */
struct yard_buf {
    char *data;
    size_t len;
    size_t cap;
    bool oom;
};

/* An empty buffer; no allocation until the first append. */
void yard_buf_init(struct yard_buf *b);
/* Free the storage; the buffer is empty and usable again. */
void yard_buf_free(struct yard_buf *b);
/* Empty the buffer, keeping its storage for reuse; clears `oom`. */
void yard_buf_reset(struct yard_buf *b);
/* Make room for `extra` more bytes (doubling). 0 or -ENOMEM. */
int yard_buf_reserve(struct yard_buf *b, size_t extra);
/* Append bytes. 0 or -ENOMEM. Amortised O(len). */
int yard_buf_append(struct yard_buf *b, const void *data, size_t len);
/* Append a NUL-terminated string. 0 or -ENOMEM. */
int yard_buf_puts(struct yard_buf *b, const char *s);
/* Append formatted text (vsnprintf). 0 or -ENOMEM; -EINVAL on a format
 * error. For hot loops prefer yard_buf_u64(). */
int yard_buf_printf(struct yard_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append v in decimal, without printf: the renderer calls this thousands
 * of times per scrape. 0 or -ENOMEM. */
int yard_buf_u64(struct yard_buf *b, uint64_t v);
/* NUL-terminate (not counted in len) and return data; NULL after a
 * failure. For tests and log messages. */
const char *yard_buf_cstr(struct yard_buf *b);

/* ---- requests, responses, handlers ---- */

/* Content types handlers usually answer with. */
#define YARD_HTTP_TEXT       "text/plain; charset=utf-8"
#define YARD_HTTP_JSON       "application/json"
#define YARD_HTTP_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

#define YARD_HTTP_MAX_HEADERS 64

/* A parsed request. Every string is NUL-terminated and lives in the
 * connection's input buffer: valid only during the handler call. */
struct yard_http_request {
    const char *method; /* "GET" or "HEAD" (others never reach a handler) */
    const char *path;   /* "/metrics": the target up to '?' */
    const char *query;  /* after '?', "" when absent */
    bool head;          /* HEAD: the body is computed but not sent */
    unsigned minor;     /* HTTP/1.<minor> */
    unsigned nb_headers;
    struct {
        const char *name, *value; /* value without surrounding blanks */
    } headers[YARD_HTTP_MAX_HEADERS];
};

/* Value of the first header called `name` (case-insensitive) or NULL. */
const char *yard_http_header(const struct yard_http_request *req, const char *name);

/* What a handler fills in. body starts empty; content_type starts as
 * YARD_HTTP_TEXT and must point to a string that outlives the call (a
 * literal). */
struct yard_http_reply {
    struct yard_buf body;
    const char *content_type;
};

/*
 * Serve one request: write the body into reply->body, optionally set
 * reply->content_type, and return the status code (200, 503, ...; a value
 * outside 100-599 is answered as 500). A body that failed to grow
 * (reply->body.oom) is answered as 500. Runs on the loop's thread and must
 * not block; it must not call yard_http_stop().
 */
typedef int (*yard_http_handler_fn)(const struct yard_http_request *req,
                                    struct yard_http_reply *reply, void *arg);

/* ---- the server ---- */

#define YARD_HTTP_DEFAULT_LISTEN "127.0.0.1:9740"

/* Limits with their defaults (a 0 field takes the default). */
struct yard_http_config {
    const char *listen;        /* "ADDR:PORT", IPv4 or "localhost"; port 0 = any free port */
    unsigned max_conns;        /* open connections; 128 */
    unsigned idle_timeout_ms;  /* a connection making no progress is closed; 10000 */
    unsigned max_header_bytes; /* request line + headers; 8192 (at most 65536) */
};

struct yard_http_stats {
    uint64_t accepted;  /* connections accepted */
    uint64_t refused;   /* connections answered 503 at the connection limit */
    uint64_t timed_out; /* connections closed for making no progress */
    uint64_t requests;  /* requests answered, whatever the status */
    uint64_t status[6]; /* requests answered by status class: [2] = 2xx ... [5] = 5xx */
    unsigned open;      /* connections open now */
};

struct yard_http_server;

/*
 * Listen on cfg->listen (NULL cfg or fields: the defaults) and serve on
 * `loop`. SO_REUSEADDR is set so a restarted daemon rebinds at once.
 * Returns 0 and the server in *out, or a negative errno with a message in
 * err naming the address and what to do (-EADDRINUSE: another process
 * holds the port; -EINVAL: unusable address). Costs a few system calls and
 * one small allocation.
 */
int yard_http_start(struct yard_http_server **out, struct yard_loop *loop,
                    const struct yard_http_config *cfg, char *err, size_t errlen);

/*
 * Serve GET/HEAD for `path` (exact match, e.g. "/metrics") with fn(arg).
 * Registering a path again replaces its handler. 0, -ENOSPC past
 * YARD_HTTP_MAX_ROUTES, -EINVAL for a path not starting with '/' or longer
 * than 63 bytes.
 */
#define YARD_HTTP_MAX_ROUTES 16
int yard_http_route(struct yard_http_server *srv, const char *path, yard_http_handler_fn fn,
                    void *arg);

/* The port actually bound (useful with port 0). */
uint16_t yard_http_port(const struct yard_http_server *srv);

/* Counters for the daemon's own metrics; valid until yard_http_stop(). */
const struct yard_http_stats *yard_http_stats(const struct yard_http_server *srv);

/* Close every connection and the listener, remove them and the timer from
 * the loop, and free the server. NULL is a no-op. */
void yard_http_stop(struct yard_http_server *srv);

/*
 * Parse "ADDR:PORT" (dotted IPv4 or "localhost"; port 0-65535) into
 * network-order address and host-order port. 0 or -EINVAL. For the
 * daemon's configuration check; pure.
 */
int yard_http_parse_listen(const char *listen, uint32_t *addr_be, uint16_t *port);

/* Reason phrase of a status code ("Not Found"); "Unknown" for others. */
const char *yard_http_reason(int status);

#endif
