/* Thread-local error state: the first error recorded on a thread sticks until born_clear_error,
 * so a chain of ops needs one check at its end and the message names the op that failed first. */
#include <stdarg.h>
#include <stdio.h>

#include "core/error.h"

enum { ERROR_MESSAGE_SIZE = 1024 };

static _Thread_local born_status error_status = BORN_OK;
static _Thread_local char error_message[ERROR_MESSAGE_SIZE];

static void record(born_status status, const char *fmt, va_list ap) {
    if (error_status != BORN_OK) return;
    error_status = status;
    vsnprintf(error_message, sizeof error_message, fmt, ap);
}

born_status born_error(born_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(status, fmt, ap);
    va_end(ap);
    return status;
}

void *born_error_null(born_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(status, fmt, ap);
    va_end(ap);
    return NULL;
}

bool born_has_error(void) { return error_status != BORN_OK; }

const char *born_last_error(void) { return error_status == BORN_OK ? "" : error_message; }

born_status born_last_status(void) { return error_status; }

void born_clear_error(void) {
    error_status = BORN_OK;
    error_message[0] = '\0';
}

const char *born_status_name(born_status status) {
    switch (status) {
    case BORN_OK: return "ok";
    case BORN_ERR_ARGUMENT: return "argument error";
    case BORN_ERR_SHAPE: return "shape error";
    case BORN_ERR_DTYPE: return "dtype error";
    case BORN_ERR_DEVICE: return "device error";
    case BORN_ERR_MEMORY: return "out of memory";
    case BORN_ERR_IO: return "I/O error";
    case BORN_ERR_FORMAT: return "format error";
    case BORN_ERR_UNSUPPORTED: return "unsupported";
    case BORN_ERR_AUTOGRAD: return "autograd error";
    case BORN_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}
