/*
 * envelope.c - REGISTER bodies in, ACK / NACK envelopes out (see envelope.h).
 * Replies are written by hand into the reply record: fixed small shapes, no
 * allocation, at registration rates.
 */
#include "envelope.h"

#include <errno.h>
#include <string.h>

#include <msgpack.h>

#include "parse.h"

int yard_env_requested_lease(const uint8_t *body, size_t len, uint64_t *lease_ms)
{
    *lease_ms = 0;
    if (len == 0)
        return 0;
    static msgpack_zone *zone;
    if (zone == NULL && (zone = msgpack_zone_new(1024)) == NULL)
        return -ENOMEM;
    msgpack_object o;
    size_t off = 0;
    int rc = -EINVAL;
    if (msgpack_unpack((const char *)body, len, &off, zone, &o) != MSGPACK_UNPACK_SUCCESS ||
        off != len || o.type != MSGPACK_OBJECT_MAP)
        goto out;
    rc = 0;
    for (uint32_t i = 0; i < o.via.map.size; i++) {
        const msgpack_object_kv *kv = &o.via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 8 ||
            memcmp(kv->key.via.str.ptr, "lease_ms", 8) != 0)
            continue;
        if (kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            rc = -EINVAL;
            goto out;
        }
        *lease_ms = kv->val.via.u64;
    }
out:
    msgpack_zone_clear(zone);
    return rc;
}

struct out {
    uint8_t *p;
};

static void put(struct out *o, uint8_t b)
{
    *o->p++ = b;
}

static void put_uint(struct out *o, uint64_t v)
{
    if (v < 128) {
        put(o, (uint8_t)v);
        return;
    }
    put(o, 0xcf);
    for (int s = 56; s >= 0; s -= 8)
        put(o, (uint8_t)(v >> s));
}

static void put_str(struct out *o, const char *s, unsigned len)
{
    if (len < 32) {
        put(o, (uint8_t)(0xa0 | len));
    } else {
        put(o, 0xd9);
        put(o, (uint8_t)len);
    }
    memcpy(o->p, s, len);
    o->p += len;
}

size_t yard_env_encode_reply(uint8_t *buf, const struct yard_env_reply *r)
{
    /* Body first, in a scratch area, so its length is known. */
    uint8_t body[160];
    struct out b = {body};
    if (r->kind == YARD_KIND_ACK) {
        put(&b, 0x82);
        put_str(&b, "lease_ms", 8);
        put_uint(&b, r->lease_ms);
        put_str(&b, "node", 4);
        put_str(&b, r->src, r->src_len);
    } else {
        size_t n = strlen(r->reason);
        if (n > 120)
            n = 120;
        memcpy(b.p, r->reason, n);
        b.p += n;
    }
    size_t body_len = (size_t)(b.p - body);

    struct out o = {buf};
    put(&o, 0x98); /* fixarray of 8 */
    put(&o, 1);    /* ver */
    put(&o, r->kind);
    put_str(&o, r->dst, r->dst_len);
    put_str(&o, r->src, r->src_len);
    put(&o, r->prio);
    put(&o, 64); /* ttl */
    put_uint(&o, r->id);
    put(&o, 0xc4); /* bin8 */
    put(&o, (uint8_t)body_len);
    memcpy(o.p, body, body_len);
    o.p += body_len;
    return (size_t)(o.p - buf);
}
