/*
 * records.h - what yard-control writes to its write-ahead log.
 *
 * Each record is one msgpack array, so the log stays readable by any
 * msgpack tool and new fields can be appended without breaking old logs
 * (a reader ignores elements it does not know):
 *
 *   [1, name, type, origin, ipv4, port, mac|nil, lease_ms, sub]   add/refresh
 *   [2, name, ipv4, port]                                          remove
 *
 * ipv4 is the address as a host-order integer (a.b.c.d = a<<24|...), port
 * the UDP port, type an enum yard_dest_type, origin an enum
 * yard_loc_origin, lease_ms the lease granted (0: none), sub the
 * subscriber's name for a topic location ("" otherwise). A registration's
 * lease restarts at replay: the log records what was granted, not when.
 *
 * One thread; no I/O (the WAL library does that).
 */
#ifndef YARD_CTL_RECORDS_H
#define YARD_CTL_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "directory.h"

enum yard_rec_op {
    YARD_REC_LOC_ADD = 1,
    YARD_REC_LOC_DEL = 2,
};

/* A decoded record: for LOC_DEL only name, ipv4 and udp_port are set. */
struct yard_rec {
    uint8_t op;
    struct yard_ctl_loc_spec spec; /* name and sub point into the decoded bytes */
};

#define YARD_REC_MAX_BYTES 256

/* Encode into buf (YARD_REC_MAX_BYTES); returns the length. */
size_t yard_rec_encode_add(uint8_t *buf, const struct yard_ctl_loc *loc);
size_t yard_rec_encode_del(uint8_t *buf, const struct yard_ctl_name *n, uint32_t ipv4,
                           uint16_t udp_port);

/* Decode; 0 or -EINVAL (not a record this version understands). */
int yard_rec_decode(const void *p, size_t len, struct yard_rec *rec);

#endif
