/* Named tensor lists (state dicts). Lookups are linear: lists hold hundreds of entries at most
 * per model, and order must be kept for files anyway. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor_impl.h"

born_tensor_list *born_tensor_list_new(void) {
    born_tensor_list *l = calloc(1, sizeof *l);
    if (!l) return born_error_null(BORN_ERR_MEMORY, "born_tensor_list_new: out of memory");
    return l;
}

void born_tensor_list_free(born_tensor_list *list) {
    if (!list) return;
    for (int64_t i = 0; i < list->count; i++) {
        free(list->items[i].name);
        tensor_release(list->items[i].tensor);
    }
    free(list->items);
    free(list);
}

born_tensor *born_tensor_list_get(const born_tensor_list *list, const char *name) {
    if (!list || !name) return NULL;
    for (int64_t i = 0; i < list->count; i++)
        if (strcmp(list->items[i].name, name) == 0) return list->items[i].tensor;
    return NULL;
}

born_status born_tensor_list_add(born_tensor_list *list, const char *name, born_tensor *t) {
    if (!list || !name || !t)
        return born_error(BORN_ERR_ARGUMENT, "born_tensor_list_add: %s is NULL",
                          !list ? "list" : !name ? "name" : "tensor");
    if (born_tensor_list_get(list, name))
        return born_error(BORN_ERR_ARGUMENT, "born_tensor_list_add: the name '%s' is already in "
                          "the list", name);
    if (list->count == list->capacity) {
        int64_t cap = list->capacity ? list->capacity * 2 : 16;
        born_named_tensor *items = realloc(list->items, (size_t)cap * sizeof *items);
        if (!items) return born_error(BORN_ERR_MEMORY, "born_tensor_list_add: out of memory");
        list->items = items;
        list->capacity = cap;
    }
    char *copy = strdup(name);
    if (!copy) return born_error(BORN_ERR_MEMORY, "born_tensor_list_add: out of memory");
    list->items[list->count].name = copy;
    list->items[list->count].tensor = born_tensor_retain(t);
    list->count++;
    return BORN_OK;
}
