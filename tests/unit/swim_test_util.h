/*
 * swim_test_util.h - helpers for the swim wire-layer tests: byte vectors
 * written the way memberlist.md section 10 writes them, and a reader for
 * the captured serf traffic (classic pcap, Ethernet, IPv4).
 */
#ifndef YARD_SWIM_TEST_UTIL_H
#define YARD_SWIM_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Parses a vector: hex digits (spaces anywhere between bytes) and
 * 'quoted' ASCII copied as is, so "a4 'Node' a1 'b'" reads like the spec.
 * Returns the length; aborts the test on a malformed vector.
 */
static inline size_t vec(uint8_t *out, size_t cap, const char *s)
{
    size_t n = 0;
    while (*s) {
        if (*s == ' ' || *s == '\n') {
            s++;
        } else if (*s == '\'') {
            for (s++; *s && *s != '\''; s++) {
                cr_assert_lt(n, cap, "vector longer than its buffer");
                out[n++] = (uint8_t)*s;
            }
            cr_assert_eq(*s, '\'', "unterminated quote in vector");
            s++;
        } else {
            unsigned v;
            cr_assert(sscanf(s, "%2x", &v) == 1 && s[1] && s[1] != ' ', "bad hex at \"%.8s\"", s);
            cr_assert_lt(n, cap, "vector longer than its buffer");
            out[n++] = (uint8_t)v;
            s += 2;
        }
    }
    return n;
}

/* Asserts got[0..got_len) == want[0..want_len), naming the first difference. */
static inline void assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want,
                                size_t want_len, const char *what)
{
    size_t i = 0;
    while (i < got_len && i < want_len && got[i] == want[i])
        i++;
    cr_assert(got_len == want_len && i == got_len,
              "%s: %zu bytes, want %zu; first difference at offset %zu (got %02x, want %02x)", what,
              got_len, want_len, i, i < got_len ? got[i] : 0, i < want_len ? want[i] : 0);
}

/* The captured traffic (memberlist.md section 10), copied into the repo. */
#ifndef SWIM_VECTORS_DIR
#define SWIM_VECTORS_DIR "tests/vectors"
#endif
#define SWIM_PCAP SWIM_VECTORS_DIR "/serf-two-agents-loopback.pcap"

struct pcap_pkt {
    uint8_t proto; /* 6 TCP, 17 UDP */
    uint16_t sport, dport;
    uint32_t seq; /* TCP */
    uint8_t tcp_flags;
    const uint8_t *payload;
    size_t len;
};

struct pcap_file {
    uint8_t *data;
    size_t size;
    struct pcap_pkt pkts[256];
    size_t count;
};

static inline uint32_t rd32(const uint8_t *p, int swap)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return swap ? __builtin_bswap32(v) : v;
}

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Reads a classic pcap (either byte order, µs or ns timestamps) of
 * Ethernet frames and keeps the IPv4 UDP and TCP packets.
 */
static inline void pcap_load(struct pcap_file *pf, const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    memset(pf, 0, sizeof(*pf));
    pf->data = malloc(1 << 20);
    pf->size = fread(pf->data, 1, 1 << 20, f);
    fclose(f);
    cr_assert_geq(pf->size, 24, "%s: shorter than a pcap header", path);

    uint32_t magic = rd32(pf->data, 0);
    int swap = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
    cr_assert(swap || magic == 0xa1b2c3d4 || magic == 0xa1b23c4d,
              "%s: not a classic pcap (magic %08x)", path, magic);
    uint32_t linktype = rd32(pf->data + 20, swap);
    cr_assert_eq(linktype, 1, "%s: link type %u, the reader knows Ethernet (1)", path, linktype);

    size_t off = 24;
    while (off + 16 <= pf->size) {
        uint32_t incl = rd32(pf->data + off + 8, swap);
        const uint8_t *fr = pf->data + off + 16;
        cr_assert_leq(off + 16 + incl, pf->size, "%s: record past the end", path);
        off += 16 + incl;
        if (incl < 14 + 20 || be16(fr + 12) != 0x0800)
            continue;
        const uint8_t *ip = fr + 14;
        size_t ihl = (size_t)(ip[0] & 0x0f) * 4, tot = be16(ip + 2);
        cr_assert_leq(14 + tot, incl, "truncated IPv4 packet in the capture");
        struct pcap_pkt p = {.proto = ip[9]};
        const uint8_t *l4 = ip + ihl;
        if (p.proto == 17) {
            p.payload = l4 + 8;
            p.len = be16(l4 + 4) - 8;
        } else if (p.proto == 6) {
            size_t doff = (size_t)(l4[12] >> 4) * 4;
            p.seq = (uint32_t)be16(l4 + 4) << 16 | be16(l4 + 6);
            p.tcp_flags = l4[13];
            p.payload = l4 + doff;
            p.len = tot - ihl - doff;
        } else {
            continue;
        }
        p.sport = be16(l4);
        p.dport = be16(l4 + 2);
        cr_assert_lt(pf->count, sizeof(pf->pkts) / sizeof(pf->pkts[0]));
        pf->pkts[pf->count++] = p;
    }
}

static inline void pcap_free(struct pcap_file *pf)
{
    free(pf->data);
}

/*
 * The bytes one side of a TCP connection sent, in sequence order: from the
 * SYN's sequence number on, each segment's payload placed at its offset.
 * Returns the length (the highest byte placed).
 */
static inline size_t tcp_stream(const struct pcap_file *pf, uint16_t sport, uint16_t dport,
                                uint8_t *out, size_t cap)
{
    uint32_t isn = 0;
    int have_syn = 0;
    size_t len = 0;
    for (size_t i = 0; i < pf->count; i++) {
        const struct pcap_pkt *p = &pf->pkts[i];
        if (p->proto != 6 || p->sport != sport || p->dport != dport)
            continue;
        if (p->tcp_flags & 0x02) {
            isn = p->seq;
            have_syn = 1;
            continue;
        }
        if (p->len == 0)
            continue;
        cr_assert(have_syn, "TCP payload before the SYN");
        size_t at = (uint32_t)(p->seq - isn - 1);
        cr_assert_leq(at + p->len, cap, "TCP stream longer than the buffer");
        memcpy(out + at, p->payload, p->len);
        if (at + p->len > len)
            len = at + p->len;
    }
    return len;
}

#endif
