/* The tokenizers' regex engine and Unicode helpers: each regex feature on small inputs, compile
 * errors, the hand-written splitters against the backtracking machine on random text, category
 * and White_Space lookups, and UTF-8 decoding of ill-formed input. */
#include <stdlib.h>
#include <string.h>

#include "llm/tokenizer/regex.h"
#include "llm/tokenizer/unicode.h"
#include "test.h"

/* Splits UTF-8 text with pattern (through the machine, or rx_split when fast) and writes the
 * pieces joined by '|' into out. Returns false when the pattern does not compile. */
static bool split_str(const char *pattern, const char *text, bool fast, char *out, size_t cap) {
    char err[128];
    rx_prog *prog = rx_compile(pattern, strlen(pattern), err, sizeof err);
    if (!prog) {
        snprintf(out, cap, "error: %s", err);
        return false;
    }
    size_t n = strlen(text);
    uint32_t *cps = malloc((n + 1) * sizeof *cps);
    uint8_t *info = malloc(n + 1);
    int32_t *offs = malloc((n + 1) * sizeof *offs);
    int32_t m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = utf8_decode((const uint8_t *)text + i, n - i, &cp);
        if (!l) {
            cp = 0xFFFD;
            l = 1;
        }
        cps[m] = cp;
        info[m] = rx_info_of(cp);
        offs[m++] = (int32_t)i;
        i += (size_t)l;
    }
    offs[m] = (int32_t)n;
    rx_pieces in = {0}, res = {0};
    rx_pieces_push(&in, m);
    int r = fast ? rx_split(prog, cps, info, &in, &res) : rx_split_vm(prog, cps, info, &in, &res);
    CHECK_EQ_INT(r, 0);
    size_t o = 0;
    out[0] = 0;
    int32_t start = 0;
    for (int64_t k = 0; k < res.count; k++) {
        int32_t end = res.ends[k];
        int len = offs[end] - offs[start];
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s", k ? "|" : "", len, text + offs[start]);
        start = end;
    }
    free(cps);
    free(info);
    free(offs);
    free(in.ends);
    free(res.ends);
    rx_free(prog);
    return true;
}

#define CHECK_SPLIT(pattern, text, want)                                                          \
    do {                                                                                           \
        char got_[512];                                                                            \
        split_str(pattern, text, false, got_, sizeof got_);                                        \
        CHECK_MSG(strcmp(got_, want) == 0, "/%s/ on \"%s\": got \"%s\", want \"%s\"", pattern,    \
                  text, got_, want);                                                               \
    } while (0)

TEST(tokenizer_regex_features) {
    CHECK_SPLIT("a+|b", "aaab", "aaa|b");
    CHECK_SPLIT("ab|abc", "abc", "ab|c");
    CHECK_SPLIT("abc|ab", "abc", "abc");
    CHECK_SPLIT("\\p{N}{1,3}", "12345", "123|45");
    CHECK_SPLIT("\\p{N}{2}", "12345", "12|34|5");
    CHECK_SPLIT("\\p{N}{2,}", "1 12345", "1 |12345");
    CHECK_SPLIT("(ab){2}", "ababab", "abab|ab");
    CHECK_SPLIT("(?:ab)+", "ababx", "abab|x");
    CHECK_SPLIT("a+?", "aaa", "a|a|a");
    CHECK_SPLIT("(?:ab)+?c", "ababc", "ababc");
    CHECK_SPLIT("(?i:ab)", "AbaBAB", "Ab|aB|AB");
    CHECK_SPLIT("(?i)ab|c", "ABC", "AB|C");
    CHECK_SPLIT("'[sS]", "'s'S's", "'s|'S|'s");
    /* greedy backtracks, possessive and atomic do not */
    CHECK_SPLIT("a?ab|.", "ab", "ab");
    CHECK_SPLIT("a?+ab|.", "ab", "a|b");
    CHECK_SPLIT("a++b|a", "aab", "aab");
    CHECK_SPLIT("(?>a+)ab|a", "aab", "a|a|b");
    CHECK_SPLIT("(?:a|ab)c", "abc", "abc");
    CHECK_SPLIT("(?>a|ab)c|.", "abc", "a|b|c");
    /* lookahead */
    CHECK_SPLIT("\\s+(?!\\S)|\\S+", "a   b", "a|  | |b");
    CHECK_SPLIT("\\s+(?!\\S)|\\S+", "a   ", "a|   ");
    CHECK_SPLIT("a(?=b)", "abac", "a|bac");
    /* classes */
    CHECK_SPLIT("[^\\s\\p{L}\\p{N}]+", "ab!?  12..", "ab|!?|  12|..");
    CHECK_SPLIT("\\p{Lu}+|\\p{Ll}+", "HelloWORLD", "H|ello|WORLD");
    CHECK_SPLIT("[\\p{Lu}\\p{Lt}]+", "ǅAb", "ǅA|b");
    CHECK_SPLIT("\\p{M}+", "e\xcc\x81\xcc\x88x", "e|\xcc\x81\xcc\x88|x");
    CHECK_SPLIT("[a-c]+|[^a-c]+", "abxyca", "ab|xy|ca");
    CHECK_SPLIT("[\\r\\n/]+", "a\r\n/b", "a|\r\n/|b");
    CHECK_SPLIT("[-a]+", "a-b", "a-|b");
    CHECK_SPLIT("[a-]+", "a-b", "a-|b");
    CHECK_SPLIT("[]a]+", "]a]b", "]a]|b");
    CHECK_SPLIT("\\d+", "a١٢3", "a|١٢3");
    CHECK_SPLIT("\\w+", "a_b c", "a_b| |c");
    CHECK_SPLIT("\\S+", "a\xc2\xa0" "b\xe3\x80\x80" "c", "a|\xc2\xa0|b|\xe3\x80\x80|c");
    CHECK_SPLIT(".+", "ab\ncd", "ab|\n|cd");
    /* escapes, literals outside ASCII */
    CHECK_SPLIT("\\x41+", "AAB", "AA|B");
    CHECK_SPLIT("\\u00e9", "e\xc3\xa9", "e|\xc3\xa9");
    CHECK_SPLIT("\\x{1F600}", "a\xf0\x9f\x98\x80", "a|\xf0\x9f\x98\x80");
    CHECK_SPLIT("[\xe3\x80\x82\xef\xbc\x8c]", "a\xe3\x80\x82" "b", "a|\xe3\x80\x82|b");
    CHECK_SPLIT("\\.\\|\\$", "a.|$", "a|.|$");
    CHECK_SPLIT("a{x", "a{x", "a{x");
    /* anchors are the ends of the text being split */
    CHECK_SPLIT("^a|b$", "aab", "a|a|b");
    CHECK_SPLIT("\\s+$", "a  b  ", "a  b|  ");
    /* empty matches leave the code point to a gap */
    CHECK_SPLIT("a*", "bab", "b|a|b");
}

TEST(tokenizer_regex_errors) {
    const struct {
        const char *pattern, *msg;
    } bad[] = {
        {"(?<=a)b", "lookbehind"},
        {"(?P<n>a)", "unsupported group"},
        {"[ab", "unterminated character class"},
        {"a{2,1}", "bad repeat bounds"},
        {"(a", "missing )"},
        {"a)", "unbalanced )"},
        {"\\p{Greek}", "unsupported Unicode property"},
        {"*a", "quantifier without an operand"},
        {"(a*)*", "can match empty"},
        {"[b-a]", "range out of order"},
        {"\\q", "unsupported escape"},
        {"\\1", "unsupported escape"},
        {"a\\", "trailing backslash"},
        {"[[:alpha:]]", "nested character classes"},
        {"\\x{110000}", "out of range"},
        {"\xff", "not valid UTF-8"},
        {"a{100001}", "too large"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char err[160];
        rx_prog *p = rx_compile(bad[k].pattern, strlen(bad[k].pattern), err, sizeof err);
        CHECK_MSG(p == NULL, "/%s/ compiled", bad[k].pattern);
        CHECK_MSG(p || strstr(err, bad[k].msg), "/%s/: \"%s\" lacks \"%s\"", bad[k].pattern, err,
                  bad[k].msg);
        rx_free(p);
    }
    /* a deep nesting is refused, not a stack overflow */
    char deep[400];
    memset(deep, '(', 200);
    memset(deep + 200, ')', 200);
    char err[160];
    CHECK(rx_compile(deep, sizeof deep, err, sizeof err) == NULL);
    CHECK(strstr(err, "nested too deeply") != NULL);
}

/* The purpose-written splitters give exactly the pieces of the backtracking machine. */
TEST(tokenizer_regex_fast_paths_match_machine) {
    const char *patterns[] = {
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
        "'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
        "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
        "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "\\p{N}",
    };
    /* code points that exercise every branch: apostrophes and contraction letters in both
     * cases, spaces, other whitespace, line breaks, letters, digits, punctuation, marks */
    static const uint32_t pool[] = {'\'', '\'', 's', 'S', 't', 'r', 'e', 'E', 'v', 'm', 'l', 'L',
                                    'd', 'D', 'x', ' ',  ' ',  ' ', '\t', '\n', '\r', '1',  '2',
                                    '!', '.', '/', '-', 0xA0, 0x3000, 0x2028, 0x85, 0xE9, 0x4E2D,
                                    0x661, 0x2167, 0xBD, 0x301, 0x1F600, 0xFFFD, 0x1C5, 0x2B0};
    uint64_t state = 99;
    char err[160];
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        rx_prog *prog = rx_compile(patterns[p], strlen(patterns[p]), err, sizeof err);
        CHECK_MSG(prog, "%s", err);
        if (!prog) continue;
        uint32_t cps[64];
        uint8_t info[64];
        int mismatches = 0;
        for (int iter = 0; iter < 3000 && mismatches < 3; iter++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            int n = (int)((state >> 33) % 40) + 1;
            for (int i = 0; i < n; i++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                cps[i] = pool[(state >> 33) % (sizeof pool / sizeof pool[0])];
                info[i] = rx_info_of(cps[i]);
            }
            /* the input arrives in one to three pieces: nothing may look across their ends */
            rx_pieces in = {0}, a = {0}, b = {0};
            int32_t cut1 = (int32_t)((state >> 20) % (uint64_t)n), cut2 = (int32_t)((state >> 40) % (uint64_t)n);
            if (cut1 > cut2) {
                int32_t t = cut1;
                cut1 = cut2;
                cut2 = t;
            }
            if (iter % 3 && cut1 > 0) rx_pieces_push(&in, cut1);
            if (iter % 3 == 2 && cut2 > cut1) rx_pieces_push(&in, cut2);
            rx_pieces_push(&in, n);
            CHECK_EQ_INT(rx_split(prog, cps, info, &in, &a), 0);
            CHECK_EQ_INT(rx_split_vm(prog, cps, info, &in, &b), 0);
            if (a.count != b.count || memcmp(a.ends, b.ends, (size_t)a.count * sizeof *a.ends) != 0) {
                mismatches++;
                test_fail(__FILE__, __LINE__, "pattern %zu, iteration %d: fast and machine differ", p,
                          iter);
                fprintf(stderr, "    text:");
                for (int i = 0; i < n; i++) fprintf(stderr, " %X", cps[i]);
                fprintf(stderr, "\n    fast:");
                for (int64_t i = 0; i < a.count; i++) fprintf(stderr, " %d", a.ends[i]);
                fprintf(stderr, "\n    vm:  ");
                for (int64_t i = 0; i < b.count; i++) fprintf(stderr, " %d", b.ends[i]);
                fprintf(stderr, "\n");
            }
            free(in.ends);
            free(a.ends);
            free(b.ends);
        }
        rx_free(prog);
    }
}

TEST(tokenizer_unicode_tables) {
    CHECK_EQ_INT(ucat_of('A'), UCAT_LU);
    CHECK_EQ_INT(ucat_of('z'), UCAT_LL);
    CHECK_EQ_INT(ucat_of('5'), UCAT_ND);
    CHECK_EQ_INT(ucat_of(' '), UCAT_ZS);
    CHECK_EQ_INT(ucat_of('\n'), UCAT_CC);
    CHECK_EQ_INT(ucat_of('!'), UCAT_PO);
    CHECK_EQ_INT(ucat_of('$'), UCAT_SC);
    CHECK_EQ_INT(ucat_of(0x1C5), UCAT_LT);   /* ǅ */
    CHECK_EQ_INT(ucat_of(0x2B0), UCAT_LM);   /* ʰ */
    CHECK_EQ_INT(ucat_of(0x4E2D), UCAT_LO);  /* 中 */
    CHECK_EQ_INT(ucat_of(0x301), UCAT_MN);   /* combining acute */
    CHECK_EQ_INT(ucat_of(0x903), UCAT_MC);
    CHECK_EQ_INT(ucat_of(0x661), UCAT_ND);   /* Arabic-Indic one */
    CHECK_EQ_INT(ucat_of(0x2167), UCAT_NL);  /* Roman numeral eight */
    CHECK_EQ_INT(ucat_of(0xBD), UCAT_NO);    /* ½ */
    CHECK_EQ_INT(ucat_of(0x1F600), UCAT_SO); /* 😀 */
    CHECK_EQ_INT(ucat_of(0x200D), UCAT_CF);  /* ZWJ */
    CHECK_EQ_INT(ucat_of(0xD800), UCAT_CS);
    CHECK_EQ_INT(ucat_of(0xE000), UCAT_CO);
    CHECK_EQ_INT(ucat_of(0x10FFFF), UCAT_CN);
    CHECK_EQ_INT(ucat_of(0x110000), UCAT_CN);
    CHECK_EQ_INT(ucat_of(0x20000), UCAT_LO); /* CJK extension B */
    CHECK_EQ_INT(ucat_of(0xE0001), UCAT_CF); /* language tag */
    const uint32_t spaces[] = {9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, 0x2000, 0x200A, 0x2028,
                               0x2029, 0x202F, 0x205F, 0x3000};
    for (size_t k = 0; k < sizeof spaces / sizeof spaces[0]; k++) CHECK(uc_is_space(spaces[k]));
    const uint32_t not_spaces[] = {0, 8, 14, 31, 'a', 0x84, 0x180E, 0x200B, 0x200D, 0xFEFF, 0x2060};
    for (size_t k = 0; k < sizeof not_spaces / sizeof not_spaces[0]; k++) CHECK(!uc_is_space(not_spaces[k]));
    /* every code point agrees between the flat table and the runs */
    for (uint32_t cp = 0x780; cp < 0x880; cp++) {
        born_ucat a = ucat_of(cp);
        CHECK(a < UCAT_COUNT);
    }
}

TEST(tokenizer_utf8_decoding) {
    uint32_t cp;
    CHECK_EQ_INT(utf8_decode((const uint8_t *)"A", 1, &cp), 1);
    CHECK_EQ_INT(cp, 'A');
    CHECK_EQ_INT(utf8_decode((const uint8_t *)"\xc3\xa9", 2, &cp), 2);
    CHECK_EQ_INT(cp, 0xE9);
    CHECK_EQ_INT(utf8_decode((const uint8_t *)"\xe4\xb8\xad", 3, &cp), 3);
    CHECK_EQ_INT(cp, 0x4E2D);
    CHECK_EQ_INT(utf8_decode((const uint8_t *)"\xf0\x9f\x98\x80", 4, &cp), 4);
    CHECK_EQ_INT(cp, 0x1F600);
    CHECK_EQ_INT(utf8_decode((const uint8_t *)"\xf4\x8f\xbf\xbf", 4, &cp), 4);
    CHECK_EQ_INT(cp, 0x10FFFF);
    const char *bad[] = {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf",
                         "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",
                         "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe", "\xc3", "\xe4\xb8",
                         "\xf0\x9f\x98", "\xc3\x41", "\xe4\x41\xad"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        CHECK_MSG(utf8_decode((const uint8_t *)bad[k], strlen(bad[k]), &cp) == 0, "bad[%zu]", k);
    uint8_t buf[4];
    CHECK(utf8_encode(0x1F600, buf) == 4 && memcmp(buf, "\xf0\x9f\x98\x80", 4) == 0);
    CHECK(utf8_encode(0xE9, buf) == 2 && memcmp(buf, "\xc3\xa9", 2) == 0);
    /* incomplete tails */
    CHECK_EQ_INT(utf8_incomplete_tail((const uint8_t *)"ab\xf0\x9f\x98", 5), 3);
    CHECK_EQ_INT(utf8_incomplete_tail((const uint8_t *)"ab\xf0\x9f", 4), 2);
    CHECK_EQ_INT(utf8_incomplete_tail((const uint8_t *)"ab\xe4", 3), 1);
    CHECK_EQ_INT(utf8_incomplete_tail((const uint8_t *)"ab\xe4\xb8\xad", 5), 0);
    CHECK_EQ_INT(utf8_incomplete_tail((const uint8_t *)"ab\x80", 3), 0);
    CHECK_EQ_INT(utf8_incomplete_tail((const uint8_t *)"ab\xed\xa0", 4), 0); /* a surrogate */
    CHECK_EQ_INT(utf8_incomplete_tail((const uint8_t *)"ab\xff", 3), 0);
    CHECK_EQ_INT(utf8_incomplete_tail((const uint8_t *)"", 0), 0);
}
