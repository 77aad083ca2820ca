/*
 * wal.h - yard-control's write-ahead log: opaque records, CRC-framed, written
 * with group commit, compacted into snapshots.
 *
 * Every change to the control plane's state is appended here before it is
 * acknowledged, and start-up replays the log to rebuild the state. The log
 * does not know what a record means (the daemon encodes records with
 * msgpack); it only promises that a record it called durable comes back, in
 * order, exactly once, and that a record torn by a crash never comes back.
 *
 * Group commit: yard_wal_append() only copies the record into a memory
 * buffer; yard_wal_sync() writes everything buffered with one pwrite() and
 * one fdatasync(). The daemon appends during an event-loop round and syncs
 * once after the round, before it sends the acknowledgements of that round,
 * so one disk flush covers every change of the round.
 *
 * On disk, in the state directory (created 0750 if missing):
 *
 *   lock                 flock()ed by the one process using the directory;
 *                        holds that process's pid as text.
 *   log.<gen>            log files, <gen> 16 lower-case hex digits, from 1.
 *                        Header (32 bytes, little-endian): u32 magic
 *                        "YWL1" (0x314C5759), u32 version (1), u64 gen,
 *                        u64 first_seq (sequence number of the first record),
 *                        u32 zero, u32 crc32c of the 28 bytes before it.
 *                        Then records:
 *                          u32 length, u32 crc32c(length bytes || payload),
 *                          payload (length bytes, 0..YARD_WAL_MAX_RECORD_BYTES)
 *                        The CRC covers the length, so a torn length is caught.
 *   snap.<gen>           a snapshot holding the whole state as of the end of
 *                        log.<gen>. Header (64 bytes, little-endian): u64 magic
 *                        "YWALSNP1", u32 version (1), u32 zero, u64 gen,
 *                        u64 last_seq (sequence number of the last record of
 *                        log.<gen>), u64 record count, u64 body bytes,
 *                        u32 crc32c of the body, u32 zero, u32 zero,
 *                        u32 crc32c of the 60 bytes before it. Then the body:
 *                        records framed as in the log.
 *   snap.tmp             a snapshot being written (deleted by replay).
 *   snap.<gen>.corrupt   a snapshot found damaged, set aside for the operator.
 *
 * The state is: the newest valid snapshot (or nothing, gen 0), then every
 * record of log.<gen+1>, log.<gen+2>, ... in order. Compaction (see
 * yard_wal_compact) orders its steps so that a crash after any step leaves
 * files that replay to the same state, and keeps the previous snapshot and
 * the logs after it so that a damaged newest snapshot can be replaced by the
 * previous one plus those logs.
 *
 * Sequence numbers: every appended record gets the next number, from 1, and
 * numbers continue across restarts and compactions. A record that was still
 * in the buffer (or torn) when the process died was never durable; its
 * number may be given again to another record after the restart. Durable
 * numbers are never reused.
 *
 * Errors: functions return 0 (or a documented non-negative value) or a
 * negative errno, and leave a message naming the file, the value and the fix
 * in yard_wal_error(). A failed write or fdatasync of the log is STICKY:
 * after it, the page cache may hold data the disk does not, and no later
 * success can be trusted, so every later append/sync/compact returns the
 * same error. The daemon must then stop acknowledging changes and restart;
 * replay at start-up truncates whatever half-written records the failure
 * left.
 *
 * Who may call: one thread (the event loop's) per struct yard_wal; different
 * instances in one process must use different directories. Not async-signal
 * safe.
 */
#ifndef YARD_WAL_H
#define YARD_WAL_H

#include <stddef.h>
#include <stdint.h>

/* Largest payload yard_wal_append() accepts; a bigger one gets -EMSGSIZE.
 * A length field above it on disk is "impossible" and ends the valid log. */
#define YARD_WAL_MAX_RECORD_BYTES (64u * 1024u)

/* Bytes of framing before each payload (length and CRC). */
#define YARD_WAL_FRAME_BYTES 8u

/* Bytes of the header at the start of every log file. */
#define YARD_WAL_LOG_HEADER_BYTES 32u

/* Bytes of the header at the start of every snapshot file. */
#define YARD_WAL_SNAP_HEADER_BYTES 64u

struct yard_wal;
struct yard_wal_snapshot_writer;

/* Fault injection for the crash tests: yard_wal_compact() stops right after
 * the named step, as if the process had died there, and the instance
 * refuses any further work (sticky -ECANCELED); close it and open the
 * directory again to see what a restart would see. YARD_WAL_STOP_NEVER
 * (0) in production. */
enum yard_wal_compact_stop {
    YARD_WAL_STOP_NEVER = 0,
    YARD_WAL_STOP_AFTER_NEW_LOG,       /* log.<gen+1> created, snapshot not begun */
    YARD_WAL_STOP_AFTER_TEMP_WRITTEN,  /* snap.tmp written and fsynced */
    YARD_WAL_STOP_AFTER_RENAME,        /* snap.<gen> in place, directory fsynced */
    YARD_WAL_STOP_AFTER_FIRST_RETIRED, /* first old file of the retirement deleted */
};

struct yard_wal_opts {
    /* yard_wal_should_compact() says yes once the logs after the snapshot
     * hold more than this many bytes (and more than twice the snapshot).
     * 0: the default, 64 MiB. */
    uint64_t compact_bytes;
    /* Where the log reports what it did on its own (torn tails truncated,
     * damaged snapshots set aside). level is a syslog level (LOG_WARNING,
     * LOG_INFO); line has no newline. NULL: lines go to stderr. */
    void (*log_fn)(void *log_arg, int level, const char *line);
    void *log_arg;
    /* Test only; see enum yard_wal_compact_stop. */
    enum yard_wal_compact_stop stop_compact_after;
};

/* Histogram of yard_wal_sync() latencies in ns: values below 8 ns have their
 * own bucket; above, each power of two up to 2^40 ns (18 min, the last
 * bucket takes anything longer) is split into 8 sub-buckets, each at most
 * 12.5 % wide relative to its lower bound. */
#define YARD_WAL_HIST_SUB_BITS 3
#define YARD_WAL_HIST_BUCKETS  (8 + (40 - YARD_WAL_HIST_SUB_BITS) * 8)

struct yard_wal_stats {
    uint64_t records_appended; /* by yard_wal_append() since open */
    uint64_t bytes_appended;   /* framed bytes (payload + 8 each) since open */
    uint64_t syncs;            /* yard_wal_sync() calls that wrote something */
    uint64_t records_synced;   /* records made durable by those syncs */
    uint64_t max_records_per_sync;
    uint64_t last_sync_ns;  /* pwrite + fdatasync of the last sync */
    uint64_t max_sync_ns;   /* the slowest sync since open */
    uint64_t total_sync_ns; /* sum, for the mean */
    uint64_t pending_records;
    uint64_t pending_bytes;
    uint64_t durable_seq; /* sequence number of the last durable record */

    uint64_t replayed_records;    /* fed to the replay callback */
    uint64_t replay_rejected;     /* of which the callback returned < 0 */
    uint64_t replay_ns;           /* wall time of yard_wal_replay() */
    uint64_t torn_tails;          /* log tails truncated at replay */
    uint64_t torn_tail_bytes;     /* bytes those truncations discarded */
    uint64_t snapshots_discarded; /* damaged snapshots set aside at replay */
    uint64_t snapshots_written;   /* by yard_wal_compact() since open */
    uint64_t snapshot_records;    /* in the current snapshot */
    uint64_t snapshot_bytes;      /* size of the current snapshot file */
    uint64_t snapshot_gen;        /* 0: none */
    uint64_t last_compact_ns;     /* wall time of the last compaction */
    uint64_t log_bytes;           /* logs after the snapshot (with headers) */
    uint64_t log_files;           /* logs after the snapshot */
    uint64_t log_gen;             /* the log appends go to */
    int sticky_error;             /* 0, or the -errno that stopped the log */

    uint64_t sync_hist[YARD_WAL_HIST_BUCKETS]; /* yard_wal_sync() latencies */
};

/*
 * Open the state directory dir (creating it and missing parents, 0750) and
 * take its lock: an exclusive flock() on dir/lock, held until
 * yard_wal_close(). opts may be NULL (defaults). Reads nothing yet: call
 * yard_wal_replay() next, before anything else.
 *
 * Returns 0 and *out, or a negative errno with a message in err: -EBUSY when
 * another process holds the lock (the message names its pid), -EACCES,
 * -ENOTDIR, -ENOMEM, ... Cost: a few syscalls and a directory listing.
 */
int yard_wal_open(struct yard_wal **out, const char *dir, const struct yard_wal_opts *opts,
                  char *err, size_t errlen);

/*
 * Release the lock and free w. Records appended but not yet synced are
 * dropped (they were never acknowledged): call yard_wal_sync() first for a
 * clean stop. NULL is a no-op.
 */
void yard_wal_close(struct yard_wal *w);

/* The callback of yard_wal_replay: one record, in order. Return < 0 to
 * reject it (counted in replay_rejected, skipped, not fatal). */
typedef int (*yard_wal_replay_fn)(void *arg, const void *rec, size_t len);

/*
 * Feed fn every record of the state, in order: the newest valid snapshot's
 * records, then every record of the logs after it. Must be called exactly
 * once, right after yard_wal_open(); appends are refused before it. fn may be
 * NULL (only validate and recover). rec points into a read-only mapping
 * valid only during the call.
 *
 * A record whose length is impossible, whose CRC does not match or that is
 * cut short ends the valid log: it is never fed to fn, the log file is
 * truncated right before it (and fdatasynced), the discarded bytes are
 * counted (torn_tails, torn_tail_bytes) and reported in one log line. That
 * is what a crash during a write leaves, and only the newest log file can
 * have it; the same damage in an older log file is not a crash and fails
 * with -EUCLEAN (records before it have been fed already: do not start).
 * A damaged snapshot is renamed snap.<gen>.corrupt, logged, and the previous
 * snapshot with its logs is used instead; when no usable base is left,
 * -EUCLEAN.
 *
 * Returns 0 or a negative errno. Cost: one sequential read of the files
 * (mmap), one CRC pass, one call of fn per record: about 20 ms plus the
 * callbacks per million 60-byte records when the files are cached.
 */
int yard_wal_replay(struct yard_wal *w, yard_wal_replay_fn fn, void *arg);

/*
 * Buffer one record (len <= YARD_WAL_MAX_RECORD_BYTES; bigger: -EMSGSIZE)
 * and set *seq (may be NULL) to its sequence number. No syscall: the record
 * is durable only after the next successful yard_wal_sync(). Returns 0,
 * -EMSGSIZE, -ENOMEM, -EINVAL (before replay) or the sticky error.
 * Cost: a memcpy and a CRC of the record.
 */
int yard_wal_append(struct yard_wal *w, const void *rec, size_t len, uint64_t *seq);

/*
 * Group commit: write every buffered record with one pwrite() (more only if
 * the kernel writes short) and one fdatasync(). Afterwards
 * yard_wal_durable_seq() covers them. Nothing buffered: returns 0 at once.
 * Returns 0 or a negative errno; a failure is sticky (see top). Cost: one
 * disk flush (about 0.1-2 ms on SSDs), whatever the number of records.
 */
int yard_wal_sync(struct yard_wal *w);

/* Sequence number of the last durable record (0: none yet). O(1). */
uint64_t yard_wal_durable_seq(const struct yard_wal *w);

/* Records appended and not yet synced. O(1). */
uint64_t yard_wal_pending(const struct yard_wal *w);

/*
 * True when compaction is due: the logs after the current snapshot hold
 * more than opts->compact_bytes and more than twice the snapshot's size
 * (so a large live state is not rewritten again and again). O(1).
 */
int yard_wal_should_compact(const struct yard_wal *w);

/* Called by yard_wal_compact(): write every live record with
 * yard_wal_snapshot_add(), and nothing else (no yard_wal_append: the
 * snapshot must be exactly the state at the moment compaction began).
 * Return 0, or < 0 to abandon the compaction. */
typedef int (*yard_wal_emit_fn)(void *arg, struct yard_wal_snapshot_writer *sw);

/*
 * Add one live record to the snapshot being written. Only from inside an
 * emit callback. Returns 0 or a negative errno (-EMSGSIZE, write errors);
 * after an error the compaction fails. Cost: buffered (1 MiB writes).
 */
int yard_wal_snapshot_add(struct yard_wal_snapshot_writer *sw, const void *rec, size_t len);

/*
 * Replace the logs with a snapshot of the live state. emit must produce
 * exactly the state that replaying every record appended so far would build
 * (records still buffered included: compaction syncs them first).
 *
 * Steps, each safe to crash after (see enum yard_wal_compact_stop): sync;
 * create log.<gen+1> and send appends there; write snap.tmp and fsync it;
 * rename it to snap.<gen> and fsync the directory; retire the files older
 * than the previous snapshot (the previous snapshot and the logs after it
 * stay, as the fallback for a damaged new snapshot).
 *
 * Synchronous: call it between event-loop rounds. Returns 0 or a negative
 * errno. A failure before the new snapshot is in place leaves the old state
 * untouched and is not sticky; a failure of the sync or of creating the new
 * log is sticky. Cost: writing the live state once plus three fsyncs (about
 * 0.1 s per million 60-byte records on an SSD).
 */
int yard_wal_compact(struct yard_wal *w, yard_wal_emit_fn emit, void *arg);

/* Copy the counters (see struct yard_wal_stats). O(1). */
void yard_wal_stats(const struct yard_wal *w, struct yard_wal_stats *out);

/*
 * Sync latency (ns) at quantile q (0 < q <= 1) from the stats' histogram: the
 * upper bound of the bucket holding the value of rank ceil(q * n), clamped
 * to max_sync_ns. 0 when nothing was synced. One pass over the buckets.
 */
uint64_t yard_wal_sync_latency_ns(const struct yard_wal_stats *st, double q);

/* The message of the last failure of w ("" if none). Valid until the next
 * call on w. */
const char *yard_wal_error(const struct yard_wal *w);

#endif
