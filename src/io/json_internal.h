/* Internal: the JSON document's layout, its arena, and helpers shared by the parser, the
 * accessors and the writer. */
#ifndef BORN_IO_JSON_INTERNAL_H
#define BORN_IO_JSON_INTERNAL_H

#include "born/io.h"

typedef struct json_member json_member;

/* A value. Containers point at arrays in the document's arena; everything is immutable once the
 * parser has closed the value. */
struct born_json_value {
    born_json_type type;
    union {
        bool boolean;
        struct {
            const char *text; /* the number exactly as written, NUL-terminated */
            size_t len;
            double value; /* nearest double; +-inf when out of range */
        } number;
        struct {
            const char *bytes; /* decoded UTF-8, NUL-terminated, may contain NUL */
            size_t len;
        } string;
        struct {
            born_json_value *items;
            size_t count;
        } array;
        struct {
            json_member *members;      /* document order */
            size_t count;
            const json_member **index; /* sorted by key when count > JSON_INDEX_MIN, else NULL */
        } object;
    } as;
};

struct json_member {
    const char *key; /* decoded UTF-8, NUL-terminated, may contain NUL */
    size_t key_len;
    born_json_value value;
};

/* Objects with more members than this get a sorted index for lookups. */
enum { JSON_INDEX_MIN = 8 };

/* A bump allocator: the document frees all its memory at once. */
typedef struct json_chunk json_chunk;
typedef struct json_arena {
    json_chunk *head;
    size_t next_size;
} json_arena;

/* size bytes aligned to 8 bytes, or NULL when memory runs out (no error recorded). */
void *json_arena_alloc(json_arena *arena, size_t size);
void json_arena_free(json_arena *arena);

struct born_json {
    json_arena arena;
    born_json_value root;
};

/* Orders keys bytewise, a shorter key before its extensions. */
int json_key_compare(const char *a, size_t a_len, const char *b, size_t b_len);

/* The length (1-4) of the well-formed UTF-8 sequence at s (len bytes available) and its code
 * point through cp, or 0 when the bytes are not well-formed UTF-8 (overlong forms, surrogates and
 * code points above U+10FFFF are not). */
int json_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* Writes cp (at most U+10FFFF, not a surrogate) as UTF-8 into out; returns the byte count. */
int json_utf8_encode(uint32_t cp, unsigned char *out);

/* The nearest double to a JSON number's text (NUL-terminated, already validated), whatever the
 * C locale's decimal point; +-HUGE_VAL when out of range. */
double json_number_to_double(const char *text, size_t len);

/* A JSON number's text, validated, as an int64: returns 0 and stores the value when it is exactly
 * an integer in range, -1 when it has a fractional part, 1 when it is out of range. */
int json_number_to_int64(const char *text, size_t len, int64_t *out);

/* True when two JSON numbers' texts have the same decimal value (-0 equals 0). Exponents beyond
 * +-10^17 are compared as written. */
bool json_number_equal(const char *a, size_t a_len, const char *b, size_t b_len);

#endif
