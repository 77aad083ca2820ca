/*
 * loop.c - yard-control's event loop (see loop.h).
 *
 * Each watched fd has a small heap record holding its callback; epoll hands
 * the record back in data.ptr. Records removed during a round are parked on
 * a list and freed after the round, so a callback may delete its own fd (or
 * another fd whose event is still pending in this round: such a record is
 * marked dead and its event skipped).
 */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define MAX_EVENTS 64

struct watch {
    int fd;
    bool dead;
    yard_loop_fd_fn fn;
    void *arg;
    struct watch *next_dead;
};

/* Records of fds deleted during the current round, freed after it. One loop
 * per process, so a file-scope list is enough. */
static struct watch *dead_list;

/* The signalfd's and timers' records are ordinary watches: their callbacks
 * below read the fd and call the user's function. */

int yard_loop_init(struct yard_loop *loop)
{
    memset(loop, 0, sizeof(*loop));
    loop->sigfd = -1;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    return loop->epfd < 0 ? -errno : 0;
}

void yard_loop_fini(struct yard_loop *loop)
{
    if (loop->sigfd >= 0) {
        yard_loop_del(loop, loop->sigfd);
        close(loop->sigfd);
        loop->sigfd = -1;
    }
    while (dead_list != NULL) {
        struct watch *w = dead_list;
        dead_list = w->next_dead;
        free(w);
    }
    if (loop->epfd >= 0)
        close(loop->epfd);
    loop->epfd = -1;
}

/* The record of fd: kept in a table indexed by fd for yard_loop_del/mod. */
static struct watch **watches;
static unsigned nb_watch_slots;

static int remember(int fd, struct watch *w)
{
    if ((unsigned)fd >= nb_watch_slots) {
        unsigned n = nb_watch_slots ? nb_watch_slots : 64;
        while (n <= (unsigned)fd)
            n *= 2;
        struct watch **grown = realloc(watches, n * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        memset(grown + nb_watch_slots, 0, (n - nb_watch_slots) * sizeof(*grown));
        watches = grown;
        nb_watch_slots = n;
    }
    watches[fd] = w;
    return 0;
}

int yard_loop_add(struct yard_loop *loop, int fd, uint32_t events, yard_loop_fd_fn fn, void *arg)
{
    if (fd < 0 || fn == NULL)
        return -EINVAL;
    if ((unsigned)fd < nb_watch_slots && watches[fd] != NULL)
        return -EEXIST;
    struct watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->fd = fd;
    w->fn = fn;
    w->arg = arg;
    int rc = remember(fd, w);
    if (rc < 0) {
        free(w);
        return rc;
    }
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        rc = -errno;
        watches[fd] = NULL;
        free(w);
        return rc;
    }
    return 0;
}

int yard_loop_mod(struct yard_loop *loop, int fd, uint32_t events)
{
    if (fd < 0 || (unsigned)fd >= nb_watch_slots || watches[fd] == NULL)
        return -ENOENT;
    struct epoll_event ev = {.events = events, .data.ptr = watches[fd]};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int yard_loop_del(struct yard_loop *loop, int fd)
{
    if (fd < 0 || (unsigned)fd >= nb_watch_slots || watches[fd] == NULL)
        return -ENOENT;
    struct watch *w = watches[fd];
    watches[fd] = NULL;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    w->dead = true;
    w->next_dead = dead_list;
    dead_list = w;
    return 0;
}

static void on_timer(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct yard_loop_timer *t = arg;
    uint64_t expirations = 0;
    if (read(fd, &expirations, sizeof(expirations)) != sizeof(expirations))
        return; /* EAGAIN: disarmed or already read */
    t->fn(loop, expirations, t->arg);
}

struct yard_loop_timer *yard_loop_timer_add(struct yard_loop *loop, unsigned period_ms,
                                            yard_loop_timer_fn fn, void *arg)
{
    struct yard_loop_timer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    t->fn = fn;
    t->arg = arg;
    if (t->fd < 0 || yard_loop_timer_set(t, period_ms) < 0 ||
        yard_loop_add(loop, t->fd, EPOLLIN, on_timer, t) < 0) {
        if (t->fd >= 0)
            close(t->fd);
        free(t);
        return NULL;
    }
    return t;
}

int yard_loop_timer_set(struct yard_loop_timer *t, unsigned period_ms)
{
    struct itimerspec its;
    its.it_interval.tv_sec = period_ms / 1000;
    its.it_interval.tv_nsec = (long)(period_ms % 1000) * 1000000L;
    its.it_value = its.it_interval;
    return timerfd_settime(t->fd, 0, &its, NULL) < 0 ? -errno : 0;
}

void yard_loop_timer_del(struct yard_loop *loop, struct yard_loop_timer *t)
{
    if (t == NULL)
        return;
    yard_loop_del(loop, t->fd);
    close(t->fd);
    free(t);
}

static void on_signal(struct yard_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)events;
    (void)arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == sizeof(si))
        if (loop->sig_fn != NULL)
            loop->sig_fn(loop, (int)si.ssi_signo, loop->sig_arg);
}

int yard_loop_signals(struct yard_loop *loop, const int *signals, unsigned n,
                      yard_loop_signal_fn fn, void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    for (unsigned i = 0; i < n; i++)
        sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    loop->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (loop->sigfd < 0)
        return -errno;
    loop->sig_fn = fn;
    loop->sig_arg = arg;
    return yard_loop_add(loop, loop->sigfd, EPOLLIN, on_signal, NULL);
}

int yard_loop_after(struct yard_loop *loop, yard_loop_after_fn fn, void *arg)
{
    if (loop->nb_after >= YARD_LOOP_MAX_AFTER)
        return -ENOSPC;
    loop->after[loop->nb_after].fn = fn;
    loop->after[loop->nb_after].arg = arg;
    loop->nb_after++;
    return 0;
}

int yard_loop_run_once(struct yard_loop *loop, int timeout_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int n = epoll_wait(loop->epfd, evs, MAX_EVENTS, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        struct watch *w = evs[i].data.ptr;
        if (!w->dead)
            w->fn(loop, w->fd, evs[i].events, w->arg);
    }
    for (unsigned i = 0; i < loop->nb_after; i++)
        loop->after[i].fn(loop, loop->after[i].arg);
    while (dead_list != NULL) {
        struct watch *w = dead_list;
        dead_list = w->next_dead;
        free(w);
    }
    loop->rounds++;
    return n;
}

int yard_loop_run(struct yard_loop *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        int rc = yard_loop_run_once(loop, -1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void yard_loop_stop(struct yard_loop *loop)
{
    loop->stop = true;
}
