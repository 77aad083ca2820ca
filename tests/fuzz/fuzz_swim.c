/*
 * fuzz_swim.c - libFuzzer target for memberlist's wire layer
 * (control/swim: wire.c, lzw.c, packet.c).
 *
 * Everything here faces any host that can send a UDP datagram or open a
 * TCP connection to the gossip port, so beyond "no crash, no read past
 * len" (AddressSanitizer's part) it checks what the protocol code relies
 * on:
 * - a decoder that accepts n bytes also accepts exactly those n bytes and
 *   says -EAGAIN for every shorter prefix (a stream reader waits, never
 *   misparses a cut message);
 * - what a decoder accepted re-encodes into bytes that decode to the same
 *   re-encoding (the canonical form is stable);
 * - an LZW stream that decompresses recompresses into one that gives the
 *   same bytes back;
 * - the packet reader hands over exactly as many messages as it says, and
 *   the stream reader's message lies inside its buffers with the length
 *   swim_stream_message_len() gives.
 * The first input byte picks the entry point. A violation aborts with the
 * reason, so libFuzzer keeps the input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"
#include "packet.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, size_t size)
{
    fprintf(stderr, "fuzz_swim: invariant broken on a %zu-byte input: %s\n", size, what);
    abort();
}

#define CHECK(cond)            \
    do {                       \
        if (!(cond))           \
            fail(#cond, size); \
    } while (0)

typedef int (*decode_fn)(const uint8_t *, size_t, void *);
typedef int (*encode_fn)(uint8_t *, size_t, const void *);

/* Decoder, and the encoder of the same struct (which writes a type byte first, except node state).
 */
static const struct {
    decode_fn dec;
    encode_fn enc;
    bool type_byte;
} codecs[] = {
    {(decode_fn)swim_decode_ping, (encode_fn)swim_encode_ping, true},
    {(decode_fn)swim_decode_indirect_ping, (encode_fn)swim_encode_indirect_ping, true},
    {(decode_fn)swim_decode_ack, (encode_fn)swim_encode_ack, true},
    {(decode_fn)swim_decode_nack, (encode_fn)swim_encode_nack, true},
    {(decode_fn)swim_decode_err, (encode_fn)swim_encode_err, true},
    {(decode_fn)swim_decode_suspect, (encode_fn)swim_encode_suspect, true},
    {(decode_fn)swim_decode_alive, (encode_fn)swim_encode_alive, true},
    {(decode_fn)swim_decode_dead, (encode_fn)swim_encode_dead, true},
    {(decode_fn)swim_decode_push_pull_header, (encode_fn)swim_encode_push_pull_header, true},
    {(decode_fn)swim_decode_push_node_state, (encode_fn)swim_encode_push_node_state, false},
    {(decode_fn)swim_decode_user_msg_header, (encode_fn)swim_encode_user_msg_header, true},
    {(decode_fn)swim_decode_compress, NULL, false},
};
#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

union any_msg {
    struct swim_ping a;
    struct swim_indirect_ping b;
    struct swim_alive c;
    struct swim_push_node_state d;
    uint8_t pad[256];
};

/* Decodes a heap copy of exactly n bytes, so ASan sees any read past n. */
static int decode_copy(decode_fn fn, const uint8_t *in, size_t n, union any_msg *m)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, in, n);
    int rc = fn(copy, n, m);
    free(copy);
    return rc;
}

static void check_codec(size_t k, const uint8_t *in, size_t size)
{
    static uint8_t enc1[1 << 17], enc2[1 << 17];
    union any_msg m, m2;
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, in, size);
    int n = codecs[k].dec(copy, size, &m);
    CHECK(n == -EAGAIN || n == -EBADMSG || (n > 0 && (size_t)n <= size));
    if (n > 0) {
        CHECK(decode_copy(codecs[k].dec, in, (size_t)n, &m2) == n);
        for (int cut = 0; cut < n && cut < 64; cut++)
            CHECK(decode_copy(codecs[k].dec, in, (size_t)cut, &m2) == -EAGAIN);
    }
    if (n > 0 && codecs[k].enc) {
        /* m points into copy: re-encode, decode that, re-encode again. */
        size_t skip = codecs[k].type_byte ? 1 : 0;
        int e1 = codecs[k].enc(enc1, sizeof(enc1), &m);
        CHECK(e1 > (int)skip);
        CHECK(codecs[k].dec(enc1 + skip, (size_t)e1 - skip, &m2) == e1 - (int)skip);
        int e2 = codecs[k].enc(enc2, sizeof(enc2), &m2);
        CHECK(e2 == e1 && memcmp(enc1, enc2, (size_t)e1) == 0);
    }
    free(copy);
}

static void check_lzw(const uint8_t *in, size_t size)
{
    static uint8_t out[1 << 16], z[1 << 18], back[1 << 16];
    int n = swim_lzw_decompress(out, sizeof(out), in, size);
    CHECK(n == -EBADMSG || n == -ENOSPC || (n >= 0 && (size_t)n <= sizeof(out)));
    if (n < 0)
        return;
    int c = swim_lzw_compress(z, sizeof(z), out, (size_t)n);
    CHECK(c > 0);
    CHECK(swim_lzw_decompress(back, sizeof(back), z, (size_t)c) == n);
    CHECK(memcmp(out, back, (size_t)n) == 0);
}

static size_t delivered;
static void count_msg(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
    (void)arg;
    (void)type;
    if (len > 0) { /* touch both ends: ASan checks the body is readable */
        volatile uint8_t first = body[0], last = body[len - 1];
        (void)first;
        (void)last;
    }
    delivered++;
}

static void check_packet(const uint8_t *in, size_t size, bool keyed)
{
    static const uint8_t key[16] = {7};
    struct swim_keyring kr;
    struct swim_packet_stats st = {0};
    swim_keyring_init(&kr);
    swim_keyring_add(&kr, key, 16);
    delivered = 0;
    int n = swim_packet_unwrap(keyed ? &kr : NULL, in, size, count_msg, NULL, &st);
    CHECK(n >= 0 && (size_t)n == delivered && st.messages_in == (uint64_t)n);
}

static void check_stream(const uint8_t *in, size_t size)
{
    static uint8_t scratch[1 << 17];
    const uint8_t *msg = NULL;
    size_t len = 0;
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, in, size);
    int rc = swim_stream_unwrap(NULL, copy, size, scratch, sizeof(scratch), &msg, &len);
    CHECK(rc == -EAGAIN || rc == -EBADMSG || rc == -ENOSPC || (rc > 0 && (size_t)rc <= size));
    if (rc > 0) {
        bool in_copy = msg >= copy && msg + len <= copy + size;
        bool in_scratch = msg >= scratch && msg + len <= scratch + sizeof(scratch);
        CHECK(in_copy || in_scratch);
        CHECK(swim_stream_message_len(msg, len) == (int)len);
        if (in_copy) /* a plaintext message: every shorter read waits for more */
            for (int cut = 0; cut < rc && cut < 64; cut++)
                CHECK(swim_stream_unwrap(NULL, copy, (size_t)cut, scratch, sizeof(scratch), &msg,
                                         &len) == -EAGAIN);
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    if (sel < NCODECS)
        check_codec(sel, data, size);
    else if (sel < 64)
        check_lzw(data, size);
    else if (sel < 128)
        check_packet(data, size, false);
    else if (sel < 160)
        check_packet(data, size, true);
    else
        check_stream(data, size);
    return 0;
}
