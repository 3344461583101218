/* Tokenizer encode throughput: Born beside HF tokenizers and tiktoken on the same text, in the same
 * run, one thread each.
 *
 * The text is ~4 MiB of this repository's own prose and code: its docs, headers and sources, one
 * document per file (repeated until 4 MiB), written to /tmp (or $BENCH_DIR) with a 0x1E byte
 * between documents. For each tokenizer Born encodes every document (special tokens not parsed;
 * median of 3 passes), then a Python process (popen) loads the reference on the same files and
 * times the same loop: tiktoken's Encoding.encode_ordinary for cl100k_base / o200k_base, HF
 * tokenizers' Tokenizer.encode (TOKENIZERS_PARALLELISM=false, add_special_tokens=False,
 * encode_special_tokens=True) for GPT-2 and the Llama-2-style tokenizer.json. Both sides report
 * their id count and a checksum of all ids, so the run also checks that they agree on megabytes of
 * text. Load times are shown too.
 *
 *     make bench && ./build/bench/bench_tokenizer      (run from the repository root) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "born/born.h"
#include "bench_util.h"

#define REPS 3
#define TARGET_BYTES ((size_t)4 << 20)
#define SHARED "../shared/data/tokenizers/"
#define FIX "tests/fixtures/tokenizers/"

static uint64_t checksum(const int32_t *ids, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint32_t)ids[i]) * 1099511628211ull;
    return h;
}

/* The corpus: the repository's text files, one document each, repeated up to TARGET_BYTES; the
 * documents are separated by 0x1E in buf, and their offsets and lengths are returned. */
static char *make_corpus(size_t *len, size_t **doc_off, size_t **doc_len, size_t *ndocs) {
    FILE *p = popen("find docs include src tests/llm -type f \\( -name '*.md' -o -name '*.h' -o "
                    "-name '*.c' \\) -size -200k ! -name '*tables*' | sort",
                    "r");
    if (!p) return NULL;
    char *buf = malloc(TARGET_BYTES + 1);
    size_t n = 0, nd = 0, capd = 0;
    char path[1024];
    char **paths = NULL;
    size_t np = 0;
    *doc_off = *doc_len = NULL;
    while (fgets(path, sizeof path, p)) {
        path[strcspn(path, "\n")] = 0;
        paths = realloc(paths, (np + 1) * sizeof *paths);
        paths[np++] = strdup(path);
    }
    pclose(p);
    while (np && n + 1 < TARGET_BYTES) {
        for (size_t i = 0; i < np && n + 1 < TARGET_BYTES; i++) {
            FILE *f = fopen(paths[i], "rb");
            if (!f) continue;
            size_t start = n;
            n += fread(buf + n, 1, TARGET_BYTES - 1 - n, f);
            fclose(f);
            if (n == start) continue;
            if (nd == capd) {
                capd = capd ? capd * 2 : 256;
                *doc_off = realloc(*doc_off, capd * sizeof **doc_off);
                *doc_len = realloc(*doc_len, capd * sizeof **doc_len);
            }
            (*doc_off)[nd] = start;
            (*doc_len)[nd++] = n - start;
            buf[n++] = 0x1E;
        }
    }
    for (size_t i = 0; i < np; i++) free(paths[i]);
    free(paths);
    buf[n] = 0;
    *len = n;
    *ndocs = nd;
    return buf;
}

static const char *PY =
    "import sys, time, json, os\n"
    "kind, text_path = sys.argv[1], sys.argv[2]\n"
    "docs = open(text_path, encoding='utf-8').read().split('\\x1e')[:-1]\n"
    "t0 = time.perf_counter()\n"
    "if kind in ('cl100k_base', 'o200k_base'):\n"
    "    import tiktoken\n"
    "    from tiktoken.load import load_tiktoken_bpe\n"
    "    meta = json.load(open(sys.argv[4]))\n"
    "    enc = tiktoken.Encoding(kind, pat_str=meta['pat_str'], mergeable_ranks=load_tiktoken_bpe(sys.argv[3]), special_tokens=meta['special_tokens'])\n"
    "    f = lambda: [i for d in docs for i in enc.encode_ordinary(d)]\n"
    "else:\n"
    "    os.environ['TOKENIZERS_PARALLELISM'] = 'false'\n"
    "    from tokenizers import Tokenizer, pre_tokenizers, decoders\n"
    "    from tokenizers.models import BPE\n"
    "    if kind == 'gpt2':\n"
    "        tok = Tokenizer(BPE.from_file(sys.argv[3], sys.argv[4]))\n"
    "        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)\n"
    "    else:\n"
    "        tok = Tokenizer.from_file(sys.argv[3])\n"
    "    tok.encode_special_tokens = True\n"
    "    f = lambda: [i for d in docs for i in tok.encode(d, add_special_tokens=False).ids]\n"
    "load = time.perf_counter() - t0\n"
    "ts = []\n"
    "for _ in range(3):\n"
    "    t0 = time.perf_counter(); ids = f(); ts.append(time.perf_counter() - t0)\n"
    "h = 1469598103934665603\n"
    "for i in ids: h = ((h ^ i) * 1099511628211) & 0xFFFFFFFFFFFFFFFF\n"
    "print(sorted(ts)[1], load, len(ids), h)\n";

typedef struct peer {
    double secs, load;
    size_t n;
    unsigned long long sum;
    bool ok;
} peer;

static peer run_peer(const char *kind, const char *text_path, const char *a, const char *b) {
    peer r = {0};
    const char *dir = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp";
    char script[512], cmd[2048];
    snprintf(script, sizeof script, "%s/born_bench_tokenizer.py", dir);
    FILE *f = fopen(script, "w");
    if (!f) return r;
    fputs(PY, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "python3 %s %s %s %s %s 2>/dev/null", script, kind, text_path, a,
             b ? b : "");
    FILE *p = popen(cmd, "r");
    if (!p) return r;
    r.ok = fscanf(p, "%lf %lf %zu %llu", &r.secs, &r.load, &r.n, &r.sum) == 4;
    pclose(p);
    return r;
}

int main(void) {
    size_t len, ndocs, *doc_off, *doc_len;
    char *text = make_corpus(&len, &doc_off, &doc_len, &ndocs);
    if (!text || !ndocs) {
        fprintf(stderr, "bench_tokenizer: no corpus (run from the repository root)\n");
        return 1;
    }
    const char *dir = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp";
    char text_path[512];
    snprintf(text_path, sizeof text_path, "%s/born_bench_tokenizer.txt", dir);
    FILE *tf = fopen(text_path, "wb");
    if (!tf || fwrite(text, 1, len, tf) != len) {
        fprintf(stderr, "bench_tokenizer: cannot write %s\n", text_path);
        return 1;
    }
    fclose(tf);
    size_t bytes = len - ndocs; /* without the separators */
    printf("tokenizer encode, one thread, %.2f MiB of repository text (docs + code) in %zu "
           "documents\n\n",
           (double)bytes / (1 << 20), ndocs);
    printf("%-12s %8s %10s %10s %8s   %-22s %10s %8s  %s\n", "tokenizer", "load s", "ids",
           "Born MB/s", "", "peer", "peer MB/s", "ratio", "ids agree");
    struct {
        const char *name, *a, *b, *peer;
        int kind; /* 0 tiktoken json, 1 vocab+merges, 2 tokenizer.json */
    } cases[] = {
        {"gpt2", FIX "gpt2/vocab.json", FIX "gpt2/merges.txt", "HF tokenizers", 1},
        {"cl100k_base", FIX "cl100k_base.tiktoken", FIX "cl100k_base.json", "tiktoken", 0},
        {"o200k_base", SHARED "o200k_base.tiktoken", SHARED "o200k_base.json", "tiktoken", 0},
        {"llama2", SHARED "llama2/tokenizer.json", NULL, "HF tokenizers", 2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double t0 = now();
        born_tokenizer *tok = cases[c].kind == 0 ? born_tokenizer_load_tiktoken_json(cases[c].a, cases[c].b)
                              : cases[c].kind == 1 ? born_tokenizer_load_vocab_merges(cases[c].a, cases[c].b)
                                                   : born_tokenizer_load_hf(cases[c].a);
        double load = now() - t0;
        if (!tok) {
            printf("%-12s skipped: %s\n", cases[c].name, born_last_error());
            born_clear_error();
            continue;
        }
        double ts[REPS];
        int32_t *ids = malloc(sizeof *ids);
        size_t n = 0, cap = 1;
        for (int r = 0; r < REPS; r++) {
            n = 0;
            t0 = now();
            for (size_t d = 0; d < ndocs; d++) {
                int32_t *part;
                size_t np;
                if (born_tokenizer_encode(tok, text + doc_off[d], doc_len[d], false, false, &part,
                                          &np) != BORN_OK) {
                    printf("%s: %s\n", cases[c].name, born_last_error());
                    return 1;
                }
                if (n + np > cap) {
                    while (n + np > cap) cap *= 2;
                    ids = realloc(ids, cap * sizeof *ids);
                }
                memcpy(ids + n, part, np * sizeof *part);
                n += np;
                free(part);
            }
            ts[r] = now() - t0;
        }
        qsort(ts, REPS, sizeof ts[0], cmp_double);
        double mbs = (double)bytes / 1e6 / ts[REPS / 2];
        peer p = run_peer(cases[c].name, text_path, cases[c].a, cases[c].b);
        unsigned long long sum = checksum(ids, n);
        if (p.ok)
            printf("%-12s %8.3f %10zu %10.2f %8s   %-14s %5.2fs %10.2f %7.2fx  %s\n", cases[c].name,
                   load, n, mbs, "", cases[c].peer, p.load, (double)bytes / 1e6 / p.secs,
                   mbs / ((double)bytes / 1e6 / p.secs),
                   p.n == n && p.sum == sum ? "yes" : "NO");
        else
            printf("%-12s %8.3f %10zu %10.2f %8s   %-22s (not available)\n", cases[c].name, load, n,
                   mbs, "", cases[c].peer);
        free(ids);
        born_tokenizer_free(tok);
    }
    printf("\nload s: Born's; the peer's load time is printed beside its name.\n");
    remove(text_path);
    free(text);
    free(doc_off);
    free(doc_len);
    return 0;
}
