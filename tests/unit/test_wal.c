/*
 * test_wal.c - the write-ahead log as the daemon and a crash see it: round
 * trips, order across snapshot and logs, torn tails at every byte, damaged
 * length fields and snapshots, compaction stopped after each step, the state
 * directory lock, sticky write failures, and processes SIGKILLed in the
 * middle of group commits.
 *
 * Records carry their own check: a number and a pattern derived from it, so
 * a record that comes back wrong (torn, shifted, duplicated) is recognised
 * by the test without trusting the log. The expected state of the key-value
 * tests is computed by the test's own model as it issues the changes.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wal.h"

#define LOG1 "log.0000000000000001"
#define LOG2 "log.0000000000000002"

static char base_dir[256]; /* made by mkdtemp, removed after each test */
static char dir[300];      /* the state directory, below a missing parent */

/* ---- fixture ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void suite_init(void)
{
    /* /var/tmp, not /tmp: /tmp may be tmpfs, where fdatasync is a no-op. */
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    snprintf(base_dir, sizeof(base_dir), "%s/yard-wal-test.XXXXXX", tmp);
    cr_assert_not_null(mkdtemp(base_dir), "mkdtemp in %s: %s", tmp, strerror(errno));
    snprintf(dir, sizeof(dir), "%s/yard/state", base_dir);
}

static void suite_fini(void)
{
    nftw(base_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(wal, .init = suite_init, .fini = suite_fini);

/* ---- captured log lines ---- */

static char log_lines[16][700];
static int nb_log_lines;

static void capture_log(void *arg, int level, const char *line)
{
    (void)arg;
    (void)level;
    if (nb_log_lines < 16)
        snprintf(log_lines[nb_log_lines], sizeof(log_lines[0]), "%s", line);
    nb_log_lines++;
}

static struct yard_wal_opts quiet_opts = {.log_fn = capture_log};

/* ---- numbered records ---- */

/* Record n: n as 8 LE bytes, then 0..79 bytes derived from n. */
static size_t make_rec(uint64_t n, uint8_t *buf)
{
    size_t len = 8 + (size_t)((n * 13) % 80);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(n >> (8 * i));
    for (size_t k = 8; k < len; k++)
        buf[k] = (uint8_t)(n * 131 + k * 7);
    return len;
}

/* The number a record carries, or 0 if it is not exactly make_rec(n). */
static uint64_t rec_number(const void *rec, size_t len)
{
    uint8_t want[128];
    if (len < 8)
        return 0;
    uint64_t n = 0;
    memcpy(&n, rec, 8);
    if (n == 0 || make_rec(n, want) != len || memcmp(want, rec, len) != 0)
        return 0;
    return n;
}

struct seen {
    uint64_t n;       /* records fed */
    uint64_t bad;     /* records that are not valid numbered records */
    uint64_t gaps;    /* records whose number is not the previous + 1 */
    uint64_t last;    /* number of the last record fed */
    int reject_every; /* reject every k-th record (0: none) */
};

static int collect(void *arg, const void *rec, size_t len)
{
    struct seen *s = arg;
    uint64_t n = rec_number(rec, len);
    s->n++;
    if (n == 0) {
        s->bad++;
        return 0;
    }
    if (n != s->last + 1)
        s->gaps++;
    s->last = n;
    if (s->reject_every && n % (uint64_t)s->reject_every == 0)
        return -1;
    return 0;
}

static struct yard_wal *open_ok(const struct yard_wal_opts *opts)
{
    struct yard_wal *w;
    char err[512];
    int r = yard_wal_open(&w, dir, opts, err, sizeof(err));
    cr_assert_eq(r, 0, "open %s: %d %s", dir, r, err);
    return w;
}

/* Open and replay numbered records, asserting they are 1..n in order. */
static struct yard_wal *open_replay(struct seen *s)
{
    struct yard_wal *w = open_ok(&quiet_opts);
    memset(s, 0, sizeof(*s));
    int r = yard_wal_replay(w, collect, s);
    cr_assert_eq(r, 0, "replay: %d %s", r, yard_wal_error(w));
    cr_assert_eq(s->bad, 0, "%lu records came back damaged", (unsigned long)s->bad);
    cr_assert_eq(s->gaps, 0, "records out of order or missing");
    cr_assert_eq(s->last, s->n, "last record %lu of %lu fed", (unsigned long)s->last,
                 (unsigned long)s->n);
    return w;
}

static void append_numbers(struct yard_wal *w, uint64_t from, uint64_t to)
{
    uint8_t buf[128];
    for (uint64_t n = from; n <= to; n++) {
        uint64_t seq = 0;
        int r = yard_wal_append(w, buf, make_rec(n, buf), &seq);
        cr_assert_eq(r, 0, "append %lu: %d %s", (unsigned long)n, r, yard_wal_error(w));
        cr_assert_eq(seq, n, "record %lu got sequence number %lu", (unsigned long)n,
                     (unsigned long)seq);
    }
}

static int emit_numbers(void *arg, struct yard_wal_snapshot_writer *sw)
{
    uint64_t last = *(uint64_t *)arg;
    uint8_t buf[128];
    for (uint64_t n = 1; n <= last; n++) {
        int r = yard_wal_snapshot_add(sw, buf, make_rec(n, buf));
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- files ---- */

static uint8_t *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    struct stat sb;
    fstat(fd, &sb);
    *len = (size_t)sb.st_size;
    uint8_t *buf = malloc(*len + 1);
    cr_assert_eq(read(fd, buf, *len), (ssize_t)*len);
    close(fd);
    return buf;
}

static void spit(const char *name, const uint8_t *buf, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static long file_size(const char *name)
{
    char path[512];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static uint32_t le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offset of the k-th record (0-based) of a log file's bytes. */
static size_t record_offset(const uint8_t *log, size_t k)
{
    size_t off = YARD_WAL_LOG_HEADER_BYTES;
    while (k--)
        off += YARD_WAL_FRAME_BYTES + le32_at(log + off);
    return off;
}

/* ---- round trip and sequence numbers ---- */

Test(wal, round_trip_in_order)
{
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(yard_wal_durable_seq(w), 0);
    for (uint64_t n = 1; n <= 1000; n += 100) {
        append_numbers(w, n, n + 99);
        cr_assert_eq(yard_wal_pending(w), 100);
        cr_assert_eq(yard_wal_sync(w), 0, "%s", yard_wal_error(w));
        cr_assert_eq(yard_wal_pending(w), 0);
        cr_assert_eq(yard_wal_durable_seq(w), n + 99);
    }
    yard_wal_close(w);

    w = open_replay(&s);
    cr_assert_eq(s.n, 1000);
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    cr_assert_eq(st.replayed_records, 1000);
    cr_assert_eq(st.torn_tails, 0);
    cr_assert_eq(st.durable_seq, 1000);
    cr_assert_eq(nb_log_lines, 0, "a clean log logged: %s", log_lines[0]);
    yard_wal_close(w);
}

struct big_check {
    int n;
    int ok;
};

/* Replay callback: expects an empty record, then the largest one. */
static int check_big(void *arg, const void *rec, size_t len)
{
    struct big_check *rc = arg;
    if (rc->n == 0 && len == 0)
        rc->ok++;
    if (rc->n == 1 && len == YARD_WAL_MAX_RECORD_BYTES) {
        const uint8_t *b = rec;
        size_t i = 0;
        while (i < len && b[i] == (uint8_t)(i * 251))
            i++;
        rc->ok += i == len;
    }
    rc->n++;
    return 0;
}

Test(wal, empty_and_largest_records)
{
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    static uint8_t big[YARD_WAL_MAX_RECORD_BYTES + 1];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 251);
    uint64_t seq;
    cr_assert_eq(yard_wal_append(w, "", 0, &seq), 0);
    cr_assert_eq(yard_wal_append(w, big, YARD_WAL_MAX_RECORD_BYTES, &seq), 0);
    cr_assert_eq(seq, 2);
    int r = yard_wal_append(w, big, YARD_WAL_MAX_RECORD_BYTES + 1, &seq);
    cr_assert_eq(r, -EMSGSIZE);
    cr_assert(strstr(yard_wal_error(w), "65537"), "message: %s", yard_wal_error(w));
    cr_assert_eq(yard_wal_pending(w), 2, "a refused record must not be buffered");
    cr_assert_eq(yard_wal_sync(w), 0);
    yard_wal_close(w);

    /* replay hands back exactly those bytes */
    struct big_check rc = {0, 0};
    w = open_ok(&quiet_opts);
    cr_assert_eq(yard_wal_replay(w, check_big, &rc), 0);
    cr_assert_eq(rc.n, 2);
    cr_assert_eq(rc.ok, 2);
    yard_wal_close(w);
}

Test(wal, sequence_numbers_continue_across_restarts)
{
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    append_numbers(w, 1, 5);
    cr_assert_eq(yard_wal_sync(w), 0);
    /* never synced: dropped at close, their numbers given again */
    append_numbers(w, 6, 8);
    yard_wal_close(w);

    w = open_replay(&s);
    cr_assert_eq(s.n, 5, "unsynced records must not come back");
    cr_assert_eq(yard_wal_durable_seq(w), 5);
    append_numbers(w, 6, 6); /* asserts seq 6 */
    cr_assert_eq(yard_wal_sync(w), 0);
    yard_wal_close(w);
    w = open_replay(&s);
    cr_assert_eq(s.n, 6);
    yard_wal_close(w);
}

Test(wal, append_before_replay_is_refused)
{
    struct yard_wal *w = open_ok(&quiet_opts);
    uint64_t seq;
    cr_assert_eq(yard_wal_append(w, "x", 1, &seq), -EINVAL);
    cr_assert(strstr(yard_wal_error(w), "replay"), "message: %s", yard_wal_error(w));
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), 0);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), -EINVAL, "a second replay must be refused");
    yard_wal_close(w);
}

Test(wal, group_commit_writes_a_batch_with_one_sync)
{
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    long before = file_size(LOG1);
    cr_assert_eq(before, YARD_WAL_LOG_HEADER_BYTES);
    append_numbers(w, 1, 100);
    cr_assert_eq(file_size(LOG1), before, "append must not write");
    cr_assert_eq(yard_wal_sync(w), 0);
    size_t framed = 0;
    uint8_t buf[128];
    for (uint64_t n = 1; n <= 100; n++)
        framed += YARD_WAL_FRAME_BYTES + make_rec(n, buf);
    cr_assert_eq(file_size(LOG1), before + (long)framed);
    cr_assert_eq(yard_wal_sync(w), 0, "nothing pending");

    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    cr_assert_eq(st.syncs, 1);
    cr_assert_eq(st.records_synced, 100);
    cr_assert_eq(st.max_records_per_sync, 100);
    cr_assert_eq(st.bytes_appended, framed);
    cr_assert_eq(st.log_bytes, (uint64_t)before + framed);
    cr_assert_gt(st.last_sync_ns, 0);
    cr_assert_eq(yard_wal_sync_latency_ns(&st, 1.0), st.max_sync_ns);

    for (int i = 0; i < 20; i++) {
        append_numbers(w, 101 + (uint64_t)i, 101 + (uint64_t)i);
        cr_assert_eq(yard_wal_sync(w), 0);
    }
    yard_wal_stats(w, &st);
    cr_assert_eq(st.syncs, 21);
    uint64_t p50 = yard_wal_sync_latency_ns(&st, 0.5), p99 = yard_wal_sync_latency_ns(&st, 0.99);
    cr_assert(p50 > 0 && p50 <= p99 && p99 <= st.max_sync_ns, "p50 %lu p99 %lu max %lu",
              (unsigned long)p50, (unsigned long)p99, (unsigned long)st.max_sync_ns);
    yard_wal_close(w);
}

Test(wal, rejected_records_are_counted_and_skipped)
{
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    append_numbers(w, 1, 30);
    cr_assert_eq(yard_wal_sync(w), 0);
    yard_wal_close(w);

    w = open_ok(&quiet_opts);
    memset(&s, 0, sizeof(s));
    s.reject_every = 3;
    cr_assert_eq(yard_wal_replay(w, collect, &s), 0);
    cr_assert_eq(s.n, 30, "replay must go on after a rejected record");
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    cr_assert_eq(st.replay_rejected, 10);
    cr_assert_eq(st.replayed_records, 30);
    append_numbers(w, 31, 31);
    cr_assert_eq(yard_wal_sync(w), 0);
    yard_wal_close(w);
}

/* ---- torn tails ---- */

/* A log of 20 synced records; returns its bytes and where record 20 starts. */
static uint8_t *twenty_records(size_t *len, size_t *last_off)
{
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    append_numbers(w, 1, 20);
    cr_assert_eq(yard_wal_sync(w), 0);
    yard_wal_close(w);
    uint8_t *log = slurp(LOG1, len);
    *last_off = record_offset(log, 19);
    return log;
}

/* After damage to record 20: 19 records, the file cut back, one torn tail of
 * `torn` bytes logged, and record 20 can be written again. */
static void expect_recovered(size_t last_off, size_t torn, const char *what)
{
    struct seen s;
    nb_log_lines = 0;
    struct yard_wal *w = open_replay(&s);
    cr_assert_eq(s.n, 19, "%s: %lu records replayed", what, (unsigned long)s.n);
    cr_assert_eq(file_size(LOG1), (long)last_off, "%s: file not truncated", what);
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    cr_assert_eq(st.torn_tails, 1, "%s", what);
    cr_assert_eq(st.torn_tail_bytes, torn, "%s", what);
    cr_assert_eq(nb_log_lines, 1, "%s: %d log lines", what, nb_log_lines);
    cr_assert(strstr(log_lines[0], LOG1) && strstr(log_lines[0], "discarded"), "%s: %s", what,
              log_lines[0]);
    append_numbers(w, 20, 20);
    cr_assert_eq(yard_wal_sync(w), 0);
    yard_wal_close(w);
    w = open_replay(&s);
    cr_assert_eq(s.n, 20, "%s: the record appended after recovery is lost", what);
    yard_wal_stats(w, &st);
    cr_assert_eq(st.torn_tails, 0, "%s: recovery left damage", what);
    yard_wal_close(w);
}

Test(wal, torn_tail_cut_at_every_byte_of_the_last_record)
{
    size_t len, last_off;
    uint8_t *log = twenty_records(&len, &last_off);
    for (size_t cut = last_off + 1; cut < len; cut++) {
        char what[64];
        snprintf(what, sizeof(what), "cut at %zu of %zu", cut, len);
        spit(LOG1, log, cut);
        expect_recovered(last_off, cut - last_off, what);
    }
    /* a cut exactly between records is a clean end, not a torn tail */
    spit(LOG1, log, last_off);
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    cr_assert_eq(s.n, 19);
    cr_assert_eq(st.torn_tails, 0);
    yard_wal_close(w);
    free(log);
}

Test(wal, torn_tail_any_damaged_byte_of_the_last_record)
{
    size_t len, last_off;
    uint8_t *log = twenty_records(&len, &last_off);
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    for (size_t at = last_off; at < len; at++) {
        for (size_t f = 0; f < sizeof(flips); f++) {
            char what[64];
            snprintf(what, sizeof(what), "byte %zu ^ 0x%02x", at, flips[f]);
            log[at] ^= flips[f];
            spit(LOG1, log, len);
            log[at] ^= flips[f];
            expect_recovered(last_off, len - last_off, what);
        }
    }
    free(log);
}

Test(wal, corrupt_length_field_ends_the_log_there)
{
    size_t len, last_off;
    uint8_t *log = twenty_records(&len, &last_off);
    size_t at = record_offset(log, 9); /* record 10 */
    uint32_t lens[] = {0xffffffffu, YARD_WAL_MAX_RECORD_BYTES + 1, le32_at(log + at) - 1,
                       le32_at(log + at) + 1};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, log, len);
        for (int b = 0; b < 4; b++)
            copy[at + (size_t)b] = (uint8_t)(lens[i] >> (8 * b));
        spit(LOG1, copy, len);
        free(copy);

        struct seen s;
        nb_log_lines = 0;
        struct yard_wal *w = open_replay(&s);
        cr_assert_eq(s.n, 9, "length 0x%x: %lu records", lens[i], (unsigned long)s.n);
        cr_assert_eq(file_size(LOG1), (long)at);
        struct yard_wal_stats st;
        yard_wal_stats(w, &st);
        cr_assert_eq(st.torn_tails, 1);
        cr_assert_eq(st.torn_tail_bytes, len - at);
        cr_assert_eq(nb_log_lines, 1);
        append_numbers(w, 10, 10);
        cr_assert_eq(yard_wal_sync(w), 0);
        yard_wal_close(w);
    }
    free(log);
}

/* ---- key-value state: the shape of the daemon's directory ---- */

#define KEYS 64

struct kv {
    uint64_t val[KEYS];
    uint8_t set[KEYS];
};

/* Record: 'S' key value (8 LE bytes) or 'D' key. */
static size_t kv_rec(uint8_t *b, char op, unsigned key, uint64_t val)
{
    b[0] = (uint8_t)op;
    b[1] = (uint8_t)key;
    if (op == 'D')
        return 2;
    memcpy(b + 2, &val, 8);
    return 10;
}

static int kv_apply(void *arg, const void *rec, size_t len)
{
    struct kv *kv = arg;
    const uint8_t *b = rec;
    if (len < 2 || b[1] >= KEYS)
        return -1;
    if (b[0] == 'S' && len == 10) {
        memcpy(&kv->val[b[1]], b + 2, 8);
        kv->set[b[1]] = 1;
        return 0;
    }
    if (b[0] == 'D' && len == 2) {
        kv->set[b[1]] = 0;
        kv->val[b[1]] = 0;
        return 0;
    }
    return -1;
}

static int kv_emit(void *arg, struct yard_wal_snapshot_writer *sw)
{
    struct kv *kv = arg;
    uint8_t b[16];
    for (unsigned k = 0; k < KEYS; k++)
        if (kv->set[k]) {
            int r = yard_wal_snapshot_add(sw, b, kv_rec(b, 'S', k, kv->val[k]));
            if (r < 0)
                return r;
        }
    return 0;
}

static uint64_t kv_rng = 88172645463325252ull;

/* n random changes: appended to w and applied to the model. */
static void kv_changes(struct yard_wal *w, struct kv *model, int n)
{
    for (int i = 0; i < n; i++) {
        kv_rng ^= kv_rng << 13;
        kv_rng ^= kv_rng >> 7;
        kv_rng ^= kv_rng << 17;
        uint8_t b[16];
        unsigned key = (unsigned)(kv_rng % KEYS);
        size_t len = kv_rng % 5 == 0 ? kv_rec(b, 'D', key, 0) : kv_rec(b, 'S', key, kv_rng >> 8);
        cr_assert_eq(yard_wal_append(w, b, len, NULL), 0, "%s", yard_wal_error(w));
        cr_assert_eq(kv_apply(model, b, len), 0);
    }
    cr_assert_eq(yard_wal_sync(w), 0, "%s", yard_wal_error(w));
}

static void kv_expect(const struct kv *model, uint64_t durable_seq, const char *what)
{
    struct kv got = {0};
    struct yard_wal *w = open_ok(&quiet_opts);
    int r = yard_wal_replay(w, kv_apply, &got);
    cr_assert_eq(r, 0, "%s: replay %d %s", what, r, yard_wal_error(w));
    for (unsigned k = 0; k < KEYS; k++) {
        cr_assert_eq(got.set[k], model->set[k], "%s: key %u present %d, want %d", what, k,
                     got.set[k], model->set[k]);
        cr_assert_eq(got.val[k], model->val[k], "%s: key %u", what, k);
    }
    cr_assert_eq(yard_wal_durable_seq(w), durable_seq, "%s: durable seq %lu, want %lu", what,
                 (unsigned long)yard_wal_durable_seq(w), (unsigned long)durable_seq);
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    cr_assert_eq(st.replay_rejected, 0, "%s", what);
    cr_assert_eq(st.torn_tails, 0, "%s", what);
    yard_wal_close(w);
}

Test(wal, replay_order_across_snapshots_and_logs)
{
    struct seen s;
    uint64_t last;
    struct yard_wal *w = open_replay(&s);
    append_numbers(w, 1, 300);
    last = 300;
    cr_assert_eq(yard_wal_compact(w, emit_numbers, &last), 0, "%s", yard_wal_error(w));
    append_numbers(w, 301, 500);
    last = 500;
    cr_assert_eq(yard_wal_compact(w, emit_numbers, &last), 0, "%s", yard_wal_error(w));
    append_numbers(w, 501, 600);
    cr_assert_eq(yard_wal_sync(w), 0);
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    cr_assert_eq(st.snapshots_written, 2);
    cr_assert_eq(st.snapshot_records, 500);
    yard_wal_close(w);

    w = open_replay(&s); /* asserts 1..n in order */
    cr_assert_eq(s.n, 600);
    yard_wal_stats(w, &st);
    cr_assert_eq(st.snapshot_records, 500, "replay did not start from the newest snapshot");
    cr_assert_eq(st.durable_seq, 600);
    append_numbers(w, 601, 601);
    yard_wal_close(w);
}

Test(wal, compaction_keeps_the_state_and_retires_old_files)
{
    struct kv model = {0};
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    uint64_t seq = 0;
    for (int round = 0; round < 4; round++) {
        kv_changes(w, &model, 200);
        seq += 200;
        cr_assert_eq(yard_wal_compact(w, kv_emit, &model), 0, "%s", yard_wal_error(w));
    }
    kv_changes(w, &model, 50);
    seq += 50;
    yard_wal_close(w);
    kv_expect(&model, seq, "after 4 compactions");

    /* the newest snapshot, the one before it and the logs after that one */
    int nsnap = 0, nlog = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        nsnap += strncmp(de->d_name, "snap.", 5) == 0;
        nlog += strncmp(de->d_name, "log.", 4) == 0;
    }
    closedir(d);
    cr_assert_eq(nsnap, 2, "%d snapshots kept", nsnap);
    cr_assert_eq(nlog, 2, "%d logs kept", nlog);
}

Test(wal, should_compact_follows_log_and_snapshot_size)
{
    struct yard_wal_opts o = quiet_opts;
    o.compact_bytes = 4096;
    struct kv model = {0};
    struct yard_wal *w = open_ok(&o);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), 0);
    cr_assert(!yard_wal_should_compact(w));
    int n = 0;
    while (!yard_wal_should_compact(w)) {
        kv_changes(w, &model, 10);
        n += 10;
        cr_assert_lt(n, 1000);
    }
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    cr_assert_gt(st.log_bytes, 4096);
    cr_assert_eq(yard_wal_compact(w, kv_emit, &model), 0);
    cr_assert(!yard_wal_should_compact(w));
    yard_wal_stats(w, &st);
    cr_assert_eq(st.log_bytes, YARD_WAL_LOG_HEADER_BYTES);

    /* a snapshot bigger than compact_bytes/2 raises the bar to twice its size */
    yard_wal_close(w);
    o.compact_bytes = 100;
    w = open_ok(&o);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), 0);
    yard_wal_stats(w, &st);
    uint64_t snap = st.snapshot_bytes;
    cr_assert_gt(snap, 200);
    while (st.log_bytes <= 2 * snap) {
        cr_assert(!yard_wal_should_compact(w), "log %lu <= 2 x snapshot %lu",
                  (unsigned long)st.log_bytes, (unsigned long)snap);
        kv_changes(w, &model, 1);
        yard_wal_stats(w, &st);
    }
    cr_assert(yard_wal_should_compact(w));
    yard_wal_close(w);
}

/* One history, compaction stopped after `stop`: reopening must give the
 * model's state, and the directory must go on working. */
static void crash_during_compaction(enum yard_wal_compact_stop stop)
{
    struct kv model = {0};
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    uint64_t seq = 0;
    for (int round = 0; round < 3; round++) {
        kv_changes(w, &model, 100);
        seq += 100;
        cr_assert_eq(yard_wal_compact(w, kv_emit, &model), 0, "%s", yard_wal_error(w));
    }
    kv_changes(w, &model, 100);
    seq += 100;
    yard_wal_close(w);

    struct yard_wal_opts o = quiet_opts;
    o.stop_compact_after = stop;
    w = open_ok(&o);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), 0);
    kv_changes(w, &model, 37); /* some still buffered when compaction starts */
    seq += 37;
    uint8_t b[16];
    cr_assert_eq(yard_wal_append(w, b, kv_rec(b, 'S', 7, 777), NULL), 0);
    kv_apply(&model, b, 10);
    seq++;
    int r = yard_wal_compact(w, kv_emit, &model);
    cr_assert_eq(r, -ECANCELED, "stop %d: compaction returned %d", stop, r);
    cr_assert_eq(yard_wal_append(w, b, 10, NULL), -ECANCELED, "a stopped log must refuse");
    yard_wal_close(w);

    char what[32];
    snprintf(what, sizeof(what), "stopped at step %d", stop);
    kv_expect(&model, seq, what);
    cr_assert_eq(file_size("snap.tmp"), -1, "%s: snap.tmp left behind", what);

    /* life goes on: more changes, a full compaction, a restart */
    w = open_ok(&quiet_opts);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), 0);
    kv_changes(w, &model, 50);
    seq += 50;
    cr_assert_eq(yard_wal_compact(w, kv_emit, &model), 0, "%s: %s", what, yard_wal_error(w));
    kv_changes(w, &model, 5);
    seq += 5;
    yard_wal_close(w);
    kv_expect(&model, seq, what);
}

Test(wal, crash_after_new_log)
{
    crash_during_compaction(YARD_WAL_STOP_AFTER_NEW_LOG);
}

Test(wal, crash_after_snapshot_temp_written)
{
    crash_during_compaction(YARD_WAL_STOP_AFTER_TEMP_WRITTEN);
}

Test(wal, crash_after_snapshot_renamed)
{
    crash_during_compaction(YARD_WAL_STOP_AFTER_RENAME);
}

Test(wal, crash_during_log_retirement)
{
    crash_during_compaction(YARD_WAL_STOP_AFTER_FIRST_RETIRED);
}

/* The newest snapshot damaged in `how`: the previous snapshot and the logs
 * after it must give the same state, and the damaged file is set aside. */
static void damaged_snapshot(int how)
{
    struct kv model = {0};
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    uint64_t seq = 0;
    for (int round = 0; round < 3; round++) {
        kv_changes(w, &model, 100);
        seq += 100;
        cr_assert_eq(yard_wal_compact(w, kv_emit, &model), 0, "%s", yard_wal_error(w));
    }
    kv_changes(w, &model, 20);
    seq += 20;
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    yard_wal_close(w);

    char name[64];
    snprintf(name, sizeof(name), "snap.%016lx", (unsigned long)st.snapshot_gen);
    size_t len;
    uint8_t *snap = slurp(name, &len);
    if (how == 0)
        snap[len - 3] ^= 0x10; /* body */
    else if (how == 1)
        snap[20] ^= 0x01; /* header */
    else
        len -= 5; /* cut short */
    spit(name, snap, len);
    free(snap);

    nb_log_lines = 0;
    kv_expect(&model, seq, "damaged snapshot");
    cr_assert_eq(nb_log_lines, 1, "%d log lines", nb_log_lines);
    cr_assert(strstr(log_lines[0], name) && strstr(log_lines[0], "damaged"), "%s", log_lines[0]);
    char aside[80];
    snprintf(aside, sizeof(aside), "%s.corrupt", name);
    cr_assert_gt(file_size(aside), 0, "%s not set aside", name);
    cr_assert_eq(file_size(name), -1);

    /* and the fallback is durable: a later compaction and restart agree */
    w = open_ok(&quiet_opts);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), 0);
    yard_wal_stats(w, &st);
    cr_assert_eq(st.snapshots_discarded, 0, "set aside once, not at every start");
    kv_changes(w, &model, 10);
    seq += 10;
    cr_assert_eq(yard_wal_compact(w, kv_emit, &model), 0, "%s", yard_wal_error(w));
    yard_wal_close(w);
    kv_expect(&model, seq, "compaction after the fallback");
}

Test(wal, damaged_snapshot_body_falls_back)
{
    damaged_snapshot(0);
}

Test(wal, damaged_snapshot_header_falls_back)
{
    damaged_snapshot(1);
}

Test(wal, short_snapshot_falls_back)
{
    damaged_snapshot(2);
}

/* log.1 with records 1..10 and log.2 after it, as a compaction that died
 * after creating its new log leaves them; then records 11..12 in log.2. */
static void two_logs(void)
{
    struct yard_wal_opts o = quiet_opts;
    o.stop_compact_after = YARD_WAL_STOP_AFTER_NEW_LOG;
    struct yard_wal *w = open_ok(&o);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), 0);
    append_numbers(w, 1, 10);
    uint64_t last = 10;
    cr_assert_eq(yard_wal_compact(w, emit_numbers, &last), -ECANCELED);
    yard_wal_close(w);
    struct seen s;
    w = open_replay(&s);
    append_numbers(w, 11, 12);
    cr_assert_eq(yard_wal_sync(w), 0);
    yard_wal_close(w);
}

Test(wal, damage_in_an_older_log_is_reported_not_repaired)
{
    two_logs();
    size_t len;
    uint8_t *log = slurp(LOG1, &len);
    log[record_offset(log, 4) + 9] ^= 0x40; /* a payload byte of record 5 */
    spit(LOG1, log, len);
    free(log);

    struct seen s = {0};
    struct yard_wal *w = open_ok(&quiet_opts);
    int r = yard_wal_replay(w, collect, &s);
    cr_assert_eq(r, -EUCLEAN, "replay returned %d", r);
    cr_assert(strstr(yard_wal_error(w), LOG1), "message: %s", yard_wal_error(w));
    cr_assert_eq(file_size(LOG1), (long)len, "an older log must not be truncated");
    cr_assert_eq(s.bad, 0, "the damaged record was fed");
    cr_assert_eq(yard_wal_append(w, "x", 1, NULL), -EINVAL);
    yard_wal_close(w);
}

Test(wal, torn_creation_of_the_newest_log_is_repaired)
{
    two_logs();
    size_t len;
    uint8_t *log = slurp(LOG2, &len);
    for (size_t cut = 0; cut < YARD_WAL_LOG_HEADER_BYTES; cut += 7) {
        spit(LOG2, log, cut); /* the header of a log that had no record yet */
        nb_log_lines = 0;
        struct seen s;
        struct yard_wal *w = open_replay(&s);
        cr_assert_eq(s.n, 10, "cut %zu: %lu records", cut, (unsigned long)s.n);
        struct yard_wal_stats st;
        yard_wal_stats(w, &st);
        cr_assert_eq(st.torn_tails, cut > 0, "cut %zu", cut);
        cr_assert_eq(nb_log_lines, cut > 0, "cut %zu", cut);
        cr_assert_eq(file_size(LOG2), YARD_WAL_LOG_HEADER_BYTES);
        append_numbers(w, 11, 11);
        cr_assert_eq(yard_wal_sync(w), 0);
        yard_wal_close(w);
        w = open_replay(&s);
        cr_assert_eq(s.n, 11);
        yard_wal_close(w);
    }
    /* a damaged header in front of records is not a torn creation */
    log[5] ^= 0x20;
    spit(LOG2, log, len);
    free(log);
    struct yard_wal *w = open_ok(&quiet_opts);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), -EUCLEAN);
    cr_assert(strstr(yard_wal_error(w), LOG2), "message: %s", yard_wal_error(w));
    yard_wal_close(w);
    cr_assert_eq(file_size(LOG2), (long)len, "the damaged log must be left as it is");
}

Test(wal, records_missing_between_logs_are_detected)
{
    /* log.1 losing its last record at a clean boundary looks whole on its
     * own; log.2's first sequence number gives it away */
    two_logs();
    size_t len;
    uint8_t *log = slurp(LOG1, &len);
    spit(LOG1, log, record_offset(log, 9));
    free(log);
    struct yard_wal *w = open_ok(&quiet_opts);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), -EUCLEAN);
    cr_assert(strstr(yard_wal_error(w), LOG2), "message: %s", yard_wal_error(w));
    yard_wal_close(w);
}

Test(wal, missing_log_is_reported)
{
    two_logs();
    long size2 = file_size(LOG2);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, LOG1);
    cr_assert_eq(unlink(path), 0);
    struct yard_wal *w = open_ok(&quiet_opts);
    cr_assert_eq(yard_wal_replay(w, NULL, NULL), -EUCLEAN);
    cr_assert(strstr(yard_wal_error(w), LOG1), "message: %s", yard_wal_error(w));
    yard_wal_close(w);
    cr_assert_eq(file_size(LOG2), size2, "log.2 must be left alone");
}

static int emit_half_then_fail(void *arg, struct yard_wal_snapshot_writer *sw)
{
    (void)arg;
    yard_wal_snapshot_add(sw, "half", 4);
    return -EIO;
}

Test(wal, failed_emit_leaves_the_state_alone)
{
    struct kv model = {0};
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    kv_changes(w, &model, 100);
    cr_assert_eq(yard_wal_compact(w, emit_half_then_fail, NULL), -EIO);
    cr_assert_eq(file_size("snap.tmp"), -1);
    kv_changes(w, &model, 10); /* not sticky */
    yard_wal_close(w);
    kv_expect(&model, 110, "after a failed compaction");
}

/* ---- the lock ---- */

Test(wal, second_opener_is_refused_with_the_holders_pid)
{
    struct yard_wal *w = open_ok(&quiet_opts);
    struct yard_wal *w2 = NULL;
    char err[512];
    cr_assert_eq(yard_wal_open(&w2, dir, &quiet_opts, err, sizeof(err)), -EBUSY);
    cr_assert_null(w2);
    yard_wal_close(w);

    /* held by another process */
    int ready[2], go[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* only the parent holds go's write end: if the parent dies, read()
         * returns 0 and the child does not linger */
        close(go[1]);
        close(ready[0]);
        struct yard_wal *cw;
        char cerr[512];
        int ok = yard_wal_open(&cw, dir, &quiet_opts, cerr, sizeof(cerr)) == 0;
        char c = ok ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) < 0)
            _exit(2);
        _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    char c = 0;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    cr_assert_eq(c, 'y');
    int r = yard_wal_open(&w2, dir, &quiet_opts, err, sizeof(err));
    cr_assert_eq(r, -EBUSY);
    char want[32];
    snprintf(want, sizeof(want), "pid %d", (int)pid);
    cr_assert(strstr(err, want) && strstr(err, dir), "message: %s", err);
    cr_assert_eq(write(go[1], "x", 1), 1);
    int status;
    waitpid(pid, &status, 0);
    cr_assert_eq(yard_wal_open(&w2, dir, &quiet_opts, err, sizeof(err)), 0,
                 "lock not released when its holder exited: %s", err);
    yard_wal_close(w2);
}

/* ---- a failed write stops the log ---- */

Test(wal, write_failure_is_sticky)
{
    /* RLIMIT_FSIZE makes the kernel refuse to grow the log: a real write
     * error (EFBIG), in a child so the limit stays there. */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct yard_wal *w;
        char err[512];
        if (yard_wal_open(&w, dir, &quiet_opts, err, sizeof(err)) < 0 ||
            yard_wal_replay(w, NULL, NULL) < 0)
            _exit(10);
        struct rlimit rl = {.rlim_cur = 4000, .rlim_max = RLIM_INFINITY};
        setrlimit(RLIMIT_FSIZE, &rl);
        uint8_t buf[128];
        uint64_t n = 1;
        int r = 0;
        for (; n < 1000 && r == 0; n++) {
            if (yard_wal_append(w, buf, make_rec(n, buf), NULL) < 0)
                _exit(11);
            r = yard_wal_sync(w);
        }
        if (r != -EFBIG)
            _exit(12);
        if (!strstr(yard_wal_error(w), LOG1) || !strstr(yard_wal_error(w), "restart"))
            _exit(13);
        if (yard_wal_append(w, buf, 8, NULL) != -EFBIG || yard_wal_sync(w) != -EFBIG)
            _exit(14);
        uint64_t last = n;
        if (yard_wal_compact(w, emit_numbers, &last) != -EFBIG)
            _exit(15);
        struct yard_wal_stats st;
        yard_wal_stats(w, &st);
        if (st.sticky_error != -EFBIG || st.durable_seq != n - 2)
            _exit(16);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child check %d failed",
              WEXITSTATUS(status));

    /* what made it to disk replays, the half-written record does not */
    struct seen s;
    struct yard_wal *w = open_replay(&s);
    cr_assert_gt(s.n, 0);
    cr_assert_leq(file_size(LOG1), 4000);
    append_numbers(w, s.n + 1, s.n + 1);
    cr_assert_eq(yard_wal_sync(w), 0);
    yard_wal_close(w);
}

/* ---- SIGKILL in the middle of group commits ---- */

/* The child: appends numbered records in random batches, syncs, reports the
 * durable number on fd; compacts when due. Runs until killed. */
static void writer_child(int fd, unsigned seed)
{
    struct yard_wal_opts o = quiet_opts;
    o.compact_bytes = 16 << 10;
    struct yard_wal *w;
    char err[512];
    struct seen s = {0};
    if (yard_wal_open(&w, dir, &o, err, sizeof(err)) < 0 || yard_wal_replay(w, collect, &s) < 0)
        _exit(20);
    uint64_t last = s.last;
    uint8_t buf[128];
    srand(seed);
    for (;;) {
        int batch = 1 + rand() % 40;
        for (int i = 0; i < batch; i++) {
            uint64_t seq;
            last++;
            if (yard_wal_append(w, buf, make_rec(last, buf), &seq) < 0)
                _exit(21);
            if (seq != last)
                _exit(22);
        }
        if (yard_wal_sync(w) < 0)
            _exit(23);
        if (write(fd, &last, sizeof(last)) != sizeof(last))
            _exit(24);
        if (yard_wal_should_compact(w) && yard_wal_compact(w, emit_numbers, &last) < 0)
            _exit(25);
    }
}

Test(wal, sigkill_never_loses_a_durable_record, .timeout = 120)
{
    uint64_t reported = 0;
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    cr_log_info("seed %u", seed);
    uint64_t torn = 0, snapshots = 0;
    for (int iter = 0; iter < 200; iter++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        unsigned child_seed = (unsigned)rand();
        long delay_us = rand() % 20001;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            writer_child(p[1], child_seed);
        }
        close(p[1]);
        struct timespec ts = {0, delay_us * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        uint64_t v;
        while (read(p[0], &v, sizeof(v)) == sizeof(v))
            reported = v > reported ? v : reported;
        close(p[0]);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "iteration %d: child exited with %d instead of being killed", iter,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);

        struct seen s;
        struct yard_wal *w = open_replay(&s); /* asserts 1..n, nothing damaged */
        cr_assert_geq(s.last, reported,
                      "iteration %d (delay %ld us): record %lu was reported durable but "
                      "replay ends at %lu",
                      iter, delay_us, (unsigned long)reported, (unsigned long)s.last);
        struct yard_wal_stats st;
        yard_wal_stats(w, &st);
        torn += st.torn_tails;
        snapshots += st.snapshot_gen != 0;
        yard_wal_close(w);
    }
    cr_assert_gt(reported, 1000, "the children barely wrote (%lu records)",
                 (unsigned long)reported);
    cr_log_info("%lu records durable, %lu torn tails recovered, %lu restarts from a snapshot",
                (unsigned long)reported, (unsigned long)torn, (unsigned long)snapshots);
}
