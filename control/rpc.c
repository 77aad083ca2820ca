/*
 * rpc.c - the management API's codec (see rpc.h): the bounded scanner that
 * stands in front of msgpack-c, message framing, and named-argument
 * readers.
 *
 * The scanner is a loop over headers rather than a recursive descent: it
 * keeps one count of objects still owed, which is all it needs to find the
 * end of an object, plus a small stack of per-container counts that exists
 * only to measure depth. Both fit in a struct, so a scan can stop at any
 * byte and resume when more arrive.
 */
#include "rpc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *yard_rpc_code_name(int code)
{
    switch (code) {
    case YARD_RPC_PARSE_ERROR:
        return "parse error";
    case YARD_RPC_INVALID_REQUEST:
        return "invalid request";
    case YARD_RPC_METHOD_NOT_FOUND:
        return "method not found";
    case YARD_RPC_INVALID_PARAMS:
        return "invalid params";
    case YARD_RPC_INTERNAL:
        return "internal error";
    case YARD_RPC_NOT_FOUND:
        return "not found";
    case YARD_RPC_CONFLICT:
        return "conflict";
    case YARD_RPC_UNAVAILABLE:
        return "unavailable";
    case YARD_RPC_TIMEOUT:
        return "timeout";
    case YARD_RPC_NO_SPACE:
        return "no space";
    case YARD_RPC_DURABILITY:
        return "durability";
    default:
        return NULL;
    }
}

/* ---- scanner ---- */

void yard_rpc_scan_reset(struct yard_rpc_scan *s)
{
    s->pos = 0;
    s->owed = 1;
    s->depth = 0;
    s->too_deep = false;
}

static uint32_t be_uint(const uint8_t *p, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

/*
 * What the header at p says: its own size, the payload bytes that follow it
 * (strings, bin, ext, numbers) and the items it opens (containers; a map's
 * count is doubled). Returns -1 for 0xc1 and 0 when p[0..avail) does not
 * yet hold the whole header.
 */
static int read_header(const uint8_t *p, size_t avail, size_t *head, uint64_t *payload,
                       uint64_t *items, bool *container)
{
    uint8_t b = p[0];
    unsigned lenbytes = 0, extra = 0;
    *payload = 0;
    *items = 0;
    *container = false;
    *head = 1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 1;
    if (b >= 0x80 && b <= 0x8f) {
        *items = 2ull * (b & 0x0f);
        *container = true;
        return 1;
    }
    if (b >= 0x90 && b <= 0x9f) {
        *items = b & 0x0f;
        *container = true;
        return 1;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        *payload = b & 0x1f;
        return 1;
    }
    switch (b) {
    case 0xc1:
        return -1;
    case 0xcc: /* uint8 .. float64: fixed payloads */
    case 0xd0:
        *payload = 1;
        return 1;
    case 0xcd:
    case 0xd1:
        *payload = 2;
        return 1;
    case 0xca:
    case 0xce:
    case 0xd2:
        *payload = 4;
        return 1;
    case 0xcb:
    case 0xcf:
    case 0xd3:
        *payload = 8;
        return 1;
    case 0xd4: /* fixext: type byte + 1..16 */
        *payload = 2;
        return 1;
    case 0xd5:
        *payload = 3;
        return 1;
    case 0xd6:
        *payload = 5;
        return 1;
    case 0xd7:
        *payload = 9;
        return 1;
    case 0xd8:
        *payload = 17;
        return 1;
    case 0xc4:
    case 0xd9:
        lenbytes = 1;
        break;
    case 0xc5:
    case 0xda:
        lenbytes = 2;
        break;
    case 0xc6:
    case 0xdb:
        lenbytes = 4;
        break;
    case 0xc7: /* ext: length, then the type byte */
        lenbytes = 1;
        extra = 1;
        break;
    case 0xc8:
        lenbytes = 2;
        extra = 1;
        break;
    case 0xc9:
        lenbytes = 4;
        extra = 1;
        break;
    case 0xdc:
    case 0xdd:
    case 0xde:
    case 0xdf: {
        unsigned nb = (b == 0xdc || b == 0xde) ? 2 : 4;
        if (avail < 1 + (size_t)nb)
            return 0;
        uint64_t n = be_uint(p + 1, nb);
        *items = (b >= 0xde) ? 2 * n : n;
        *container = true;
        *head = 1 + nb;
        return 1;
    }
    default:
        return -1; /* unreachable: every byte is covered above */
    }
    if (avail < 1 + (size_t)lenbytes)
        return 0;
    *payload = (uint64_t)be_uint(p + 1, lenbytes) + extra;
    *head = 1 + lenbytes;
    return 1;
}

/* One object finished: pop every container it completed. */
static void finish_item(struct yard_rpc_scan *s)
{
    while (s->depth > 0) {
        if (--s->left[s->depth - 1] > 0)
            return;
        s->depth--;
    }
}

enum yard_rpc_scan_result yard_rpc_scan_next(struct yard_rpc_scan *s, const uint8_t *buf, size_t n,
                                             size_t max_bytes, size_t *len)
{
    while (s->owed > 0) {
        if (s->pos >= n)
            return YARD_RPC_SCAN_MORE;
        size_t head;
        uint64_t payload, items;
        bool container;
        int rc = read_header(buf + s->pos, n - s->pos, &head, &payload, &items, &container);
        if (rc < 0)
            return YARD_RPC_SCAN_INVALID;
        if (rc == 0)
            return YARD_RPC_SCAN_MORE;
        /* Everything still owed needs at least a byte each. */
        uint64_t owed_after = s->owed - 1 + items;
        if ((uint64_t)s->pos + head + payload + owed_after > max_bytes)
            return YARD_RPC_SCAN_TOO_BIG;
        if (s->pos + head + payload > n)
            return YARD_RPC_SCAN_MORE;
        s->pos += head + (size_t)payload;
        s->owed = owed_after;
        if (container) {
            if (s->depth >= YARD_RPC_MAX_DEPTH)
                s->too_deep = true;
            else if (items > 0)
                s->left[s->depth++] = (uint32_t)(items > UINT32_MAX ? UINT32_MAX : items);
            if (items > 0 && !s->too_deep)
                continue;
        }
        if (!s->too_deep)
            finish_item(s);
    }
    *len = s->pos;
    bool deep = s->too_deep;
    yard_rpc_scan_reset(s);
    return deep ? YARD_RPC_SCAN_TOO_DEEP : YARD_RPC_SCAN_COMPLETE;
}

/* ---- packing ---- */

void yard_rpc_pack_cstr(msgpack_packer *pk, const char *s)
{
    if (s == NULL) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void yard_rpc_pack_error(msgpack_packer *pk, int code, const char *message)
{
    msgpack_pack_map(pk, 2);
    yard_rpc_pack_kv_i64(pk, "code", code);
    yard_rpc_pack_kv_str(pk, "message", message != NULL ? message : "");
}

void yard_rpc_pack_response_head(msgpack_packer *pk, int64_t msgid)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, YARD_RPC_RESPONSE);
    if (msgid < 0)
        msgpack_pack_nil(pk);
    else
        msgpack_pack_uint32(pk, (uint32_t)msgid);
}

void yard_rpc_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, YARD_RPC_REQUEST);
    msgpack_pack_uint32(pk, msgid);
    yard_rpc_pack_cstr(pk, method);
}

void yard_rpc_pack_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    yard_rpc_pack_cstr(pk, key);
    yard_rpc_pack_cstr(pk, value);
}

void yard_rpc_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    yard_rpc_pack_cstr(pk, key);
    msgpack_pack_uint64(pk, value);
}

void yard_rpc_pack_kv_i64(msgpack_packer *pk, const char *key, int64_t value)
{
    yard_rpc_pack_cstr(pk, key);
    msgpack_pack_int64(pk, value);
}

void yard_rpc_pack_kv_bool(msgpack_packer *pk, const char *key, bool value)
{
    yard_rpc_pack_cstr(pk, key);
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void yard_rpc_pack_kv_double(msgpack_packer *pk, const char *key, double value)
{
    yard_rpc_pack_cstr(pk, key);
    msgpack_pack_double(pk, value);
}

void yard_rpc_pack_kv_nil(msgpack_packer *pk, const char *key)
{
    yard_rpc_pack_cstr(pk, key);
    msgpack_pack_nil(pk);
}

/* ---- reading ---- */

static bool bytes_eq(const char *p, uint32_t n, const char *s)
{
    size_t sl = strlen(s);
    return sl == n && memcmp(p, s, n) == 0;
}

bool yard_rpc_obj_streq(const msgpack_object *o, const char *s)
{
    return o != NULL && o->type == MSGPACK_OBJECT_STR &&
           bytes_eq(o->via.str.ptr, o->via.str.size, s);
}

const msgpack_object *yard_rpc_map_get(const msgpack_object *map, const char *name)
{
    if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if ((k->type == MSGPACK_OBJECT_STR && bytes_eq(k->via.str.ptr, k->via.str.size, name)) ||
            (k->type == MSGPACK_OBJECT_BIN && bytes_eq(k->via.bin.ptr, k->via.bin.size, name)))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

const msgpack_object *yard_rpc_param(const msgpack_object *args, const char *name)
{
    return yard_rpc_map_get(args, name);
}

/* The argument, or NULL when absent or nil (both mean "not given"). */
static const msgpack_object *given(const msgpack_object *args, const char *name)
{
    const msgpack_object *v = yard_rpc_param(args, name);
    return v == NULL || v->type == MSGPACK_OBJECT_NIL ? NULL : v;
}

int yard_rpc_param_strref(const msgpack_object *args, const char *name, const char **ptr,
                          uint32_t *len)
{
    const msgpack_object *v = given(args, name);
    if (v == NULL)
        return -ENOENT;
    if (v->type == MSGPACK_OBJECT_STR) {
        *ptr = v->via.str.ptr;
        *len = v->via.str.size;
        return 0;
    }
    if (v->type == MSGPACK_OBJECT_BIN) {
        *ptr = v->via.bin.ptr;
        *len = v->via.bin.size;
        return 0;
    }
    return -EINVAL;
}

int yard_rpc_param_str(const msgpack_object *args, const char *name, char *buf, size_t size)
{
    const char *p;
    uint32_t n;
    int rc = yard_rpc_param_strref(args, name, &p, &n);
    if (rc != 0)
        return rc;
    if ((size_t)n >= size || memchr(p, '\0', n) != NULL)
        return -EINVAL;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

int yard_rpc_param_u64(const msgpack_object *args, const char *name, uint64_t *out)
{
    const msgpack_object *v = given(args, name);
    if (v == NULL)
        return -ENOENT;
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -EINVAL;
    *out = v->via.u64;
    return 0;
}

int yard_rpc_param_i64(const msgpack_object *args, const char *name, int64_t *out)
{
    const msgpack_object *v = given(args, name);
    if (v == NULL)
        return -ENOENT;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return 0;
    }
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) {
        *out = (int64_t)v->via.u64;
        return 0;
    }
    return -EINVAL;
}

int yard_rpc_param_double(const msgpack_object *args, const char *name, double *out)
{
    const msgpack_object *v = given(args, name);
    if (v == NULL)
        return -ENOENT;
    switch (v->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = v->via.f64;
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)v->via.u64;
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)v->via.i64;
        return 0;
    default:
        return -EINVAL;
    }
}

int yard_rpc_param_bool(const msgpack_object *args, const char *name, bool *out)
{
    const msgpack_object *v = given(args, name);
    if (v == NULL)
        return -ENOENT;
    if (v->type != MSGPACK_OBJECT_BOOLEAN)
        return -EINVAL;
    *out = v->via.boolean;
    return 0;
}

static const char *type_word(enum yard_rpc_param_type t)
{
    switch (t) {
    case YARD_RPC_P_STR:
        return "a string";
    case YARD_RPC_P_U64:
        return "a non-negative integer";
    case YARD_RPC_P_I64:
        return "an integer";
    case YARD_RPC_P_DBL:
        return "a number";
    case YARD_RPC_P_BOOL:
        return "true or false";
    default:
        return "a value";
    }
}

static int read_one(const msgpack_object *args, const struct yard_rpc_param_spec *p)
{
    switch (p->type) {
    case YARD_RPC_P_STR:
        return yard_rpc_param_str(args, p->name, p->out, p->size);
    case YARD_RPC_P_U64:
        return yard_rpc_param_u64(args, p->name, p->out);
    case YARD_RPC_P_I64:
        return yard_rpc_param_i64(args, p->name, p->out);
    case YARD_RPC_P_DBL:
        return yard_rpc_param_double(args, p->name, p->out);
    case YARD_RPC_P_BOOL:
        return yard_rpc_param_bool(args, p->name, p->out);
    case YARD_RPC_P_ANY: {
        const msgpack_object *v = given(args, p->name);
        if (v == NULL)
            return -ENOENT;
        *(const msgpack_object **)p->out = v;
        return 0;
    }
    }
    return -EINVAL;
}

int yard_rpc_params_read(const msgpack_object *args, const struct yard_rpc_param_spec *spec,
                         unsigned n, char *err, size_t errlen)
{
    if (args == NULL || args->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "params must be [ {name: value, ...} ]");
        return -EINVAL;
    }
    for (uint32_t i = 0; i < args->via.map.size; i++) {
        const msgpack_object *k = &args->via.map.ptr[i].key;
        bool known = false;
        for (unsigned j = 0; j < n && !known; j++)
            known = k->type == MSGPACK_OBJECT_STR &&
                    bytes_eq(k->via.str.ptr, k->via.str.size, spec[j].name);
        if (known)
            continue;
        if (k->type == MSGPACK_OBJECT_STR)
            snprintf(err, errlen, "unknown argument '%.*s'",
                     (int)(k->via.str.size > 64 ? 64 : k->via.str.size), k->via.str.ptr);
        else
            snprintf(err, errlen, "argument names must be strings");
        return -EINVAL;
    }
    for (unsigned j = 0; j < n; j++) {
        const struct yard_rpc_param_spec *p = &spec[j];
        int rc = read_one(args, p);
        if (p->present != NULL)
            *p->present = rc == 0;
        if (rc == -ENOENT && !p->required)
            continue;
        if (rc == -ENOENT) {
            snprintf(err, errlen, "missing argument '%s'", p->name);
            return -EINVAL;
        }
        if (rc != 0) {
            if (p->type == YARD_RPC_P_STR)
                snprintf(err, errlen, "argument '%s' must be a string of at most %zu bytes",
                         p->name, p->size > 0 ? p->size - 1 : 0);
            else
                snprintf(err, errlen, "argument '%s' must be %s", p->name, type_word(p->type));
            return -EINVAL;
        }
    }
    return 0;
}
