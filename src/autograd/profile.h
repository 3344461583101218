/* Internal: an opt-in wall-clock profile of training steps by op. With BORN_PROFILE=1 in the
 * environment, each autograd node's backward rule and each module's forward (excluding the time
 * of the modules it calls) adds its wall time under its name, and the table goes to stderr at
 * exit. Off (the default) it costs one branch per call. */
#ifndef BORN_AUTOGRAD_PROFILE_H
#define BORN_AUTOGRAD_PROFILE_H

#include <stdbool.h>

/* True when BORN_PROFILE is set to a non-zero value (read once). */
bool prof_enabled(void);

/* A monotonic clock in seconds. */
double prof_now(void);

/* Adds `seconds` to the row (name, kind); kind is a short tag such as "fwd" or "bwd". Names must
 * be static strings. Safe from one thread at a time (the training thread). */
void prof_add(const char *name, const char *kind, double seconds);

/* Nested exclusive timing for module forwards: prof_enter returns the start time and pushes a
 * frame, prof_leave pops it, charges the frame's time minus its children's, and adds the total to
 * the parent frame's child time. */
double prof_enter(void);
void prof_leave(const char *name, const char *kind, double start);

#endif
