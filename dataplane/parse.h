/*
 * parse.h - the message envelope parser (PROTOCOL.md §1).
 *
 * The UDP payload is exactly one MessagePack array of 8 elements:
 *   [ver, kind, dst, src, prio, ttl, id, body]
 * Every MessagePack width is accepted for every field (positive fixint,
 * uint8..uint64; fixstr, str8, str16, str32; bin8, bin16, bin32; str is
 * accepted for body). Anything else is rejected with a reason code, never
 * read past `len`.
 *
 * Who calls it: worker lcores, per message, on the hot path; tools and tests.
 * Cost: one pass over the header fields (the body is never read), no
 * allocation, no writes except to *env.
 */
#ifndef YARD_PARSE_H
#define YARD_PARSE_H

#include <stdint.h>

#define YARD_ENVELOPE_VERSION 1
#define YARD_TTL_MAX          64
#define YARD_PRIO_MAX         3
#define YARD_DST_MAX          63
#define YARD_SRC_MAX          63
/* Most bytes from the start of an envelope to the end of its kind: array32
 * (5), ver as uint64 (9), kind as uint64 (9). A topic copy that changes the
 * kind carries up to that many bytes of its own before the shared body. */
#define YARD_KIND_PREFIX_MAX 23

enum yard_kind {
    YARD_KIND_MSG = 0,
    YARD_KIND_REGISTER = 1,
    YARD_KIND_UNREGISTER = 2,
    YARD_KIND_SUBSCRIBE = 3,
    YARD_KIND_UNSUBSCRIBE = 4,
    YARD_KIND_ACK = 5,
    YARD_KIND_NACK = 6,
    YARD_KIND_FANOUT = 7,
    YARD_KIND_MAX = 7,
};

/* Why an envelope was rejected; all of them are counted as bad_envelope. */
enum yard_parse_error {
    YARD_PARSE_OK = 0,
    YARD_PARSE_TRUNCATED = 1, /* data ends inside the array */
    YARD_PARSE_TRAILING = 2,  /* bytes left after the array */
    YARD_PARSE_NOT_ARRAY = 3, /* top level is not an array */
    YARD_PARSE_ARITY = 4,     /* array length is not 8 */
    YARD_PARSE_TYPE = 5,      /* a field has the wrong MessagePack type */
    YARD_PARSE_RANGE = 6,     /* a value outside its rule (ver, kind, prio, ttl, lengths) */
    YARD_PARSE_NAME = 7,      /* dst empty or containing NUL */
    YARD_PARSE_ERROR_MAX = 8,
};

/*
 * A parsed envelope. Offsets are from the start of the UDP payload, so the
 * caller can reach the name bytes and patch ttl in place without copying.
 */
struct yard_envelope {
    uint64_t id;
    uint32_t body_off;
    uint32_t body_len;
    uint16_t dst_off;
    uint16_t src_off;
    uint16_t ttl_off;  /* the last byte of ttl's encoding, whatever its width:
                        * the only byte a decrement changes, since ttl <= 64 */
    uint16_t kind_off; /* the last byte of kind's encoding, whatever its width:
                        * the only byte a change of kind (MSG <-> FANOUT, both
                        * <= 7) touches; the envelope's first kind_off + 1
                        * bytes run from the array header to that byte */
    uint8_t dst_len;
    uint8_t src_len;
    uint8_t ver;
    uint8_t kind;
    uint8_t prio;
    uint8_t ttl; /* 0..64 as received; the router drops ttl <= 1 as ttl_expired */
};

/*
 * Parse `len` bytes at `p` into *env. Returns YARD_PARSE_OK (0) or an
 * enum yard_parse_error. On error *env is unspecified. Reads nothing at or
 * after p + len and nothing of the body.
 *
 * Fields are judged left to right and the first problem wins; within a field
 * a wrong format byte is TYPE, missing bytes are TRUNCATED, and only then is
 * the value checked (RANGE; NAME for an empty dst or one containing NUL). So
 * every proper prefix of a valid envelope is TRUNCATED.
 *
 * Who may call it: any thread; it keeps no state. Cost: 25-30 TSC cycles per
 * envelope in cache, more when senders mix widths (mispredicted branches);
 * perf/bench-parse measures it.
 */
int yard_envelope_parse(const uint8_t *p, uint32_t len, struct yard_envelope *env);

/* Short stable name of a parse error ("truncated", "trailing", ...). */
const char *yard_parse_error_name(int err);

#endif
