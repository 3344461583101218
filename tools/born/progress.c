/* The training progress bar. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/born/progress.h"

enum { BAR_WIDTH = 24 };

double progress_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void progress_begin(progress *p, FILE *out, const char *label, int64_t total) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = isatty(fileno(out));
    snprintf(p->label, sizeof p->label, "%s", label);
    p->total = total;
    p->start = p->last_draw = progress_now();
}

double progress_mean_loss(const progress *p) { return p->loss_count ? p->loss_sum / (double)p->loss_count : 0.0; }

static void draw(progress *p, double t) {
    double elapsed = t - p->start, rate = elapsed > 0 ? (double)p->done / elapsed : 0.0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0.0;
    int filled = p->total ? (int)(BAR_WIDTH * p->done / p->total) : BAR_WIDTH;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    fprintf(p->out, "%s%s [%s] %lld/%lld  %6.1f batch/s  loss %.4f  %s %4.1fs ", p->tty ? "\r" : "",
            p->label, bar, (long long)p->done, (long long)p->total, rate, progress_mean_loss(p),
            p->done < p->total ? "ETA" : "in", p->done < p->total ? eta : elapsed);
    fflush(p->out);
}

void progress_step(progress *p, double loss) {
    p->done++;
    p->loss_sum += loss;
    p->loss_count++;
    double t = progress_now();
    if (p->tty && t - p->last_draw >= 0.1) {
        draw(p, t);
        p->last_draw = t;
    }
}

void progress_end(progress *p) {
    draw(p, progress_now());
    fputc('\n', p->out);
    fflush(p->out);
}
