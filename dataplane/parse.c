/*
 * parse.c - the message envelope parser (PROTOCOL.md §1).
 *
 * Runs once per datagram on every worker lcore, so it is written as one
 * straight pass: each field is one inline read whose first test is the
 * width senders nearly always use (positive fixint, fixstr, bin8), marked
 * likely; the other widths fall to small out-of-line helpers so the fast
 * path stays compact in the instruction cache. Nothing is copied: names and
 * body are returned as offsets into the caller's buffer, and the body is
 * never read.
 *
 * Order of judgement, which the tests pin down: fields are checked left to
 * right and the first problem wins; within a field, its format byte (missing:
 * TRUNCATED, wrong: TYPE), then whether all its bytes are there (TRUNCATED),
 * then its rule (RANGE, or NAME for dst). So any proper prefix of a valid
 * envelope is TRUNCATED, whatever width its fields use.
 */
#include "parse.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* MessagePack format bytes (msgpack spec, "Formats"). */
enum {
    MP_POSFIXINT_MAX = 0x7f,
    MP_FIXARRAY = 0x90, /* 1001xxxx */
    MP_FIXSTR = 0xa0,   /* 101xxxxx */
    MP_BIN8 = 0xc4,
    MP_BIN16 = 0xc5,
    MP_BIN32 = 0xc6,
    MP_UINT8 = 0xcc,
    MP_UINT16 = 0xcd,
    MP_UINT32 = 0xce,
    MP_UINT64 = 0xcf,
    MP_STR8 = 0xd9,
    MP_STR16 = 0xda,
    MP_STR32 = 0xdb,
    MP_ARRAY16 = 0xdc,
    MP_ARRAY32 = 0xdd,
};

#define ENVELOPE_ARITY 8

/* MessagePack is big-endian; these are one unaligned load each, not a copy loop. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define from_be16(v) (v)
#define from_be32(v) (v)
#define from_be64(v) (v)
#else
#define from_be16(v) __builtin_bswap16(v)
#define from_be32(v) __builtin_bswap32(v)
#define from_be64(v) __builtin_bswap64(v)
#endif

static inline uint16_t load_be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return from_be16(v);
}

static inline uint32_t load_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return from_be32(v);
}

static inline uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return from_be64(v);
}

/*
 * What reading one MessagePack item (or an item's header) gives: its value
 * (or its declared length), where the next item starts, and an error. Sixteen
 * bytes, so even the out-of-line readers return it in two registers and the
 * cursor never goes through memory.
 */
struct item {
    uint64_t val;
    uint32_t next;
    int err;
};

static inline struct item item_err(int err)
{
    return (struct item){.err = err};
}

static inline struct item item_ok(uint64_t val, uint32_t next)
{
    return (struct item){.val = val, .next = next};
}

/* A big-endian length or value of `width` bytes after the tag at p[pos]. */
static inline struct item read_be(const uint8_t *p, uint32_t len, uint32_t pos, unsigned width)
{
    uint32_t at = pos + 1; /* pos < len, so this cannot wrap */

    if (unlikely(len - at < width))
        return item_err(YARD_PARSE_TRUNCATED);
    switch (width) {
    case 1:
        return item_ok(p[at], at + 1);
    case 2:
        return item_ok(load_be16(p + at), at + 2);
    case 4:
        return item_ok(load_be32(p + at), at + 4);
    default:
        return item_ok(load_be64(p + at), at + 8);
    }
}

/* uint8 … uint64: what a sender writes for values above 127, or always. */
static __attribute__((noinline)) struct item read_uint_wide(const uint8_t *p, uint32_t len,
                                                            uint32_t pos)
{
    switch (p[pos]) {
    case MP_UINT8:
        return read_be(p, len, pos, 1);
    case MP_UINT16:
        return read_be(p, len, pos, 2);
    case MP_UINT32:
        return read_be(p, len, pos, 4);
    case MP_UINT64:
        return read_be(p, len, pos, 8);
    default:
        /* Negative fixint and int8..int64 are refused even when the value
         * is non-negative: the protocol says unsigned, and a sender that
         * writes signed types has a bug worth seeing in bad_envelope. */
        return item_err(YARD_PARSE_TYPE);
    }
}

/* An unsigned int of any width. */
static inline struct item read_uint(const uint8_t *p, uint32_t len, uint32_t pos)
{
    if (unlikely(pos >= len))
        return item_err(YARD_PARSE_TRUNCATED);
    uint8_t tag = p[pos];
    if (likely(tag <= MP_POSFIXINT_MAX))
        return item_ok(tag, pos + 1);
    return read_uint_wide(p, len, pos);
}

/*
 * The header of a str, or with `bin` also of a bin, in any width: val is the
 * declared length, next is where the bytes start. Callers test their common
 * width inline first, so this runs only for the others.
 */
static __attribute__((noinline)) struct item read_len_wide(const uint8_t *p, uint32_t len,
                                                           uint32_t pos, bool bin)
{
    uint8_t tag = p[pos];

    if ((tag & 0xe0) == MP_FIXSTR)
        return item_ok(tag & 0x1f, pos + 1);
    switch (tag) {
    case MP_STR8:
        return read_be(p, len, pos, 1);
    case MP_STR16:
        return read_be(p, len, pos, 2);
    case MP_STR32:
        return read_be(p, len, pos, 4);
    case MP_BIN8:
        return bin ? read_be(p, len, pos, 1) : item_err(YARD_PARSE_TYPE);
    case MP_BIN16:
        return bin ? read_be(p, len, pos, 2) : item_err(YARD_PARSE_TYPE);
    case MP_BIN32:
        return bin ? read_be(p, len, pos, 4) : item_err(YARD_PARSE_TYPE);
    default:
        return item_err(YARD_PARSE_TYPE);
    }
}

/*
 * A str of any width whose bytes all lie inside the buffer: val is its
 * length, next is the end of its bytes, so they start at next - val.
 */
static inline struct item read_str(const uint8_t *p, uint32_t len, uint32_t pos)
{
    struct item h;

    if (unlikely(pos >= len))
        return item_err(YARD_PARSE_TRUNCATED);
    uint8_t tag = p[pos];
    if (likely((tag & 0xe0) == MP_FIXSTR))
        h = item_ok(tag & 0x1f, pos + 1);
    else
        h = read_len_wide(p, len, pos, false);
    if (unlikely(h.err != YARD_PARSE_OK))
        return h;
    if (unlikely(len - h.next < h.val))
        return item_err(YARD_PARSE_TRUNCATED);
    return item_ok(h.val, h.next + (uint32_t)h.val);
}

/* The array header: fixarray, array16 or array32; val is the element count. */
static __attribute__((noinline)) struct item read_array_wide(const uint8_t *p, uint32_t len,
                                                             uint32_t pos)
{
    uint8_t tag = p[pos];

    if ((tag & 0xf0) == MP_FIXARRAY)
        return item_ok(tag & 0x0f, pos + 1);
    switch (tag) {
    case MP_ARRAY16:
        return read_be(p, len, pos, 2);
    case MP_ARRAY32:
        return read_be(p, len, pos, 4);
    default:
        return item_err(YARD_PARSE_NOT_ARRAY);
    }
}

/*
 * True when s[0..n) holds a zero byte. Eight bytes at a time with the
 * classic "has zero byte" word trick (exact for existence): names are short,
 * so this inlines to a few instructions where a memchr call would cost more
 * than the scan itself.
 */
static inline bool has_nul(const uint8_t *s, uint32_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t acc = 0, v;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, s + i, 8);
        acc |= (v - ones) & ~v & highs;
    }
    if (i < n) {
        if (n >= 8) {
            memcpy(&v, s + n - 8, 8); /* overlaps bytes already checked: harmless */
            acc |= (v - ones) & ~v & highs;
        } else {
            for (; i < n; i++)
                acc |= s[i] == 0;
        }
    }
    return acc != 0;
}

int yard_envelope_parse(const uint8_t *p, uint32_t len, struct yard_envelope *env)
{
    struct item it;
    uint32_t pos;

    /* [ */
    if (unlikely(len == 0))
        return YARD_PARSE_TRUNCATED;
    if (likely(p[0] == (MP_FIXARRAY | ENVELOPE_ARITY))) {
        pos = 1;
    } else {
        it = read_array_wide(p, len, 0);
        if (it.err != YARD_PARSE_OK)
            return it.err;
        if (it.val != ENVELOPE_ARITY)
            return YARD_PARSE_ARITY;
        pos = it.next;
    }

    /* ver */
    it = read_uint(p, len, pos);
    if (unlikely(it.err != YARD_PARSE_OK))
        return it.err;
    if (unlikely(it.val != YARD_ENVELOPE_VERSION))
        return YARD_PARSE_RANGE;
    env->ver = (uint8_t)it.val;
    pos = it.next;

    /* kind: like ttl, a value <= 7 lives in the last byte of any width, so
     * a topic copy changes the kind by rewriting that one byte. */
    it = read_uint(p, len, pos);
    if (unlikely(it.err != YARD_PARSE_OK))
        return it.err;
    if (unlikely(it.val > YARD_KIND_MAX))
        return YARD_PARSE_RANGE;
    env->kind = (uint8_t)it.val;
    env->kind_off = (uint16_t)(it.next - 1);
    pos = it.next;

    /* dst: the routing key, so it must be a usable name. */
    it = read_str(p, len, pos);
    if (unlikely(it.err != YARD_PARSE_OK))
        return it.err;
    if (unlikely(it.val > YARD_DST_MAX))
        return YARD_PARSE_RANGE;
    env->dst_off = (uint16_t)(it.next - it.val);
    env->dst_len = (uint8_t)it.val;
    if (unlikely(it.val == 0 || has_nul(p + env->dst_off, it.val)))
        return YARD_PARSE_NAME;
    pos = it.next;

    /* src: may be empty (an anonymous sender cannot be replied to). */
    it = read_str(p, len, pos);
    if (unlikely(it.err != YARD_PARSE_OK))
        return it.err;
    if (unlikely(it.val > YARD_SRC_MAX))
        return YARD_PARSE_RANGE;
    env->src_off = (uint16_t)(it.next - it.val);
    env->src_len = (uint8_t)it.val;
    pos = it.next;

    /* prio */
    it = read_uint(p, len, pos);
    if (unlikely(it.err != YARD_PARSE_OK))
        return it.err;
    if (unlikely(it.val > YARD_PRIO_MAX))
        return YARD_PARSE_RANGE;
    env->prio = (uint8_t)it.val;
    pos = it.next;

    /* ttl: big-endian, so a value <= 64 lives in the last byte whatever the
     * width; the router decrements that byte in place. */
    it = read_uint(p, len, pos);
    if (unlikely(it.err != YARD_PARSE_OK))
        return it.err;
    if (unlikely(it.val > YARD_TTL_MAX))
        return YARD_PARSE_RANGE;
    env->ttl = (uint8_t)it.val;
    env->ttl_off = (uint16_t)(it.next - 1);
    pos = it.next;

    /* id: opaque, any value. */
    it = read_uint(p, len, pos);
    if (unlikely(it.err != YARD_PARSE_OK))
        return it.err;
    env->id = it.val;
    pos = it.next;

    /* body: bin or str, ending exactly where the datagram ends. */
    if (unlikely(pos >= len))
        return YARD_PARSE_TRUNCATED;
    if (likely(p[pos] == MP_BIN8))
        it = read_be(p, len, pos, 1);
    else
        it = read_len_wide(p, len, pos, true);
    if (unlikely(it.err != YARD_PARSE_OK))
        return it.err;
    if (unlikely(len - it.next != it.val))
        return len - it.next < it.val ? YARD_PARSE_TRUNCATED : YARD_PARSE_TRAILING;
    env->body_off = it.next;
    env->body_len = (uint32_t)it.val;
    return YARD_PARSE_OK;
}

const char *yard_parse_error_name(int err)
{
    static const char *const names[YARD_PARSE_ERROR_MAX] = {
        [YARD_PARSE_OK] = "ok",
        [YARD_PARSE_TRUNCATED] = "truncated",
        [YARD_PARSE_TRAILING] = "trailing",
        [YARD_PARSE_NOT_ARRAY] = "not_array",
        [YARD_PARSE_ARITY] = "arity",
        [YARD_PARSE_TYPE] = "type",
        [YARD_PARSE_RANGE] = "range",
        [YARD_PARSE_NAME] = "name",
    };

    if (err < 0 || err >= YARD_PARSE_ERROR_MAX)
        return "unknown";
    return names[err];
}
