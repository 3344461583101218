/* DEFLATE, gzip and CRC-32: fixed vectors produced by Python's zlib/gzip modules (pasted below),
 * the shipped MNIST file, and corrupt streams built bit by bit. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* ------------------------------------------------------------------------------------------ */
/* Vectors (Python: zlib.compressobj(level, DEFLATED, -15, 9, strategy), gzip.compress(mtime=0)) */

/* level 0: one stored block */
static const uint8_t stored_vec[] = {
    0x01, 0x20, 0x00, 0xdf, 0xff, 0x42, 0x6f, 0x72, 0x6e, 0x20, 0x73, 0x74, 0x6f,
    0x72, 0x65, 0x73, 0x20, 0x74, 0x68, 0x69, 0x73, 0x20, 0x62, 0x6c, 0x6f, 0x63,
    0x6b, 0x20, 0x61, 0x73, 0x20, 0x69, 0x74, 0x20, 0x69, 0x73, 0x2e};
static const char stored_text[] = "Born stores this block as it is.";

/* Z_FIXED: one fixed-Huffman block with overlapping matches */
static const uint8_t fixed_vec[] = {0x4b, 0x4c, 0x4a, 0x4e, 0x44, 0x45, 0x0a, 0x19,
                                    0xa9, 0x39, 0x39, 0xf9, 0xc8, 0xa4, 0x22, 0x00};
static const char fixed_text[] = "abcabcabcabcabcabc hello hello hello!";

/* level 9: one dynamic-Huffman block */
static const uint8_t dynamic_vec[] = {
    0x75, 0xcf, 0xc1, 0x09, 0xc3, 0x30, 0x0c, 0x85, 0xe1, 0x55, 0x34, 0x40, 0xe9, 0x14, 0xbd,
    0x14, 0xba, 0x84, 0x13, 0x3f, 0xdb, 0xa2, 0x89, 0x65, 0x24, 0x15, 0xd3, 0xed, 0x8b, 0x4f,
    0xc5, 0x24, 0x39, 0x7f, 0xbf, 0x78, 0xe8, 0xe9, 0xd4, 0x83, 0x91, 0x17, 0xd0, 0x02, 0x73,
    0x92, 0x44, 0xce, 0x3b, 0xec, 0x46, 0xfc, 0x97, 0x2e, 0x7a, 0x45, 0x21, 0x63, 0x40, 0x67,
    0x8b, 0xb2, 0x9f, 0x49, 0x12, 0xd9, 0xd8, 0x4a, 0x85, 0xcd, 0x87, 0x68, 0xb2, 0x96, 0x11,
    0x2c, 0xd8, 0x18, 0xe9, 0xdc, 0xb8, 0xae, 0x8a, 0xf8, 0xd9, 0xd8, 0xbf, 0x53, 0x60, 0x08,
    0x26, 0x75, 0x14, 0x2f, 0xce, 0xc5, 0x2f, 0xec, 0x11, 0xf4, 0x7d, 0xd8, 0xb5, 0xa6, 0x5c,
    0xf3, 0xe0, 0x22, 0x0d, 0xf3, 0x9b, 0x5c, 0x1d, 0x3a, 0x28, 0xc2, 0x5a, 0x60, 0xbd, 0xff,
    0x00};
static const char dynamic_text[] =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the "
    "season of Light, it was the season of Darkness, it was the spring of hope, it was the winter "
    "of despair.";

static const uint8_t gz_vec[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb,
                                 0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x48, 0xaf, 0xca, 0x2c, 0xe0,
                                 0x02, 0x00, 0x86, 0x1f, 0x82, 0xa4, 0x0c, 0x00, 0x00, 0x00};
static const char gz_text[] = "hello, gzip\n";

/* two members, the first with a file name (FNAME "x.txt") */
static const uint8_t multi_vec[] = {
    0x1f, 0x8b, 0x08, 0x08, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0x78, 0x2e, 0x74, 0x78, 0x74,
    0x00, 0x4b, 0xcb, 0x2c, 0x2a, 0x2e, 0x51, 0xc8, 0x4d, 0xcd, 0x4d, 0x4a, 0x2d, 0x52, 0x00,
    0x00, 0x71, 0x3d, 0x3e, 0xd1, 0x0d, 0x00, 0x00, 0x00, 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x02, 0x03, 0x2b, 0x4e, 0x4d, 0xce, 0xcf, 0x4b, 0x51, 0xc8, 0x4d, 0xcd, 0x4d,
    0x4a, 0x2d, 0x02, 0x00, 0x24, 0x74, 0xfa, 0x9f, 0x0d, 0x00, 0x00, 0x00};

static const uint8_t empty_gz_vec[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00,
                                       0x00, 0x02, 0x03, 0x03, 0x00, 0x00, 0x00,
                                       0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

/* Inflates data and checks the result against text. */
static void check_inflate(const uint8_t *data, size_t len, const char *text) {
    void *out = NULL;
    size_t out_len = 0;
    CHECK_OK(born_inflate(data, len, 1 << 20, &out, &out_len, NULL));
    CHECK_EQ_INT(out_len, strlen(text));
    CHECK(out && out_len == strlen(text) && memcmp(out, text, out_len) == 0);
    free(out);
}

TEST(inflate_stored_block) { check_inflate(stored_vec, sizeof stored_vec, stored_text); }

TEST(inflate_fixed_block) { check_inflate(fixed_vec, sizeof fixed_vec, fixed_text); }

TEST(inflate_dynamic_block) { check_inflate(dynamic_vec, sizeof dynamic_vec, dynamic_text); }

TEST(inflate_max_out_is_exact) {
    size_t n = strlen(dynamic_text);
    void *out = NULL;
    size_t out_len = 0;
    CHECK_OK(born_inflate(dynamic_vec, sizeof dynamic_vec, n, &out, &out_len, NULL));
    CHECK_EQ_INT(out_len, n);
    free(out);
    out = (void *)1;
    CHECK(born_inflate(dynamic_vec, sizeof dynamic_vec, n - 1, &out, &out_len, NULL) ==
          BORN_ERR_FORMAT);
    CHECK(out == NULL && out_len == 0);
    CHECK_ERROR(BORN_ERR_FORMAT, "exceeds the limit of 285 bytes");
    /* stored data over the limit */
    CHECK(born_inflate(stored_vec, sizeof stored_vec, 10, &out, &out_len, NULL) != BORN_OK);
    CHECK_ERROR(BORN_ERR_FORMAT, "exceeds the limit of 10 bytes");
}

TEST(inflate_trailing_data_and_in_used) {
    uint8_t buf[sizeof fixed_vec + 3];
    memcpy(buf, fixed_vec, sizeof fixed_vec);
    memcpy(buf + sizeof fixed_vec, "XYZ", 3);
    void *out = NULL;
    size_t out_len = 0, used = 0;
    CHECK_OK(born_inflate(buf, sizeof buf, 1 << 20, &out, &out_len, &used));
    CHECK_EQ_INT(used, sizeof fixed_vec);
    CHECK_EQ_INT(out_len, strlen(fixed_text));
    free(out);
    CHECK(born_inflate(buf, sizeof buf, 1 << 20, &out, &out_len, NULL) != BORN_OK);
    CHECK_ERROR(BORN_ERR_FORMAT, "buffer: byte 16: 3 bytes of trailing data");
}

TEST(inflate_null_arguments) {
    void *out = NULL;
    size_t out_len = 0;
    CHECK(born_inflate(NULL, 4, 100, &out, &out_len, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "data is NULL");
    CHECK(born_inflate(fixed_vec, sizeof fixed_vec, 100, NULL, &out_len, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
    CHECK(born_gzip_decompress(gz_vec, sizeof gz_vec, 100, &out, NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "NULL");
}

/* ------------------------------------------------------------------------------------------ */
/* Corrupt streams, written bit by bit                                                          */

typedef struct bitwriter {
    uint8_t buf[512];
    size_t nbits;
} bitwriter;

/* value's n low bits, least significant first (header fields, extra bits) */
static void put(bitwriter *w, unsigned value, unsigned n) {
    for (unsigned i = 0; i < n; i++, w->nbits++)
        if ((value >> i) & 1) w->buf[w->nbits / 8] |= (uint8_t)(1u << (w->nbits % 8));
}

/* a Huffman code, most significant bit first */
static void put_code(bitwriter *w, unsigned code, unsigned len) {
    while (len-- > 0) put(w, (code >> len) & 1, 1);
}

static void fixed_sym(bitwriter *w, unsigned sym) {
    if (sym < 144) put_code(w, 0x30 + sym, 8);
    else if (sym < 256) put_code(w, 0x190 + sym - 144, 9);
    else if (sym < 280) put_code(w, sym - 256, 7);
    else put_code(w, 0xc0 + sym - 280, 8);
}

static size_t nbytes(const bitwriter *w) { return (w->nbits + 7) / 8; }

static void check_inflate_fails(const bitwriter *w, const char *needle) {
    void *out = (void *)1;
    size_t out_len = 1;
    CHECK(born_inflate(w->buf, nbytes(w), 1 << 20, &out, &out_len, NULL) == BORN_ERR_FORMAT);
    CHECK(out == NULL && out_len == 0);
    CHECK_ERROR(BORN_ERR_FORMAT, needle);
}

TEST(inflate_bad_block_type) {
    bitwriter w = {0};
    put(&w, 1, 1);
    put(&w, 3, 2);
    check_inflate_fails(&w, "byte 0: invalid block type 3");
}

TEST(inflate_distance_too_far_back) {
    bitwriter w = {0};
    put(&w, 1, 1);
    put(&w, 1, 2);
    fixed_sym(&w, 'a');
    fixed_sym(&w, 257);  /* length 3 */
    put_code(&w, 1, 5);  /* distance 2, but one byte was written */
    fixed_sym(&w, 256);
    check_inflate_fails(&w, "distance 2 is too far back (only 1 bytes decompressed so far)");
}

TEST(inflate_invalid_symbols) {
    bitwriter w = {0};
    put(&w, 1, 1);
    put(&w, 1, 2);
    fixed_sym(&w, 'a');
    fixed_sym(&w, 257);
    put_code(&w, 30, 5); /* distance symbol 30 does not exist */
    check_inflate_fails(&w, "invalid distance symbol 30");

    bitwriter v = {0};
    put(&v, 1, 1);
    put(&v, 1, 2);
    fixed_sym(&v, 286);
    check_inflate_fails(&v, "invalid literal/length symbol 286");
}

TEST(inflate_truncated) {
    bitwriter w = {0};
    put(&w, 1, 1);
    put(&w, 1, 2);
    fixed_sym(&w, 'a'); /* no end-of-block: zero padding would read as one, but must not */
    check_inflate_fails(&w, "truncated");
    check_inflate_fails(&(bitwriter){0}, "truncated"); /* empty input */
    for (size_t cut = 0; cut < sizeof dynamic_vec; cut += 7) {
        void *out = NULL;
        size_t out_len = 0;
        CHECK(born_inflate(dynamic_vec, cut, 1 << 20, &out, &out_len, NULL) == BORN_ERR_FORMAT);
        CHECK_ERROR(BORN_ERR_FORMAT, "truncated");
    }
    for (size_t cut = 0; cut < sizeof stored_vec; cut++) {
        void *out = NULL;
        size_t out_len = 0;
        CHECK(born_inflate(stored_vec, cut, 1 << 20, &out, &out_len, NULL) == BORN_ERR_FORMAT);
        CHECK_ERROR(BORN_ERR_FORMAT, "truncated");
    }
}

TEST(inflate_stored_length_mismatch) {
    const uint8_t bad[] = {0x01, 0x05, 0x00, 0x00, 0x00, 'a', 'b', 'c', 'd', 'e'};
    void *out = NULL;
    size_t out_len = 0;
    CHECK(born_inflate(bad, sizeof bad, 100, &out, &out_len, NULL) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "byte 1: stored block length 5 does not match its complement");
}

/* A dynamic block header with HLIT = 257 + hlit, HDIST = 1 + hdist, and the code length code's
 * lengths for symbols 16, 17, 18, 0 (HCLEN = 4). */
static void dynamic_header(bitwriter *w, unsigned hlit, unsigned hdist, const unsigned cl[4]) {
    put(w, 1, 1);
    put(w, 2, 2);
    put(w, hlit, 5);
    put(w, hdist, 5);
    put(w, 0, 4);
    for (int i = 0; i < 4; i++) put(w, cl[i], 3);
}

TEST(inflate_bad_code_lengths) {
    bitwriter w = {0};
    dynamic_header(&w, 0, 0, (const unsigned[]){1, 1, 1, 1});
    check_inflate_fails(&w, "the code length code is over-subscribed");

    w = (bitwriter){0};
    dynamic_header(&w, 0, 0, (const unsigned[]){1, 0, 0, 0});
    check_inflate_fails(&w, "the code length code is incomplete");

    w = (bitwriter){0};
    dynamic_header(&w, 0, 0, (const unsigned[]){0, 0, 0, 0});
    check_inflate_fails(&w, "the code length code is empty");

    /* symbols 0 (code 0) and 16 (code 1): a repeat with nothing before it */
    w = (bitwriter){0};
    dynamic_header(&w, 0, 0, (const unsigned[]){1, 0, 0, 1});
    put_code(&w, 1, 1);
    check_inflate_fails(&w, "repeats the previous length, but there is none");

    /* symbols 0 (code 0) and 18 (code 1): 138 + 138 zeros overrun 258 lengths */
    w = (bitwriter){0};
    dynamic_header(&w, 0, 0, (const unsigned[]){0, 0, 1, 1});
    put_code(&w, 1, 1);
    put(&w, 127, 7);
    put_code(&w, 1, 1);
    put(&w, 127, 7);
    check_inflate_fails(&w, "runs past the end of the 258 code lengths");

    /* 138 + 120 zeros: every length is zero, so there is no end-of-block code */
    w = (bitwriter){0};
    dynamic_header(&w, 0, 0, (const unsigned[]){0, 0, 1, 1});
    put_code(&w, 1, 1);
    put(&w, 127, 7);
    put_code(&w, 1, 1);
    put(&w, 109, 7);
    check_inflate_fails(&w, "no end-of-block code");

    /* too many literal/length codes */
    w = (bitwriter){0};
    dynamic_header(&w, 30, 0, (const unsigned[]){0, 0, 1, 1});
    check_inflate_fails(&w, "287 literal/length codes (at most 286)");

    /* literal/length lengths all 1 for symbols 0..256: over-subscribed (symbols 1 (code 0) and 16
     * (code 1) in the code length code) */
    w = (bitwriter){0};
    put(&w, 1, 1);
    put(&w, 2, 2);
    put(&w, 0, 5);
    put(&w, 0, 5);
    put(&w, 14, 4); /* HCLEN 18: the order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1 */
    for (int i = 0; i < 18; i++) put(&w, (i == 0 || i == 17) ? 1 : 0, 3);
    put_code(&w, 0, 1); /* length 1 for symbol 0 */
    for (int i = 0; i < 85; i++) {
        put_code(&w, 1, 1); /* repeat it 3 times */
        put(&w, 0, 2);
    }
    put_code(&w, 0, 1);
    put_code(&w, 0, 1);
    check_inflate_fails(&w, "the literal/length code is over-subscribed");
}

TEST(inflate_zip_bomb_fails_cleanly) {
    /* a fixed block of 'a' then 3,000 matches of 258 bytes: 774 KB from about 5 KB */
    static uint8_t big[8192];
    size_t nbits = 0;
    memset(big, 0, sizeof big);
#define PUTBIT(b)                                                                                 \
    do {                                                                                          \
        if (b) big[nbits / 8] |= (uint8_t)(1u << (nbits % 8));                                    \
        nbits++;                                                                                  \
    } while (0)
    PUTBIT(1);
    PUTBIT(1);
    PUTBIT(0);
    for (int i = 7; i >= 0; i--) PUTBIT(((0x30 + 'a') >> i) & 1);
    for (int m = 0; m < 3000; m++) {
        for (int i = 7; i >= 0; i--) PUTBIT(((0xc0 + 285 - 280) >> i) & 1); /* length 258 */
        for (int i = 4; i >= 0; i--) PUTBIT(0);                             /* distance 1 */
    }
    for (int i = 6; i >= 0; i--) PUTBIT(0); /* end of block */
#undef PUTBIT
    size_t len = (nbits + 7) / 8, full = 1 + 3000 * 258;
    void *out = NULL;
    size_t out_len = 0;
    CHECK_OK(born_inflate(big, len, full, &out, &out_len, NULL));
    CHECK_EQ_INT(out_len, full);
    bool all_a = out != NULL;
    for (size_t i = 0; all_a && i < out_len; i++) all_a = ((uint8_t *)out)[i] == 'a';
    CHECK(all_a);
    free(out);
    CHECK(born_inflate(big, len, 100000, &out, &out_len, NULL) == BORN_ERR_FORMAT);
    CHECK(out == NULL);
    CHECK_ERROR(BORN_ERR_FORMAT, "exceeds the limit of 100000 bytes");
}

/* ------------------------------------------------------------------------------------------ */
/* gzip                                                                                         */

static void check_gzip(const uint8_t *data, size_t len, const char *text) {
    void *out = NULL;
    size_t out_len = 0;
    CHECK_OK(born_gzip_decompress(data, len, 1 << 20, &out, &out_len));
    CHECK_EQ_INT(out_len, strlen(text));
    CHECK(out && out_len == strlen(text) && memcmp(out, text, out_len) == 0);
    free(out);
}

static void check_gzip_fails(const uint8_t *data, size_t len, const char *needle) {
    void *out = (void *)1;
    size_t out_len = 1;
    CHECK(born_gzip_decompress(data, len, 1 << 20, &out, &out_len) == BORN_ERR_FORMAT);
    CHECK(out == NULL && out_len == 0);
    CHECK_ERROR(BORN_ERR_FORMAT, needle);
}

TEST(gzip_members) {
    check_gzip(gz_vec, sizeof gz_vec, gz_text);
    check_gzip(multi_vec, sizeof multi_vec, "first member second member");
    void *out = NULL;
    size_t out_len = 7;
    CHECK_OK(born_gzip_decompress(empty_gz_vec, sizeof empty_gz_vec, 0, &out, &out_len));
    CHECK(out != NULL);
    CHECK_EQ_INT(out_len, 0);
    free(out);
}

TEST(gzip_checksums) {
    uint8_t buf[sizeof gz_vec];
    memcpy(buf, gz_vec, sizeof buf);
    buf[sizeof buf - 8] ^= 1;
    check_gzip_fails(buf, sizeof buf, "byte 24: gzip CRC-32 mismatch (stored a4821f87, computed "
                                      "a4821f86");
    memcpy(buf, gz_vec, sizeof buf);
    buf[sizeof buf - 4] ^= 1;
    check_gzip_fails(buf, sizeof buf, "byte 28: gzip length mismatch (the trailer says 13 bytes");
}

TEST(gzip_header_errors) {
    uint8_t buf[sizeof gz_vec];
    memcpy(buf, gz_vec, sizeof buf);
    buf[1] = 0x8c;
    check_gzip_fails(buf, sizeof buf, "byte 0: not a gzip member (expected the magic bytes 1f 8b, "
                                      "found 1f 8c)");
    memcpy(buf, gz_vec, sizeof buf);
    buf[2] = 7;
    check_gzip_fails(buf, sizeof buf, "byte 2: gzip compression method 7 is not deflate");
    memcpy(buf, gz_vec, sizeof buf);
    buf[3] = 0x20;
    check_gzip_fails(buf, sizeof buf, "reserved bits");
    check_gzip_fails(gz_vec, 5, "truncated header");
    check_gzip_fails(gz_vec, 0, "empty input");
    check_gzip_fails(gz_vec, sizeof gz_vec - 3, "truncated trailer");
    check_gzip_fails(gz_vec, 15, "truncated");
    memcpy(buf, gz_vec, sizeof buf);
    buf[3] = 0x08; /* FNAME, but no NUL follows */
    check_gzip_fails(buf, 12, "truncated file name");
}

/* A gzip member around raw deflate data, with optional header fields. */
static size_t make_member(uint8_t *out, unsigned flags, const uint8_t *deflate, size_t dlen,
                          const char *text, bool bad_hcrc) {
    size_t n = 0;
    const uint8_t head[10] = {0x1f, 0x8b, 8, (uint8_t)flags, 0, 0, 0, 0, 0, 3};
    memcpy(out, head, 10);
    n = 10;
    if (flags & 4) { /* FEXTRA: 3 bytes */
        out[n++] = 3;
        out[n++] = 0;
        memcpy(out + n, "abc", 3);
        n += 3;
    }
    if (flags & 16) { /* FCOMMENT */
        memcpy(out + n, "hi", 3);
        n += 3;
    }
    if (flags & 2) { /* FHCRC */
        uint32_t crc = born_crc32(0, out, n) ^ (bad_hcrc ? 1u : 0u);
        out[n++] = (uint8_t)crc;
        out[n++] = (uint8_t)(crc >> 8);
    }
    memcpy(out + n, deflate, dlen);
    n += dlen;
    size_t tlen = strlen(text);
    uint32_t crc = born_crc32(0, text, tlen);
    for (int i = 0; i < 4; i++) out[n++] = (uint8_t)(crc >> (8 * i));
    for (int i = 0; i < 4; i++) out[n++] = (uint8_t)(tlen >> (8 * i));
    return n;
}

TEST(gzip_optional_header_fields) {
    uint8_t buf[256];
    size_t n = make_member(buf, 2 | 4 | 16, fixed_vec, sizeof fixed_vec, fixed_text, false);
    check_gzip(buf, n, fixed_text);
    n = make_member(buf, 2, fixed_vec, sizeof fixed_vec, fixed_text, true);
    check_gzip_fails(buf, n, "byte 10: gzip header CRC mismatch");
    n = make_member(buf, 4, fixed_vec, sizeof fixed_vec, fixed_text, false);
    check_gzip_fails(buf, 13, "truncated extra field");
}

TEST(gzip_trailing_garbage_and_limits) {
    uint8_t buf[sizeof gz_vec + 4];
    memcpy(buf, gz_vec, sizeof gz_vec);
    memcpy(buf + sizeof gz_vec, "junk", 4);
    check_gzip_fails(buf, sizeof buf, "byte 32: 4 bytes of trailing garbage after the last gzip "
                                      "member");
    /* a second member that is cut short */
    uint8_t two[2 * sizeof gz_vec];
    memcpy(two, gz_vec, sizeof gz_vec);
    memcpy(two + sizeof gz_vec, gz_vec, sizeof gz_vec);
    check_gzip(two, sizeof two, "hello, gzip\nhello, gzip\n");
    check_gzip_fails(two, sizeof two - 1, "gzip member at byte 32: truncated trailer");
    /* max_out counts every member */
    void *out = NULL;
    size_t out_len = 0;
    CHECK(born_gzip_decompress(two, sizeof two, 20, &out, &out_len) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "exceeds the limit of 20 bytes");
}

TEST(gzip_member_cannot_reach_into_the_previous_one) {
    bitwriter w = {0};
    put(&w, 1, 1);
    put(&w, 1, 2);
    fixed_sym(&w, 257); /* a match of 3 at distance 1 with nothing before it in this member */
    put_code(&w, 0, 5);
    fixed_sym(&w, 256);
    uint8_t buf[256];
    memcpy(buf, gz_vec, sizeof gz_vec);
    size_t n = sizeof gz_vec + make_member(buf + sizeof gz_vec, 0, w.buf, nbytes(&w), "\n\n\n", false);
    check_gzip_fails(buf, n, "distance 1 is too far back (only 0 bytes");
}

TEST(gzip_mnist_images) {
    FILE *f = fopen("data/mnist-10k/mnist-10k-images-idx3-ubyte.gz", "rb");
    CHECK(f);
    if (!f) return;
    uint8_t *buf = malloc(2 << 20);
    size_t len = buf ? fread(buf, 1, 2 << 20, f) : 0;
    fclose(f);
    CHECK_EQ_INT(len, 1613797);
    void *out = NULL;
    size_t out_len = 0;
    CHECK_OK(born_gzip_decompress(buf, len, 16 << 20, &out, &out_len));
    CHECK_EQ_INT(out_len, 7840016);
    /* Python: zlib.crc32(gzip.open(...).read()) */
    CHECK_EQ_INT(born_crc32(0, out, out_len), 0xea6b9c9cu);
    free(out);
    CHECK(born_gzip_decompress(buf, len, 7840015, &out, &out_len) == BORN_ERR_FORMAT);
    CHECK_ERROR(BORN_ERR_FORMAT, "exceeds the limit of 7840015 bytes");
    free(buf);
}

TEST(crc32_known_values) {
    CHECK_EQ_INT(born_crc32(0, "123456789", 9), 0xcbf43926u);
    CHECK_EQ_INT(born_crc32(0, "", 0), 0);
    CHECK_EQ_INT(born_crc32(0, NULL, 0), 0);
    /* any split, any alignment */
    uint8_t data[300];
    for (int i = 0; i < 300; i++) data[i] = (uint8_t)(i * 7 + 3);
    uint32_t whole = born_crc32(0, data, sizeof data);
    for (size_t cut = 0; cut <= 300; cut += 13)
        CHECK_EQ_INT(born_crc32(born_crc32(0, data, cut), data + cut, 300 - cut), whole);
    CHECK_EQ_INT(born_crc32(0, gz_text, strlen(gz_text)), 0xa4821f86u);
}
