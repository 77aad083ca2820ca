/*
 * wal.c - the write-ahead log: framing, replay with torn-tail recovery, group
 * commit, snapshots and compaction (see wal.h for the contract and the
 * on-disk format).
 *
 * Why it is built this way:
 * - Appends only fill a memory buffer, so the event loop never blocks on a
 *   record; one pwrite + one fdatasync per round (group commit) is the only
 *   I/O on the hot path. pwrite at a tracked offset, not O_APPEND, so a short
 *   write can be resumed at the right place.
 * - Replay maps each file (MAP_POPULATE: one large sequential read when the
 *   file is cold) and walks it in place: no copy, one CRC per record.
 * - A log file is only ever appended to after its header has been fsynced,
 *   and a new log file is only created after the previous one is fully
 *   synced, so damage from a crash can only sit at the end of the newest log
 *   file. Damage anywhere else is reported, never repaired.
 * - Snapshots are checked whole (body CRC, framing, record count) before the
 *   first record is fed, because a half-applied snapshot cannot be undone.
 */
#include "wal.h"

#include "crc32c.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_MAGIC       0x314C5759u           /* "YWL1" read as LE u32 */
#define SNAP_MAGIC      0x31504E534C415759ull /* "YWALSNP1" read as LE u64 */
#define FORMAT_VERSION  1u
#define DEFAULT_COMPACT (64ull << 20)
#define SNAP_BUF_BYTES  (1u << 20)
#define APPEND_BUF_MIN  (64u << 10)
#define APPEND_BUF_KEEP (8u << 20) /* a buffer grown above this is freed after a sync */
#define SNAP_TMP_NAME   "snap.tmp"
#define LOCK_NAME       "lock"
#define NAME_BYTES      48

struct yard_wal {
    char *dir;
    int dirfd;
    int lockfd;
    struct yard_wal_opts opts;
    bool replayed;

    int logfd; /* the log appends go to */
    uint64_t log_gen;
    uint64_t log_end; /* its size: where the next pwrite goes */
    uint64_t next_seq;

    uint8_t *buf; /* framed records waiting for yard_wal_sync() */
    size_t buf_len;
    size_t buf_cap;

    int sticky;
    char err[512];
    struct yard_wal_stats st;
};

struct yard_wal_snapshot_writer {
    struct yard_wal *w;
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t off; /* file offset of buf[0] */
    uint64_t count;
    uint64_t body_bytes;
    uint32_t body_crc;
    int err;
};

/* A sorted list of generation numbers found in the directory. */
struct gens {
    uint64_t *v;
    size_t n;
    size_t cap;
};

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *b, uint64_t v)
{
    put_le32(b, (uint32_t)v);
    put_le32(b + 4, (uint32_t)(v >> 32));
}

static uint32_t get_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get_le64(const uint8_t *b)
{
    return (uint64_t)get_le32(b) | (uint64_t)get_le32(b + 4) << 32;
}

static void log_name(char *name, uint64_t gen)
{
    snprintf(name, NAME_BYTES, "log.%016" PRIx64, gen);
}

static void snap_name(char *name, uint64_t gen)
{
    snprintf(name, NAME_BYTES, "snap.%016" PRIx64, gen);
}

__attribute__((format(printf, 3, 4))) static int set_err(struct yard_wal *w, int err,
                                                         const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(w->err, sizeof(w->err), "wal %s: ", w->dir);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof(w->err))
        vsnprintf(w->err + n, sizeof(w->err) - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

/* Record a failure that makes every later write refuse (see wal.h). */
static int set_sticky(struct yard_wal *w, int err)
{
    w->sticky = err;
    w->st.sticky_error = err;
    return err;
}

__attribute__((format(printf, 3, 4))) static void wal_log(struct yard_wal *w, int level,
                                                          const char *fmt, ...)
{
    char line[600];
    va_list ap;
    int n = snprintf(line, sizeof(line), "wal %s: ", w->dir);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (w->opts.log_fn)
        w->opts.log_fn(w->opts.log_arg, level, line);
    else
        fprintf(stderr, "%s\n", line);
}

static int gens_push(struct gens *g, uint64_t v)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        uint64_t *nv = realloc(g->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        g->v = nv;
        g->cap = cap;
    }
    g->v[g->n++] = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "log.<16 hex>" or "snap.<16 hex>": the generation, or false. */
static bool parse_gen(const char *name, const char *prefix, uint64_t *gen)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0 || strlen(name + pl) != 16)
        return false;
    uint64_t v = 0;
    for (const char *c = name + pl; *c; c++) {
        int d;
        if (*c >= '0' && *c <= '9')
            d = *c - '0';
        else if (*c >= 'a' && *c <= 'f')
            d = *c - 'a' + 10;
        else
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *gen = v;
    return v != 0;
}

/* The logs and snapshots in the directory, sorted; a leftover snap.tmp from
 * a compaction that died is deleted on the way. */
static int list_dir(struct yard_wal *w, struct gens *logs, struct gens *snaps)
{
    int fd = openat(w->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return set_err(w, -errno, "cannot list the directory: %s", strerror(errno));
    DIR *d = fdopendir(fd);
    if (!d) {
        int r = -errno;
        close(fd);
        return set_err(w, r, "cannot list the directory: %s", strerror(-r));
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)) != NULL) {
        uint64_t gen;
        if (parse_gen(de->d_name, "log.", &gen))
            r = gens_push(logs, gen);
        else if (parse_gen(de->d_name, "snap.", &gen))
            r = gens_push(snaps, gen);
        else if (strcmp(de->d_name, SNAP_TMP_NAME) == 0)
            unlinkat(w->dirfd, SNAP_TMP_NAME, 0);
    }
    closedir(d);
    if (r < 0)
        return set_err(w, r, "out of memory listing the directory");
    if (logs->n > 1) /* an empty list has no array: qsort must not see it */
        qsort(logs->v, logs->n, sizeof(uint64_t), cmp_u64);
    if (snaps->n > 1)
        qsort(snaps->v, snaps->n, sizeof(uint64_t), cmp_u64);
    return 0;
}

static int fsync_dir(struct yard_wal *w)
{
    if (fsync(w->dirfd) < 0)
        return set_err(w, -errno, "fsync of the directory failed: %s", strerror(errno));
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

/* ---- open and close ---- */

/* mkdir -p with mode 0750 for what it creates. */
static int make_dirs(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0750) < 0 && errno != EEXIST)
            return -errno;
        path[i] = c;
    }
    return 0;
}

/* Take dir/lock; on refusal name the pid written in it by its holder. */
static int take_lock(struct yard_wal *w, char *err, size_t errlen)
{
    w->lockfd = openat(w->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (w->lockfd < 0) {
        int r = -errno;
        snprintf(err, errlen, "wal %s: cannot open %s/%s: %s", w->dir, w->dir, LOCK_NAME,
                 strerror(-r));
        return r;
    }
    if (flock(w->lockfd, LOCK_EX | LOCK_NB) < 0) {
        int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
        char text[32] = {0};
        ssize_t k = pread(w->lockfd, text, sizeof(text) - 1, 0);
        long pid = k > 0 ? strtol(text, NULL, 10) : 0;
        if (r == -EBUSY && pid > 0)
            snprintf(err, errlen,
                     "wal %s: state directory is in use by pid %ld (it holds %s/%s); stop that "
                     "yard-control or give this one another state directory",
                     w->dir, pid, w->dir, LOCK_NAME);
        else if (r == -EBUSY)
            snprintf(err, errlen,
                     "wal %s: state directory is in use by another process (it holds %s/%s); "
                     "stop it or give this one another state directory",
                     w->dir, w->dir, LOCK_NAME);
        else
            snprintf(err, errlen, "wal %s: cannot lock %s/%s: %s", w->dir, w->dir, LOCK_NAME,
                     strerror(-r));
        return r;
    }
    char text[32];
    int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    if (ftruncate(w->lockfd, 0) < 0 || write_all(w->lockfd, (uint8_t *)text, (size_t)len, 0) < 0) {
        int r = -errno;
        snprintf(err, errlen, "wal %s: cannot write the pid into %s/%s: %s", w->dir, w->dir,
                 LOCK_NAME, strerror(-r));
        return r;
    }
    return 0;
}

int yard_wal_open(struct yard_wal **out, const char *dir, const struct yard_wal_opts *opts,
                  char *err, size_t errlen)
{
    *out = NULL;
    struct yard_wal *w = calloc(1, sizeof(*w));
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        snprintf(err, errlen, "wal %s: out of memory", dir);
        return -ENOMEM;
    }
    w->dirfd = w->lockfd = w->logfd = -1;
    if (opts)
        w->opts = *opts;
    if (w->opts.compact_bytes == 0)
        w->opts.compact_bytes = DEFAULT_COMPACT;

    int r = make_dirs(dir);
    if (r < 0) {
        snprintf(err, errlen, "wal %s: cannot create the state directory: %s", dir, strerror(-r));
        goto fail;
    }
    w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        r = -errno;
        snprintf(err, errlen, "wal %s: cannot open the state directory: %s", dir, strerror(-r));
        goto fail;
    }
    r = take_lock(w, err, errlen);
    if (r < 0)
        goto fail;
    *out = w;
    return 0;
fail:
    yard_wal_close(w);
    return r;
}

void yard_wal_close(struct yard_wal *w)
{
    if (!w)
        return;
    if (w->logfd >= 0)
        close(w->logfd);
    if (w->lockfd >= 0)
        close(w->lockfd); /* releases the flock */
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w->buf);
    free(w->dir);
    free(w);
}

/* ---- files ---- */

/* A mapped file, read-only. */
struct mapped {
    int fd;
    uint8_t *p;
    size_t size;
};

static void unmap(struct mapped *m)
{
    if (m->p)
        munmap(m->p, m->size);
    if (m->fd >= 0)
        close(m->fd);
    m->p = NULL;
    m->fd = -1;
}

/* Open name (read-write when rw) and map all of it. */
static int map_file(struct yard_wal *w, const char *name, bool rw, struct mapped *m)
{
    m->p = NULL;
    m->size = 0;
    m->fd = openat(w->dirfd, name, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (m->fd < 0)
        return set_err(w, -errno, "cannot open %s: %s", name, strerror(errno));
    struct stat sb;
    if (fstat(m->fd, &sb) < 0) {
        int r = set_err(w, -errno, "cannot stat %s: %s", name, strerror(errno));
        unmap(m);
        return r;
    }
    m->size = (size_t)sb.st_size;
    if (m->size == 0)
        return 0;
    m->p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, m->fd, 0);
    if (m->p == MAP_FAILED) {
        m->p = NULL;
        int r = set_err(w, -errno, "cannot map %s (%zu bytes): %s", name, m->size, strerror(errno));
        unmap(m);
        return r;
    }
    madvise(m->p, m->size, MADV_SEQUENTIAL);
    return 0;
}

static void log_header(uint8_t *h, uint64_t gen, uint64_t first_seq)
{
    memset(h, 0, YARD_WAL_LOG_HEADER_BYTES);
    put_le32(h, LOG_MAGIC);
    put_le32(h + 4, FORMAT_VERSION);
    put_le64(h + 8, gen);
    put_le64(h + 16, first_seq);
    put_le32(h + 28, yard_crc32c(0, h, 28));
}

/* Write a log header into fd (which must be empty) and make it durable. */
static int log_write_header(struct yard_wal *w, int fd, const char *name, uint64_t gen,
                            uint64_t first_seq)
{
    uint8_t h[YARD_WAL_LOG_HEADER_BYTES];
    log_header(h, gen, first_seq);
    int r = write_all(fd, h, sizeof(h), 0);
    if (r == 0 && fdatasync(fd) < 0)
        r = -errno;
    if (r < 0)
        return set_err(w, r, "cannot write the header of %s: %s", name, strerror(-r));
    return 0;
}

/* Create log.<gen> (header durable, directory entry durable); *fd open rw. */
static int log_create(struct yard_wal *w, uint64_t gen, uint64_t first_seq, int *fd)
{
    char name[NAME_BYTES];
    log_name(name, gen);
    *fd = openat(w->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (*fd < 0)
        return set_err(w, -errno, "cannot create %s: %s", name, strerror(errno));
    int r = log_write_header(w, *fd, name, gen, first_seq);
    if (r == 0)
        r = fsync_dir(w);
    if (r < 0) {
        close(*fd);
        *fd = -1;
    }
    return r;
}

/* ---- snapshots ---- */

/* Check snap.<gen> whole before anything is fed from it. 0: good (m mapped,
 * *hdr filled); -EBADMSG: damaged, why says how; other: cannot read. */
struct snap_info {
    uint64_t last_seq;
    uint64_t count;
};

static int snap_check(struct yard_wal *w, uint64_t gen, struct mapped *m, struct snap_info *si,
                      char *why, size_t whylen)
{
    char name[NAME_BYTES];
    snap_name(name, gen);
    int r = map_file(w, name, false, m);
    if (r < 0)
        return r;
    const uint8_t *h = m->p;
    if (m->size < YARD_WAL_SNAP_HEADER_BYTES) {
        snprintf(why, whylen, "%zu bytes, shorter than its header", m->size);
        goto bad;
    }
    if (get_le64(h) != SNAP_MAGIC || get_le32(h + 8) != FORMAT_VERSION) {
        snprintf(why, whylen, "not a version %u snapshot", FORMAT_VERSION);
        goto bad;
    }
    if (get_le32(h + 60) != yard_crc32c(0, h, 60)) {
        snprintf(why, whylen, "header CRC mismatch");
        goto bad;
    }
    uint64_t body = get_le64(h + 40);
    if (get_le64(h + 16) != gen || body != m->size - YARD_WAL_SNAP_HEADER_BYTES) {
        snprintf(why, whylen,
                 "header says gen %" PRIx64 " and %" PRIu64 " body bytes, file has %zu",
                 get_le64(h + 16), body, m->size - YARD_WAL_SNAP_HEADER_BYTES);
        goto bad;
    }
    const uint8_t *p = h + YARD_WAL_SNAP_HEADER_BYTES;
    if (yard_crc32c(0, p, body) != get_le32(h + 48)) {
        snprintf(why, whylen, "body CRC mismatch");
        goto bad;
    }
    uint64_t count = 0, off = 0;
    while (off < body) {
        uint32_t len = body - off >= YARD_WAL_FRAME_BYTES ? get_le32(p + off) : UINT32_MAX;
        if (len > YARD_WAL_MAX_RECORD_BYTES || len > body - off - YARD_WAL_FRAME_BYTES) {
            snprintf(why, whylen, "bad record framing at offset %" PRIu64,
                     off + YARD_WAL_SNAP_HEADER_BYTES);
            goto bad;
        }
        off += YARD_WAL_FRAME_BYTES + len;
        count++;
    }
    if (count != get_le64(h + 32)) {
        snprintf(why, whylen, "%" PRIu64 " records, header says %" PRIu64, count, get_le64(h + 32));
        goto bad;
    }
    si->last_seq = get_le64(h + 24);
    si->count = count;
    return 0;
bad:
    unmap(m);
    return -EBADMSG;
}

/* Feed a checked snapshot's records. */
static void snap_feed(struct yard_wal *w, const struct mapped *m, yard_wal_replay_fn fn, void *arg)
{
    const uint8_t *p = m->p + YARD_WAL_SNAP_HEADER_BYTES;
    const uint8_t *end = m->p + m->size;
    while (p < end) {
        uint32_t len = get_le32(p);
        if (fn && fn(arg, p + YARD_WAL_FRAME_BYTES, len) < 0)
            w->st.replay_rejected++;
        w->st.replayed_records++;
        p += YARD_WAL_FRAME_BYTES + len;
    }
}

/* ---- replay ---- */

/*
 * Feed the records of one mapped log body [p, p+n) until the first bad one.
 * Returns the number of good bytes; *why is NULL if all n were good.
 */
static size_t log_feed(struct yard_wal *w, const uint8_t *p, size_t n, yard_wal_replay_fn fn,
                       void *arg, uint64_t *records, const char **why)
{
    size_t off = 0;
    *why = NULL;
    while (off < n) {
        if (n - off < YARD_WAL_FRAME_BYTES) {
            *why = "cut short inside its length and CRC";
            break;
        }
        uint32_t len = get_le32(p + off);
        if (len > YARD_WAL_MAX_RECORD_BYTES) {
            *why = "impossible (length above the record limit)";
            break;
        }
        if (len > n - off - YARD_WAL_FRAME_BYTES) {
            *why = "cut short (its length runs past the end of the file)";
            break;
        }
        uint32_t crc = yard_crc32c(0, p + off, 4);
        crc = yard_crc32c(crc, p + off + YARD_WAL_FRAME_BYTES, len);
        if (crc != get_le32(p + off + 4)) {
            *why = "damaged (CRC mismatch)";
            break;
        }
        if (fn && fn(arg, p + off + YARD_WAL_FRAME_BYTES, len) < 0)
            w->st.replay_rejected++;
        w->st.replayed_records++;
        (*records)++;
        off += YARD_WAL_FRAME_BYTES + len;
    }
    return off;
}

/* Cut a file back to size bytes, durably. */
static int truncate_durable(struct yard_wal *w, int fd, const char *name, uint64_t size)
{
    if (ftruncate(fd, (off_t)size) < 0 || fdatasync(fd) < 0)
        return set_err(w, -errno, "cannot truncate %s to %" PRIu64 " bytes: %s", name, size,
                       strerror(errno));
    return 0;
}

/*
 * Replay log.<gen>, whose first record must be *seq. The newest log (last)
 * may end in a torn tail, which is cut off; it then stays open for appends.
 */
static int replay_log(struct yard_wal *w, uint64_t gen, bool last, uint64_t *seq,
                      yard_wal_replay_fn fn, void *arg)
{
    char name[NAME_BYTES];
    struct mapped m;
    log_name(name, gen);
    int r = map_file(w, name, last, &m);
    if (r < 0)
        return r;

    const uint8_t *h = m.p;
    bool header_ok = m.size >= YARD_WAL_LOG_HEADER_BYTES && get_le32(h) == LOG_MAGIC &&
                     get_le32(h + 4) == FORMAT_VERSION && get_le32(h + 28) == yard_crc32c(0, h, 28);
    if (!header_ok) {
        /* Only the creation of the newest log can leave a header that is not
         * complete, and it is never appended to before its header is
         * durable, so a short file with a bad header is a torn creation. */
        if (!last || m.size > YARD_WAL_LOG_HEADER_BYTES) {
            r = set_err(w, -EUCLEAN,
                        "%s has no valid header (%zu bytes) and is not a torn creation; move "
                        "the state directory aside and restore it from a backup",
                        name, m.size);
            goto out;
        }
        if (m.size > 0) {
            w->st.torn_tails++;
            w->st.torn_tail_bytes += m.size;
            wal_log(w, LOG_WARNING,
                    "%s: discarded a torn header of %zu bytes (its creation was cut short); "
                    "rewrote it, no record lost",
                    name, m.size);
        }
        r = truncate_durable(w, m.fd, name, 0);
        if (r == 0)
            r = log_write_header(w, m.fd, name, gen, *seq);
        if (r < 0)
            goto out;
        w->log_end = YARD_WAL_LOG_HEADER_BYTES;
        goto keep;
    }
    if (get_le64(h + 8) != gen || get_le64(h + 16) != *seq) {
        r = set_err(w, -EUCLEAN,
                    "%s says it is log %" PRIx64 " starting at record %" PRIu64
                    ", but record %" PRIu64 " of log %" PRIx64
                    " was expected: the files do not belong together; restore the state "
                    "directory from a backup",
                    name, get_le64(h + 8), get_le64(h + 16), *seq, gen);
        goto out;
    }

    uint64_t records = 0;
    const char *why;
    size_t body = m.size - YARD_WAL_LOG_HEADER_BYTES;
    size_t good = log_feed(w, h + YARD_WAL_LOG_HEADER_BYTES, body, fn, arg, &records, &why);
    *seq += records;
    w->log_end = YARD_WAL_LOG_HEADER_BYTES + good;
    if (why && !last) {
        r = set_err(w, -EUCLEAN,
                    "%s: the record at offset %" PRIu64 " is %s, but newer logs follow, so "
                    "this is damage, not a crash; move the state directory aside and restore "
                    "it from a backup",
                    name, w->log_end, why);
        goto out;
    }
    if (why) {
        uint64_t torn = body - good;
        w->st.torn_tails++;
        w->st.torn_tail_bytes += torn;
        wal_log(w, LOG_WARNING,
                "%s: the record at offset %" PRIu64 " is %s; discarded the %" PRIu64
                " bytes from there to the end (a write cut short by a crash, never "
                "acknowledged); kept the %" PRIu64 " records before it (last seq %" PRIu64 ")",
                name, w->log_end, why, torn, records, *seq - 1);
        r = truncate_durable(w, m.fd, name, w->log_end);
        if (r < 0)
            goto out;
    }
    if (!last)
        goto out;
keep:
    /* The newest log takes the appends: keep its descriptor. */
    w->logfd = m.fd;
    m.fd = -1;
    w->log_gen = gen;
out:
    w->st.log_bytes += last ? w->log_end : m.size;
    w->st.log_files++;
    unmap(&m);
    return r;
}

/* Rename a damaged snapshot out of the way, so it is neither used nor
 * counted as the fallback again, but is still there for a post-mortem. */
static void snap_set_aside(struct yard_wal *w, uint64_t gen, const char *why)
{
    char name[NAME_BYTES], aside[NAME_BYTES + 16];
    snap_name(name, gen);
    snprintf(aside, sizeof(aside), "%s.corrupt", name);
    w->st.snapshots_discarded++;
    if (renameat(w->dirfd, name, w->dirfd, aside) == 0)
        fsync(w->dirfd);
    wal_log(w, LOG_WARNING,
            "%s is damaged (%s); renamed it %s and fell back to the previous snapshot and the "
            "logs after it",
            name, why, aside);
}

/* Delete what the newest two snapshots no longer need: snapshots older than
 * the one before snap.<gen> (prev), and logs up to prev. compacting: honour
 * the fault-injection stop. */
static int retire(struct yard_wal *w, uint64_t gen, bool compacting)
{
    struct gens logs = {0}, snaps = {0};
    int r = list_dir(w, &logs, &snaps);
    if (r < 0)
        goto out;
    uint64_t prev = 0;
    for (size_t i = 0; i < snaps.n; i++)
        if (snaps.v[i] < gen)
            prev = snaps.v[i];
    char name[NAME_BYTES];
    bool removed = false;
    for (int pass = 0; pass < 2; pass++) {
        struct gens *g = pass == 0 ? &snaps : &logs;
        for (size_t i = 0; i < g->n; i++) {
            if (pass == 0 ? g->v[i] >= prev : g->v[i] > prev)
                continue;
            if (pass == 0)
                snap_name(name, g->v[i]);
            else
                log_name(name, g->v[i]);
            if (unlinkat(w->dirfd, name, 0) < 0) {
                wal_log(w, LOG_WARNING, "cannot delete %s, no longer needed: %s", name,
                        strerror(errno));
                continue;
            }
            removed = true;
            if (compacting && w->opts.stop_compact_after == YARD_WAL_STOP_AFTER_FIRST_RETIRED) {
                r = set_sticky(w, set_err(w, -ECANCELED, "stopped after deleting %s", name));
                goto out;
            }
        }
    }
    if (removed)
        fsync(w->dirfd); /* not needed for correctness: a file left over is retired again */
out:
    free(logs.v);
    free(snaps.v);
    return r;
}

int yard_wal_replay(struct yard_wal *w, yard_wal_replay_fn fn, void *arg)
{
    if (w->replayed)
        return set_err(w, -EINVAL, "replay was already done; open the directory again");
    uint64_t t0 = now_ns();
    struct gens logs = {0}, snaps = {0};
    struct mapped snap = {.fd = -1};
    struct snap_info si = {0};
    uint64_t base = 0;
    int r = list_dir(w, &logs, &snaps);
    if (r < 0)
        goto out;

    /* The newest snapshot that is intact; damaged ones are set aside. */
    for (size_t i = snaps.n; i-- > 0;) {
        char why[160];
        r = snap_check(w, snaps.v[i], &snap, &si, why, sizeof(why));
        if (r == 0) {
            base = snaps.v[i];
            break;
        }
        if (r != -EBADMSG)
            goto out;
        snap_set_aside(w, snaps.v[i], why);
        r = 0;
    }

    /* The logs after it must all be there, numbered without a gap. */
    size_t first = 0;
    while (first < logs.n && logs.v[first] <= base)
        first++;
    for (size_t i = first; i < logs.n; i++) {
        if (logs.v[i] != base + 1 + (i - first)) {
            char name[NAME_BYTES];
            log_name(name, base + 1 + (i - first));
            r = set_err(w, -EUCLEAN,
                        "%s is missing but log.%016" PRIx64 " exists, and no intact snapshot "
                        "covers the gap; the state cannot be rebuilt: restore the directory "
                        "from a backup",
                        name, logs.v[i]);
            goto out;
        }
    }

    uint64_t seq = 1;
    if (base) {
        seq = si.last_seq + 1;
        snap_feed(w, &snap, fn, arg);
        w->st.snapshot_gen = base;
        w->st.snapshot_bytes = snap.size;
        w->st.snapshot_records = si.count;
    }
    for (size_t i = first; i < logs.n; i++) {
        r = replay_log(w, logs.v[i], i + 1 == logs.n, &seq, fn, arg);
        if (r < 0)
            goto out;
    }
    if (first == logs.n) {
        /* Nothing after the snapshot (new directory, or a compaction that
         * died before its new log): start the next log. */
        r = log_create(w, base + 1, seq, &w->logfd);
        if (r < 0)
            goto out;
        w->log_gen = base + 1;
        w->log_end = YARD_WAL_LOG_HEADER_BYTES;
        w->st.log_bytes += w->log_end;
        w->st.log_files++;
    }
    w->next_seq = seq;
    w->st.durable_seq = seq - 1;
    w->st.log_gen = w->log_gen;
    w->replayed = true;
    retire(w, base, false);
out:
    unmap(&snap);
    free(logs.v);
    free(snaps.v);
    w->st.replay_ns = now_ns() - t0;
    return r;
}

/* ---- append and group commit ---- */

static int check_writable(struct yard_wal *w)
{
    if (w->sticky)
        return w->sticky;
    if (!w->replayed)
        return set_err(w, -EINVAL, "yard_wal_replay() must run before anything is written");
    return 0;
}

int yard_wal_append(struct yard_wal *w, const void *rec, size_t len, uint64_t *seq)
{
    int r = check_writable(w);
    if (r < 0)
        return r;
    if (len > YARD_WAL_MAX_RECORD_BYTES)
        return set_err(w, -EMSGSIZE, "a record of %zu bytes is above the limit of %u bytes", len,
                       YARD_WAL_MAX_RECORD_BYTES);
    size_t need = w->buf_len + YARD_WAL_FRAME_BYTES + len;
    if (need > w->buf_cap) {
        size_t cap = w->buf_cap ? w->buf_cap : APPEND_BUF_MIN;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb)
            return set_err(w, -ENOMEM, "out of memory buffering %zu bytes", need);
        w->buf = nb;
        w->buf_cap = cap;
    }
    uint8_t *f = w->buf + w->buf_len;
    put_le32(f, (uint32_t)len);
    uint32_t crc = yard_crc32c(0, f, 4);
    put_le32(f + 4, yard_crc32c(crc, rec, len));
    if (len)
        memcpy(f + YARD_WAL_FRAME_BYTES, rec, len);
    w->buf_len = need;
    w->st.records_appended++;
    w->st.bytes_appended += YARD_WAL_FRAME_BYTES + len;
    w->st.pending_records++;
    w->st.pending_bytes = w->buf_len;
    if (seq)
        *seq = w->next_seq;
    w->next_seq++;
    return 0;
}

static unsigned hist_bucket(uint64_t ns)
{
    if (ns < 8)
        return (unsigned)ns;
    unsigned exp = 63u - (unsigned)__builtin_clzll(ns);
    if (exp >= 40)
        return YARD_WAL_HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(ns >> (exp - YARD_WAL_HIST_SUB_BITS)) & 7u;
    return 8 + (exp - YARD_WAL_HIST_SUB_BITS) * 8 + sub;
}

static uint64_t hist_bucket_high(unsigned b)
{
    if (b < 8)
        return b;
    if (b + 1 >= YARD_WAL_HIST_BUCKETS)
        return UINT64_MAX;
    unsigned exp = (b - 8) / 8 + YARD_WAL_HIST_SUB_BITS;
    uint64_t sub = (b - 8) % 8;
    uint64_t low = (1ull << exp) | (sub << (exp - YARD_WAL_HIST_SUB_BITS));
    return low + (1ull << (exp - YARD_WAL_HIST_SUB_BITS)) - 1;
}

int yard_wal_sync(struct yard_wal *w)
{
    int r = check_writable(w);
    if (r < 0 || w->buf_len == 0)
        return r;
    char name[NAME_BYTES];
    uint64_t t0 = now_ns();
    r = write_all(w->logfd, w->buf, w->buf_len, w->log_end);
    if (r == 0 && fdatasync(w->logfd) < 0)
        r = -errno;
    if (r < 0) {
        log_name(name, w->log_gen);
        set_err(w, r,
                "writing %zu bytes to %s at offset %" PRIu64 " failed: %s; the log is stopped: "
                "stop acknowledging changes and restart yard-control (replay drops what was "
                "not written)",
                w->buf_len, name, w->log_end, strerror(-r));
        return set_sticky(w, r);
    }
    uint64_t dt = now_ns() - t0;
    struct yard_wal_stats *st = &w->st;
    st->syncs++;
    st->records_synced += st->pending_records;
    if (st->pending_records > st->max_records_per_sync)
        st->max_records_per_sync = st->pending_records;
    st->last_sync_ns = dt;
    st->total_sync_ns += dt;
    if (dt > st->max_sync_ns)
        st->max_sync_ns = dt;
    st->sync_hist[hist_bucket(dt)]++;
    st->log_bytes += w->buf_len;
    st->pending_records = 0;
    st->pending_bytes = 0;
    st->durable_seq = w->next_seq - 1;
    w->log_end += w->buf_len;
    w->buf_len = 0;
    if (w->buf_cap > APPEND_BUF_KEEP) {
        free(w->buf);
        w->buf = NULL;
        w->buf_cap = 0;
    }
    return 0;
}

uint64_t yard_wal_durable_seq(const struct yard_wal *w)
{
    return w->st.durable_seq;
}

uint64_t yard_wal_pending(const struct yard_wal *w)
{
    return w->st.pending_records;
}

/* ---- snapshots and compaction ---- */

int yard_wal_should_compact(const struct yard_wal *w)
{
    return w->replayed && w->st.log_bytes > w->opts.compact_bytes &&
           w->st.log_bytes > 2 * w->st.snapshot_bytes;
}

static int snap_flush(struct yard_wal_snapshot_writer *sw)
{
    if (sw->len == 0)
        return 0;
    sw->body_crc = yard_crc32c(sw->body_crc, sw->buf, sw->len);
    int r = write_all(sw->fd, sw->buf, sw->len, sw->off);
    if (r < 0)
        return set_err(sw->w, r, "writing %s failed: %s", SNAP_TMP_NAME, strerror(-r));
    sw->off += sw->len;
    sw->len = 0;
    return 0;
}

int yard_wal_snapshot_add(struct yard_wal_snapshot_writer *sw, const void *rec, size_t len)
{
    if (sw->err)
        return sw->err;
    if (len > YARD_WAL_MAX_RECORD_BYTES)
        return sw->err = set_err(sw->w, -EMSGSIZE,
                                 "a snapshot record of %zu bytes is above the limit of %u bytes",
                                 len, YARD_WAL_MAX_RECORD_BYTES);
    if (sw->len + YARD_WAL_FRAME_BYTES + len > SNAP_BUF_BYTES) {
        int r = snap_flush(sw);
        if (r < 0)
            return sw->err = r;
    }
    uint8_t *f = sw->buf + sw->len;
    put_le32(f, (uint32_t)len);
    uint32_t crc = yard_crc32c(0, f, 4);
    put_le32(f + 4, yard_crc32c(crc, rec, len));
    if (len)
        memcpy(f + YARD_WAL_FRAME_BYTES, rec, len);
    sw->len += YARD_WAL_FRAME_BYTES + len;
    sw->count++;
    sw->body_bytes += YARD_WAL_FRAME_BYTES + len;
    return 0;
}

/* Write snap.tmp holding what emit produces, covering log.<gen> and
 * everything before it; durable on return. *bytes: its size. */
static int snap_write_tmp(struct yard_wal *w, uint64_t gen, uint64_t last_seq,
                          yard_wal_emit_fn emit, void *arg, uint64_t *bytes, uint64_t *count)
{
    struct yard_wal_snapshot_writer sw = {.w = w, .off = YARD_WAL_SNAP_HEADER_BYTES};
    sw.fd = openat(w->dirfd, SNAP_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (sw.fd < 0)
        return set_err(w, -errno, "cannot create %s: %s", SNAP_TMP_NAME, strerror(errno));
    int r;
    sw.buf = malloc(SNAP_BUF_BYTES);
    if (!sw.buf) {
        r = set_err(w, -ENOMEM, "out of memory for the snapshot buffer");
        goto fail;
    }
    r = emit(arg, &sw);
    if (r < 0 && r != sw.err) {
        set_err(w, r, "compaction abandoned: the snapshot's emit callback returned %d", r);
        goto fail;
    }
    r = sw.err ? sw.err : snap_flush(&sw);
    if (r < 0)
        goto fail;
    uint8_t h[YARD_WAL_SNAP_HEADER_BYTES] = {0};
    put_le64(h, SNAP_MAGIC);
    put_le32(h + 8, FORMAT_VERSION);
    put_le64(h + 16, gen);
    put_le64(h + 24, last_seq);
    put_le64(h + 32, sw.count);
    put_le64(h + 40, sw.body_bytes);
    put_le32(h + 48, sw.body_crc);
    put_le32(h + 60, yard_crc32c(0, h, 60));
    r = write_all(sw.fd, h, sizeof(h), 0);
    if (r == 0 && fsync(sw.fd) < 0)
        r = -errno;
    if (r < 0) {
        set_err(w, r, "writing %s failed: %s", SNAP_TMP_NAME, strerror(-r));
        goto fail;
    }
    *bytes = sw.off;
    *count = sw.count;
    free(sw.buf);
    close(sw.fd);
    return 0;
fail:
    free(sw.buf);
    close(sw.fd);
    unlinkat(w->dirfd, SNAP_TMP_NAME, 0);
    return r;
}

static int stop_here(struct yard_wal *w, enum yard_wal_compact_stop step, const char *what)
{
    if (w->opts.stop_compact_after != step)
        return 0;
    return set_sticky(w, set_err(w, -ECANCELED, "compaction stopped after %s", what));
}

int yard_wal_compact(struct yard_wal *w, yard_wal_emit_fn emit, void *arg)
{
    int r = yard_wal_sync(w);
    if (r == 0)
        r = check_writable(w);
    if (r < 0)
        return r;
    uint64_t t0 = now_ns();
    uint64_t gen = w->log_gen;
    uint64_t last_seq = w->next_seq - 1;

    /* 1. Appends move to a new log first, so the snapshot covers a log that
     * will never grow again. Failing here leaves it unknown whether the new
     * log exists, so it is sticky. */
    int fd;
    r = log_create(w, gen + 1, w->next_seq, &fd);
    if (r < 0)
        return set_sticky(w, r);
    close(w->logfd);
    w->logfd = fd;
    w->log_gen = gen + 1;
    w->log_end = YARD_WAL_LOG_HEADER_BYTES;
    w->st.log_gen = w->log_gen;
    w->st.log_bytes += YARD_WAL_LOG_HEADER_BYTES;
    w->st.log_files++;
    if ((r = stop_here(w, YARD_WAL_STOP_AFTER_NEW_LOG, "creating the new log")) < 0)
        return r;

    /* 2. The snapshot, durable under a name nobody reads. A failure here
     * leaves the old snapshot and logs as they were: not sticky. */
    uint64_t bytes = 0, count = 0;
    r = snap_write_tmp(w, gen, last_seq, emit, arg, &bytes, &count);
    if (r < 0)
        return r;
    if ((r = stop_here(w, YARD_WAL_STOP_AFTER_TEMP_WRITTEN, "writing snap.tmp")) < 0)
        return r;

    /* 3. Publish it: the rename is the commit point of the compaction. */
    char name[NAME_BYTES];
    snap_name(name, gen);
    if (renameat(w->dirfd, SNAP_TMP_NAME, w->dirfd, name) < 0) {
        r = set_err(w, -errno, "cannot rename %s to %s: %s", SNAP_TMP_NAME, name, strerror(errno));
        unlinkat(w->dirfd, SNAP_TMP_NAME, 0);
        return r;
    }
    r = fsync_dir(w);
    if (r < 0)
        return set_sticky(w, r);
    w->st.snapshots_written++;
    w->st.snapshot_gen = gen;
    w->st.snapshot_bytes = bytes;
    w->st.snapshot_records = count;
    w->st.log_bytes = w->log_end;
    w->st.log_files = 1;
    if ((r = stop_here(w, YARD_WAL_STOP_AFTER_RENAME, "renaming the snapshot into place")) < 0)
        return r;

    /* 4. Retire what neither this snapshot nor its fallback needs. */
    r = retire(w, gen, true);
    w->st.last_compact_ns = now_ns() - t0;
    return r;
}

/* ---- stats ---- */

void yard_wal_stats(const struct yard_wal *w, struct yard_wal_stats *out)
{
    *out = w->st;
}

uint64_t yard_wal_sync_latency_ns(const struct yard_wal_stats *st, double q)
{
    uint64_t n = 0;
    for (unsigned b = 0; b < YARD_WAL_HIST_BUCKETS; b++)
        n += st->sync_hist[b];
    if (n == 0)
        return 0;
    double want = q * (double)n;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < YARD_WAL_HIST_BUCKETS; b++) {
        seen += st->sync_hist[b];
        if (seen >= rank) {
            uint64_t high = hist_bucket_high(b);
            return high < st->max_sync_ns ? high : st->max_sync_ns;
        }
    }
    return st->max_sync_ns;
}

const char *yard_wal_error(const struct yard_wal *w)
{
    return w->err;
}
