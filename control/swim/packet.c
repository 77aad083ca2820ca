/*
 * packet.c - memberlist's receive and send pipelines for UDP datagrams and
 * TCP streams (see packet.h; memberlist's net.go ingestPacket,
 * handleCommand, readStream and rawSendMsgStream are the reference).
 *
 * Why it is built this way:
 * - Layers are peeled the way memberlist peels them, no more liberally:
 *   CRC only as the outermost layer after decryption, compound and
 *   compress in any order below it; on streams `0a` then `09`, once each.
 *   A message memberlist would refuse is counted here, so the protocol code
 *   above only sees what a serf peer would act on.
 * - Decompressed data is bump-allocated from one 64 KiB stack area and
 *   released when its layer is done: nested and sibling compress layers
 *   share it, the packet's total expansion is bounded, and no heap is
 *   touched per packet.
 * - Plaintext with a keyring configured is told from a failed decryption
 *   by the version byte: memberlist's encrypted blobs start with 0 or 1, so
 *   any other first byte cannot be one. (A plaintext ping or indirect ping,
 *   types 0 and 1, counts as a failed decryption; memberlist cannot tell
 *   them apart either.)
 */
#include "packet.h"

#include <errno.h>
#include <string.h>

#include "msg.h"
#include "wire.h"

static const char *const drop_names[] = {
#define SWIM_X_NAME(e, name, help) name,
    SWIM_PACKET_DROPS(SWIM_X_NAME)
#undef SWIM_X_NAME
};

static const char *const drop_help[] = {
#define SWIM_X_HELP(e, name, help) help,
    SWIM_PACKET_DROPS(SWIM_X_HELP)
#undef SWIM_X_HELP
};

const char *swim_packet_drop_name(enum swim_packet_drop d)
{
    return (unsigned)d < SWIM_PACKET_DROP_MAX ? drop_names[d] : NULL;
}

const char *swim_packet_drop_help(enum swim_packet_drop d)
{
    return (unsigned)d < SWIM_PACKET_DROP_MAX ? drop_help[d] : NULL;
}

/* ---------------------------------------------------------------- UDP in */

struct unwrap {
    swim_packet_msg_fn fn;
    void *arg;
    struct swim_packet_stats *st;
    uint8_t *arena; /* decompressed layers, bump-allocated */
    size_t arena_used;
    int delivered;
};

static void drop(struct unwrap *u, enum swim_packet_drop d, uint64_t n)
{
    u->st->drops[d] += n;
}

static void dispatch(struct unwrap *u, const uint8_t *m, size_t len, unsigned depth);

/* memberlist's decodeCompoundMessage: complete leading parts survive a cut. */
static void open_compound(struct unwrap *u, const uint8_t *b, size_t len, unsigned depth)
{
    if (len < 1) {
        drop(u, SWIM_PACKET_DROP_TRUNCATED_COMPOUND, 1);
        return;
    }
    size_t n = b[0];
    if (len - 1 < 2 * n) {
        drop(u, SWIM_PACKET_DROP_TRUNCATED_COMPOUND, 1);
        return;
    }
    const uint8_t *lens = b + 1;
    size_t off = 1 + 2 * n;
    for (size_t i = 0; i < n; i++) {
        size_t part = (size_t)lens[2 * i] << 8 | lens[2 * i + 1];
        if (len - off < part) {
            drop(u, SWIM_PACKET_DROP_TRUNCATED_COMPOUND, n - i);
            return;
        }
        dispatch(u, b + off, part, depth);
        off += part;
    }
}

static void open_compress(struct unwrap *u, const uint8_t *b, size_t len, unsigned depth)
{
    struct swim_compress c;
    int n = swim_decode_compress(b, len, &c);
    if (n < 0 || c.algo != 0) {
        drop(u, SWIM_PACKET_DROP_BAD_COMPRESS, 1);
        return;
    }
    uint8_t *dst = u->arena + u->arena_used;
    n = swim_lzw_decompress(dst, SWIM_PACKET_DECOMPRESS_MAX - u->arena_used, c.buf.ptr, c.buf.len);
    if (n < 0) {
        drop(u, n == -ENOSPC ? SWIM_PACKET_DROP_COMPRESS_TOO_BIG : SWIM_PACKET_DROP_BAD_COMPRESS,
             1);
        return;
    }
    u->arena_used += (size_t)n;
    dispatch(u, dst, (size_t)n, depth);
    u->arena_used -= (size_t)n;
}

/* memberlist's handleCommand, for one message at the given nesting depth. */
static void dispatch(struct unwrap *u, const uint8_t *m, size_t len, unsigned depth)
{
    if (len < 1) {
        drop(u, SWIM_PACKET_DROP_BAD_MESSAGE, 1);
        return;
    }
    switch (m[0]) {
    case SWIM_MSG_COMPOUND:
    case SWIM_MSG_COMPRESS:
        if (depth >= SWIM_PACKET_MAX_DEPTH) {
            drop(u, SWIM_PACKET_DROP_TOO_DEEP, 1);
            return;
        }
        if (m[0] == SWIM_MSG_COMPOUND)
            open_compound(u, m + 1, len - 1, depth + 1);
        else
            open_compress(u, m + 1, len - 1, depth + 1);
        return;
    case SWIM_MSG_PING:
    case SWIM_MSG_INDIRECT_PING:
    case SWIM_MSG_ACK:
    case SWIM_MSG_SUSPECT:
    case SWIM_MSG_ALIVE:
    case SWIM_MSG_DEAD:
    case SWIM_MSG_USER:
    case SWIM_MSG_NACK:
        u->st->messages_in++;
        u->delivered++;
        u->fn(u->arg, m[0], m + 1, len - 1);
        return;
    default:
        /* push/pull, encrypt and error travel on streams only; a CRC layer
         * anywhere but outermost is not read by memberlist either. */
        drop(u, SWIM_PACKET_DROP_UNKNOWN_TYPE, 1);
        return;
    }
}

int swim_packet_unwrap(const struct swim_keyring *kr, const uint8_t *pkt, size_t len,
                       swim_packet_msg_fn fn, void *arg, struct swim_packet_stats *st)
{
    uint8_t plain[SWIM_PACKET_MAX];
    uint8_t arena[SWIM_PACKET_DECOMPRESS_MAX];
    struct swim_packet_stats scratch_st;
    struct unwrap u = {fn, arg, st ? st : &scratch_st, arena, 0, 0};

    if (fn == NULL)
        return -EINVAL;
    u.st->packets_in++;
    if (len > SWIM_PACKET_MAX) {
        drop(&u, SWIM_PACKET_DROP_TOO_BIG, 1);
        return 0;
    }
    if (kr != NULL && kr->count > 0) {
        if (len > 0 && pkt[0] > 1) {
            drop(&u, SWIM_PACKET_DROP_PLAINTEXT_REFUSED, 1);
            return 0;
        }
        int n = swim_decrypt(kr, plain, sizeof(plain), pkt, len, NULL, 0);
        if (n < 0) {
            drop(&u, SWIM_PACKET_DROP_DECRYPT_FAILED, 1);
            return 0;
        }
        pkt = plain;
        len = (size_t)n;
    }
    if (len >= 5 && pkt[0] == SWIM_MSG_HAS_CRC) {
        uint32_t want =
            (uint32_t)pkt[1] << 24 | (uint32_t)pkt[2] << 16 | (uint32_t)pkt[3] << 8 | pkt[4];
        if (swim_crc32(pkt + 5, len - 5) != want) {
            drop(&u, SWIM_PACKET_DROP_BAD_CRC, 1);
            return 0;
        }
        pkt += 5;
        len -= 5;
    }
    dispatch(&u, pkt, len, 0);
    return u.delivered;
}

/* --------------------------------------------------------------- UDP out */

int swim_packet_wrap(const struct swim_keyring *kr, bool crc, uint8_t *out, size_t cap,
                     const uint8_t *msg, size_t len)
{
    bool enc = kr != NULL && kr->count > 0;
    size_t at = enc ? SWIM_ENCRYPT_HEADER : 0;
    size_t plain_len = len + (crc ? 5 : 0);
    size_t total = plain_len + (enc ? SWIM_ENCRYPT_OVERHEAD : 0);

    if (len > SWIM_PACKET_MAX || total > SWIM_PACKET_MAX)
        return -EMSGSIZE;
    if (total > cap)
        return -ENOSPC;
    /* Lay the plaintext where the ciphertext goes and encrypt in place. */
    if (crc)
        swim_encode_crc(out + at, cap - at, msg, len);
    else
        memmove(out + at, msg, len);
    if (!enc)
        return (int)total;
    return swim_encrypt(kr, out, cap, out + at, plain_len, NULL, 0);
}

/* ------------------------------------------------------------ TCP streams */

#define STREAM_ENC_HDR 5 /* 0a | u32 BE length */

int swim_stream_wrap(const struct swim_keyring *kr, bool compress, uint8_t *out, size_t cap,
                     const uint8_t *msg, size_t len)
{
    bool enc = kr != NULL && kr->count > 0;
    size_t at = enc ? STREAM_ENC_HDR + SWIM_ENCRYPT_HEADER : 0;
    size_t plain_len;

    if (len > SWIM_STREAM_MAX)
        return -EMSGSIZE;
    if (cap < at)
        return -ENOSPC;
    if (compress) {
        int n = swim_encode_compress(out + at, cap - at, msg, len);
        if (n < 0)
            return n;
        plain_len = (size_t)n;
    } else {
        if (len > cap - at)
            return -ENOSPC;
        memmove(out + at, msg, len);
        plain_len = len;
    }
    if (!enc)
        return (int)plain_len;

    size_t blob = plain_len + SWIM_ENCRYPT_OVERHEAD;
    if (blob > SWIM_STREAM_MAX)
        return -EMSGSIZE;
    if (blob > cap - STREAM_ENC_HDR)
        return -ENOSPC;
    out[0] = SWIM_MSG_ENCRYPT;
    out[1] = (uint8_t)(blob >> 24);
    out[2] = (uint8_t)(blob >> 16);
    out[3] = (uint8_t)(blob >> 8);
    out[4] = (uint8_t)blob;
    int n = swim_encrypt(kr, out + STREAM_ENC_HDR, cap - STREAM_ENC_HDR, out + at, plain_len, out,
                         STREAM_ENC_HDR);
    return n < 0 ? n : (int)(STREAM_ENC_HDR + (size_t)n);
}

/* `09 {Algo, Buf}` at b[0..len) (type byte included) into dst. */
static int stream_decompress(const uint8_t *b, size_t len, uint8_t *dst, size_t cap,
                             size_t *consumed)
{
    struct swim_compress c;
    int n = swim_decode_compress(b + 1, len - 1, &c);
    if (n < 0)
        return n;
    if (c.algo != 0)
        return -EBADMSG;
    *consumed = 1 + (size_t)n;
    return swim_lzw_decompress(dst, cap, c.buf.ptr, c.buf.len);
}

int swim_stream_unwrap(const struct swim_keyring *kr, const uint8_t *in, size_t len,
                       uint8_t *scratch, size_t scratch_cap, const uint8_t **msg, size_t *msg_len)
{
    bool enc = kr != NULL && kr->count > 0;
    const uint8_t *body;
    size_t body_len, consumed = 0;
    int n;

    if (len < 1)
        return -EAGAIN;
    if (in[0] == SWIM_MSG_ENCRYPT) {
        if (!enc)
            return -EBADMSG;
        if (len < STREAM_ENC_HDR)
            return -EAGAIN;
        uint32_t blob =
            (uint32_t)in[1] << 24 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 8 | in[4];
        if (blob > SWIM_STREAM_MAX)
            return -EBADMSG;
        if (len - STREAM_ENC_HDR < blob)
            return -EAGAIN;
        n = swim_decrypt(kr, scratch, scratch_cap, in + STREAM_ENC_HDR, blob, in, STREAM_ENC_HDR);
        if (n < 0)
            return n == -ENOSPC ? -ENOSPC : -EBADMSG;
        consumed = STREAM_ENC_HDR + blob;
        body = scratch;
        body_len = (size_t)n;
        if (body_len > 0 && body[0] == SWIM_MSG_COMPRESS) {
            size_t used;
            n = stream_decompress(body, body_len, scratch + body_len, scratch_cap - body_len,
                                  &used);
            if (n < 0)
                return n == -ENOSPC ? -ENOSPC : -EBADMSG; /* -EAGAIN too: the blob was whole */
            body = scratch + body_len;
            body_len = (size_t)n;
        }
    } else if (enc) {
        return -EACCES;
    } else if (in[0] == SWIM_MSG_COMPRESS) {
        n = stream_decompress(in, len, scratch, scratch_cap, &consumed);
        if (n < 0)
            return n;
        body = scratch;
        body_len = (size_t)n;
    } else {
        n = swim_stream_message_len(in, len);
        if (n < 0)
            return n;
        *msg = in;
        *msg_len = (size_t)n;
        return n;
    }
    /* An unwrapped layer holds the whole message: short is corrupt, not early. */
    n = swim_stream_message_len(body, body_len);
    if (n < 0)
        return -EBADMSG;
    *msg = body;
    *msg_len = (size_t)n;
    return (int)consumed;
}

/* Adds a decoder's result to *off; passes errors on. */
static int advance(int rc, size_t *off)
{
    if (rc < 0)
        return rc;
    *off += (size_t)rc;
    return 0;
}

/* The header map and then len raw bytes, for user messages. */
static int with_raw_tail(size_t off, uint64_t tail, size_t len)
{
    if (off + tail > SWIM_STREAM_MAX)
        return -EBADMSG;
    if (len - off < tail)
        return -EAGAIN;
    return (int)(off + tail);
}

int swim_stream_message_len(const uint8_t *msg, size_t len)
{
    size_t off = 1;
    int rc;

    if (len < 1)
        return -EAGAIN;
    switch (msg[0]) {
    case SWIM_MSG_PUSH_PULL: {
        struct swim_push_pull_header h;
        rc = advance(swim_decode_push_pull_header(msg + off, len - off, &h), &off);
        if (rc < 0)
            return rc;
        /* Each node state takes well over one byte: a count this large is a lie. */
        if (h.nodes > SWIM_STREAM_MAX || h.user_state_len > SWIM_STREAM_MAX)
            return -EBADMSG;
        for (uint32_t i = 0; i < h.nodes; i++) {
            struct swim_push_node_state ns;
            rc = advance(swim_decode_push_node_state(msg + off, len - off, &ns), &off);
            if (rc < 0)
                return rc;
            if (off > SWIM_STREAM_MAX)
                return -EBADMSG;
        }
        return with_raw_tail(off, h.user_state_len, len);
    }
    case SWIM_MSG_USER: {
        struct swim_user_msg_header h;
        rc = advance(swim_decode_user_msg_header(msg + off, len - off, &h), &off);
        if (rc < 0)
            return rc;
        return with_raw_tail(off, h.user_msg_len, len);
    }
    case SWIM_MSG_PING: {
        struct swim_ping p;
        rc = advance(swim_decode_ping(msg + off, len - off, &p), &off);
        break;
    }
    case SWIM_MSG_ACK: {
        struct swim_ack a;
        rc = advance(swim_decode_ack(msg + off, len - off, &a), &off);
        break;
    }
    case SWIM_MSG_ERR: {
        struct swim_err e;
        rc = advance(swim_decode_err(msg + off, len - off, &e), &off);
        break;
    }
    default:
        return -EBADMSG;
    }
    if (rc < 0)
        return rc;
    return off > SWIM_STREAM_MAX ? -EBADMSG : (int)off;
}
