/* JSON numbers read exactly from their text: conversion to double (independent of the C locale),
 * to int64 (only exact integers in range), and comparison by decimal value. */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_internal.h"

/* Exponents are read up to this magnitude; larger ones are "huge" and only compared as text. */
#define EXPONENT_LIMIT 100000000000000000LL /* 10^17 */

/* A number's text split into its parts. Its value is the digits int_digits ++ frac_digits with
 * the decimal point after int_len of them, times 10^exponent. */
typedef struct decimal {
    bool negative;
    const char *int_digits, *frac_digits;
    size_t int_len, frac_len;
    int64_t exponent;      /* exact unless huge */
    bool huge;             /* |exponent| >= EXPONENT_LIMIT */
    const char *exp_text;  /* the exponent's digits without sign and leading zeros */
    size_t exp_len;
    /* Derived: the significant digits are positions [first, end) of the concatenated digits,
     * and the value is 0.d1d2... x 10^point. zero when there are none. */
    size_t first, end;
    int64_t point;
    bool zero;
} decimal;

static char digit_at(const decimal *d, size_t i) {
    return i < d->int_len ? d->int_digits[i] : d->frac_digits[i - d->int_len];
}

/* Splits validated number text (RFC 8259 grammar) into a decimal. */
static void decimal_read(const char *s, size_t len, decimal *d) {
    memset(d, 0, sizeof *d);
    size_t i = 0;
    if (i < len && s[i] == '-') {
        d->negative = true;
        i++;
    }
    d->int_digits = s + i;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    d->int_len = (size_t)(s + i - d->int_digits);
    d->frac_digits = s + i;
    if (i < len && s[i] == '.') {
        d->frac_digits = s + ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++;
        d->frac_len = (size_t)(s + i - d->frac_digits);
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool exp_negative = false;
        if (i < len && (s[i] == '+' || s[i] == '-')) exp_negative = s[i++] == '-';
        while (i < len && s[i] == '0') i++;
        d->exp_text = s + i;
        int64_t e = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (e < EXPONENT_LIMIT) e = e * 10 + (s[i] - '0');
            d->exp_len++;
        }
        d->huge = e >= EXPONENT_LIMIT;
        d->exponent = exp_negative ? -e : e;
    }
    size_t total = d->int_len + d->frac_len;
    while (d->first < total && digit_at(d, d->first) == '0') d->first++;
    d->end = total;
    while (d->end > d->first && digit_at(d, d->end - 1) == '0') d->end--;
    d->zero = d->first == d->end;
    d->point = (int64_t)d->int_len - (int64_t)d->first + d->exponent;
}

double json_number_to_double(const char *text, size_t len) {
    /* integers of up to 15 digits are exact in a double: no need for strtod */
    size_t start = len > 0 && text[0] == '-';
    if (len - start <= 15) {
        double v = 0;
        size_t i = start;
        for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) v = v * 10 + (text[i] - '0');
        if (i == len && i > start) return start ? -v : v;
    }
    const char *point = localeconv()->decimal_point;
    if (!memchr(text, '.', len) || (point[0] == '.' && point[1] == '\0'))
        return strtod(text, NULL);
    /* strtod follows the C locale; give it the locale's decimal point */
    size_t point_len = strlen(point), n = 0;
    char *copy = malloc(len + point_len + 1);
    if (!copy) return strtod(text, NULL);
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '.') {
            memcpy(copy + n, point, point_len);
            n += point_len;
        } else {
            copy[n++] = text[i];
        }
    }
    copy[n] = '\0';
    double value = strtod(copy, NULL);
    free(copy);
    return value;
}

int json_number_to_int64(const char *text, size_t len, int64_t *out) {
    decimal d;
    decimal_read(text, len, &d);
    if (d.zero) {
        *out = 0;
        return 0;
    }
    int64_t nsig = (int64_t)(d.end - d.first);
    if (d.huge) return d.exponent < 0 ? -1 : 1;
    if (d.point < nsig) return -1; /* digits after the decimal point */
    if (d.point > 19) return 1;
    uint64_t limit = d.negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t value = 0;
    for (int64_t k = 0; k < d.point; k++) {
        unsigned digit = k < nsig ? (unsigned)(digit_at(&d, d.first + (size_t)k) - '0') : 0;
        if (value > (limit - digit) / 10) return 1;
        value = value * 10 + digit;
    }
    if (!d.negative)
        *out = (int64_t)value;
    else
        *out = value > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)value;
    return 0;
}

bool json_number_equal(const char *a, size_t a_len, const char *b, size_t b_len) {
    decimal x, y;
    decimal_read(a, a_len, &x);
    decimal_read(b, b_len, &y);
    if (x.zero || y.zero) return x.zero && y.zero;
    if (x.negative != y.negative || x.end - x.first != y.end - y.first) return false;
    if (x.huge || y.huge) {
        bool same_exponent = x.huge && y.huge && (x.exponent < 0) == (y.exponent < 0) &&
                             x.exp_len == y.exp_len &&
                             memcmp(x.exp_text, y.exp_text, x.exp_len) == 0 &&
                             x.int_len - x.first == y.int_len - y.first;
        if (!same_exponent) return false;
    } else if (x.point != y.point) {
        return false;
    }
    for (size_t k = 0; k < x.end - x.first; k++)
        if (digit_at(&x, x.first + k) != digit_at(&y, y.first + k)) return false;
    return true;
}
