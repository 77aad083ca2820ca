/*
 * envelope.c - REGISTER bodies in, ACK / NACK envelopes out (see envelope.h).
 * Replies are written by hand into the reply record: fixed small shapes, no
 * allocation, at registration rates.
 */
#include "envelope.h"

#include <errno.h>
#include <string.h>

#include <msgpack.h>

#include "mpack_out.h"
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

size_t yard_env_encode_reply(uint8_t *buf, const struct yard_env_reply *r)
{
    /* Body first, in a scratch area, so its length is known. */
    uint8_t body[160];
    struct yard_mp_out b = {body};
    if (r->kind == YARD_KIND_ACK) {
        yard_mp_byte(&b, 0x82);
        yard_mp_str(&b, "lease_ms", 8);
        yard_mp_uint(&b, r->lease_ms);
        yard_mp_str(&b, "node", 4);
        yard_mp_str(&b, r->src, r->src_len);
    } else {
        size_t n = strlen(r->reason);
        if (n > 120)
            n = 120;
        yard_mp_raw(&b, r->reason, n);
    }
    size_t body_len = (size_t)(b.p - body);

    struct yard_mp_out o = {buf};
    yard_mp_byte(&o, 0x98); /* fixarray of 8 */
    yard_mp_byte(&o, 1);    /* ver */
    yard_mp_byte(&o, r->kind);
    yard_mp_str(&o, r->dst, r->dst_len);
    yard_mp_str(&o, r->src, r->src_len);
    yard_mp_byte(&o, r->prio);
    yard_mp_byte(&o, 64); /* ttl */
    yard_mp_uint(&o, r->id);
    yard_mp_byte(&o, 0xc4); /* bin8 */
    yard_mp_byte(&o, (uint8_t)body_len);
    yard_mp_raw(&o, body, body_len);
    return (size_t)(o.p - buf);
}
