/*
 * test_swim_packet.c - the UDP and TCP pipelines against real serf traffic:
 * every datagram two serf 0.9.4 agents exchanged on loopback
 * (tests/vectors/serf-two-agents-loopback.pcap, memberlist.md section 10)
 * must open without a single drop into messages that decode, and both
 * halves of the push/pull must come out of the stream reader as the
 * section 10 push/pull. Then the encrypted forms (round trips, refusals),
 * and every drop reason on purpose.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"
#include "wire.h"

#include "swim_test_util.h"

static const uint8_t key32[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                                  0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01};

/* Records each leaf message and checks its body decodes completely. */
struct seen {
    int count;
    int by_type[16];
    int undecodable;
    uint8_t last_type;
    uint8_t last_body[2048];
    size_t last_len;
};

static int decode_body(uint8_t type, const uint8_t *b, size_t len)
{
    union {
        struct swim_ping p;
        struct swim_indirect_ping ip;
        struct swim_ack a;
        struct swim_nack n;
        struct swim_suspect s;
        struct swim_alive al;
        struct swim_dead d;
    } m;
    switch (type) {
    case SWIM_MSG_PING:
        return swim_decode_ping(b, len, &m.p);
    case SWIM_MSG_INDIRECT_PING:
        return swim_decode_indirect_ping(b, len, &m.ip);
    case SWIM_MSG_ACK:
        return swim_decode_ack(b, len, &m.a);
    case SWIM_MSG_NACK:
        return swim_decode_nack(b, len, &m.n);
    case SWIM_MSG_SUSPECT:
        return swim_decode_suspect(b, len, &m.s);
    case SWIM_MSG_ALIVE:
        return swim_decode_alive(b, len, &m.al);
    case SWIM_MSG_DEAD:
        return swim_decode_dead(b, len, &m.d);
    case SWIM_MSG_USER: /* serf's type byte and one msgpack map */
        return len >= 2 ? 1 + swim_msgpack_object_len(b + 1, len - 1) : -EBADMSG;
    }
    return -EBADMSG;
}

static void record(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
    struct seen *s = arg;
    s->count++;
    s->by_type[type & 15]++;
    if (decode_body(type, body, len) != (int)len)
        s->undecodable++;
    s->last_type = type;
    s->last_len = len < sizeof(s->last_body) ? len : sizeof(s->last_body);
    memcpy(s->last_body, body, s->last_len);
}

static uint64_t total_drops(const struct swim_packet_stats *st)
{
    uint64_t t = 0;
    for (int i = 0; i < SWIM_PACKET_DROP_MAX; i++)
        t += st->drops[i];
    return t;
}

Test(swim_packet, every_captured_udp_packet_unwraps_without_drops)
{
    struct pcap_file *pf = malloc(sizeof(*pf));
    pcap_load(pf, SWIM_PCAP);
    struct swim_packet_stats st = {0};
    struct seen s = {0};
    int udp = 0;

    for (size_t i = 0; i < pf->count; i++) {
        const struct pcap_pkt *p = &pf->pkts[i];
        if (p->proto != 17)
            continue;
        cr_assert((p->sport == 7946 || p->sport == 7947) && (p->dport == 7946 || p->dport == 7947),
                  "UDP between %u and %u is not the agents'", p->sport, p->dport);
        udp++;
        int before = s.count;
        int n = swim_packet_unwrap(NULL, p->payload, p->len, record, &s, &st);
        cr_assert_gt(n, 0, "packet %zu (%zu bytes, first byte %02x) gave no message", i, p->len,
                     p->payload[0]);
        cr_assert_eq(n, s.count - before);
        for (int d = 0; d < SWIM_PACKET_DROP_MAX; d++)
            cr_assert_eq(st.drops[d], 0, "packet %zu: dropped as %s", i,
                         swim_packet_drop_name((enum swim_packet_drop)d));
    }
    /* Counted independently from the same capture. */
    cr_assert_eq(udp, 50);
    cr_assert_eq(st.packets_in, 50);
    cr_assert_eq(s.count, 67);
    cr_assert_eq(st.messages_in, 67);
    cr_assert_eq(s.undecodable, 0, "%d messages did not decode to their full length",
                 s.undecodable);
    cr_assert_eq(s.by_type[SWIM_MSG_PING], 14);
    cr_assert_eq(s.by_type[SWIM_MSG_ACK], 11);
    cr_assert_eq(s.by_type[SWIM_MSG_SUSPECT], 6);
    cr_assert_eq(s.by_type[SWIM_MSG_ALIVE], 16);
    cr_assert_eq(s.by_type[SWIM_MSG_DEAD], 4);
    cr_assert_eq(s.by_type[SWIM_MSG_USER], 16);
    pcap_free(pf);
    free(pf);
}

Test(swim_packet, first_captured_packet_is_what_our_encoders_write)
{
    /* The first datagram a sent (the two alives of section 10): rebuilt from
     * the decoded messages it must come out byte for byte. */
    struct pcap_file *pf = malloc(sizeof(*pf));
    pcap_load(pf, SWIM_PCAP);
    const struct pcap_pkt *p = NULL;
    for (size_t i = 0; i < pf->count && !p; i++)
        if (pf->pkts[i].proto == 17)
            p = &pf->pkts[i];
    cr_assert_not_null(p);
    cr_assert_eq(p->len, 138);

    uint8_t parts[2][128], comp[256], out[256];
    size_t lens[2];
    const uint8_t *part_ptrs[2] = {parts[0], parts[1]};
    const uint8_t *m = p->payload + 5 + 6; /* CRC header, compound header */
    for (int i = 0; i < 2; i++) {
        struct swim_alive a;
        size_t len = (size_t)(p->payload[7 + 2 * i] << 8 | p->payload[8 + 2 * i]);
        cr_assert_eq(swim_decode_alive(m + 1, len - 1, &a), (int)len - 1);
        lens[i] = (size_t)swim_encode_alive(parts[i], sizeof(parts[i]), &a);
        m += len;
    }
    int n = swim_encode_compound(comp, sizeof(comp), part_ptrs, lens, 2);
    n = swim_packet_wrap(NULL, true, out, sizeof(out), comp, (size_t)n);
    assert_bytes(out, n < 0 ? 0 : (size_t)n, p->payload, p->len, "rebuilt gossip packet");
    pcap_free(pf);
    free(pf);
}

/* ------------------------------------------------------------ TCP streams */

static void check_push_pull_stream(const uint8_t *stream, size_t len, size_t want_msg,
                                   const char *node)
{
    uint8_t *scratch = malloc(65536);
    const uint8_t *msg = NULL;
    size_t msg_len = 0;

    int used = swim_stream_unwrap(NULL, stream, len, scratch, 65536, &msg, &msg_len);
    cr_assert_eq(used, (int)len, "%s: consumed %d of %zu", node, used, len);
    cr_assert_eq(msg_len, want_msg, "%s: message of %zu bytes", node, msg_len);
    static const uint8_t head[] = {0x06, 0x83, 0xa4, 'J', 'o', 'i', 'n', 0xc3};
    assert_bytes(msg, sizeof(head), head, sizeof(head), "push/pull header start");
    cr_assert_eq(swim_stream_message_len(msg, msg_len), (int)msg_len);

    struct swim_push_pull_header h;
    int hl = swim_decode_push_pull_header(msg + 1, msg_len - 1, &h);
    cr_assert_gt(hl, 0);
    cr_assert(h.join);
    cr_assert_eq(h.nodes, 1);
    struct swim_push_node_state ns;
    int nl = swim_decode_push_node_state(msg + 1 + hl, msg_len - 1 - (size_t)hl, &ns);
    cr_assert_gt(nl, 0);
    cr_assert(ns.name.len == 1 && ns.name.ptr[0] == node[0], "node %s", node);
    cr_assert_eq(1 + (size_t)hl + (size_t)nl + h.user_state_len, msg_len);

    /* Every shorter read of the stream asks for more. */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut + 1);
        memcpy(copy, stream, cut);
        cr_assert_eq(swim_stream_unwrap(NULL, copy, cut, scratch, 65536, &msg, &msg_len), -EAGAIN,
                     "%s: cut at %zu", node, cut);
        free(copy);
    }
    free(scratch);
}

Test(swim_packet, captured_push_pull_streams_unwrap)
{
    struct pcap_file *pf = malloc(sizeof(*pf));
    pcap_load(pf, SWIM_PCAP);
    uint8_t *stream = malloc(65536), *plain = malloc(65536), *again = malloc(65536);
    uint8_t want[1024];

    /* Find the push/pull connection: the one to a's port 7946 with data. */
    uint16_t client = 0;
    for (size_t i = 0; i < pf->count && !client; i++)
        if (pf->pkts[i].proto == 6 && pf->pkts[i].dport == 7946 && pf->pkts[i].len > 0)
            client = pf->pkts[i].sport;
    cr_assert_neq(client, 0, "no TCP payload to 7946 in the capture");

    /* b -> a: section 10's 212-byte stream, 681 bytes inside. */
    size_t len = tcp_stream(pf, client, 7946, stream, 65536);
    cr_assert_eq(len, 212);
    check_push_pull_stream(stream, len, 681, "b");

    /* The section 10 bytes, built from their parts (test_swim_wire builds the
     * same from the encoders). */
    const uint8_t *msg;
    size_t msg_len;
    swim_stream_unwrap(NULL, stream, len, plain, 65536, &msg, &msg_len);
    size_t w = vec(want, sizeof(want),
                   "06 83 a4 'Join' c3 a5 'Nodes' 01 ac 'UserStateLen' cd 0249 "
                   "87 a4 'Addr' a4 7f000001 ab 'Incarnation' 01 a4 'Meta' a2 ff80 "
                   "a4 'Name' a1 'b' a4 'Port' cd 1f0b a5 'State' 00 a3 'Vsn' a6 010502020505 "
                   "02 86 aa 'EventLTime' 01 a6 'Events' dc 0200");
    memset(want + w, 0xc0, 512);
    w += 512;
    w += vec(want + w, sizeof(want) - w,
             "a5 'LTime' 01 ab 'LeftMembers' 90 aa 'QueryLTime' 01 ac 'StatusLTimes' 81 a1 'b' 00");
    assert_bytes(msg, msg_len, want, w, "b's push/pull");

    /* Our stream writer compresses it back to exactly what serf sent. */
    int n = swim_stream_wrap(NULL, true, again, 65536, msg, msg_len);
    assert_bytes(again, n < 0 ? 0 : (size_t)n, stream, len, "rewrapped push/pull stream");

    /* a -> b: the reply on the same connection, node "a" with its tags. */
    len = tcp_stream(pf, 7946, client, stream, 65536);
    cr_assert_eq(len, 222);
    check_push_pull_stream(stream, len, 690, "a");

    free(stream);
    free(plain);
    free(again);
    pcap_free(pf);
    free(pf);
}

Test(swim_packet, stream_message_len_of_each_stream_type)
{
    uint8_t m[256];
    size_t n;

    n = vec(m, sizeof(m), "08 81 aa 'UserMsgLen' 03 'abc' 'next'");
    cr_assert_eq(swim_stream_message_len(m, n), 17, "the header's 14 bytes and 'abc'");
    for (size_t cut = 0; cut < 17; cut++)
        cr_assert_eq(swim_stream_message_len(m, cut), -EAGAIN);
    n = vec(m, sizeof(m), "00 82 a4 'Node' a1 'b' a5 'SeqNo' 07");
    cr_assert_eq(swim_stream_message_len(m, n), (int)n);
    n = vec(m, sizeof(m), "02 82 a7 'Payload' c0 a5 'SeqNo' 07");
    cr_assert_eq(swim_stream_message_len(m, n), (int)n);
    n = vec(m, sizeof(m), "0d 81 a5 'Error' a2 'no'");
    cr_assert_eq(swim_stream_message_len(m, n), (int)n);
    /* A push/pull with no nodes and no user state is just its header. */
    n = vec(m, sizeof(m), "06 83 a4 'Join' c2 a5 'Nodes' 00 ac 'UserStateLen' 00");
    cr_assert_eq(swim_stream_message_len(m, n), (int)n);
    /* Not stream messages, or lying headers. */
    n = vec(m, sizeof(m), "04 80");
    cr_assert_eq(swim_stream_message_len(m, n), -EBADMSG);
    n = vec(m, sizeof(m), "09 80");
    cr_assert_eq(swim_stream_message_len(m, n), -EBADMSG);
    n = vec(m, sizeof(m), "08 81 aa 'UserMsgLen' ce 01400001");
    cr_assert_eq(swim_stream_message_len(m, n), -EBADMSG, "over 20 MiB");
    n = vec(m, sizeof(m), "06 83 a4 'Join' c2 a5 'Nodes' 02 ac 'UserStateLen' 00 80 93");
    cr_assert_eq(swim_stream_message_len(m, n), -EBADMSG, "a node state that is not a map");
}

/* ------------------------------------------------------------ encryption */

static void keyring(struct swim_keyring *kr)
{
    swim_keyring_init(kr);
    cr_assert_eq(swim_keyring_add(kr, key32, 32), 0);
}

Test(swim_packet, encrypted_packet_round_trip)
{
    struct swim_keyring kr;
    keyring(&kr);
    uint8_t msg[64], pkt[256];
    struct swim_nack k = {.seq_no = 99};
    int ml = swim_encode_nack(msg, sizeof(msg), &k);

    for (int crc = 0; crc <= 1; crc++) {
        int n = swim_packet_wrap(&kr, crc, pkt, sizeof(pkt), msg, (size_t)ml);
        cr_assert_eq(n, ml + 29 + (crc ? 5 : 0));
        cr_assert_eq(pkt[0], 1, "the datagram is the blob: no type byte");
        struct swim_packet_stats st = {0};
        struct seen s = {0};
        cr_assert_eq(swim_packet_unwrap(&kr, pkt, (size_t)n, record, &s, &st), 1);
        cr_assert_eq(s.last_type, SWIM_MSG_NACK);
        assert_bytes(s.last_body, s.last_len, msg + 1, (size_t)ml - 1, "nack body");
        cr_assert_eq(total_drops(&st), 0);

        /* Another cluster's key: dropped as undecryptable. */
        struct swim_keyring other;
        swim_keyring_init(&other);
        swim_keyring_add(&other, key32 + 1, 16);
        cr_assert_eq(swim_packet_unwrap(&other, pkt, (size_t)n, record, &s, &st), 0);
        cr_assert_eq(st.drops[SWIM_PACKET_DROP_DECRYPT_FAILED], 1);
    }
}

Test(swim_packet, plaintext_is_refused_when_a_keyring_is_configured)
{
    struct swim_keyring kr;
    keyring(&kr);
    struct pcap_file *pf = malloc(sizeof(*pf));
    pcap_load(pf, SWIM_PCAP);
    struct swim_packet_stats st = {0};
    struct seen s = {0};
    int refused = 0, failed = 0;
    for (size_t i = 0; i < pf->count; i++) {
        const struct pcap_pkt *p = &pf->pkts[i];
        if (p->proto != 17)
            continue;
        cr_assert_eq(swim_packet_unwrap(&kr, p->payload, p->len, record, &s, &st), 0);
        if (p->payload[0] > 1)
            refused++;
        else
            failed++; /* a plaintext ping (00) looks like a vsn 0 blob */
    }
    cr_assert_eq(s.count, 0);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_PLAINTEXT_REFUSED], (uint64_t)refused);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_DECRYPT_FAILED], (uint64_t)failed);
    cr_assert_gt(refused, 0);
    pcap_free(pf);
    free(pf);
}

Test(swim_packet, encrypted_stream_round_trip_and_refusals)
{
    struct swim_keyring kr;
    keyring(&kr);
    uint8_t msg[1024], out[2048], t[2048], scratch[4096];
    size_t ml = vec(msg, sizeof(msg), "08 81 aa 'UserMsgLen' 05 'hello'");
    const uint8_t *got;
    size_t got_len;

    for (int compress = 0; compress <= 1; compress++) {
        int n = swim_stream_wrap(&kr, compress, out, sizeof(out), msg, ml);
        cr_assert_gt(n, 0);
        cr_assert_eq(out[0], SWIM_MSG_ENCRYPT);
        uint32_t blob = (uint32_t)out[1] << 24 | (uint32_t)out[2] << 16 | out[3] << 8 | out[4];
        cr_assert_eq(blob + 5, (uint32_t)n);
        /* Followed by the start of a next message: only this one is taken. */
        out[n] = 0x00;
        int used =
            swim_stream_unwrap(&kr, out, (size_t)n + 1, scratch, sizeof(scratch), &got, &got_len);
        cr_assert_eq(used, n);
        assert_bytes(got, got_len, msg, ml, "stream message");
        for (int cut = 0; cut < n; cut++)
            cr_assert_eq(
                swim_stream_unwrap(&kr, out, (size_t)cut, scratch, sizeof(scratch), &got, &got_len),
                -EAGAIN);
        /* The 5-byte header is authenticated: another length breaks the tag. */
        memcpy(t, out, (size_t)n);
        t[4] ^= 1;
        int rc = swim_stream_unwrap(&kr, t, (size_t)n, scratch, sizeof(scratch), &got, &got_len);
        cr_assert(rc == -EBADMSG || rc == -EAGAIN);
        memcpy(t, out, (size_t)n);
        t[n - 1] ^= 1;
        cr_assert_eq(
            swim_stream_unwrap(&kr, t, (size_t)n, scratch, sizeof(scratch), &got, &got_len),
            -EBADMSG);
        /* Keyless reader: encrypted is unreadable. */
        cr_assert_eq(
            swim_stream_unwrap(NULL, out, (size_t)n, scratch, sizeof(scratch), &got, &got_len),
            -EBADMSG);
        /* Scratch too small for the plaintext. */
        cr_assert_eq(swim_stream_unwrap(&kr, out, (size_t)n, scratch, 8, &got, &got_len), -ENOSPC);
    }
    /* Keyed reader, plaintext stream (compressed or not): refused. */
    int n = swim_stream_wrap(NULL, true, out, sizeof(out), msg, ml);
    cr_assert_eq(out[0], SWIM_MSG_COMPRESS);
    cr_assert_eq(swim_stream_unwrap(&kr, out, (size_t)n, scratch, sizeof(scratch), &got, &got_len),
                 -EACCES);
    cr_assert_eq(swim_stream_unwrap(NULL, out, (size_t)n, scratch, sizeof(scratch), &got, &got_len),
                 n);
    assert_bytes(got, got_len, msg, ml, "compressed stream");
    cr_assert_eq(swim_stream_unwrap(&kr, msg, ml, scratch, sizeof(scratch), &got, &got_len),
                 -EACCES);
    /* A length over memberlist's 20 MiB limit is refused before reading it. */
    uint8_t huge[] = {0x0a, 0x01, 0x40, 0x00, 0x01, 0x01};
    cr_assert_eq(
        swim_stream_unwrap(&kr, huge, sizeof(huge), scratch, sizeof(scratch), &got, &got_len),
        -EBADMSG);
    /* Encrypted content that is not a stream message. */
    uint8_t junk[] = {0x04, 0x80};
    n = swim_stream_wrap(&kr, false, out, sizeof(out), junk, sizeof(junk));
    cr_assert_eq(swim_stream_unwrap(&kr, out, (size_t)n, scratch, sizeof(scratch), &got, &got_len),
                 -EBADMSG);
}

/* ------------------------------------------------------------ drop reasons */

Test(swim_packet, each_drop_reason_on_purpose)
{
    struct swim_packet_stats st = {0};
    struct seen s = {0};
    uint8_t pkt[1024], buf[1024];
    size_t n;

    /* bad_crc */
    n = vec(pkt, sizeof(pkt),
            "0c 22f86724 03 83 a4 'From' a1 'a' ab 'Incarnation' 01 a4 'Node' a1 'c'");
    cr_assert_eq(swim_packet_unwrap(NULL, pkt, n, record, &s, &st), 0);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_BAD_CRC], 1);
    /* A CRC header shorter than 5 bytes is an unknown message, as in memberlist. */
    cr_assert_eq(swim_packet_unwrap(NULL, pkt, 4, record, &s, &st), 0);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_UNKNOWN_TYPE], 1);
    /* unknown_type: push/pull over UDP, type 200 */
    n = vec(pkt, sizeof(pkt), "06 80");
    swim_packet_unwrap(NULL, pkt, n, record, &s, &st);
    pkt[0] = 200;
    swim_packet_unwrap(NULL, pkt, n, record, &s, &st);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_UNKNOWN_TYPE], 3);
    /* bad_message: empty packet, empty compound part */
    swim_packet_unwrap(NULL, pkt, 0, record, &s, &st);
    n = vec(pkt, sizeof(pkt), "07 01 0000");
    swim_packet_unwrap(NULL, pkt, n, record, &s, &st);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_BAD_MESSAGE], 2);
    /* bad_compress: wrong algorithm, not a map, corrupt LZW */
    n = vec(pkt, sizeof(pkt), "09 82 a4 'Algo' 01 a3 'Buf' a3 000302");
    swim_packet_unwrap(NULL, pkt, n, record, &s, &st);
    n = vec(pkt, sizeof(pkt), "09 93");
    swim_packet_unwrap(NULL, pkt, n, record, &s, &st);
    n = vec(pkt, sizeof(pkt), "09 82 a4 'Algo' 00 a3 'Buf' a2 0001");
    swim_packet_unwrap(NULL, pkt, n, record, &s, &st);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_BAD_COMPRESS], 3);
    /* compress_too_big: 70000 zeros compress to a few hundred bytes */
    uint8_t *zeros = calloc(1, 70000), *z = malloc(8192);
    int zl = swim_encode_compress(z, 8192, zeros, 70000);
    cr_assert_gt(zl, 0);
    cr_assert_eq(swim_packet_unwrap(NULL, z, (size_t)zl, record, &s, &st), 0);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_COMPRESS_TOO_BIG], 1);
    /* too_deep: compress in compound in compress in compound in compress */
    struct swim_nack k = {.seq_no = 1};
    int l = swim_encode_nack(buf, sizeof(buf), &k);
    for (int depth = 1; depth <= 5; depth++) {
        const uint8_t *part = buf;
        size_t plen = (size_t)l;
        l = depth % 2 ? swim_encode_compress(pkt, sizeof(pkt), buf, (size_t)l)
                      : swim_encode_compound(pkt, sizeof(pkt), &part, &plen, 1);
        cr_assert_gt(l, 0);
        memcpy(buf, pkt, (size_t)l);
        memset(&st, 0, sizeof(st));
        int got = swim_packet_unwrap(NULL, buf, (size_t)l, record, &s, &st);
        cr_assert_eq(got, depth <= SWIM_PACKET_MAX_DEPTH ? 1 : 0, "depth %d", depth);
        cr_assert_eq(st.drops[SWIM_PACKET_DROP_TOO_DEEP], depth <= SWIM_PACKET_MAX_DEPTH ? 0 : 1);
    }
    /* too_big */
    memset(&st, 0, sizeof(st));
    cr_assert_eq(swim_packet_unwrap(NULL, zeros, SWIM_PACKET_MAX + 1, record, &s, &st), 0);
    cr_assert_eq(st.drops[SWIM_PACKET_DROP_TOO_BIG], 1);
    free(zeros);
    free(z);

    /* Names and help exist for every reason (the metrics exporter prints them). */
    for (int d = 0; d < SWIM_PACKET_DROP_MAX; d++) {
        cr_assert(swim_packet_drop_name((enum swim_packet_drop)d)[0]);
        cr_assert(swim_packet_drop_help((enum swim_packet_drop)d)[0]);
    }
    cr_assert_str_eq(swim_packet_drop_name(SWIM_PACKET_DROP_BAD_CRC), "bad_crc");
    cr_assert_null(swim_packet_drop_name(SWIM_PACKET_DROP_MAX));
}

Test(swim_packet, wrap_limits)
{
    uint8_t out[64];
    struct swim_keyring kr;
    keyring(&kr);
    cr_assert_eq(swim_packet_wrap(NULL, true, out, 7, (const uint8_t *)"abc", 3), -ENOSPC);
    cr_assert_eq(swim_packet_wrap(&kr, true, out, 36, (const uint8_t *)"abc", 3), -ENOSPC);
    cr_assert_eq(swim_packet_wrap(&kr, true, out, 37, (const uint8_t *)"abc", 3), 37);
    cr_assert_eq(swim_packet_wrap(NULL, false, out, 3, (const uint8_t *)"abc", 3), 3);
    cr_assert_eq(swim_packet_unwrap(NULL, out, 3, NULL, NULL, NULL), -EINVAL);
}

/* Random bytes and mutated captured packets: never a crash, never a lie. */
Test(swim_packet, unwrap_survives_garbage)
{
    struct pcap_file *pf = malloc(sizeof(*pf));
    pcap_load(pf, SWIM_PCAP);
    struct swim_keyring kr;
    keyring(&kr);
    unsigned seed = 4242;
    uint8_t scratch[4096];
    for (size_t i = 0; i < pf->count; i++) {
        const struct pcap_pkt *p = &pf->pkts[i];
        if (p->len == 0)
            continue;
        for (int round = 0; round < 200; round++) {
            size_t len = 1 + (size_t)rand_r(&seed) % p->len;
            uint8_t *m = malloc(len);
            memcpy(m, p->payload, len);
            for (int f = 0; f < 1 + round % 4; f++)
                m[rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
            struct swim_packet_stats st = {0};
            struct seen s = {0};
            int got = swim_packet_unwrap(round % 8 ? NULL : &kr, m, len, record, &s, &st);
            cr_assert(got >= 0 && got == s.count);
            cr_assert_eq(st.messages_in, (uint64_t)got);
            const uint8_t *msg;
            size_t ml;
            int rc = swim_stream_unwrap(NULL, m, len, scratch, sizeof(scratch), &msg, &ml);
            cr_assert(rc == -EAGAIN || rc == -EBADMSG || rc == -ENOSPC ||
                      (rc > 0 && (size_t)rc <= len && ml > 0));
            free(m);
        }
    }
    pcap_free(pf);
    free(pf);
}
