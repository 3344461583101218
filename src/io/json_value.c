/* A parsed JSON document: its arena, and the accessors that read values out of it. Readers never
 * crash on a value of the wrong type; they record an error naming both types. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Arena                                                                                        */

struct json_chunk {
    json_chunk *next;
    size_t size, used;
    max_align_t data[]; /* size bytes */
};

enum { ARENA_FIRST_CHUNK = 4096, ARENA_LARGEST_CHUNK = 1 << 20 };

void *json_arena_alloc(json_arena *arena, size_t size) {
    size = (size + 7) & ~(size_t)7;
    if (size == 0) size = 8;
    json_chunk *c = arena->head;
    if (!c || c->size - c->used < size) {
        size_t chunk = arena->next_size ? arena->next_size : ARENA_FIRST_CHUNK;
        if (chunk < ARENA_LARGEST_CHUNK) arena->next_size = chunk * 2;
        if (chunk < size) chunk = size;
        if (chunk > SIZE_MAX - sizeof(json_chunk)) return NULL;
        c = malloc(sizeof(json_chunk) + chunk);
        if (!c) return NULL;
        c->size = chunk;
        c->used = 0;
        /* a chunk made for one large request goes behind the head, which may still have room */
        if (arena->head && chunk == size) {
            c->next = arena->head->next;
            arena->head->next = c;
        } else {
            c->next = arena->head;
            arena->head = c;
        }
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

void json_arena_free(json_arena *arena) {
    for (json_chunk *c = arena->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    arena->head = NULL;
    arena->next_size = 0;
}

void born_json_free(born_json *doc) {
    if (!doc) return;
    json_arena_free(&doc->arena);
    free(doc);
}

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                        */

const born_json_value *born_json_root(const born_json *doc) { return doc ? &doc->root : NULL; }

born_json_type born_json_type_of(const born_json_value *value) {
    return value ? value->type : BORN_JSON_NONE;
}

const char *born_json_type_name(born_json_type type) {
    switch (type) {
    case BORN_JSON_NONE: return "no value";
    case BORN_JSON_NULL: return "null";
    case BORN_JSON_BOOL: return "bool";
    case BORN_JSON_NUMBER: return "number";
    case BORN_JSON_STRING: return "string";
    case BORN_JSON_ARRAY: return "array";
    case BORN_JSON_OBJECT: return "object";
    }
    return "invalid type";
}

/* Checks that value is non-NULL and of the wanted type, recording an error naming fn if not. */
static born_status expect_type(const char *fn, const born_json_value *value, born_json_type want) {
    if (!value) return born_error(BORN_ERR_ARGUMENT, "%s: value is NULL", fn);
    if (value->type != want)
        return born_error(BORN_ERR_FORMAT, "%s: the value is %s %s, not %s %s", fn,
                          value->type == BORN_JSON_ARRAY || value->type == BORN_JSON_OBJECT
                              ? "an" : "a",
                          born_json_type_name(value->type),
                          want == BORN_JSON_ARRAY || want == BORN_JSON_OBJECT ? "an" : "a",
                          born_json_type_name(want));
    return BORN_OK;
}

int json_key_compare(const char *a, size_t a_len, const char *b, size_t b_len) {
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
    if (c) return c;
    return a_len < b_len ? -1 : a_len > b_len;
}

/* ------------------------------------------------------------------------------------------ */
/* Scalars                                                                                      */

born_status born_json_get_bool(const born_json_value *value, bool *out) {
    born_status st = expect_type("born_json_get_bool", value, BORN_JSON_BOOL);
    if (st) return st;
    if (!out) return born_error(BORN_ERR_ARGUMENT, "born_json_get_bool: out is NULL");
    *out = value->as.boolean;
    return BORN_OK;
}

born_status born_json_get_double(const born_json_value *value, double *out) {
    born_status st = expect_type("born_json_get_double", value, BORN_JSON_NUMBER);
    if (st) return st;
    if (!out) return born_error(BORN_ERR_ARGUMENT, "born_json_get_double: out is NULL");
    if (isinf(value->as.number.value))
        return born_error(BORN_ERR_FORMAT, "born_json_get_double: the number %.40s%s is out of "
                          "the range of a double", value->as.number.text,
                          value->as.number.len > 40 ? "..." : "");
    *out = value->as.number.value;
    return BORN_OK;
}

born_status born_json_get_int64(const born_json_value *value, int64_t *out) {
    born_status st = expect_type("born_json_get_int64", value, BORN_JSON_NUMBER);
    if (st) return st;
    if (!out) return born_error(BORN_ERR_ARGUMENT, "born_json_get_int64: out is NULL");
    int64_t result;
    int r = json_number_to_int64(value->as.number.text, value->as.number.len, &result);
    if (r)
        return born_error(BORN_ERR_FORMAT, "born_json_get_int64: the number %.40s%s %s",
                          value->as.number.text, value->as.number.len > 40 ? "..." : "",
                          r < 0 ? "is not an integer" : "is out of the int64 range");
    *out = result;
    return BORN_OK;
}

const char *born_json_number_text(const born_json_value *value, size_t *len) {
    if (expect_type("born_json_number_text", value, BORN_JSON_NUMBER)) return NULL;
    if (len) *len = value->as.number.len;
    return value->as.number.text;
}

born_status born_json_get_string(const born_json_value *value, const char **str, size_t *len) {
    born_status st = expect_type("born_json_get_string", value, BORN_JSON_STRING);
    if (st) return st;
    if (!str) return born_error(BORN_ERR_ARGUMENT, "born_json_get_string: str is NULL");
    *str = value->as.string.bytes;
    if (len) *len = value->as.string.len;
    return BORN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Containers                                                                                   */

size_t born_json_array_length(const born_json_value *array) {
    if (expect_type("born_json_array_length", array, BORN_JSON_ARRAY)) return 0;
    return array->as.array.count;
}

size_t born_json_object_size(const born_json_value *object) {
    if (expect_type("born_json_object_size", object, BORN_JSON_OBJECT)) return 0;
    return object->as.object.count;
}

const born_json_value *born_json_array_get(const born_json_value *array, size_t index) {
    if (expect_type("born_json_array_get", array, BORN_JSON_ARRAY)) return NULL;
    if (index >= array->as.array.count)
        return born_error_null(BORN_ERR_ARGUMENT, "born_json_array_get: index %zu is out of "
                               "range for an array of %zu elements", index,
                               array->as.array.count);
    return &array->as.array.items[index];
}

const born_json_value *born_json_object_member(const born_json_value *object, size_t index,
                                               const char **key, size_t *key_len) {
    if (expect_type("born_json_object_member", object, BORN_JSON_OBJECT)) return NULL;
    if (index >= object->as.object.count)
        return born_error_null(BORN_ERR_ARGUMENT, "born_json_object_member: index %zu is out of "
                               "range for an object of %zu members", index,
                               object->as.object.count);
    const json_member *m = &object->as.object.members[index];
    if (key) *key = m->key;
    if (key_len) *key_len = m->key_len;
    return &m->value;
}

const born_json_value *born_json_object_find(const born_json_value *object, const char *key,
                                             size_t key_len) {
    if (expect_type("born_json_object_find", object, BORN_JSON_OBJECT)) return NULL;
    if (!key) return born_error_null(BORN_ERR_ARGUMENT, "born_json_object_find: key is NULL");
    const json_member *const *index = object->as.object.index;
    size_t count = object->as.object.count;
    if (!index) {
        for (size_t i = 0; i < count; i++) {
            const json_member *m = &object->as.object.members[i];
            if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0) return &m->value;
        }
        return NULL;
    }
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = json_key_compare(index[mid]->key, index[mid]->key_len, key, key_len);
        if (c == 0) return &index[mid]->value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const born_json_value *born_json_object_get(const born_json_value *object, const char *key) {
    if (expect_type("born_json_object_get", object, BORN_JSON_OBJECT)) return NULL;
    if (!key) return born_error_null(BORN_ERR_ARGUMENT, "born_json_object_get: key is NULL");
    return born_json_object_find(object, key, strlen(key));
}
