/*
 * mpack_out.h - the few msgpack encodings yard-control writes by hand: WAL
 * records and ACK/NACK envelopes. Both are small fixed shapes written at
 * registration rates into buffers of known size, so they are encoded in
 * place, without msgpack-c's packer and its allocations.
 *
 * The caller guarantees room (the shapes bound their own size). Integers
 * take a positive fixint, uint16, uint32 or uint64; strings (at most 255
 * bytes) a fixstr or str8 — any msgpack reader accepts every width.
 */
#ifndef YARD_CTL_MPACK_OUT_H
#define YARD_CTL_MPACK_OUT_H

#include <stdint.h>
#include <string.h>

struct yard_mp_out {
    uint8_t *p;
};

static inline void yard_mp_byte(struct yard_mp_out *o, uint8_t v)
{
    *o->p++ = v;
}

static inline void yard_mp_raw(struct yard_mp_out *o, const void *data, size_t len)
{
    memcpy(o->p, data, len);
    o->p += len;
}

static inline void yard_mp_uint(struct yard_mp_out *o, uint64_t v)
{
    int top;
    if (v < 128) {
        yard_mp_byte(o, (uint8_t)v);
        return;
    }
    if (v <= 0xffff) {
        yard_mp_byte(o, 0xcd);
        top = 8;
    } else if (v <= 0xffffffffu) {
        yard_mp_byte(o, 0xce);
        top = 24;
    } else {
        yard_mp_byte(o, 0xcf);
        top = 56;
    }
    for (int s = top; s >= 0; s -= 8)
        yard_mp_byte(o, (uint8_t)(v >> s));
}

static inline void yard_mp_str(struct yard_mp_out *o, const char *s, unsigned len)
{
    if (len < 32) {
        yard_mp_byte(o, (uint8_t)(0xa0 | len));
    } else {
        yard_mp_byte(o, 0xd9);
        yard_mp_byte(o, (uint8_t)len);
    }
    yard_mp_raw(o, s, len);
}

#endif
