/* A DEFLATE decoder (RFC 1951), written from the RFC.
 *
 * Why Born has its own: the library depends on libc, libm and pthreads only, and the shipped
 * datasets (data/mnist-10k/ *.gz) are gzip files, so `make demo` must decompress them on a fresh
 * machine that has no zlib1g-dev. DEFLATE decoding is small enough to own, and owning it lets every
 * error name the file and the byte where the data went wrong.
 *
 * Decoding is table-driven. A Huffman code becomes a lookup table indexed by the next PRIMARY
 * bits of input (bits arrive least significant first, so a code's bits are reversed to index the
 * table); codes longer than PRIMARY bits go through a link to a subtable indexed by the remaining
 * bits. Each entry packs what the decoder needs: a literal byte, the base and extra-bit count of a
 * length or distance, end-of-block, or "invalid" (an unused or forbidden code), plus how many bits
 * to consume. A 64-bit bit buffer is refilled eight bytes at a time; one refill covers the longest
 * length/distance pair (15 + 5 + 15 + 13 = 48 bits). Past the end of the input the refill supplies
 * zero bits and counts them; as soon as a decoded symbol has used any of them the stream is
 * reported truncated, so a short input can neither be misread nor loop.
 *
 * Hostile input: every code is validated (over-subscribed and incomplete codes are rejected, as
 * are repeat codes that run past the end of the code lengths, a missing end-of-block code, length
 * symbols 286-287 and distance symbols 30-31), every distance is checked against the output written
 * so far, and the output never grows past max_out. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/io_util.h"

enum { LIT_PRIMARY = 10, DIST_PRIMARY = 8, CL_PRIMARY = 7 };
enum {
    /* room for the primary table and, at most, one subtable of the largest possible size per
     * symbol (a loose bound that needs no proof: 288 symbols x 2^(15 - 10) entries) */
    LIT_TABLE_SIZE = (1 << LIT_PRIMARY) + 288 * (1 << (15 - LIT_PRIMARY)),
    DIST_TABLE_SIZE = (1 << DIST_PRIMARY) + 32 * (1 << (15 - DIST_PRIMARY)),
    CL_TABLE_SIZE = 1 << CL_PRIMARY
};

/* slack past the end of a match so that matches can be copied eight bytes at a time */
enum { COPY_SLACK = 8 };

/* A table entry: value (16 bits) | flags (8 bits) | bits to consume (8 bits). */
#define ENTRY(value, flags, nbits)                                                                \
    (((uint32_t)(value) << 16) | ((uint32_t)(flags) << 8) | (uint32_t)(nbits))
#define E_VALUE(e) ((e) >> 16)
#define E_FLAGS(e) (((e) >> 8) & 0xffu)
#define E_BITS(e) ((e)&0xffu)
enum {
    F_LITERAL = 0x80, /* value: the byte */
    F_END = 0x40,     /* end of block */
    F_LINK = 0x20,    /* value: the subtable's offset; low 4 bits: its index bits */
    F_INVALID = 0x10, /* value: the symbol, or NO_SYMBOL for a bit pattern no code uses */
    F_EXTRA = 0x0f    /* otherwise: the number of extra bits after a length or distance symbol */
};
enum { NO_SYMBOL = 0xffff };

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10,  11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                       33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                       1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
/* the order in which a dynamic block lists the code length code's lengths */
static const uint8_t cl_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

typedef enum code_kind { KIND_CL, KIND_LIT, KIND_DIST } code_kind;

static uint32_t symbol_entry(code_kind kind, unsigned sym, unsigned nbits) {
    switch (kind) {
    case KIND_CL: return ENTRY(sym, 0, nbits);
    case KIND_LIT:
        if (sym < 256) return ENTRY(sym, F_LITERAL, nbits);
        if (sym == 256) return ENTRY(0, F_END, nbits);
        if (sym <= 285) return ENTRY(len_base[sym - 257], len_extra[sym - 257], nbits);
        return ENTRY(sym, F_INVALID, nbits); /* 286, 287: part of the fixed code, never valid */
    case KIND_DIST:
        if (sym < 30) return ENTRY(dist_base[sym], dist_extra[sym], nbits);
        return ENTRY(sym, F_INVALID, nbits); /* 30, 31 */
    }
    return ENTRY(NO_SYMBOL, F_INVALID, 0);
}

static unsigned reverse_bits(unsigned code, unsigned len) {
    unsigned r = 0;
    for (unsigned i = 0; i < len; i++, code >>= 1) r = (r << 1) | (code & 1);
    return r;
}

/* Builds the decoding table of the canonical Huffman code with the given code lengths (0..15,
 * 0 = unused). Returns NULL, or what is wrong with the lengths. */
static const char *build_table(uint32_t *table, size_t table_size, unsigned primary,
                               const uint8_t *lens, unsigned nsym, code_kind kind) {
    unsigned count[16] = {0};
    for (unsigned s = 0; s < nsym; s++) count[lens[s]]++;
    count[0] = 0;
    unsigned used = 0, maxlen = 0;
    int left = 1; /* unused code space, in units of 2^-len */
    for (unsigned len = 1; len <= 15; len++) {
        left = left * 2 - (int)count[len];
        if (left < 0) return "over-subscribed (the code lengths describe more codes than fit)";
        used += count[len];
        if (count[len]) maxlen = len;
    }
    const uint32_t invalid = ENTRY(NO_SYMBOL, F_INVALID, 0);
    size_t psize = (size_t)1 << primary;
    for (size_t i = 0; i < psize; i++) table[i] = invalid;
    if (used == 0) {
        /* a block with literals only may define no distance code at all */
        return kind == KIND_DIST ? NULL : "empty (no symbol has a code)";
    }
    /* an incomplete code is allowed only as a single one-bit code, as zlib also requires */
    if (left > 0 && (kind == KIND_CL || maxlen != 1))
        return "incomplete (the code lengths leave codes unused)";

    uint16_t sorted[288];
    unsigned offs[17];
    offs[1] = 0;
    for (unsigned len = 1; len <= 15; len++) offs[len + 1] = offs[len] + count[len];
    for (unsigned s = 0; s < nsym; s++)
        if (lens[s]) sorted[offs[lens[s]]++] = (uint16_t)s;

    /* the longest code behind each primary index, to size the subtables */
    uint8_t longest[1 << LIT_PRIMARY];
    unsigned mask = (unsigned)psize - 1;
    if (maxlen > primary) {
        memset(longest, 0, psize);
        unsigned code = 0;
        for (unsigned len = 1; len <= 15; len++, code <<= 1)
            for (unsigned c = 0; c < count[len]; c++, code++)
                if (len > primary) {
                    unsigned p = reverse_bits(code, len) & mask;
                    if (longest[p] < len) longest[p] = (uint8_t)len;
                }
    }

    size_t next_sub = psize;
    unsigned code = 0, k = 0;
    for (unsigned len = 1; len <= 15; len++, code <<= 1) {
        for (unsigned c = 0; c < count[len]; c++, code++) {
            unsigned sym = sorted[k++], rev = reverse_bits(code, len);
            if (len <= primary) {
                uint32_t e = symbol_entry(kind, sym, len);
                for (size_t i = rev; i < psize; i += (size_t)1 << len) table[i] = e;
                continue;
            }
            unsigned p = rev & mask;
            uint32_t link = table[p];
            if (!(E_FLAGS(link) & F_LINK)) {
                unsigned sub_bits = longest[p] - primary;
                size_t sub_size = (size_t)1 << sub_bits;
                if (next_sub + sub_size > table_size) return "too large (internal table overflow)";
                link = ENTRY(next_sub, F_LINK | sub_bits, primary);
                table[p] = link;
                for (size_t i = 0; i < sub_size; i++) table[next_sub + i] = invalid;
                next_sub += sub_size;
            }
            unsigned sub_bits = E_FLAGS(link) & F_EXTRA, rem = len - primary;
            uint32_t e = symbol_entry(kind, sym, rem);
            uint32_t *sub = table + E_VALUE(link);
            for (size_t i = rev >> primary; i < ((size_t)1 << sub_bits); i += (size_t)1 << rem)
                sub[i] = e;
        }
    }
    return NULL;
}

/* The fixed code of block type 1 (RFC 1951, 3.2.6), built once. */
static uint32_t fixed_lit[1 << LIT_PRIMARY];
static uint32_t fixed_dist[1 << DIST_PRIMARY];
static pthread_once_t fixed_once = PTHREAD_ONCE_INIT;

static void fixed_init(void) {
    uint8_t lens[288];
    for (int i = 0; i < 288; i++) lens[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    build_table(fixed_lit, 1 << LIT_PRIMARY, LIT_PRIMARY, lens, 288, KIND_LIT);
    for (int i = 0; i < 32; i++) lens[i] = 5;
    build_table(fixed_dist, 1 << DIST_PRIMARY, DIST_PRIMARY, lens, 32, KIND_DIST);
}

/* ------------------------------------------------------------------------------------------ */
/* The decoder                                                                                  */

typedef struct inflater {
    const char *where;
    const uint8_t *in;
    size_t len, pos; /* pos: the next input byte to load into the bit buffer */
    size_t base;     /* the stream's offset in the whole input, for messages */
    uint64_t bitbuf; /* the low bitcnt bits are the next input bits */
    unsigned bitcnt;
    unsigned pad;    /* how many of the top bits of the buffer are zeros past the input's end */
    io_buf *out;
    size_t start; /* out->len when the stream began: distances may not reach before it */
    size_t max_out;
    bool partial, stopped;
    uint32_t lit[LIT_TABLE_SIZE];
    uint32_t dist[DIST_TABLE_SIZE];
    uint32_t cl[CL_TABLE_SIZE];
} inflater;

static inline uint64_t load64le(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return io_host_little_endian() ? v : __builtin_bswap64(v);
}

/* Fills the bit buffer to at least 56 bits, with zero bits (counted in pad) past the end. */
#define REFILL(in, len, pos, bitbuf, bitcnt, pad)                                                 \
    do {                                                                                          \
        if ((pos) + 8 <= (len)) {                                                                 \
            (bitbuf) |= load64le((in) + (pos)) << (bitcnt);                                       \
            (pos) += (63 - (bitcnt)) >> 3;                                                        \
            (bitcnt) |= 56;                                                                       \
        } else {                                                                                  \
            while ((bitcnt) < 56) {                                                               \
                uint64_t byte_ = 0;                                                               \
                if ((pos) < (len))                                                                \
                    byte_ = (in)[(pos)++];                                                        \
                else                                                                              \
                    (pad) += 8;                                                                   \
                (bitbuf) |= byte_ << (bitcnt);                                                    \
                (bitcnt) += 8;                                                                    \
            }                                                                                     \
        }                                                                                         \
    } while (0)

static inline void refill(inflater *z) { REFILL(z->in, z->len, z->pos, z->bitbuf, z->bitcnt, z->pad); }

static inline unsigned getbits(inflater *z, unsigned n) {
    unsigned v = (unsigned)(z->bitbuf & ((1ull << n) - 1));
    z->bitbuf >>= n;
    z->bitcnt -= n;
    return v;
}

/* The byte offset (in the whole input) of the next unread bit. */
static size_t bit_offset(const inflater *z) {
    size_t consumed_bits = z->pos * 8 + z->pad - z->bitcnt;
    return z->base + consumed_bits / 8;
}

static born_status bad(const inflater *z, const char *fmt, ...) BORN_PRINTF(2, 3);
static born_status bad(const inflater *z, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return born_error(BORN_ERR_FORMAT, "%s: deflate data at byte %zu: %s", z->where, bit_offset(z),
                      what);
}

static born_status truncated(const inflater *z) {
    return born_error(BORN_ERR_FORMAT, "%s: deflate data truncated: the input ends at byte %zu "
                      "before the last block is complete", z->where, z->base + z->len);
}

static born_status too_large(const inflater *z) {
    return born_error(BORN_ERR_FORMAT, "%s: deflate data at byte %zu: the decompressed data "
                      "exceeds the limit of %zu bytes", z->where, bit_offset(z), z->max_out);
}

/* Makes room for out->len + n bytes plus the copy slack (n <= max_out - out->len). */
static born_status grow(inflater *z, size_t n) {
    io_buf *o = z->out;
    size_t need = o->len + n + COPY_SLACK;
    if (need <= o->cap) return BORN_OK;
    size_t cap = o->cap > (SIZE_MAX - COPY_SLACK) / 2 ? SIZE_MAX : o->cap * 2;
    if (cap < 65536) cap = 65536;
    size_t most = z->max_out > SIZE_MAX - COPY_SLACK ? SIZE_MAX : z->max_out + COPY_SLACK;
    if (cap > most) cap = most;
    if (cap < need) cap = need;
    uint8_t *p = realloc(o->data, cap);
    if (!p)
        return born_error(BORN_ERR_MEMORY, "%s: out of memory growing the decompressed data to "
                          "%zu bytes", z->where, cap);
    o->data = p;
    o->cap = cap;
    return BORN_OK;
}

/* Decodes the symbols of one Huffman-coded block until its end-of-block code. */
static born_status codes(inflater *z, const uint32_t *lit, const uint32_t *dist) {
    /* the hot state lives in locals: stores through the byte pointer could alias the struct */
    const uint8_t *in = z->in;
    size_t len = z->len, pos = z->pos;
    uint64_t bitbuf = z->bitbuf;
    unsigned bitcnt = z->bitcnt, pad = z->pad;
    uint8_t *o = z->out->data;
    size_t olen = z->out->len, max_out = z->max_out;
    size_t room = z->out->cap < max_out ? z->out->cap : max_out; /* literals fit below this */
    born_status st = BORN_OK;

#define SYNC()                                                                                    \
    do {                                                                                          \
        z->pos = pos;                                                                             \
        z->bitbuf = bitbuf;                                                                       \
        z->bitcnt = bitcnt;                                                                       \
        z->pad = pad;                                                                             \
        z->out->len = olen;                                                                       \
    } while (0)
#define RELOAD()                                                                                  \
    do {                                                                                          \
        o = z->out->data;                                                                         \
        room = z->out->cap < max_out ? z->out->cap : max_out;                                     \
    } while (0)

    for (;;) {
        REFILL(in, len, pos, bitbuf, bitcnt, pad);
        uint32_t e = lit[bitbuf & ((1u << LIT_PRIMARY) - 1)];
        if (E_FLAGS(e) & F_LINK) {
            bitbuf >>= LIT_PRIMARY;
            bitcnt -= LIT_PRIMARY;
            e = lit[E_VALUE(e) + (bitbuf & ((1u << (E_FLAGS(e) & F_EXTRA)) - 1))];
        }
        bitbuf >>= E_BITS(e);
        bitcnt -= E_BITS(e);
        if (bitcnt < pad) goto truncated_input;
        unsigned flags = E_FLAGS(e);
        if (flags & F_LITERAL) {
            if (olen >= room) {
                if (olen >= max_out) {
                    if (z->partial) {
                        z->stopped = true;
                        goto done;
                    }
                    SYNC();
                    return too_large(z);
                }
                SYNC();
                if ((st = grow(z, 1)) != BORN_OK) return st;
                RELOAD();
            }
            o[olen++] = (uint8_t)E_VALUE(e);
            continue;
        }
        if (flags & F_END) break;
        if (flags & F_INVALID) {
            SYNC();
            if (E_VALUE(e) == NO_SYMBOL) return bad(z, "invalid literal/length code");
            return bad(z, "invalid literal/length symbol %u", (unsigned)E_VALUE(e));
        }
        size_t length = E_VALUE(e) + (size_t)(bitbuf & ((1u << (flags & F_EXTRA)) - 1));
        bitbuf >>= flags & F_EXTRA;
        bitcnt -= flags & F_EXTRA;

        uint32_t d = dist[bitbuf & ((1u << DIST_PRIMARY) - 1)];
        if (E_FLAGS(d) & F_LINK) {
            bitbuf >>= DIST_PRIMARY;
            bitcnt -= DIST_PRIMARY;
            d = dist[E_VALUE(d) + (bitbuf & ((1u << (E_FLAGS(d) & F_EXTRA)) - 1))];
        }
        bitbuf >>= E_BITS(d);
        bitcnt -= E_BITS(d);
        unsigned dflags = E_FLAGS(d);
        if (dflags & F_INVALID) {
            if (bitcnt < pad) goto truncated_input;
            SYNC();
            if (E_VALUE(d) == NO_SYMBOL) return bad(z, "invalid distance code");
            return bad(z, "invalid distance symbol %u", (unsigned)E_VALUE(d));
        }
        size_t distance = E_VALUE(d) + (size_t)(bitbuf & ((1u << (dflags & F_EXTRA)) - 1));
        bitbuf >>= dflags & F_EXTRA;
        bitcnt -= dflags & F_EXTRA;
        if (bitcnt < pad) goto truncated_input;
        if (distance > olen - z->start) {
            SYNC();
            return bad(z, "distance %zu is too far back (only %zu bytes decompressed so far)",
                       distance, olen - z->start);
        }
        if (length > max_out - olen) {
            if (!z->partial) {
                SYNC();
                return too_large(z);
            }
            length = max_out - olen;
            z->stopped = true;
        }
        if (olen + length + COPY_SLACK > z->out->cap) {
            SYNC();
            if ((st = grow(z, length)) != BORN_OK) return st;
            RELOAD();
        }
        uint8_t *dst = o + olen;
        const uint8_t *src = dst - distance;
        if (distance >= 8) {
            for (size_t i = 0; i < length; i += 8) memcpy(dst + i, src + i, 8);
        } else if (distance == 1) {
            memset(dst, *src, length);
        } else {
            for (size_t i = 0; i < length; i++) dst[i] = src[i];
        }
        olen += length;
        if (z->stopped) goto done;
    }
done:
    SYNC();
    return BORN_OK;
truncated_input:
    SYNC();
    return truncated(z);
#undef SYNC
#undef RELOAD
}

/* A stored block: LEN, NLEN and LEN raw bytes, after skipping to a byte boundary. */
static born_status stored(inflater *z) {
    getbits(z, z->bitcnt & 7);
    if (z->bitcnt < z->pad) return truncated(z);
    size_t p = z->pos - (z->bitcnt - z->pad) / 8; /* the first byte not consumed */
    z->bitbuf = 0;
    z->bitcnt = z->pad = 0;
    z->pos = p;
    if (z->len - p < 4) return truncated(z);
    unsigned n = z->in[p] | (unsigned)z->in[p + 1] << 8;
    unsigned nc = z->in[p + 2] | (unsigned)z->in[p + 3] << 8;
    if (n != (~nc & 0xffffu))
        return bad(z, "stored block length %u does not match its complement (%u)", n, nc);
    p += 4;
    z->pos = p;
    if (z->len - p < n) return truncated(z);
    io_buf *o = z->out;
    size_t take = n;
    if (take > z->max_out - o->len) {
        if (!z->partial) return too_large(z);
        take = z->max_out - o->len;
        z->stopped = true;
    }
    born_status st = grow(z, take);
    if (st != BORN_OK) return st;
    if (take) memcpy(o->data + o->len, z->in + p, take);
    o->len += take;
    z->pos = p + n;
    return BORN_OK;
}

/* A dynamic block: the code length code, then the literal/length and distance code lengths. */
static born_status dynamic(inflater *z) {
    refill(z);
    unsigned hlit = getbits(z, 5) + 257, hdist = getbits(z, 5) + 1, hclen = getbits(z, 4) + 4;
    if (z->bitcnt < z->pad) return truncated(z);
    if (hlit > 286)
        return bad(z, "the block header declares %u literal/length codes (at most 286)", hlit);
    if (hdist > 30) return bad(z, "the block header declares %u distance codes (at most 30)", hdist);
    uint8_t cl_lens[19] = {0};
    for (unsigned i = 0; i < hclen; i++) {
        refill(z);
        cl_lens[cl_order[i]] = (uint8_t)getbits(z, 3);
    }
    if (z->bitcnt < z->pad) return truncated(z);
    const char *why = build_table(z->cl, CL_TABLE_SIZE, CL_PRIMARY, cl_lens, 19, KIND_CL);
    if (why) return bad(z, "the code length code is %s", why);

    uint8_t lens[286 + 30];
    unsigned n = hlit + hdist, i = 0;
    while (i < n) {
        refill(z);
        uint32_t e = z->cl[z->bitbuf & ((1u << CL_PRIMARY) - 1)];
        if (E_FLAGS(e) & F_INVALID) return bad(z, "invalid code length code");
        getbits(z, E_BITS(e));
        unsigned sym = E_VALUE(e);
        if (sym < 16) {
            lens[i++] = (uint8_t)sym;
        } else {
            unsigned rep;
            uint8_t value = 0;
            if (sym == 16) {
                if (i == 0)
                    return bad(z, "code length symbol 16 repeats the previous length, but there is "
                               "none");
                value = lens[i - 1];
                rep = 3 + getbits(z, 2);
            } else if (sym == 17) {
                rep = 3 + getbits(z, 3);
            } else {
                rep = 11 + getbits(z, 7);
            }
            if (z->bitcnt < z->pad) return truncated(z);
            if (rep > n - i)
                return bad(z, "a repeated code length runs past the end of the %u code lengths "
                           "(%u more from position %u)", n, rep, i);
            memset(lens + i, value, rep);
            i += rep;
        }
        if (z->bitcnt < z->pad) return truncated(z);
    }
    if (lens[256] == 0) return bad(z, "the literal/length code has no end-of-block code");
    why = build_table(z->lit, LIT_TABLE_SIZE, LIT_PRIMARY, lens, hlit, KIND_LIT);
    if (why) return bad(z, "the literal/length code is %s", why);
    why = build_table(z->dist, DIST_TABLE_SIZE, DIST_PRIMARY, lens + hlit, hdist, KIND_DIST);
    if (why) return bad(z, "the distance code is %s", why);
    return codes(z, z->lit, z->dist);
}

born_status io_inflate(const char *where, const uint8_t *in, size_t len, size_t base, io_buf *out,
                       size_t max_out, bool partial, size_t *used, bool *ended) {
    *used = 0;
    *ended = false;
    pthread_once(&fixed_once, fixed_init);
    inflater *z = malloc(sizeof *z);
    if (!z) return born_error(BORN_ERR_MEMORY, "%s: out of memory starting to inflate", where);
    z->where = where;
    z->in = in;
    z->len = len;
    z->pos = 0;
    z->base = base;
    z->bitbuf = 0;
    z->bitcnt = z->pad = 0;
    z->out = out;
    z->start = out->len;
    z->max_out = max_out;
    z->partial = partial;
    z->stopped = false;

    born_status st = BORN_OK;
    if (out->len > max_out) {
        st = too_large(z);
        free(z);
        return st;
    }
    bool final = false;
    while (!final && st == BORN_OK && !z->stopped) {
        refill(z);
        final = getbits(z, 1);
        unsigned type = getbits(z, 2);
        if (z->bitcnt < z->pad) {
            st = truncated(z);
            break;
        }
        switch (type) {
        case 0: st = stored(z); break;
        case 1: st = codes(z, fixed_lit, fixed_dist); break;
        case 2: st = dynamic(z); break;
        default: st = bad(z, "invalid block type 3"); break;
        }
    }
    if (st == BORN_OK && !z->stopped) {
        size_t consumed_bits = z->pos * 8 + z->pad - z->bitcnt;
        *used = (consumed_bits + 7) / 8;
        *ended = true;
    } else if (st == BORN_OK) {
        *used = (z->pos * 8 + z->pad - z->bitcnt + 7) / 8;
    }
    free(z);
    return st;
}
