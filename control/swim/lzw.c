/*
 * lzw.c - the LZW of Go's compress/lzw (LSB first, 8-bit literals), which
 * memberlist uses for its compress layer (memberlist.md 4.4), and that
 * layer's `09 {Algo, Buf}` wrapper.
 *
 * Why it is built this way:
 * - The encoder is Go's Writer step for step: a clear code first, the code
 *   width grows when the next code to assign reaches 512/1024/2048, and when
 *   it reaches 4095 a clear (still 12 bits wide) restarts the table. LZW's
 *   output is fixed by those rules alone, so ours is byte-identical to Go's
 *   whatever hash table finds the matches (the tests recompress captured
 *   serf traffic and compare).
 * - The decoder is Go's Reader step for step, including the two cases other
 *   LZW readers differ on: a code equal to the next slot (the "KwKwK" case)
 *   expands to the previous string plus its own first byte, and a table that
 *   fills without a clear freezes instead of failing.
 * - Every table entry is a string the decoder has already written: the
 *   previous code's output followed by the first byte of the next one, which
 *   sit back to back in the output. So an entry is just (offset, length) in
 *   the output and decoding a code is one memcpy; no prefix chains to walk.
 * - Tables live on the stack (32 KiB for the encoder, 24 KiB for the
 *   decoder): no allocation, any thread.
 */
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#define LZW_LIT_WIDTH 8
#define LZW_MAX_WIDTH 12
#define LZW_CLEAR     256u /* 1 << LZW_LIT_WIDTH */
#define LZW_EOF       257u
#define LZW_MAX_CODE  4095u /* (1 << LZW_MAX_WIDTH) - 1 */
#define LZW_INVALID   0xffffu

/* Encoder hash table: twice the number of codes keeps probe chains short. */
#define LZW_HASH_SIZE 8192u
#define LZW_HASH_MASK (LZW_HASH_SIZE - 1)

struct bit_writer {
    uint8_t *out;
    size_t cap;
    size_t len; /* may pass cap: reported as -ENOSPC at the end */
    uint32_t bits;
    unsigned nbits;
    unsigned width;
};

static void put_code(struct bit_writer *w, uint32_t code)
{
    w->bits |= code << w->nbits;
    w->nbits += w->width;
    while (w->nbits >= 8) {
        if (w->len < w->cap)
            w->out[w->len] = (uint8_t)w->bits;
        w->len++;
        w->bits >>= 8;
        w->nbits -= 8;
    }
}

int swim_lzw_compress(uint8_t *out, size_t cap, const uint8_t *in, size_t len)
{
    /* An entry is key << 12 | code with key = prefix code << 8 | byte; codes
     * assigned are >= 258, so 0 marks a free slot. */
    uint32_t table[LZW_HASH_SIZE];
    struct bit_writer w = {out, cap, 0, 0, 0, LZW_LIT_WIDTH + 1};
    uint32_t hi = LZW_EOF, overflow = 1u << (LZW_LIT_WIDTH + 1);

    memset(table, 0, sizeof(table));
    put_code(&w, LZW_CLEAR);
    if (len > 0) {
        uint32_t code = in[0];
        for (size_t i = 1; i <= len; i++) {
            uint32_t key = 0, hash = 0;
            if (i < len) {
                key = code << 8 | in[i];
                hash = ((key >> 12) ^ key) & LZW_HASH_MASK;
                bool found = false;
                for (uint32_t h = hash; table[h] != 0; h = (h + 1) & LZW_HASH_MASK) {
                    if (table[h] >> 12 == key) {
                        code = table[h] & LZW_MAX_CODE;
                        found = true;
                        break;
                    }
                }
                if (found)
                    continue;
            }
            /* No longer match: send what we have; the byte starts the next
             * string. At the end (i == len) the last string goes out the same
             * way, as Go's Close does, including the table bookkeeping. */
            put_code(&w, code);
            code = i < len ? in[i] : 0;
            hi++;
            if (hi == overflow) {
                w.width++;
                overflow <<= 1;
            }
            if (hi == LZW_MAX_CODE) {
                put_code(&w, LZW_CLEAR);
                w.width = LZW_LIT_WIDTH + 1;
                hi = LZW_EOF;
                overflow = 1u << (LZW_LIT_WIDTH + 1);
                memset(table, 0, sizeof(table));
                continue;
            }
            if (i == len)
                break;
            uint32_t h = hash;
            while (table[h] != 0)
                h = (h + 1) & LZW_HASH_MASK;
            table[h] = key << 12 | hi;
        }
    }
    put_code(&w, LZW_EOF);
    if (w.nbits > 0) {
        if (w.len < w.cap)
            w.out[w.len] = (uint8_t)w.bits;
        w.len++;
    }
    if (w.len > cap)
        return -ENOSPC;
    return w.len > INT_MAX ? -EMSGSIZE : (int)w.len;
}

int swim_lzw_decompress(uint8_t *out, size_t cap, const uint8_t *in, size_t len)
{
    /* Entry c (258..4095) is out[ent_off[c] .. ent_off[c] + ent_len[c]). */
    uint32_t ent_off[LZW_MAX_CODE + 1];
    uint16_t ent_len[LZW_MAX_CODE + 1];
    unsigned width = LZW_LIT_WIDTH + 1;
    uint32_t hi = LZW_EOF, overflow = 1u << width;
    uint32_t last = LZW_INVALID, last_off = 0, last_len = 0;
    uint32_t bits = 0;
    unsigned nbits = 0;
    size_t ip = 0, o = 0;

    if (cap > INT_MAX)
        cap = INT_MAX; /* offsets fit 32 bits, the result an int */
    memset(ent_len, 0, sizeof(ent_len));
    for (;;) {
        while (nbits < width) {
            if (ip >= len)
                return -EBADMSG; /* ended without the end code */
            bits |= (uint32_t)in[ip++] << nbits;
            nbits += 8;
        }
        uint32_t code = bits & ((1u << width) - 1);
        bits >>= width;
        nbits -= width;

        uint32_t cur_len;
        if (code < LZW_CLEAR) {
            if (o >= cap)
                return -ENOSPC;
            out[o] = (uint8_t)code;
            cur_len = 1;
        } else if (code == LZW_CLEAR) {
            width = LZW_LIT_WIDTH + 1;
            hi = LZW_EOF;
            overflow = 1u << width;
            last = LZW_INVALID;
            continue;
        } else if (code == LZW_EOF) {
            return (int)o;
        } else if (code <= hi) {
            if (code == hi && last != LZW_INVALID) {
                /* KwKwK: the previous string plus its own first byte. The
                 * previous string ends exactly at o, so no overlap. */
                cur_len = last_len + 1;
                if (cur_len > cap - o)
                    return -ENOSPC;
                memcpy(out + o, out + last_off, last_len);
                out[o + last_len] = out[last_off];
            } else {
                cur_len = ent_len[code];
                if (cur_len == 0)
                    return -EBADMSG; /* never assigned (Go would read stale memory) */
                if (cur_len > cap - o)
                    return -ENOSPC;
                memcpy(out + o, out + ent_off[code], cur_len);
            }
        } else {
            return -EBADMSG; /* a code beyond the next one to assign */
        }
        if (last != LZW_INVALID) {
            /* Slot hi: the previous string and the first byte of this one,
             * which follow each other at last_off. */
            ent_off[hi] = last_off;
            ent_len[hi] = (uint16_t)(last_len + 1);
        }
        last = code;
        last_off = (uint32_t)o;
        last_len = cur_len;
        o += cur_len;
        hi++;
        if (hi >= overflow) {
            if (width == LZW_MAX_WIDTH) {
                /* Table full and no clear: Go keeps decoding with the table
                 * frozen, assigning nothing until the next clear. */
                last = LZW_INVALID;
                hi--;
            } else {
                width++;
                overflow <<= 1;
            }
        }
    }
}

int swim_encode_compress(uint8_t *out, size_t cap, const uint8_t *in, size_t len)
{
    /* 09 82 a4 "Algo" 00 a3 "Buf", then Buf's raw header (1, 3 or 5 bytes). */
    static const uint8_t head[] = {
        SWIM_MSG_COMPRESS, 0x82, 0xa4, 'A', 'l', 'g', 'o', 0x00, 0xa3, 'B', 'u', 'f'};
    const size_t worst = sizeof(head) + 5;
    size_t raw_hdr;
    int n;

    if (cap < worst)
        return -ENOSPC;
    /* Compress behind the largest header, then close the gap. */
    n = swim_lzw_compress(out + worst, cap - worst, in, len);
    if (n < 0)
        return n;
    raw_hdr = n < 32 ? 1 : n <= 0xffff ? 3 : 5;
    memmove(out + sizeof(head) + raw_hdr, out + worst, (size_t)n);
    memcpy(out, head, sizeof(head));
    uint8_t *p = out + sizeof(head);
    if (raw_hdr == 1) {
        p[0] = (uint8_t)(0xa0 | n);
    } else if (raw_hdr == 3) {
        p[0] = 0xda;
        p[1] = (uint8_t)(n >> 8);
        p[2] = (uint8_t)n;
    } else {
        p[0] = 0xdb;
        p[1] = (uint8_t)(n >> 24);
        p[2] = (uint8_t)(n >> 16);
        p[3] = (uint8_t)(n >> 8);
        p[4] = (uint8_t)n;
    }
    size_t total = sizeof(head) + raw_hdr + (size_t)n;
    return total > INT_MAX ? -EMSGSIZE : (int)total;
}
