/* The gzip container (RFC 1952) around DEFLATE data, written from the RFC: a header (magic,
 * method, flags, optional extra field, name, comment and header CRC), the compressed data, and a
 * trailer with the CRC-32 and the length (mod 2^32) of the uncompressed data. A file may hold
 * several members one after another; their data is concatenated. Born decompresses gzip itself so
 * that it needs no zlib (see inflate.c). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/io_util.h"

enum { FTEXT = 1, FHCRC = 2, FEXTRA = 4, FNAME = 8, FCOMMENT = 16, FRESERVED = 0xe0 };

/* The trailer's length claim is trusted, for reserving memory up front, only up to this many times
 * the input's size (DEFLATE can reach 1032:1, but real data rarely passes 10:1; beyond the
 * reservation the output grows as the data actually decompresses). */
enum { RESERVE_RATIO = 64 };

static uint32_t load32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static born_status header_truncated(const char *where, size_t member, size_t len,
                                    const char *what) {
    return born_error(BORN_ERR_FORMAT, "%s: gzip member at byte %zu: truncated %s (the input ends "
                      "at byte %zu)", where, member, what, len);
}

/* Parses the member header at in[m..len); on success *data is the offset of its DEFLATE data. */
static born_status member_header(const char *where, const uint8_t *in, size_t len, size_t m,
                                 size_t *data) {
    if (len - m < 10) return header_truncated(where, m, len, "header");
    if (in[m] != 0x1f || in[m + 1] != 0x8b)
        return born_error(BORN_ERR_FORMAT, "%s: byte %zu: not a gzip member (expected the magic "
                          "bytes 1f 8b, found %02x %02x)", where, m, in[m], in[m + 1]);
    if (in[m + 2] != 8)
        return born_error(BORN_ERR_FORMAT, "%s: byte %zu: gzip compression method %u is not "
                          "deflate (8)", where, m + 2, in[m + 2]);
    unsigned flags = in[m + 3];
    if (flags & FRESERVED)
        return born_error(BORN_ERR_FORMAT, "%s: byte %zu: gzip flags 0x%02x set reserved bits",
                          where, m + 3, flags);
    size_t p = m + 10;
    if (flags & FEXTRA) {
        if (len - p < 2) return header_truncated(where, m, len, "extra field length");
        size_t xlen = in[p] | (size_t)in[p + 1] << 8;
        p += 2;
        if (len - p < xlen) return header_truncated(where, m, len, "extra field");
        p += xlen;
    }
    if (flags & FNAME) {
        const uint8_t *nul = memchr(in + p, 0, len - p);
        if (!nul) return header_truncated(where, m, len, "file name");
        p = (size_t)(nul - in) + 1;
    }
    if (flags & FCOMMENT) {
        const uint8_t *nul = memchr(in + p, 0, len - p);
        if (!nul) return header_truncated(where, m, len, "comment");
        p = (size_t)(nul - in) + 1;
    }
    if (flags & FHCRC) {
        if (len - p < 2) return header_truncated(where, m, len, "header CRC");
        unsigned want = in[p] | (unsigned)in[p + 1] << 8;
        unsigned got = born_crc32(0, in + m, p - m) & 0xffffu;
        if (want != got)
            return born_error(BORN_ERR_FORMAT, "%s: byte %zu: gzip header CRC mismatch (stored "
                              "%04x, computed %04x)", where, p, want, got);
        p += 2;
    }
    *data = p;
    return BORN_OK;
}

born_status io_gunzip(const char *where, const uint8_t *in, size_t len, size_t max_out,
                      bool partial, io_buf *out) {
    if (len == 0) return born_error(BORN_ERR_FORMAT, "%s: empty input (not a gzip file)", where);
    /* reserve what the last member's trailer announces, within what DEFLATE could produce */
    if (len >= 18 && out->cap == 0) {
        size_t hint = load32le(in + len - 4);
        size_t most = len > SIZE_MAX / RESERVE_RATIO ? SIZE_MAX : len * RESERVE_RATIO;
        if (hint > most) hint = most;
        if (hint > max_out) hint = max_out;
        born_status st = io_buf_reserve(out, hint + 16, where);
        if (st != BORN_OK) return st;
    }
    size_t m = 0;
    do {
        size_t data = 0, used = 0;
        bool ended = false;
        born_status st = member_header(where, in, len, m, &data);
        if (st != BORN_OK) return st;
        size_t start = out->len;
        st = io_inflate(where, in + data, len - data, data, out, max_out, partial, &used, &ended);
        if (st != BORN_OK) return st;
        if (!ended) return BORN_OK; /* partial: out holds max_out bytes */
        size_t t = data + used;
        if (len - t < 8)
            return born_error(BORN_ERR_FORMAT, "%s: gzip member at byte %zu: truncated trailer "
                              "(the CRC-32 and length need 8 bytes at byte %zu; the input ends at "
                              "byte %zu)", where, m, t, len);
        uint32_t want_crc = load32le(in + t), want_size = load32le(in + t + 4);
        uint32_t crc = born_crc32(0, out->data + start, out->len - start);
        if (crc != want_crc)
            return born_error(BORN_ERR_FORMAT, "%s: byte %zu: gzip CRC-32 mismatch (stored %08x, "
                              "computed %08x over %zu decompressed bytes)", where, t, want_crc,
                              crc, out->len - start);
        if ((uint32_t)(out->len - start) != want_size)
            return born_error(BORN_ERR_FORMAT, "%s: byte %zu: gzip length mismatch (the trailer "
                              "says %u bytes mod 2^32, the member decompressed to %zu)", where,
                              t + 4, want_size, out->len - start);
        m = t + 8;
        if (m < len && !io_is_gzip(in + m, len - m))
            return born_error(BORN_ERR_FORMAT, "%s: byte %zu: %zu bytes of trailing garbage after "
                              "the last gzip member", where, m, len - m);
    } while (m < len);
    return BORN_OK;
}

born_status born_gzip_decompress(const void *data, size_t len, size_t max_out, void **out,
                                 size_t *out_len) {
    const char *where = "born_gzip_decompress: buffer";
    if (!out || !out_len)
        return born_error(BORN_ERR_ARGUMENT, "born_gzip_decompress: out or out_len is NULL");
    *out = NULL;
    *out_len = 0;
    if (!data && len > 0)
        return born_error(BORN_ERR_ARGUMENT, "born_gzip_decompress: data is NULL");
    io_buf b = {0};
    born_status st = io_gunzip(where, data, len, max_out, false, &b);
    if (st != BORN_OK) {
        free(b.data);
        return st;
    }
    if (!b.data) {
        b.data = malloc(1);
        if (!b.data) return born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
    }
    *out = b.data;
    *out_len = b.len;
    return BORN_OK;
}

born_status born_inflate(const void *data, size_t len, size_t max_out, void **out,
                         size_t *out_len, size_t *in_used) {
    const char *where = "born_inflate: buffer";
    if (!out || !out_len)
        return born_error(BORN_ERR_ARGUMENT, "born_inflate: out or out_len is NULL");
    *out = NULL;
    *out_len = 0;
    if (in_used) *in_used = 0;
    if (!data && len > 0) return born_error(BORN_ERR_ARGUMENT, "born_inflate: data is NULL");
    io_buf b = {0};
    size_t used = 0;
    bool ended = false;
    born_status st = io_inflate(where, data, len, 0, &b, max_out, false, &used, &ended);
    if (st == BORN_OK && !in_used && used < len)
        st = born_error(BORN_ERR_FORMAT, "%s: byte %zu: %zu bytes of trailing data after the "
                        "final deflate block", where, used, len - used);
    if (st != BORN_OK) {
        free(b.data);
        return st;
    }
    if (!b.data) {
        b.data = malloc(1);
        if (!b.data) return born_error(BORN_ERR_MEMORY, "%s: out of memory", where);
    }
    if (in_used) *in_used = used;
    *out = b.data;
    *out_len = b.len;
    return BORN_OK;
}
