/*
 * timers.h - one-shot deadlines for the gossip engine on one timerfd.
 *
 * The protocol keeps many short-lived deadlines: a suspicion timer per
 * suspect node, an ack handler per ping in flight (our probes and the ones
 * we relay for indirect probes), nack timers, stream deadlines, and the
 * probe, gossip and push/pull ticks. A timerfd each would cost a
 * descriptor and a few syscalls per ping, so they live in a binary heap
 * ordered by deadline, and only the earliest one is armed on the timerfd
 * (absolute CLOCK_MONOTONIC). Timer records are embedded in their owners;
 * the heap only grows (no allocation once it has seen its peak).
 *
 * The clock can be replaced (swim_timers_set_now) so unit tests drive
 * suspicion and reaping without sleeping.
 *
 * Who may call: the loop thread only. Costs: arm/cancel O(log n) plus one
 * timerfd_settime when the earliest deadline changes.
 */
#ifndef YARD_SWIM_TIMERS_H
#define YARD_SWIM_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

struct yard_loop;
struct swim_timer;

typedef void (*swim_timer_fn)(struct swim_timer *t, void *arg);

struct swim_timer {
    uint64_t due_ms;
    unsigned heap_pos; /* index + 1 in the heap; 0: not armed */
    swim_timer_fn fn;
    void *arg;
};

struct swim_timers {
    struct swim_timer **heap;
    unsigned nb, cap;
    uint64_t fake_now_ms; /* != 0: the clock tests set */
    uint64_t armed_ms;    /* what the timerfd is set to (0: disarmed) */
    int fd;               /* timerfd, -1 when not attached to a loop */
    struct yard_loop *loop;
};

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t swim_clock_ms(void);

/* An empty set using the real clock, not attached to a loop. */
void swim_timers_init(struct swim_timers *ts);

/* Create the timerfd and watch it on loop: due timers then fire from the
 * loop. 0 or -errno. */
int swim_timers_attach(struct swim_timers *ts, struct yard_loop *loop);

/* Detach from the loop, close the timerfd, free the heap (armed timers are
 * forgotten, their records untouched). */
void swim_timers_fini(struct swim_timers *ts);

/* Now, on the set's clock. */
uint64_t swim_timers_now(const struct swim_timers *ts);

/* Tests: replace the clock with a fixed value (ms > 0); 0 restores it. */
void swim_timers_set_now(struct swim_timers *ts, uint64_t ms);

/* Set up a timer record (not armed). */
void swim_timer_init(struct swim_timer *t, swim_timer_fn fn, void *arg);

/*
 * Arm t to fire at due_ms (absolute, on the set's clock; a past deadline
 * fires on the next run). Re-arming an armed timer moves it. 0 or -ENOMEM
 * (the heap could not grow; t stays as it was).
 */
int swim_timer_arm(struct swim_timers *ts, struct swim_timer *t, uint64_t due_ms);

/* Arm t to fire after_ms from now. */
int swim_timer_arm_in(struct swim_timers *ts, struct swim_timer *t, uint64_t after_ms);

/* Disarm t (no-op if not armed). */
void swim_timer_cancel(struct swim_timers *ts, struct swim_timer *t);

static inline bool swim_timer_armed(const struct swim_timer *t)
{
    return t->heap_pos != 0;
}

/*
 * Fire every timer due at or before now (on the set's clock), earliest
 * first; each is disarmed before its function runs, which may re-arm it or
 * arm/cancel others. Returns the number fired. The loop callback calls
 * this; tests call it after moving the fake clock.
 */
unsigned swim_timers_run(struct swim_timers *ts);

#endif
