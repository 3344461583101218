/* A python3 child for benchmarks that time a Python peer (PyTorch) in turns with Born: the child
 * runs a script given as text, prints one JSON line {"ready": "VERSION"} once set up, then answers
 * each command line on its stdin with one JSON line ({"seconds": S}, {"ok": 1}, ...) and stops on
 * "quit". Born and the peer then take turns, so that both see the same load of a shared machine. */
#ifndef BORN_BENCH_PYTHON_PEER_H
#define BORN_BENCH_PYTHON_PEER_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct python_peer {
    pid_t pid;
    FILE *to, *from;
    char script[64];
    char version[64];
} python_peer;

/* One reply line's number after "key": (or -1). */
static double python_peer_ask(python_peer *p, const char *cmd, const char *key) {
    if (!p->to) return -1;
    fprintf(p->to, "%s\n", cmd);
    fflush(p->to);
    char line[4096], pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    while (fgets(line, sizeof line, p->from)) {
        char *v = strstr(line, pat);
        if (v) return atof(v + strlen(pat));
    }
    return -1;
}

/* Tells the child to quit, waits for it and removes the script. */
static void python_peer_stop(python_peer *p) {
    if (p->to) {
        fprintf(p->to, "quit\n");
        fclose(p->to);
    }
    if (p->from) fclose(p->from);
    if (p->pid > 0) waitpid(p->pid, NULL, 0);
    if (p->script[0]) remove(p->script);
}

/* Starts python3 on `script` (its text) with the one argument `arg`, with OMP_WAIT_POLICY=PASSIVE
 * so that the peer's idle threads do not spin during Born's turns; false (and no child) where
 * python3 or the script's imports fail. */
static bool python_peer_start(python_peer *p, const char *script, const char *arg) {
    memset(p, 0, sizeof *p);
    snprintf(p->script, sizeof p->script, "/tmp/born_bench_peer_XXXXXX");
    int fd = mkstemp(p->script);
    if (fd < 0) return false;
    FILE *f = fdopen(fd, "w");
    bool written = f && fputs(script, f) >= 0;
    if (f ? fclose(f) != 0 : close(fd) != 0) written = false;
    int down[2], up[2];
    if (!written || pipe(down) != 0) {
        remove(p->script);
        return false;
    }
    if (pipe(up) != 0) {
        close(down[0]);
        close(down[1]);
        remove(p->script);
        return false;
    }
    p->pid = fork();
    if (p->pid == 0) {
        dup2(down[0], 0);
        dup2(up[1], 1);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 2);
        close(down[1]);
        close(up[0]);
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execlp("python3", "python3", p->script, arg, (char *)NULL);
        _exit(127);
    }
    close(down[0]);
    close(up[1]);
    if (p->pid < 0) {
        close(down[1]);
        close(up[0]);
        remove(p->script);
        return false;
    }
    p->to = fdopen(down[1], "w");
    p->from = fdopen(up[0], "r");
    char line[4096];
    while (p->from && fgets(line, sizeof line, p->from)) {
        char *v = strstr(line, "\"ready\": \"");
        if (v) {
            v += 10;
            size_t n = strcspn(v, "\"");
            if (n >= sizeof p->version) n = sizeof p->version - 1;
            memcpy(p->version, v, n);
            return true;
        }
    }
    python_peer_stop(p); /* the child ended (or said nothing) before it was ready */
    return false;
}

#endif
