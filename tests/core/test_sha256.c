/* SHA-256 against the FIPS 180-2 / 180-4 example vectors, padding boundaries and streaming. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

static const char *hex_of(const void *data, size_t len, char hex[65]) {
    uint8_t digest[32];
    if (born_sha256(data, len, digest) != BORN_OK) return "error";
    return born_sha256_hex(digest, hex);
}

#define CHECK_DIGEST(data, len, expected)                                                          \
    do {                                                                                           \
        char hex_[65];                                                                             \
        const char *got_ = hex_of((data), (len), hex_);                                            \
        CHECK_MSG(strcmp(got_, (expected)) == 0, "sha256 of %zu bytes: %s", (size_t)(len), got_);  \
    } while (0)

static const char MSG448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char MSG896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                             "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

TEST(sha256_fips_vectors) {
    CHECK_DIGEST("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_DIGEST(NULL, 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_DIGEST("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_DIGEST(MSG448, strlen(MSG448),
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK_DIGEST(MSG896, strlen(MSG896),
                 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(sha256_one_million_a) {
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    CHECK_DIGEST(a, n, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* the same message fed 1000 bytes at a time */
    born_sha256_ctx ctx;
    born_sha256_init(&ctx);
    for (size_t i = 0; i < n; i += 1000) CHECK_OK(born_sha256_update(&ctx, a + i, 1000));
    uint8_t digest[32];
    char hex[65];
    CHECK_OK(born_sha256_final(&ctx, digest));
    CHECK(strcmp(born_sha256_hex(digest, hex),
                 "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    free(a);
}

/* Messages whose padding ends exactly at, or just past, a block boundary (values: sha256sum). */
TEST(sha256_padding_boundaries) {
    char a[128];
    memset(a, 'a', sizeof a);
    CHECK_DIGEST(a, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    CHECK_DIGEST(a, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    CHECK_DIGEST(a, 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
    CHECK_DIGEST(a, 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
    CHECK_DIGEST(a, 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c");
}

/* Splitting the 896-bit message at every byte boundary (and into single bytes) gives the same
 * digest as hashing it whole. */
TEST(sha256_streaming_splits) {
    size_t n = strlen(MSG896);
    uint8_t whole[32], part[32];
    CHECK_OK(born_sha256(MSG896, n, whole));
    born_sha256_ctx ctx;
    for (size_t cut = 0; cut <= n; cut++) {
        born_sha256_init(&ctx);
        CHECK_OK(born_sha256_update(&ctx, MSG896, cut));
        CHECK_OK(born_sha256_update(&ctx, MSG896 + cut, n - cut));
        CHECK_OK(born_sha256_final(&ctx, part));
        CHECK_MSG(memcmp(whole, part, 32) == 0, "split at %zu differs", cut);
    }
    born_sha256_init(&ctx);
    for (size_t i = 0; i < n; i++) CHECK_OK(born_sha256_update(&ctx, MSG896 + i, 1));
    CHECK_OK(born_sha256_final(&ctx, part));
    CHECK(memcmp(whole, part, 32) == 0);
    /* final restarts the context: the next message is hashed from scratch */
    CHECK_OK(born_sha256_update(&ctx, "abc", 3));
    CHECK_OK(born_sha256_final(&ctx, part));
    char hex[65];
    CHECK(strcmp(born_sha256_hex(part, hex),
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
}

TEST(sha256_rejects_null) {
    uint8_t digest[32];
    born_sha256_ctx ctx;
    born_sha256_init(&ctx);
    CHECK(born_sha256_update(&ctx, NULL, 3) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_sha256_update: data is NULL");
    CHECK(born_sha256_update(NULL, "abc", 3) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "context is NULL");
    CHECK(born_sha256_final(&ctx, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "digest is NULL");
    CHECK(born_sha256(NULL, 1, digest) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_sha256: data is NULL");
    /* an empty update may pass NULL, even with a partial block waiting */
    born_sha256_init(&ctx);
    CHECK_OK(born_sha256_update(&ctx, "ab", 2));
    CHECK_OK(born_sha256_update(&ctx, NULL, 0));
    CHECK_OK(born_sha256_update(&ctx, "c", 1));
    CHECK_OK(born_sha256_final(&ctx, digest));
    char hex[65];
    CHECK(strcmp(born_sha256_hex(digest, hex),
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
}
