/* Runs a subcommand with its standard streams redirected to temporary files (cli_run.h). */
#include "tools/cli_run.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tensor_file_test.h"

int cli_run(int (*cmd)(int, char **), int argc, char **argv, const char *input, char *out,
            size_t size) {
    fflush(stdout);
    fflush(stderr);
    const char *opath = tft_path("cli-out.txt"), *ipath = tft_path("cli-in.txt");
    tft_write_all(ipath, input ? input : "", input ? strlen(input) : 0);
    int saved_in = dup(0), saved_out = dup(1), saved_err = dup(2);
    int ifd = open(ipath, O_RDONLY), fd = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(ifd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    clearerr(stdin);
    int status = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_in, 0);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    clearerr(stdin);
    close(saved_in);
    close(saved_out);
    close(saved_err);
    close(ifd);
    close(fd);
    size_t len = 0;
    uint8_t *text = tft_read_all(opath, &len);
    if (len >= size) len = size - 1;
    if (text) memcpy(out, text, len);
    out[len] = 0;
    free(text);
    unlink(opath);
    unlink(ipath);
    return status;
}
