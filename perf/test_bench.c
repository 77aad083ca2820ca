/*
 * test_bench.c - criterion tests for the benchmarks' names (names.c) and
 * frames (frame.c).
 *
 * The forwarding benchmark and the load generator are only as good as what
 * they send: these tests check that names are distinct and well formed, and
 * that every frame is one the appliance must accept, judged by the
 * appliance's own parser and by checksums computed here independently.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "frame.h"
#include "loadgen.h"
#include "names.h"
#include "parse.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names 0..n-1 at max_len: all distinct, lengths in range, no forbidden bytes. */
static void check_names(unsigned n, unsigned max_len)
{
    char **v = calloc(n, sizeof(*v));
    cr_assert_not_null(v);
    for (unsigned i = 0; i < n; i++) {
        v[i] = malloc(YARD_BENCH_NAME_MAX + 1);
        unsigned len = yard_bench_name(i, max_len, v[i]);
        cr_assert(len >= 1 && len <= max_len, "name %u at max %u has length %u", i, max_len, len);
        cr_assert_eq(strlen(v[i]), len);
        cr_assert_null(strpbrk(v[i], "\"\\ \t\n'"), "name %u: '%s'", i, v[i]);
    }
    qsort(v, n, sizeof(*v), cmp_str);
    for (unsigned i = 1; i < n; i++)
        cr_assert_str_neq(v[i], v[i - 1], "duplicate name at max %u", max_len);
    for (unsigned i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

Test(names, distinct_at_full_length)
{
    check_names(200000, 63);
}

Test(names, distinct_in_short_frames)
{
    check_names(36 * 36, 2); /* every name two bytes can tell apart */
    check_names(5000, 4);    /* what a 64-byte frame carries */
    check_names(36, 1);
}

Test(names, lengths_spread_over_the_whole_range)
{
    unsigned seen[YARD_BENCH_NAME_MAX + 1] = {0};
    char buf[YARD_BENCH_NAME_MAX + 1];
    for (unsigned i = 0; i < 20000; i++)
        seen[yard_bench_name(i, 63, buf)]++;
    for (unsigned len = 1; len <= 63; len++)
        cr_expect(seen[len] > 0, "no name of %u bytes among the first 20000", len);
    /* Even over 8..63 (shorter ones are limited by how many fit): no length hoards. */
    for (unsigned len = 8; len <= 63; len++)
        cr_expect(seen[len] > 20000 / 63 / 2 && seen[len] < 20000 / 63 * 2, "%u names of %u bytes",
                  seen[len], len);
}

Test(names, same_name_every_time)
{
    char a[64], b[64];
    yard_bench_name(4242, 63, a);
    yard_bench_name(4242, 63, b);
    cr_assert_str_eq(a, b);
}

Test(names, refuses_what_cannot_be_distinct)
{
    char buf[YARD_BENCH_NAME_MAX + 1];
    cr_assert_eq(yard_bench_name(36 * 36, 2, buf), 0);
    cr_assert_eq(buf[0], '\0');
    cr_assert_eq(yard_bench_name(1, 0, buf), 0);
    cr_assert_eq(yard_bench_name(1, 64, buf), 0);
    cr_assert_gt(yard_bench_name(36 * 36 - 1, 2, buf), 0);
}

/* Independent RFC 1071 check: the one's complement sum over a valid header is 0xffff. */
static uint16_t ones_sum(const uint8_t *p, unsigned len, uint32_t sum)
{
    for (unsigned i = 0; i < len; i++)
        sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static void check_checksums(const uint8_t *f)
{
    cr_assert_eq(ones_sum(f + 14, 20, 0), 0xffff, "IPv4 header checksum");
    unsigned udp_len = (unsigned)f[38] << 8 | f[39];
    uint32_t pseudo = ones_sum(f + 26, 8, 0) + 17 + udp_len;
    cr_assert_eq(ones_sum(f + 34, udp_len, pseudo), 0xffff, "UDP checksum");
}

static struct yard_bench_frame_spec spec_for(const char *dst, const char *src, unsigned body)
{
    struct yard_bench_frame_spec s = {
        .dst_mac = {0x02, 0, 0, 0, 0, 1},
        .src_mac = {0x02, 0, 0, 0, 0, 2},
        .src_port = 7500,
        .dst_port = 7400,
        .dst = dst,
        .dst_len = (unsigned)strlen(dst),
        .src = src,
        .src_len = (unsigned)strlen(src),
        .prio = 2,
        .ttl = 16,
        .body_len = body,
        .body_fill = 7,
    };
    inet_pton(AF_INET, "198.18.0.2", &s.src_ip);
    inet_pton(AF_INET, "198.18.0.1", &s.dst_ip);
    return s;
}

Test(frame, parses_as_the_envelope_it_was_built_from)
{
    const char *dst = "billing.eu-west.svc-0042";
    struct yard_bench_frame_spec s = spec_for(dst, "yard-loadgen", 200);
    s.id = 0x0123456789abcdefull;
    uint8_t f[YARD_BENCH_FRAME_MAX];
    struct yard_bench_frame_info info;
    int len = yard_bench_frame_build(&s, f, sizeof(f), &info);
    cr_assert_eq(len, (int)(YARD_BENCH_HDR_LEN + yard_bench_envelope_len(24, 12, 200)));
    cr_assert_eq(info.len, len);
    check_checksums(f);
    cr_assert_eq((f[12] << 8) | f[13], 0x0800);
    cr_assert_eq(f[23], 17);

    struct yard_envelope env;
    cr_assert_eq(yard_envelope_parse(f + YARD_BENCH_HDR_LEN, info.env_len, &env), YARD_PARSE_OK);
    cr_assert_eq(env.kind, YARD_KIND_MSG);
    cr_assert_eq(env.ver, 1);
    cr_assert_eq(env.prio, 2);
    cr_assert_eq(env.ttl, 16);
    cr_assert_eq(env.id, 0x0123456789abcdefull);
    cr_assert_eq(env.dst_len, 24);
    cr_assert_eq(memcmp(f + YARD_BENCH_HDR_LEN + env.dst_off, dst, 24), 0);
    cr_assert_eq(env.src_len, 12);
    cr_assert_eq(env.body_len, 200);
    cr_assert_eq(f[YARD_BENCH_HDR_LEN + env.body_off + 199], (uint8_t)(7 + 199));
    /* The id is a uint64 where info says, so a sender can patch it. */
    cr_assert_eq(f[info.id_off - 1], 0xcf);
}

/* yard-loadgen --kind register: a REGISTER whose body is the lease request,
 * exactly the bytes given. */
Test(frame, register_carries_its_kind_and_given_body)
{
    static const uint8_t lease[] = {0x81, 0xa8, 'l',  'e',  'a',  's',  'e', '_',
                                    'm',  's',  0xce, 0x00, 0x00, 0x75, 0x30};
    struct yard_bench_frame_spec s = spec_for("reg.17", "reg.17", sizeof(lease));
    s.kind = YARD_KIND_REGISTER;
    s.body = lease;
    uint8_t f[YARD_BENCH_FRAME_MAX];
    struct yard_bench_frame_info info;
    int len = yard_bench_frame_build(&s, f, sizeof(f), &info);
    cr_assert_eq(len, (int)(YARD_BENCH_HDR_LEN + yard_bench_envelope_len(6, 6, sizeof(lease))));
    check_checksums(f);
    struct yard_envelope env;
    cr_assert_eq(yard_envelope_parse(f + YARD_BENCH_HDR_LEN, info.env_len, &env), YARD_PARSE_OK);
    cr_assert_eq(env.kind, YARD_KIND_REGISTER);
    cr_assert_eq(env.body_len, sizeof(lease));
    cr_assert_eq(memcmp(f + YARD_BENCH_HDR_LEN + env.body_off, lease, sizeof(lease)), 0);
    cr_assert_eq(memcmp(f + YARD_BENCH_HDR_LEN + env.src_off, "reg.17", 6), 0);
    s.kind = 8;
    cr_assert_eq(yard_bench_frame_build(&s, f, sizeof(f), &info), -EINVAL, "kind 8 is no kind");
}

Test(frame, envelope_len_is_exact_across_width_changes)
{
    static const unsigned dst_lens[] = {1, 31, 32, 63};
    static const unsigned src_lens[] = {0, 31, 32, 63};
    static const unsigned bodies[] = {0, 255, 256, 1000};
    char dst[64], src[64];
    memset(dst, 'd', sizeof(dst));
    memset(src, 's', sizeof(src));
    for (unsigned a = 0; a < 4; a++)
        for (unsigned b = 0; b < 4; b++)
            for (unsigned c = 0; c < 4; c++) {
                dst[dst_lens[a]] = '\0';
                src[src_lens[b]] = '\0';
                struct yard_bench_frame_spec s = spec_for(dst, src, bodies[c]);
                uint8_t f[YARD_BENCH_FRAME_MAX];
                struct yard_bench_frame_info info;
                int len = yard_bench_frame_build(&s, f, sizeof(f), &info);
                cr_assert_eq(info.env_len,
                             yard_bench_envelope_len(dst_lens[a], src_lens[b], bodies[c]),
                             "dst %u src %u body %u", dst_lens[a], src_lens[b], bodies[c]);
                cr_assert_gt(len, 0);
                struct yard_envelope env;
                cr_assert_eq(yard_envelope_parse(f + YARD_BENCH_HDR_LEN, info.env_len, &env),
                             YARD_PARSE_OK);
                dst[dst_lens[a]] = 'd';
                src[src_lens[b]] = 's';
            }
}

Test(frame, patched_id_keeps_the_udp_checksum_valid)
{
    static const uint64_t ids[] = {1,
                                   0xff,
                                   0xffff,
                                   0x8000000000000000ull,
                                   UINT64_MAX,
                                   0x00ff00ff00ff00ffull,
                                   123456789012345ull};
    /* src lengths of both parities put the id at even and odd UDP offsets. */
    const char *srcs[] = {"", "x", "yard-loadgen", "yard-loadgen1"};
    for (unsigned k = 0; k < 4; k++) {
        struct yard_bench_frame_spec s = spec_for("orders/v2/7", srcs[k], 64);
        uint8_t tmpl[YARD_BENCH_FRAME_MAX], f[YARD_BENCH_FRAME_MAX];
        struct yard_bench_frame_info info;
        int len = yard_bench_frame_build(&s, tmpl, sizeof(tmpl), &info);
        cr_assert_gt(len, 0);
        for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
            memcpy(f, tmpl, (size_t)len);
            yard_bench_frame_set_id(f, &info, ids[i]);
            check_checksums(f);
            struct yard_envelope env;
            cr_assert_eq(yard_envelope_parse(f + YARD_BENCH_HDR_LEN, info.env_len, &env),
                         YARD_PARSE_OK);
            cr_assert_eq(env.id, ids[i], "src '%s'", srcs[k]);
        }
    }
}

Test(frame, smallest_frame_needs_no_ethernet_padding)
{
    struct yard_bench_frame_spec s = spec_for("a", "", 0);
    uint8_t f[YARD_BENCH_FRAME_MAX];
    struct yard_bench_frame_info info;
    int len = yard_bench_frame_build(&s, f, sizeof(f), &info);
    cr_assert_eq(len, 61); /* 42 + 19, above Ethernet's 60 */
    cr_assert_eq(info.env_len, 19);
    cr_assert_eq((f[16] << 8) | f[17], 20 + 8 + 19);
    check_checksums(f);
}

Test(frame, rejects_what_the_protocol_forbids)
{
    uint8_t f[YARD_BENCH_FRAME_MAX];
    struct yard_bench_frame_info info;
    struct yard_bench_frame_spec s = spec_for("x", "", 0);
    s.dst_len = 0;
    cr_assert_eq(yard_bench_frame_build(&s, f, sizeof(f), &info), -EINVAL);
    char long_name[65];
    memset(long_name, 'n', 64);
    long_name[64] = '\0';
    s = spec_for(long_name, "", 0);
    cr_assert_eq(yard_bench_frame_build(&s, f, sizeof(f), &info), -EINVAL);
    s = spec_for("x", "", 0);
    s.ttl = 0;
    cr_assert_eq(yard_bench_frame_build(&s, f, sizeof(f), &info), -EINVAL);
    s = spec_for("x", "", 0);
    s.prio = 4;
    cr_assert_eq(yard_bench_frame_build(&s, f, sizeof(f), &info), -EINVAL);
    s = spec_for("x", "", 1500);
    cr_assert_eq(yard_bench_frame_build(&s, f, sizeof(f), &info), -ENOSPC);
    s = spec_for("x", "", 100);
    cr_assert_eq(yard_bench_frame_build(&s, f, 100, &info), -ENOSPC);
}

/* Options as yard-loadgen's defaults would set them, for the template tests. */
static struct yard_lg_opts lg_opts(unsigned names)
{
    char prog[] = "yard-loadgen";
    char *argv[] = {prog, NULL};
    struct yard_lg_opts o;
    cr_assert_eq(yard_lg_opts_parse(1, argv, &o), 0);
    o.names = names;
    return o;
}

/* Every routed name is sent, and equally often: a million-name run must touch
 * a million keys, not the ones random draws happen to favour. */
Test(templates, schedule_sends_every_name_equally_often)
{
    struct yard_lg_opts o = lg_opts(50000);
    o.class_weight[0] = o.class_weight[1] = o.class_weight[3] = 0; /* class 2 only */
    o.nb_body_sizes = 1;
    uint8_t mac[6] = {2, 0, 0, 0, 0, 2};
    struct yard_lg_templates t;
    cr_assert_eq(yard_lg_templates_build(&o, mac, &t), 0);
    cr_assert_eq(t.nb_tmpl, 50000, "one frame per name when one class and one size are sent");
    unsigned *seen = calloc(o.names, sizeof(*seen));
    for (unsigned k = 0; k < t.schedule_len; k++) {
        const struct yard_lg_template *tp = &t.tmpl[t.schedule[k]];
        cr_assert_eq(tp->prio, 2);
        cr_assert(tp->known);
        seen[t.schedule[k]]++;
    }
    unsigned lo = t.schedule_len / o.names;
    for (unsigned n = 0; n < o.names; n++)
        cr_assert(seen[n] == lo || seen[n] == lo + 1, "name %u sent %u times, expected %u or %u", n,
                  seen[n], lo, lo + 1);
    free(seen);
    yard_lg_templates_free(&t);
}

/* --kind register: REGISTERs for prefix0..prefixN-1, in that order, each
 * frame parsing as a REGISTER whose src is its name. */
Test(templates, register_names_in_order)
{
    struct yard_lg_opts o = lg_opts(300);
    o.kind = YARD_LG_KIND_REGISTER;
    o.lease_ms = 60000;
    uint8_t mac[6] = {2, 0, 0, 0, 0, 2};
    struct yard_lg_templates t;
    cr_assert_eq(yard_lg_templates_build(&o, mac, &t), 0);
    cr_assert_eq(t.schedule_len, 300);
    for (unsigned k = 0; k < t.schedule_len; k++) {
        const struct yard_lg_template *tp = &t.tmpl[t.schedule[k]];
        struct yard_envelope env;
        cr_assert_eq(yard_envelope_parse(tp->data + YARD_BENCH_HDR_LEN, tp->info.env_len, &env),
                     YARD_PARSE_OK);
        cr_assert_eq(env.kind, YARD_KIND_REGISTER);
        char want[32];
        int len = snprintf(want, sizeof(want), "reg.%u", k);
        cr_assert_eq(env.src_len, (unsigned)len);
        cr_assert_eq(memcmp(tp->data + YARD_BENCH_HDR_LEN + env.src_off, want, (size_t)len), 0,
                     "slot %u is not %s", k, want);
        cr_assert_eq(env.body_len, 15, "the body is {\"lease_ms\": 60000}");
    }
    yard_lg_templates_free(&t);
}

/* --dst-prefix: the destinations are prefix0..prefixN-1, every one of them
 * sent, each frame a MSG to its name. */
Test(templates, dst_prefix_names_the_destinations)
{
    char prog[] = "yard-loadgen", opt[] = "--dst-prefix", val[] = "rem.";
    char *argv[] = {prog, opt, val, NULL};
    struct yard_lg_opts o;
    cr_assert_eq(yard_lg_opts_parse(3, argv, &o), 0);
    o.names = 100;
    o.nb_body_sizes = 1;
    o.class_weight[0] = o.class_weight[1] = o.class_weight[3] = 0;
    uint8_t mac[6] = {2, 0, 0, 0, 0, 2};
    struct yard_lg_templates t;
    cr_assert_eq(yard_lg_templates_build(&o, mac, &t), 0);
    bool seen[100] = {false};
    for (unsigned k = 0; k < t.schedule_len; k++) {
        const struct yard_lg_template *tp = &t.tmpl[t.schedule[k]];
        struct yard_envelope env;
        cr_assert_eq(yard_envelope_parse(tp->data + YARD_BENCH_HDR_LEN, tp->info.env_len, &env),
                     YARD_PARSE_OK);
        cr_assert_eq(env.kind, YARD_KIND_MSG);
        char name[64];
        memcpy(name, tp->data + YARD_BENCH_HDR_LEN + env.dst_off, env.dst_len);
        name[env.dst_len] = '\0';
        unsigned n = 0;
        cr_assert_eq(sscanf(name, "rem.%u", &n), 1, "destination %s", name);
        char want[64];
        snprintf(want, sizeof(want), "rem.%u", n);
        cr_assert_str_eq(name, want);
        cr_assert_lt(n, 100);
        seen[n] = true;
    }
    for (unsigned n = 0; n < 100; n++)
        cr_assert(seen[n], "rem.%u never sent", n);
    yard_lg_templates_free(&t);

    char kind[] = "--kind", reg[] = "register";
    char *bad[] = {prog, opt, val, kind, reg, NULL};
    cr_assert_eq(yard_lg_opts_parse(5, bad, &o), -EINVAL, "REGISTERs name themselves");
}
