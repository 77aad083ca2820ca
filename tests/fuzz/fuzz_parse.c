/*
 * fuzz_parse.c - libFuzzer target for the envelope parser.
 *
 * The parser faces whatever arrives on the wire, so beyond "no crash, no read
 * past len" (AddressSanitizer's part) this checks what the dataplane relies
 * on when the parser says OK: every offset and length lies inside the
 * datagram in field order, values are within their rules, the byte at ttl_off
 * is ttl, and the router's in-place decrement yields an envelope that parses
 * to the same fields with ttl - 1. It also checks the judgement itself: a
 * proper prefix of an accepted envelope is TRUNCATED and anything appended
 * to it is TRAILING. A violation aborts with the reason, so libFuzzer keeps
 * the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prefix checks cost one parse per byte; above this size only a few are made. */
#define ALL_PREFIXES_MAX 512

static void fail(const char *what, size_t size)
{
    fprintf(stderr, "fuzz_parse: invariant broken on a %zu-byte input: %s\n", size, what);
    abort();
}

#define CHECK(cond)            \
    do {                       \
        if (!(cond))           \
            fail(#cond, size); \
    } while (0)

/* Parses a heap copy of exactly n bytes, so ASan sees any read past n. */
static int parse_copy(const uint8_t *data, size_t n, struct yard_envelope *env)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, n);
    int rc = yard_envelope_parse(copy, (uint32_t)n, env);
    free(copy);
    return rc;
}

static bool same_fields(const struct yard_envelope *a, const struct yard_envelope *b)
{
    return a->id == b->id && a->body_off == b->body_off && a->body_len == b->body_len &&
           a->dst_off == b->dst_off && a->src_off == b->src_off && a->ttl_off == b->ttl_off &&
           a->dst_len == b->dst_len && a->src_len == b->src_len && a->ver == b->ver &&
           a->kind == b->kind && a->prio == b->prio && a->ttl == b->ttl;
}

static void check_accepted(const uint8_t *data, size_t size, const struct yard_envelope *env)
{
    struct yard_envelope again;

    CHECK(env->ver == YARD_ENVELOPE_VERSION);
    CHECK(env->kind <= YARD_KIND_MAX);
    CHECK(env->prio <= YARD_PRIO_MAX);
    CHECK(env->ttl <= YARD_TTL_MAX);
    CHECK(env->dst_len >= 1 && env->dst_len <= YARD_DST_MAX);
    CHECK(env->src_len <= YARD_SRC_MAX);
    CHECK(env->dst_off >= 3); /* array header, ver, kind, str header */
    CHECK((size_t)env->dst_off + env->dst_len < env->src_off);
    CHECK((size_t)env->src_off + env->src_len < env->ttl_off);
    CHECK(env->ttl_off + 1u < env->body_off);
    CHECK((size_t)env->body_off + env->body_len == size);
    CHECK(memchr(data + env->dst_off, 0, env->dst_len) == NULL);
    CHECK(data[env->ttl_off] == env->ttl);

    /* Parsing is a pure function of the bytes. */
    CHECK(parse_copy(data, size, &again) == YARD_PARSE_OK);
    CHECK(same_fields(&again, env));

    /* The router's in-place ttl decrement. */
    if (env->ttl > 0) {
        uint8_t *p = malloc(size);
        if (p == NULL)
            abort();
        memcpy(p, data, size);
        p[env->ttl_off]--;
        CHECK(yard_envelope_parse(p, (uint32_t)size, &again) == YARD_PARSE_OK);
        CHECK(again.ttl == env->ttl - 1);
        CHECK(again.id == env->id && again.ttl_off == env->ttl_off);
        CHECK(again.dst_off == env->dst_off && again.dst_len == env->dst_len);
        CHECK(again.body_off == env->body_off && again.body_len == env->body_len);
        free(p);
    }

    /* Every proper prefix is truncated. */
    if (size <= ALL_PREFIXES_MAX) {
        for (size_t n = 0; n < size; n++)
            CHECK(parse_copy(data, n, &again) == YARD_PARSE_TRUNCATED);
    } else {
        CHECK(parse_copy(data, size - 1, &again) == YARD_PARSE_TRUNCATED);
        CHECK(parse_copy(data, env->body_off, &again) == YARD_PARSE_TRUNCATED);
        CHECK(parse_copy(data, env->ttl_off, &again) == YARD_PARSE_TRUNCATED);
    }

    /* Anything appended is trailing. */
    uint8_t *longer = malloc(size + 1);
    if (longer == NULL)
        abort();
    memcpy(longer, data, size);
    longer[size] = 0xc0;
    CHECK(yard_envelope_parse(longer, (uint32_t)size + 1, &again) == YARD_PARSE_TRAILING);
    free(longer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct yard_envelope env;

    if (size > UINT16_MAX) /* more than any datagram */
        return -1;
    int rc = parse_copy(data, size, &env);
    CHECK(rc >= YARD_PARSE_OK && rc < YARD_PARSE_ERROR_MAX);
    CHECK(strcmp(yard_parse_error_name(rc), "unknown") != 0);
    if (rc == YARD_PARSE_OK)
        check_accepted(data, size, &env);
    return 0;
}
