/*
 * top.c - `yardctl top` (see top.h).
 *
 * Each frame is formatted into memory first and written with one call, so
 * a terminal never shows half a frame. The first frame comes one interval
 * after start, since rates need two snapshots. Keys are read only when
 * stdin is a terminal, in non-canonical mode, and the terminal's modes are
 * restored on every way out.
 */
#include "top.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"
#include "yard_shm.h"

/* Same judgement as stats: ten missed 100 ms beats is not running. */
#define HEARTBEAT_MAX_AGE_NS 1000000000ull

static volatile sig_atomic_t quit_requested;

static void on_quit_signal(int sig)
{
    (void)sig;
    quit_requested = 1;
}

static void frame(FILE *f, const char *instance, const struct yard_cli_snapshot *s,
                  const struct yard_cli_rates *r)
{
    char when[16], buf[64];
    time_t t = (time_t)(s->real_ns / 1000000000ull);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%H:%M:%S", &tm);
    fprintf(f, "yardctl top - instance '%s' - %s - interval %.2f s\n", instance, when,
            r->interval_s);

    const struct yard_shm_side *dp = &s->hdr.dataplane;
    double age = yard_cli_heartbeat_age_ms(dp, s->mono_ns);
    if (dp->pid <= 0)
        fprintf(f, "dataplane: not running");
    else
        fprintf(f, "dataplane: pid %d, %s", (int)dp->pid, s->dp_alive ? "alive" : "NOT RUNNING");
    if (age >= 0)
        fprintf(f, ", heartbeat %.0f ms ago", age);
    else
        fprintf(f, ", no heartbeat");
    fprintf(f, ", %s, applied seq %" PRIu64 "\n", s->hdr.dataplane_ready ? "ready" : "not ready",
            s->hdr.cmd_applied_seq);

    fprintf(f, "\n%-12s %12s %12s %12s %12s %12s\n", "per second", "rx pkt", "rx msg", "routed",
            "tx", "dropped");
    fprintf(f, "%-12s %12.0f %12.0f %12.0f %12.0f %12.0f\n", "total", r->rx_packets, r->rx_messages,
            r->routed, r->tx_packets, r->dropped);

    fprintf(f, "\n%-12s %12s %12s %12s\n", "class", "routed/s", "tx/s", "dropped/s");
    for (unsigned c = 0; c < YARD_NB_CLASSES; c++)
        fprintf(f, "%-12u %12.0f %12.0f %12.0f\n", c, r->class_routed[c], r->class_tx[c],
                r->class_dropped[c]);

    fprintf(f, "\n%-22s %12s\n", "drop reason", "per second");
    unsigned shown = 0;
    for (unsigned d = 0; d < r->nb_drops; d++) {
        if (r->drops[d] <= 0)
            continue;
        const char *help = yard_drop_help(d);
        fprintf(f, "%-22s %12.0f  %s\n", yard_cli_drop_name(d, buf, sizeof(buf)), r->drops[d],
                help != NULL ? help : "");
        shown++;
    }
    if (shown == 0)
        fprintf(f, "(no drops)\n");

    const struct yard_hist *h = &r->latency;
    fprintf(f, "\nlatency (us), last interval, %" PRIu64 " messages: ", h->count);
    if (h->count == 0)
        fprintf(f, "-\n");
    else
        fprintf(
            f, "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
            (double)yard_hist_quantile(h, 0.50) / 1000, (double)yard_hist_quantile(h, 0.90) / 1000,
            (double)yard_hist_quantile(h, 0.99) / 1000, (double)yard_hist_quantile(h, 1.0) / 1000);

    fprintf(f, "\n%-6s %-7s %7s\n", "lcore", "role", "busy%");
    for (unsigned i = 0; i < s->nb_lcores; i++) {
        const struct yard_cli_lcore_snap *l = &s->lcores[i];
        if (r->lcore_busy_pct[i] >= 0)
            snprintf(buf, sizeof(buf), "%.1f", r->lcore_busy_pct[i]);
        else
            snprintf(buf, sizeof(buf), "-");
        fprintf(f, "%-6u %-7s %7s\n", l->id, yard_lcore_role_name(l->role), buf);
    }
    if (s->nb_lcores == 0)
        fprintf(f, "(no lcores)\n");
}

struct term {
    bool screen; /* drawing full screens on a terminal */
    bool keys;   /* stdin switched to non-canonical mode */
    struct termios saved;
};

static void term_enter(struct term *t, FILE *out)
{
    memset(t, 0, sizeof(*t));
    t->screen = isatty(fileno(out));
    if (!t->screen)
        return;
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        struct termios raw = t->saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        t->keys = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    fputs("\033[?1049h\033[?25l", out); /* alternate screen, hide cursor */
    fflush(out);
}

static void term_leave(struct term *t, FILE *out)
{
    if (t->keys)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
    if (t->screen) {
        fputs("\033[?25h\033[?1049l", out);
        fflush(out);
    }
}

/* Sleep until the deadline, or until q is typed or a signal arrives. */
static void wait_until(const struct timespec *deadline, bool keys)
{
    for (;;) {
        if (quit_requested)
            return;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left_ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
                          (deadline->tv_nsec - now.tv_nsec) / 1000000;
        if (left_ms <= 0)
            return;
        if (!keys) {
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL);
            continue;
        }
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        if (poll(&p, 1, (int)left_ms) > 0) {
            char c;
            if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q'))
                quit_requested = 1;
        }
    }
}

static void add_ns(struct timespec *ts, uint64_t ns)
{
    uint64_t t = (uint64_t)ts->tv_nsec + ns % 1000000000ull;
    ts->tv_sec += (time_t)(ns / 1000000000ull + t / 1000000000ull);
    ts->tv_nsec = (long)(t % 1000000000ull);
}

int yard_cli_top(const struct yard_cli_top_opts *o, FILE *out, FILE *errf)
{
    struct yard_shm shm;
    char err[512];
    int rc = yard_shm_open(&shm, o->instance, false, err, sizeof(err));
    if (rc != 0) {
        fprintf(errf, "yardctl: %s\n", err);
        return rc == -EINVAL ? 2 : 1;
    }
    struct yard_cli_snapshot *snaps = calloc(2, sizeof(*snaps));
    struct yard_cli_rates *r = calloc(1, sizeof(*r));
    if (snaps == NULL || r == NULL) {
        free(snaps);
        free(r);
        yard_shm_close(&shm);
        fprintf(errf, "yardctl: top: out of memory\n");
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_quit_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct term term;
    term_enter(&term, out);
    struct yard_cli_snapshot *before = &snaps[0], *now = &snaps[1];
    uint64_t period_ns = (uint64_t)(o->interval_s * 1e9);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    yard_cli_snapshot_take(&shm, before);
    for (long n = 0; !quit_requested && (o->count == 0 || n < o->count); n++) {
        add_ns(&next, period_ns);
        wait_until(&next, term.keys);
        if (quit_requested)
            break;
        yard_cli_snapshot_take(&shm, now);
        yard_cli_rates_compute(r, now, before);

        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (mem == NULL)
            break;
        if (term.screen)
            fputs("\033[H\033[2J", mem);
        else if (n > 0)
            fputc('\n', mem);
        frame(mem, o->instance, now, r);
        fclose(mem);
        fwrite(text, 1, len, out);
        fflush(out);
        free(text);

        struct yard_cli_snapshot *tmp = before;
        before = now;
        now = tmp;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec >
            (uint64_t)next.tv_sec * 1000000000ull + (uint64_t)next.tv_nsec + period_ns)
            next = t; /* fell behind (suspended): restart the schedule */
    }
    term_leave(&term, out);
    free(snaps);
    free(r);
    yard_shm_close(&shm);
    return 0;
}
