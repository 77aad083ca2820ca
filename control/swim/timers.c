/*
 * timers.c - deadlines in a binary min-heap on one timerfd (timers.h).
 *
 * The timerfd is set with TFD_TIMER_ABSTIME to the heap's earliest
 * deadline and re-set only when that changes. A run fires only what was
 * due when it started, so a callback that re-arms a timer in the past
 * cannot spin the loop: the timerfd, set in the past, fires it next round.
 */
#include "timers.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

uint64_t swim_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void swim_timers_init(struct swim_timers *ts)
{
    *ts = (struct swim_timers){.fd = -1};
}

uint64_t swim_timers_now(const struct swim_timers *ts)
{
    return ts->fake_now_ms != 0 ? ts->fake_now_ms : swim_clock_ms();
}

void swim_timers_set_now(struct swim_timers *ts, uint64_t ms)
{
    ts->fake_now_ms = ms;
}

void swim_timer_init(struct swim_timer *t, swim_timer_fn fn, void *arg)
{
    *t = (struct swim_timer){.fn = fn, .arg = arg};
}

static void place(struct swim_timers *ts, unsigned i, struct swim_timer *t)
{
    ts->heap[i] = t;
    t->heap_pos = i + 1;
}

static void sift_up(struct swim_timers *ts, unsigned i)
{
    struct swim_timer *t = ts->heap[i];
    while (i > 0) {
        unsigned parent = (i - 1) / 2;
        if (ts->heap[parent]->due_ms <= t->due_ms)
            break;
        place(ts, i, ts->heap[parent]);
        i = parent;
    }
    place(ts, i, t);
}

static void sift_down(struct swim_timers *ts, unsigned i)
{
    struct swim_timer *t = ts->heap[i];
    for (;;) {
        unsigned child = 2 * i + 1;
        if (child >= ts->nb)
            break;
        if (child + 1 < ts->nb && ts->heap[child + 1]->due_ms < ts->heap[child]->due_ms)
            child++;
        if (ts->heap[child]->due_ms >= t->due_ms)
            break;
        place(ts, i, ts->heap[child]);
        i = child;
    }
    place(ts, i, t);
}

/* Point the timerfd at the earliest deadline (or disarm it). */
static void sync_fd(struct swim_timers *ts)
{
    if (ts->fd < 0)
        return;
    uint64_t want = ts->nb > 0 ? ts->heap[0]->due_ms : 0;
    if (want == ts->armed_ms)
        return;
    struct itimerspec its = {0};
    if (want != 0) { /* it_value 0 would disarm; deadlines are never 0 */
        its.it_value.tv_sec = (time_t)(want / 1000);
        its.it_value.tv_nsec = (long)(want % 1000) * 1000000L;
    }
    if (timerfd_settime(ts->fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        ts->armed_ms = want;
}

static void heap_remove(struct swim_timers *ts, struct swim_timer *t)
{
    unsigned i = t->heap_pos - 1;
    t->heap_pos = 0;
    ts->nb--;
    if (i == ts->nb)
        return;
    place(ts, i, ts->heap[ts->nb]);
    if (i > 0 && ts->heap[(i - 1) / 2]->due_ms > ts->heap[i]->due_ms)
        sift_up(ts, i);
    else
        sift_down(ts, i);
}

int swim_timer_arm(struct swim_timers *ts, struct swim_timer *t, uint64_t due_ms)
{
    if (t->heap_pos != 0) {
        heap_remove(ts, t);
    } else if (ts->nb == ts->cap) {
        unsigned cap = ts->cap ? ts->cap * 2 : 64;
        struct swim_timer **heap = realloc(ts->heap, cap * sizeof(*heap));
        if (heap == NULL)
            return -ENOMEM;
        ts->heap = heap;
        ts->cap = cap;
    }
    t->due_ms = due_ms;
    ts->heap[ts->nb] = t;
    t->heap_pos = ++ts->nb;
    sift_up(ts, ts->nb - 1);
    sync_fd(ts);
    return 0;
}

int swim_timer_arm_in(struct swim_timers *ts, struct swim_timer *t, uint64_t after_ms)
{
    return swim_timer_arm(ts, t, swim_timers_now(ts) + after_ms);
}

void swim_timer_cancel(struct swim_timers *ts, struct swim_timer *t)
{
    if (t->heap_pos == 0)
        return;
    heap_remove(ts, t);
    sync_fd(ts);
}

unsigned swim_timers_run(struct swim_timers *ts)
{
    uint64_t now = swim_timers_now(ts);
    unsigned fired = 0;
    while (ts->nb > 0 && ts->heap[0]->due_ms <= now) {
        struct swim_timer *t = ts->heap[0];
        heap_remove(ts, t);
        fired++;
        t->fn(t, t->arg);
    }
    /* The fd fired (or a test ran us): whatever it was set to is spent. */
    ts->armed_ms = (uint64_t)-1;
    sync_fd(ts);
    return fired;
}

static void on_timerfd(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)events;
    uint64_t expirations;
    if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        return;
    swim_timers_run(arg);
}

int swim_timers_attach(struct swim_timers *ts, struct yard_loop *loop)
{
    ts->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ts->fd < 0)
        return -errno;
    int rc = yard_loop_add(loop, ts->fd, EPOLLIN, on_timerfd, ts);
    if (rc < 0) {
        close(ts->fd);
        ts->fd = -1;
        return rc;
    }
    ts->loop = loop;
    ts->armed_ms = 0;
    sync_fd(ts);
    return 0;
}

void swim_timers_fini(struct swim_timers *ts)
{
    if (ts->fd >= 0) {
        if (ts->loop != NULL)
            yard_loop_del(ts->loop, ts->fd);
        close(ts->fd);
    }
    for (unsigned i = 0; i < ts->nb; i++)
        ts->heap[i]->heap_pos = 0;
    free(ts->heap);
    swim_timers_init(ts);
}
