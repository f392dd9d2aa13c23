#!/usr/bin/env python3
"""Extra tokenizer references made with the real `tokenizers` library (dev only, never used at run time).

Writes fixtures/tokenizers_extra/:
  Offsets are flattened [start0, end0, start1, end1, ...]; a decode the library panics on is null.
  (hostile records: `decoded_skip_special` is true when it equals the text; no `decoded`)
  offsets.json   for each style of fixtures/tokenizers: the offsets (character offsets, as the Python
                 binding reports them) and the decode of each single id of every reference case, plus hostile strings (long whitespace
                 runs, 10k-character words, mixed scripts...) with ids, tokens, offsets and decodes.
  variants.json  pipelines the fixture styles do not use: each variant is a patch of a fixture
                 tokenizer.json (top-level keys replaced; "model" keys merged into the model), encoded
                 over a set of strings by the library.
  subword.json   a tiny BPE trained here with continuing_subword_prefix and end_of_word_suffix
                 (the whole tokenizer.json is stored inline) and its encodings.

Run: /work/venv/bin/python tools/make_tokenizer_offsets.py
"""
import copy
import json
import os
import random

import tokenizers
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures", "tokenizers")
OUT = os.path.join(ROOT, "fixtures", "tokenizers_extra")
STYLES = ["llama3", "qwen2", "cohere", "sentencepiece"]


def hostile_strings():
    rng = random.Random(1234)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [
        ("spaces_3000_then_word", " " * 3000 + "word"),
        ("newlines_500", "\n" * 500),
        ("mixed_ws_run", "\t \t\n \r\n" * 100 + "x"),
        ("word_10k_a", "a" * 10000),
        ("word_10k_random", "".join(rng.choice(letters) for _ in range(10000))),
        ("word_3k_mixed_case", "".join(rng.choice("aAbBcCdDeE") for _ in range(3000))),
        ("digits_3000", "".join(rng.choice("0123456789") for _ in range(3000))),
        ("punct_run", "!?.,;:" * 200),
        ("cyrillic_long", "съешьжеещёэтихмягкихфранцузскихбулок" * 15),
        ("devanagari_long", "नमस्तेदुनिया" * 40),
        ("mixed_scripts", "Hello Привет नमस्ते مرحبا 你好 こんにちは 안녕하세요 שלום Γειά σου"),
        ("emoji_run", "👍🏽👨‍👩‍👧🇫🇷1️⃣" * 20),
        ("cjk_ext_b", "𠀀𠀁𠀂𡃁𢀀" * 20),
        ("spaces_between", "a" + " " * 1000 + "b" + " " * 999 + "c"),
        ("trailing_spaces", "end" + " " * 2000),
        ("apostrophes", "'s'S'T'RE'VE'M'LL'D's" * 50),
        ("long_s", "it\u017fs 'ſ 'K 'k"),
        ("control_chars", "\x00\x01\x07\x1b\x7f\u0085\u2028\u2029 end"),
        ("nbsp_and_friends", "a\u00a0b\u2000c\u200ad\u202fe\u205ff\u3000g\u200bh\ufeffi"),
        ("combining_stack", "e" + "\u0301\u0302\u0303\u0304" * 100),
    ]


def flat(offsets):
    return [x for o in offsets for x in o]


def safe_decode(tok, ids, skip):
    # Some decoders panic in the library on edge cases (Strip with `stop` on an empty text): None.
    try:
        return tok.decode(ids, skip_special_tokens=skip)
    except BaseException:  # pyo3's PanicException derives from BaseException
        return None


def encode_record(tok, text, compact=False):
    e = tok.encode(text)
    e2 = tok.encode(text, add_special_tokens=False)
    rec = {
        "ids": e.ids,
        "offsets": flat(e.offsets),
        "ids_no_special": e2.ids,
        "decoded": safe_decode(tok, e.ids, False),
        "decoded_skip_special": safe_decode(tok, e.ids, True),
    }
    if not compact:
        rec["tokens"] = e.tokens
    else:
        # Hostile strings are long: the no-special ids and decodes equal to the text are left out.
        del rec["ids_no_special"]
        for key in ["decoded", "decoded_skip_special"]:
            if rec[key] is not None and rec[key].endswith(text) and key == "decoded_skip_special":
                if rec[key] == text:
                    rec[key] = True
        del rec["decoded"]
    return rec


def make_offsets():
    out = {"tokenizers_version": tokenizers.__version__, "offset_type": "char", "styles": {}}
    for style in STYLES:
        tok = Tokenizer.from_file(os.path.join(FIX, style, "tokenizer.json"))
        ref = json.load(open(os.path.join(FIX, style, "reference.json"), encoding="utf-8"))
        cases = []
        for c in ref["cases"]:
            e = tok.encode(c["text"])
            # Streaming-style decodes: each id alone (partial UTF-8 sequences become U+FFFD).
            cases.append({"name": c["name"], "offsets": flat(e.offsets),
                          "single_decodes": [tok.decode([i], skip_special_tokens=False) for i in e.ids]})
        hostile = []
        for name, text in hostile_strings():
            rec = {"name": name, "text": text}
            rec.update(encode_record(tok, text, compact=True))
            hostile.append(rec)
        out["styles"][style] = {"cases": cases, "hostile": hostile}
    return out


VARIANT_TEXTS = [
    "Hello World!",
    "  leading and trailing  ",
    "Hello   world\t\tand\nnew\r\nlines",
    "Café naïve résumé ÀÉÎÕÜ",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "ﬁ ligature ½ ² ㎏ Ⅻ",
    "12345 67.89 1,000,000 ٣٤٥ ४५६",
    "don't I'm we'll they've",
    "Привет, мир! Как дела?",
    "नमस्ते दुनिया",
    "مرحبا بالعالم",
    "日本語のテキスト 中文字符",
    "emoji 👍🏽 👨‍👩‍👧 🇫🇷",
    "tabs\tand\u00a0nbsp\u2003emspace",
    "punct!!! ... ??? (a) [b] {c} a-b_c",
    "snake_case camelCase kebab-case",
    "a\u0301e\u0301 combining o\u0308",
    "ǅ titlecase ß ẞ İı Σσς",
    "",
    " ",
    "   ",
    "x",
    "<s>inline</s> special <unk> tokens",
    "[MASK] masked [MASK]word and  <sep>   next",
    "word wordy a word, sword word_",
    "say HELLO and hello and HeLLo",
    "<start_of_turn>user\nHi<end_of_turn>",
    "[INST] question [/INST] answer",
    "a<extra>b<extra2> <|im_end|>",
    "x" * 40,
    "ab" * 30 + " end",
]

SP_ADDED_EXTRA = [
    {"content": "[MASK]", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False, "special": True},
    {"content": "<sep>", "single_word": False, "lstrip": False, "rstrip": True, "normalized": False, "special": True},
    {"content": "word", "single_word": True, "lstrip": False, "rstrip": False, "normalized": False, "special": False},
    {"content": "HeLLo", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
]


def variants():
    R = lambda p: {"Regex": p}
    S = lambda p: {"String": p}
    sp_dec = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": S("▁"), "content": " "},
                                               {"type": "ByteFallback"}, {"type": "Fuse"},
                                               {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    v = []

    def add(name, base, **patch):
        v.append({"name": name, "base": base, "patch": patch})

    # Metaspace forms (the newer SentencePiece conversions).
    for scheme in ["first", "always", "never"]:
        for split in [True, False]:
            ms = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": split}
            add(f"metaspace_{scheme}_split_{split}", "sentencepiece", normalizer=None, pre_tokenizer=ms,
                decoder={"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": split})
    # Normalizers.
    add("nfkc_lowercase", "sentencepiece",
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                                         {"type": "Prepend", "prepend": "▁"},
                                                         {"type": "Replace", "pattern": S(" "), "content": "▁"}]})
    add("nfd_strip_accents", "sentencepiece",
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"},
                                                         {"type": "Replace", "pattern": S(" "), "content": "▁"}]})
    add("nfkd", "sentencepiece",
        normalizer={"type": "Sequence", "normalizers": [{"type": "NFKD"},
                                                         {"type": "Replace", "pattern": S(" "), "content": "▁"}]})
    add("strip_both_regex_replace", "sentencepiece",
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": R(r"\s+"), "content": "▁"}]})
    add("strip_left_only", "sentencepiece",
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "Strip", "strip_left": True, "strip_right": False},
            {"type": "Replace", "pattern": S(" "), "content": "▁"}]})
    add("bert_normalizer_whitespace", "sentencepiece",
        normalizer={"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                    "strip_accents": None, "lowercase": True},
        pre_tokenizer={"type": "BertPreTokenizer"},
        decoder={"type": "WordPiece", "prefix": "##", "cleanup": True})
    # Pre-tokenizers.
    add("whitespace", "sentencepiece", normalizer=None, pre_tokenizer={"type": "Whitespace"}, decoder=sp_dec)
    add("whitespace_split", "sentencepiece", normalizer=None, pre_tokenizer={"type": "WhitespaceSplit"},
        decoder={"type": "Fuse"})
    for beh in ["Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"]:
        add(f"punctuation_{beh}", "sentencepiece", normalizer=None,
            pre_tokenizer={"type": "Punctuation", "behavior": beh}, decoder=None)
        for invert in [False, True]:
            add(f"split_string_{beh}_{invert}", "sentencepiece", normalizer=None,
                pre_tokenizer={"type": "Split", "pattern": S(" "), "behavior": beh, "invert": invert}, decoder=None)
            add(f"split_regex_{beh}_{invert}", "qwen2",
                pre_tokenizer={"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": R(r"\s+|[0-9]+|(?i:hello)"), "behavior": beh, "invert": invert},
                    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]})
    add("digits_contiguous", "cohere",
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]})
    add("char_delimiter", "sentencepiece", normalizer=None,
        pre_tokenizer={"type": "CharDelimiterSplit", "delimiter": "a"}, decoder=None)
    add("gpt2_bytelevel_prefix", "qwen2", normalizer=None,
        pre_tokenizer={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        post_processor={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True})
    add("gpt2_regex_split_lazy_possessive", "qwen2",
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": R(r"'(?:[sdmt]|ll|ve|re)| ?\p{L}+?| ?\p{N}++| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"),
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]})
    add("regex_classes", "qwen2",
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": R(r"[A-Za-z]{2,4}|\d{1,2}|\p{Lu}\p{Ll}*|[^\s\w]|\w+|\s"),
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]})
    add("qwen2_ignore_merges", "qwen2", model={"ignore_merges": True})
    # Model flags.
    add("no_byte_fallback_unk_fused", "sentencepiece", model={"byte_fallback": False, "fuse_unk": True})
    add("no_byte_fallback_unk_unfused", "sentencepiece", model={"byte_fallback": False, "fuse_unk": False})
    add("no_byte_fallback_no_unk", "sentencepiece", model={"byte_fallback": False, "unk_token": None})
    # Added tokens with lstrip / rstrip / single_word / normalized.
    sp = json.load(open(os.path.join(FIX, "sentencepiece", "tokenizer.json"), encoding="utf-8"))
    extra = [dict(t, id=8000 + i) for i, t in enumerate(SP_ADDED_EXTRA)]
    add("added_token_flags", "sentencepiece", added_tokens=sp["added_tokens"] + extra)
    add("added_token_flags_lowercase", "sentencepiece", added_tokens=sp["added_tokens"] + extra,
        normalizer={"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "Prepend", "prepend": "▁"},
                                                         {"type": "Replace", "pattern": S(" "), "content": "▁"}]})
    # The library assigns added-token ids itself (the file's ids are only checked): mismatched ids.
    qw = json.load(open(os.path.join(FIX, "qwen2", "tokenizer.json"), encoding="utf-8"))
    add("added_token_ids_rederived", "qwen2", added_tokens=qw["added_tokens"] + [
        {"id": 9999, "content": "<extra>", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True},
        {"id": 12, "content": "<extra2>", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": False}])
    # Post-processors.
    add("roberta", "qwen2", post_processor={"type": "RobertaProcessing", "sep": ["<|im_end|>", 7999],
                                            "cls": ["<|im_start|>", 7998], "trim_offsets": True,
                                            "add_prefix_space": False})
    add("bert_processing", "sentencepiece", post_processor={"type": "BertProcessing", "sep": ["</s>", 2],
                                                            "cls": ["<s>", 1]})
    add("template_bos_eos", "sentencepiece", post_processor={
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "</s>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                           "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}})
    # Decoders.
    add("decoder_strip_both", "sentencepiece",
        decoder={"type": "Sequence", "decoders": [{"type": "Replace", "pattern": S("▁"), "content": " "},
                                                  {"type": "ByteFallback"}, {"type": "Fuse"},
                                                  {"type": "Strip", "content": " ", "start": 2, "stop": 1}]})
    add("decoder_regex_replace", "sentencepiece",
        decoder={"type": "Sequence", "decoders": [{"type": "ByteFallback"},
                                                  {"type": "Replace", "pattern": R("▁+"), "content": "_"}]})
    add("no_decoder", "sentencepiece", decoder=None)
    return v


def apply_patch(base, patch):
    out = copy.deepcopy(base)
    for k, val in patch.items():
        if k == "model":
            out["model"].update(val)
        else:
            out[k] = val
    return out


def make_variants():
    bases = {s: json.load(open(os.path.join(FIX, s, "tokenizer.json"), encoding="utf-8")) for s in STYLES}
    out = {"tokenizers_version": tokenizers.__version__, "offset_type": "char", "texts": VARIANT_TEXTS,
           "variants": []}
    for var in variants():
        tok = Tokenizer.from_str(json.dumps(apply_patch(bases[var["base"]], var["patch"])))
        recs = [encode_record(tok, t) for t in VARIANT_TEXTS]
        out["variants"].append(dict(var, vocab_size=tok.get_vocab_size(with_added_tokens=True), cases=recs))
    return out


def make_subword():
    from tokenizers import models, pre_tokenizers, trainers, decoders
    corpus = [t for t in VARIANT_TEXTS if t] * 3 + [
        "the quick brown fox jumps over the lazy dog", "tokenizers are fun to build",
        "merging models and mixing data", "un deux trois quatre cinq six sept"] * 5
    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["[UNK]"], continuing_subword_prefix="##",
                                  end_of_word_suffix="</w>", show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    return {"tokenizers_version": tokenizers.__version__, "tokenizer": json.loads(tok.to_str()),
            "vocab_size": tok.get_vocab_size(with_added_tokens=True),
            "texts": VARIANT_TEXTS, "cases": [encode_record(tok, t) for t in VARIANT_TEXTS]}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, fn in [("offsets.json", make_offsets), ("variants.json", make_variants), ("subword.json", make_subword)]:
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            json.dump(fn(), f, ensure_ascii=False, separators=(",", ":"))
        print(name, os.path.getsize(os.path.join(OUT, name)))


if __name__ == "__main__":
    main()
