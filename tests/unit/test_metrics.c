/*
 * test_metrics.c - the Prometheus exposition as a scraper sees it: exact
 * values for series of a segment filled with known numbers
 * (metrics_fill.c), histogram buckets that are cumulative and agree with
 * the samples recorded, the control plane's own families grouped whatever
 * the order they were added in, and Prometheus's own checker (promtool
 * check metrics) accepting every output. Also times a scrape with all 128
 * lcores in use.
 *
 * Every test uses its own instance name (with the pid) and unlinks it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "metrics_fill.h"

static char instance[32];
static struct yard_shm shm;
static struct yard_buf out;

static void setup_segment(void)
{
    char err[512];
    snprintf(instance, sizeof(instance), "t-metrics-%d", (int)getpid());
    int rc = yard_shm_create(&shm, instance, err, sizeof(err));
    cr_assert_eq(rc, 0, "yard_shm_create: %s", err);
    yard_buf_init(&out);
}

static void teardown_segment(void)
{
    yard_buf_free(&out);
    if (shm.hdr != NULL)
        yard_shm_close(&shm);
    yard_shm_unlink(instance);
}

static const char *render(yard_metrics_extra_fn extra, void *arg, int expect_rc)
{
    yard_buf_reset(&out);
    int rc = yard_metrics_render(&out, &shm, extra, arg);
    cr_assert_eq(rc, expect_rc, "render returned %d, expected %d", rc, expect_rc);
    const char *text = yard_buf_cstr(&out);
    cr_assert_not_null(text);
    return text;
}

/* The exact line (without its newline) is in the text. */
static void expect_line(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);
    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
        p += n;
    }
    cr_assert_fail("missing line: %s", line);
}

/* The value of the sample `series` (name{labels}); fails if absent. */
static double sample_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    cr_assert_fail("missing series: %s", series);
    return NAN;
}

/* promtool check metrics: exit status and whatever it printed. */
static int promtool(const char *text, char *report, size_t len)
{
    char in[64], log[64], cmd[256];
    snprintf(in, sizeof(in), "/tmp/yard-metrics-%d.prom", (int)getpid());
    snprintf(log, sizeof(log), "/tmp/yard-metrics-%d.log", (int)getpid());
    FILE *f = fopen(in, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s > %s 2>&1", in, log);
    int status = system(cmd);
    report[0] = '\0';
    f = fopen(log, "r");
    if (f != NULL) {
        size_t got = fread(report, 1, len - 1, f);
        report[got] = '\0';
        fclose(f);
    }
    unlink(in);
    unlink(log);
    cr_assert(WIFEXITED(status), "promtool did not run");
    return WEXITSTATUS(status);
}

static void expect_promtool_clean(const char *text)
{
    char report[4096];
    int rc = promtool(text, report, sizeof(report));
    cr_assert_eq(rc, 0, "promtool check metrics exited %d:\n%s", rc, report);
    cr_assert_str_empty(report, "promtool check metrics complained:\n%s", report);
}

TestSuite(metrics, .init = setup_segment, .fini = teardown_segment);

Test(metrics, without_a_segment_only_dataplane_down)
{
    yard_buf_reset(&out);
    cr_assert_eq(yard_metrics_render(&out, NULL, NULL, NULL), 0);
    const char *text = yard_buf_cstr(&out);
    expect_line(text, "# TYPE yard_dataplane_up gauge");
    expect_line(text, "yard_dataplane_up 0");
    cr_assert_null(strstr(text, "yard_rx_packets_total"));
    expect_promtool_clean(text);
}

Test(metrics, known_counters_and_gauges)
{
    metrics_fill(&shm);
    const char *text = render(NULL, NULL, 0);

    expect_line(text, "yard_dataplane_up 1");
    expect_line(text, "yard_dataplane_ready 1");
    expect_line(text, "yard_dataplane_generation 5");
    expect_line(text, "yard_dataplane_start_time_seconds 1700000000.123456789");
    expect_line(text, "yard_directory_names 7");
    expect_line(text, "yard_directory_locations 12");
    expect_line(text, "yard_directory_capacity 65536");
    expect_line(text, "yard_directory_bytes 1048576");
    expect_line(text, "yard_commands_applied_total 40");
    expect_line(text, "yard_commands_rejected_total 2");
    expect_line(text, "yard_command_applied_seq 42");
    expect_line(text, "yard_sync_swept_locations_total 3");
    char info[96];
    snprintf(info, sizeof(info), "yard_dataplane_info{instance=\"%s\",mode=\"rtc\"} 1", instance);
    expect_line(text, info);

    expect_line(text, "# TYPE yard_rx_packets_total counter");
    expect_line(text, "yard_rx_packets_total{lcore=\"1\",role=\"worker\"} 1000");
    expect_line(text, "yard_messages_total{lcore=\"1\",role=\"worker\"} 990");
    expect_line(text, "yard_routed_messages_total{lcore=\"1\",role=\"worker\"} 900");
    expect_line(text, "yard_tx_packets_total{lcore=\"1\",role=\"worker\"} 880");
    expect_line(text, "yard_tx_packets_total{lcore=\"3\",role=\"tx\"} 500");
    expect_line(text, "yard_arp_rx_total{lcore=\"0\",role=\"agent\"} 5");
    expect_line(text, "yard_arp_replies_total{lcore=\"0\",role=\"agent\"} 4");
    expect_line(text, "yard_busy_cycles_total{lcore=\"1\",role=\"worker\"} 3000000000");
    expect_line(text, "yard_busy_seconds_total{lcore=\"1\",role=\"worker\"} 1.5");
    expect_line(text, "yard_punted_total{lcore=\"1\",role=\"worker\"} 0");
    expect_line(text, "yard_replies_sent_total{lcore=\"1\",role=\"worker\"} 0");

    expect_line(text, "yard_routed_total{lcore=\"1\",role=\"worker\",class=\"0\"} 500");
    expect_line(text, "yard_routed_total{lcore=\"1\",role=\"worker\",class=\"2\"} 100");
    expect_line(text, "yard_tx_total{lcore=\"1\",role=\"worker\",class=\"1\"} 290");
    expect_line(text, "yard_class_dropped_total{lcore=\"1\",role=\"worker\",class=\"3\"} 30");

    expect_line(text, "yard_drops_total{lcore=\"1\",role=\"worker\",reason=\"no_route\"} 60");
    expect_line(text, "yard_drops_total{lcore=\"1\",role=\"worker\",reason=\"shed\"} 30");
    expect_line(text, "yard_drops_total{lcore=\"1\",role=\"worker\",reason=\"bad_frame\"} 0");
    expect_line(text, "yard_drops_total{lcore=\"0\",role=\"agent\",reason=\"arp_ignored\"} 3");

    expect_line(text, "yard_port_info{port=\"0\",name=\"net_tap0\",mac=\"02:00:5e:00:00:01\","
                      "address=\"198.18.0.1/24\",socket=\"0\"} 1");
    expect_line(text, "yard_port_link_up{port=\"0\",name=\"net_tap0\"} 1");
    expect_line(text, "yard_port_link_speed_bytes{port=\"0\",name=\"net_tap0\"} 1250000000");
    expect_line(text, "yard_port_rx_packets_total{port=\"0\",name=\"net_tap0\"} 1500");
    expect_line(text, "yard_port_tx_packets_total{port=\"0\",name=\"net_tap0\"} 1380");
    expect_line(text, "yard_port_rx_bytes_total{port=\"0\",name=\"net_tap0\"} 150000");
    expect_line(text, "yard_port_tx_bytes_total{port=\"0\",name=\"net_tap0\"} 138000");
    expect_line(text, "yard_port_rx_missed_total{port=\"0\",name=\"net_tap0\"} 4");
    expect_line(text, "yard_port_rx_errors_total{port=\"0\",name=\"net_tap0\"} 1");
    expect_line(text, "yard_port_tx_errors_total{port=\"0\",name=\"net_tap0\"} 0");
    expect_line(text, "yard_port_rx_nombuf_total{port=\"0\",name=\"net_tap0\"} 2");

    /* lcore 4 and port 1 hold numbers but are not in use */
    cr_assert_null(strstr(text, "777777"));
    cr_assert_null(strstr(text, "lcore=\"4\""));
    cr_assert_null(strstr(text, "ghost"));

    double age = sample_value(text, "yard_dataplane_heartbeat_age_seconds");
    cr_assert(age >= 0 && age < 1.0, "heartbeat age %f", age);
    expect_promtool_clean(text);
}

Test(metrics, every_drop_reason_and_event_is_named)
{
    metrics_fill(&shm);
    const char *text = render(NULL, NULL, 0);
    char line[256];
    for (unsigned d = 0; d < YARD_DROP_MAX; d++) {
        snprintf(line, sizeof(line), "yard_drops_total{lcore=\"1\",role=\"worker\",reason=\"%s\"}",
                 yard_drop_name(d));
        cr_assert_not_null(strstr(text, line), "no series for drop reason %s", yard_drop_name(d));
        snprintf(line, sizeof(line), "# reason %s: %s", yard_drop_name(d), yard_drop_help(d));
        expect_line(text, line);
    }
    /* every event counter has its own family; two are renamed */
    for (unsigned e = 0; e < YARD_EV_MAX; e++) {
        const char *n = yard_event_name(e);
        if (strcmp(n, "rx_messages") == 0)
            n = "messages";
        else if (strcmp(n, "routed") == 0)
            n = "routed_messages";
        snprintf(line, sizeof(line), "# TYPE yard_%s_total counter", n);
        expect_line(text, line);
    }
}

/* The buckets of one series: le values and cumulative counts in order. */
struct bucket_set {
    double le[128];
    uint64_t count[128];
    unsigned n;
    double sum;
    uint64_t total;
};

static void read_buckets(const char *text, const char *labels, struct bucket_set *bs)
{
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "yard_latency_seconds_bucket{%s,le=\"", labels);
    memset(bs, 0, sizeof(*bs));
    size_t n = strlen(prefix);
    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p += n) {
        cr_assert_lt(bs->n, 128);
        const char *le = p + n;
        bs->le[bs->n] = strncmp(le, "+Inf", 4) == 0 ? INFINITY : strtod(le, NULL);
        const char *v = strstr(le, "} ");
        cr_assert_not_null(v);
        bs->count[bs->n] = strtoull(v + 2, NULL, 10);
        bs->n++;
    }
    char series[128];
    snprintf(series, sizeof(series), "yard_latency_seconds_sum{%s}", labels);
    bs->sum = sample_value(text, series);
    snprintf(series, sizeof(series), "yard_latency_seconds_count{%s}", labels);
    bs->total = (uint64_t)sample_value(text, series);
}

static uint64_t count_at(const struct bucket_set *bs, double le)
{
    for (unsigned i = 0; i < bs->n; i++)
        if (bs->le[i] == le || fabs(bs->le[i] - le) < 1e-15)
            return bs->count[i];
    cr_assert_fail("no bucket le=%.9f", le);
    return 0;
}

static void check_bucket_shape(const struct bucket_set *bs)
{
    cr_assert_gt(bs->n, 2);
    cr_assert(isinf(bs->le[bs->n - 1]), "the last bucket must be +Inf");
    for (unsigned i = 1; i < bs->n; i++) {
        cr_assert_gt(bs->le[i], bs->le[i - 1], "le must increase");
        cr_assert_geq(bs->count[i], bs->count[i - 1], "buckets must be cumulative");
    }
    cr_assert_eq(bs->count[bs->n - 1], bs->total, "+Inf must equal _count");
}

Test(metrics, latency_histogram_is_cumulative_and_exact)
{
    metrics_fill(&shm);
    const char *text = render(NULL, NULL, 0);
    expect_line(text, "# TYPE yard_latency_seconds histogram");

    struct bucket_set w;
    read_buckets(text, "lcore=\"1\",role=\"worker\"", &w);
    check_bucket_shape(&w);
    cr_assert_eq(w.n, 57, "56 boundaries and +Inf, got %u", w.n);
    cr_assert_eq(w.total, 100, "samples recorded: 100, _count %llu", (unsigned long long)w.total);
    /* 90 x 2 us, 9 x 20 us, 1 x 500 us */
    cr_assert_eq(count_at(&w, 256e-9), 0);
    cr_assert_eq(count_at(&w, 1536e-9), 0);
    cr_assert_eq(count_at(&w, 2048e-9), 90);
    cr_assert_eq(count_at(&w, 16384e-9), 90);
    cr_assert_eq(count_at(&w, 24576e-9), 99);
    cr_assert_eq(count_at(&w, 393216e-9), 99);
    cr_assert_eq(count_at(&w, 524288e-9), 100);
    cr_assert_eq(count_at(&w, INFINITY), 100);
    expect_line(text, "yard_latency_seconds_sum{lcore=\"1\",role=\"worker\"} 0.00086");
    expect_line(text,
                "yard_latency_seconds_bucket{lcore=\"1\",role=\"worker\",le=\"0.000002048\"} 90");

    struct bucket_set t;
    read_buckets(text, "lcore=\"3\",role=\"tx\"", &t);
    check_bucket_shape(&t);
    /* 100 x 100 ns, 100 x 3 ms */
    cr_assert_eq(t.total, 200);
    cr_assert_eq(count_at(&t, 256e-9), 100);
    cr_assert_eq(count_at(&t, 2097152e-9), 100);
    cr_assert_eq(count_at(&t, 3145728e-9), 200);
    cr_assert_float_eq(t.sum, 0.30001, 1e-12);

    struct bucket_set a;
    read_buckets(text, "lcore=\"0\",role=\"agent\"", &a);
    check_bucket_shape(&a);
    cr_assert_eq(a.total, 0);
}

Test(metrics, stale_heartbeat_or_dead_pid_is_down)
{
    metrics_fill(&shm);
    shm.hdr->dataplane.heartbeat_ns = yard_monotonic_ns() - 5000000000ull;
    const char *text = render(NULL, NULL, 0);
    expect_line(text, "yard_dataplane_up 0");
    double age = sample_value(text, "yard_dataplane_heartbeat_age_seconds");
    cr_assert(age >= 5.0 && age < 6.0, "heartbeat age %f", age);

    metrics_fill_heartbeat(&shm);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    shm.hdr->dataplane.pid = (int32_t)child;
    text = render(NULL, NULL, 0);
    expect_line(text, "yard_dataplane_up 0");
}

Test(metrics, port_names_are_escaped)
{
    metrics_fill(&shm);
    struct yard_port_stats *p = yard_shm_port(&shm, 0);
    memset(p->name, 'x', sizeof(p->name)); /* not NUL-terminated */
    memcpy(p->name, "a\"b\\c\nd\xff", 8);
    const char *text = render(NULL, NULL, 0);
    cr_assert_not_null(strstr(text, "yard_port_link_up{port=\"0\",name=\"a\\\"b\\\\c\\nd?xxx"));
    expect_promtool_clean(text);
}

/* The daemon's metrics, added in the interleaved order a loop over peers
 * produces. */
static void peers_extra(struct yard_metrics_writer *w, void *arg)
{
    (void)arg;
    static const char *peers[] = {"n1", "n2", "n\"3"};
    static const double le[] = {0.001, 0.01, 0.1};
    for (unsigned i = 0; i < 3; i++) {
        char labels[64];
        cr_assert_eq(yard_metrics_labels(labels, sizeof(labels), "peer", peers[i], NULL), 0);
        cr_assert_eq(yard_metrics_counter(w, "yard_gossip_messages_total",
                                          "Gossip messages received from a peer.", labels,
                                          10 * (i + 1)),
                     0);
        cr_assert_eq(
            yard_metrics_gauge(w, "yard_peer_alive", "1 while the peer is alive.", labels, i != 1),
            0);
        const uint64_t counts[] = {i, 2, 3, 4};
        cr_assert_eq(yard_metrics_histogram(w, "yard_probe_rtt_seconds", "Probe round trips.",
                                            labels, le, counts, 3, 0.25 * (i + 1)),
                     0);
    }
    cr_assert_eq(yard_metrics_counter_f(w, "yard_cpu_seconds_total", "CPU time used.", NULL, 2.5),
                 0);
    cr_assert_eq(yard_metrics_gauge(w, "yard_members", "Members known.", "state=\"alive\"", 2), 0);
    cr_assert_eq(yard_metrics_gauge(w, "yard_members", NULL, "state=\"dead\"", 1), 0);
}

/* Position of the first line starting with `prefix`, or -1. */
static long first_line(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, prefix, n) == 0)
            return p - text;
    return -1;
}

static long last_line(const char *text, const char *prefix)
{
    long last = -1;
    size_t n = strlen(prefix);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, prefix, n) == 0)
            last = p - text;
    return last;
}

static unsigned count_lines(const char *text, const char *prefix)
{
    unsigned k = 0;
    size_t n = strlen(prefix);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, prefix, n) == 0)
            k++;
    return k;
}

Test(metrics, extra_families_are_grouped)
{
    metrics_fill(&shm);
    const char *text = render(peers_extra, NULL, 0);

    static const char *families[] = {"yard_gossip_messages_total", "yard_peer_alive",
                                     "yard_probe_rtt_seconds", "yard_members"};
    for (unsigned f = 0; f < 4; f++) {
        char help[96], type[96];
        snprintf(help, sizeof(help), "# HELP %s ", families[f]);
        snprintf(type, sizeof(type), "# TYPE %s ", families[f]);
        cr_assert_eq(count_lines(text, help), 1, "%s: one HELP", families[f]);
        cr_assert_eq(count_lines(text, type), 1, "%s: one TYPE", families[f]);
        /* every sample between this family's TYPE and the next HELP */
        long start = first_line(text, type);
        long end = last_line(text, families[f]);
        const char *next_help = strstr(text + start, "\n# HELP");
        cr_assert(next_help == NULL || end < next_help - text, "%s: samples are not contiguous",
                  families[f]);
    }
    expect_line(text, "yard_gossip_messages_total{peer=\"n1\"} 10");
    expect_line(text, "yard_gossip_messages_total{peer=\"n\\\"3\"} 30");
    expect_line(text, "yard_peer_alive{peer=\"n2\"} 0");
    expect_line(text, "yard_probe_rtt_seconds_bucket{peer=\"n2\",le=\"0.001\"} 1");
    expect_line(text, "yard_probe_rtt_seconds_bucket{peer=\"n2\",le=\"0.01\"} 3");
    expect_line(text, "yard_probe_rtt_seconds_bucket{peer=\"n2\",le=\"0.1\"} 6");
    expect_line(text, "yard_probe_rtt_seconds_bucket{peer=\"n2\",le=\"+Inf\"} 10");
    expect_line(text, "yard_probe_rtt_seconds_count{peer=\"n2\"} 10");
    expect_line(text, "yard_probe_rtt_seconds_sum{peer=\"n2\"} 0.5");
    expect_line(text, "yard_cpu_seconds_total 2.5");
    expect_line(text, "yard_members{state=\"dead\"} 1");
    expect_promtool_clean(text);
}

static void bad_extra(struct yard_metrics_writer *w, void *arg)
{
    int *first = arg;
    *first = yard_metrics_counter(w, "yard_requests", "no _total suffix", NULL, 1);
    cr_assert_eq(yard_metrics_counter(w, "process_open_fds_total", "not ours", NULL, 1), -EINVAL);
    cr_assert_eq(yard_metrics_gauge(w, "yard_depth_total", "gauge with _total", NULL, 1), -EINVAL);
    cr_assert_eq(yard_metrics_gauge(w, "yard_bad-name", "bad name", NULL, 1), -EINVAL);
    cr_assert_eq(yard_metrics_gauge(w, "yard_dataplane_up", "the segment's", NULL, 1), -EEXIST);
    cr_assert_eq(yard_metrics_gauge(w, "yard_queue", "ok", "q=\"a\"", 1), 0);
    cr_assert_eq(
        yard_metrics_histogram(w, "yard_queue", "other type", NULL, NULL, (uint64_t[]){1}, 0, 0),
        -EINVAL);
    cr_assert_eq(yard_metrics_gauge(w, "yard_queue", "bad labels", "q=\"unterminated", 1), -EINVAL);
    cr_assert_eq(yard_metrics_gauge(w, "yard_queue", "bad labels", "q=a", 1), -EINVAL);
    cr_assert_eq(yard_metrics_gauge(w, "yard_queue", "reserved", "__name__=\"x\"", 1), -EINVAL);
    const double le[] = {0.1, 0.1};
    const uint64_t counts[] = {1, 1, 1};
    cr_assert_eq(
        yard_metrics_histogram(w, "yard_h_seconds_x", "not increasing", NULL, le, counts, 2, 0),
        -EINVAL);
    cr_assert_eq(
        yard_metrics_histogram(w, "yard_wait_seconds", "le label", "le=\"1\"", le, counts, 1, 0),
        -EINVAL);
}

Test(metrics, extra_misuse_is_refused_and_output_stays_valid)
{
    metrics_fill(&shm);
    int first = 0;
    const char *text = render(bad_extra, &first, -EINVAL);
    cr_assert_eq(first, -EINVAL);
    cr_assert_null(strstr(text, "yard_requests"));
    cr_assert_null(strstr(text, "process_open_fds"));
    cr_assert_null(strstr(text, "yard_bad-name"));
    cr_assert_null(strstr(text, "__name__"));
    cr_assert_null(strstr(text, "yard_wait_seconds"));
    expect_line(text, "yard_queue{q=\"a\"} 1");
    cr_assert_eq(count_lines(text, "yard_dataplane_up "), 1);
    expect_promtool_clean(text);
}

Test(metrics, label_helper_escapes_and_checks)
{
    char buf[64];
    cr_assert_eq(yard_metrics_labels(buf, sizeof(buf), "name", "a\"b\\c\nd", "x", "1", NULL), 0);
    cr_assert_str_eq(buf, "name=\"a\\\"b\\\\c\\nd\",x=\"1\"");
    cr_assert_eq(yard_metrics_labels(buf, 12, "name", "long value", NULL), -ENOSPC);
    cr_assert_eq(yard_metrics_labels(buf, sizeof(buf), "bad-key", "v", NULL), -EINVAL);
    cr_assert_eq(yard_metrics_labels(buf, sizeof(buf), "__name__", "v", NULL), -EINVAL);
    cr_assert_eq(yard_metrics_labels(buf, sizeof(buf), NULL), 0);
    cr_assert_str_eq(buf, "");
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

Test(metrics, all_128_lcores_render_fast_and_valid, .timeout = 60)
{
    metrics_fill(&shm);
    metrics_fill_all_lcores(&shm);
    enum { RUNS = 21 };
    double ms[RUNS];
    for (int r = 0; r < RUNS; r++) {
        struct timespec a, b;
        yard_buf_reset(&out);
        clock_gettime(CLOCK_MONOTONIC, &a);
        cr_assert_eq(yard_metrics_render(&out, &shm, peers_extra, NULL), 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        ms[r] = elapsed_ms(&a, &b);
    }
    qsort(ms, RUNS, sizeof(ms[0]), cmp_double);
    const char *text = yard_buf_cstr(&out);
    fprintf(stderr,
            "metrics: 128 lcores: %zu bytes, render min %.3f ms, median %.3f ms, max %.3f ms\n",
            out.len, ms[0], ms[RUNS / 2], ms[RUNS - 1]);
    cr_assert_lt(ms[RUNS / 2], 10.0, "median render %.3f ms with 128 lcores", ms[RUNS / 2]);
    cr_assert_eq(count_lines(text, "yard_latency_seconds_count{"), 128);
    expect_line(text, "yard_rx_packets_total{lcore=\"127\",role=\"worker\"} 128000384");

    struct bucket_set bs;
    read_buckets(text, "lcore=\"77\",role=\"worker\"", &bs);
    check_bucket_shape(&bs);
    cr_assert_eq(bs.total, yard_shm_lcore(&shm, 77)->latency.count);
    expect_promtool_clean(text);
}
