/*
 * parse_check.c - runs the envelope parser over payloads given as hex, one
 * per line on stdin, and prints one JSON object per line on stdout:
 *   {"ok":true,"ver":1,"kind":0,"dst":"<hex>","src":"<hex>","prio":2,
 *    "ttl":16,"ttl_off":23,"kind_off":2,"id":42,"body":"<hex>"}
 * or {"ok":false,"error":"truncated"}.
 *
 * It exists so that encoders in other languages (test_parse_python.py uses
 * Python's msgpack) can judge the parser without any C of their own. Names
 * and body are printed as hex so that no byte needs JSON escaping. Each
 * payload is parsed from a heap buffer of exactly its size, so a sanitizer
 * build catches any read past the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void print_hex(const char *key, const uint8_t *p, uint32_t n)
{
    printf(",\"%s\":\"", key);
    for (uint32_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    putchar('"');
}

static int check_line(const char *line, size_t n, unsigned long lineno)
{
    if (n % 2 != 0) {
        fprintf(stderr, "parse_check: line %lu: odd number of hex digits (%zu); give whole bytes\n",
                lineno, n);
        return -1;
    }
    uint32_t len = (uint32_t)(n / 2);
    uint8_t *p = malloc(len ? len : 1);
    if (p == NULL) {
        fprintf(stderr, "parse_check: line %lu: out of memory for %u bytes\n", lineno, len);
        return -1;
    }
    for (uint32_t i = 0; i < len; i++) {
        int hi = hex_value(line[2 * i]), lo = hex_value(line[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, "parse_check: line %lu: '%.2s' at column %u is not hex\n", lineno,
                    line + 2 * i, 2 * i + 1);
            free(p);
            return -1;
        }
        p[i] = (uint8_t)(hi << 4 | lo);
    }

    struct yard_envelope env;
    int rc = yard_envelope_parse(p, len, &env);
    if (rc != YARD_PARSE_OK) {
        printf("{\"ok\":false,\"error\":\"%s\"}\n", yard_parse_error_name(rc));
    } else {
        printf("{\"ok\":true,\"ver\":%u,\"kind\":%u", env.ver, env.kind);
        print_hex("dst", p + env.dst_off, env.dst_len);
        print_hex("src", p + env.src_off, env.src_len);
        printf(",\"prio\":%u,\"ttl\":%u,\"ttl_off\":%u,\"kind_off\":%u,\"id\":%llu", env.prio,
               env.ttl, env.ttl_off, env.kind_off, (unsigned long long)env.id);
        print_hex("body", p + env.body_off, env.body_len);
        printf(",\"body_off\":%u}\n", env.body_off);
    }
    free(p);
    return 0;
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    unsigned long lineno = 0;
    int status = 0;

    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (check_line(line, n, lineno) < 0) {
            /* Keep one output line per input line so the caller stays in step. */
            printf("{\"ok\":false,\"error\":\"bad_input\"}\n");
            status = 1;
        }
        fflush(stdout);
    }
    free(line);
    return status;
}
