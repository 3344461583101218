/* Internal: recording errors. The first error on a thread sticks until born_clear_error. */
#ifndef BORN_CORE_ERROR_H
#define BORN_CORE_ERROR_H

#include "born/core.h"

#if defined(__GNUC__) || defined(__clang__)
#define BORN_PRINTF(fmt_index, args_index) __attribute__((format(printf, fmt_index, args_index)))
#else
#define BORN_PRINTF(fmt_index, args_index)
#endif

/* Records status and the formatted message unless an error is already recorded; returns status. */
born_status born_error(born_status status, const char *fmt, ...) BORN_PRINTF(2, 3);

/* As born_error, returning NULL, for functions that return a pointer. */
void *born_error_null(born_status status, const char *fmt, ...) BORN_PRINTF(2, 3);

/* True when an error is recorded on this thread. */
bool born_has_error(void);

#endif
