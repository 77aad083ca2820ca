/*
 * frame.h - whole Ethernet/IPv4/UDP frames carrying one message envelope.
 *
 * The load generator builds every frame it will send once, at start-up, and
 * the pcap writer builds the benchmark's input the same way, so both put on
 * the wire exactly what PROTOCOL.md §1 says: a MessagePack array of 8 encoded
 * with msgpack-c, valid IPv4 and UDP checksums. The envelope's id is always
 * encoded as uint64 (0xcf + 8 bytes) so a sender can overwrite it per packet
 * (with its send timestamp) and fix the UDP checksum incrementally, without
 * touching anything else.
 *
 * No DPDK in here: the pcap writer runs without EAL.
 */
#ifndef YARD_BENCH_FRAME_H
#define YARD_BENCH_FRAME_H

#include <stdint.h>

#define YARD_BENCH_HDR_LEN   42u   /* Ethernet 14 + IPv4 20 + UDP 8 */
#define YARD_BENCH_UDP_OFF   34u   /* where the UDP header starts */
#define YARD_BENCH_FRAME_MAX 1514u /* Ethernet maximum without FCS (MTU 1500) */
#define YARD_BENCH_ENV_FIXED 18u   /* envelope bytes besides dst, src and body (bin8 body) */

/* What goes into one frame. Addresses in network byte order, ports in host order. */
struct yard_bench_frame_spec {
    uint8_t dst_mac[6];
    uint8_t src_mac[6];
    uint32_t src_ip;
    uint32_t dst_ip;
    uint16_t src_port;
    uint16_t dst_port;
    const char *dst; /* 1..63 bytes */
    unsigned dst_len;
    const char *src; /* 0..63 bytes */
    unsigned src_len;
    unsigned prio; /* 0..3 */
    unsigned ttl;  /* 1..64 */
    uint64_t id;
    unsigned body_len;
    uint8_t body_fill;   /* body bytes are body_fill, body_fill + 1, ... */
    const uint8_t *body; /* or these body_len bytes, when not NULL */
    unsigned kind;       /* envelope kind: 0 MSG (the default), 1 REGISTER, ... */
};

/* Where a built frame keeps what a sender patches. */
struct yard_bench_frame_info {
    uint16_t len;     /* frame bytes: 42 + env_len, at least 61 */
    uint16_t id_off;  /* first of the id's 8 big-endian bytes */
    uint16_t cksum;   /* the UDP checksum as built, as a number (host order) */
    uint16_t env_len; /* envelope bytes (the UDP payload) */
};

/*
 * Envelope size for the given name, src and body lengths: what a frame needs
 * beyond YARD_BENCH_HDR_LEN. Cost: a few compares.
 */
unsigned yard_bench_envelope_len(unsigned dst_len, unsigned src_len, unsigned body_len);

/*
 * Build the frame into buf (cap bytes). Returns the frame length, or
 * -EINVAL (a field outside PROTOCOL.md's rules) or -ENOSPC (larger than cap or
 * than YARD_BENCH_FRAME_MAX). The smallest valid envelope makes a 61-byte
 * frame, so no frame needs Ethernet padding.
 * Who may call it: anyone; start-up paths only (allocates in msgpack-c).
 */
int yard_bench_frame_build(const struct yard_bench_frame_spec *spec, uint8_t *buf, unsigned cap,
                           struct yard_bench_frame_info *info);

/*
 * Overwrite the id of a frame copied from a template built with `info`, and
 * fix the UDP checksum incrementally (RFC 1624) from the template's. The
 * template's id must have been 0. Cost: about 20 instructions.
 */
static inline void yard_bench_frame_set_id(uint8_t *frame, const struct yard_bench_frame_info *info,
                                           uint64_t id)
{
    uint8_t *p = frame + info->id_off;
    uint32_t sum = (uint16_t)~info->cksum;
    /* A byte at an even offset from the UDP header is the high half of its word. */
    unsigned hi = ((info->id_off - YARD_BENCH_UDP_OFF) & 1) == 0;
    for (int k = 0; k < 8; k++) {
        uint8_t b = (uint8_t)(id >> (56 - 8 * k));
        p[k] = b;
        sum += ((unsigned)(k & 1) ^ hi) ? (uint32_t)b << 8 : b;
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    if (c == 0)
        c = 0xffff; /* RFC 768: a computed 0 is sent as all ones */
    frame[YARD_BENCH_UDP_OFF + 6] = (uint8_t)(c >> 8);
    frame[YARD_BENCH_UDP_OFF + 7] = (uint8_t)c;
}

#endif
