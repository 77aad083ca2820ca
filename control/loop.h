/*
 * loop.h - yard-control's one event loop: epoll, timerfd and signalfd.
 *
 * Every source of work in the control plane (sockets, timers, signals, the
 * shm punt ring's poll timer) is a file descriptor in one epoll set, served
 * by one thread, so no state is ever shared between threads and no lock is
 * needed. Callbacks must not block: they read what is ready, do bounded
 * work, and return. Work that must happen after a batch of callbacks (the
 * WAL's group commit, replies that wait for it) registers an "after" hook,
 * which runs once per epoll_wait round.
 *
 * Who may call what: everything from the loop's thread only.
 */
#ifndef YARD_LOOP_H
#define YARD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct yard_loop;

/* Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLHUP, ...) of fd. */
typedef void (*yard_loop_fd_fn)(struct yard_loop *loop, int fd, uint32_t events, void *arg);
/* A timer expired (expirations: how many periods passed since last run). */
typedef void (*yard_loop_timer_fn)(struct yard_loop *loop, uint64_t expirations, void *arg);
/* A signal arrived. */
typedef void (*yard_loop_signal_fn)(struct yard_loop *loop, int signo, void *arg);
/* After every round of callbacks. */
typedef void (*yard_loop_after_fn)(struct yard_loop *loop, void *arg);

#define YARD_LOOP_MAX_AFTER 8

struct yard_loop_timer {
    int fd;
    yard_loop_timer_fn fn;
    void *arg;
};

struct yard_loop {
    int epfd;
    int sigfd;
    bool stop;
    uint64_t rounds; /* epoll_wait rounds so far */
    yard_loop_signal_fn sig_fn;
    void *sig_arg;
    unsigned nb_after;
    struct {
        yard_loop_after_fn fn;
        void *arg;
    } after[YARD_LOOP_MAX_AFTER];
};

/* 0 or -errno. */
int yard_loop_init(struct yard_loop *loop);
/* Close the epoll set and signalfd (fds added by callers are theirs to close). */
void yard_loop_fini(struct yard_loop *loop);

/*
 * Watch fd for `events` (EPOLLIN, EPOLLOUT; level-triggered). The callback
 * gets arg back. One registration per fd. 0 or -errno. The registration
 * record is heap-allocated and freed by yard_loop_del().
 */
int yard_loop_add(struct yard_loop *loop, int fd, uint32_t events, yard_loop_fd_fn fn, void *arg);
/* Change the events of a watched fd. 0 or -errno. */
int yard_loop_mod(struct yard_loop *loop, int fd, uint32_t events);
/* Stop watching fd (call before closing it). Safe from inside fd's own
 * callback: the record is freed only after the current round. */
int yard_loop_del(struct yard_loop *loop, int fd);

/*
 * A periodic timer (CLOCK_MONOTONIC timerfd) firing every period_ms, first
 * after period_ms. Returns the timer (to re-arm or cancel) or NULL.
 */
struct yard_loop_timer *yard_loop_timer_add(struct yard_loop *loop, unsigned period_ms,
                                            yard_loop_timer_fn fn, void *arg);
/* Re-arm: period 0 disarms. 0 or -errno. */
int yard_loop_timer_set(struct yard_loop_timer *t, unsigned period_ms);
void yard_loop_timer_del(struct yard_loop *loop, struct yard_loop_timer *t);

/*
 * Deliver these signals (blocked for the whole process, then read from a
 * signalfd) to fn. Call once, before starting any thread. 0 or -errno.
 */
int yard_loop_signals(struct yard_loop *loop, const int *signals, unsigned n,
                      yard_loop_signal_fn fn, void *arg);

/* Run fn after every round of callbacks, in registration order. 0 or -ENOSPC. */
int yard_loop_after(struct yard_loop *loop, yard_loop_after_fn fn, void *arg);

/* Run until yard_loop_stop(). Returns 0, or -errno if epoll_wait fails. */
int yard_loop_run(struct yard_loop *loop);
/* Make yard_loop_run() return after the current round. */
void yard_loop_stop(struct yard_loop *loop);

/*
 * One round: wait up to timeout_ms (-1: forever) for events, run their
 * callbacks and the after hooks. For tests that drive a loop step by step.
 * Returns the number of fd events served or -errno.
 */
int yard_loop_run_once(struct yard_loop *loop, int timeout_ms);

#endif
