/*
 * jsonw.h - a streaming JSON writer for yardctl's machine-readable output.
 *
 * Output is written as it is produced (no tree in memory) and the writer
 * places the commas, so callers only say what comes next. Strings are
 * escaped per RFC 8259; non-finite numbers, which JSON cannot carry, are
 * written as null. Single-threaded; each call is a few fprintf()s.
 */
#ifndef YARD_JSONW_H
#define YARD_JSONW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <msgpack.h>

#define YARD_JSONW_MAX_DEPTH 16

struct yard_jsonw {
    FILE *out;
    int depth;
    bool need_comma[YARD_JSONW_MAX_DEPTH];
    bool after_key; /* a key was written: the next value needs no comma */
};

/* Start writing to out. */
void yard_jsonw_init(struct yard_jsonw *w, FILE *out);

/* Containers. Inside an object, precede each value with yard_jsonw_key(). */
void yard_jsonw_object_begin(struct yard_jsonw *w);
void yard_jsonw_object_end(struct yard_jsonw *w);
void yard_jsonw_array_begin(struct yard_jsonw *w);
void yard_jsonw_array_end(struct yard_jsonw *w);
void yard_jsonw_key(struct yard_jsonw *w, const char *key);

/* Scalar values. yard_jsonw_str(w, NULL) writes null. */
void yard_jsonw_str(struct yard_jsonw *w, const char *s);
void yard_jsonw_u64(struct yard_jsonw *w, uint64_t v);
void yard_jsonw_i64(struct yard_jsonw *w, int64_t v);
void yard_jsonw_double(struct yard_jsonw *w, double v);
void yard_jsonw_bool(struct yard_jsonw *w, bool v);
void yard_jsonw_null(struct yard_jsonw *w);

/* Write a JSON string literal of s (quotes included) to out. */
void yard_json_write_string(FILE *out, const char *s);
/* The same for n bytes that may hold NULs (written as \u0000). */
void yard_json_write_string_n(FILE *out, const char *s, size_t n);

/*
 * A msgpack object (an RPC result) as one JSON value. Maps become objects
 * (non-string keys are written as their JSON text, quoted), bin becomes a
 * hex string, ext becomes {"ext_type": T, "hex": "..."}. Nesting deeper
 * than YARD_JSONW_MAX_DEPTH is written as null.
 */
void yard_jsonw_msgpack(struct yard_jsonw *w, const msgpack_object *o);

#endif
