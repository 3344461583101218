/* Structural equality of two JSON values, iterative so that any depth is safe. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_internal.h"

/* A pair of containers being compared, and the next child to compare. */
typedef struct pair {
    const born_json_value *a, *b;
    size_t next;
} pair;

/* Compares everything but the children of containers. */
static bool shallow_equal(const born_json_value *a, const born_json_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case BORN_JSON_NONE:
    case BORN_JSON_NULL: return true;
    case BORN_JSON_BOOL: return a->as.boolean == b->as.boolean;
    case BORN_JSON_NUMBER:
        return json_number_equal(a->as.number.text, a->as.number.len, b->as.number.text,
                                 b->as.number.len);
    case BORN_JSON_STRING:
        return a->as.string.len == b->as.string.len &&
               memcmp(a->as.string.bytes, b->as.string.bytes, a->as.string.len) == 0;
    case BORN_JSON_ARRAY: return a->as.array.count == b->as.array.count;
    case BORN_JSON_OBJECT: return a->as.object.count == b->as.object.count;
    }
    return false;
}

bool born_json_value_equal(const born_json_value *a, const born_json_value *b) {
    if (!a || !b) return a == b;
    if (!shallow_equal(a, b)) return false;
    if (a->type != BORN_JSON_ARRAY && a->type != BORN_JSON_OBJECT) return true;
    size_t depth = 1, cap = 16;
    pair *stack = malloc(cap * sizeof *stack);
    if (!stack) {
        born_error(BORN_ERR_MEMORY, "born_json_value_equal: out of memory");
        return false;
    }
    stack[0] = (pair){a, b, 0};
    bool equal = true;
    while (equal && depth > 0) {
        pair *top = &stack[depth - 1];
        const born_json_value *x, *y;
        if (top->a->type == BORN_JSON_ARRAY) {
            if (top->next == top->a->as.array.count) {
                depth--;
                continue;
            }
            x = &top->a->as.array.items[top->next];
            y = &top->b->as.array.items[top->next];
        } else {
            if (top->next == top->a->as.object.count) {
                depth--;
                continue;
            }
            /* keys are unique within an object, so equal sizes and every key of a found in b
             * make the two member sets equal */
            const json_member *m = &top->a->as.object.members[top->next];
            x = &m->value;
            y = born_json_object_find(top->b, m->key, m->key_len);
        }
        top->next++;
        if (!y || !shallow_equal(x, y)) {
            equal = false;
        } else if (x->type == BORN_JSON_ARRAY || x->type == BORN_JSON_OBJECT) {
            if (depth == cap) {
                pair *grown = realloc(stack, 2 * cap * sizeof *grown);
                if (!grown) {
                    born_error(BORN_ERR_MEMORY, "born_json_value_equal: out of memory");
                    equal = false;
                    break;
                }
                stack = grown;
                cap *= 2;
            }
            stack[depth++] = (pair){x, y, 0};
        }
    }
    free(stack);
    return equal;
}
