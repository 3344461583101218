/* Named tensor lists: ownership, order, lookups and errors. */
#include <string.h>

#include "test.h"

TEST(tensor_list_owns_references_and_names) {
    born_tensor_list *l = born_tensor_list_new();
    char name[16] = "w";
    born_scope_begin();
    born_tensor *a = born_ones(BORN_F32, BORN_DIMS(2));
    CHECK_OK(born_tensor_list_add(l, name, a));
    CHECK_OK(born_tensor_list_add(l, "b", born_zeros(BORN_I64, BORN_DIMS(1))));
    born_scope_end(); /* the list's references keep both alive */
    name[0] = 'x';    /* and it copied the name */
    CHECK(born_tensor_list_get(l, "w") != NULL && born_tensor_list_get(l, "x") == NULL);
    CHECK_EQ_INT(l->count, 2);
    CHECK(strcmp(l->items[1].name, "b") == 0);
    CHECK_NEAR(born_item(born_sum(born_tensor_list_get(l, "w"), 0, NULL, false)), 2, 0);
    CHECK(born_tensor_list_add(l, "b", born_tensor_list_get(l, "w")) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "already");
    CHECK(born_tensor_list_add(l, "c", NULL) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "tensor is NULL");
    born_tensor_list_free(l);
    born_tensor_list_free(NULL);
}
