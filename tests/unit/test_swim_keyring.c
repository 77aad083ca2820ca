/*
 * test_swim_keyring.c - memberlist's AES-GCM keyring: the blob layout
 * against the GCM specification's own test cases (McGrew and Viega, "The
 * Galois/Counter Mode of Operation", test cases 2 and 4), round trips for
 * each key size, key rotation as an operator does it, vsn 0 padding as
 * memberlist protocol 1 peers send it, and every way a blob can be wrong.
 * The keys here exist for these tests only.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "keyring.h"

#include "swim_test_util.h"

static const uint8_t key16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t key24[24] = {24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13,
                                  12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1};
static const uint8_t key32a[32] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab,
                                   0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
                                   0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0};
static const uint8_t key32b[32] = {0x5a};

static const uint8_t msg[] = "\x00\x85\xa4Node\xa1\x62 a gossip message of some length";

Test(swim_keyring, gcm_spec_test_case_2_in_memberlist_layout)
{
    /* K = 0^128, IV = 0^96, P = 0^128: C and T from the GCM spec. */
    uint8_t blob[64], out[64], zero[16] = {0};
    size_t n = vec(blob, sizeof(blob),
                   "01 000000000000000000000000 0388dace60b6a392f328c2b971b2fe78 "
                   "ab6e47d42cec13bdf53a67b21257bddf");
    struct swim_keyring kr;
    swim_keyring_init(&kr);
    cr_assert_eq(swim_keyring_add(&kr, zero, 16), 0);
    int p = swim_decrypt(&kr, out, sizeof(out), blob, n, NULL, 0);
    cr_assert_eq(p, 16);
    cr_assert(memcmp(out, zero, 16) == 0);
}

Test(swim_keyring, gcm_spec_test_case_4_with_additional_data)
{
    uint8_t key[16], blob[128], aad[32], plain[64], out[128];
    vec(key, sizeof(key), "feffe9928665731c6d6a8f9467308308");
    size_t al = vec(aad, sizeof(aad), "feedfacedeadbeeffeedfacedeadbeefabaddad2");
    size_t pl = vec(plain, sizeof(plain),
                    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    size_t n = vec(blob, sizeof(blob),
                   "01 cafebabefacedbaddecaf888 "
                   "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                   "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091 "
                   "5bc94fbc3221a5db94fae95ae7121a47");
    struct swim_keyring kr;
    swim_keyring_init(&kr);
    swim_keyring_add(&kr, key, 16);
    int p = swim_decrypt(&kr, out, sizeof(out), blob, n, aad, al);
    assert_bytes(out, p < 0 ? 0 : (size_t)p, plain, pl, "test case 4");
    /* Without (or with other) additional data the tag does not hold. */
    cr_assert_eq(swim_decrypt(&kr, out, sizeof(out), blob, n, NULL, 0), -EBADMSG);
    aad[0] ^= 1;
    cr_assert_eq(swim_decrypt(&kr, out, sizeof(out), blob, n, aad, al), -EBADMSG);
}

Test(swim_keyring, round_trip_for_each_key_size)
{
    const uint8_t *keys[] = {key16, key24, key32a};
    size_t lens[] = {16, 24, 32};
    for (int i = 0; i < 3; i++) {
        struct swim_keyring kr;
        uint8_t blob[256], out[256], blob2[256];
        swim_keyring_init(&kr);
        cr_assert_eq(swim_keyring_add(&kr, keys[i], lens[i]), 0);
        int n = swim_encrypt(&kr, blob, sizeof(blob), msg, sizeof(msg), NULL, 0);
        cr_assert_eq(n, (int)sizeof(msg) + SWIM_ENCRYPT_OVERHEAD);
        cr_assert_eq(blob[0], 1, "serf's version: vsn 1");
        int p = swim_decrypt(&kr, out, sizeof(out), blob, (size_t)n, NULL, 0);
        assert_bytes(out, p < 0 ? 0 : (size_t)p, msg, sizeof(msg), "round trip");
        /* Nonces are fresh per message. */
        swim_encrypt(&kr, blob2, sizeof(blob2), msg, sizeof(msg), NULL, 0);
        cr_assert(memcmp(blob + 1, blob2 + 1, SWIM_ENCRYPT_NONCE) != 0, "nonce reused");
        /* And it is really AES-GCM with that nonce: decrypt with EVP directly. */
        const EVP_CIPHER *c = lens[i] == 16   ? EVP_aes_128_gcm()
                              : lens[i] == 24 ? EVP_aes_192_gcm()
                                              : EVP_aes_256_gcm();
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int ol = 0, fl = 0;
        cr_assert(EVP_DecryptInit_ex(ctx, c, NULL, keys[i], blob + 1));
        cr_assert(EVP_DecryptUpdate(ctx, out, &ol, blob + 13, n - 29));
        cr_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, blob + n - 16));
        cr_assert_eq(EVP_DecryptFinal_ex(ctx, out + ol, &fl), 1);
        EVP_CIPHER_CTX_free(ctx);
        cr_assert(memcmp(out, msg, sizeof(msg)) == 0);
    }
}

Test(swim_keyring, empty_message_and_in_place_encryption)
{
    struct swim_keyring kr;
    uint8_t buf[128], out[128];
    swim_keyring_init(&kr);
    swim_keyring_add(&kr, key32a, 32);
    cr_assert_eq(swim_encrypt(&kr, buf, sizeof(buf), NULL, 0, NULL, 0), 29);
    cr_assert_eq(swim_decrypt(&kr, out, sizeof(out), buf, 29, NULL, 0), 0);

    memcpy(buf + SWIM_ENCRYPT_HEADER, msg, sizeof(msg));
    int n = swim_encrypt(&kr, buf, sizeof(buf), buf + SWIM_ENCRYPT_HEADER, sizeof(msg), NULL, 0);
    cr_assert_eq(n, (int)sizeof(msg) + 29);
    int p = swim_decrypt(&kr, out, sizeof(out), buf, (size_t)n, NULL, 0);
    assert_bytes(out, p < 0 ? 0 : (size_t)p, msg, sizeof(msg), "in place");
}

Test(swim_keyring, rotation_as_an_operator_does_it)
{
    struct swim_keyring a, b;
    uint8_t blob[256], out[256];
    int n;

    /* Both nodes on key A. */
    swim_keyring_init(&a);
    swim_keyring_init(&b);
    swim_keyring_add(&a, key32a, 32);
    swim_keyring_add(&b, key32a, 32);
    /* Step 1: install B everywhere; A still encrypts. */
    cr_assert_eq(swim_keyring_add(&a, key32b, 32), 0);
    cr_assert_eq(swim_keyring_add(&b, key32b, 32), 0);
    cr_assert_eq(a.count, 2);
    cr_assert(memcmp(a.keys[0].bytes, key32a, 32) == 0, "adding does not change the primary");
    /* Step 2: b switches to B first; a still decrypts it (B is a secondary there). */
    cr_assert_eq(swim_keyring_use(&b, key32b, 32), 0);
    cr_assert(memcmp(b.keys[0].bytes, key32b, 32) == 0);
    n = swim_encrypt(&b, blob, sizeof(blob), msg, sizeof(msg), NULL, 0);
    cr_assert_eq(swim_decrypt(&a, out, sizeof(out), blob, (size_t)n, NULL, 0), (int)sizeof(msg));
    /* and b still reads what a encrypts with A. */
    n = swim_encrypt(&a, blob, sizeof(blob), msg, sizeof(msg), NULL, 0);
    cr_assert_eq(swim_decrypt(&b, out, sizeof(out), blob, (size_t)n, NULL, 0), (int)sizeof(msg));
    /* Step 3: the primary cannot be removed; A can once B is primary. */
    cr_assert_eq(swim_keyring_remove(&a, key32a, 32), -EBUSY);
    cr_assert_eq(swim_keyring_use(&a, key32b, 32), 0);
    cr_assert_eq(swim_keyring_remove(&a, key32a, 32), 0);
    cr_assert_eq(swim_keyring_remove(&a, key32a, 32), -ENOENT);
    cr_assert_eq(a.count, 1);
    /* A blob under A no longer opens at a. */
    struct swim_keyring only_a;
    swim_keyring_init(&only_a);
    swim_keyring_add(&only_a, key32a, 32);
    n = swim_encrypt(&only_a, blob, sizeof(blob), msg, sizeof(msg), NULL, 0);
    cr_assert_eq(swim_decrypt(&a, out, sizeof(out), blob, (size_t)n, NULL, 0), -EBADMSG);
    cr_assert_eq(swim_decrypt(&b, out, sizeof(out), blob, (size_t)n, NULL, 0), (int)sizeof(msg));
}

Test(swim_keyring, ring_management_rules)
{
    struct swim_keyring kr;
    uint8_t k[32] = {0};
    swim_keyring_init(&kr);
    cr_assert_eq(swim_keyring_add(&kr, k, 15), -EINVAL);
    cr_assert_eq(swim_keyring_add(&kr, k, 33), -EINVAL);
    cr_assert_eq(swim_keyring_use(&kr, k, 20), -EINVAL);
    for (int i = 0; i < SWIM_KEYRING_MAX; i++) {
        k[0] = (uint8_t)i;
        cr_assert_eq(swim_keyring_add(&kr, k, 16), 0);
    }
    cr_assert_eq(swim_keyring_add(&kr, k, 16), 0, "already installed: nothing to do");
    k[0] = 200;
    cr_assert_eq(swim_keyring_add(&kr, k, 16), -ENOSPC);
    cr_assert_eq(swim_keyring_use(&kr, k, 16), -ENOSPC);
    /* use() moves a key to the front and keeps the others in order. */
    k[0] = 5;
    cr_assert_eq(swim_keyring_use(&kr, k, 16), 0);
    cr_assert_eq(kr.keys[0].bytes[0], 5);
    cr_assert_eq(kr.keys[1].bytes[0], 0);
    cr_assert_eq(kr.keys[5].bytes[0], 4);
    cr_assert_eq(kr.keys[6].bytes[0], 6);
    cr_assert_eq(kr.count, SWIM_KEYRING_MAX);
    /* A 16-byte key is not its 32-byte extension. */
    uint8_t k32[32] = {5};
    cr_assert_eq(swim_keyring_remove(&kr, k32, 32), -ENOENT);
    swim_keyring_clear(&kr);
    cr_assert_eq(kr.count, 0);
    cr_assert_eq(swim_encrypt(&kr, k32, sizeof(k32), k, 1, NULL, 0), -ENOKEY);
}

Test(swim_keyring, base64_keys_in_serf_keygen_format)
{
    struct swim_keyring kr;
    uint8_t key[SWIM_KEY_MAX];
    char err[256];
    swim_keyring_init(&kr);

    /* Standard base64 of 32 bytes 0x00..0x1f. */
    const char *b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    cr_assert_eq(swim_key_from_base64(b64, key, err, sizeof(err)), 32);
    for (int i = 0; i < 32; i++)
        cr_assert_eq(key[i], i);
    cr_assert_eq(swim_keyring_add_base64(&kr, " AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
                                         err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(kr.count, 1);
    cr_assert_eq(kr.keys[0].len, 32);
    cr_assert_eq(kr.keys[0].bytes[31], 31);
    /* 16 and 24 bytes are AES keys too. */
    cr_assert_eq(swim_key_from_base64("AAECAwQFBgcICQoLDA0ODw==", key, err, sizeof(err)), 16);
    cr_assert_eq(swim_key_from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYX", key, err, sizeof(err)),
                 24);

    cr_assert_eq(swim_keyring_add_base64(&kr, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=", err,
                                         sizeof(err)),
                 -EINVAL);
    cr_assert(strstr(err, "not base64") && strstr(err, "'*'"), "message: %s", err);
    /* 28 bytes: valid base64, not a key. */
    cr_assert_eq(
        swim_key_from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==", key, err, sizeof(err)),
        -EINVAL);
    cr_assert(strstr(err, "28 bytes") && strstr(err, "16, 24 or 32"), "message: %s", err);
    cr_assert_eq(
        swim_key_from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", key, err, sizeof(err)),
        -EINVAL, "padding is required, as Go's StdEncoding requires it");
    cr_assert(strstr(err, "43 characters"), "message: %s", err);
    cr_assert_eq(swim_key_from_base64("", key, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "empty"), "message: %s", err);
    cr_assert_eq(swim_key_from_base64("AAAA====", key, NULL, 0), -EINVAL);
    cr_assert_eq(kr.count, 1, "bad keys install nothing");
}

/* A vsn 0 blob as a memberlist protocol 1 peer sends it: PKCS#7, then GCM. */
static size_t make_v0(const uint8_t *key, const uint8_t *p, size_t len, uint8_t pad_override,
                      uint8_t *blob)
{
    uint8_t padded[128];
    size_t pad = 16 - len % 16;
    memcpy(padded, p, len);
    memset(padded + len, pad_override ? pad_override : (int)pad, pad);
    size_t plen = len + pad;
    blob[0] = 0;
    memset(blob + 1, 0x42, 12);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ol = 0, fl = 0;
    cr_assert(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, blob + 1));
    cr_assert(EVP_EncryptUpdate(ctx, blob + 13, &ol, padded, (int)plen));
    cr_assert(EVP_EncryptFinal_ex(ctx, blob + 13 + ol, &fl));
    cr_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, blob + 13 + plen));
    EVP_CIPHER_CTX_free(ctx);
    return 13 + plen + 16;
}

Test(swim_keyring, vsn_0_padding_is_stripped)
{
    struct swim_keyring kr;
    uint8_t blob[256], out[256];
    swim_keyring_init(&kr);
    swim_keyring_add(&kr, key16, 16);

    for (size_t len = 0; len <= 33; len++) {
        size_t n = make_v0(key16, msg, len, 0, blob);
        cr_assert_eq(n, 29 + (len / 16 + 1) * 16);
        int p = swim_decrypt(&kr, out, sizeof(out), blob, n, NULL, 0);
        assert_bytes(out, p < 0 ? 0 : (size_t)p, msg, len, "vsn 0");
    }
    /* Authentic but impossible padding bytes are refused, not trusted. */
    size_t n = make_v0(key16, msg, 5, 17, blob);
    cr_assert_eq(swim_decrypt(&kr, out, sizeof(out), blob, n, NULL, 0), -EBADMSG);
    n = make_v0(key16, msg, 5, 0xff, blob);
    cr_assert_eq(swim_decrypt(&kr, out, sizeof(out), blob, n, NULL, 0), -EBADMSG);
    /* vsn 0 needs at least one block of padding: 44 bytes are too short. */
    n = make_v0(key16, msg, 0, 0, blob);
    cr_assert_eq(swim_decrypt(&kr, out, sizeof(out), blob, n - 1, NULL, 0), -EBADMSG);
}

Test(swim_keyring, wrong_key_tampering_and_bad_blobs_are_ebadmsg)
{
    struct swim_keyring kr, other;
    uint8_t blob[256], t[256], out[256];
    swim_keyring_init(&kr);
    swim_keyring_init(&other);
    swim_keyring_add(&kr, key24, 24);
    swim_keyring_add(&other, key16, 16);
    swim_keyring_add(&other, key32a, 32);
    int n = swim_encrypt(&kr, blob, sizeof(blob), msg, sizeof(msg), NULL, 0);

    cr_assert_eq(swim_decrypt(&other, out, sizeof(out), blob, (size_t)n, NULL, 0), -EBADMSG);
    /* The version byte is outside GCM's protection in memberlist's format;
     * everything after it is covered. */
    for (int i = 1; i < n; i++) {
        memcpy(t, blob, (size_t)n);
        t[i] ^= 0x01; /* nonce, ciphertext or tag */
        cr_assert_eq(swim_decrypt(&kr, out, sizeof(out), t, (size_t)n, NULL, 0), -EBADMSG,
                     "byte %d flipped", i);
    }
    memcpy(t, blob, (size_t)n);
    t[0] = 2;
    cr_assert_eq(swim_decrypt(&kr, out, sizeof(out), t, (size_t)n, NULL, 0), -EBADMSG);
    for (size_t cut = 0; cut < (size_t)n; cut++)
        cr_assert_eq(swim_decrypt(&kr, out, sizeof(out), blob, cut, NULL, 0), -EBADMSG);
    cr_assert_eq(swim_decrypt(&kr, out, sizeof(msg) - 1, blob, (size_t)n, NULL, 0), -ENOSPC);
    cr_assert_eq(swim_encrypt(&kr, out, sizeof(msg) + 28, msg, sizeof(msg), NULL, 0), -ENOSPC);
    struct swim_keyring none;
    swim_keyring_init(&none);
    cr_assert_eq(swim_decrypt(&none, out, sizeof(out), blob, (size_t)n, NULL, 0), -ENOKEY);
}
