/*
 * render.h - yardctl's human-readable output of RPC results: aligned
 * tables with a header row, and indented "key: value" trees.
 *
 * Results come from a daemon that may be newer or older than this yardctl,
 * so every accessor tolerates a missing field or a field of another type
 * (shown as "-") rather than failing. Single-threaded; cost linear in the
 * cells printed.
 */
#ifndef YARD_CLI_RENDER_H
#define YARD_CLI_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <msgpack.h>

#define YARD_CLI_TABLE_MAX_COLS 10

/* A table collected row by row, printed with each column as wide as its
 * widest cell. align: one char per column, '<' left or '>' right. */
struct yard_cli_table {
    unsigned nb_cols;
    const char *align;
    size_t nb_rows, cap_rows;
    char **cells; /* nb_rows x nb_cols, row 0 the header */
};

/* Start a table with these column titles. 0 or -ENOMEM. */
int yard_cli_table_init(struct yard_cli_table *t, const char *align, unsigned nb_cols,
                        const char *const *titles);
/* Append a row of nb_cols cells (copied; NULL prints "-"). 0 or -ENOMEM. */
int yard_cli_table_add(struct yard_cli_table *t, const char *const *cells);
/* Print the header and rows; the last column is not padded. */
void yard_cli_table_print(const struct yard_cli_table *t, FILE *out);
void yard_cli_table_free(struct yard_cli_table *t);

/* A map as indented "key: value" lines, nested maps and arrays below
 * their key ("- " for array items). */
void yard_cli_print_tree(FILE *out, const msgpack_object *o, int indent);

/* ---- reading fields of a result ---- */

/* Field `key` of map o (NULL when o is not a map or has no such key). */
const msgpack_object *yard_cli_field(const msgpack_object *o, const char *key);
/* A scalar as text into buf: strings as they are, numbers in decimal,
 * booleans as yes/no, nil or absent as "-". Returns buf. */
const char *yard_cli_text(const msgpack_object *o, char *buf, size_t len);
/* Field as text (see yard_cli_text). */
const char *yard_cli_field_text(const msgpack_object *o, const char *key, char *buf, size_t len);
/* Field as a number: true and the value when it is one. */
bool yard_cli_field_num(const msgpack_object *o, const char *key, double *out);

#endif
