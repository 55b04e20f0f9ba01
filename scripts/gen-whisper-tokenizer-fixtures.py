#!/usr/bin/env python3
"""Reference fixtures for Models' WhisperTokenizer, for both Whisper vocabularies:
English-only (whisper-tiny.en, GPT-2 vocabulary) and multilingual (whisper-base).

    python3 -m pip install tiktoken tokenizers        # made with tiktoken 0.14.0, tokenizers 0.23.3
    scripts/fetch-models whisper-tiny.en whisper-base whisper-assets
    python3 scripts/gen-whisper-tokenizer-fixtures.py # writes Tests/ModelsTests/Fixtures/whisper-tokenizer/

Two references:
  * openai-whisper's own `whisper/tokenizer.py` (tiktoken + `gpt2.tiktoken` /
    `multilingual.tiktoken`), loaded by path from the openai-whisper sdist that
    fetch-models keeps in Models/cache/openai-whisper/ (its package __init__ wants torch;
    tokenizer.py alone needs only tiktoken). Gives `tiktoken` ids, decode,
    decode_with_timestamps, non_speech_tokens, split_to_word_tokens and the special ids.
  * Hugging Face `tokenizers` on the model folder's `tokenizer.json` (what faster-whisper
    uses): gives `hf` ids. The multilingual tokenizer.json in the CTranslate2 package is the
    pre-2024 Hub file that lacks the merge "Ġ t", so some multilingual `hf` ids differ from
    `tiktoken` (e.g. " test" -> [220, 31636] instead of [1500]); both are recorded.

Output, one JSON per vocabulary (`tiny.en.json`, `base.json`): special ids, language codes,
non-speech tokens, `encode` cases {text, tiktoken, hf}, `decode` cases {ids, text,
with_timestamps} (text = ids below <|endoftext|> only, as faster-whisper decodes), and
`words` cases {language, ids, words, tokens}.
"""
import importlib.util
import json
import pathlib
import random
import sys
import tarfile
import tempfile

from tokenizers import Tokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ROOT / "Models"
OUT = ROOT / "Tests/ModelsTests/Fixtures/whisper-tokenizer"

CASES = [
    "Hello world",
    "Hello world.",
    " Hello world",
    "  leading and trailing  ",
    "This is a test",
    " test",
    "it's can't we're they've I'm you'll he'd",
    "IT'S 'S 'Tis ''s x'sy 'll'",
    "café naïve résumé façade",
    "Ünïcödé ÀÉÎÕÜ ß ø å",
    "😀🎉 emoji 👍🏽 👨‍👩‍👧",
    "日本語のテキスト、句読点。",
    "中文测试，你好！",
    "한국어 텍스트",
    "mixed русский English العربية עברית ελληνικά",
    "12345 3.14159 1,000,000 2024-11-24 10:30",
    "١٢٣ arabic digits ½ ⅔ ²",
    "line1\nline2\n\n\tTabbed",
    "a\r\nb",
    "   ",
    "\n\n",
    " ",
    "hello  world   x",
    "end with space ",
    "tab\there \t\t mixed",
    "♪♪♪ (music) [laughs] ♩♫",
    "—–-- ...?! «quoted» “smart” ‘single’",
    "¡Hola! ¿Qué tal?",
    "Ωmega ∑ ∫ √2 ≈ 1.414",
    "\u00a0nbsp\u2003emsp\u3000ideographic",
    "ﬁ ligature",
    "e\u0301 combining",
    "a" * 300,
    "supercalifragilisticexpialidocious" * 8,
    "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(120)),
    "Mr. Smith's car—fast... (really?) \"yes\"",
    "<|endoftext|> written as text",
    "",
]

WORD_CASES = {
    "tiny.en": [
        (None, " Hello, world! It's a test-case: 3.14 (really)."),
        (None, " Mr. Smith's car—fast... \"Yes,\" she said; ok?"),
        (None, " ♪ Music ♪ and café naïve."),
    ],
    "base": [
        ("en", " Hello, world! It's a test-case: 3.14 (really)."),
        ("de", " Grüße aus Köln! Wie geht's?"),
        ("ja", "こんにちは、世界。日本語のテキストです。"),
        ("zh", "你好，世界！这是一个测试。"),
        ("th", "สวัสดีครับ ยินดีต้อนรับ"),
        ("fr", " C'est l'été, n'est-ce pas ?"),
    ],
}


def load_openai_tokenizer_module():
    sdists = sorted((MODELS / "cache/openai-whisper").glob("openai_whisper-*.tar.gz"))
    if not sdists:
        sys.exit("no openai-whisper sdist in Models/cache/openai-whisper (run scripts/fetch-models whisper-assets)")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="openai-whisper-"))
    with tarfile.open(sdists[-1]) as tar:
        members = [m for m in tar.getmembers() if "/whisper/tokenizer.py" in m.name or "/whisper/assets/" in m.name]
        tar.extractall(tmp, members=members, filter="data")
    path = next(tmp.glob("*/whisper/tokenizer.py"))
    spec = importlib.util.spec_from_file_location("openai_whisper_tokenizer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, sdists[-1].name


def random_strings(seed, count):
    rnd = random.Random(seed)
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEZ ,.'!?\n\t0123456789-–—()[]\"") + list("éüßñçø日本語中文한😀🎉♪") + ["'s", "'re", "  "]
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 48))) for _ in range(count)]


def main():
    wtok, sdist = load_openai_tokenizer_module()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, folder, multilingual in [("tiny.en", "whisper-tiny.en", False), ("base", "whisper-base", True)]:
        ref = wtok.get_tokenizer(multilingual)
        enc = ref.encoding
        hf = Tokenizer.from_file(str(MODELS / folder / "tokenizer.json"))
        eot = ref.eot

        texts = CASES + random_strings(7 if multilingual else 3, 40)
        encode = []
        differ = 0
        for text in texts:
            ids = enc.encode_ordinary(text)
            hf_ids = None if "<|" in text else hf.encode(text, add_special_tokens=False).ids
            differ += hf_ids is not None and hf_ids != ids
            encode.append({"text": text, "tiktoken": ids, "hf": hf_ids})

        rnd = random.Random(11)
        decode_ids = [e["tiktoken"] for e in encode[:len(CASES)] if e["tiktoken"]]
        cjk = enc.encode_ordinary("日本語のテキスト 😀🎉 naïve")
        decode_ids += [cjk[:k] for k in range(1, len(cjk))]          # prefixes end inside characters
        decode_ids += [cjk[k:] for k in range(1, min(len(cjk), 6))]  # and start inside them
        byte_ids = [enc.encode_single_token(bytes([b])) for b in range(0x80, 0x100)]
        for _ in range(30):                                            # stray bytes and random tokens
            decode_ids.append([rnd.choice(byte_ids) if rnd.random() < 0.5 else rnd.randrange(eot) for _ in range(rnd.randint(1, 12))])
        ts = ref.timestamp_begin
        hello = enc.encode_ordinary(" Hello world.")
        bye = enc.encode_ordinary(" Bye, 日本")
        decode_ids.append(list(ref.sot_sequence) + [ts] + hello + [ts + 54, ts + 54] + bye[:-1] + [ts + 125] + bye[-1:] + [ts + 1500, eot])
        decode_ids.append([ref.sot_prev] + hello + [ref.sot, ref.no_timestamps] + bye + [eot])
        decode = [{"ids": ids, "text": enc.decode([t for t in ids if t < eot]),
                   "with_timestamps": ref.decode_with_timestamps(ids)} for ids in decode_ids]

        words = []
        for language, text in WORD_CASES[name]:
            t = wtok.get_tokenizer(multilingual, language=language) if multilingual else ref
            ids = enc.encode_ordinary(text) + [eot]
            ws, wt = t.split_to_word_tokens(ids)
            words.append({"language": language, "ids": ids, "words": ws, "tokens": wt})

        fixture = {
            "generator": f"scripts/gen-whisper-tokenizer-fixtures.py ({sdist} tokenizer.py, tiktoken, tokenizers)",
            "model_folder": folder,
            "multilingual": multilingual,
            "vocabulary_size": enc.n_vocab,
            "eot": eot, "sot": ref.sot, "translate": ref.translate, "transcribe": ref.transcribe,
            "sot_lm": ref.sot_lm, "sot_prev": ref.sot_prev, "no_speech": ref.no_speech,
            "no_timestamps": ref.no_timestamps, "timestamp_begin": ref.timestamp_begin,
            # all_language_codes / all_language_tokens come in set order; LANGUAGES order here
            "language_codes": list(wtok.LANGUAGES)[:ref.num_languages],
            "language_tokens": [ref.to_language_token(c) for c in list(wtok.LANGUAGES)[:ref.num_languages]],
            "non_speech_tokens": list(ref.non_speech_tokens),
            "encode": encode,
            "decode": decode,
            "words": words,
        }
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(fixture, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {len(encode)} encode ({differ} where tokenizer.json differs from tiktoken), "
              f"{len(decode)} decode, {len(words)} word cases, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
