/* Born's quantizers and dequantizers against references that are not Born:
 * tests/fixtures/quant/quant.bin (tools/gen_quant_fixtures.py) holds the bytes gguf-py's
 * quantize makes of a set of rows and its dequantization of them (q4_0 q4_1 q5_0 q5_1 q8_0), its
 * dequantization of random blocks of every type it reads (all but q8_1 and q8_k), and the bytes
 * ggml's own reference quantizers (quantize_row_*_ref) make of the same rows, for all 14 types.
 * Quantized bytes must match exactly; dequantized values bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define FIXTURE "tests/fixtures/quant/quant.bin"

typedef struct qrec {
    char name[32];
    born_dtype dtype;
    uint32_t rows, cols;
    const unsigned char *data;
    uint64_t nbytes;
    const float *deq; /* NULL when absent (unaligned: read with memcpy) */
} qrec;

typedef struct qreader {
    const unsigned char *p, *end;
} qreader;

static bool take(qreader *r, void *out, size_t n) {
    if ((size_t)(r->end - r->p) < n) return false;
    if (out) memcpy(out, r->p, n);
    r->p += n;
    return true;
}

/* Reads the next record; false (with a test failure) on a malformed file. */
static bool next_record(qreader *r, qrec *q) {
    uint32_t len;
    uint8_t dt, has_deq;
    memset(q, 0, sizeof *q);
    if (!take(r, &len, 4) || len >= sizeof q->name || !take(r, q->name, len) || !take(r, &dt, 1) ||
        !take(r, &q->rows, 4) || !take(r, &q->cols, 4) || !take(r, &q->nbytes, 8)) {
        test_fail(__FILE__, __LINE__, "%s: truncated record header", FIXTURE);
        return false;
    }
    q->dtype = (born_dtype)dt;
    q->data = r->p;
    uint64_t numel = (uint64_t)q->rows * q->cols;
    if (dt >= BORN_DTYPE_COUNT || q->nbytes != born_dtype_nbytes(q->dtype, (int64_t)numel) ||
        !take(r, NULL, q->nbytes) || !take(r, &has_deq, 1)) {
        test_fail(__FILE__, __LINE__, "%s: bad record %s", FIXTURE, q->name);
        return false;
    }
    if (has_deq) {
        q->deq = (const float *)(const void *)r->p;
        if (!take(r, NULL, numel * 4)) {
            test_fail(__FILE__, __LINE__, "%s: truncated values of %s", FIXTURE, q->name);
            return false;
        }
    }
    return true;
}

static unsigned char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* Checks that dequantizing q's bytes gives q->deq bit for bit (NaN matching NaN). */
static int check_dequantize(const qrec *q) {
    born_tensor *t = born_from_data(q->dtype, BORN_DIMS(q->rows, q->cols), q->data, q->nbytes);
    born_tensor *f = born_to_dtype(t, BORN_F32);
    CHECK_OK_TENSOR(f);
    if (!f) return 1;
    const float *got = born_data_f32(f);
    int64_t n = (int64_t)q->rows * q->cols, bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        float want;
        memcpy(&want, q->deq + i, 4);
        bool same = memcmp(&want, &got[i], 4) == 0 || (want != want && got[i] != got[i]);
        if (!same && bad++ == 0) first = i;
    }
    if (bad) {
        float want;
        memcpy(&want, q->deq + first, 4);
        test_fail(__FILE__, __LINE__, "%s: %lld dequantized values differ, first at %lld: %.9g vs %.9g",
                  q->name, (long long)bad, (long long)first, got[first], want);
    }
    return bad ? 1 : 0;
}

/* Checks that quantizing src gives q's bytes exactly. */
static int check_quantize(const qrec *q, born_tensor *src) {
    born_tensor *t = born_to_dtype(src, q->dtype);
    CHECK_OK_TENSOR(t);
    if (!t) return 1;
    const unsigned char *got = born_data_ptr(t);
    uint64_t bad = 0, first = 0;
    for (uint64_t i = 0; i < q->nbytes; i++)
        if (got[i] != q->data[i] && bad++ == 0) first = i;
    if (bad)
        test_fail(__FILE__, __LINE__, "%s: %llu of %llu bytes differ, first at %llu (block %llu): "
                  "%u vs %u", q->name, (unsigned long long)bad, (unsigned long long)q->nbytes,
                  (unsigned long long)first,
                  (unsigned long long)(first / born_dtype_block_bytes(q->dtype)), got[first],
                  q->data[first]);
    return bad ? 1 : 0;
}

TEST(quant_fixtures_match_gguf_and_ggml) {
    size_t size = 0;
    unsigned char *buf = read_file(FIXTURE, &size);
    CHECK_MSG(buf != NULL, "cannot read %s (run the tests from the repository root)", FIXTURE);
    if (!buf) return;
    qreader r = {buf, buf + size};
    char magic[8];
    uint32_t version = 0, count = 0;
    CHECK(take(&r, magic, 8) && memcmp(magic, "BORNQNT1", 8) == 0);
    CHECK(take(&r, &version, 4) && version == 1);
    CHECK(take(&r, &count, 4) && count > 0);
    born_tensor *src = NULL;
    int quantized_checked = 0, dequantized_checked = 0, ggml_types = 0;
    for (uint32_t i = 0; i < count; i++) {
        qrec q;
        if (!next_record(&r, &q)) break;
        if (strcmp(q.name, "src") == 0) {
            src = born_from_data(BORN_F32, BORN_DIMS(q.rows, q.cols), q.data, q.nbytes);
            continue;
        }
        CHECK_MSG(born_dtype_is_quantized(q.dtype), "%s: not a quantized dtype", q.name);
        if (strstr(q.name, "/gguf") || strstr(q.name, "/ggml")) {
            CHECK_MSG(src != NULL, "%s comes before src", q.name);
            if (!src) continue;
            check_quantize(&q, src);
            quantized_checked++;
            if (strstr(q.name, "/ggml")) ggml_types++;
        }
        if (q.deq) {
            check_dequantize(&q);
            dequantized_checked++;
        }
    }
    CHECK(r.p == r.end);
    /* 5 types quantized by gguf-py and 14 by ggml; 12 types dequantized from random blocks and
     * 5 from gguf-py's quantization */
    CHECK_EQ_INT(quantized_checked, 19);
    CHECK_EQ_INT(ggml_types, 14);
    CHECK_EQ_INT(dequantized_checked, 17);
    free(buf);
}
