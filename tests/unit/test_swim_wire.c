/*
 * test_swim_wire.c - memberlist's messages against the bytes serf 0.9.4
 * put on the wire (memberlist.md section 10): the encoders must write
 * exactly those bytes, the decoders must read them back into the same
 * fields. Then what Go's decoder tolerates (key order, unknown keys, bin,
 * str8, any integer width), omitempty, the CRC and compound layers, and
 * that no input, cut or corrupted, makes a decoder read out of bounds or
 * return anything but a length, -EAGAIN or -EBADMSG.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"
#include "wire.h"

#include "swim_test_util.h"

#define B(s)     ((struct swim_bytes){(const uint8_t *)(s), sizeof(s) - 1})
#define VSN_SERF "\x01\x05\x02\x02\x05\x05"

static const uint8_t ip_lo[4] = {127, 0, 0, 1};
#define IP_LO ((struct swim_bytes){ip_lo, 4})

static void assert_field(struct swim_bytes got, const char *want, size_t want_len, const char *what)
{
    cr_assert_not_null(got.ptr, "%s: nil, want %zu bytes", what, want_len);
    assert_bytes(got.ptr, got.len, (const uint8_t *)want, want_len, what);
}
#define ASSERT_FIELD(got, lit) assert_field(got, lit, sizeof(lit) - 1, #got)

/* ------------------------------------------------------- section 10 vectors */

#define PING_A_TO_B                                                                            \
    "00 85 a4 'Node' a1 'b' a5 'SeqNo' 01 aa 'SourceAddr' a4 7f000001 aa 'SourceNode' a1 'a' " \
    "aa 'SourcePort' cd 1f0a"

Test(swim_wire, ping_a_to_b_is_byte_identical)
{
    uint8_t want[128], out[128];
    size_t wlen = vec(want, sizeof(want), PING_A_TO_B);
    struct swim_ping p = {.node = B("b"),
                          .seq_no = 1,
                          .source_addr = IP_LO,
                          .source_node = B("a"),
                          .source_port = 7946};

    cr_assert_eq(wlen, 59);
    int n = swim_encode_ping(out, sizeof(out), &p);
    cr_assert_eq(n, 59, "encode gave %d", n);
    assert_bytes(out, (size_t)n, want, wlen, "ping");

    struct swim_ping d;
    cr_assert_eq(swim_decode_ping(want + 1, wlen - 1, &d), 58);
    ASSERT_FIELD(d.node, "b");
    cr_assert_eq(d.seq_no, 1);
    ASSERT_FIELD(d.source_addr, "\x7f\x00\x00\x01");
    ASSERT_FIELD(d.source_node, "a");
    cr_assert_eq(d.source_port, 7946);
}

/* The whole 150-byte ack serf b sent (its Payload is serf's coordinate). */
#define ACK_B_TO_A                                                                         \
    "02 82 a7 'Payload' da 0082 01 84 aa 'Adjustment' cb 0000000000000000 a5 'Error' cb "  \
    "3ff8000000000000 a6 'Height' cb 3ee4f8b588e368f1 a3 'Vec' 98 cb 0000000000000000 cb " \
    "0000000000000000 cb 0000000000000000 cb 0000000000000000 cb 0000000000000000 cb "     \
    "0000000000000000 cb 0000000000000000 cb 0000000000000000 a5 'SeqNo' 01"

Test(swim_wire, ack_with_130_byte_payload_uses_da)
{
    uint8_t want[256], out[256];
    size_t wlen = vec(want, sizeof(want), ACK_B_TO_A);
    cr_assert_eq(wlen, 150);

    struct swim_ack d;
    cr_assert_eq(swim_decode_ack(want + 1, wlen - 1, &d), 149);
    cr_assert_eq(d.payload.len, 130);
    cr_assert_eq(d.payload.ptr, want + 13, "payload should point into the input");
    cr_assert_eq(d.seq_no, 1);

    int n = swim_encode_ack(out, sizeof(out), &d);
    cr_assert_eq(n, 150);
    assert_bytes(out, (size_t)n, want, wlen, "ack");
    cr_assert_eq(out[10], 0xda, "130 bytes must be raw16 (da), never str8");
}

#define ALIVE_A                                                                            \
    "04 86 a4 'Addr' a4 7f000001 ab 'Incarnation' 01 a4 'Meta' ab ff81a4726f6c65a3776562 " \
    "a4 'Node' a1 'a' a4 'Port' cd 1f0a a3 'Vsn' a6 010502020505"
#define ALIVE_B                                                                              \
    "04 86 a4 'Addr' a4 7f000001 ab 'Incarnation' 01 a4 'Meta' a2 ff80 a4 'Node' a1 'b' a4 " \
    "'Port' cd 1f0b a3 'Vsn' a6 010502020505"
#define GOSSIP_TWO_ALIVES "0c db1bc525 07 02 0044 003b " ALIVE_A " " ALIVE_B

Test(swim_wire, gossip_crc_compound_of_two_alives_is_byte_identical)
{
    uint8_t want[256], a[128], b[128], comp[256], out[256];
    size_t wlen = vec(want, sizeof(want), GOSSIP_TWO_ALIVES);
    cr_assert_eq(wlen, 138);

    struct swim_alive alive_a = {.addr = IP_LO,
                                 .incarnation = 1,
                                 .meta = B("\xff\x81\xa4role\xa3web"),
                                 .node = B("a"),
                                 .port = 7946,
                                 .vsn = B(VSN_SERF)};
    struct swim_alive alive_b = {.addr = IP_LO,
                                 .incarnation = 1,
                                 .meta = B("\xff\x80"),
                                 .node = B("b"),
                                 .port = 7947,
                                 .vsn = B(VSN_SERF)};
    int na = swim_encode_alive(a, sizeof(a), &alive_a);
    int nb = swim_encode_alive(b, sizeof(b), &alive_b);
    cr_assert_eq(na, 68);
    cr_assert_eq(nb, 59);
    const uint8_t *parts[] = {a, b};
    size_t lens[] = {(size_t)na, (size_t)nb};
    int nc = swim_encode_compound(comp, sizeof(comp), parts, lens, 2);
    cr_assert_eq(nc, 133);
    int n = swim_encode_crc(out, sizeof(out), comp, (size_t)nc);
    cr_assert_eq(n, 138);
    assert_bytes(out, (size_t)n, want, wlen, "gossip packet");

    /* And back: the CRC holds, both alives decode to the same fields. */
    cr_assert_eq(swim_crc32(want + 5, wlen - 5), 0xdb1bc525u);
    struct swim_alive d;
    cr_assert_eq(swim_decode_alive(want + 12, 67, &d), 67);
    ASSERT_FIELD(d.addr, "\x7f\x00\x00\x01");
    cr_assert_eq(d.incarnation, 1);
    ASSERT_FIELD(d.meta, "\xff\x81\xa4role\xa3web");
    ASSERT_FIELD(d.node, "a");
    cr_assert_eq(d.port, 7946);
    ASSERT_FIELD(d.vsn, VSN_SERF);
    cr_assert_eq(swim_decode_alive(want + 12 + 68, 58, &d), 58);
    ASSERT_FIELD(d.meta, "\xff\x80");
    ASSERT_FIELD(d.node, "b");
    cr_assert_eq(d.port, 7947);
}

Test(swim_wire, suspect_and_dead_are_byte_identical)
{
    uint8_t want[64], msg[64], out[64];
    struct swim_suspect s = {.from = B("a"), .incarnation = 1, .node = B("b")};
    struct swim_dead dd = {.from = B("a"), .incarnation = 1, .node = B("b")};

    size_t wlen = vec(want, sizeof(want),
                      "0c 22f86724 03 83 a4 'From' a1 'a' ab 'Incarnation' 01 a4 'Node' a1 'b'");
    cr_assert_eq(wlen, 34);
    int n = swim_encode_suspect(msg, sizeof(msg), &s);
    n = swim_encode_crc(out, sizeof(out), msg, (size_t)n);
    assert_bytes(out, (size_t)n, want, wlen, "suspect");
    struct swim_suspect ds;
    cr_assert_eq(swim_decode_suspect(want + 6, wlen - 6, &ds), 28);
    ASSERT_FIELD(ds.from, "a");
    ASSERT_FIELD(ds.node, "b");
    cr_assert_eq(ds.incarnation, 1);

    wlen = vec(want, sizeof(want),
               "0c b399b7bd 05 83 a4 'From' a1 'a' ab 'Incarnation' 01 a4 'Node' a1 'b'");
    n = swim_encode_dead(msg, sizeof(msg), &dd);
    n = swim_encode_crc(out, sizeof(out), msg, (size_t)n);
    assert_bytes(out, (size_t)n, want, wlen, "dead");
    struct swim_dead ddd;
    cr_assert_eq(swim_decode_dead(want + 6, wlen - 6, &ddd), 28);
    ASSERT_FIELD(ddd.from, "a");
    ASSERT_FIELD(ddd.node, "b");
}

#define USER_EVENT                                                                         \
    "0c c127d67a 08 03 84 a2 'CC' c3 a5 'LTime' 01 a4 'Name' a6 'deploy' a7 'Payload' a5 " \
    "'hello'"

Test(swim_wire, serf_user_messages_are_byte_identical)
{
    uint8_t want[64], serf[64], msg[64], out[64];
    size_t slen =
        vec(serf, sizeof(serf),
            "03 84 a2 'CC' c3 a5 'LTime' 01 a4 'Name' a6 'deploy' a7 'Payload' a5 'hello'");
    size_t wlen = vec(want, sizeof(want), USER_EVENT);
    cr_assert_eq(wlen, 45);
    int n = swim_encode_user(msg, sizeof(msg), serf, slen);
    cr_assert_eq(n, (int)slen + 1);
    n = swim_encode_crc(out, sizeof(out), msg, (size_t)n);
    assert_bytes(out, (size_t)n, want, wlen, "user event");

    slen = vec(serf, sizeof(serf), "01 82 a5 'LTime' 01 a4 'Node' a1 'b'");
    wlen = vec(want, sizeof(want), "0c 139aa55a 08 01 82 a5 'LTime' 01 a4 'Node' a1 'b'");
    cr_assert_eq(wlen, 22);
    n = swim_encode_user(msg, sizeof(msg), serf, slen);
    n = swim_encode_crc(out, sizeof(out), msg, (size_t)n);
    assert_bytes(out, (size_t)n, want, wlen, "join intent");
}

/* Section 10's push/pull from b, built from its parts: 681 bytes. */
static size_t push_pull_b(uint8_t *out, size_t cap)
{
    size_t n = vec(out, cap,
                   "06 83 a4 'Join' c3 a5 'Nodes' 01 ac 'UserStateLen' cd 0249 "
                   "87 a4 'Addr' a4 7f000001 ab 'Incarnation' 01 a4 'Meta' a2 ff80 "
                   "a4 'Name' a1 'b' a4 'Port' cd 1f0b a5 'State' 00 a3 'Vsn' a6 010502020505 "
                   "02 86 aa 'EventLTime' 01 a6 'Events' dc 0200");
    memset(out + n, 0xc0, 512);
    n += 512;
    n += vec(out + n, cap - n,
             "a5 'LTime' 01 ab 'LeftMembers' 90 aa 'QueryLTime' 01 ac 'StatusLTimes' 81 a1 'b' 00");
    return n;
}

Test(swim_wire, push_pull_is_byte_identical)
{
    uint8_t want[1024], out[1024];
    size_t wlen = push_pull_b(want, sizeof(want));
    cr_assert_eq(wlen, 681);

    struct swim_push_pull_header h = {.join = true, .nodes = 1, .user_state_len = 585};
    struct swim_push_node_state ns = {.addr = IP_LO,
                                      .incarnation = 1,
                                      .meta = B("\xff\x80"),
                                      .name = B("b"),
                                      .port = 7947,
                                      .state = SWIM_STATE_ALIVE,
                                      .vsn = B(VSN_SERF)};
    int n = swim_encode_push_pull_header(out, sizeof(out), &h);
    cr_assert_eq(n, 31);
    int m = swim_encode_push_node_state(out + n, sizeof(out) - (size_t)n, &ns);
    cr_assert_eq(m, 65);
    memcpy(out + n + m, want + n + m, 585); /* serf's user state is opaque here */
    assert_bytes(out, (size_t)(n + m + 585), want, wlen, "push/pull");

    struct swim_push_pull_header dh;
    cr_assert_eq(swim_decode_push_pull_header(want + 1, wlen - 1, &dh), 30);
    cr_assert(dh.join);
    cr_assert_eq(dh.nodes, 1);
    cr_assert_eq(dh.user_state_len, 585);
    struct swim_push_node_state dn;
    cr_assert_eq(swim_decode_push_node_state(want + 31, wlen - 31, &dn), 65);
    ASSERT_FIELD(dn.name, "b");
    cr_assert_eq(dn.port, 7947);
    cr_assert_eq(dn.state, SWIM_STATE_ALIVE);
    ASSERT_FIELD(dn.vsn, VSN_SERF);
    cr_assert_eq(swim_stream_message_len(want, wlen), 681);
    /* The user state: serf's type byte, then one map that ends the message. */
    cr_assert_eq(swim_msgpack_object_len(want + 96, wlen - 96), 1);
    cr_assert_eq(swim_msgpack_object_len(want + 97, wlen - 97), 584);
}

Test(swim_wire, crc32_is_zlibs)
{
    cr_assert_eq(swim_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
    cr_assert_eq(swim_crc32((const uint8_t *)"", 0), 0);
}

Test(swim_wire, crc_of_every_section_10_packet_verifies)
{
    static const char *const pkts[] = {
        GOSSIP_TWO_ALIVES,
        "0c 22f86724 03 83 a4 'From' a1 'a' ab 'Incarnation' 01 a4 'Node' a1 'b'",
        "0c b399b7bd 05 83 a4 'From' a1 'a' ab 'Incarnation' 01 a4 'Node' a1 'b'",
        USER_EVENT,
        "0c 139aa55a 08 01 82 a5 'LTime' 01 a4 'Node' a1 'b'",
    };
    for (size_t i = 0; i < sizeof(pkts) / sizeof(pkts[0]); i++) {
        uint8_t p[256];
        size_t n = vec(p, sizeof(p), pkts[i]);
        uint32_t want = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        cr_assert_eq(swim_crc32(p + 5, n - 5), want, "packet %zu", i);
    }
}

/* ------------------------------------------------------- encoding rules */

Test(swim_wire, omitempty_fields_are_left_out)
{
    uint8_t out[128], want[128];
    struct swim_ping p = {.node = B("b"), .seq_no = 7};
    int n = swim_encode_ping(out, sizeof(out), &p);
    size_t wlen = vec(want, sizeof(want), "00 82 a4 'Node' a1 'b' a5 'SeqNo' 07");
    assert_bytes(out, (size_t)n, want, wlen, "ping without source");

    /* Nack is not omitempty; the Source* fields are. */
    struct swim_indirect_ping ip = {.node = B("c"), .port = 7948, .seq_no = 300, .target = IP_LO};
    n = swim_encode_indirect_ping(out, sizeof(out), &ip);
    wlen = vec(want, sizeof(want),
               "01 85 a4 'Nack' c2 a4 'Node' a1 'c' a4 'Port' cd 1f0c a5 'SeqNo' cd 012c "
               "a6 'Target' a4 7f000001");
    assert_bytes(out, (size_t)n, want, wlen, "indirect ping without source");

    ip.nack = true;
    ip.source_addr = IP_LO;
    ip.source_node = B("a");
    ip.source_port = 7946;
    n = swim_encode_indirect_ping(out, sizeof(out), &ip);
    wlen = vec(want, sizeof(want),
               "01 88 a4 'Nack' c3 a4 'Node' a1 'c' a4 'Port' cd 1f0c a5 'SeqNo' cd 012c "
               "aa 'SourceAddr' a4 7f000001 aa 'SourceNode' a1 'a' aa 'SourcePort' cd 1f0a "
               "a6 'Target' a4 7f000001");
    assert_bytes(out, (size_t)n, want, wlen, "indirect ping with source");

    struct swim_indirect_ping d;
    cr_assert_eq(swim_decode_indirect_ping(want + 1, wlen - 1, &d), (int)wlen - 1);
    cr_assert(d.nack);
    ASSERT_FIELD(d.node, "c");
    cr_assert_eq(d.port, 7948);
    cr_assert_eq(d.seq_no, 300);
    ASSERT_FIELD(d.target, "\x7f\x00\x00\x01");
    ASSERT_FIELD(d.source_node, "a");
    cr_assert_eq(d.source_port, 7946);
}

Test(swim_wire, nil_bytes_are_c0_and_empty_strings_a0)
{
    uint8_t out[128], want[128];
    struct swim_ack a = {.seq_no = 5}; /* nil Payload */
    int n = swim_encode_ack(out, sizeof(out), &a);
    size_t wlen = vec(want, sizeof(want), "02 82 a7 'Payload' c0 a5 'SeqNo' 05");
    assert_bytes(out, (size_t)n, want, wlen, "ack with nil payload");
    struct swim_ack d;
    cr_assert_eq(swim_decode_ack(want + 1, wlen - 1, &d), (int)wlen - 1);
    cr_assert_null(d.payload.ptr, "c0 must decode as nil");

    a.payload = (struct swim_bytes){(const uint8_t *)"", 0}; /* empty, not nil */
    n = swim_encode_ack(out, sizeof(out), &a);
    wlen = vec(want, sizeof(want), "02 82 a7 'Payload' a0 a5 'SeqNo' 05");
    assert_bytes(out, (size_t)n, want, wlen, "ack with empty payload");
    cr_assert_eq(swim_decode_ack(want + 1, wlen - 1, &d), (int)wlen - 1);
    cr_assert_not_null(d.payload.ptr, "a0 must decode as empty, not nil");
    cr_assert_eq(d.payload.len, 0);

    /* A Go string cannot be nil: an unset Node is "" (a0), not c0. */
    struct swim_ping p = {.seq_no = 1};
    n = swim_encode_ping(out, sizeof(out), &p);
    wlen = vec(want, sizeof(want), "00 82 a4 'Node' a0 a5 'SeqNo' 01");
    assert_bytes(out, (size_t)n, want, wlen, "ping to any node");

    struct swim_err e = {.error = B("no")};
    n = swim_encode_err(out, sizeof(out), &e);
    wlen = vec(want, sizeof(want), "0d 81 a5 'Error' a2 'no'");
    assert_bytes(out, (size_t)n, want, wlen, "error response");
    struct swim_nack k = {.seq_no = 70000};
    n = swim_encode_nack(out, sizeof(out), &k);
    wlen = vec(want, sizeof(want), "0b 81 a5 'SeqNo' ce 00011170");
    assert_bytes(out, (size_t)n, want, wlen, "nack");
    struct swim_user_msg_header u = {.user_msg_len = 200};
    n = swim_encode_user_msg_header(out, sizeof(out), &u);
    wlen = vec(want, sizeof(want), "08 81 aa 'UserMsgLen' cc c8");
    assert_bytes(out, (size_t)n, want, wlen, "user message header");
}

Test(swim_wire, forty_byte_meta_is_da)
{
    uint8_t meta[40], out[256];
    memset(meta, 'm', sizeof(meta));
    struct swim_alive a = {.addr = IP_LO,
                           .incarnation = 2,
                           .meta = {meta, 40},
                           .node = B("n"),
                           .port = 1,
                           .vsn = B(VSN_SERF)};
    int n = swim_encode_alive(out, sizeof(out), &a);
    cr_assert_gt(n, 0);
    /* 04 86 | a4 Addr a4 7f000001 | ab Incarnation 02 | a4 Meta at 25, its value at 30 */
    uint8_t want[] = {0xa4, 'M', 'e', 't', 'a', 0xda, 0x00, 0x28, 'm'};
    assert_bytes(out + 25, sizeof(want), want, sizeof(want), "meta header");

    /* 31 bytes still fit a fixraw; 32 do not; 65536 need raw32. */
    a.meta.len = 31;
    n = swim_encode_alive(out, sizeof(out), &a);
    cr_assert_eq(out[30], 0xbf);
    a.meta.len = 32;
    n = swim_encode_alive(out, sizeof(out), &a);
    cr_assert_eq(out[30], 0xda);
    uint8_t *big = calloc(1, 70000), *bout = malloc(70100);
    a.meta = (struct swim_bytes){big, 65536};
    n = swim_encode_alive(bout, 70100, &a);
    cr_assert_gt(n, 65536);
    uint8_t want32[] = {0xdb, 0x00, 0x01, 0x00, 0x00};
    assert_bytes(bout + 30, 5, want32, 5, "raw32 header");
    struct swim_alive d;
    cr_assert_eq(swim_decode_alive(bout + 1, (size_t)n - 1, &d), n - 1);
    cr_assert_eq(d.meta.len, 65536);
    free(big);
    free(bout);
}

Test(swim_wire, integers_use_the_smallest_unsigned_form)
{
    static const struct {
        uint32_t v;
        const char *enc;
    } cases[] = {
        {0, "00"},        {127, "7f"},        {128, "cc 80"},         {255, "cc ff"},
        {256, "cd 0100"}, {65535, "cd ffff"}, {65536, "ce 00010000"}, {0xffffffffu, "ce ffffffff"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t out[64], want[64];
        struct swim_nack k = {.seq_no = cases[i].v};
        int n = swim_encode_nack(out, sizeof(out), &k);
        size_t w = vec(want, sizeof(want), "0b 81 a5 'SeqNo'");
        w += vec(want + w, sizeof(want) - w, cases[i].enc);
        assert_bytes(out, (size_t)n, want, w, cases[i].enc);
        struct swim_nack d;
        cr_assert_eq(swim_decode_nack(want + 1, w - 1, &d), (int)w - 1);
        cr_assert_eq(d.seq_no, cases[i].v);
    }
}

Test(swim_wire, encoders_report_enospc_and_never_write_past_cap)
{
    uint8_t out[80];
    struct swim_ping p = {.node = B("b"),
                          .seq_no = 1,
                          .source_addr = IP_LO,
                          .source_node = B("a"),
                          .source_port = 7946};
    for (size_t cap = 0; cap < 59; cap++) {
        memset(out, 0xee, sizeof(out));
        cr_assert_eq(swim_encode_ping(out, cap, &p), -ENOSPC, "cap %zu", cap);
        for (size_t i = cap; i < sizeof(out); i++)
            cr_assert_eq(out[i], 0xee, "cap %zu: byte %zu written", cap, i);
    }
    cr_assert_eq(swim_encode_ping(out, 59, &p), 59);
    cr_assert_eq(swim_encode_user(out, 3, (const uint8_t *)"abc", 3), -ENOSPC);
    cr_assert_eq(swim_encode_crc(out, 7, (const uint8_t *)"abc", 3), -ENOSPC);
}

/* ------------------------------------------------------- Go's tolerance */

Test(swim_wire, decoder_accepts_any_key_order_and_skips_unknown_keys)
{
    uint8_t in[256];
    /* SeqNo first, an unknown key holding nested containers, a float, an
     * ext, then Node: Go matches keys by name and skips the rest. */
    size_t n = vec(in, sizeof(in),
                   "87 a5 'SeqNo' 2a a5 'Extra' 92 81 a1 'k' 93 c0 c3 cb 3ff0000000000000 "
                   "dc 0001 de 0001 a0 a0 a3 'Flt' ca 3f800000 a3 'Ext' d5 01 aabb "
                   "a4 'Bin8' c4 02 0102 a4 'Node' a1 'x' a4 'Tail' d9 03 'abc'");
    struct swim_ping d;
    cr_assert_eq(swim_decode_ping(in, n, &d), (int)n);
    cr_assert_eq(d.seq_no, 42);
    ASSERT_FIELD(d.node, "x");
    cr_assert_null(d.source_addr.ptr, "missing keys are zero");
    cr_assert_eq(d.source_port, 0);

    /* A repeated key: the last value wins, as in Go. */
    n = vec(in, sizeof(in), "82 a5 'SeqNo' 01 a5 'SeqNo' 02");
    cr_assert_eq(swim_decode_nack(in, n, &(struct swim_nack){0}), (int)n);
    struct swim_nack k;
    swim_decode_nack(in, n, &k);
    cr_assert_eq(k.seq_no, 2);

    /* Keys are Go's field names exactly; "seqno" is another key. */
    n = vec(in, sizeof(in), "81 a5 'seqno' 05");
    cr_assert_eq(swim_decode_nack(in, n, &k), (int)n);
    cr_assert_eq(k.seq_no, 0);
}

Test(swim_wire, decoder_accepts_bin_for_bytes_str8_for_strings_and_nil_everywhere)
{
    uint8_t in[256];
    size_t n = vec(in, sizeof(in),
                   "86 a4 'Addr' c4 04 7f000001 ab 'Incarnation' c0 a4 'Meta' c5 0002 ff80 "
                   "a4 'Node' d9 01 'z' a4 'Port' c0 a3 'Vsn' c6 00000006 010502020505");
    struct swim_alive d;
    cr_assert_eq(swim_decode_alive(in, n, &d), (int)n);
    ASSERT_FIELD(d.addr, "\x7f\x00\x00\x01");
    ASSERT_FIELD(d.meta, "\xff\x80");
    ASSERT_FIELD(d.node, "z");
    ASSERT_FIELD(d.vsn, VSN_SERF);
    cr_assert_eq(d.incarnation, 0);
    cr_assert_eq(d.port, 0);

    /* Strings do not accept bin (Go's string decoding refuses it). */
    n = vec(in, sizeof(in), "81 a4 'Node' c4 01 'z'");
    cr_assert_eq(swim_decode_alive(in, n, &d), -EBADMSG);
    /* A nil map is a zero struct; a non-map is not a message. */
    n = vec(in, sizeof(in), "c0");
    cr_assert_eq(swim_decode_alive(in, n, &d), 1);
    n = vec(in, sizeof(in), "93 01 02 03");
    cr_assert_eq(swim_decode_alive(in, n, &d), -EBADMSG);
    /* Map16 and map32 headers are maps too. */
    n = vec(in, sizeof(in), "de 0001 a5 'SeqNo' 09");
    struct swim_nack k;
    cr_assert_eq(swim_decode_nack(in, n, &k), (int)n);
    cr_assert_eq(k.seq_no, 9);
    n = vec(in, sizeof(in), "df 00000001 a5 'SeqNo' 09");
    cr_assert_eq(swim_decode_nack(in, n, &k), (int)n);
}

Test(swim_wire, decoder_accepts_any_integer_width_that_fits)
{
    static const struct {
        const char *enc;
        int rc; /* 0: decodes to 7946; else the error */
    } cases[] = {
        {"cd 1f0a", 0},
        {"ce 00001f0a", 0},
        {"cf 0000000000001f0a", 0},
        {"d1 1f0a", 0},
        {"d2 00001f0a", 0},
        {"d3 0000000000001f0a", 0},
        {"ce 00010000", -EBADMSG}, /* 65536 does not fit a port */
        {"d1 ff00", -EBADMSG},     /* negative */
        {"ff", -EBADMSG},          /* negative fixint */
        {"ca 45f73000", -EBADMSG}, /* float */
        {"a1 '7'", -EBADMSG},      /* string */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t in[64];
        size_t n = vec(in, sizeof(in), "81 a4 'Port'");
        n += vec(in + n, sizeof(in) - n, cases[i].enc);
        struct swim_alive d;
        int rc = swim_decode_alive(in, n, &d);
        if (cases[i].rc == 0) {
            cr_assert_eq(rc, (int)n, "%s: rc %d", cases[i].enc, rc);
            cr_assert_eq(d.port, 7946, "%s", cases[i].enc);
        } else {
            cr_assert_eq(rc, cases[i].rc, "%s: rc %d", cases[i].enc, rc);
        }
    }
    uint8_t in[64];
    size_t n = vec(in, sizeof(in), "81 a5 'State' cc ff");
    struct swim_push_node_state ns;
    cr_assert_eq(swim_decode_push_node_state(in, n, &ns), (int)n);
    cr_assert_eq(ns.state, 255);
    n = vec(in, sizeof(in), "81 a5 'State' cd 0100");
    cr_assert_eq(swim_decode_push_node_state(in, n, &ns), -EBADMSG);
    n = vec(in, sizeof(in), "81 a4 'Join' 01");
    struct swim_push_pull_header h;
    cr_assert_eq(swim_decode_push_pull_header(in, n, &h), -EBADMSG, "Join is a bool");
}

Test(swim_wire, compress_map_decodes)
{
    uint8_t in[64];
    size_t n = vec(in, sizeof(in), "82 a4 'Algo' 00 a3 'Buf' a3 010203 ff");
    struct swim_compress c;
    cr_assert_eq(swim_decode_compress(in, n, &c), (int)n - 1, "trailing bytes are not the map's");
    cr_assert_eq(c.algo, 0);
    ASSERT_FIELD(c.buf, "\x01\x02\x03");
}

/* ------------------------------------------------------- truncation, junk */

typedef int (*decode_fn)(const uint8_t *, size_t, void *);

static const struct {
    const char *name;
    decode_fn fn;
} decoders[] = {
#define D(f)             \
    {                    \
#f, (decode_fn)f \
    }
    D(swim_decode_ping),
    D(swim_decode_indirect_ping),
    D(swim_decode_ack),
    D(swim_decode_nack),
    D(swim_decode_err),
    D(swim_decode_suspect),
    D(swim_decode_alive),
    D(swim_decode_dead),
    D(swim_decode_push_pull_header),
    D(swim_decode_push_node_state),
    D(swim_decode_user_msg_header),
    D(swim_decode_compress),
#undef D
};
#define NDECODERS (sizeof(decoders) / sizeof(decoders[0]))

/* Big enough for any struct in msg.h. */
union any_msg {
    struct swim_ping a;
    struct swim_indirect_ping b;
    struct swim_alive c;
    struct swim_push_node_state d;
    uint8_t pad[256];
};

/* Decodes a heap copy of exactly len bytes, so AddressSanitizer sees overreads. */
static int decode_copy(decode_fn fn, const uint8_t *in, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, in, len);
    union any_msg m;
    int rc = fn(copy, len, &m);
    free(copy);
    return rc;
}

Test(swim_wire, every_prefix_of_every_vector_is_eagain)
{
    static const char *const msgs[] = {PING_A_TO_B, ACK_B_TO_A, ALIVE_A, ALIVE_B};
    static const decode_fn fns[] = {(decode_fn)swim_decode_ping, (decode_fn)swim_decode_ack,
                                    (decode_fn)swim_decode_alive, (decode_fn)swim_decode_alive};
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        uint8_t m[256];
        size_t n = vec(m, sizeof(m), msgs[i]);
        cr_assert_eq(decode_copy(fns[i], m + 1, n - 1), (int)n - 1);
        cr_assert_eq(swim_msgpack_object_len(m + 1, n - 1), (int)n - 1);
        for (size_t cut = 0; cut < n - 1; cut++) {
            cr_assert_eq(decode_copy(fns[i], m + 1, cut), -EAGAIN, "message %zu cut at %zu", i,
                         cut);
            cr_assert_eq(swim_msgpack_object_len(m + 1, cut), -EAGAIN);
        }
    }
}

Test(swim_wire, object_len_of_every_msgpack_form)
{
    static const struct {
        const char *enc;
        int len;
    } cases[] = {
        {"00", 1},
        {"e0", 1},
        {"c0", 1},
        {"c2", 1},
        {"cc ff", 2},
        {"cf 0000000000000001", 9},
        {"d3 0000000000000001", 9},
        {"ca 00000000", 5},
        {"cb 0000000000000000", 9},
        {"a2 'hi'", 3},
        {"d9 02 'hi'", 4},
        {"da 0002 'hi'", 5},
        {"db 00000002 'hi'", 7},
        {"c4 01 00", 3},
        {"c5 0001 00", 4},
        {"c6 00000001 00", 6},
        {"d4 01 00", 3},
        {"d8 01 00000000000000000000000000000000", 18},
        {"c7 02 01 0000", 5},
        {"c8 0001 01 00", 5},
        {"c9 00000001 01 00", 7},
        {"92 01 91 90", 4},
        {"dc 0002 01 02", 5},
        {"dd 00000001 c0", 6},
        {"82 01 02 03 81 04 05", 7},
        {"de 0001 01 02", 5},
        {"df 00000001 01 02", 7},
        {"c1", -EBADMSG},
        {"91 c1", -EBADMSG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t in[64];
        size_t n = vec(in, sizeof(in), cases[i].enc);
        cr_assert_eq(swim_msgpack_object_len(in, n), cases[i].len, "%s", cases[i].enc);
        if (cases[i].len > 0) {
            in[n] = 0x01; /* a next object after it changes nothing */
            cr_assert_eq(swim_msgpack_object_len(in, n + 1), cases[i].len, "%s", cases[i].enc);
            for (size_t cut = 0; cut < n; cut++)
                cr_assert_eq(swim_msgpack_object_len(in, cut), -EAGAIN, "%s cut at %zu",
                             cases[i].enc, cut);
        }
    }
    /* A huge declared count is not a crash, just an object still arriving. */
    uint8_t in[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xdd, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(swim_msgpack_object_len(in, sizeof(in)), -EAGAIN);
    /* Deep nesting costs no stack. */
    size_t deep = 1 << 20;
    uint8_t *d = malloc(deep + 1);
    memset(d, 0x91, deep);
    d[deep] = 0xc0;
    cr_assert_eq(swim_msgpack_object_len(d, deep + 1), (int)deep + 1);
    free(d);
}

/* Mutated vectors through every decoder: a result in [1, len] or an error. */
Test(swim_wire, corrupted_input_never_reads_out_of_bounds)
{
    static const char *const seeds[] = {PING_A_TO_B, ACK_B_TO_A, ALIVE_A, GOSSIP_TWO_ALIVES};
    unsigned seed = 12345;
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
        uint8_t base[256];
        size_t n = vec(base, sizeof(base), seeds[s]);
        for (int round = 0; round < 3000; round++) {
            uint8_t m[256];
            memcpy(m, base, n);
            int flips = 1 + rand_r(&seed) % 4;
            for (int f = 0; f < flips; f++)
                m[rand_r(&seed) % n] = (uint8_t)rand_r(&seed);
            size_t len = 1 + (size_t)rand_r(&seed) % n;
            for (size_t k = 0; k < NDECODERS; k++) {
                int rc = decode_copy(decoders[k].fn, m + 1, len - 1);
                cr_assert(rc == -EAGAIN || rc == -EBADMSG || (rc > 0 && (size_t)rc <= len - 1),
                          "%s returned %d for %zu bytes", decoders[k].name, rc, len - 1);
            }
            int rc = swim_msgpack_object_len(m, len);
            cr_assert(rc == -EAGAIN || rc == -EBADMSG || (rc > 0 && (size_t)rc <= len));
        }
    }
}

/* ------------------------------------------------------- compound */

static int nmsgs;
static uint8_t types[16];
static void collect(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
    (void)arg;
    (void)body;
    (void)len;
    if (nmsgs < 16)
        types[nmsgs] = type;
    nmsgs++;
}

Test(swim_wire, compound_round_trip_and_truncation)
{
    uint8_t ping[64], ack[64], nack[64], pkt[256];
    struct swim_ping p = {.node = B("b"), .seq_no = 1};
    struct swim_ack a = {.seq_no = 1};
    struct swim_nack k = {.seq_no = 1};
    const uint8_t *parts[] = {ping, ack, nack};
    size_t lens[] = {(size_t)swim_encode_ping(ping, sizeof(ping), &p),
                     (size_t)swim_encode_ack(ack, sizeof(ack), &a),
                     (size_t)swim_encode_nack(nack, sizeof(nack), &k)};
    int n = swim_encode_compound(pkt, sizeof(pkt), parts, lens, 3);
    cr_assert_eq(n, (int)(2 + 6 + lens[0] + lens[1] + lens[2]));
    cr_assert_eq(pkt[0], 7);
    cr_assert_eq(pkt[1], 3);
    cr_assert_eq(pkt[2] << 8 | pkt[3], (int)lens[0]);

    struct swim_packet_stats st = {0};
    nmsgs = 0;
    cr_assert_eq(swim_packet_unwrap(NULL, pkt, (size_t)n, collect, NULL, &st), 3);
    cr_assert_eq(types[0], SWIM_MSG_PING);
    cr_assert_eq(types[1], SWIM_MSG_ACK);
    cr_assert_eq(types[2], SWIM_MSG_NACK);

    /* Cut inside the second part: the first survives, two are counted lost. */
    memset(&st, 0, sizeof(st));
    nmsgs = 0;
    size_t cut = 8 + lens[0] + lens[1] / 2;
    cr_assert_eq(swim_packet_unwrap(NULL, pkt, cut, collect, NULL, &st), 1);
    cr_assert_eq(types[0], SWIM_MSG_PING);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_TRUNCATED_COMPOUND], 2);
    /* Cut inside the length table: nothing, one drop. */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(swim_packet_unwrap(NULL, pkt, 5, collect, NULL, &st), 0);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_TRUNCATED_COMPOUND], 1);
    /* Every cut: never more than what fits, never a crash. */
    for (size_t c = 1; c <= (size_t)n; c++) {
        memset(&st, 0, sizeof(st));
        int got = swim_packet_unwrap(NULL, pkt, c, collect, NULL, &st);
        int want = c >= 8 + lens[0] + lens[1] + lens[2] ? 3
                   : c >= 8 + lens[0] + lens[1]         ? 2
                   : c >= 8 + lens[0]                   ? 1
                                                        : 0;
        cr_assert_eq(got, want, "cut at %zu", c);
    }

    cr_assert_eq(swim_encode_compound(pkt, sizeof(pkt), parts, lens, 0), -EINVAL);
    cr_assert_eq(swim_encode_compound(pkt, 10, parts, lens, 3), -ENOSPC);
    size_t big[] = {65536};
    cr_assert_eq(swim_encode_compound(pkt, sizeof(pkt), parts, big, 1), -EINVAL);
}
