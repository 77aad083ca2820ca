/*
 * test_cksum.c - the incremental UDP checksum helpers (cksum.h) judged by a
 * full recomputation.
 *
 * The reference is a plain RFC 1071 sum over the IPv4 pseudo-header, the UDP
 * header and the payload, written here independently of cksum.h: bytes are
 * paired big-endian one by one, so it shares neither the raw 16-bit loads
 * nor the folding code of the helpers. Each case builds a random datagram
 * with a correct checksum, applies the same edits forwarding makes (both
 * addresses, both ports, one byte at an even or odd offset), adjusts the
 * checksum with the helpers, and compares with the recomputed one. A fixed
 * seed makes every failure reproducible.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "cksum.h"

#define UDP_HDR   8
#define MAX_DGRAM (UDP_HDR + 1472)

/* A UDP datagram as it sits in memory after the IPv4 header. */
struct dgram {
    uint8_t src_ip[4], dst_ip[4]; /* pseudo-header addresses, network order */
    uint8_t b[MAX_DGRAM];         /* UDP header + payload */
    unsigned len;                 /* UDP length (header + payload) */
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, good enough for test data. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned rnd_below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* One's complement sum of bytes taken as big-endian 16-bit words. */
static uint32_t sum_be(uint32_t sum, const uint8_t *p, unsigned len)
{
    for (unsigned i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8); /* padded with a zero byte */
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

/*
 * The checksum the datagram should carry (host order), computed with its
 * checksum field taken as zero; a computed 0 is sent as 0xffff (RFC 768).
 */
static uint16_t reference_cksum(const struct dgram *d)
{
    uint8_t pseudo[12];
    memcpy(pseudo, d->src_ip, 4);
    memcpy(pseudo + 4, d->dst_ip, 4);
    pseudo[8] = 0;
    pseudo[9] = 17; /* UDP */
    pseudo[10] = (uint8_t)(d->len >> 8);
    pseudo[11] = (uint8_t)d->len;
    uint8_t copy[MAX_DGRAM];
    memcpy(copy, d->b, d->len);
    copy[6] = copy[7] = 0;
    uint32_t sum = sum_be(sum_be(0, pseudo, sizeof(pseudo)), copy, d->len);
    uint16_t c = (uint16_t)~sum;
    return c == 0 ? 0xffff : c;
}

static uint16_t stored_cksum(const struct dgram *d)
{
    return (uint16_t)(d->b[6] << 8 | d->b[7]);
}

static void store_cksum(struct dgram *d, uint16_t c)
{
    d->b[6] = (uint8_t)(c >> 8);
    d->b[7] = (uint8_t)c;
}

static void random_dgram(struct dgram *d, unsigned payload_len)
{
    d->len = UDP_HDR + payload_len;
    for (unsigned i = 0; i < 4; i++) {
        d->src_ip[i] = (uint8_t)rnd();
        d->dst_ip[i] = (uint8_t)rnd();
    }
    for (unsigned i = 0; i < d->len; i++)
        d->b[i] = (uint8_t)rnd();
    d->b[4] = (uint8_t)(d->len >> 8);
    d->b[5] = (uint8_t)d->len;
    store_cksum(d, reference_cksum(d));
}

/* Raw memory loads, as the forwarding code reads header fields. */
static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t load16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void store16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

/* What forwarding changes: addresses, ports and one payload byte. */
struct edit {
    uint8_t src_ip[4], dst_ip[4];
    uint8_t src_port[2], dst_port[2];
    unsigned byte_off; /* from the start of the UDP header, >= UDP_HDR */
    uint8_t new_byte;
};

static void random_edit(struct edit *e, const struct dgram *d)
{
    for (unsigned i = 0; i < 4; i++) {
        e->src_ip[i] = (uint8_t)rnd();
        e->dst_ip[i] = (uint8_t)rnd();
    }
    for (unsigned i = 0; i < 2; i++) {
        e->src_port[i] = (uint8_t)rnd();
        e->dst_port[i] = (uint8_t)rnd();
    }
    e->byte_off = UDP_HDR + rnd_below(d->len - UDP_HDR);
    e->new_byte = (uint8_t)rnd();
}

/*
 * Apply the edit and adjust the checksum with cksum.h in the order and the
 * way yard_forward_rewrite() does. Returns the adjusted checksum (host order).
 */
static uint16_t apply_incremental(struct dgram *d, const struct edit *e)
{
    uint32_t sum = yard_cksum_begin(load16(d->b + 6));
    sum = yard_cksum_u32(sum, load32(d->src_ip), load32(e->src_ip));
    sum = yard_cksum_u32(sum, load32(d->dst_ip), load32(e->dst_ip));
    sum = yard_cksum_word(sum, load16(d->b + 0), load16(e->src_port));
    sum = yard_cksum_word(sum, load16(d->b + 2), load16(e->dst_port));
    sum = yard_cksum_byte(sum, e->byte_off, d->b[e->byte_off], e->new_byte);

    memcpy(d->src_ip, e->src_ip, 4);
    memcpy(d->dst_ip, e->dst_ip, 4);
    memcpy(d->b + 0, e->src_port, 2);
    memcpy(d->b + 2, e->dst_port, 2);
    d->b[e->byte_off] = e->new_byte;
    store16(d->b + 6, yard_udp_cksum_end(sum));
    return stored_cksum(d);
}

Test(cksum, reference_accepts_a_known_datagram)
{
    /* A hand-checked case, so the reference itself is not trusted blindly:
     * 10.0.0.1:1000 -> 10.0.0.2:2000, payload "abc". */
    struct dgram d = {.src_ip = {10, 0, 0, 1}, .dst_ip = {10, 0, 0, 2}, .len = 11};
    const uint8_t hdr[] = {0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0b, 0, 0, 'a', 'b', 'c'};
    memcpy(d.b, hdr, sizeof(hdr));
    /* 0x0a00+0x0001+0x0a00+0x0002+0x0011+0x000b + 0x03e8+0x07d0+0x000b
     * + 0x6162+0x6300 = 0xe444; complement 0x1bbb. */
    cr_assert_eq(reference_cksum(&d), 0x1bbb);
}

Test(cksum, random_rewrites_match_recomputation)
{
    rng_state = 0x5eed0001;
    struct dgram d;
    struct edit e;
    unsigned odd_offsets = 0, even_offsets = 0, odd_lengths = 0;
    for (unsigned iter = 0; iter < 200000; iter++) {
        unsigned payload_len = 1 + rnd_below(iter % 4 == 0 ? 16 : MAX_DGRAM - UDP_HDR);
        random_dgram(&d, payload_len);
        random_edit(&e, &d);
        odd_offsets += e.byte_off & 1;
        even_offsets += !(e.byte_off & 1);
        odd_lengths += payload_len & 1;
        uint16_t got = apply_incremental(&d, &e);
        uint16_t want = reference_cksum(&d);
        cr_assert_eq(got, want,
                     "iteration %u: payload %u bytes, byte at offset %u: incremental 0x%04x, "
                     "recomputed 0x%04x",
                     iter, payload_len, e.byte_off, got, want);
    }
    cr_assert_gt(odd_offsets, 1000);
    cr_assert_gt(even_offsets, 1000);
    cr_assert_gt(odd_lengths, 1000);
}

Test(cksum, ttl_decrement_at_every_offset_parity)
{
    /* The forwarding case proper: only the last byte of the ttl encoding
     * changes, by one, at whatever offset the envelope put it. */
    rng_state = 0x5eed0002;
    struct dgram d;
    for (unsigned payload_len = 1; payload_len <= 70; payload_len++) {
        for (unsigned off = UDP_HDR; off < UDP_HDR + payload_len; off++) {
            random_dgram(&d, payload_len);
            d.b[off] = (uint8_t)(2 + rnd_below(63)); /* ttl 2..64 */
            store_cksum(&d, reference_cksum(&d));
            struct edit e;
            random_edit(&e, &d);
            e.byte_off = off;
            e.new_byte = (uint8_t)(d.b[off] - 1);
            uint16_t got = apply_incremental(&d, &e);
            cr_assert_eq(got, reference_cksum(&d), "payload %u bytes, ttl at offset %u",
                         payload_len, off);
        }
    }
}

Test(cksum, successive_rewrites_stay_valid)
{
    /* A message crossing several appliances is adjusted again and again;
     * errors must not accumulate. */
    rng_state = 0x5eed0003;
    struct dgram d;
    random_dgram(&d, 333);
    for (unsigned hop = 0; hop < 10000; hop++) {
        struct edit e;
        random_edit(&e, &d);
        uint16_t got = apply_incremental(&d, &e);
        cr_assert_eq(got, reference_cksum(&d), "hop %u", hop);
    }
}

Test(cksum, computed_zero_is_sent_as_ffff)
{
    rng_state = 0x5eed0004;
    unsigned found = 0;
    for (unsigned iter = 0; iter < 2000; iter++) {
        struct dgram d;
        struct edit e;
        random_dgram(&d, 20 + rnd_below(200));
        random_edit(&e, &d);
        /* Choose the first payload word so that, after the edit, the data
         * sums to 0xffff: the checksum computes to 0 and must go out as
         * 0xffff. The edited byte is kept out of that word. */
        if (e.byte_off < UDP_HDR + 2)
            e.byte_off = UDP_HDR + 2;
        struct dgram after = d;
        apply_incremental(&after, &e);
        after.b[UDP_HDR] = after.b[UDP_HDR + 1] = 0;
        uint16_t c0 = reference_cksum(&after); /* ~sum of the rest */
        uint16_t word = c0 == 0xffff ? 0 : c0; /* adding ~sum makes 0xffff */
        d.b[UDP_HDR] = (uint8_t)(word >> 8);
        d.b[UDP_HDR + 1] = (uint8_t)word;
        store_cksum(&d, reference_cksum(&d));

        uint16_t got = apply_incremental(&d, &e);
        cr_assert_eq(reference_cksum(&d), 0xffff, "the constructed case computes to 0");
        cr_assert_eq(got, 0xffff, "iteration %u: computed 0 must be sent as 0xffff, got 0x%04x",
                     iter, got);
        found++;
    }
    cr_assert_eq(found, 2000);
}

Test(cksum, udp_end_maps_only_zero)
{
    /* yard_udp_cksum_end differs from yard_cksum_end only for a zero result. */
    for (uint32_t sum = 0; sum < 0x30000; sum++) {
        uint16_t plain = yard_cksum_end(sum), udp = yard_udp_cksum_end(sum);
        if (plain == 0)
            cr_assert_eq(udp, 0xffff, "sum 0x%x", sum);
        else
            cr_assert_eq(udp, plain, "sum 0x%x", sum);
    }
}

Test(cksum, ipv4_header_sum_matches_reference)
{
    rng_state = 0x5eed0005;
    for (unsigned iter = 0; iter < 100000; iter++) {
        /* At offset 14 from an aligned start, where an Ethernet frame puts it. */
        uint64_t frame[6];
        uint8_t *h = (uint8_t *)frame + 14;
        for (unsigned i = 0; i < 20; i++)
            h[i] = (uint8_t)rnd();
        if (iter & 1) {
            /* Give it a correct checksum: the sum must then be 0xffff. */
            h[10] = h[11] = 0;
            uint16_t c = (uint16_t)~sum_be(0, h, 20);
            h[10] = (uint8_t)(c >> 8);
            h[11] = (uint8_t)c;
        }
        uint16_t be = (uint16_t)sum_be(0, h, 20);
        uint16_t want = (uint16_t)(be >> 8 | be << 8); /* the sum in memory order */
        uint16_t got = yard_ipv4_hdr_sum(h);
        cr_assert_eq(got, want, "iteration %u: 0x%04x, reference 0x%04x", iter, got, want);
        if (iter & 1)
            cr_assert_eq(got, 0xffff, "iteration %u: a correct header sums to 0xffff", iter);
    }
}
