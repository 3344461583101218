/* Unicode categories, White_Space and forgiving UTF-8 decoding for the tokenizers. */
#include "llm/tokenizer/unicode.h"

static born_ucat search_runs(uint32_t cp) {
    int lo = 0, hi = born_ucat_run_count - 1; /* the last run whose start <= cp */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if ((born_ucat_runs[mid] >> 5) <= cp) lo = mid;
        else hi = mid - 1;
    }
    return (born_ucat)(born_ucat_runs[lo] & 31u);
}

born_ucat ucat_of(uint32_t cp) {
    if (cp < 0x800) return (born_ucat)born_ucat_low[cp]; /* Latin ... Arabic: a flat table */
    if (cp > 0x10FFFF) return UCAT_CN;
    return search_runs(cp);
}

bool uc_is_space(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return false;
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

int utf8_decode(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    if (b0 < 0xC2 || b0 > 0xF4) return 0; /* continuation byte, overlong lead, or > U+10FFFF */
    if (b0 < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(b0 & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (n < 2) return 0;
    uint8_t b1 = s[1];
    /* the second byte's range depends on the lead (Unicode Table 3-7) */
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 == 0xE0) lo = 0xA0;
    else if (b0 == 0xED) hi = 0x9F;
    else if (b0 == 0xF0) lo = 0x90;
    else if (b0 == 0xF4) hi = 0x8F;
    if (b1 < lo || b1 > hi) return 0;
    if (b0 < 0xF0) {
        if (n < 3 || (s[2] & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(b0 & 0x0F) << 12) | ((uint32_t)(b1 & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    *cp = ((uint32_t)(b0 & 0x07) << 18) | ((uint32_t)(b1 & 0x3F) << 12) |
          ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

int utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* True when s[0..n) (1 <= n <= 3) is a proper prefix of some well-formed sequence. */
static bool is_valid_prefix(const uint8_t *s, size_t n) {
    uint8_t b0 = s[0];
    if (b0 < 0xC2 || b0 > 0xF4) return false;
    size_t need = b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
    if (n >= need) return false;
    if (n >= 2) {
        uint8_t lo = 0x80, hi = 0xBF;
        if (b0 == 0xE0) lo = 0xA0;
        else if (b0 == 0xED) hi = 0x9F;
        else if (b0 == 0xF0) lo = 0x90;
        else if (b0 == 0xF4) hi = 0x8F;
        if (s[1] < lo || s[1] > hi) return false;
    }
    if (n >= 3 && (s[2] & 0xC0) != 0x80) return false;
    return true;
}

size_t utf8_incomplete_tail(const uint8_t *s, size_t n) {
    for (size_t k = n < 3 ? n : 3; k >= 1; k--) {
        if (is_valid_prefix(s + n - k, k)) return k;
    }
    return 0;
}
