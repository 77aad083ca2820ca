/*
 * records.c - encoding and decoding of yard-control's WAL records (see
 * records.h). Encoding writes msgpack by hand into a fixed buffer: it runs
 * once per directory change, at registration rates, so it must not allocate.
 * Decoding runs at start-up for every record (a million in well under a
 * second) with msgpack-c's unpack into one reused zone.
 */
#include "records.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <msgpack.h>

#include "mpack_out.h"

size_t yard_rec_encode_add(uint8_t *buf, const struct yard_ctl_loc *loc)
{
    struct yard_mp_out w = {buf};
    yard_mp_byte(&w, 0x99); /* fixarray of 9 */
    yard_mp_uint(&w, YARD_REC_LOC_ADD);
    yard_mp_str(&w, loc->owner->name, loc->owner->len);
    yard_mp_uint(&w, loc->owner->type);
    yard_mp_uint(&w, loc->origin);
    yard_mp_uint(&w, ntohl(loc->ipv4));
    yard_mp_uint(&w, loc->udp_port);
    if (loc->has_mac) {
        yard_mp_byte(&w, 0xc4); /* bin8 */
        yard_mp_byte(&w, 6);
        yard_mp_raw(&w, loc->mac, 6);
    } else {
        yard_mp_byte(&w, 0xc0);
    }
    yard_mp_uint(&w, loc->lease_ms);
    yard_mp_str(&w, loc->sub, loc->sub_len);
    return (size_t)(w.p - buf);
}

size_t yard_rec_encode_del(uint8_t *buf, const struct yard_ctl_name *n, uint32_t ipv4,
                           uint16_t udp_port)
{
    struct yard_mp_out w = {buf};
    yard_mp_byte(&w, 0x94);
    yard_mp_uint(&w, YARD_REC_LOC_DEL);
    yard_mp_str(&w, n->name, n->len);
    yard_mp_uint(&w, ntohl(ipv4));
    yard_mp_uint(&w, udp_port);
    return (size_t)(w.p - buf);
}

static int get_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return -EINVAL;
    *v = o->via.u64;
    return 0;
}

static int get_str(const msgpack_object *o, unsigned max, const char **s, unsigned *len)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max)
        return -EINVAL;
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

int yard_rec_decode(const void *p, size_t len, struct yard_rec *rec)
{
    /* One zone reused for every record: cleared, never freed, so a replay
     * of a million records allocates nothing per record. */
    static msgpack_zone *zone;
    if (zone == NULL && (zone = msgpack_zone_new(2048)) == NULL)
        return -ENOMEM;
    msgpack_object o;
    size_t off = 0;
    memset(rec, 0, sizeof(*rec));
    int rc = -EINVAL;
    if (msgpack_unpack(p, len, &off, zone, &o) != MSGPACK_UNPACK_SUCCESS || off != len ||
        o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size < 4)
        goto out;
    const msgpack_object *a = o.via.array.ptr;
    uint64_t op, v;
    if (get_uint(&a[0], 255, &op) < 0 ||
        get_str(&a[1], YARD_NAME_MAX, &rec->spec.name, &rec->spec.name_len) < 0)
        goto out;
    rec->op = (uint8_t)op;
    struct yard_ctl_loc_spec *s = &rec->spec;
    if (op == YARD_REC_LOC_DEL) {
        if (get_uint(&a[2], UINT32_MAX, &v) < 0)
            goto out;
        s->ipv4 = htonl((uint32_t)v);
        if (get_uint(&a[3], UINT16_MAX, &v) < 0)
            goto out;
        s->udp_port = (uint16_t)v;
        rc = 0;
        goto out;
    }
    if (op != YARD_REC_LOC_ADD || o.via.array.size < 9)
        goto out;
    if (get_uint(&a[2], YARD_DEST_TOPIC, &v) < 0)
        goto out;
    s->type = (uint8_t)v;
    if (get_uint(&a[3], YARD_LOC_REGISTERED, &v) < 0)
        goto out;
    s->origin = (uint8_t)v;
    if (get_uint(&a[4], UINT32_MAX, &v) < 0)
        goto out;
    s->ipv4 = htonl((uint32_t)v);
    if (get_uint(&a[5], UINT16_MAX, &v) < 0)
        goto out;
    s->udp_port = (uint16_t)v;
    if (a[6].type == MSGPACK_OBJECT_BIN && a[6].via.bin.size == 6) {
        s->has_mac = true;
        memcpy(s->mac, a[6].via.bin.ptr, 6);
    } else if (a[6].type != MSGPACK_OBJECT_NIL) {
        goto out;
    }
    if (get_uint(&a[7], UINT32_MAX, &v) < 0)
        goto out;
    s->lease_ms = (uint32_t)v;
    if (get_str(&a[8], YARD_NAME_MAX, &s->sub, &s->sub_len) < 0)
        goto out;
    rc = 0;
out:
    msgpack_zone_clear(zone);
    return rc;
}
