/* born info and born convert end to end: every format they read, conversions in both directions
 * that keep tensors, metadata and config, and clear failures (exit status 1 or 2, no output file)
 * for damaged, unknown or missing input. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/tensor_file_test.h"
#include "tools/born/commands.h"
#include "tools/cli_run.h"

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

#define FIXTURE "tests/fixtures/safetensors/all_dtypes.safetensors"

TEST(cli_info_lists_tensors) {
    static char out[8192];
    char *argv[] = {"info", FIXTURE, NULL};
    CHECK_EQ_INT(cli_run(cmd_info, 2, argv, NULL, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "safetensors, 12 tensors") && strstr(out, "bf16") &&
                  strstr(out, "BF16   [2, 2, 3]") && strstr(out, "format: pt"),
              "%s", out);
    char *npy[] = {"info", "tests/fixtures/npy/f4_2x3.npy", NULL};
    CHECK_EQ_INT(cli_run(cmd_info, 2, npy, NULL, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "NPY") && strstr(out, "f32    [2, 3]"), "%s", out);
    char *other[] = {"info", "Makefile", NULL};
    CHECK_EQ_INT(cli_run(cmd_info, 2, other, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "Makefile: neither a .born file"), "%s", out);
    char *none[] = {"info", NULL};
    CHECK_EQ_INT(cli_run(cmd_info, 1, none, NULL, out, sizeof out), 2);
}

TEST(cli_convert_round_trip) {
    static char out[8192];
    /* tft_path's buffers rotate: keep copies */
    char born[512], st[512], born2[512], bad[512], dst[512], bin[512];
    snprintf(born, sizeof born, "%s", tft_path("conv.born"));
    snprintf(st, sizeof st, "%s", tft_path("conv.safetensors"));
    snprintf(born2, sizeof born2, "%s", tft_path("conv2.born"));
    snprintf(bad, sizeof bad, "%s", tft_path("bad.born"));
    snprintf(dst, sizeof dst, "%s", tft_path("never.safetensors"));
    snprintf(bin, sizeof bin, "%s", tft_path("x.bin"));
    char *a[] = {"convert", FIXTURE, born, NULL};
    CHECK_EQ_INT(cli_run(cmd_convert, 3, a, NULL, out, sizeof out), 0);
    char *info[] = {"info", born, NULL};
    CHECK_EQ_INT(cli_run(cmd_info, 2, info, NULL, out, sizeof out), 0);
    CHECK_MSG(strstr(out, ".born version 1, 12 tensors") && strstr(out, "checksum: ok"), "%s", out);
    char *b[] = {"convert", born, st, NULL};
    CHECK_EQ_INT(cli_run(cmd_convert, 3, b, NULL, out, sizeof out), 0);
    /* .born and back gives the reference's very bytes */
    size_t n1 = 0, n2 = 0;
    uint8_t *x = tft_read_all(FIXTURE, &n1), *y = tft_read_all(st, &n2);
    CHECK(x && y && n1 == n2 && memcmp(x, y, n1) == 0);
    free(x);
    free(y);

    /* a config travels through safetensors metadata and back */
    born_tensor_list *l = born_tensor_list_new();
    born_tensor_list_add(l, "w", tft_pattern(BORN_F32, BORN_DIMS(2, 2)));
    void *enc = NULL;
    size_t len = 0;
    CHECK_OK(born_file_encode(l, NULL, "{\"arch\":\"mlp\",\"n\":[1,2]}", &enc, &len));
    tft_write_all(born, enc, len);
    free(enc);
    CHECK_EQ_INT(cli_run(cmd_convert, 3, b, NULL, out, sizeof out), 0);
    char *c[] = {"convert", st, born2, NULL};
    CHECK_EQ_INT(cli_run(cmd_convert, 3, c, NULL, out, sizeof out), 0);
    born_file *f = born_file_open(born2, NULL);
    CHECK(f && born_file_config(f) && born_file_metadata(f)->count == 0);
    born_file_close(f);
    born_tensor_list_free(l);

    /* failures leave nothing behind */
    tft_write_all(bad, "BORN\1\0\0\0", 8);
    int entries = tft_dir_entries();
    char *d[] = {"convert", bad, dst, NULL};
    CHECK_EQ_INT(cli_run(cmd_convert, 3, d, NULL, out, sizeof out), 1);
    CHECK_MSG(strstr(out, "bad.born: truncated"), "%s", out);
    CHECK(!exists(dst));
    char *e[] = {"convert", born, bin, NULL};
    CHECK_EQ_INT(cli_run(cmd_convert, 3, e, NULL, out, sizeof out), 2);
    CHECK_MSG(strstr(out, "cannot tell the output format"), "%s", out);
    CHECK_EQ_INT(tft_dir_entries(), entries);
    unlink(bad);
    unlink(born);
    unlink(born2);
    unlink(st);
}
