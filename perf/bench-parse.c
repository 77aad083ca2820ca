/*
 * bench-parse.c - what one envelope parse costs, in ns and TSC cycles.
 *
 *   bench-parse [MESSAGES_MILLIONS]     (default 50)
 *
 * Builds a pool of realistic envelopes (names of 1-63 bytes, every kind and
 * prio, widths mixed the way senders mix them: mostly fixint/fixstr/bin8,
 * some wider ones, a few all-wide), each at the start of its own 2 KiB slot
 * as a received mbuf would hold it, then parses them round-robin and prints
 * the mean, first for the mixed widths and then for the common widths alone
 * (the gap is the price of mispredicted width branches). The pool (4096
 * slots, 8 MiB) is larger than L2, so its figure includes the cache misses a
 * worker sees on fresh packets' first line; a 64-slot pool gives the
 * in-cache cost. No DPDK, so it runs anywhere; pin it with taskset for
 * stable numbers.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#include "parse.h"

#define SLOT_BYTES 2048
#define POOL_SLOTS 4096
#define HOT_SLOTS  64

struct rng {
    uint64_t s;
};

static uint64_t next(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static uint8_t *put_be(uint8_t *p, uint8_t tag, uint64_t v, unsigned bytes)
{
    *p++ = tag;
    for (unsigned i = 0; i < bytes; i++)
        *p++ = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    return p;
}

/* An unsigned int: fixint when it fits and `wide` is 0, else a width >= wide. */
static uint8_t *put_uint(uint8_t *p, uint64_t v, unsigned wide)
{
    if (wide == 0 && v < 128) {
        *p++ = (uint8_t)v;
        return p;
    }
    if (wide <= 1 && v <= UINT8_MAX)
        return put_be(p, 0xcc, v, 1);
    if (wide <= 2 && v <= UINT16_MAX)
        return put_be(p, 0xcd, v, 2);
    if (wide <= 3 && v <= UINT32_MAX)
        return put_be(p, 0xce, v, 4);
    return put_be(p, 0xcf, v, 8);
}

static uint8_t *put_str(uint8_t *p, struct rng *r, unsigned n, unsigned wide)
{
    if (wide == 0 && n < 32)
        *p++ = (uint8_t)(0xa0 | n);
    else if (wide <= 1)
        p = put_be(p, 0xd9, n, 1);
    else
        p = put_be(p, 0xda, n, 2);
    for (unsigned i = 0; i < n; i++)
        *p++ = (uint8_t)('a' + next(r) % 26);
    return p;
}

/*
 * Writes one envelope into slot; returns its length. With `mixed`, 1 in 8 is
 * wide everywhere (a library that always writes the largest widths) and 1 in
 * 4 has a str8 dst; otherwise all use the common widths.
 */
static uint32_t make_envelope(uint8_t *slot, struct rng *r, bool mixed)
{
    uint64_t x = next(r);
    unsigned all_wide = mixed && x % 8 == 0 ? 3 : 0;
    unsigned some_wide = mixed && x % 4 == 1;
    uint8_t *p = slot;

    *p++ = 0x98;
    p = put_uint(p, 1, all_wide);
    p = put_uint(p, (x >> 8) % 8, all_wide);
    p = put_str(p, r, 1 + (unsigned)(next(r) % 63), all_wide ? 2 : some_wide);
    p = put_str(p, r, (unsigned)(next(r) % 64), all_wide ? 2 : 0);
    p = put_uint(p, (x >> 11) % 4, all_wide);
    p = put_uint(p, 2 + (x >> 13) % 63, all_wide ? 1 : 0);
    p = put_uint(p, next(r) >> (x >> 19) % 64, all_wide);

    unsigned body = (unsigned)(next(r) % 1200);
    if (all_wide)
        p = put_be(p, 0xc6, body, 4);
    else if (body < 256)
        p = put_be(p, 0xc4, body, 1);
    else
        p = put_be(p, 0xc5, body, 2);
    memset(p, 0x5a, body);
    p += body;
    return (uint32_t)(p - slot);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t tsc(void)
{
#if HAVE_TSC
    return __rdtsc();
#else
    return 0;
#endif
}

/* Parses `count` messages round-robin over `slots` slots. */
static void run(const char *label, const uint8_t *pool, const uint32_t *lens, unsigned slots,
                uint64_t count)
{
    struct yard_envelope env;
    uint64_t sink = 0, bad = 0;
    double t0 = now_ns();
    uint64_t c0 = tsc();

    for (uint64_t i = 0; i < count; i++) {
        unsigned s = (unsigned)(i & (slots - 1));
        int rc = yard_envelope_parse(pool + (size_t)s * SLOT_BYTES, lens[s], &env);
        /* Use what the router uses, so none of it can be optimised away. */
        sink += env.dst_len + env.ttl_off + env.prio + env.id;
        bad += rc != YARD_PARSE_OK;
    }

    uint64_t c1 = tsc();
    double t1 = now_ns();
    double ns = (t1 - t0) / (double)count;
    printf("%-24s %8.2f ns/msg  %8.1f Mmsg/s", label, ns, 1e3 / ns);
    if (HAVE_TSC)
        printf("  %7.1f TSC cycles/msg", (double)(c1 - c0) / (double)count);
    printf("  (bad %" PRIu64 ", sink %" PRIx64 ")\n", bad, sink & 0xff);
    if (bad != 0) {
        fprintf(stderr,
                "bench-parse: %" PRIu64 " generated envelopes were rejected; the "
                "generator and the parser disagree\n",
                bad);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    uint64_t millions = 50;
    if (argc > 1) {
        char *end;
        millions = strtoull(argv[1], &end, 10);
        if (*end != '\0' || millions == 0) {
            fprintf(stderr,
                    "usage: bench-parse [MESSAGES_MILLIONS]; '%s' is not a positive "
                    "count\n",
                    argv[1]);
            return 2;
        }
    }

    uint8_t *pool = aligned_alloc(64, (size_t)POOL_SLOTS * SLOT_BYTES);
    uint32_t *lens = malloc(POOL_SLOTS * sizeof(*lens));
    if (pool == NULL || lens == NULL) {
        fprintf(stderr, "bench-parse: cannot allocate the %d-slot pool\n", POOL_SLOTS);
        return 1;
    }
    uint64_t count = millions * 1000000;
    printf("bench-parse: %" PRIu64 "M messages per line, names of 1-63 bytes\n", millions);
    for (int mixed = 1; mixed >= 0; mixed--) {
        struct rng r = {0x5eed5eed5eed5eedull};
        for (unsigned s = 0; s < POOL_SLOTS; s++)
            lens[s] = make_envelope(pool + (size_t)s * SLOT_BYTES, &r, mixed);
        printf("%s widths:\n", mixed ? "mixed" : "common (fixint, fixstr, bin8)");
        run("  warm-up", pool, lens, HOT_SLOTS, count / 10);
        run("  in cache (64 slots)", pool, lens, HOT_SLOTS, count);
        run("  pool (4096 slots)", pool, lens, POOL_SLOTS, count);
    }
    free(pool);
    free(lens);
    return 0;
}
