/*
 * shm.c - creating, taking over and mapping an instance's shared-memory
 * segment.
 *
 * The dataplane creates the segment; the control plane and yardctl map it.
 * Either daemon may restart while the other keeps its mapping, so a new
 * dataplane never truncates or replaces a compatible segment: it takes it
 * over in place, re-initialising only what the dataplane owns (its side of
 * the header, counters, port blocks, rings) and leaving the control plane's
 * side untouched. Only a segment of another layout (magic, ABI version or
 * size) is unlinked and created afresh; a process still mapping the old one
 * keeps a private, orphaned copy and must reopen.
 *
 * The magic is written last, with release ordering, so a reader that sees it
 * also sees a complete header. Creation is serialised between would-be
 * dataplanes with flock() on the object, re-checked after the lock is held
 * (the name may point to a new object by then), so of two dataplanes
 * starting at once exactly one wins and the other is refused.
 */
#include "yard_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

/* rte_ring's element functions copy in 32-bit words. */
_Static_assert(sizeof(struct yard_cmd) % 4 == 0, "yard_cmd must be a multiple of 4 bytes");
_Static_assert(sizeof(struct yard_punt) % 4 == 0, "yard_punt must be a multiple of 4 bytes");
_Static_assert(sizeof(struct yard_reply) % 4 == 0, "yard_reply must be a multiple of 4 bytes");
_Static_assert(sizeof(struct yard_cmd_loc) <= 240, "yard_cmd_loc must fit the command union");
_Static_assert(sizeof(struct yard_cmd_member) <= 240, "yard_cmd_member must fit the command union");
_Static_assert(YARD_SHM_EVENT_SLOTS >= YARD_EV_MAX, "more events than event slots");
_Static_assert(YARD_SHM_DROP_SLOTS >= YARD_DROP_MAX, "more drop reasons than drop slots");
_Static_assert((YARD_SHM_CMD_SLOTS & (YARD_SHM_CMD_SLOTS - 1)) == 0, "ring size: power of 2");
_Static_assert((YARD_SHM_PUNT_SLOTS & (YARD_SHM_PUNT_SLOTS - 1)) == 0, "ring size: power of 2");
_Static_assert((YARD_SHM_REPLY_SLOTS & (YARD_SHM_REPLY_SLOTS - 1)) == 0, "ring size: power of 2");

/* Sections start on their own page: a page fault or a madvise on one
 * section never touches another, and every offset is cache-line aligned. */
#define SECTION_ALIGN 4096u
/* Two cache lines per lcore block: the adjacent-line prefetcher would
 * otherwise make neighbouring lcores' counters share a line in effect. */
#define LCORE_ALIGN 128u
#define PORT_ALIGN  64u

#define OBJECT_PREFIX "/yard-"

struct layout {
    uint64_t cmd_ring_off, punt_ring_off, reply_ring_off, lcore_off, port_off, total;
    uint32_t lcore_block_bytes, port_block_bytes;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

static int compute_layout(struct layout *l)
{
    ssize_t cmd_bytes = rte_ring_get_memsize_elem(sizeof(struct yard_cmd), YARD_SHM_CMD_SLOTS);
    ssize_t punt_bytes = rte_ring_get_memsize_elem(sizeof(struct yard_punt), YARD_SHM_PUNT_SLOTS);
    ssize_t reply_bytes =
        rte_ring_get_memsize_elem(sizeof(struct yard_reply), YARD_SHM_REPLY_SLOTS);
    if (cmd_bytes < 0)
        return (int)cmd_bytes;
    if (punt_bytes < 0)
        return (int)punt_bytes;
    if (reply_bytes < 0)
        return (int)reply_bytes;

    l->lcore_block_bytes = (uint32_t)align_up(sizeof(struct yard_lcore_stats), LCORE_ALIGN);
    l->port_block_bytes = (uint32_t)align_up(sizeof(struct yard_port_stats), PORT_ALIGN);

    uint64_t off = align_up(sizeof(struct yard_shm_header), SECTION_ALIGN);
    l->cmd_ring_off = off;
    off = align_up(off + (uint64_t)cmd_bytes, SECTION_ALIGN);
    l->punt_ring_off = off;
    off = align_up(off + (uint64_t)punt_bytes, SECTION_ALIGN);
    l->reply_ring_off = off;
    off = align_up(off + (uint64_t)reply_bytes, SECTION_ALIGN);
    l->lcore_off = off;
    off = align_up(off + (uint64_t)YARD_SHM_MAX_LCORES * l->lcore_block_bytes, SECTION_ALIGN);
    l->port_off = off;
    off = align_up(off + (uint64_t)YARD_SHM_MAX_PORTS * l->port_block_bytes, SECTION_ALIGN);
    l->total = off;
    return 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool instance_name_ok(const char *instance)
{
    if (instance == NULL)
        return false;
    size_t n = strlen(instance);
    if (n < 1 || n > 31)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = instance[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    /* "." and ".." would name /dev/shm itself or its parent. */
    return strcmp(instance, ".") != 0 && strcmp(instance, "..") != 0;
}

int yard_shm_object_name(const char *instance, char *buf, size_t len)
{
    if (!instance_name_ok(instance))
        return -EINVAL;
    int n = snprintf(buf, len, OBJECT_PREFIX "%s", instance);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

static int bad_instance(const char *instance, char *err, size_t errlen)
{
    set_err(err, errlen,
            "instance name '%s' is unusable; use 1 to 31 characters from A-Z a-z 0-9 _ . -",
            instance ? instance : "(null)");
    return -EINVAL;
}

uint64_t yard_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t yard_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* EPERM means the process exists but belongs to someone else: alive. */
static bool pid_alive(int32_t pid)
{
    if (pid <= 0)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

const char *yard_lcore_role_name(uint32_t role)
{
    switch (role) {
    case YARD_ROLE_WORKER:
        return "worker";
    case YARD_ROLE_TX:
        return "tx";
    case YARD_ROLE_AGENT:
        return "agent";
    default:
        return "none";
    }
}

bool yard_shm_side_alive(const struct yard_shm_side *side, uint64_t max_age_ns)
{
    int32_t pid = __atomic_load_n(&side->pid, __ATOMIC_ACQUIRE);
    uint64_t beat = __atomic_load_n(&side->heartbeat_ns, __ATOMIC_ACQUIRE);
    if (!pid_alive(pid) || beat == 0)
        return false;
    uint64_t now = yard_monotonic_ns();
    return now <= beat || now - beat <= max_age_ns;
}

/* Same magic, ABI version and size as this program would create. */
static bool compatible(const struct yard_shm_header *h, const struct layout *l, uint64_t size)
{
    return size == l->total && h->magic == YARD_SHM_MAGIC &&
           h->abi_version == YARD_SHM_ABI_VERSION &&
           h->header_bytes == sizeof(struct yard_shm_header) && h->total_bytes == l->total;
}

static int init_rings(struct yard_shm *shm, char *err, size_t errlen)
{
    /* Control instances and yardctl may all send commands: MP/SC. Worker
     * lcores and the agent may all punt: MP/SC. */
    int rc = rte_ring_init(yard_shm_cmd_ring(shm), "yard-cmd", YARD_SHM_CMD_SLOTS, RING_F_SC_DEQ);
    if (rc == 0)
        rc =
            rte_ring_init(yard_shm_punt_ring(shm), "yard-punt", YARD_SHM_PUNT_SLOTS, RING_F_SC_DEQ);
    if (rc == 0)
        rc = rte_ring_init(yard_shm_reply_ring(shm), "yard-reply", YARD_SHM_REPLY_SLOTS,
                           RING_F_SC_DEQ);
    if (rc != 0)
        set_err(err, errlen, "shm %s: rte_ring_init failed: %s", shm->name, strerror(-rc));
    return rc;
}

/*
 * Write everything the dataplane owns. The control side is preserved: on a
 * takeover the control plane may be running with this segment mapped.
 */
static int init_dataplane_parts(struct yard_shm *shm, const char *instance, const struct layout *l,
                                char *err, size_t errlen)
{
    struct yard_shm_header *h = shm->hdr;

    h->abi_version = YARD_SHM_ABI_VERSION;
    h->header_bytes = sizeof(struct yard_shm_header);
    h->total_bytes = l->total;
    memset(h->instance, 0, sizeof(h->instance));
    snprintf(h->instance, sizeof(h->instance), "%s", instance);
    h->tsc_hz = 0; /* the dataplane knows it once its EAL is up */
    h->max_lcores = YARD_SHM_MAX_LCORES;
    h->max_ports = YARD_SHM_MAX_PORTS;
    h->nb_events = YARD_EV_MAX;
    h->nb_drops = YARD_DROP_MAX;
    h->nb_classes = YARD_NB_CLASSES;
    h->hist_buckets = YARD_HIST_BUCKETS;
    h->cmd_slots = YARD_SHM_CMD_SLOTS;
    h->cmd_record_bytes = sizeof(struct yard_cmd);
    h->punt_slots = YARD_SHM_PUNT_SLOTS;
    h->punt_record_bytes = sizeof(struct yard_punt);
    h->reply_slots = YARD_SHM_REPLY_SLOTS;
    h->reply_record_bytes = sizeof(struct yard_reply);
    h->lcore_block_bytes = l->lcore_block_bytes;
    h->port_block_bytes = l->port_block_bytes;
    h->cmd_ring_off = l->cmd_ring_off;
    h->punt_ring_off = l->punt_ring_off;
    h->reply_ring_off = l->reply_ring_off;
    h->lcore_off = l->lcore_off;
    h->port_off = l->port_off;

    memset(&h->dataplane, 0, sizeof(h->dataplane));
    h->dataplane.pid = (int32_t)getpid();
    h->dataplane.start_epoch_ns = yard_realtime_ns();
    h->dataplane.heartbeat_ns = yard_monotonic_ns();
    h->cmd_applied_seq = 0;
    h->dataplane_ready = 0;
    h->mode = 0;
    h->dir_names = h->dir_locations = h->dir_capacity = h->dir_bytes = 0;
    h->cmd_applied = h->cmd_rejected = h->sync_swept = 0;
    h->dir_members = h->sync_members_swept = 0;

    memset((char *)h + l->lcore_off, 0, (size_t)YARD_SHM_MAX_LCORES * l->lcore_block_bytes);
    memset((char *)h + l->port_off, 0, (size_t)YARD_SHM_MAX_PORTS * l->port_block_bytes);
    return init_rings(shm, err, errlen);
}

static void *map_fd(int fd, size_t bytes, bool writable)
{
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *p = mmap(NULL, bytes, prot, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

/*
 * Open the existing object for a takeover. Returns 1 with shm mapped when it
 * can be reused in place, 0 when it has another layout (the caller unlinks
 * and recreates), or a negative errno.
 */
static int try_takeover(struct yard_shm *shm, int fd, const char *instance, const struct layout *l,
                        char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = -errno;
        set_err(err, errlen, "shm %s: fstat: %s", shm->name, strerror(errno));
        return rc;
    }
    if ((uint64_t)st.st_size != l->total)
        return 0;

    void *p = map_fd(fd, l->total, true);
    if (p == NULL) {
        int rc = -errno;
        set_err(err, errlen, "shm %s: mmap of %llu bytes: %s", shm->name,
                (unsigned long long)l->total, strerror(errno));
        return rc;
    }
    struct yard_shm_header *h = p;
    if (!compatible(h, l, (uint64_t)st.st_size)) {
        munmap(p, l->total);
        return 0;
    }

    int32_t pid = __atomic_load_n(&h->dataplane.pid, __ATOMIC_ACQUIRE);
    if (pid != (int32_t)getpid() && pid_alive(pid)) {
        munmap(p, l->total);
        set_err(err, errlen,
                "instance '%s' already has a running yard-dataplane (pid %d); stop it or use "
                "another instance name",
                instance, (int)pid);
        return -EBUSY;
    }

    shm->hdr = h;
    shm->bytes = l->total;
    shm->writable = true;
    return 1;
}

/* The lock must be dropped explicitly: the mapping holds a reference to the
 * open file, so close() alone would keep the flock until munmap(). */
static void unlock_close(int fd)
{
    flock(fd, LOCK_UN);
    close(fd);
}

/*
 * Open the object named shm->name, creating it if absent, and hold its
 * flock. Returns 0 with *fd and *fresh set, -EAGAIN when the object was
 * replaced or removed while we waited for the lock (try again), or another
 * negative errno.
 */
static int open_locked(struct yard_shm *shm, int *fd, bool *fresh, char *err, size_t errlen)
{
    *fresh = true;
    *fd = shm_open(shm->name, O_RDWR | O_CREAT | O_EXCL, 0660);
    if (*fd < 0 && errno == EEXIST) {
        *fresh = false;
        *fd = shm_open(shm->name, O_RDWR, 0);
        if (*fd < 0 && errno == ENOENT)
            return -EAGAIN; /* removed between the two calls */
    }
    if (*fd < 0) {
        int rc = -errno;
        set_err(err, errlen, "cannot open /dev/shm%s: %s; run as its owner or as root", shm->name,
                strerror(errno));
        return rc;
    }
    if (flock(*fd, LOCK_EX) != 0) {
        int rc = -errno;
        set_err(err, errlen, "shm %s: flock: %s", shm->name, strerror(errno));
        close(*fd);
        return rc;
    }

    /* Still the object of that name? Another starting dataplane may have
     * replaced it while we waited. */
    struct stat ours, named;
    int check = shm_open(shm->name, O_RDONLY, 0);
    bool same = check >= 0 && fstat(*fd, &ours) == 0 && fstat(check, &named) == 0 &&
                ours.st_ino == named.st_ino && ours.st_dev == named.st_dev;
    if (check >= 0)
        close(check);
    if (!same) {
        unlock_close(*fd);
        return -EAGAIN;
    }
    return 0;
}

int yard_shm_create(struct yard_shm *shm, const char *instance, char *err, size_t errlen)
{
    memset(shm, 0, sizeof(*shm));
    if (yard_shm_object_name(instance, shm->name, sizeof(shm->name)) != 0)
        return bad_instance(instance, err, errlen);

    struct layout l = {0};
    int rc = compute_layout(&l);
    if (rc != 0) {
        set_err(err, errlen, "shm %s: cannot size the rings: %s", shm->name, strerror(-rc));
        return rc;
    }

    int fd = -1;
    bool fresh = false;
    for (int attempt = 0; attempt < 4 && shm->hdr == NULL; attempt++) {
        rc = open_locked(shm, &fd, &fresh, err, errlen);
        if (rc == -EAGAIN)
            continue;
        if (rc != 0)
            return rc;
        if (fresh)
            break;
        rc = try_takeover(shm, fd, instance, &l, err, errlen);
        if (rc < 0) {
            unlock_close(fd);
            return rc;
        }
        if (rc == 0) {
            /* Another layout: a new object under the name; whoever still
             * maps the old one keeps an orphaned copy. */
            shm_unlink(shm->name);
            unlock_close(fd);
            rc = -EAGAIN;
        }
    }
    if (rc == -EAGAIN) {
        set_err(err, errlen,
                "shm %s: the object kept changing under us; is another yard-dataplane starting "
                "with instance '%s'?",
                shm->name, instance);
        return rc;
    }

    if (fresh) {
        if (ftruncate(fd, (off_t)l.total) != 0) {
            rc = -errno;
            set_err(err, errlen, "shm %s: cannot size to %llu bytes: %s", shm->name,
                    (unsigned long long)l.total, strerror(errno));
            goto err_unlink;
        }
        void *p = map_fd(fd, l.total, true);
        if (p == NULL) {
            rc = -errno;
            set_err(err, errlen, "shm %s: mmap of %llu bytes: %s", shm->name,
                    (unsigned long long)l.total, strerror(errno));
            goto err_unlink;
        }
        shm->hdr = p;
        shm->bytes = l.total;
        shm->writable = true;
    }

    /* Hide the header from new readers while it changes; one that mapped it
     * already sees the dataplane pid and start epoch change. */
    __atomic_store_n(&shm->hdr->magic, 0, __ATOMIC_RELEASE);
    rc = init_dataplane_parts(shm, instance, &l, err, errlen);
    if (rc != 0) {
        munmap(shm->hdr, shm->bytes);
        shm->hdr = NULL;
        goto err_unlink;
    }
    __atomic_store_n(&shm->hdr->magic, YARD_SHM_MAGIC, __ATOMIC_RELEASE);
    unlock_close(fd);
    return 0;

err_unlink:
    if (fresh)
        shm_unlink(shm->name);
    unlock_close(fd);
    return rc;
}

/* Geometry this program relies on; a mismatch under the same ABI version is
 * a build error somewhere, reported field by field. */
static int check_geometry(const struct yard_shm_header *h, uint64_t size, const char *name,
                          char *err, size_t errlen)
{
#define EXPECT(cond, fmt, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            set_err(err, errlen, "shm %s: " fmt "; the segment was made by an incompatible build", \
                    name, __VA_ARGS__);                                                            \
            return -EPROTO;                                                                        \
        }                                                                                          \
    } while (0)

    EXPECT(h->header_bytes == sizeof(struct yard_shm_header), "header is %u bytes, expected %zu",
           h->header_bytes, sizeof(struct yard_shm_header));
    EXPECT(h->total_bytes <= size, "header says %llu bytes but the object has %llu",
           (unsigned long long)h->total_bytes, (unsigned long long)size);
    EXPECT(h->lcore_block_bytes >= sizeof(struct yard_lcore_stats),
           "lcore blocks are %u bytes, need %zu", h->lcore_block_bytes,
           sizeof(struct yard_lcore_stats));
    EXPECT(h->port_block_bytes >= sizeof(struct yard_port_stats),
           "port blocks are %u bytes, need %zu", h->port_block_bytes,
           sizeof(struct yard_port_stats));
    EXPECT(h->nb_events <= YARD_SHM_EVENT_SLOTS, "%u events for %u slots", h->nb_events,
           YARD_SHM_EVENT_SLOTS);
    EXPECT(h->nb_drops <= YARD_SHM_DROP_SLOTS, "%u drop reasons for %u slots", h->nb_drops,
           YARD_SHM_DROP_SLOTS);
    EXPECT(h->nb_classes == YARD_NB_CLASSES, "%u classes, expected %u", h->nb_classes,
           YARD_NB_CLASSES);
    EXPECT(h->hist_buckets == YARD_HIST_BUCKETS, "%u histogram buckets, expected %u",
           h->hist_buckets, YARD_HIST_BUCKETS);
    EXPECT(h->max_lcores <= YARD_SHM_MAX_LCORES && h->max_ports <= YARD_SHM_MAX_PORTS,
           "%u lcores and %u ports, at most %u and %u", h->max_lcores, h->max_ports,
           YARD_SHM_MAX_LCORES, YARD_SHM_MAX_PORTS);
    EXPECT(h->cmd_slots == YARD_SHM_CMD_SLOTS && h->cmd_record_bytes == sizeof(struct yard_cmd),
           "command ring of %u x %u bytes, expected %u x %zu", h->cmd_slots, h->cmd_record_bytes,
           YARD_SHM_CMD_SLOTS, sizeof(struct yard_cmd));
    EXPECT(h->punt_slots == YARD_SHM_PUNT_SLOTS && h->punt_record_bytes == sizeof(struct yard_punt),
           "punt ring of %u x %u bytes, expected %u x %zu", h->punt_slots, h->punt_record_bytes,
           YARD_SHM_PUNT_SLOTS, sizeof(struct yard_punt));
    EXPECT(h->reply_slots == YARD_SHM_REPLY_SLOTS &&
               h->reply_record_bytes == sizeof(struct yard_reply),
           "reply ring of %u x %u bytes, expected %u x %zu", h->reply_slots, h->reply_record_bytes,
           YARD_SHM_REPLY_SLOTS, sizeof(struct yard_reply));

    ssize_t cmd_bytes = rte_ring_get_memsize_elem(h->cmd_record_bytes, h->cmd_slots);
    ssize_t punt_bytes = rte_ring_get_memsize_elem(h->punt_record_bytes, h->punt_slots);
    ssize_t reply_bytes = rte_ring_get_memsize_elem(h->reply_record_bytes, h->reply_slots);
    uint64_t t = h->total_bytes;
    EXPECT(cmd_bytes > 0 && h->cmd_ring_off >= h->header_bytes &&
               h->cmd_ring_off + (uint64_t)cmd_bytes <= t,
           "command ring at offset %llu does not fit", (unsigned long long)h->cmd_ring_off);
    EXPECT(punt_bytes > 0 && h->punt_ring_off >= h->header_bytes &&
               h->punt_ring_off + (uint64_t)punt_bytes <= t,
           "punt ring at offset %llu does not fit", (unsigned long long)h->punt_ring_off);
    EXPECT(reply_bytes > 0 && h->reply_ring_off >= h->header_bytes &&
               h->reply_ring_off + (uint64_t)reply_bytes <= t,
           "reply ring at offset %llu does not fit", (unsigned long long)h->reply_ring_off);
    EXPECT(h->lcore_off >= h->header_bytes &&
               h->lcore_off + (uint64_t)h->max_lcores * h->lcore_block_bytes <= t,
           "lcore blocks at offset %llu do not fit", (unsigned long long)h->lcore_off);
    EXPECT(h->port_off >= h->header_bytes &&
               h->port_off + (uint64_t)h->max_ports * h->port_block_bytes <= t,
           "port blocks at offset %llu do not fit", (unsigned long long)h->port_off);
    EXPECT(h->cmd_ring_off % 64 == 0 && h->punt_ring_off % 64 == 0 && h->reply_ring_off % 64 == 0 &&
               h->lcore_off % 64 == 0 && h->port_off % 64 == 0 && h->lcore_block_bytes % 64 == 0 &&
               h->port_block_bytes % 64 == 0,
           "sections not cache-line aligned (lcore blocks at %llu)",
           (unsigned long long)h->lcore_off);
#undef EXPECT
    return 0;
}

int yard_shm_open(struct yard_shm *shm, const char *instance, bool writable, char *err,
                  size_t errlen)
{
    memset(shm, 0, sizeof(*shm));
    if (yard_shm_object_name(instance, shm->name, sizeof(shm->name)) != 0)
        return bad_instance(instance, err, errlen);

    int rc;
    int fd = shm_open(shm->name, writable ? O_RDWR : O_RDONLY, 0);
    if (fd < 0) {
        rc = -errno;
        if (errno == ENOENT)
            set_err(err, errlen,
                    "no appliance instance '%s' (no /dev/shm%s); is yard-dataplane running with "
                    "instance %s?",
                    instance, shm->name, instance);
        else
            set_err(err, errlen,
                    "cannot open /dev/shm%s %s: %s; run as the user of "
                    "yard-dataplane or as root",
                    shm->name, writable ? "read-write" : "read-only", strerror(errno));
        return rc;
    }

    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        set_err(err, errlen, "shm %s: fstat: %s", shm->name, strerror(errno));
        close(fd);
        return rc;
    }
    if ((uint64_t)st.st_size < sizeof(struct yard_shm_header)) {
        close(fd);
        if (st.st_size == 0) {
            set_err(err, errlen, "shm %s is empty: yard-dataplane is still creating it; retry",
                    shm->name);
            return -EAGAIN;
        }
        set_err(err, errlen,
                "shm %s is %lld bytes, smaller than a header (%zu); not a "
                "Switchyard segment, remove /dev/shm%s",
                shm->name, (long long)st.st_size, sizeof(struct yard_shm_header), shm->name);
        return -EPROTO;
    }

    void *p = map_fd(fd, (size_t)st.st_size, writable);
    if (p == NULL) {
        rc = -errno;
        set_err(err, errlen, "shm %s: mmap of %lld bytes: %s", shm->name, (long long)st.st_size,
                strerror(errno));
        close(fd);
        return rc;
    }
    close(fd);
    struct yard_shm_header *h = p;

    uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
    if (magic == 0) {
        set_err(err, errlen, "shm %s is being initialised by yard-dataplane; retry", shm->name);
        rc = -EAGAIN;
        goto err_unmap;
    }
    if (magic != YARD_SHM_MAGIC) {
        set_err(err, errlen,
                "shm %s: bad magic 0x%016llx (expected 0x%016llx); not a "
                "Switchyard segment, remove /dev/shm%s",
                shm->name, (unsigned long long)magic, (unsigned long long)YARD_SHM_MAGIC,
                shm->name);
        rc = -EPROTO;
        goto err_unmap;
    }
    if (h->abi_version != YARD_SHM_ABI_VERSION) {
        set_err(err, errlen,
                "shm %s: ABI version %u, this program speaks version %u; run "
                "matching versions of yard-dataplane, yard-control and yardctl",
                shm->name, h->abi_version, YARD_SHM_ABI_VERSION);
        rc = -EPROTO;
        goto err_unmap;
    }
    rc = check_geometry(h, (uint64_t)st.st_size, shm->name, err, errlen);
    if (rc != 0)
        goto err_unmap;

    shm->hdr = h;
    shm->bytes = (size_t)st.st_size;
    shm->writable = writable;
    return 0;

err_unmap:
    munmap(p, (size_t)st.st_size);
    return rc;
}

void yard_shm_close(struct yard_shm *shm)
{
    if (shm->hdr != NULL)
        munmap(shm->hdr, shm->bytes);
    shm->hdr = NULL;
    shm->bytes = 0;
}

int yard_shm_unlink(const char *instance)
{
    char name[64];
    int rc = yard_shm_object_name(instance, name, sizeof(name));
    if (rc != 0)
        return rc;
    return shm_unlink(name) == 0 ? 0 : -errno;
}

void yard_lcore_stats_add(struct yard_lcore_stats *dst, const struct yard_lcore_stats *src)
{
    for (unsigned e = 0; e < YARD_SHM_EVENT_SLOTS; e++)
        dst->events[e] += src->events[e];
    for (unsigned d = 0; d < YARD_SHM_DROP_SLOTS; d++)
        dst->drops[d] += src->drops[d];
    for (unsigned c = 0; c < YARD_NB_CLASSES; c++) {
        dst->class_routed[c] += src->class_routed[c];
        dst->class_tx[c] += src->class_tx[c];
        dst->class_dropped[c] += src->class_dropped[c];
    }
    yard_hist_add(&dst->latency, &src->latency);
}

unsigned yard_shm_lcores_total(const struct yard_shm *shm, struct yard_lcore_stats *total)
{
    unsigned n = 0;
    memset(total, 0, sizeof(*total));
    for (unsigned l = 0; l < shm->hdr->max_lcores; l++) {
        const struct yard_lcore_stats *st = yard_shm_lcore(shm, l);
        if (!__atomic_load_n(&st->in_use, __ATOMIC_ACQUIRE))
            continue;
        yard_lcore_stats_add(total, st);
        n++;
    }
    return n;
}

void yard_cmd_member_init(struct yard_cmd *cmd, uint32_t type, uint32_t ipv4, uint32_t node,
                          uint64_t seq, uint32_t generation)
{
    memset(cmd, 0, sizeof(*cmd));
    cmd->seq = seq;
    cmd->type = type;
    cmd->generation = generation;
    cmd->u.member.ipv4 = ipv4;
    cmd->u.member.node = node;
}
