/* Internal: a bounds-checked reader of the protobuf wire format (varints, fixed 32/64-bit
 * fields and length-delimited fields). A reader never reads outside [p, end); every function
 * reports a malformed input as BORN_ERR_FORMAT with a message naming `where`. */
#ifndef BORN_ONNX_PB_H
#define BORN_ONNX_PB_H

#include <stddef.h>
#include <stdint.h>

#include "born/core.h"

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

typedef struct pb_reader {
    const uint8_t *p, *end;
    const char *where; /* names the message being read, for errors */
} pb_reader;

/* A field's key and, for length-delimited fields, its payload. */
typedef struct pb_field {
    uint32_t number;
    int wire;
    uint64_t varint;          /* PB_VARINT, PB_I64 and PB_I32 values */
    const uint8_t *data;      /* PB_LEN payload */
    size_t len;
} pb_field;

static inline pb_reader pb_reader_make(const void *data, size_t len, const char *where) {
    pb_reader r = {(const uint8_t *)data, (const uint8_t *)data + len, where};
    return r;
}

static inline int pb_done(const pb_reader *r) { return r->p >= r->end; }

/* Reads one varint (at most 10 bytes). */
born_status pb_read_varint(pb_reader *r, uint64_t *out);

/* Reads the next field of the message: its key and value. Groups (wire types 3, 4) and unknown
 * wire types are errors, as is a field number of 0. */
born_status pb_next(pb_reader *r, pb_field *f);

/* The packed or unpacked elements of a repeated scalar field. For a PB_LEN field `count` returns
 * how many elements the payload holds (varints: counted; fixed: len / size, which must divide);
 * for a scalar field, 1. */
born_status pb_packed_count(const pb_field *f, int wire_elem, size_t *count, const char *where);

/* Decodes the elements counted by pb_packed_count into out (as raw 64-bit values: varints as
 * read, fixed32 zero-extended, fixed64 as is). */
born_status pb_packed_read(const pb_field *f, int wire_elem, uint64_t *out, size_t count,
                           const char *where);

#endif
