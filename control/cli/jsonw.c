/*
 * jsonw.c - the streaming JSON writer behind `yardctl ... -o json`.
 *
 * Kept apart from the commands so every command's JSON is escaped and
 * punctuated the same way.
 */
#include "jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

void yard_jsonw_init(struct yard_jsonw *w, FILE *out)
{
    w->out = out;
    w->depth = 0;
    w->need_comma[0] = false;
    w->after_key = false;
}

/* Comma before a value unless it follows a key or opens its container. */
static void before_value(struct yard_jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->need_comma[w->depth])
        fputc(',', w->out);
    w->need_comma[w->depth] = true;
}

static void open_container(struct yard_jsonw *w, char c)
{
    before_value(w);
    fputc(c, w->out);
    if (w->depth + 1 < YARD_JSONW_MAX_DEPTH)
        w->depth++;
    w->need_comma[w->depth] = false;
}

static void close_container(struct yard_jsonw *w, char c)
{
    fputc(c, w->out);
    if (w->depth > 0)
        w->depth--;
}

void yard_jsonw_object_begin(struct yard_jsonw *w)
{
    open_container(w, '{');
}

void yard_jsonw_object_end(struct yard_jsonw *w)
{
    close_container(w, '}');
}

void yard_jsonw_array_begin(struct yard_jsonw *w)
{
    open_container(w, '[');
}

void yard_jsonw_array_end(struct yard_jsonw *w)
{
    close_container(w, ']');
}

void yard_json_write_string_n(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + n; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void yard_json_write_string(FILE *out, const char *s)
{
    yard_json_write_string_n(out, s, strlen(s));
}

void yard_jsonw_key(struct yard_jsonw *w, const char *key)
{
    before_value(w);
    yard_json_write_string(w->out, key);
    fputc(':', w->out);
    w->after_key = true;
}

void yard_jsonw_str(struct yard_jsonw *w, const char *s)
{
    if (s == NULL) {
        yard_jsonw_null(w);
        return;
    }
    before_value(w);
    yard_json_write_string(w->out, s);
}

void yard_jsonw_u64(struct yard_jsonw *w, uint64_t v)
{
    before_value(w);
    fprintf(w->out, "%" PRIu64, v);
}

void yard_jsonw_i64(struct yard_jsonw *w, int64_t v)
{
    before_value(w);
    fprintf(w->out, "%" PRId64, v);
}

void yard_jsonw_double(struct yard_jsonw *w, double v)
{
    if (!isfinite(v)) {
        yard_jsonw_null(w);
        return;
    }
    before_value(w);
    /* 12 significant digits: exact for counters below 10^12, and rates and
     * percentages do not carry more meaning than that */
    fprintf(w->out, "%.12g", v);
}

void yard_jsonw_bool(struct yard_jsonw *w, bool v)
{
    before_value(w);
    fputs(v ? "true" : "false", w->out);
}

void yard_jsonw_null(struct yard_jsonw *w)
{
    before_value(w);
    fputs("null", w->out);
}

static void write_hex(FILE *out, const char *p, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02x", (unsigned char)p[i]);
    fputc('"', out);
}

/* A map key: strings as they are, anything else as its JSON text. */
static void key_msgpack(struct yard_jsonw *w, const msgpack_object *k)
{
    if (k->type == MSGPACK_OBJECT_STR) {
        before_value(w);
        yard_json_write_string_n(w->out, k->via.str.ptr, k->via.str.size);
        fputc(':', w->out);
        w->after_key = true;
        return;
    }
    char buf[64];
    if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf(buf, sizeof(buf), "%" PRIu64, k->via.u64);
    else if (k->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        snprintf(buf, sizeof(buf), "%" PRId64, k->via.i64);
    else if (k->type == MSGPACK_OBJECT_BOOLEAN)
        snprintf(buf, sizeof(buf), "%s", k->via.boolean ? "true" : "false");
    else if (k->type == MSGPACK_OBJECT_NIL)
        snprintf(buf, sizeof(buf), "null");
    else
        snprintf(buf, sizeof(buf), "?");
    yard_jsonw_key(w, buf);
}

void yard_jsonw_msgpack(struct yard_jsonw *w, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        yard_jsonw_null(w);
        return;
    case MSGPACK_OBJECT_BOOLEAN:
        yard_jsonw_bool(w, o->via.boolean);
        return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        yard_jsonw_u64(w, o->via.u64);
        return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        yard_jsonw_i64(w, o->via.i64);
        return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        yard_jsonw_double(w, o->via.f64);
        return;
    case MSGPACK_OBJECT_STR:
        before_value(w);
        yard_json_write_string_n(w->out, o->via.str.ptr, o->via.str.size);
        return;
    case MSGPACK_OBJECT_BIN:
        before_value(w);
        write_hex(w->out, o->via.bin.ptr, o->via.bin.size);
        return;
    case MSGPACK_OBJECT_EXT:
        yard_jsonw_object_begin(w);
        yard_jsonw_key(w, "ext_type");
        yard_jsonw_i64(w, o->via.ext.type);
        yard_jsonw_key(w, "hex");
        before_value(w);
        write_hex(w->out, o->via.ext.ptr, o->via.ext.size);
        yard_jsonw_object_end(w);
        return;
    case MSGPACK_OBJECT_ARRAY:
        if (w->depth + 1 >= YARD_JSONW_MAX_DEPTH) {
            yard_jsonw_null(w);
            return;
        }
        yard_jsonw_array_begin(w);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            yard_jsonw_msgpack(w, &o->via.array.ptr[i]);
        yard_jsonw_array_end(w);
        return;
    case MSGPACK_OBJECT_MAP:
        if (w->depth + 1 >= YARD_JSONW_MAX_DEPTH) {
            yard_jsonw_null(w);
            return;
        }
        yard_jsonw_object_begin(w);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            key_msgpack(w, &o->via.map.ptr[i].key);
            yard_jsonw_msgpack(w, &o->via.map.ptr[i].val);
        }
        yard_jsonw_object_end(w);
        return;
    }
    yard_jsonw_null(w);
}
