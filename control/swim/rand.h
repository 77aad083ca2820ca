/*
 * rand.h - the small PRNG the gossip engine draws its random choices from:
 * start-up delays, insertion offsets, the probe order shuffle, gossip and
 * indirect-probe peers.
 *
 * None of those choices is a secret (they only need to differ between
 * nodes so they do not synchronise), so a xoshiro256** generator seeded
 * once from getrandom() is enough and costs no syscall per draw.
 * One generator per swim instance; no locking.
 */
#ifndef YARD_SWIM_RAND_H
#define YARD_SWIM_RAND_H

#include <stdint.h>
#include <sys/random.h>
#include <time.h>

struct swim_rand {
    uint64_t s[4];
};

static inline uint64_t swim_rand_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Seed from seed (tests: reproducible) or, if seed is 0, from getrandom(). */
static inline void swim_rand_seed(struct swim_rand *r, uint64_t seed)
{
    if (seed == 0 && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
    }
    for (int i = 0; i < 4; i++)
        r->s[i] = swim_rand_splitmix(&seed);
}

static inline uint64_t swim_rand_next(struct swim_rand *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, n); 0 when n is 0. The modulo bias is < 2^-32 for the
 * table sizes a cluster has. */
static inline uint32_t swim_rand_below(struct swim_rand *r, uint32_t n)
{
    return n == 0 ? 0 : (uint32_t)(swim_rand_next(r) % n);
}

#endif
