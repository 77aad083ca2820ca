/*
 * test_ctl_dir.c - yard-control's directory, lease wheel, WAL records and
 * reply envelopes.
 *
 * Records and replies are encoded by hand in the daemon; here they are read
 * back with msgpack-c's own unpacker (and the appliance's envelope parser),
 * so an encoding slip cannot hide behind a matching decoder.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "directory.h"
#include "envelope.h"
#include "parse.h"
#include "records.h"

static struct yard_ctl_loc_spec spec(const char *name, uint8_t type, uint32_t host_ip,
                                     uint16_t port, uint8_t origin, uint32_t lease_ms)
{
    struct yard_ctl_loc_spec s = {
        .name = name,
        .name_len = (unsigned)strlen(name),
        .type = type,
        .origin = origin,
        .ipv4 = htonl(host_ip),
        .udp_port = port,
        .lease_ms = lease_ms,
    };
    return s;
}

static struct yard_ctl_loc *add(struct yard_ctl_dir *d, struct yard_ctl_loc_spec s, uint64_t now,
                                bool *created)
{
    struct yard_ctl_loc *loc = NULL;
    bool c;
    cr_assert_eq(yard_ctl_dir_add(d, &s, now, &loc, &c, NULL), YARD_CTL_DIR_OK);
    if (created != NULL)
        *created = c;
    return loc;
}

Test(directory, groups_topics_and_counts)
{
    struct yard_ctl_dir d;
    cr_assert_eq(yard_ctl_dir_init(&d, 0), 0);
    bool created;
    add(&d, spec("svc", YARD_DEST_ENDPOINT, 0xc6120002, 7500, YARD_LOC_REGISTERED, 30000), 0,
        &created);
    cr_assert(created);
    add(&d, spec("svc", YARD_DEST_ENDPOINT, 0xc6120002, 7500, YARD_LOC_REGISTERED, 30000), 10,
        &created);
    cr_assert(!created, "same address again is a refresh");
    struct yard_ctl_loc *l0;
    bool changed;
    struct yard_ctl_loc_spec again =
        spec("svc", YARD_DEST_ENDPOINT, 0xc6120002, 7500, YARD_LOC_REGISTERED, 30000);
    cr_assert_eq(yard_ctl_dir_add(&d, &again, 20, &l0, &created, &changed), YARD_CTL_DIR_OK);
    cr_assert(!created && !changed, "a pure renewal changes nothing but the lease");
    again.lease_ms = 60000;
    cr_assert_eq(yard_ctl_dir_add(&d, &again, 30, &l0, &created, &changed), YARD_CTL_DIR_OK);
    cr_assert(!created && changed, "a new lease length is a change the log records");
    add(&d, spec("svc", YARD_DEST_ENDPOINT, 0xc6120003, 7500, YARD_LOC_STATIC, 0), 0, &created);
    cr_assert(created);
    add(&d, spec("news", YARD_DEST_TOPIC, 0xc6120002, 7600, YARD_LOC_REGISTERED, 1000), 0, NULL);
    add(&d, spec("rt", YARD_DEST_ENDPOINT, 0xc6120009, 1, YARD_LOC_ROUTE, 0), 0, NULL);
    cr_assert_eq(d.nb_names, 3);
    cr_assert_eq(d.nb_locs, 4);
    cr_assert_eq(d.nb_groups, 1);
    cr_assert_eq(d.nb_topics, 1);
    cr_assert_eq(d.nb_subscriptions, 1);
    cr_assert_eq(d.nb_routes, 1);

    struct yard_ctl_loc *l;
    struct yard_ctl_loc_spec wrong = spec("news", YARD_DEST_ENDPOINT, 1, 1, YARD_LOC_STATIC, 0);
    cr_assert_eq(yard_ctl_dir_add(&d, &wrong, 0, &l, &created, NULL), YARD_CTL_DIR_TYPE);
    struct yard_ctl_loc_spec bad = spec("", YARD_DEST_ENDPOINT, 1, 1, YARD_LOC_STATIC, 0);
    cr_assert_eq(yard_ctl_dir_add(&d, &bad, 0, &l, &created, NULL), YARD_CTL_DIR_INVALID);
    bad = spec("x", YARD_DEST_ENDPOINT, 1, 0, YARD_LOC_STATIC, 0);
    cr_assert_eq(yard_ctl_dir_add(&d, &bad, 0, &l, &created, NULL), YARD_CTL_DIR_INVALID);

    struct yard_ctl_name *svc = yard_ctl_dir_find(&d, "svc", 3);
    cr_assert_not_null(svc);
    yard_ctl_dir_remove(&d, yard_ctl_dir_loc(svc, htonl(0xc6120003), 7500));
    cr_assert_eq(d.nb_groups, 0, "one location left: no longer a group");
    svc = yard_ctl_dir_find(&d, "svc", 3);
    yard_ctl_dir_remove(&d, svc->locs);
    cr_assert_null(yard_ctl_dir_find(&d, "svc", 3), "last location removed the name");
    cr_assert_eq(d.nb_names, 2);
    yard_ctl_dir_free(&d);
}

Test(directory, full_name)
{
    struct yard_ctl_dir d;
    yard_ctl_dir_init(&d, 0);
    for (unsigned i = 0; i < YARD_DEST_MAX_LOCATIONS; i++)
        add(&d, spec("big", YARD_DEST_TOPIC, 0xc6120000 + i, 9, YARD_LOC_REGISTERED, 1000), 0,
            NULL);
    struct yard_ctl_loc *l;
    bool created;
    struct yard_ctl_loc_spec more =
        spec("big", YARD_DEST_TOPIC, 0xc6130000, 9, YARD_LOC_REGISTERED, 1000);
    cr_assert_eq(yard_ctl_dir_add(&d, &more, 0, &l, &created, NULL), YARD_CTL_DIR_FULL);
    yard_ctl_dir_free(&d);
}

Test(directory, leases_expire_in_order_and_renewals_move_them)
{
    struct yard_ctl_dir d;
    yard_ctl_dir_init(&d, 1000);
    add(&d, spec("a", YARD_DEST_ENDPOINT, 1, 1, YARD_LOC_REGISTERED, 1000), 1000, NULL);
    add(&d, spec("b", YARD_DEST_ENDPOINT, 1, 2, YARD_LOC_REGISTERED, 3000), 1000, NULL);
    add(&d, spec("c", YARD_DEST_ENDPOINT, 1, 3, YARD_LOC_STATIC, 0), 1000, NULL);
    /* A lease longer than one turn of the wheel (409.6 s). */
    add(&d, spec("long", YARD_DEST_ENDPOINT, 1, 4, YARD_LOC_REGISTERED, 1000000), 1000, NULL);
    cr_assert_eq(d.nb_leased, 3);

    cr_assert_null(yard_ctl_dir_expired(&d, 1999));
    struct yard_ctl_loc *l = yard_ctl_dir_expired(&d, 2000);
    cr_assert_not_null(l);
    cr_assert_str_eq(l->owner->name, "a");
    yard_ctl_dir_remove(&d, l);
    cr_assert_null(yard_ctl_dir_expired(&d, 2000));

    /* Renew b at 3500 for 3000 ms: due at 6500, not 4000. */
    add(&d, spec("b", YARD_DEST_ENDPOINT, 1, 2, YARD_LOC_REGISTERED, 3000), 3500, NULL);
    cr_assert_null(yard_ctl_dir_expired(&d, 4000));
    cr_assert_null(yard_ctl_dir_expired(&d, 6499));
    l = yard_ctl_dir_expired(&d, 6500);
    cr_assert_not_null(l);
    cr_assert_str_eq(l->owner->name, "b");
    cr_assert_eq(yard_ctl_loc_lease_left(l, 6000), 500);
    yard_ctl_dir_remove(&d, l);

    /* Two turns later (a daemon that slept): the long lease is still not
     * due, then it is. */
    cr_assert_null(yard_ctl_dir_expired(&d, 900000));
    l = yard_ctl_dir_expired(&d, 1001000);
    cr_assert_not_null(l);
    cr_assert_str_eq(l->owner->name, "long");
    yard_ctl_dir_remove(&d, l);
    cr_assert_eq(d.nb_leased, 0);
    cr_assert_not_null(yard_ctl_dir_find(&d, "c", 1), "a static location never expires");
    yard_ctl_dir_free(&d);
}

Test(directory, cursor_survives_removals)
{
    struct yard_ctl_dir d;
    yard_ctl_dir_init(&d, 0);
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        add(&d, spec(name, YARD_DEST_ENDPOINT, 1, (uint16_t)(i + 1), YARD_LOC_STATIC, 0), 0, NULL);
    }
    yard_ctl_dir_cursor_start(&d);
    unsigned seen = 0;
    struct yard_ctl_name *n;
    while ((n = yard_ctl_dir_cursor_next(&d)) != NULL) {
        seen++;
        if (seen == 10) {
            /* Remove the name the cursor points at next, and one behind. */
            yard_ctl_dir_remove(&d, d.cursor->locs);
            yard_ctl_dir_remove(&d, yard_ctl_dir_find(&d, "n0", 2)->locs);
        }
    }
    cr_assert_eq(seen, 99, "visited %u names", seen);
    yard_ctl_dir_free(&d);
}

Test(directory, many_names)
{
    struct yard_ctl_dir d;
    yard_ctl_dir_init(&d, 0);
    char name[32];
    for (unsigned i = 0; i < 200000; i++) {
        snprintf(name, sizeof(name), "svc.%u", i);
        add(&d, spec(name, YARD_DEST_ENDPOINT, i, 1, YARD_LOC_STATIC, 0), 0, NULL);
    }
    cr_assert_eq(d.nb_names, 200000);
    for (unsigned i = 0; i < 200000; i += 997) {
        snprintf(name, sizeof(name), "svc.%u", i);
        struct yard_ctl_name *n = yard_ctl_dir_find(&d, name, (unsigned)strlen(name));
        cr_assert_not_null(n);
        cr_assert_eq(ntohl(n->locs->ipv4), i);
    }
    yard_ctl_dir_free(&d);
}

Test(records, round_trip_through_msgpack)
{
    struct yard_ctl_dir d;
    yard_ctl_dir_init(&d, 0);
    struct yard_ctl_loc_spec s =
        spec("a-name-that-is-longer-than-thirty-one-bytes", YARD_DEST_TOPIC, 0xc6120002, 65535,
             YARD_LOC_REGISTERED, 123456);
    s.sub = "subscriber";
    s.sub_len = 10;
    s.has_mac = true;
    memcpy(s.mac, "\x02\x00\x00\x00\x00\x09", 6);
    struct yard_ctl_loc *loc = add(&d, s, 0, NULL);

    uint8_t buf[YARD_REC_MAX_BYTES];
    size_t len = yard_rec_encode_add(buf, loc);
    /* msgpack-c's view of it. */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, len, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, len);
    cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(u.data.via.array.size, 9);
    cr_assert_eq(u.data.via.array.ptr[4].via.u64, 0xc6120002);
    cr_assert_eq(u.data.via.array.ptr[5].via.u64, 65535);
    cr_assert_eq(u.data.via.array.ptr[7].via.u64, 123456);
    msgpack_unpacked_destroy(&u);

    struct yard_rec r;
    cr_assert_eq(yard_rec_decode(buf, len, &r), 0);
    cr_assert_eq(r.op, YARD_REC_LOC_ADD);
    cr_assert_eq(r.spec.name_len, s.name_len);
    cr_assert(memcmp(r.spec.name, s.name, s.name_len) == 0);
    cr_assert_eq(r.spec.type, YARD_DEST_TOPIC);
    cr_assert_eq(r.spec.origin, YARD_LOC_REGISTERED);
    cr_assert_eq(r.spec.ipv4, s.ipv4);
    cr_assert_eq(r.spec.udp_port, 65535);
    cr_assert(r.spec.has_mac && memcmp(r.spec.mac, s.mac, 6) == 0);
    cr_assert_eq(r.spec.lease_ms, 123456);
    cr_assert_eq(r.spec.sub_len, 10);

    len = yard_rec_encode_del(buf, loc->owner, loc->ipv4, loc->udp_port);
    cr_assert_eq(yard_rec_decode(buf, len, &r), 0);
    cr_assert_eq(r.op, YARD_REC_LOC_DEL);
    cr_assert_eq(r.spec.ipv4, s.ipv4);

    /* Not records: refused, never half-applied. */
    cr_assert_lt(yard_rec_decode(buf, len - 1, &r), 0);
    cr_assert_lt(yard_rec_decode("\x93\x01\xa1x\x01", 5, &r), 0);
    cr_assert_lt(yard_rec_decode("\x99\x09", 2, &r), 0);
    yard_ctl_dir_free(&d);
}

Test(envelope, ack_and_nack_parse_as_envelopes)
{
    uint8_t buf[YARD_REPLY_MAX_BYTES];
    char longname[64];
    memset(longname, 'n', 63);
    longname[63] = 0;
    struct yard_env_reply r = {
        .kind = YARD_KIND_ACK,
        .prio = 1,
        .id = UINT64_MAX,
        .dst = longname,
        .dst_len = 63,
        .src = longname,
        .src_len = 63,
        .lease_ms = 30000,
    };
    size_t len = yard_env_encode_reply(buf, &r);
    cr_assert_leq(len, YARD_REPLY_MAX_BYTES);
    struct yard_envelope env;
    cr_assert_eq(yard_envelope_parse(buf, (uint32_t)len, &env), YARD_PARSE_OK);
    cr_assert_eq(env.kind, YARD_KIND_ACK);
    cr_assert_eq(env.id, UINT64_MAX);
    cr_assert_eq(env.dst_len, 63);
    /* The body is a msgpack map {lease_ms, node}. */
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf + env.body_off, env.body_len, &off),
                 MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(u.data.type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(u.data.via.map.size, 2);
    cr_assert_eq(u.data.via.map.ptr[0].val.via.u64, 30000);
    cr_assert_eq(u.data.via.map.ptr[1].val.via.str.size, 63);
    msgpack_unpacked_destroy(&u);

    r.kind = YARD_KIND_NACK;
    r.reason = "not registered from this address";
    len = yard_env_encode_reply(buf, &r);
    cr_assert_eq(yard_envelope_parse(buf, (uint32_t)len, &env), YARD_PARSE_OK);
    cr_assert_eq(env.kind, YARD_KIND_NACK);
    cr_assert_eq(env.body_len, strlen(r.reason));
    cr_assert(memcmp(buf + env.body_off, r.reason, env.body_len) == 0);
}

Test(envelope, requested_lease)
{
    uint64_t lease;
    cr_assert_eq(yard_env_requested_lease((const uint8_t *)"", 0, &lease), 0);
    cr_assert_eq(lease, 0);
    /* {"lease_ms": 5000} and {"x": 1, "lease_ms": 70000} */
    cr_assert_eq(
        yard_env_requested_lease((const uint8_t *)"\x81\xa8lease_ms\xcd\x13\x88", 13, &lease), 0);
    cr_assert_eq(lease, 5000);
    cr_assert_eq(yard_env_requested_lease(
                     (const uint8_t *)"\x82\xa1x\x01\xa8lease_ms\xce\x00\x01\x11\x70", 18, &lease),
                 0);
    cr_assert_eq(lease, 70000);
    cr_assert_lt(yard_env_requested_lease((const uint8_t *)"\xc1", 1, &lease), 0);
    cr_assert_lt(yard_env_requested_lease((const uint8_t *)"\x81\xa8lease_ms\xa1x", 12, &lease), 0);
    cr_assert_lt(yard_env_requested_lease((const uint8_t *)"\x91\x01", 2, &lease), 0);
}
