/*
 * names.h - deterministic, realistic destination names for benchmarks.
 *
 * The load generator, the pcap writer and the demo's route list must agree on
 * the directory without sharing a file: name i is a pure function of i and
 * the longest length allowed, so "names 0..N-1" means the same set
 * everywhere. Names look like what services register ("billing.eu-west.svc-0042",
 * "orders/v2/7", "a") and their lengths are spread evenly over 1..max_len so a
 * benchmark exercises every key width of the directory, not one.
 */
#ifndef YARD_BENCH_NAMES_H
#define YARD_BENCH_NAMES_H

/* Longest name the envelope allows (PROTOCOL.md §1: dst is 1..63 bytes). */
#define YARD_BENCH_NAME_MAX 63

/*
 * Write name number i into buf (max_len + 1 bytes, NUL-terminated) and return
 * its length, 1..max_len. Names are distinct for distinct i with the same
 * max_len; a name never contains NUL, a quote, a backslash or a space, so it
 * can be written into YAML or JSON between double quotes as is.
 * Returns 0 (buf empty) when max_len is 0 or above YARD_BENCH_NAME_MAX, or
 * when i is too large to be told apart in max_len bytes (i >= 36^max_len; for
 * max_len >= 4 that is above 1.6 million).
 * Who may call it: anyone, any thread. Cost: a hash and about 100 byte writes.
 */
unsigned yard_bench_name(unsigned i, unsigned max_len, char *buf);

#endif
