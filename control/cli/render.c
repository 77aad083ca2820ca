/*
 * render.c - tables and key/value trees for yardctl's table output (see
 * render.h). Cells are copied into the table so callers can format into
 * one scratch buffer per row.
 */
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int yard_cli_table_init(struct yard_cli_table *t, const char *align, unsigned nb_cols,
                        const char *const *titles)
{
    memset(t, 0, sizeof(*t));
    if (nb_cols == 0 || nb_cols > YARD_CLI_TABLE_MAX_COLS)
        return -EINVAL;
    t->nb_cols = nb_cols;
    t->align = align;
    return yard_cli_table_add(t, titles);
}

int yard_cli_table_add(struct yard_cli_table *t, const char *const *cells)
{
    if (t->nb_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **grown = realloc(t->cells, cap * t->nb_cols * sizeof(*grown));
        if (grown == NULL)
            return -ENOMEM;
        t->cells = grown;
        t->cap_rows = cap;
    }
    char **row = t->cells + t->nb_rows * t->nb_cols;
    for (unsigned c = 0; c < t->nb_cols; c++) {
        row[c] = strdup(cells[c] != NULL ? cells[c] : "-");
        if (row[c] == NULL) {
            while (c-- > 0)
                free(row[c]);
            return -ENOMEM;
        }
    }
    t->nb_rows++;
    return 0;
}

void yard_cli_table_print(const struct yard_cli_table *t, FILE *out)
{
    size_t width[YARD_CLI_TABLE_MAX_COLS] = {0};
    for (size_t r = 0; r < t->nb_rows; r++)
        for (unsigned c = 0; c < t->nb_cols; c++) {
            size_t n = strlen(t->cells[r * t->nb_cols + c]);
            if (n > width[c])
                width[c] = n;
        }
    for (size_t r = 0; r < t->nb_rows; r++) {
        for (unsigned c = 0; c < t->nb_cols; c++) {
            const char *cell = t->cells[r * t->nb_cols + c];
            bool right = t->align != NULL && t->align[c] == '>';
            bool last = c + 1 == t->nb_cols;
            if (c > 0)
                fputs("  ", out);
            if (right)
                fprintf(out, "%*s", (int)width[c], cell);
            else if (last)
                fputs(cell, out);
            else
                fprintf(out, "%-*s", (int)width[c], cell);
        }
        fputc('\n', out);
    }
}

void yard_cli_table_free(struct yard_cli_table *t)
{
    for (size_t i = 0; i < t->nb_rows * t->nb_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

const msgpack_object *yard_cli_field(const msgpack_object *o, const char *key)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            memcmp(k->via.str.ptr, key, kl) == 0)
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

const char *yard_cli_text(const msgpack_object *o, char *buf, size_t len)
{
    if (o == NULL) {
        snprintf(buf, len, "-");
        return buf;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(buf, len, "%" PRIu64, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(buf, len, "%" PRId64, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        snprintf(buf, len, "%.6g", o->via.f64);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        snprintf(buf, len, "%s", o->via.boolean ? "yes" : "no");
        break;
    case MSGPACK_OBJECT_ARRAY:
        snprintf(buf, len, "[%u items]", o->via.array.size);
        break;
    case MSGPACK_OBJECT_MAP:
        snprintf(buf, len, "{%u keys}", o->via.map.size);
        break;
    case MSGPACK_OBJECT_BIN:
        snprintf(buf, len, "<%u bytes>", o->via.bin.size);
        break;
    default:
        snprintf(buf, len, "-");
    }
    return buf;
}

const char *yard_cli_field_text(const msgpack_object *o, const char *key, char *buf, size_t len)
{
    return yard_cli_text(yard_cli_field(o, key), buf, len);
}

bool yard_cli_field_num(const msgpack_object *o, const char *key, double *out)
{
    const msgpack_object *v = yard_cli_field(o, key);
    if (v == NULL)
        return false;
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)v->via.u64;
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)v->via.i64;
        return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = v->via.f64;
        return true;
    default:
        return false;
    }
}

static bool is_container(const msgpack_object *o)
{
    return (o->type == MSGPACK_OBJECT_MAP && o->via.map.size > 0) ||
           (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size > 0);
}

void yard_cli_print_tree(FILE *out, const msgpack_object *o, int indent)
{
    char buf[512];
    if (indent > 64)
        return;
    if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *v = &o->via.map.ptr[i].val;
            fprintf(out, "%*s%s:", indent, "",
                    yard_cli_text(&o->via.map.ptr[i].key, buf, sizeof(buf)));
            if (is_container(v)) {
                fputc('\n', out);
                yard_cli_print_tree(out, v, indent + 2);
            } else {
                fprintf(out, " %s\n",
                        v->type == MSGPACK_OBJECT_MAP     ? "{}"
                        : v->type == MSGPACK_OBJECT_ARRAY ? "[]"
                                                          : yard_cli_text(v, buf, sizeof(buf)));
            }
        }
        return;
    }
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            const msgpack_object *v = &o->via.array.ptr[i];
            if (is_container(v)) {
                fprintf(out, "%*s-\n", indent, "");
                yard_cli_print_tree(out, v, indent + 2);
            } else {
                fprintf(out, "%*s- %s\n", indent, "", yard_cli_text(v, buf, sizeof(buf)));
            }
        }
        return;
    }
    fprintf(out, "%*s%s\n", indent, "", yard_cli_text(o, buf, sizeof(buf)));
}
