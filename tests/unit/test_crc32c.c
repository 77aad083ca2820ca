/*
 * test_crc32c.c - CRC-32C against published check values, and the SSE4.2 and
 * table implementations against each other.
 *
 * Expected values come from outside this code: the "123456789" check value of
 * the CRC catalogue (CRC-32/ISCSI) and the vectors of RFC 3720 appendix B.4.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

struct impl {
    const char *name;
    crc_fn fn;
};

/* Every implementation this CPU can run, and the dispatching entry point. */
static size_t impls(struct impl *out)
{
    size_t n = 0;
    out[n++] = (struct impl){"dispatch", yard_crc32c};
    out[n++] = (struct impl){"table", yard_crc32c_sw};
    if (yard_crc32c_hw_available())
        out[n++] = (struct impl){"sse4.2", yard_crc32c_hw};
    return n;
}

static void check_vector(const uint8_t *data, size_t len, uint32_t want, const char *what)
{
    struct impl im[3];
    size_t n = impls(im);
    for (size_t i = 0; i < n; i++) {
        uint32_t got = im[i].fn(0, data, len);
        cr_expect_eq(got, want, "%s: %s gave 0x%08x, want 0x%08x", what, im[i].name, got, want);
    }
}

Test(crc32c, check_value_123456789)
{
    check_vector((const uint8_t *)"123456789", 9, 0xE3069283u, "\"123456789\"");
}

Test(crc32c, rfc3720_b4_vectors)
{
    uint8_t buf[32];

    memset(buf, 0, sizeof(buf));
    check_vector(buf, 32, 0x8A9136AAu, "32 bytes of zeros");
    memset(buf, 0xff, sizeof(buf));
    check_vector(buf, 32, 0x62A8AB43u, "32 bytes of 0xff");
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    check_vector(buf, 32, 0x46DD794Eu, "32 incrementing bytes");
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    check_vector(buf, 32, 0x113FDB5Cu, "32 decrementing bytes");
}

Test(crc32c, rfc3720_b4_iscsi_read_pdu)
{
    /* The 48-byte iSCSI read command PDU of RFC 3720 B.4. */
    static const uint8_t pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    check_vector(pdu, sizeof(pdu), 0xD9963A56u, "iSCSI read PDU");
}

Test(crc32c, empty_input_keeps_crc)
{
    struct impl im[3];
    size_t n = impls(im);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(im[i].fn(0, "", 0), 0u, "%s", im[i].name);
        cr_expect_eq(im[i].fn(0xE3069283u, "", 0), 0xE3069283u, "%s", im[i].name);
    }
}

static uint64_t rng = 0x243F6A8885A308D3ull;

static uint64_t next_random(void)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

Test(crc32c, incremental_equals_one_shot)
{
    uint8_t buf[4096];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)next_random();
    struct impl im[3];
    size_t n = impls(im);
    for (size_t k = 0; k < n; k++) {
        uint32_t whole = im[k].fn(0, buf, sizeof(buf));
        for (int t = 0; t < 500; t++) {
            /* split into three pieces at random points */
            size_t a = next_random() % (sizeof(buf) + 1);
            size_t b = a + next_random() % (sizeof(buf) - a + 1);
            uint32_t c = im[k].fn(0, buf, a);
            c = im[k].fn(c, buf + a, b - a);
            c = im[k].fn(c, buf + b, sizeof(buf) - b);
            cr_assert_eq(c, whole, "%s: pieces %zu/%zu/%zu gave 0x%08x, one shot 0x%08x",
                         im[k].name, a, b - a, sizeof(buf) - b, c, whole);
        }
    }
}

Test(crc32c, hardware_and_table_agree_on_random_data)
{
    if (!yard_crc32c_hw_available())
        cr_skip_test("this CPU has no SSE4.2");
    static uint8_t buf[70000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)next_random();
    for (int t = 0; t < 20000; t++) {
        /* every small length and alignment, then some large ones */
        size_t off = t < 4096 ? (size_t)(t % 16) : next_random() % 64;
        size_t len = t < 4096 ? (size_t)(t / 16) : next_random() % (sizeof(buf) - 64);
        uint32_t seed = t % 3 == 0 ? 0 : (uint32_t)next_random();
        uint32_t hw = yard_crc32c_hw(seed, buf + off, len);
        uint32_t sw = yard_crc32c_sw(seed, buf + off, len);
        cr_assert_eq(hw, sw, "len %zu off %zu seed 0x%08x: sse4.2 0x%08x, table 0x%08x", len, off,
                     seed, hw, sw);
    }
}

Test(crc32c, detects_every_single_bit_flip)
{
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)next_random();
    uint32_t good = yard_crc32c(0, buf, sizeof(buf));
    for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cr_expect_neq(yard_crc32c(0, buf, sizeof(buf)), good, "flip of bit %zu undetected", bit);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
