/*
 * test_parse.c - the envelope parser against envelopes built by msgpack-c.
 *
 * The encoder here is msgpack-c's packer, not the parser's own logic, and it
 * is pushed into every width a sender may pick (msgpack-c alone would always
 * choose the smallest, so wider headers are written by hand). Every parse
 * runs on a heap buffer of exactly the payload's size, so that a read past
 * `len` is caught by AddressSanitizer in the sanitizer build.
 */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

enum int_width { W_FIX, W_U8, W_U16, W_U32, W_U64, W_INT_COUNT };
enum str_width { S_FIX, S_8, S_16, S_32, S_STR_COUNT };
enum body_width { B_BIN8, B_BIN16, B_BIN32, B_STRFIX, B_STR8, B_STR16, B_STR32, B_BODY_COUNT };
enum arr_width { A_FIX, A_16, A_32, A_COUNT };

/* Field positions in the array, for per-field overrides. */
enum { F_VER, F_KIND, F_DST, F_SRC, F_PRIO, F_TTL, F_ID, F_BODY, F_COUNT };

struct spec {
    uint64_t ver, kind, prio, ttl, id;
    const char *dst;
    size_t dst_len;
    const char *src;
    size_t src_len;
    const uint8_t *body;
    size_t body_len;
    enum int_width w_ver, w_kind, w_prio, w_ttl, w_id;
    enum str_width w_dst, w_src;
    enum body_width w_body;
    enum arr_width w_arr;
    unsigned arity; /* elements actually written; 0 means 8 */
    /* When set, these raw bytes stand in for the field's encoding. */
    const uint8_t *raw[F_COUNT];
    size_t raw_len[F_COUNT];
};

struct payload {
    uint8_t *p; /* malloc'd, exactly len bytes */
    uint32_t len;
};

static const uint8_t default_body[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};

static struct spec default_spec(void)
{
    struct spec s = {
        .ver = 1,
        .kind = YARD_KIND_MSG,
        .prio = 2,
        .ttl = 16,
        .id = 42,
        .dst = "orders.eu",
        .dst_len = 9,
        .src = "client-7",
        .src_len = 8,
        .body = default_body,
        .body_len = sizeof(default_body),
    };
    return s;
}

static void raw(msgpack_packer *pk, const void *b, size_t n)
{
    msgpack_sbuffer_write(pk->data, b, n);
}

static void hdr_be(msgpack_packer *pk, uint8_t tag, uint64_t v, unsigned bytes)
{
    uint8_t b[9] = {tag};
    for (unsigned i = 0; i < bytes; i++)
        b[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    raw(pk, b, 1 + bytes);
}

static void pack_uint(msgpack_packer *pk, enum int_width w, uint64_t v)
{
    switch (w) {
    case W_FIX:
        cr_assert_lt(v, 128, "positive fixint cannot hold %llu", (unsigned long long)v);
        msgpack_pack_uint8(pk, (uint8_t)v); /* msgpack-c writes fixint below 128 */
        break;
    case W_U8:
        msgpack_pack_fix_uint8(pk, (uint8_t)v);
        break;
    case W_U16:
        msgpack_pack_fix_uint16(pk, (uint16_t)v);
        break;
    case W_U32:
        msgpack_pack_fix_uint32(pk, (uint32_t)v);
        break;
    default:
        msgpack_pack_fix_uint64(pk, v);
        break;
    }
}

static void pack_str(msgpack_packer *pk, enum str_width w, const void *s, size_t n)
{
    switch (w) {
    case S_FIX:
        cr_assert_lt(n, 32, "fixstr cannot hold %zu bytes", n);
        msgpack_pack_str(pk, n); /* fixstr below 32 */
        break;
    case S_8:
        hdr_be(pk, 0xd9, n, 1);
        break;
    case S_16:
        hdr_be(pk, 0xda, n, 2);
        break;
    default:
        hdr_be(pk, 0xdb, n, 4);
        break;
    }
    msgpack_pack_str_body(pk, s, n);
}

static void pack_body(msgpack_packer *pk, enum body_width w, const void *b, size_t n)
{
    switch (w) {
    case B_BIN8:
        cr_assert_lt(n, 256);
        msgpack_pack_bin(pk, n); /* bin8 below 256 */
        break;
    case B_BIN16:
        hdr_be(pk, 0xc5, n, 2);
        break;
    case B_BIN32:
        hdr_be(pk, 0xc6, n, 4);
        break;
    case B_STRFIX:
        pack_str(pk, S_FIX, b, n);
        return;
    case B_STR8:
        pack_str(pk, S_8, b, n);
        return;
    case B_STR16:
        pack_str(pk, S_16, b, n);
        return;
    default:
        pack_str(pk, S_32, b, n);
        return;
    }
    msgpack_pack_bin_body(pk, b, n);
}

static void pack_field(msgpack_packer *pk, const struct spec *s, int f)
{
    if (s->raw[f] != NULL) {
        raw(pk, s->raw[f], s->raw_len[f]);
        return;
    }
    switch (f) {
    case F_VER:
        pack_uint(pk, s->w_ver, s->ver);
        break;
    case F_KIND:
        pack_uint(pk, s->w_kind, s->kind);
        break;
    case F_DST:
        pack_str(pk, s->w_dst, s->dst, s->dst_len);
        break;
    case F_SRC:
        pack_str(pk, s->w_src, s->src, s->src_len);
        break;
    case F_PRIO:
        pack_uint(pk, s->w_prio, s->prio);
        break;
    case F_TTL:
        pack_uint(pk, s->w_ttl, s->ttl);
        break;
    case F_ID:
        pack_uint(pk, s->w_id, s->id);
        break;
    default:
        pack_body(pk, s->w_body, s->body, s->body_len);
        break;
    }
}

/* Encodes *s, then appends `extra` bytes of trailing junk. */
static struct payload encode_extra(const struct spec *s, const void *extra, size_t extra_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    unsigned arity = s->arity ? s->arity : 8;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    switch (s->w_arr) {
    case A_FIX:
        msgpack_pack_array(&pk, arity); /* fixarray below 16 */
        break;
    case A_16:
        hdr_be(&pk, 0xdc, arity, 2);
        break;
    default:
        hdr_be(&pk, 0xdd, arity, 4);
        break;
    }
    for (unsigned f = 0; f < arity; f++)
        pack_field(&pk, s, f < F_COUNT ? (int)f : F_ID); /* a 9th element: another uint */
    if (extra_len > 0)
        raw(&pk, extra, extra_len);

    struct payload out = {.p = malloc(sb.size ? sb.size : 1), .len = (uint32_t)sb.size};
    cr_assert_not_null(out.p);
    memcpy(out.p, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return out;
}

static struct payload encode(const struct spec *s)
{
    return encode_extra(s, NULL, 0);
}

/* Parses the first `len` bytes from a buffer of exactly that size. */
static int parse_prefix(const struct payload *pl, uint32_t len, struct yard_envelope *env)
{
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    memcpy(copy, pl->p, len);
    int rc = yard_envelope_parse(copy, len, env);
    free(copy);
    return rc;
}

static int parse_spec(const struct spec *s)
{
    struct payload pl = encode(s);
    struct yard_envelope env;
    int rc = yard_envelope_parse(pl.p, pl.len, &env);
    free(pl.p);
    return rc;
}

/* Parses *s's encoding and checks every field against what went in. */
static void expect_fields(const struct spec *s)
{
    struct payload pl = encode(s);
    struct yard_envelope env;
    int rc = yard_envelope_parse(pl.p, pl.len, &env);

    cr_assert_eq(rc, YARD_PARSE_OK,
                 "valid envelope rejected as %s (widths ver %d kind %d dst %d "
                 "src %d prio %d ttl %d id %d body %d arr %d)",
                 yard_parse_error_name(rc), s->w_ver, s->w_kind, s->w_dst, s->w_src, s->w_prio,
                 s->w_ttl, s->w_id, s->w_body, s->w_arr);
    cr_assert_eq(env.ver, s->ver);
    cr_assert_eq(env.kind, s->kind);
    cr_assert_eq(env.prio, s->prio);
    cr_assert_eq(env.ttl, s->ttl);
    cr_assert_eq(env.id, s->id, "id %llu parsed as %llu", (unsigned long long)s->id,
                 (unsigned long long)env.id);
    cr_assert_eq(env.dst_len, s->dst_len);
    cr_assert_eq(memcmp(pl.p + env.dst_off, s->dst, s->dst_len), 0);
    cr_assert_eq(env.src_len, s->src_len);
    cr_assert_leq((size_t)env.src_off + env.src_len, pl.len);
    cr_assert_eq(memcmp(pl.p + env.src_off, s->src, s->src_len), 0);
    cr_assert_eq(env.body_len, s->body_len);
    cr_assert_eq((size_t)env.body_off + env.body_len, pl.len);
    cr_assert_eq(memcmp(pl.p + env.body_off, s->body, s->body_len), 0);
    cr_assert_eq(pl.p[env.ttl_off], s->ttl, "ttl_off %u does not point at ttl's last byte",
                 env.ttl_off);
    cr_assert_eq(pl.p[env.kind_off], s->kind, "kind_off %u does not point at kind's last byte",
                 env.kind_off);
    cr_assert_lt(env.kind_off, env.dst_off, "kind comes before dst");
    cr_assert_lt(env.kind_off, YARD_KIND_PREFIX_MAX, "the prefix through kind fits its maximum");
    free(pl.p);
}

static const enum int_width all_int_widths[] = {W_FIX, W_U8, W_U16, W_U32, W_U64};

Test(parse, default_envelope_fields)
{
    struct spec s = default_spec();
    expect_fields(&s);
}

Test(parse, every_int_width_for_every_int_field)
{
    for (int w = 0; w < W_INT_COUNT; w++) {
        struct spec s;
        s = default_spec(), s.w_ver = all_int_widths[w], expect_fields(&s);
        s = default_spec(), s.w_kind = all_int_widths[w], expect_fields(&s);
        s = default_spec(), s.w_prio = all_int_widths[w], expect_fields(&s);
        s = default_spec(), s.w_ttl = all_int_widths[w], expect_fields(&s);
        s = default_spec(), s.w_id = all_int_widths[w], expect_fields(&s);
    }
}

Test(parse, every_str_width_for_dst_and_src)
{
    for (int w = 0; w < S_STR_COUNT; w++) {
        struct spec s = default_spec();
        s.w_dst = (enum str_width)w;
        expect_fields(&s);
        s = default_spec();
        s.w_src = (enum str_width)w;
        expect_fields(&s);
    }
}

Test(parse, every_body_encoding)
{
    static uint8_t big[300];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    for (int w = 0; w < B_BODY_COUNT; w++) {
        struct spec s = default_spec();
        s.w_body = (enum body_width)w;
        expect_fields(&s);
        s.body_len = 0; /* an empty body in every width */
        expect_fields(&s);
        if (w != B_BIN8 && w != B_STRFIX && w != B_STR8) {
            s.body = big;
            s.body_len = sizeof(big);
            expect_fields(&s);
        }
    }
}

Test(parse, array16_and_array32_of_eight)
{
    struct spec s = default_spec();
    s.w_arr = A_16;
    expect_fields(&s);
    s.w_arr = A_32;
    expect_fields(&s);
}

Test(parse, all_narrowest_and_all_widest)
{
    struct spec s = default_spec();
    expect_fields(&s);
    s.w_ver = s.w_kind = s.w_prio = s.w_ttl = s.w_id = W_U64;
    s.w_dst = s.w_src = S_32;
    s.w_body = B_BIN32;
    s.w_arr = A_32;
    expect_fields(&s);
}

/* A fixed pseudo-random walk through width combinations and field values. */
Test(parse, mixed_widths_and_values)
{
    static char names[64];
    uint64_t x = 0x9e3779b97f4a7c15ull;

    for (int i = 0; i < 63; i++)
        names[i] = (char)('a' + i % 26);
    for (int iter = 0; iter < 5000; iter++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct spec s = default_spec();
        s.kind = x % 8;
        s.prio = (x >> 3) % 4;
        s.ttl = (x >> 5) % 65;
        s.id = x;
        s.dst = names + (x >> 12) % 8;
        s.dst_len = 1 + (x >> 15) % 55;
        s.src_len = (x >> 21) % 56;
        s.src = names + 1;
        s.body_len = (x >> 27) % (sizeof(default_body) + 1);
        s.w_ver = (enum int_width)((x >> 30) % W_INT_COUNT);
        s.w_kind = (enum int_width)((x >> 33) % W_INT_COUNT);
        s.w_prio = (enum int_width)((x >> 36) % W_INT_COUNT);
        s.w_ttl = (enum int_width)((x >> 39) % W_INT_COUNT);
        s.w_id = s.id < 128 ? W_FIX : W_U64; /* any other width would not hold it */
        s.w_dst = (enum str_width)((x >> 42) % S_STR_COUNT);
        s.w_src = (enum str_width)((x >> 45) % S_STR_COUNT);
        if (s.dst_len >= 32 && s.w_dst == S_FIX)
            s.w_dst = S_8;
        if (s.src_len >= 32 && s.w_src == S_FIX)
            s.w_src = S_16;
        s.w_body = (enum body_width)((x >> 48) % B_BODY_COUNT);
        s.w_arr = (enum arr_width)((x >> 52) % A_COUNT);
        expect_fields(&s);
    }
}

Test(parse, id_boundaries_in_each_width_that_holds_them)
{
    static const struct {
        uint64_t v;
        enum int_width narrowest;
    } ids[] = {
        {0, W_FIX},          {127, W_FIX},        {128, W_U8},
        {255, W_U8},         {256, W_U16},        {65535, W_U16},
        {65536, W_U32},      {UINT32_MAX, W_U32}, {(uint64_t)UINT32_MAX + 1, W_U64},
        {UINT64_MAX, W_U64},
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (int w = ids[i].narrowest; w < W_INT_COUNT; w++) {
            struct spec s = default_spec();
            s.id = ids[i].v;
            s.w_id = (enum int_width)w;
            expect_fields(&s);
        }
    }
}

Test(parse, field_boundaries_accepted)
{
    static const char n63[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
    struct spec s = default_spec();

    cr_assert_eq(sizeof(n63) - 1, 63);
    for (uint64_t k = 0; k <= YARD_KIND_MAX; k++)
        s.kind = k, expect_fields(&s);
    s = default_spec();
    for (uint64_t p = 0; p <= YARD_PRIO_MAX; p++)
        s.prio = p, expect_fields(&s);
    s = default_spec();
    s.ttl = 0, expect_fields(&s);
    s.ttl = 1, expect_fields(&s);
    s.ttl = 64, expect_fields(&s);
    s = default_spec();
    s.dst = n63, s.dst_len = 63, s.w_dst = S_8;
    s.src = n63, s.src_len = 63, s.w_src = S_8;
    expect_fields(&s);
    s = default_spec();
    s.dst = "x", s.dst_len = 1;
    s.src = "", s.src_len = 0;
    expect_fields(&s);
}

/* ---- rejections ---- */

static void expect_every_prefix_truncated(const struct spec *s)
{
    struct payload pl = encode(s);
    struct yard_envelope env;

    cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &env), YARD_PARSE_OK);
    for (uint32_t n = 0; n < pl.len; n++) {
        int rc = parse_prefix(&pl, n, &env);
        cr_assert_eq(rc, YARD_PARSE_TRUNCATED, "prefix of %u/%u bytes gave %s, not truncated", n,
                     pl.len, yard_parse_error_name(rc));
    }
    free(pl.p);
}

Test(parse, truncated_at_every_length)
{
    struct spec s = default_spec();
    expect_every_prefix_truncated(&s);

    s.w_ver = W_U16, s.w_kind = W_U8, s.w_prio = W_U32, s.w_ttl = W_U64, s.w_id = W_U64;
    s.w_dst = S_16, s.w_src = S_32, s.w_body = B_BIN32, s.w_arr = A_32;
    expect_every_prefix_truncated(&s);

    s.w_ver = W_U64, s.w_kind = W_U32, s.w_prio = W_U16, s.w_ttl = W_U8, s.w_id = W_U32;
    s.w_dst = S_8, s.w_src = S_FIX, s.w_body = B_STR16, s.w_arr = A_16;
    expect_every_prefix_truncated(&s);

    s = default_spec();
    s.src_len = 0, s.body_len = 0, s.w_body = B_STRFIX;
    expect_every_prefix_truncated(&s);
}

Test(parse, overlong_declared_lengths_are_truncated)
{
    /* Each header claims more bytes than the datagram holds. */
    static const uint8_t body8[] = {0xc4, 0x10, 'a', 'b'};
    static const uint8_t body32[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t bodystr16[] = {0xda, 0x01, 0x00, 'a'};
    static const uint8_t dst32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t dstfix[] = {0xbf, 'a'};
    static const uint8_t src16[] = {0xda, 0xff, 0xff, 'a'};
    struct spec s;

    s = default_spec(), s.raw[F_BODY] = body8, s.raw_len[F_BODY] = sizeof(body8);
    cr_assert_eq(parse_spec(&s), YARD_PARSE_TRUNCATED);
    s = default_spec(), s.raw[F_BODY] = body32, s.raw_len[F_BODY] = sizeof(body32);
    cr_assert_eq(parse_spec(&s), YARD_PARSE_TRUNCATED);
    s = default_spec(), s.raw[F_BODY] = bodystr16, s.raw_len[F_BODY] = sizeof(bodystr16);
    cr_assert_eq(parse_spec(&s), YARD_PARSE_TRUNCATED);

    /* A name whose length runs past the end swallows the rest of the array
     * (31, 2^16-1 and 2^32-1 bytes claimed, about 25 left). */
    s = default_spec(), s.raw[F_DST] = dst32, s.raw_len[F_DST] = sizeof(dst32);
    cr_assert_eq(parse_spec(&s), YARD_PARSE_TRUNCATED);
    s = default_spec(), s.raw[F_DST] = dstfix, s.raw_len[F_DST] = sizeof(dstfix);
    cr_assert_eq(parse_spec(&s), YARD_PARSE_TRUNCATED);
    s = default_spec(), s.raw[F_SRC] = src16, s.raw_len[F_SRC] = sizeof(src16);
    cr_assert_eq(parse_spec(&s), YARD_PARSE_TRUNCATED);
}

Test(parse, trailing_bytes)
{
    static const uint8_t one[] = {0x00};
    static const uint8_t nil[] = {0xc0};
    struct spec s = default_spec();
    struct payload pl;
    struct yard_envelope env;

    pl = encode_extra(&s, one, sizeof(one));
    cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &env), YARD_PARSE_TRAILING);
    free(pl.p);

    s.w_body = B_BIN32;
    pl = encode_extra(&s, nil, sizeof(nil));
    cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &env), YARD_PARSE_TRAILING);
    free(pl.p);

    /* Two whole envelopes in one datagram. */
    struct payload first = encode(&s);
    pl = encode_extra(&s, first.p, first.len);
    cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &env), YARD_PARSE_TRAILING);
    free(pl.p);
    free(first.p);

    /* A body header that claims less than what follows. */
    static const uint8_t short_body[] = {0xc4, 0x01, 'a', 'b', 'c'};
    s = default_spec(), s.raw[F_BODY] = short_body, s.raw_len[F_BODY] = sizeof(short_body);
    cr_assert_eq(parse_spec(&s), YARD_PARSE_TRAILING);
}

Test(parse, arity)
{
    struct spec s = default_spec();

    s.arity = 7;
    cr_assert_eq(parse_spec(&s), YARD_PARSE_ARITY);
    s.arity = 9;
    cr_assert_eq(parse_spec(&s), YARD_PARSE_ARITY);
    s.arity = 1;
    cr_assert_eq(parse_spec(&s), YARD_PARSE_ARITY);
    s.w_arr = A_16, s.arity = 7;
    cr_assert_eq(parse_spec(&s), YARD_PARSE_ARITY);
    s.w_arr = A_32, s.arity = 9;
    cr_assert_eq(parse_spec(&s), YARD_PARSE_ARITY);
    s.w_arr = A_16, s.arity = 0;
    cr_assert_eq(parse_spec(&s), YARD_PARSE_OK, "array16 of 8 is a valid envelope");

    static const uint8_t empty_array[] = {0x90};
    static const uint8_t huge_array32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    struct yard_envelope env;
    cr_assert_eq(yard_envelope_parse(empty_array, sizeof(empty_array), &env), YARD_PARSE_ARITY);
    cr_assert_eq(yard_envelope_parse(huge_array32, sizeof(huge_array32), &env), YARD_PARSE_ARITY);
}

Test(parse, top_level_not_an_array)
{
    static const uint8_t cases[][3] = {
        {0x80},             /* fixmap {} */
        {0x01},             /* positive fixint */
        {0xc0},             /* nil */
        {0xa1, 'a'},        /* fixstr */
        {0xde, 0x00, 0x00}, /* map16 */
        {0xc4, 0x00},       /* bin8 */
        {0xff},             /* negative fixint */
    };
    static const uint32_t lens[] = {1, 1, 1, 2, 3, 2, 1};
    struct yard_envelope env;

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t *p = malloc(lens[i]);
        memcpy(p, cases[i], lens[i]);
        int rc = yard_envelope_parse(p, lens[i], &env);
        cr_assert_eq(rc, YARD_PARSE_NOT_ARRAY, "case %zu gave %s", i, yard_parse_error_name(rc));
        free(p);
    }
}

struct wrong {
    const char *what;
    uint8_t b[10];
    size_t n;
};

/* Values that are not unsigned ints, including signed ints whose value would fit. */
static const struct wrong not_uint[] = {
    {"nil", {0xc0}, 1},
    {"false", {0xc2}, 1},
    {"true", {0xc3}, 1},
    {"negative fixint -1", {0xff}, 1},
    {"int8 1", {0xd0, 0x01}, 2},
    {"int16 1", {0xd1, 0x00, 0x01}, 3},
    {"int32 1", {0xd2, 0x00, 0x00, 0x00, 0x01}, 5},
    {"int64 1", {0xd3, 0, 0, 0, 0, 0, 0, 0, 0x01}, 9},
    {"float32 1.0", {0xca, 0x3f, 0x80, 0x00, 0x00}, 5},
    {"float64 1.0", {0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, 9},
    {"fixstr \"1\"", {0xa1, '1'}, 2},
    {"bin8 1", {0xc4, 0x01, 0x01}, 3},
    {"fixmap {}", {0x80}, 1},
    {"fixarray []", {0x90}, 1},
    {"fixext1", {0xd4, 0x01, 0x01}, 3},
    {"never-used 0xc1", {0xc1}, 1},
};

/* Values that are not str; bin is refused for names. */
static const struct wrong not_str[] = {
    {"nil", {0xc0}, 1},
    {"true", {0xc3}, 1},
    {"positive fixint", {0x05}, 1},
    {"uint8", {0xcc, 0x05}, 2},
    {"negative fixint", {0xe0}, 1},
    {"bin8 \"ab\"", {0xc4, 0x02, 'a', 'b'}, 4},
    {"bin16 \"ab\"", {0xc5, 0x00, 0x02, 'a', 'b'}, 5},
    {"float32", {0xca, 0, 0, 0, 0}, 5},
    {"fixarray [\"a\"]", {0x91, 0xa1, 'a'}, 3},
    {"fixmap {}", {0x80}, 1},
    {"ext8", {0xc7, 0x01, 0x01, 'a'}, 4},
};

static const struct wrong not_body[] = {
    {"nil", {0xc0}, 1},
    {"false", {0xc2}, 1},
    {"positive fixint", {0x00}, 1},
    {"uint16", {0xcd, 0x00, 0x00}, 3},
    {"int8", {0xd0, 0x00}, 2},
    {"negative fixint", {0xf0}, 1},
    {"float64", {0xcb, 0, 0, 0, 0, 0, 0, 0, 0}, 9},
    {"fixarray []", {0x90}, 1},
    {"fixmap {}", {0x80}, 1},
    {"map16 {}", {0xde, 0x00, 0x00}, 3},
    {"fixext1", {0xd4, 0x01, 0x01}, 3},
};

static void expect_type_errors(int field, const struct wrong *w, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct spec s = default_spec();
        s.raw[field] = w[i].b;
        s.raw_len[field] = w[i].n;
        int rc = parse_spec(&s);
        cr_assert_eq(rc, YARD_PARSE_TYPE, "field %d as %s gave %s, not type", field, w[i].what,
                     yard_parse_error_name(rc));
    }
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

Test(parse, wrong_type_per_field)
{
    expect_type_errors(F_VER, not_uint, COUNT(not_uint));
    expect_type_errors(F_KIND, not_uint, COUNT(not_uint));
    expect_type_errors(F_DST, not_str, COUNT(not_str));
    expect_type_errors(F_SRC, not_str, COUNT(not_str));
    expect_type_errors(F_PRIO, not_uint, COUNT(not_uint));
    expect_type_errors(F_TTL, not_uint, COUNT(not_uint));
    expect_type_errors(F_ID, not_uint, COUNT(not_uint));
    expect_type_errors(F_BODY, not_body, COUNT(not_body));
}

static void expect_rc(const struct spec *s, int want, const char *what)
{
    int rc = parse_spec(s);
    cr_assert_eq(rc, want, "%s gave %s, not %s", what, yard_parse_error_name(rc),
                 yard_parse_error_name(want));
}

Test(parse, out_of_range)
{
    static const char n64[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    struct spec s;

    cr_assert_eq(sizeof(n64) - 1, 64);
    for (int w = 0; w < W_INT_COUNT; w++) {
        s = default_spec(), s.w_ver = all_int_widths[w];
        s.ver = 2, expect_rc(&s, YARD_PARSE_RANGE, "ver 2");
        s.ver = 0, expect_rc(&s, YARD_PARSE_RANGE, "ver 0");
        s = default_spec(), s.w_kind = all_int_widths[w];
        s.kind = 8, expect_rc(&s, YARD_PARSE_RANGE, "kind 8");
        s = default_spec(), s.w_prio = all_int_widths[w];
        s.prio = 4, expect_rc(&s, YARD_PARSE_RANGE, "prio 4");
        s = default_spec(), s.w_ttl = all_int_widths[w];
        s.ttl = 65, expect_rc(&s, YARD_PARSE_RANGE, "ttl 65");
    }
    /* Values only a wide encoding can carry; a parser that kept only the
     * last byte would see 1, 0, 3 or 64 here. */
    s = default_spec(), s.w_ver = W_U16, s.ver = 0x0101;
    expect_rc(&s, YARD_PARSE_RANGE, "ver 257");
    s = default_spec(), s.w_kind = W_U32, s.kind = 0x100;
    expect_rc(&s, YARD_PARSE_RANGE, "kind 256");
    s = default_spec(), s.w_prio = W_U64, s.prio = 0x0100000000000003ull;
    expect_rc(&s, YARD_PARSE_RANGE, "prio 2^56+3");
    s = default_spec(), s.w_ttl = W_U64, s.ttl = UINT64_MAX;
    expect_rc(&s, YARD_PARSE_RANGE, "ttl 2^64-1");
    s = default_spec(), s.w_ttl = W_U16, s.ttl = 0x0140;
    expect_rc(&s, YARD_PARSE_RANGE, "ttl 320");

    for (int w = S_8; w < S_STR_COUNT; w++) {
        s = default_spec(), s.dst = n64, s.dst_len = 64, s.w_dst = (enum str_width)w;
        expect_rc(&s, YARD_PARSE_RANGE, "dst of 64 bytes");
        s = default_spec(), s.src = n64, s.src_len = 64, s.w_src = (enum str_width)w;
        expect_rc(&s, YARD_PARSE_RANGE, "src of 64 bytes");
    }
}

Test(parse, bad_dst_names)
{
    struct spec s;

    for (int w = 0; w < S_STR_COUNT; w++) {
        s = default_spec(), s.w_dst = (enum str_width)w;
        s.dst = "", s.dst_len = 0;
        expect_rc(&s, YARD_PARSE_NAME, "empty dst");
        s.dst = "\0abc", s.dst_len = 4;
        expect_rc(&s, YARD_PARSE_NAME, "dst starting with NUL");
        s.dst = "ab\0c", s.dst_len = 4;
        expect_rc(&s, YARD_PARSE_NAME, "dst with NUL inside");
        s.dst = "abc\0", s.dst_len = 4;
        expect_rc(&s, YARD_PARSE_NAME, "dst ending with NUL");
        s.dst = "\0", s.dst_len = 1;
        expect_rc(&s, YARD_PARSE_NAME, "dst of one NUL");
    }
    /* src is only a reply address: NUL in it is not the router's business. */
    s = default_spec(), s.src = "a\0b", s.src_len = 3;
    expect_fields(&s);
}

Test(parse, ttl_patch_at_ttl_off)
{
    for (int w = 0; w < W_INT_COUNT; w++) {
        for (uint64_t ttl = 1; ttl <= YARD_TTL_MAX; ttl++) {
            struct spec s = default_spec();
            s.w_ttl = all_int_widths[w];
            s.ttl = ttl;
            struct payload pl = encode(&s);
            struct yard_envelope before, after;

            cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &before), YARD_PARSE_OK);
            pl.p[before.ttl_off]--;
            cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &after), YARD_PARSE_OK);
            cr_assert_eq(after.ttl, ttl - 1, "width %d ttl %llu patched to %u", w,
                         (unsigned long long)ttl, after.ttl);
            cr_assert_eq(after.id, before.id);
            cr_assert_eq(after.prio, before.prio);
            cr_assert_eq(after.dst_off, before.dst_off);
            cr_assert_eq(after.body_off, before.body_off);

            /* The patched datagram is what a sender would have encoded. */
            s.ttl = ttl - 1;
            struct payload want = encode(&s);
            cr_assert_eq(want.len, pl.len);
            cr_assert_eq(memcmp(want.p, pl.p, pl.len), 0, "width %d ttl %llu", w,
                         (unsigned long long)ttl);
            free(want.p);
            free(pl.p);
        }
    }
}

/*
 * What a topic copy to another node does: rewrite the byte at kind_off from
 * MSG to FANOUT (and a received FANOUT back to MSG). In every width the
 * result must be exactly what a sender encoding the other kind would have
 * written, and nothing else may change.
 */
Test(parse, kind_patch_at_kind_off_in_every_width)
{
    for (int w = 0; w < W_INT_COUNT; w++) {
        for (int a = 0; a < A_COUNT; a++) {
            struct spec s = default_spec();
            s.w_kind = all_int_widths[w];
            s.w_arr = (enum arr_width)a;
            s.w_ver = all_int_widths[w]; /* widest prefix: wide ver too */
            struct payload pl = encode(&s);
            struct yard_envelope msg, fan;
            cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &msg), YARD_PARSE_OK);
            cr_assert_eq(msg.kind, YARD_KIND_MSG);
            /* The prefix is the array header, ver and kind, nothing more. */
            static const unsigned int_bytes[] = {1, 2, 3, 5, 9}, arr_bytes[] = {1, 3, 5};
            cr_assert_eq(msg.kind_off + 1u, arr_bytes[a] + 2 * int_bytes[w],
                         "width %d array %d: kind ends at byte %u", w, a, msg.kind_off);

            pl.p[msg.kind_off] = YARD_KIND_FANOUT;
            cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &fan), YARD_PARSE_OK);
            cr_assert_eq(fan.kind, YARD_KIND_FANOUT, "width %d: kind %u", w, fan.kind);
            cr_assert_eq(fan.kind_off, msg.kind_off);
            cr_assert_eq(fan.ttl, msg.ttl);
            cr_assert_eq(fan.id, msg.id);
            cr_assert_eq(fan.dst_off, msg.dst_off);
            cr_assert_eq(fan.body_off, msg.body_off);

            s.kind = YARD_KIND_FANOUT;
            struct payload want = encode(&s);
            cr_assert_eq(want.len, pl.len);
            cr_assert_eq(memcmp(want.p, pl.p, pl.len), 0, "width %d array %d", w, a);

            pl.p[fan.kind_off] = YARD_KIND_MSG;
            cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &msg), YARD_PARSE_OK);
            cr_assert_eq(msg.kind, YARD_KIND_MSG, "and back");
            free(want.p);
            free(pl.p);
        }
    }
    /* The widest prefix is the most a copy's header mbuf must hold. */
    struct spec s = default_spec();
    s.w_arr = A_32, s.w_ver = W_U64, s.w_kind = W_U64;
    struct payload pl = encode(&s);
    struct yard_envelope env;
    cr_assert_eq(yard_envelope_parse(pl.p, pl.len, &env), YARD_PARSE_OK);
    cr_assert_eq(env.kind_off + 1u, YARD_KIND_PREFIX_MAX);
    free(pl.p);
}

Test(parse, error_names)
{
    static const char *const want[] = {"ok",    "truncated", "trailing", "not_array",
                                       "arity", "type",      "range",    "name"};

    cr_assert_eq(COUNT(want), YARD_PARSE_ERROR_MAX);
    for (int i = 0; i < YARD_PARSE_ERROR_MAX; i++)
        cr_assert_str_eq(yard_parse_error_name(i), want[i]);
    cr_assert_str_eq(yard_parse_error_name(-1), "unknown");
    cr_assert_str_eq(yard_parse_error_name(YARD_PARSE_ERROR_MAX), "unknown");
}
