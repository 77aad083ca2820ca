/*
 * test_swim_lzw.c - LZW as Go's compress/lzw (LSB, 8-bit literals) reads
 * and writes it. Expected bytes come from outside this code: Go's own
 * reader tests (src/compress/lzw/reader_test.go) and streams serf 0.9.4
 * compressed (memberlist.md section 10). Our encoder must reproduce serf's
 * streams byte for byte; round trips cover table resets (> 4096 codes) and
 * the KwKwK case; corrupt streams must fail cleanly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#include "swim_test_util.h"

static size_t hex(uint8_t *out, size_t cap, const char *s)
{
    return vec(out, cap, s);
}

/* Buf of b's push/pull `09` stream (197 bytes), decompressing to 681. */
static const char push_pull_buf[] =
    "000d0c22a5e44d1a37c34a397943a6cc9c00acaacc2923670a9d3074ca3029e3"
    "a69980248748052143460ea93f0000045895c4cd983072dc604cf3c64d00524d"
    "ca5c14f50f10292761da9409258614943772e834fbb0a094458c65008cb232c7"
    "8da9000504082890d590aa227638d26142258dd000a6c08a9dc34d00006070e3"
    "ca9d4bb7aeddbb78f3eaddcbb7afdfbf80030b1e4cb8b0e1c388132b5eccb8b1"
    "df5264cd9659b9d10c9d9c6dc4509c034955943a14f3443ecbea299d3a73463b"
    "0c44144040";

/* A whole UDP packet: serf compressed its 150-byte ack into 113 bytes. */
static const char ack_packet[] = "0982a4416c676f00a3427566da00620005083a05254c1e366fc290d106405000"
                                 "42aa82905153670e9d3665dcd05906a0a3c78ea58ac891f346ceb21ff83e7634"
                                 "85a44c9a336836fa2087af16a27168e28db252660c268e2a3b020d3a5465d18f"
                                 "473d26151a9469d35253cac471f2264040";

Test(swim_lzw, go_reader_test_vectors)
{
    uint8_t in[64], out[64];
    size_t n;

    /* "empty;LSB;8": just the end code. */
    n = hex(in, sizeof(in), "0101");
    cr_assert_eq(swim_lzw_decompress(out, sizeof(out), in, n), 0);

    /* "tobe;LSB;8" (no leading clear, as Go's encoder wrote before 1.17). */
    static const char tobe[] = "TOBEORNOTTOBEORTOBEORNOT";
    n = hex(in, sizeof(in), "549e0829f2448a932754041234b8b0e0c1840101");
    int got = swim_lzw_decompress(out, sizeof(out), in, n);
    assert_bytes(out, got < 0 ? 0 : (size_t)got, (const uint8_t *)tobe, strlen(tobe), "tobe");

    /* "tobe-truncated;LSB;8": no end code is an error, not a short result. */
    n = hex(in, sizeof(in), "549e0829f2448a93275404");
    cr_assert_eq(swim_lzw_decompress(out, sizeof(out), in, n), -EBADMSG);

    /* "gif;LSB;8": starts with a clear and has a code equal to the next slot. */
    static const uint8_t gif[] = {0x28, 0xff, 0xff, 0xff, 0x28, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    n = hex(in, sizeof(in), "0051fc1b2870a0c1830101");
    got = swim_lzw_decompress(out, sizeof(out), in, n);
    assert_bytes(out, got < 0 ? 0 : (size_t)got, gif, sizeof(gif), "gif");
}

Test(swim_lzw, serf_push_pull_decompresses_and_recompresses_identically)
{
    uint8_t buf[256], plain[1024], again[256];
    size_t n = hex(buf, sizeof(buf), push_pull_buf);
    cr_assert_eq(n, 197);
    cr_assert_eq(buf[0], 0x00);
    cr_assert_eq(buf[1], 0x0d, "serf's streams start with a clear code");

    int p = swim_lzw_decompress(plain, sizeof(plain), buf, n);
    cr_assert_eq(p, 681);
    static const uint8_t head[] = {0x06, 0x83, 0xa4, 'J', 'o', 'i', 'n'};
    assert_bytes(plain, sizeof(head), head, sizeof(head), "push/pull start");

    int c = swim_lzw_compress(again, sizeof(again), plain, (size_t)p);
    assert_bytes(again, c < 0 ? 0 : (size_t)c, buf, n, "recompressed push/pull");

    /* Too small an output buffer is -ENOSPC, for either direction. */
    cr_assert_eq(swim_lzw_decompress(plain, 680, buf, n), -ENOSPC);
    cr_assert_eq(swim_lzw_compress(again, 196, plain, (size_t)p), -ENOSPC);
}

Test(swim_lzw, serf_compressed_ack_packet_is_rebuilt_identically)
{
    uint8_t pkt[128], plain[256], again[256];
    size_t n = hex(pkt, sizeof(pkt), ack_packet);
    cr_assert_eq(n, 113);

    struct swim_compress c;
    cr_assert_eq(swim_decode_compress(pkt + 1, n - 1, &c), (int)n - 1);
    cr_assert_eq(c.algo, 0);
    cr_assert_eq(c.buf.len, 98);
    int p = swim_lzw_decompress(plain, sizeof(plain), c.buf.ptr, c.buf.len);
    cr_assert_eq(p, 150);
    cr_assert_eq(plain[0], 0x02, "an ack");

    int m = swim_encode_compress(again, sizeof(again), plain, (size_t)p);
    assert_bytes(again, m < 0 ? 0 : (size_t)m, pkt, n, "recompressed ack packet");
}

static void round_trip(const uint8_t *data, size_t len, const char *what)
{
    size_t cap = len * 2 + 64;
    uint8_t *z = malloc(cap), *back = malloc(len + 1);
    int n = swim_lzw_compress(z, cap, data, len);
    cr_assert_gt(n, 0, "%s: compress gave %d", what, n);
    int m = swim_lzw_decompress(back, len + 1, z, (size_t)n);
    cr_assert_eq(m, (int)len, "%s: %zu bytes came back as %d", what, len, m);
    cr_assert(memcmp(back, data, len) == 0, "%s: round trip changed the data", what);
    /* Exactly the right size is enough; one byte less is -ENOSPC. */
    if (len > 0) {
        cr_assert_eq(swim_lzw_decompress(back, len, z, (size_t)n), (int)len);
        cr_assert_eq(swim_lzw_decompress(back, len - 1, z, (size_t)n), -ENOSPC);
    }
    free(z);
    free(back);
}

Test(swim_lzw, round_trips_across_table_resets)
{
    size_t len = 300000; /* random bytes: about one code per byte, ~75 table resets */
    uint8_t *d = malloc(len);
    unsigned seed = 7;
    for (size_t i = 0; i < len; i++)
        d[i] = (uint8_t)rand_r(&seed);
    round_trip(d, len, "random");

    /* Few symbols: long matches, many KwKwK codes, resets after long strings. */
    for (size_t i = 0; i < len; i++)
        d[i] = (uint8_t) "ab"[rand_r(&seed) % 2];
    round_trip(d, len, "two symbols");

    memset(d, 'x', len);
    round_trip(d, len, "one symbol");

    for (size_t i = 0; i < len; i++)
        d[i] = (uint8_t)(i % 251);
    round_trip(d, len, "counting");

    static const uint8_t one = 'q';
    round_trip(&one, 1, "one byte");
    round_trip(d, 0, "empty");
    free(d);
}

Test(swim_lzw, empty_input_is_clear_then_end)
{
    uint8_t out[8];
    int n = swim_lzw_compress(out, sizeof(out), NULL, 0);
    /* Codes 256 then 257 at 9 bits, LSB first: 00 03 02. */
    uint8_t want[] = {0x00, 0x03, 0x02};
    assert_bytes(out, n < 0 ? 0 : (size_t)n, want, sizeof(want), "empty stream");
}

Test(swim_lzw, corrupt_streams_fail_cleanly)
{
    uint8_t z[512], out[4096];
    static const char text[] = "the quick brown fox jumps over the lazy dog; the lazy dog sleeps";
    int n = swim_lzw_compress(z, sizeof(z), (const uint8_t *)text, strlen(text));
    cr_assert_gt(n, 0);

    /* A code beyond the next slot to assign: 511 after a clear and one
     * literal (9-bit codes 256, 'a', 511, 257). */
    static const uint16_t codes[] = {256, 'a', 511, 257};
    uint8_t bad[8] = {0};
    for (unsigned i = 0; i < 4 * 9; i++)
        bad[i / 8] |= (uint8_t)(((codes[i / 9] >> (i % 9)) & 1) << (i % 8));
    cr_assert_eq(swim_lzw_decompress(out, sizeof(out), bad, 5), -EBADMSG);
    /* 258 there is the slot being defined (KwKwK): "a" then "aa". */
    static const uint16_t good[] = {256, 'a', 258, 257};
    uint8_t ok[8] = {0};
    for (unsigned i = 0; i < 4 * 9; i++)
        ok[i / 8] |= (uint8_t)(((good[i / 9] >> (i % 9)) & 1) << (i % 8));
    cr_assert_eq(swim_lzw_decompress(out, sizeof(out), ok, 5), 3);
    cr_assert(memcmp(out, "aaa", 3) == 0);
    /* Every prefix lacks the end code. */
    for (int cut = 0; cut < n - 1; cut++) {
        uint8_t *copy = malloc((size_t)cut + 1);
        memcpy(copy, z, (size_t)cut);
        cr_assert_eq(swim_lzw_decompress(out, sizeof(out), copy, (size_t)cut), -EBADMSG,
                     "cut at %d", cut);
        free(copy);
    }
    /* Random damage: some length within cap, or an error; never out of bounds. */
    unsigned seed = 99;
    for (int round = 0; round < 20000; round++) {
        uint8_t *copy = malloc((size_t)n);
        memcpy(copy, z, (size_t)n);
        for (int f = 0; f < 1 + round % 3; f++)
            copy[rand_r(&seed) % (unsigned)n] ^= (uint8_t)(1 + rand_r(&seed) % 255);
        size_t cap = 1 + (size_t)rand_r(&seed) % sizeof(out);
        int rc = swim_lzw_decompress(out, cap, copy, (size_t)n);
        cr_assert(rc == -EBADMSG || rc == -ENOSPC || (rc >= 0 && (size_t)rc <= cap));
        free(copy);
    }
}

Test(swim_lzw, frozen_table_keeps_decoding_like_go)
{
    /* Codes written by hand at growing widths without a clear until the
     * table is full: Go then keeps the table and assigns nothing. Build
     * 'a' followed by 3838 literal 'b's (each one new pair "bb" only once),
     * then more literals after the table is full. */
    uint8_t z[16384], out[8192];
    uint64_t bits = 0;
    unsigned nbits = 0, width = 9;
    size_t zl = 0;
    uint32_t hi = 257;
    int want = 0;
#define PUT(c)                          \
    do {                                \
        bits |= (uint64_t)(c) << nbits; \
        nbits += width;                 \
        while (nbits >= 8) {            \
            z[zl++] = (uint8_t)bits;    \
            bits >>= 8;                 \
            nbits -= 8;                 \
        }                               \
    } while (0)
    /* Literals only: each assigns slot hi (from the second on). */
    for (int i = 0; i < 4000; i++) {
        PUT((uint32_t)(i % 200));
        want++;
        hi++;
        if (hi >= (1u << width)) {
            if (width < 12)
                width++;
            else
                hi--;
        }
    }
    PUT(257u);
    if (nbits)
        z[zl++] = (uint8_t)bits;
#undef PUT
    int n = swim_lzw_decompress(out, sizeof(out), z, zl);
    cr_assert_eq(n, want);
    for (int i = 0; i < want; i++)
        cr_assert_eq(out[i], (uint8_t)(i % 200), "byte %d", i);
}
