/* Internal: the autocast state (born_autocast_begin/end) as the ops that honour it read it. */
#ifndef BORN_AUTOGRAD_AUTOCAST_H
#define BORN_AUTOGRAD_AUTOCAST_H

#include "born/amp.h"
#include "born/ops.h"

/* Inside an autocast region: in[i] cast to its dtype (recorded by autograd) in out[i] where
 * in[i] is floating, not f64 and of another dtype; out[i] = in[i] (NULL stays NULL) otherwise.
 * Returns true when anything was cast; then *failed tells whether a cast failed (an error is
 * recorded). Release the casts with autocast_release. */
bool autocast_args(int n, born_tensor *const *in, born_tensor **out, bool *failed);

/* Frees the out[i] that autocast_args made (those that differ from in[i]). */
void autocast_release(int n, born_tensor *const *in, born_tensor **out);

/* Closes every region on this thread and returns the depth for autocast_resume (the backward
 * pass runs its rules outside autocast, as PyTorch does). */
int autocast_suspend(void);
void autocast_resume(int saved_depth);

#endif
