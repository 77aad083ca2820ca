/*
 * metrics_serve.c - /metrics and /health served the way yard-control
 * serves them, for a real Prometheus to scrape (test_metrics_prometheus.py).
 *
 *   metrics_serve INSTANCE [--seconds N]
 *
 * Plays the dataplane by creating INSTANCE's segment and filling it with
 * metrics_fill.c's numbers (and keeping its heartbeat fresh), then plays
 * the control plane: maps the segment read-only, as the daemon does, and
 * serves it with the real event loop, HTTP server and renderer on a free
 * port of 127.0.0.1. The renderer's extra callback adds the server's own
 * request counters, as the daemon would add its own.
 *
 * Prints "port N" once serving; runs until SIGINT/SIGTERM or N seconds
 * (default 60), then unlinks the segment.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "metrics_fill.h"

struct app {
    struct yard_shm dataplane; /* the writer's mapping */
    struct yard_shm control;   /* the reader's mapping, as yard-control has it */
    struct yard_http_server *http;
    uint64_t scrapes;
};

static void own_metrics(struct yard_metrics_writer *w, void *arg)
{
    struct app *app = arg;
    const struct yard_http_stats *st = yard_http_stats(app->http);
    static const char *codes[] = {NULL, NULL, "2xx", "3xx", "4xx", "5xx"};
    for (unsigned c = 2; c <= 5; c++) {
        char labels[32];
        yard_metrics_labels(labels, sizeof(labels), "code", codes[c], NULL);
        yard_metrics_counter(w, "yard_http_requests_total",
                             "HTTP requests answered, by status class.", labels, st->status[c]);
    }
    yard_metrics_gauge(w, "yard_http_connections", "HTTP connections open.", NULL, st->open);
    yard_metrics_counter(w, "yard_metrics_scrapes_total", "Scrapes of /metrics served.", NULL,
                         app->scrapes);
}

static int serve_metrics(const struct yard_http_request *req, struct yard_http_reply *reply,
                         void *arg)
{
    (void)req;
    struct app *app = arg;
    app->scrapes++;
    reply->content_type = YARD_HTTP_PROMETHEUS;
    int rc = yard_metrics_render(&reply->body, &app->control, own_metrics, app);
    return rc == -ENOMEM ? 500 : 200;
}

static int serve_health(const struct yard_http_request *req, struct yard_http_reply *reply,
                        void *arg)
{
    (void)req;
    struct app *app = arg;
    bool up = yard_shm_side_alive(&app->control.hdr->dataplane, YARD_METRICS_HEARTBEAT_MAX_AGE_NS);
    reply->content_type = YARD_HTTP_JSON;
    yard_buf_printf(&reply->body, "{\"live\":true,\"ready\":%s}\n", up ? "true" : "false");
    return up ? 200 : 503;
}

static void heartbeat(struct yard_loop *loop, uint64_t expirations, void *arg)
{
    (void)loop;
    (void)expirations;
    struct app *app = arg;
    metrics_fill_heartbeat(&app->dataplane);
}

static void deadline(struct yard_loop *loop, uint64_t expirations, void *arg)
{
    (void)expirations;
    (void)arg;
    yard_loop_stop(loop);
}

static void on_signal(struct yard_loop *loop, int signo, void *arg)
{
    (void)signo;
    (void)arg;
    yard_loop_stop(loop);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: metrics_serve INSTANCE [--seconds N]\n");
        return 2;
    }
    const char *instance = argv[1];
    unsigned seconds = 60;
    if (argc == 4 && strcmp(argv[2], "--seconds") == 0)
        seconds = (unsigned)atoi(argv[3]);

    static struct app app;
    char err[512];
    if (yard_shm_create(&app.dataplane, instance, err, sizeof(err)) != 0) {
        fprintf(stderr, "metrics_serve: %s\n", err);
        return 1;
    }
    metrics_fill(&app.dataplane);
    if (yard_shm_open(&app.control, instance, false, err, sizeof(err)) != 0) {
        fprintf(stderr, "metrics_serve: %s\n", err);
        yard_shm_unlink(instance);
        return 1;
    }

    struct yard_loop loop;
    int rc = yard_loop_init(&loop);
    const int sigs[] = {SIGINT, SIGTERM};
    if (rc == 0)
        rc = yard_loop_signals(&loop, sigs, 2, on_signal, NULL);
    struct yard_http_config cfg = {.listen = "127.0.0.1:0"};
    if (rc == 0 && yard_http_start(&app.http, &loop, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "metrics_serve: %s\n", err);
        rc = -1;
    }
    struct yard_loop_timer *beat = NULL, *stop = NULL;
    if (rc == 0) {
        yard_http_route(app.http, "/metrics", serve_metrics, &app);
        yard_http_route(app.http, "/health", serve_health, &app);
        beat = yard_loop_timer_add(&loop, 100, heartbeat, &app);
        stop = yard_loop_timer_add(&loop, seconds * 1000, deadline, NULL);
        if (beat == NULL || stop == NULL)
            rc = -1;
    }
    if (rc == 0) {
        printf("port %u\n", yard_http_port(app.http));
        fflush(stdout);
        rc = yard_loop_run(&loop);
    }
    yard_http_stop(app.http);
    yard_loop_timer_del(&loop, beat);
    yard_loop_timer_del(&loop, stop);
    yard_loop_fini(&loop);
    yard_shm_close(&app.control);
    yard_shm_close(&app.dataplane);
    yard_shm_unlink(instance);
    return rc == 0 ? 0 : 1;
}
