/*
 * crc32c.c - CRC-32C with the SSE4.2 instruction and a portable fallback
 * (see crc32c.h).
 *
 * The hardware path carries the checksum through _mm_crc32_u64 eight bytes at
 * a time and finishes with _mm_crc32_u8; it is compiled for SSE4.2 by a target
 * attribute, so this file builds and runs on any x86-64 and the instruction
 * is only executed after __builtin_cpu_supports("sse4.2") said yes. The
 * fallback is slicing-by-8 (Intel's "Slicing-by-8" paper, 2005): eight 256-entry
 * tables, built once, turn eight bytes into eight lookups.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define HAVE_X86_CRC 1
#endif

/* Reflected form of the Castagnoli polynomial 0x1EDC6F41. */
#define CRC32C_POLY_REFLECTED 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

/* Little-endian load, whatever the host's byte order. */
static inline uint32_t load_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

uint32_t yard_crc32c_sw(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;

    pthread_once(&table_once, table_build);
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = load_le32(b) ^ crc;
        uint32_t hi = load_le32(b + 4);
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
              table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        b += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ table[0][(crc ^ *b++) & 0xff];
    return ~crc;
}

#ifdef HAVE_X86_CRC
__attribute__((target("sse4.2"))) uint32_t yard_crc32c_hw(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t c = ~crc;

    /* Unaligned 8-byte loads are as fast as aligned ones on every CPU with
     * SSE4.2, so there is no head loop to reach alignment. */
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, b, 8);
        c = _mm_crc32_u64(c, v);
        b += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = _mm_crc32_u8(c32, *b++);
    return ~c32;
}

bool yard_crc32c_hw_available(void)
{
    return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t yard_crc32c_hw(uint32_t crc, const void *p, size_t n)
{
    return yard_crc32c_sw(crc, p, n);
}

bool yard_crc32c_hw_available(void)
{
    return false;
}
#endif

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static uint32_t crc_first_call(uint32_t crc, const void *p, size_t n);

/* Resolved at the first call; every later call is one indirect jump. */
static crc_fn crc_impl = crc_first_call;

static uint32_t crc_first_call(uint32_t crc, const void *p, size_t n)
{
    crc_fn f = yard_crc32c_hw_available() ? yard_crc32c_hw : yard_crc32c_sw;
    __atomic_store_n(&crc_impl, f, __ATOMIC_RELAXED);
    return f(crc, p, n);
}

uint32_t yard_crc32c(uint32_t crc, const void *p, size_t n)
{
    return __atomic_load_n(&crc_impl, __ATOMIC_RELAXED)(crc, p, n);
}
