/*
 * wire.c - memberlist's messages in go-msgpack 0.5.5's dialect, and the
 * compound and CRC layers (see wire.h for the contract, memberlist.md
 * sections 2-4 for the format).
 *
 * Why it is built this way:
 * - Each message is described once, by a table of its fields in the order
 *   memberlist writes them (Go field names sorted by byte order). One encoder
 *   and one decoder walk these tables, so a struct cannot be written one way
 *   and read another, and adding a field is one line.
 * - The writer never writes past cap but keeps counting, so an encoder checks
 *   for room once, at the end, instead of after every byte.
 * - The reader is strict about bounds, not about style: any read first checks
 *   what is left, running out is -EAGAIN (a stream reader waits for more),
 *   a byte that cannot start the expected value is -EBADMSG. Skipping an
 *   unknown value counts the objects still owed instead of recursing, so
 *   nesting depth costs no stack.
 * - Go's types decide the nil forms: a []byte field that is nil is written
 *   c0, a string field cannot be nil in Go and an empty one is written a0,
 *   whatever the C pointer is.
 */
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* ---------------------------------------------------------------- fields */

enum field_kind {
    F_STR,   /* Go string: raw string, c0 read as empty */
    F_BYTES, /* Go []byte: raw string or bin, nil is c0 */
    F_BOOL,
    F_U8, /* unsigned integers of the C field's width */
    F_U16,
    F_U32,
};

struct field {
    const char *key;
    uint8_t key_len;
    uint8_t kind;   /* enum field_kind */
    bool omitempty; /* left out when empty or zero, as Go's `omitempty` */
    uint16_t off;   /* offsetof the C member */
};

#define FIELD(type, name, member, kind, omit)                                \
    {                                                                        \
        name, sizeof(name) - 1, kind, omit, (uint16_t)offsetof(type, member) \
    }
#define NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

/* Keys in memberlist's on-wire order (memberlist.md section 4). */
static const struct field ping_fields[] = {
    FIELD(struct swim_ping, "Node", node, F_STR, false),
    FIELD(struct swim_ping, "SeqNo", seq_no, F_U32, false),
    FIELD(struct swim_ping, "SourceAddr", source_addr, F_BYTES, true),
    FIELD(struct swim_ping, "SourceNode", source_node, F_STR, true),
    FIELD(struct swim_ping, "SourcePort", source_port, F_U16, true),
};

static const struct field indirect_ping_fields[] = {
    FIELD(struct swim_indirect_ping, "Nack", nack, F_BOOL, false),
    FIELD(struct swim_indirect_ping, "Node", node, F_STR, false),
    FIELD(struct swim_indirect_ping, "Port", port, F_U16, false),
    FIELD(struct swim_indirect_ping, "SeqNo", seq_no, F_U32, false),
    FIELD(struct swim_indirect_ping, "SourceAddr", source_addr, F_BYTES, true),
    FIELD(struct swim_indirect_ping, "SourceNode", source_node, F_STR, true),
    FIELD(struct swim_indirect_ping, "SourcePort", source_port, F_U16, true),
    FIELD(struct swim_indirect_ping, "Target", target, F_BYTES, false),
};

static const struct field ack_fields[] = {
    FIELD(struct swim_ack, "Payload", payload, F_BYTES, false),
    FIELD(struct swim_ack, "SeqNo", seq_no, F_U32, false),
};

static const struct field nack_fields[] = {
    FIELD(struct swim_nack, "SeqNo", seq_no, F_U32, false),
};

static const struct field err_fields[] = {
    FIELD(struct swim_err, "Error", error, F_STR, false),
};

static const struct field suspect_fields[] = {
    FIELD(struct swim_suspect, "From", from, F_STR, false),
    FIELD(struct swim_suspect, "Incarnation", incarnation, F_U32, false),
    FIELD(struct swim_suspect, "Node", node, F_STR, false),
};

static const struct field alive_fields[] = {
    FIELD(struct swim_alive, "Addr", addr, F_BYTES, false),
    FIELD(struct swim_alive, "Incarnation", incarnation, F_U32, false),
    FIELD(struct swim_alive, "Meta", meta, F_BYTES, false),
    FIELD(struct swim_alive, "Node", node, F_STR, false),
    FIELD(struct swim_alive, "Port", port, F_U16, false),
    FIELD(struct swim_alive, "Vsn", vsn, F_BYTES, false),
};

static const struct field dead_fields[] = {
    FIELD(struct swim_dead, "From", from, F_STR, false),
    FIELD(struct swim_dead, "Incarnation", incarnation, F_U32, false),
    FIELD(struct swim_dead, "Node", node, F_STR, false),
};

static const struct field push_pull_header_fields[] = {
    FIELD(struct swim_push_pull_header, "Join", join, F_BOOL, false),
    FIELD(struct swim_push_pull_header, "Nodes", nodes, F_U32, false),
    FIELD(struct swim_push_pull_header, "UserStateLen", user_state_len, F_U32, false),
};

static const struct field push_node_state_fields[] = {
    FIELD(struct swim_push_node_state, "Addr", addr, F_BYTES, false),
    FIELD(struct swim_push_node_state, "Incarnation", incarnation, F_U32, false),
    FIELD(struct swim_push_node_state, "Meta", meta, F_BYTES, false),
    FIELD(struct swim_push_node_state, "Name", name, F_STR, false),
    FIELD(struct swim_push_node_state, "Port", port, F_U16, false),
    FIELD(struct swim_push_node_state, "State", state, F_U8, false),
    FIELD(struct swim_push_node_state, "Vsn", vsn, F_BYTES, false),
};

static const struct field user_msg_header_fields[] = {
    FIELD(struct swim_user_msg_header, "UserMsgLen", user_msg_len, F_U32, false),
};

static const struct field compress_fields[] = {
    FIELD(struct swim_compress, "Algo", algo, F_U8, false),
    FIELD(struct swim_compress, "Buf", buf, F_BYTES, false),
};

/* ---------------------------------------------------------------- writer */

struct mp_out {
    uint8_t *p;
    size_t cap;
    size_t len; /* may pass cap: the caller sees -ENOSPC at the end */
};

static void put_bytes(struct mp_out *o, const void *b, size_t n)
{
    if (n > 0 && o->len <= o->cap && n <= o->cap - o->len)
        memcpy(o->p + o->len, b, n);
    o->len += n;
}

static void put_u8(struct mp_out *o, uint8_t v)
{
    put_bytes(o, &v, 1);
}

static void put_be(struct mp_out *o, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    put_bytes(o, b, n);
}

/* The smallest unsigned form, as go-msgpack writes every non-negative int. */
static void put_uint(struct mp_out *o, uint64_t v)
{
    if (v <= 0x7f) {
        put_u8(o, (uint8_t)v);
    } else if (v <= 0xff) {
        put_u8(o, 0xcc);
        put_be(o, v, 1);
    } else if (v <= 0xffff) {
        put_u8(o, 0xcd);
        put_be(o, v, 2);
    } else if (v <= 0xffffffffu) {
        put_u8(o, 0xce);
        put_be(o, v, 4);
    } else {
        put_u8(o, 0xcf);
        put_be(o, v, 8);
    }
}

/* Old-spec raw: fixraw, raw16, raw32. go-msgpack 0.5.5 never writes str8 or bin. */
static void put_raw(struct mp_out *o, const uint8_t *b, uint32_t n)
{
    if (n < 32) {
        put_u8(o, (uint8_t)(0xa0 | n));
    } else if (n <= 0xffff) {
        put_u8(o, 0xda);
        put_be(o, n, 2);
    } else {
        put_u8(o, 0xdb);
        put_be(o, n, 4);
    }
    put_bytes(o, b, n);
}

static void put_map(struct mp_out *o, uint32_t n)
{
    if (n < 16) {
        put_u8(o, (uint8_t)(0x80 | n));
    } else if (n <= 0xffff) {
        put_u8(o, 0xde);
        put_be(o, n, 2);
    } else {
        put_u8(o, 0xdf);
        put_be(o, n, 4);
    }
}

static int out_done(const struct mp_out *o)
{
    if (o->len > o->cap)
        return -ENOSPC;
    if (o->len > INT_MAX)
        return -EMSGSIZE;
    return (int)o->len;
}

static uint64_t field_uint(const struct field *f, const void *m)
{
    const uint8_t *p = (const uint8_t *)m + f->off;
    switch (f->kind) {
    case F_BOOL:
        return *(const bool *)p;
    case F_U8:
        return *p;
    case F_U16:
        return *(const uint16_t *)p;
    case F_U32:
        return *(const uint32_t *)p;
    }
    return 0;
}

static const struct swim_bytes *field_bytes(const struct field *f, const void *m)
{
    return (const struct swim_bytes *)((const uint8_t *)m + f->off);
}

static bool field_empty(const struct field *f, const void *m)
{
    if (f->kind == F_STR || f->kind == F_BYTES)
        return field_bytes(f, m)->len == 0;
    return field_uint(f, m) == 0;
}

static void put_struct(struct mp_out *o, const struct field *fs, size_t nf, const void *m)
{
    uint32_t n = 0;
    for (size_t i = 0; i < nf; i++)
        n += !(fs[i].omitempty && field_empty(&fs[i], m));
    put_map(o, n);
    for (size_t i = 0; i < nf; i++) {
        const struct field *f = &fs[i];
        if (f->omitempty && field_empty(f, m))
            continue;
        put_raw(o, (const uint8_t *)f->key, f->key_len);
        if (f->kind == F_STR) {
            const struct swim_bytes *b = field_bytes(f, m);
            put_raw(o, b->ptr, b->ptr ? b->len : 0);
        } else if (f->kind == F_BYTES) {
            const struct swim_bytes *b = field_bytes(f, m);
            if (b->ptr == NULL)
                put_u8(o, 0xc0);
            else
                put_raw(o, b->ptr, b->len);
        } else if (f->kind == F_BOOL) {
            put_u8(o, field_uint(f, m) ? 0xc3 : 0xc2);
        } else {
            put_uint(o, field_uint(f, m));
        }
    }
}

/* Type byte (or none when type < 0) and the struct as a map. */
static int encode_msg(uint8_t *out, size_t cap, int type, const struct field *fs, size_t nf,
                      const void *m)
{
    struct mp_out o = {out, cap, 0};
    if (type >= 0)
        put_u8(&o, (uint8_t)type);
    put_struct(&o, fs, nf, m);
    return out_done(&o);
}

int swim_encode_ping(uint8_t *out, size_t cap, const struct swim_ping *m)
{
    return encode_msg(out, cap, SWIM_MSG_PING, ping_fields, NFIELDS(ping_fields), m);
}

int swim_encode_indirect_ping(uint8_t *out, size_t cap, const struct swim_indirect_ping *m)
{
    return encode_msg(out, cap, SWIM_MSG_INDIRECT_PING, indirect_ping_fields,
                      NFIELDS(indirect_ping_fields), m);
}

int swim_encode_ack(uint8_t *out, size_t cap, const struct swim_ack *m)
{
    return encode_msg(out, cap, SWIM_MSG_ACK, ack_fields, NFIELDS(ack_fields), m);
}

int swim_encode_nack(uint8_t *out, size_t cap, const struct swim_nack *m)
{
    return encode_msg(out, cap, SWIM_MSG_NACK, nack_fields, NFIELDS(nack_fields), m);
}

int swim_encode_err(uint8_t *out, size_t cap, const struct swim_err *m)
{
    return encode_msg(out, cap, SWIM_MSG_ERR, err_fields, NFIELDS(err_fields), m);
}

int swim_encode_suspect(uint8_t *out, size_t cap, const struct swim_suspect *m)
{
    return encode_msg(out, cap, SWIM_MSG_SUSPECT, suspect_fields, NFIELDS(suspect_fields), m);
}

int swim_encode_alive(uint8_t *out, size_t cap, const struct swim_alive *m)
{
    return encode_msg(out, cap, SWIM_MSG_ALIVE, alive_fields, NFIELDS(alive_fields), m);
}

int swim_encode_dead(uint8_t *out, size_t cap, const struct swim_dead *m)
{
    return encode_msg(out, cap, SWIM_MSG_DEAD, dead_fields, NFIELDS(dead_fields), m);
}

int swim_encode_push_pull_header(uint8_t *out, size_t cap, const struct swim_push_pull_header *m)
{
    return encode_msg(out, cap, SWIM_MSG_PUSH_PULL, push_pull_header_fields,
                      NFIELDS(push_pull_header_fields), m);
}

int swim_encode_push_node_state(uint8_t *out, size_t cap, const struct swim_push_node_state *m)
{
    return encode_msg(out, cap, -1, push_node_state_fields, NFIELDS(push_node_state_fields), m);
}

int swim_encode_user_msg_header(uint8_t *out, size_t cap, const struct swim_user_msg_header *m)
{
    return encode_msg(out, cap, SWIM_MSG_USER, user_msg_header_fields,
                      NFIELDS(user_msg_header_fields), m);
}

int swim_encode_user(uint8_t *out, size_t cap, const uint8_t *payload, size_t len)
{
    struct mp_out o = {out, cap, 0};
    put_u8(&o, SWIM_MSG_USER);
    put_bytes(&o, payload, len);
    return out_done(&o);
}

/* ---------------------------------------------------------------- reader */

struct mp_in {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

/* Big-endian unsigned of n bytes at the cursor; -EAGAIN if they are not all there. */
static int get_be(struct mp_in *in, unsigned n, uint64_t *v)
{
    if (in->len - in->pos < n)
        return -EAGAIN;
    uint64_t x = 0;
    for (unsigned i = 0; i < n; i++)
        x = x << 8 | in->p[in->pos + i];
    in->pos += n;
    *v = x;
    return 0;
}

static int get_u8(struct mp_in *in, uint8_t *b)
{
    if (in->pos >= in->len)
        return -EAGAIN;
    *b = in->p[in->pos++];
    return 0;
}

/* A map header; c0 reads as an empty map, as Go decodes nil into a struct. */
static int get_map(struct mp_in *in, uint32_t *n)
{
    uint8_t b;
    uint64_t v;
    int rc = get_u8(in, &b);
    if (rc < 0)
        return rc;
    if (b >= 0x80 && b <= 0x8f) {
        *n = b & 0x0f;
        return 0;
    }
    if (b == 0xc0) {
        *n = 0;
        return 0;
    }
    if (b != 0xde && b != 0xdf)
        return -EBADMSG;
    rc = get_be(in, b == 0xde ? 2 : 4, &v);
    if (rc < 0)
        return rc;
    *n = (uint32_t)v;
    return 0;
}

/*
 * A raw string (a0-bf, d9, da, db), or with bin also c4-c6; c0 gives
 * {NULL, 0}. The result points into the input.
 */
static int get_raw(struct mp_in *in, bool bin, struct swim_bytes *out)
{
    uint8_t b;
    uint64_t n;
    int rc = get_u8(in, &b);
    if (rc < 0)
        return rc;
    if (b >= 0xa0 && b <= 0xbf) {
        n = b & 0x1f;
    } else if (b == 0xc0) {
        *out = (struct swim_bytes){NULL, 0};
        return 0;
    } else if (b == 0xd9 || (bin && b == 0xc4)) {
        rc = get_be(in, 1, &n);
    } else if (b == 0xda || (bin && b == 0xc5)) {
        rc = get_be(in, 2, &n);
    } else if (b == 0xdb || (bin && b == 0xc6)) {
        rc = get_be(in, 4, &n);
    } else {
        return -EBADMSG;
    }
    if (rc < 0)
        return rc;
    if (in->len - in->pos < n)
        return -EAGAIN;
    *out = (struct swim_bytes){in->p + in->pos, (uint32_t)n};
    in->pos += n;
    return 0;
}

/* Any integer form whose value is in 0..max; c0 gives 0. */
static int get_uint(struct mp_in *in, uint64_t max, uint64_t *v)
{
    uint8_t b;
    int rc = get_u8(in, &b);
    if (rc < 0)
        return rc;
    if (b <= 0x7f) {
        *v = b;
        return 0;
    }
    if (b == 0xc0) {
        *v = 0;
        return 0;
    }
    if (b >= 0xe0)
        return -EBADMSG; /* negative fixint */
    if (b >= 0xcc && b <= 0xcf) {
        rc = get_be(in, 1u << (b - 0xcc), v);
    } else if (b >= 0xd0 && b <= 0xd3) {
        unsigned n = 1u << (b - 0xd0);
        rc = get_be(in, n, v);
        if (rc == 0 && (*v >> (8 * n - 1)) & 1)
            return -EBADMSG; /* negative */
    } else {
        return -EBADMSG;
    }
    if (rc == 0 && *v > max)
        return -EBADMSG;
    return rc;
}

static int get_bool(struct mp_in *in, bool *v)
{
    uint8_t b;
    int rc = get_u8(in, &b);
    if (rc < 0)
        return rc;
    if (b != 0xc0 && b != 0xc2 && b != 0xc3)
        return -EBADMSG;
    *v = b == 0xc3;
    return 0;
}

/*
 * Skips one whole object. Instead of recursing into arrays and maps it
 * counts the objects still owed, so any depth costs no stack.
 */
static int skip_object(struct mp_in *in)
{
    uint64_t owed = 1;
    while (owed > 0) {
        uint8_t b;
        uint64_t n = 0, children = 0, data = 0;
        int rc = get_u8(in, &b);
        if (rc < 0)
            return rc;
        owed--;
        if (b <= 0x7f || b >= 0xe0) {
            /* fixint */
        } else if (b <= 0x8f) {
            children = 2u * (b & 0x0f);
        } else if (b <= 0x9f) {
            children = b & 0x0f;
        } else if (b <= 0xbf) {
            data = b & 0x1f;
        } else {
            switch (b) {
            case 0xc0: /* nil, false, true */
            case 0xc2:
            case 0xc3:
                break;
            case 0xc4: /* bin8, str8 */
            case 0xd9:
                rc = get_be(in, 1, &data);
                break;
            case 0xc5: /* bin16, str16 */
            case 0xda:
                rc = get_be(in, 2, &data);
                break;
            case 0xc6: /* bin32, str32 */
            case 0xdb:
                rc = get_be(in, 4, &data);
                break;
            case 0xc7: /* ext8/16/32: length, then a type byte */
            case 0xc8:
            case 0xc9:
                rc = get_be(in, 1u << (b - 0xc7), &n);
                data = n + 1;
                break;
            case 0xca: /* float32, float64 */
                data = 4;
                break;
            case 0xcb:
                data = 8;
                break;
            case 0xcc: /* uint8..64, int8..64 */
            case 0xcd:
            case 0xce:
            case 0xcf:
                data = 1u << (b - 0xcc);
                break;
            case 0xd0:
            case 0xd1:
            case 0xd2:
            case 0xd3:
                data = 1u << (b - 0xd0);
                break;
            case 0xd4: /* fixext 1/2/4/8/16, plus the type byte */
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                data = (1u << (b - 0xd4)) + 1;
                break;
            case 0xdc: /* array16/32 */
                rc = get_be(in, 2, &children);
                break;
            case 0xdd:
                rc = get_be(in, 4, &children);
                break;
            case 0xde: /* map16/32 */
                rc = get_be(in, 2, &n);
                children = 2 * n;
                break;
            case 0xdf:
                rc = get_be(in, 4, &n);
                children = 2 * n;
                break;
            default: /* 0xc1: never used */
                return -EBADMSG;
            }
            if (rc < 0)
                return rc;
        }
        if (in->len - in->pos < data)
            return -EAGAIN;
        in->pos += data;
        owed += children; /* < 2^33 per header, one header per input byte: no overflow */
    }
    return 0;
}

static int get_field(struct mp_in *in, const struct field *f, void *m)
{
    uint8_t *p = (uint8_t *)m + f->off;
    uint64_t v;
    int rc;

    switch (f->kind) {
    case F_STR:
    case F_BYTES:
        return get_raw(in, f->kind == F_BYTES, (struct swim_bytes *)p);
    case F_BOOL:
        return get_bool(in, (bool *)p);
    case F_U8:
        rc = get_uint(in, UINT8_MAX, &v);
        if (rc == 0)
            *p = (uint8_t)v;
        return rc;
    case F_U16:
        rc = get_uint(in, UINT16_MAX, &v);
        if (rc == 0)
            *(uint16_t *)p = (uint16_t)v;
        return rc;
    case F_U32:
        rc = get_uint(in, UINT32_MAX, &v);
        if (rc == 0)
            *(uint32_t *)p = (uint32_t)v;
        return rc;
    }
    return -EBADMSG;
}

/*
 * Reads one map into the struct described by fs: zeroes it first (missing
 * keys are zero), matches keys exactly (Go's field names), skips unknown
 * ones, lets a repeated key win with its last value, as Go does.
 */
static int decode_msg(const uint8_t *in_p, size_t len, const struct field *fs, size_t nf, void *m,
                      size_t m_size)
{
    struct mp_in in = {in_p, len > INT_MAX ? INT_MAX : len, 0};
    uint32_t n;
    int rc;

    memset(m, 0, m_size);
    rc = get_map(&in, &n);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        struct swim_bytes key;
        const struct field *f = NULL;
        rc = get_raw(&in, false, &key);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < nf && key.ptr; j++) {
            if (fs[j].key_len == key.len && memcmp(fs[j].key, key.ptr, key.len) == 0) {
                f = &fs[j];
                break;
            }
        }
        rc = f ? get_field(&in, f, m) : skip_object(&in);
        if (rc < 0)
            return rc;
    }
    return (int)in.pos;
}

#define DECODE(fields, m) decode_msg(in, len, fields, NFIELDS(fields), m, sizeof(*(m)))

int swim_decode_ping(const uint8_t *in, size_t len, struct swim_ping *m)
{
    return DECODE(ping_fields, m);
}

int swim_decode_indirect_ping(const uint8_t *in, size_t len, struct swim_indirect_ping *m)
{
    return DECODE(indirect_ping_fields, m);
}

int swim_decode_ack(const uint8_t *in, size_t len, struct swim_ack *m)
{
    return DECODE(ack_fields, m);
}

int swim_decode_nack(const uint8_t *in, size_t len, struct swim_nack *m)
{
    return DECODE(nack_fields, m);
}

int swim_decode_err(const uint8_t *in, size_t len, struct swim_err *m)
{
    return DECODE(err_fields, m);
}

int swim_decode_suspect(const uint8_t *in, size_t len, struct swim_suspect *m)
{
    return DECODE(suspect_fields, m);
}

int swim_decode_alive(const uint8_t *in, size_t len, struct swim_alive *m)
{
    return DECODE(alive_fields, m);
}

int swim_decode_dead(const uint8_t *in, size_t len, struct swim_dead *m)
{
    return DECODE(dead_fields, m);
}

int swim_decode_push_pull_header(const uint8_t *in, size_t len, struct swim_push_pull_header *m)
{
    return DECODE(push_pull_header_fields, m);
}

int swim_decode_push_node_state(const uint8_t *in, size_t len, struct swim_push_node_state *m)
{
    return DECODE(push_node_state_fields, m);
}

int swim_decode_user_msg_header(const uint8_t *in, size_t len, struct swim_user_msg_header *m)
{
    return DECODE(user_msg_header_fields, m);
}

int swim_decode_compress(const uint8_t *in, size_t len, struct swim_compress *m)
{
    return DECODE(compress_fields, m);
}

int swim_msgpack_object_len(const uint8_t *in, size_t len)
{
    struct mp_in r = {in, len > INT_MAX ? INT_MAX : len, 0};
    int rc = skip_object(&r);
    return rc < 0 ? rc : (int)r.pos;
}

/* ---------------------------------------------------------------- layers */

/* CRC-32 (IEEE 802.3, reflected 0xEDB88320), one table lookup per byte. */
static const uint32_t crc32_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u,
    0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu,
    0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du,
    0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u, 0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
    0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u,
    0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u, 0x26d930acu,
    0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu,
    0xb6662d3du, 0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu,
    0x9fbfe4a5u, 0xe8b8d433u, 0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu,
    0x086d3d2du, 0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau,
    0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u, 0x4db26158u, 0x3ab551ceu,
    0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au,
    0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u,
    0xce61e49fu, 0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u,
    0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
    0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u, 0xf00f9344u, 0x8708a3d2u, 0x1e01f268u,
    0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u,
    0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u,
    0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu,
    0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u,
    0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u,
    0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du, 0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
    0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu,
    0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u, 0x88085ae6u,
    0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du,
    0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u,
    0x47b2cf7fu, 0x30b5ffe9u, 0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u,
    0xcdd70693u, 0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t swim_crc32(const uint8_t *buf, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++)
        c = crc32_table[(c ^ buf[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

int swim_encode_compound(uint8_t *out, size_t cap, const uint8_t *const *parts, const size_t *lens,
                         unsigned n)
{
    struct mp_out o = {out, cap, 0};

    if (n < 1 || n > 255)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++)
        if (lens[i] > 0xffff)
            return -EINVAL;
    put_u8(&o, SWIM_MSG_COMPOUND);
    put_u8(&o, (uint8_t)n);
    for (unsigned i = 0; i < n; i++)
        put_be(&o, lens[i], 2);
    for (unsigned i = 0; i < n; i++)
        put_bytes(&o, parts[i], lens[i]);
    return out_done(&o);
}

int swim_encode_crc(uint8_t *out, size_t cap, const uint8_t *in, size_t len)
{
    if (cap < 5 || len > cap - 5)
        return -ENOSPC;
    if (len > INT_MAX - 5)
        return -EMSGSIZE;
    /* memmove: in may already sit at out + 5 (the caller built it in place). */
    memmove(out + 5, in, len);
    uint32_t crc = swim_crc32(out + 5, len);
    out[0] = SWIM_MSG_HAS_CRC;
    out[1] = (uint8_t)(crc >> 24);
    out[2] = (uint8_t)(crc >> 16);
    out[3] = (uint8_t)(crc >> 8);
    out[4] = (uint8_t)crc;
    return (int)(len + 5);
}
