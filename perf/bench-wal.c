/*
 * bench-wal.c - what the write-ahead log costs yard-control: append-to-
 * durable latency under group commit, cold replay time, compaction time.
 *
 *   bench-wal [--dir D] [--runs K] [--keep]
 *             [--rate R] [--size B] [--seconds S] [--batch N] [--round-us T]
 *             [--baseline]
 *   bench-wal [--dir D] [--runs K] --replay N
 *   bench-wal [--dir D] [--runs K] --compact N
 *
 * Latency mode plays the event loop: records arrive on an open-loop
 * schedule (R per second, so a slow fsync cannot slow the offered load);
 * each round takes what arrived (at most N with --batch, waiting at least
 * T us with --round-us), appends it, and calls yard_wal_sync() once. A
 * record's latency is measured from its arrival (which includes waiting for
 * the previous round's fdatasync, as a client would see it) and from its
 * append, to the return of the fdatasync that made it durable. --baseline
 * repeats each run on a plain file with the same bytes, pwrite and fdatasync
 * and no log, so the log's own share can be told from the disk's.
 *
 * --replay N writes N records of 52..68 bytes, evicts the files from the page
 * cache (posix_fadvise DONTNEED, checked with mincore) and times open +
 * replay with a callback that reads every byte, cold and then warm.
 * --compact N builds a log of N such records and times yard_wal_compact()
 * rewriting them as N live records, then the cold replay of the snapshot.
 *
 * The state directory defaults to a new directory under /var/tmp (/tmp may be
 * tmpfs, where fdatasync costs nothing); the filesystem type is printed
 * because the numbers mean nothing without it. Each run uses a fresh
 * subdirectory; with --runs K the medians of the K runs are printed last.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "wal.h"

#define MAX_RUNS    32
#define MAX_METRICS 32

struct opts {
    const char *dir;
    int runs;
    int keep;
    double rate;
    size_t size;
    double seconds;
    uint64_t batch;
    uint64_t round_us;
    uint64_t replay_n;
    uint64_t compact_n;
    int baseline;
};

/* One run's results, by name, for the medians. */
struct metrics {
    int n;
    const char *name[MAX_METRICS];
    double v[MAX_METRICS];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000ull),
                          .tv_nsec = (long)(t_ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void put(struct metrics *m, const char *name, double v)
{
    if (m->n < MAX_METRICS) {
        m->name[m->n] = name;
        m->v[m->n++] = v;
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void fill(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rnd();
}

static const char *fs_name(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) < 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case EXT4_SUPER_MAGIC:
        return "ext2/3/4";
    case TMPFS_MAGIC:
        return "tmpfs (fdatasync is a no-op: numbers are meaningless)";
    case XFS_SUPER_MAGIC:
        return "xfs";
    case BTRFS_SUPER_MAGIC:
        return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
        return "overlayfs";
    default:
        return "other";
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static struct yard_wal *open_or_die(const char *dir)
{
    struct yard_wal *w;
    char err[512];
    int r = yard_wal_open(&w, dir, NULL, err, sizeof(err));
    if (r < 0) {
        fprintf(stderr, "bench-wal: %s\n", err);
        exit(1);
    }
    return w;
}

static void check(struct yard_wal *w, int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "bench-wal: %s: %s (%s)\n", what, yard_wal_error(w), strerror(-r));
        exit(1);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank quantile of sorted values. */
static uint64_t quantile(const uint64_t *v, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    return v[rank > n ? n - 1 : rank - 1];
}

/* ---- latency ---- */

/*
 * Where the latency loop writes: the log, or (the baseline) a plain file
 * given the same framed bytes with the same pwrite + fdatasync per round,
 * which is what the disk alone costs.
 */
struct sink {
    struct yard_wal *w;
    int fd;
    uint8_t *buf;
    size_t len, cap;
    uint64_t off;
};

static void sink_open(struct sink *k, const char *dir, int raw)
{
    memset(k, 0, sizeof(*k));
    k->fd = -1;
    if (!raw) {
        k->w = open_or_die(dir);
        check(k->w, yard_wal_replay(k->w, NULL, NULL), "replay");
        return;
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s/raw.dat", dir);
    if (mkdir(dir, 0750) < 0 || (k->fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0640)) < 0) {
        fprintf(stderr, "bench-wal: cannot create %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static void sink_append(struct sink *k, const uint8_t *rec, size_t len)
{
    if (k->w) {
        check(k->w, yard_wal_append(k->w, rec, len, NULL), "append");
        return;
    }
    if (k->len + len + YARD_WAL_FRAME_BYTES > k->cap) {
        k->cap = (k->len + len + YARD_WAL_FRAME_BYTES) * 2;
        k->buf = realloc(k->buf, k->cap);
        if (!k->buf) {
            fprintf(stderr, "bench-wal: out of memory\n");
            exit(1);
        }
    }
    memset(k->buf + k->len, 0, YARD_WAL_FRAME_BYTES);
    memcpy(k->buf + k->len + YARD_WAL_FRAME_BYTES, rec, len);
    k->len += YARD_WAL_FRAME_BYTES + len;
}

static void sink_sync(struct sink *k)
{
    if (k->w) {
        check(k->w, yard_wal_sync(k->w), "sync");
        return;
    }
    if (pwrite(k->fd, k->buf, k->len, (off_t)k->off) != (ssize_t)k->len || fdatasync(k->fd) < 0) {
        fprintf(stderr, "bench-wal: baseline write: %s\n", strerror(errno));
        exit(1);
    }
    k->off += k->len;
    k->len = 0;
}

static void sink_close(struct sink *k)
{
    if (k->w) {
        struct yard_wal_stats st;
        yard_wal_stats(k->w, &st);
        printf("    yard_wal_sync us: p50 %.1f  p99 %.1f  max %.1f (library histogram)\n",
               yard_wal_sync_latency_ns(&st, 0.5) / 1e3, yard_wal_sync_latency_ns(&st, 0.99) / 1e3,
               st.max_sync_ns / 1e3);
        yard_wal_close(k->w);
    }
    if (k->fd >= 0)
        close(k->fd);
    free(k->buf);
}

/* Metric names, [0] for the log and [1] for the baseline. */
static const char *const lat_names[2][11] = {
    {"records/s", "fsyncs/s", "records/fsync", "arrival->durable p50 us", "arrival->durable p90 us",
     "arrival->durable p99 us", "arrival->durable max us", "append->durable p50 us",
     "append->durable p90 us", "append->durable p99 us", "append->durable max us"},
    {"baseline records/s", "baseline fsyncs/s", "baseline records/fsync",
     "baseline arrival->durable p50", "baseline arrival->durable p90",
     "baseline arrival->durable p99", "baseline arrival->durable max",
     "baseline append->durable p50", "baseline append->durable p90", "baseline append->durable p99",
     "baseline append->durable max"},
};

static void run_latency(const struct opts *o, const char *dir, struct metrics *m, int raw)
{
    struct sink k;
    sink_open(&k, dir, raw);
    uint64_t total = (uint64_t)(o->rate * o->seconds);
    uint64_t *arrival_lat = malloc(total * sizeof(uint64_t));
    uint64_t *append_lat = malloc(total * sizeof(uint64_t));
    uint64_t *append_t = malloc(total * sizeof(uint64_t));
    uint8_t *rec = malloc(o->size + 1);
    if (!arrival_lat || !append_lat || !append_t || !rec) {
        fprintf(stderr, "bench-wal: out of memory for %" PRIu64 " records\n", total);
        exit(1);
    }
    fill(rec, o->size + 1);
    double gap_ns = 1e9 / o->rate;
    uint64_t t0 = now_ns() + 1000000;
    uint64_t next = 0, syncs = 0, max_batch = 0;
    while (next < total) {
        uint64_t round_start = now_ns();
        uint64_t first_arrival = t0 + (uint64_t)((double)next * gap_ns);
        if (first_arrival > round_start) {
            /* nothing arrived yet: the loop would sit in epoll_wait */
            sleep_until(first_arrival);
            round_start = now_ns();
        }
        if (o->round_us)
            sleep_until(round_start + o->round_us * 1000);
        uint64_t t = now_ns();
        uint64_t first = next;
        while (next < total && t0 + (uint64_t)((double)next * gap_ns) <= t &&
               (o->batch == 0 || next - first < o->batch)) {
            rec[0] = (uint8_t)next;
            sink_append(&k, rec, o->size);
            append_t[next++] = now_ns();
        }
        sink_sync(&k);
        uint64_t done = now_ns();
        syncs++;
        if (next - first > max_batch)
            max_batch = next - first;
        for (uint64_t i = first; i < next; i++) {
            arrival_lat[i] = done - (t0 + (uint64_t)((double)i * gap_ns));
            append_lat[i] = done - append_t[i];
        }
    }
    uint64_t elapsed = now_ns() - t0;

    qsort(arrival_lat, total, sizeof(uint64_t), cmp_u64);
    qsort(append_lat, total, sizeof(uint64_t), cmp_u64);
    double secs = (double)elapsed / 1e9;
    printf("  %s: %" PRIu64 " records of %zu B in %.2f s: %.0f records/s, %.0f fsyncs/s, %.1f "
           "records per fsync (max %" PRIu64 ")\n",
           raw ? "baseline (plain file)" : "log", total, o->size, secs, (double)total / secs,
           (double)syncs / secs, (double)total / (double)syncs, max_batch);
    printf("    arrival->durable us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
           quantile(arrival_lat, total, 0.5) / 1e3, quantile(arrival_lat, total, 0.9) / 1e3,
           quantile(arrival_lat, total, 0.99) / 1e3, quantile(arrival_lat, total, 0.999) / 1e3,
           arrival_lat[total - 1] / 1e3);
    printf("    append->durable  us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
           quantile(append_lat, total, 0.5) / 1e3, quantile(append_lat, total, 0.9) / 1e3,
           quantile(append_lat, total, 0.99) / 1e3, quantile(append_lat, total, 0.999) / 1e3,
           append_lat[total - 1] / 1e3);
    sink_close(&k);
    const char *const *n = lat_names[raw ? 1 : 0];
    put(m, n[0], (double)total / secs);
    put(m, n[1], (double)syncs / secs);
    put(m, n[2], (double)total / (double)syncs);
    put(m, n[3], quantile(arrival_lat, total, 0.5) / 1e3);
    put(m, n[4], quantile(arrival_lat, total, 0.9) / 1e3);
    put(m, n[5], quantile(arrival_lat, total, 0.99) / 1e3);
    put(m, n[6], arrival_lat[total - 1] / 1e3);
    put(m, n[7], quantile(append_lat, total, 0.5) / 1e3);
    put(m, n[8], quantile(append_lat, total, 0.9) / 1e3);
    put(m, n[9], quantile(append_lat, total, 0.99) / 1e3);
    put(m, n[10], append_lat[total - 1] / 1e3);
    free(arrival_lat);
    free(append_lat);
    free(append_t);
    free(rec);
}

/* ---- replay and compaction ---- */

/* Random bytes that records are cut from: generating them per record would
 * cost more than the log itself and blur the numbers. */
#define POOL_BYTES (1u << 20)
static uint8_t *pool;

/* A record of 52..68 bytes, like an encoded endpoint registration. */
static const uint8_t *small_rec(size_t *len)
{
    if (!pool) {
        pool = malloc(POOL_BYTES);
        if (!pool) {
            fprintf(stderr, "bench-wal: out of memory\n");
            exit(1);
        }
        fill(pool, POOL_BYTES);
    }
    uint64_t r = rnd();
    *len = 52 + r % 17;
    return pool + (r >> 8) % (POOL_BYTES - 128);
}

static void write_records(struct yard_wal *w, uint64_t n)
{
    for (uint64_t i = 1; i <= n; i++) {
        size_t len;
        const uint8_t *b = small_rec(&len);
        check(w, yard_wal_append(w, b, len, NULL), "append");
        if (i % 10000 == 0 || i == n)
            check(w, yard_wal_sync(w), "sync");
    }
}

struct sum {
    uint64_t records;
    uint64_t bytes;
    uint64_t x; /* every byte read, so the compiler keeps the reads */
};

static int consume(void *arg, const void *rec, size_t len)
{
    struct sum *s = arg;
    const uint8_t *b = rec;
    s->records++;
    s->bytes += len;
    for (size_t i = 0; i < len; i++)
        s->x += b[i];
    return 0;
}

/* Evict dir's files from the page cache; return the fraction still resident. */
static double evict(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    uint64_t pages = 0, resident = 0;
    long psz = sysconf(_SC_PAGESIZE);
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        int fd = open(path, O_RDONLY);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_size == 0) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            size_t np = ((size_t)sb.st_size + (size_t)psz - 1) / (size_t)psz;
            unsigned char *vec = malloc(np);
            if (vec && mincore(p, (size_t)sb.st_size, vec) == 0)
                for (size_t i = 0; i < np; i++)
                    resident += vec[i] & 1;
            pages += np;
            free(vec);
            munmap(p, (size_t)sb.st_size);
        }
        close(fd);
    }
    if (d)
        closedir(d);
    return pages ? (double)resident / (double)pages : 0;
}

/* Open + replay; returns ms. */
static double timed_replay(const char *dir, struct sum *s, struct yard_wal_stats *st)
{
    memset(s, 0, sizeof(*s));
    uint64_t t = now_ns();
    struct yard_wal *w = open_or_die(dir);
    check(w, yard_wal_replay(w, consume, s), "replay");
    double ms = (double)(now_ns() - t) / 1e6;
    yard_wal_stats(w, st);
    yard_wal_close(w);
    return ms;
}

static void run_replay(const struct opts *o, const char *dir, struct metrics *m)
{
    struct yard_wal *w = open_or_die(dir);
    check(w, yard_wal_replay(w, NULL, NULL), "replay");
    write_records(w, o->replay_n);
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    yard_wal_close(w);
    uint64_t log_bytes = st.log_bytes;

    double resident = evict(dir);
    struct sum s;
    double cold = timed_replay(dir, &s, &st);
    double warm = timed_replay(dir, &s, &st);
    if (s.records != o->replay_n) {
        fprintf(stderr, "bench-wal: replay gave %" PRIu64 " records, wrote %" PRIu64 "\n",
                s.records, o->replay_n);
        exit(1);
    }
    printf("  %" PRIu64 " records, %.1f MB of log; page cache before the cold replay: %.1f%% "
           "resident\n",
           s.records, (double)log_bytes / 1e6, resident * 100);
    printf("  cold replay %.1f ms (%.2f M records/s, %.0f MB/s); warm replay %.1f ms\n", cold,
           (double)s.records / cold / 1e3, (double)log_bytes / cold / 1e3, warm);
    put(m, "cold replay ms", cold);
    put(m, "warm replay ms", warm);
    put(m, "log MB", (double)log_bytes / 1e6);
}

static int emit_live(void *arg, struct yard_wal_snapshot_writer *sw)
{
    uint64_t n = *(uint64_t *)arg;
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *b = small_rec(&len);
        int r = yard_wal_snapshot_add(sw, b, len);
        if (r < 0)
            return r;
    }
    return 0;
}

static void run_compact(const struct opts *o, const char *dir, struct metrics *m)
{
    struct yard_wal *w = open_or_die(dir);
    check(w, yard_wal_replay(w, NULL, NULL), "replay");
    write_records(w, o->compact_n);
    uint64_t n = o->compact_n;
    uint64_t t = now_ns();
    check(w, yard_wal_compact(w, emit_live, &n), "compact");
    double ms = (double)(now_ns() - t) / 1e6;
    struct yard_wal_stats st;
    yard_wal_stats(w, &st);
    yard_wal_close(w);
    uint64_t snap_bytes = st.snapshot_bytes;

    double resident = evict(dir);
    struct sum s;
    double cold = timed_replay(dir, &s, &st);
    printf("  compaction of %" PRIu64 " live records: %.1f ms, snapshot %.1f MB\n", n, ms,
           (double)snap_bytes / 1e6);
    printf("  cold replay from the snapshot: %.1f ms (%.1f%% resident before)\n", cold,
           resident * 100);
    put(m, "compact ms", ms);
    put(m, "snapshot MB", (double)snap_bytes / 1e6);
    put(m, "cold replay of snapshot ms", cold);
}

/* ---- what else the machine did during a run ---- */

/* Busy and total CPU time of the whole machine (/proc/stat, in ticks), this
 * process's CPU time, and sectors written by the disk holding the state
 * directory: a run is only as good as the quiet around it. */
struct machine {
    double busy_ticks, all_ticks, self_s;
    double disk_sectors;
};

static void machine_sample(const char *dir, struct machine *mc)
{
    memset(mc, 0, sizeof(*mc));
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        double v[10] = {0};
        if (fscanf(f, "cpu %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8) {
            for (int i = 0; i < 8; i++)
                mc->all_ticks += v[i];
            mc->busy_ticks = mc->all_ticks - v[3] - v[4]; /* minus idle and iowait */
        }
        fclose(f);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    mc->self_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    struct stat sb;
    char path[128];
    if (stat(dir, &sb) == 0) {
        /* the partition's own stat, or its disk's when it is a whole disk */
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat", major(sb.st_dev),
                 minor(sb.st_dev));
        f = fopen(path, "r");
        if (f) {
            double v[7];
            if (fscanf(f, "%lf %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                       &v[6]) == 7)
                mc->disk_sectors = v[6];
            fclose(f);
        }
    }
}

static void machine_report(const struct machine *a, const struct machine *b, struct metrics *m)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double tick = (double)sysconf(_SC_CLK_TCK);
    double all = b->all_ticks - a->all_ticks;
    double others =
        all > 0 ? ((b->busy_ticks - a->busy_ticks) - (b->self_s - a->self_s) * tick) / all * 100
                : 0;
    if (others < 0)
        others = 0;
    double mb = (b->disk_sectors - a->disk_sectors) * 512 / 1e6;
    printf("  meanwhile: other processes kept %.0f%% of %ld CPUs busy; the disk wrote %.1f MB\n",
           others, ncpu, mb);
    put(m, "others' CPU %", others);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench-wal [--dir DIR] [--runs K] [--keep]\n"
            "                 [--rate R] [--size BYTES] [--seconds S] [--batch N] [--round-us T]\n"
            "                 [--baseline]\n"
            "       bench-wal [--dir DIR] [--runs K] --replay N\n"
            "       bench-wal [--dir DIR] [--runs K] --compact N\n"
            "  --rate R      offered records per second (default 20000)\n"
            "  --size BYTES  record payload (default 100, at most %u)\n"
            "  --seconds S   how long to offer (default 5)\n"
            "  --batch N     at most N records per group commit (default: all that arrived)\n"
            "  --round-us T  each event-loop round gathers for at least T us (default 0)\n"
            "  --baseline    after each run, the same load on a plain file: pwrite +\n"
            "                fdatasync of the same bytes, no log (what the disk alone costs)\n"
            "  --dir DIR     base directory for the state directories (default: a new one\n"
            "                under /var/tmp); each run uses DIR/run-K, which must not exist\n",
            YARD_WAL_MAX_RECORD_BYTES);
    exit(2);
}

static double num(const char *opt, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || v < 0) {
        fprintf(stderr, "bench-wal: %s wants a non-negative number, not '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct opts o = {.runs = 1, .rate = 20000, .size = 100, .seconds = 5};
    static const struct option lo[] = {
        {"dir", required_argument, NULL, 'd'},
        {"runs", required_argument, NULL, 'k'},
        {"keep", no_argument, NULL, 'K'},
        {"rate", required_argument, NULL, 'r'},
        {"size", required_argument, NULL, 's'},
        {"seconds", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},
        {"round-us", required_argument, NULL, 'u'},
        {"replay", required_argument, NULL, 'R'},
        {"compact", required_argument, NULL, 'C'},
        {"baseline", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.dir = optarg;
            break;
        case 'k':
            o.runs = (int)num("--runs", optarg);
            break;
        case 'B':
            o.baseline = 1;
            break;
        case 'K':
            o.keep = 1;
            break;
        case 'r':
            o.rate = num("--rate", optarg);
            break;
        case 's':
            o.size = (size_t)num("--size", optarg);
            break;
        case 't':
            o.seconds = num("--seconds", optarg);
            break;
        case 'b':
            o.batch = (uint64_t)num("--batch", optarg);
            break;
        case 'u':
            o.round_us = (uint64_t)num("--round-us", optarg);
            break;
        case 'R':
            o.replay_n = (uint64_t)num("--replay", optarg);
            break;
        case 'C':
            o.compact_n = (uint64_t)num("--compact", optarg);
            break;
        default:
            usage();
        }
    }
    if (optind < argc || o.runs < 1 || o.runs > MAX_RUNS || o.rate <= 0 ||
        o.size > YARD_WAL_MAX_RECORD_BYTES || o.rate * o.seconds < 1 ||
        (o.replay_n && o.compact_n) || (o.baseline && (o.replay_n || o.compact_n)))
        usage();

    char base[4096];
    int made_base = 0;
    if (o.dir) {
        snprintf(base, sizeof(base), "%s", o.dir);
        if (mkdir(base, 0750) < 0 && errno != EEXIST) {
            fprintf(stderr, "bench-wal: cannot create %s: %s\n", base, strerror(errno));
            return 1;
        }
    } else {
        snprintf(base, sizeof(base), "/var/tmp/bench-wal.XXXXXX");
        if (!mkdtemp(base)) {
            fprintf(stderr, "bench-wal: cannot create %s: %s\n", base, strerror(errno));
            return 1;
        }
        made_base = 1;
    }
    /* timers as precise as the event loop's epoll_wait timeouts would be */
    prctl(PR_SET_TIMERSLACK, 1000UL);

    printf("bench-wal: state directories under %s, filesystem %s\n", base, fs_name(base));
    if (o.replay_n)
        printf("mode: replay of %" PRIu64 " records of 52..68 B\n", o.replay_n);
    else if (o.compact_n)
        printf("mode: compaction of %" PRIu64 " records of 52..68 B\n", o.compact_n);
    else
        printf("mode: latency, %.0f records/s offered for %.1f s, %zu B each, batch %s%" PRIu64
               ", round %" PRIu64 " us\n",
               o.rate, o.seconds, o.size, o.batch ? "<= " : "unlimited ", o.batch, o.round_us);

    struct metrics m[MAX_RUNS];
    for (int run = 0; run < o.runs; run++) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/run-%d", base, run + 1);
        struct stat sb;
        if (stat(dir, &sb) == 0) {
            fprintf(stderr, "bench-wal: %s exists; give an empty --dir\n", dir);
            return 1;
        }
        printf("run %d:\n", run + 1);
        memset(&m[run], 0, sizeof(m[run]));
        struct machine before, after;
        machine_sample(base, &before);
        if (o.replay_n)
            run_replay(&o, dir, &m[run]);
        else if (o.compact_n)
            run_compact(&o, dir, &m[run]);
        else
            run_latency(&o, dir, &m[run], 0);
        if (o.baseline) {
            /* right after, in the same conditions */
            char raw[4300];
            snprintf(raw, sizeof(raw), "%s-baseline", dir);
            run_latency(&o, raw, &m[run], 1);
            if (!o.keep)
                nftw(raw, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
        machine_sample(base, &after);
        machine_report(&before, &after, &m[run]);
        if (!o.keep)
            nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        fflush(stdout);
    }
    if (o.runs > 1) {
        printf("median of %d runs:\n", o.runs);
        for (int i = 0; i < m[0].n; i++) {
            double v[MAX_RUNS];
            for (int run = 0; run < o.runs; run++)
                v[run] = m[run].v[i];
            qsort(v, (size_t)o.runs, sizeof(double), cmp_double);
            double med = o.runs % 2 ? v[o.runs / 2] : (v[o.runs / 2 - 1] + v[o.runs / 2]) / 2;
            printf("  %-28s %12.1f   (min %.1f, max %.1f)\n", m[0].name[i], med, v[0],
                   v[o.runs - 1]);
        }
    }
    if (made_base && !o.keep)
        rmdir(base);
    return 0;
}
