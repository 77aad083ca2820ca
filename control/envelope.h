/*
 * envelope.h - the envelopes yard-control reads and writes (PROTOCOL.md §1):
 * the body of a REGISTER or SUBSCRIBE, and the ACK / NACK it answers with.
 *
 * Bodies are bin fields holding opaque bytes; where the protocol gives a
 * body structure, the bytes are a msgpack value: REGISTER's optional map
 * {"lease_ms": N} and ACK's map {"lease_ms": N, "node": "<name>"}. A NACK's
 * body is the reason as UTF-8 text.
 *
 * One thread; no allocation; no I/O.
 */
#ifndef YARD_CTL_ENVELOPE_H
#define YARD_CTL_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "yard_shm.h"

/*
 * The lease an application asked for in a REGISTER/SUBSCRIBE body: 0 when
 * the body is empty or has no "lease_ms"; -EINVAL when the body is not a
 * msgpack map or lease_ms is not an unsigned integer.
 */
int yard_env_requested_lease(const uint8_t *body, size_t len, uint64_t *lease_ms);

struct yard_env_reply {
    uint8_t kind; /* YARD_KIND_ACK or YARD_KIND_NACK */
    uint8_t prio;
    uint64_t id;
    const char *dst; /* the application's name (its request's src) */
    unsigned dst_len;
    const char *src; /* this node's name */
    unsigned src_len;
    uint32_t lease_ms;  /* ACK */
    const char *reason; /* NACK */
};

/* Encode into buf (at least YARD_REPLY_MAX_BYTES); returns the length. */
size_t yard_env_encode_reply(uint8_t *buf, const struct yard_env_reply *r);

#endif
