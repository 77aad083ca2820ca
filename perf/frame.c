/*
 * frame.c - builds benchmark frames (see frame.h).
 *
 * The envelope is packed with msgpack-c, the library applications use, so a
 * benchmark frame is one an application could have sent; the headers and the
 * checksums around it are written by hand because they are a few fixed
 * fields.
 */
#include "frame.h"

#include <errno.h>
#include <string.h>

#include <arpa/inet.h>
#include <msgpack.h>

#define ENV_MAX (YARD_BENCH_FRAME_MAX - YARD_BENCH_HDR_LEN)

/* msgpack-c writes through a callback: this one appends to a bounded buffer. */
struct sink {
    uint8_t *p;
    unsigned len;
    unsigned cap;
};

static int sink_write(void *data, const char *buf, size_t len)
{
    struct sink *s = data;
    if (len > s->cap - s->len)
        return -1;
    memcpy(s->p + s->len, buf, len);
    s->len += (unsigned)len;
    return 0;
}

/* RFC 1071 sum of big-endian 16-bit words, not yet folded or inverted. */
static uint32_t sum16(const uint8_t *p, unsigned len, uint32_t sum)
{
    for (unsigned i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

unsigned yard_bench_envelope_len(unsigned dst_len, unsigned src_len, unsigned body_len)
{
    unsigned n = YARD_BENCH_ENV_FIXED + dst_len + src_len + body_len;
    if (src_len > 31)
        n += 1; /* str8 instead of fixstr */
    if (body_len > 0xff)
        n += 1; /* bin16 */
    if (body_len > 0xffff)
        n += 2; /* bin32 */
    if (dst_len > 31)
        n += 1;
    return n;
}

static int pack_envelope(const struct yard_bench_frame_spec *s, struct sink *out, unsigned *id_off)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, sink_write);
    int rc = msgpack_pack_array(&pk, 8);
    rc |= msgpack_pack_uint8(&pk, 1); /* ver */
    rc |= msgpack_pack_uint8(&pk, (uint8_t)s->kind);
    rc |= msgpack_pack_str_with_body(&pk, s->dst, s->dst_len);
    rc |= msgpack_pack_str_with_body(&pk, s->src, s->src_len);
    rc |= msgpack_pack_uint8(&pk, (uint8_t)s->prio);
    rc |= msgpack_pack_uint8(&pk, (uint8_t)s->ttl);
    *id_off = out->len + 1; /* after the 0xcf marker */
    rc |= msgpack_pack_fix_uint64(&pk, s->id);
    rc |= msgpack_pack_bin(&pk, s->body_len);
    if (s->body != NULL)
        return rc == 0 && msgpack_pack_bin_body(&pk, s->body, s->body_len) == 0 ? 0 : -ENOSPC;
    for (unsigned i = 0; i < s->body_len && rc == 0; i++) {
        char b = (char)(uint8_t)(s->body_fill + i);
        rc |= msgpack_pack_bin_body(&pk, &b, 1);
    }
    return rc == 0 ? 0 : -ENOSPC;
}

int yard_bench_frame_build(const struct yard_bench_frame_spec *s, uint8_t *buf, unsigned cap,
                           struct yard_bench_frame_info *info)
{
    if (s->dst_len < 1 || s->dst_len > 63 || memchr(s->dst, 0, s->dst_len) || s->src_len > 63 ||
        s->prio > 3 || s->ttl < 1 || s->ttl > 64 || s->kind > 7)
        return -EINVAL;
    unsigned env_len = yard_bench_envelope_len(s->dst_len, s->src_len, s->body_len);
    if (env_len > ENV_MAX)
        return -ENOSPC;
    /* Never below Ethernet's 60 bytes: the smallest envelope is 19. */
    unsigned frame_len = YARD_BENCH_HDR_LEN + env_len;
    if (frame_len > cap)
        return -ENOSPC;
    memset(buf, 0, frame_len);

    unsigned id_off;
    struct sink env = {.p = buf + YARD_BENCH_HDR_LEN, .len = 0, .cap = env_len};
    int rc = pack_envelope(s, &env, &id_off);
    if (rc < 0 || env.len != env_len)
        return -ENOSPC;

    /* Ethernet */
    memcpy(buf, s->dst_mac, 6);
    memcpy(buf + 6, s->src_mac, 6);
    put16(buf + 12, 0x0800);

    /* IPv4: no options, DF set, TTL 64 */
    uint8_t *ip = buf + 14;
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + 8 + env_len));
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, &s->src_ip, 4);
    memcpy(ip + 16, &s->dst_ip, 4);
    put16(ip + 10, fold(sum16(ip, 20, 0)));

    /* UDP, checksum over the pseudo-header */
    uint8_t *udp = buf + YARD_BENCH_UDP_OFF;
    uint16_t udp_len = (uint16_t)(8 + env_len);
    put16(udp, s->src_port);
    put16(udp + 2, s->dst_port);
    put16(udp + 4, udp_len);
    uint32_t sum = sum16(ip + 12, 8, 0) + 17 + udp_len;
    uint16_t c = fold(sum16(udp, udp_len, sum));
    if (c == 0)
        c = 0xffff;
    put16(udp + 6, c);

    info->len = (uint16_t)frame_len;
    info->id_off = (uint16_t)(YARD_BENCH_HDR_LEN + id_off);
    info->cksum = c;
    info->env_len = (uint16_t)env_len;
    return (int)frame_len;
}
