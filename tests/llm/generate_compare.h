/* Test helper: born_generate with greedy tokens chosen ahead (born_session_decode_greedy in
 * chunks, then rollbacks at a stop) against the one-token loop on the same session. */
#ifndef BORN_TESTS_LLM_GENERATE_COMPARE_H
#define BORN_TESTS_LLM_GENERATE_COMPARE_H

#include "born/llm.h"

/* Runs greedy generation scenarios on s (rolled back to 0 before each; max_tokens, stop strings
 * from the middle of the text, a callback that stops, a full context, a continuation with an empty
 * prompt) once one token at a time and once choosing up to `ahead` tokens ahead, and CHECKs that
 * the results, the streamed text, the session's position and the continuations agree. Returns
 * how many scenarios were compared (at least 16; more stop strings when the text is longer). */
int generate_ahead_compare(born_session *s, int32_t ahead);

#endif
