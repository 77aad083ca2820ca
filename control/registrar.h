/*
 * registrar.h - applications' control messages: REGISTER, UNREGISTER,
 * SUBSCRIBE, UNSUBSCRIBE (PROTOCOL.md §1 kinds 1-4), punted by the
 * dataplane, applied to the directory, answered with ACK or NACK.
 *
 * A reply is held until its change is durable (the log's group commit at
 * the end of the round) and live in the dataplane (its command applied), so
 * an application that has its ACK can be sent to at once. Replies travel
 * back through the dataplane's reply ring to the request's source address
 * and MAC.
 *
 * One thread (the event loop).
 */
#ifndef YARD_CTL_REGISTRAR_H
#define YARD_CTL_REGISTRAR_H

#include <stdbool.h>
#include <stdint.h>

#include "yard_shm.h"

/* Punts handled per call: bounds the time one poll takes. */
#define YARD_REG_BATCH 1024
/* Replies waiting for their change to be live; more are dropped (counted). */
#define YARD_REG_PENDING_MAX 65536
/* A reply not sendable for this long is dropped (the application retries). */
#define YARD_REG_REPLY_TIMEOUT_MS 5000

struct yard_ctl;

struct yard_pending_reply {
    uint64_t seq;       /* dataplane command that must be applied first (0: none) */
    uint64_t queued_ms; /* for the timeout */
    struct yard_reply rec;
};

struct yard_registrar {
    struct yard_pending_reply *pending; /* circular, in seq order */
    uint32_t p_head, p_len;
    bool need_durable; /* replies appended since the last group commit */
};

int yard_registrar_init(struct yard_registrar *r);
void yard_registrar_fini(struct yard_registrar *r);

/* Drain up to YARD_REG_BATCH punts and apply them. Returns how many. */
unsigned yard_registrar_poll(struct yard_ctl *c);

/* Send the replies whose changes are durable and live. True while replies
 * still wait. Call after the round's group commit. */
bool yard_registrar_flush(struct yard_ctl *c);

#endif
