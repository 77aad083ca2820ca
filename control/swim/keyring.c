/*
 * keyring.c - memberlist's AES-GCM keyring and blob format (see keyring.h;
 * memberlist's security.go and keyring.go are the reference).
 *
 * Why it is built this way:
 * - OpenSSL's EVP interface, not a hand-rolled AES: libcrypto picks AES-NI
 *   and CLMUL when the CPU has them and is what the distribution patches.
 * - The keyring is a fixed array with the primary at index 0, the order
 *   memberlist's installKeys keeps, so "try every key" tries the primary
 *   first, which is the one a healthy cluster uses.
 * - Nonces are 12 random bytes per message, as memberlist does; with 2^32
 *   messages per key the collision odds stay below 2^-32 (NIST SP 800-38D
 *   8.3), far beyond what gossip sends between rotations.
 * - vsn 0's padding byte is checked against the block size before it is
 *   used; memberlist's pkcs7decode trusts it (and would panic on a bad one
 *   from a peer holding the key).
 */
#include "keyring.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define AES_BLOCK 16

static bool key_len_ok(size_t len)
{
    return len == 16 || len == 24 || len == 32;
}

static const EVP_CIPHER *gcm_for(size_t key_len)
{
    return key_len == 16   ? EVP_aes_128_gcm()
           : key_len == 24 ? EVP_aes_192_gcm()
                           : EVP_aes_256_gcm();
}

static int find_key(const struct swim_keyring *kr, const uint8_t *key, size_t len)
{
    for (unsigned i = 0; i < kr->count; i++)
        if (kr->keys[i].len == len && CRYPTO_memcmp(kr->keys[i].bytes, key, len) == 0)
            return (int)i;
    return -1;
}

void swim_keyring_init(struct swim_keyring *kr)
{
    memset(kr, 0, sizeof(*kr));
}

void swim_keyring_clear(struct swim_keyring *kr)
{
    OPENSSL_cleanse(kr, sizeof(*kr));
}

int swim_keyring_add(struct swim_keyring *kr, const uint8_t *key, size_t len)
{
    if (!key_len_ok(len))
        return -EINVAL;
    if (find_key(kr, key, len) >= 0)
        return 0;
    if (kr->count >= SWIM_KEYRING_MAX)
        return -ENOSPC;
    kr->keys[kr->count].len = (uint8_t)len;
    memcpy(kr->keys[kr->count].bytes, key, len);
    kr->count++;
    return 0;
}

int swim_keyring_use(struct swim_keyring *kr, const uint8_t *key, size_t len)
{
    int rc = swim_keyring_add(kr, key, len);
    if (rc < 0)
        return rc;
    int i = find_key(kr, key, len);
    struct swim_key k = kr->keys[i];
    /* The others keep their order behind it. */
    memmove(&kr->keys[1], &kr->keys[0], (size_t)i * sizeof(kr->keys[0]));
    kr->keys[0] = k;
    OPENSSL_cleanse(&k, sizeof(k));
    return 0;
}

int swim_keyring_remove(struct swim_keyring *kr, const uint8_t *key, size_t len)
{
    int i = find_key(kr, key, len);
    if (i < 0)
        return -ENOENT;
    if (i == 0)
        return -EBUSY;
    memmove(&kr->keys[i], &kr->keys[i + 1], (kr->count - (unsigned)i - 1) * sizeof(kr->keys[0]));
    kr->count--;
    OPENSSL_cleanse(&kr->keys[kr->count], sizeof(kr->keys[0]));
    return 0;
}

static int fail(char *err, size_t err_cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_cap, const char *fmt, ...)
{
    if (err_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_cap, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int swim_key_from_base64(const char *b64, uint8_t key[SWIM_KEY_MAX], char *err, size_t err_cap)
{
    const char *s = b64, *e;
    size_t n, pad = 0, out = 0;
    uint32_t acc = 0;

    while (is_space(*s))
        s++;
    e = s + strlen(s);
    while (e > s && is_space(e[-1]))
        e--;
    n = (size_t)(e - s);
    if (n == 0)
        return fail(err, err_cap, "keyring: the key is empty; make one with `serf keygen`");
    /* 32 bytes take 44 characters; anything much longer is not a key. */
    if (n > 64 || n % 4 != 0)
        return fail(err, err_cap,
                    "keyring: the key is %zu characters long; a base64 AES key (`serf keygen`) "
                    "is 24, 32 or 44",
                    n);
    while (pad < 2 && s[n - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return fail(err, err_cap,
                        "keyring: the key is not base64: character '%c' at position %zu", s[i],
                        i + 1);
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            key[out++] = (uint8_t)(acc >> 16);
            key[out++] = (uint8_t)(acc >> 8);
            key[out++] = (uint8_t)acc;
            acc = 0;
        }
    }
    /* The last group: 2 or 3 characters before the padding. */
    if (pad == 2) {
        key[out++] = (uint8_t)(acc >> 4);
    } else if (pad == 1) {
        key[out++] = (uint8_t)(acc >> 10);
        key[out++] = (uint8_t)(acc >> 2);
    }
    if (!key_len_ok(out)) {
        OPENSSL_cleanse(key, SWIM_KEY_MAX);
        return fail(err, err_cap,
                    "keyring: the key decodes to %zu bytes; AES keys are 16, 24 or 32 bytes "
                    "(`serf keygen` makes 32)",
                    out);
    }
    return (int)out;
}

int swim_keyring_add_base64(struct swim_keyring *kr, const char *b64, char *err, size_t err_cap)
{
    uint8_t key[SWIM_KEY_MAX];
    int n = swim_key_from_base64(b64, key, err, err_cap);
    if (n < 0)
        return n;
    int rc = swim_keyring_add(kr, key, (size_t)n);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc == -ENOSPC && err_cap > 0)
        snprintf(err, err_cap, "keyring: %d keys are installed already; remove one first",
                 SWIM_KEYRING_MAX);
    return rc;
}

int swim_encrypt(const struct swim_keyring *kr, uint8_t *out, size_t cap, const uint8_t *in,
                 size_t len, const uint8_t *aad, size_t aad_len)
{
    static const uint8_t none[1];
    const struct swim_key *k;
    EVP_CIPHER_CTX *ctx;
    int outl = 0, finl = 0, rc = -EIO;

    if (kr == NULL || kr->count == 0)
        return -ENOKEY;
    if (len > INT_MAX - SWIM_ENCRYPT_OVERHEAD || aad_len > INT_MAX)
        return -EMSGSIZE;
    if (cap < SWIM_ENCRYPT_OVERHEAD || len > cap - SWIM_ENCRYPT_OVERHEAD)
        return -ENOSPC;
    k = &kr->keys[0];
    out[0] = 1;
    if (RAND_bytes(out + 1, SWIM_ENCRYPT_NONCE) != 1)
        return -EIO;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return -ENOMEM;
    if (EVP_EncryptInit_ex(ctx, gcm_for(k->len), NULL, k->bytes, out + 1) != 1)
        goto out;
    if (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1)
        goto out;
    if (EVP_EncryptUpdate(ctx, out + SWIM_ENCRYPT_HEADER, &outl, len ? in : none, (int)len) != 1)
        goto out;
    if (EVP_EncryptFinal_ex(ctx, out + SWIM_ENCRYPT_HEADER + outl, &finl) != 1)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SWIM_ENCRYPT_TAG,
                            out + SWIM_ENCRYPT_HEADER + len) != 1)
        goto out;
    rc = (int)(len + SWIM_ENCRYPT_OVERHEAD);
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* 1: authentic, plaintext in out; 0: not this key; < 0: libcrypto failed. */
static int open_with(EVP_CIPHER_CTX *ctx, const struct swim_key *k, uint8_t *out, const uint8_t *in,
                     size_t len, const uint8_t *aad, size_t aad_len)
{
    size_t ct_len = len - SWIM_ENCRYPT_OVERHEAD;
    uint8_t tag[SWIM_ENCRYPT_TAG];
    int outl = 0, finl = 0;

    memcpy(tag, in + len - SWIM_ENCRYPT_TAG, sizeof(tag));
    if (EVP_CIPHER_CTX_reset(ctx) != 1 ||
        EVP_DecryptInit_ex(ctx, gcm_for(k->len), NULL, k->bytes, in + 1) != 1)
        return -EIO;
    if (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1)
        return -EIO;
    if (ct_len > 0 &&
        EVP_DecryptUpdate(ctx, out, &outl, in + SWIM_ENCRYPT_HEADER, (int)ct_len) != 1)
        return -EIO;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SWIM_ENCRYPT_TAG, tag) != 1)
        return -EIO;
    return EVP_DecryptFinal_ex(ctx, out + outl, &finl) == 1;
}

int swim_decrypt(const struct swim_keyring *kr, uint8_t *out, size_t cap, const uint8_t *in,
                 size_t len, const uint8_t *aad, size_t aad_len)
{
    EVP_CIPHER_CTX *ctx;
    size_t ct_len;
    int rc = -EBADMSG;

    if (kr == NULL || kr->count == 0)
        return -ENOKEY;
    if (len < 1 || in[0] > 1)
        return -EBADMSG;
    if (len < (in[0] == 0 ? SWIM_ENCRYPT_MIN_V0 : SWIM_ENCRYPT_OVERHEAD))
        return -EBADMSG;
    if (len > INT_MAX || aad_len > INT_MAX)
        return -EMSGSIZE;
    ct_len = len - SWIM_ENCRYPT_OVERHEAD;
    if (cap < ct_len)
        return -ENOSPC;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < kr->count; i++) {
        int ok = open_with(ctx, &kr->keys[i], out, in, len, aad, aad_len);
        if (ok < 0) {
            rc = ok;
            break;
        }
        if (!ok)
            continue;
        rc = (int)ct_len;
        if (in[0] == 0) {
            uint8_t pad = out[ct_len - 1];
            rc = pad >= 1 && pad <= AES_BLOCK && pad <= ct_len ? (int)(ct_len - pad) : -EBADMSG;
        }
        break;
    }
    if (rc < 0)
        OPENSSL_cleanse(out, ct_len); /* no unauthenticated plaintext left behind */
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}
