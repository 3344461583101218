/* The protobuf wire format, read with every length checked against the bytes that remain. */
#include "onnx/pb.h"

#include <string.h>

#include "core/error.h"

born_status pb_read_varint(pb_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return born_error(BORN_ERR_FORMAT, "%s: truncated varint", r->where);
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7e))
            return born_error(BORN_ERR_FORMAT, "%s: varint overflows 64 bits", r->where);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return BORN_OK;
        }
    }
    return born_error(BORN_ERR_FORMAT, "%s: varint longer than 10 bytes", r->where);
}

born_status pb_next(pb_reader *r, pb_field *f) {
    uint64_t key;
    born_status st = pb_read_varint(r, &key);
    if (st) return st;
    uint64_t number = key >> 3;
    if (number == 0 || number > 536870911u)
        return born_error(BORN_ERR_FORMAT, "%s: bad field number %llu", r->where,
                          (unsigned long long)number);
    memset(f, 0, sizeof *f);
    f->number = (uint32_t)number;
    f->wire = (int)(key & 7);
    size_t left = (size_t)(r->end - r->p);
    switch (f->wire) {
    case PB_VARINT: return pb_read_varint(r, &f->varint);
    case PB_I64:
        if (left < 8) return born_error(BORN_ERR_FORMAT, "%s: truncated fixed64 field %u", r->where, f->number);
        for (int i = 7; i >= 0; i--) f->varint = (f->varint << 8) | r->p[i];
        r->p += 8;
        return BORN_OK;
    case PB_I32:
        if (left < 4) return born_error(BORN_ERR_FORMAT, "%s: truncated fixed32 field %u", r->where, f->number);
        for (int i = 3; i >= 0; i--) f->varint = (f->varint << 8) | r->p[i];
        r->p += 4;
        return BORN_OK;
    case PB_LEN: {
        uint64_t len;
        st = pb_read_varint(r, &len);
        if (st) return st;
        left = (size_t)(r->end - r->p);
        if (len > left)
            return born_error(BORN_ERR_FORMAT, "%s: field %u claims %llu bytes, %zu remain", r->where,
                              f->number, (unsigned long long)len, left);
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return BORN_OK;
    }
    default:
        return born_error(BORN_ERR_FORMAT, "%s: unsupported wire type %d in field %u", r->where,
                          f->wire, f->number);
    }
}

static size_t elem_size(int wire) { return wire == PB_I64 ? 8 : wire == PB_I32 ? 4 : 0; }

born_status pb_packed_count(const pb_field *f, int wire_elem, size_t *count, const char *where) {
    if (f->wire == wire_elem) {
        *count = 1;
        return BORN_OK;
    }
    if (f->wire != PB_LEN)
        return born_error(BORN_ERR_FORMAT, "%s: field %u has wire type %d, expected %d", where,
                          f->number, f->wire, wire_elem);
    size_t es = elem_size(wire_elem);
    if (es) {
        if (f->len % es)
            return born_error(BORN_ERR_FORMAT, "%s: packed field %u of %zu bytes is not a multiple of %zu",
                              where, f->number, f->len, es);
        *count = f->len / es;
        return BORN_OK;
    }
    size_t n = 0;
    for (size_t i = 0; i < f->len; i++)
        if (!(f->data[i] & 0x80)) n++;
    if (f->len && (f->data[f->len - 1] & 0x80))
        return born_error(BORN_ERR_FORMAT, "%s: packed field %u ends inside a varint", where, f->number);
    *count = n;
    return BORN_OK;
}

born_status pb_packed_read(const pb_field *f, int wire_elem, uint64_t *out, size_t count,
                           const char *where) {
    if (f->wire == wire_elem) {
        if (count) out[0] = f->varint;
        return BORN_OK;
    }
    size_t es = elem_size(wire_elem);
    pb_reader r = pb_reader_make(f->data, f->len, where);
    for (size_t i = 0; i < count; i++) {
        if (es) {
            uint64_t v = 0;
            for (size_t b = es; b-- > 0;) v = (v << 8) | r.p[b];
            r.p += es;
            out[i] = v;
        } else {
            born_status st = pb_read_varint(&r, &out[i]);
            if (st) return st;
        }
    }
    return BORN_OK;
}
