/*
 * rpc.h - the management API's codec: error codes, the message framing of
 * MessagePack-RPC, and helpers that read a method's named arguments.
 *
 * The wire format is the public msgpack-rpc spec (PROTOCOL.md section 2):
 * request [0, msgid, method, params], response [1, msgid, error, result],
 * notification [2, method, params]; error is nil or {"code": int,
 * "message": str}. Every Switchyard method takes its arguments by name:
 * params is [ {name: value, ...} ], or [] when there are none; a bare map
 * is accepted too. Both the server (rpc_server.h) and the blocking client
 * (rpc_client.h) use this file, so the two cannot disagree on the framing.
 *
 * yard_rpc_scan() is the guard in front of msgpack-c: msgpack-c allocates
 * memory for a container as soon as it reads the container's header, so a
 * 5-byte "array of 4 billion elements" would make it allocate tens of
 * gigabytes. The scanner walks the bytes first, with limits on size and
 * depth, and only a complete object that passed it is handed to msgpack-c.
 *
 * Everything here is pure computation on buffers: callable from any thread,
 * cost linear in the bytes looked at.
 */
#ifndef YARD_RPC_H
#define YARD_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

/* Error codes in the error map. The negative ones are JSON-RPC 2.0's, which
 * msgpack-rpc clients commonly understand; the positive ones are
 * Switchyard's own. */
enum yard_rpc_code {
    YARD_RPC_PARSE_ERROR = -32700,     /* bytes that are not msgpack */
    YARD_RPC_INVALID_REQUEST = -32600, /* msgpack, but not a request */
    YARD_RPC_METHOD_NOT_FOUND = -32601,
    YARD_RPC_INVALID_PARAMS = -32602,
    YARD_RPC_INTERNAL = -32603,
    YARD_RPC_NOT_FOUND = 1,   /* no such endpoint, route, ... */
    YARD_RPC_CONFLICT = 2,    /* exists already, or conflicts with config */
    YARD_RPC_UNAVAILABLE = 3, /* the dataplane is down */
    YARD_RPC_TIMEOUT = 4,     /* e.g. wait.applied ran out of time */
    YARD_RPC_NO_SPACE = 5,    /* a table or a limit is full */
    YARD_RPC_DURABILITY = 6,  /* the WAL write failed: the change is not made */
};

/* Message types, the first element of every message. */
enum yard_rpc_type {
    YARD_RPC_REQUEST = 0,
    YARD_RPC_RESPONSE = 1,
    YARD_RPC_NOTIFY = 2,
};

/* The largest request the server accepts, and the deepest nesting. */
#define YARD_RPC_MAX_REQUEST_BYTES (1u << 20)
#define YARD_RPC_MAX_DEPTH         32
/* Method names are short ASCII ("endpoints.add"). */
#define YARD_RPC_MAX_METHOD 64

/* A short lowercase name of a code ("invalid params", "not found"), or NULL
 * for a code this file does not know. */
const char *yard_rpc_code_name(int code);

/* ---- scanning untrusted bytes ---- */

/*
 * Resumable scanner state: where the next object starts and how far it has
 * been walked. Zero it (or yard_rpc_scan_reset) before the first object.
 */
struct yard_rpc_scan {
    size_t pos;                        /* bytes of the current object walked so far */
    uint64_t owed;                     /* objects still to read before it is complete */
    unsigned depth;                    /* open containers */
    bool too_deep;                     /* a container opened beyond YARD_RPC_MAX_DEPTH */
    uint32_t left[YARD_RPC_MAX_DEPTH]; /* items owed, per open container */
};

enum yard_rpc_scan_result {
    YARD_RPC_SCAN_COMPLETE = 0, /* one object of *len bytes is at buf[0] */
    YARD_RPC_SCAN_MORE = 1,     /* incomplete: call again with more bytes */
    YARD_RPC_SCAN_INVALID = -1, /* byte 0xc1, never valid msgpack */
    YARD_RPC_SCAN_TOO_BIG = -2, /* would exceed max_bytes */
    YARD_RPC_SCAN_TOO_DEEP = -3 /* complete, but nested deeper than the limit */
};

void yard_rpc_scan_reset(struct yard_rpc_scan *s);

/*
 * Find the end of the msgpack object at buf[0..n). Resumes where the last
 * call stopped, so bytes that arrive one at a time cost linear time in
 * total; buf must start at the same object every call (it may have moved).
 * A container's claimed element count is checked against max_bytes before
 * anything is counted: each element needs at least one byte. On COMPLETE
 * and TOO_DEEP *len is the object's length (TOO_DEEP objects can be skipped
 * whole) and the state is reset for the next object.
 */
enum yard_rpc_scan_result yard_rpc_scan_next(struct yard_rpc_scan *s, const uint8_t *buf, size_t n,
                                             size_t max_bytes, size_t *len);

/* ---- packing messages ---- */

/* Pack a string given as a C string (NULL packs nil). */
void yard_rpc_pack_cstr(msgpack_packer *pk, const char *s);
/* Pack {"code": code, "message": message}. */
void yard_rpc_pack_error(msgpack_packer *pk, int code, const char *message);
/* Pack the first three elements of a response: 0x94, 1, msgid, then the
 * caller packs error and result. msgid < 0 packs nil (no msgid known). */
void yard_rpc_pack_response_head(msgpack_packer *pk, int64_t msgid);
/* Pack [0, msgid, method, ] and leave the params to the caller. */
void yard_rpc_pack_request_head(msgpack_packer *pk, uint32_t msgid, const char *method);

/* Map entries: key then value, for handlers building results. */
void yard_rpc_pack_kv_str(msgpack_packer *pk, const char *key, const char *value);
void yard_rpc_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t value);
void yard_rpc_pack_kv_i64(msgpack_packer *pk, const char *key, int64_t value);
void yard_rpc_pack_kv_bool(msgpack_packer *pk, const char *key, bool value);
void yard_rpc_pack_kv_double(msgpack_packer *pk, const char *key, double value);
void yard_rpc_pack_kv_nil(msgpack_packer *pk, const char *key);

/* ---- reading named arguments ----
 *
 * args is the map of named arguments (the server hands every handler one,
 * empty when the client sent none). Each getter returns 0 and the value,
 * -ENOENT when the name is absent (or its value is nil: an explicit nil
 * means "not given"), or -EINVAL when the value has the wrong type or does
 * not fit (negative for u64, over 2^63 for i64, too long for the buffer).
 */

/* The value of `name` in args, or NULL. Keys are compared as bytes. */
const msgpack_object *yard_rpc_param(const msgpack_object *args, const char *name);

/* String (str or bin) by reference into the request: not NUL-terminated. */
int yard_rpc_param_strref(const msgpack_object *args, const char *name, const char **ptr,
                          uint32_t *len);
/* String copied into buf (size bytes, NUL-terminated); -EINVAL if it does
 * not fit or contains a NUL byte. */
int yard_rpc_param_str(const msgpack_object *args, const char *name, char *buf, size_t size);
int yard_rpc_param_u64(const msgpack_object *args, const char *name, uint64_t *out);
int yard_rpc_param_i64(const msgpack_object *args, const char *name, int64_t *out);
/* Any number (integers are converted). */
int yard_rpc_param_double(const msgpack_object *args, const char *name, double *out);
int yard_rpc_param_bool(const msgpack_object *args, const char *name, bool *out);

/*
 * Table-driven reading of all arguments at once, for handlers: each entry
 * names an argument, its type and where to store it; `present` (optional)
 * says whether it was given. Fails with -EINVAL and a message in err naming
 * the argument when a required one is missing, one has the wrong type, or
 * args holds a name the table does not list (a misspelt optional argument
 * must not be silently ignored). Handlers pass err to yard_rpc_reply_error
 * with YARD_RPC_INVALID_PARAMS.
 */
enum yard_rpc_param_type {
    YARD_RPC_P_STR,  /* out: char[size] */
    YARD_RPC_P_U64,  /* out: uint64_t */
    YARD_RPC_P_I64,  /* out: int64_t */
    YARD_RPC_P_DBL,  /* out: double */
    YARD_RPC_P_BOOL, /* out: bool */
    YARD_RPC_P_ANY,  /* out: const msgpack_object * (any type) */
};

struct yard_rpc_param_spec {
    const char *name;
    enum yard_rpc_param_type type;
    bool required;
    void *out;
    size_t size;   /* YARD_RPC_P_STR: bytes at out */
    bool *present; /* may be NULL */
};

int yard_rpc_params_read(const msgpack_object *args, const struct yard_rpc_param_spec *spec,
                         unsigned n, char *err, size_t errlen);

/* ---- reading responses (client side, and tests) ---- */

/* The value of key `name` in any map object, or NULL (map NULL or not a map). */
const msgpack_object *yard_rpc_map_get(const msgpack_object *map, const char *name);
/* true when o is a str equal to s. */
bool yard_rpc_obj_streq(const msgpack_object *o, const char *s);

#endif
