/* Internal: the Unicode facts the tokenizers need. General categories for every code point
 * (generated table, tools/gen_unicode_tables.py), White_Space, and UTF-8 decoding that never
 * fails: an ill-formed byte decodes to U+FFFD. */
#ifndef BORN_LLM_UNICODE_H
#define BORN_LLM_UNICODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* General categories; the numbering matches tools/gen_unicode_tables.py. */
typedef enum born_ucat {
    UCAT_LU, UCAT_LL, UCAT_LT, UCAT_LM, UCAT_LO,
    UCAT_MN, UCAT_MC, UCAT_ME,
    UCAT_ND, UCAT_NL, UCAT_NO,
    UCAT_PC, UCAT_PD, UCAT_PS, UCAT_PE, UCAT_PI, UCAT_PF, UCAT_PO,
    UCAT_SM, UCAT_SC, UCAT_SK, UCAT_SO,
    UCAT_ZS, UCAT_ZL, UCAT_ZP,
    UCAT_CC, UCAT_CF, UCAT_CS, UCAT_CO, UCAT_CN,
    UCAT_COUNT
} born_ucat;

#define UCAT_BIT(c) (1u << (c))
#define UCAT_MASK_L (UCAT_BIT(UCAT_LU) | UCAT_BIT(UCAT_LL) | UCAT_BIT(UCAT_LT) | UCAT_BIT(UCAT_LM) | UCAT_BIT(UCAT_LO))
#define UCAT_MASK_M (UCAT_BIT(UCAT_MN) | UCAT_BIT(UCAT_MC) | UCAT_BIT(UCAT_ME))
#define UCAT_MASK_N (UCAT_BIT(UCAT_ND) | UCAT_BIT(UCAT_NL) | UCAT_BIT(UCAT_NO))
#define UCAT_MASK_P                                                                                 \
    (UCAT_BIT(UCAT_PC) | UCAT_BIT(UCAT_PD) | UCAT_BIT(UCAT_PS) | UCAT_BIT(UCAT_PE) |              \
     UCAT_BIT(UCAT_PI) | UCAT_BIT(UCAT_PF) | UCAT_BIT(UCAT_PO))
#define UCAT_MASK_S (UCAT_BIT(UCAT_SM) | UCAT_BIT(UCAT_SC) | UCAT_BIT(UCAT_SK) | UCAT_BIT(UCAT_SO))
#define UCAT_MASK_Z (UCAT_BIT(UCAT_ZS) | UCAT_BIT(UCAT_ZL) | UCAT_BIT(UCAT_ZP))
#define UCAT_MASK_C                                                                                 \
    (UCAT_BIT(UCAT_CC) | UCAT_BIT(UCAT_CF) | UCAT_BIT(UCAT_CS) | UCAT_BIT(UCAT_CO) | UCAT_BIT(UCAT_CN))

extern const char born_ucd_version[];
extern const uint32_t born_ucat_runs[];
extern const int born_ucat_run_count;
extern const uint8_t born_ucat_low[0x800];

/* The general category of cp (Cn beyond U+10FFFF). */
born_ucat ucat_of(uint32_t cp);

/* Unicode's White_Space property (what \s matches in Rust's regex, Oniguruma and llama.cpp). */
bool uc_is_space(uint32_t cp);

/* Decodes one well-formed UTF-8 sequence at s[0..n) (n >= 1): stores the code point and returns
 * its length (1..4). Returns 0 when the bytes there do not start a well-formed sequence (a stray
 * continuation byte, an overlong form, a surrogate, a value above U+10FFFF, a truncated
 * sequence); the caller then takes one byte as U+FFFD. */
int utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* Encodes cp (<= U+10FFFF) into out (4 bytes of room); returns the length. */
int utf8_encode(uint32_t cp, uint8_t *out);

/* The length a sequence starting with lead byte b claims, as llama.cpp counts it: 1 for
 * 0x00-0xBF, 2 for 0xC0-0xDF, 3 for 0xE0-0xEF, 4 for 0xF0-0xFF. */
static inline int utf8_lead_len(uint8_t b) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[b >> 4];
}

/* How many bytes at the end of s[0..n) are an incomplete prefix of a well-formed sequence that
 * more bytes could complete (0..3). */
size_t utf8_incomplete_tail(const uint8_t *s, size_t n);

#endif
