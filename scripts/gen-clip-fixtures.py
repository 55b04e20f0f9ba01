#!/usr/bin/python3
"""Generate the CLIP parity fixtures in Tests/ModelsTests/Fixtures/clip/.

Run with Debian's python3 (python3-torch 1.13, python3-torchvision 0.14) plus
  /usr/bin/python3 -m pip install --break-system-packages "transformers==4.36.2" safetensors "tokenizers<0.16"
  /usr/bin/python3 -m pip install --break-system-packages --no-deps open_clip_torch==3.3.0
  /usr/bin/python3 -m pip install --break-system-packages ftfy regex wcwidth
open_clip's model code needs a newer torch, so only its tokenizer.py is loaded (by path).
The reference model is transformers' CLIPModel; the OpenAI / open_clip layout is the same
state dict renamed as OpenAI names it (q, k, v joined into in_proj, projections transposed),
so both layouts are checked against the same outputs.

Usage:
  scripts/gen-clip-fixtures.py          small fixtures (committed, < 2 MB)
  scripts/gen-clip-fixtures.py --fuzz N only N random tokenizer strings in /tmp (see fuzz())
  scripts/gen-clip-fixtures.py --full   also a full-size ViT-B/32 with random weights in
                                        /tmp/mmpipe-clip-full/ (both layouts, ~1.2 GB), for
                                        MMPIPE_CLIP_FULL=/tmp/mmpipe-clip-full swift test --filter CLIPFull
                                        and scripts/bench-clip.py

What is written (seed 0; N = the four Samples/ photos cat, coffee, astronaut, rocket):

- tokenizer.json: open_clip's SimpleTokenizer on tricky strings: `ids` (its encode(), no
  start/end tokens), `context` (its __call__ row: [SOT] + ids + [EOT] cut to 77, EOT last,
  without the zero padding) and `clean` (its _clean_lower text), plus `gaps`: strings where
  we knowingly differ (ftfy's mojibake repair), with open_clip's answer.
- hf/ : a small random CLIP (image 32, patch 8, widths 64, 2 layers and 2 heads per tower,
  MLP 128, embedding 32, context 77, vocab 49408) as a Hugging Face folder: config.json,
  preprocessor_config.json, model.safetensors (float16, plus an int64 position_ids buffer as
  older checkpoints have).
- openai/ : the same weights as an OpenAI / open_clip state dict (model.safetensors is not
  its name: weights.safetensors, float16) + open_clip_config.json (heads, quick_gelu).
  - Important: both files lack the token embedding table (49408 x 64 floats, 12.6 MB): it
    is a fixed function of (token id, dimension), `token_table()` below, which the Swift
    test computes the same way and adds before loading (exact in float32).
- input-hf-32.npy [N, 3, 32, 32]: CLIPImageProcessor's output (the model input);
  input-openai-32.npy: OpenAI CLIP's torchvision transform (Resize bicubic + CenterCrop).
- preprocess-{openai,hf}-224-{sampled,rowmean,colmean}.npy: both pipelines at 224, sampled
  every 14th pixel ([N, 3, 16, 16]) and row / column means ([N, 3, 224]).
- labels.json: label texts and their open_clip token rows; image.npy [N, 32], text.npy
  [L, 32] (get_image_features / get_text_features), probs.npy [N, L] =
  softmax(exp(logit_scale) * cos) over the labels; logit_scale.
"""
import importlib.util
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision.transforms as T
from PIL import Image
from safetensors.torch import save_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Tests", "ModelsTests", "Fixtures", "clip")
FULL = "/tmp/mmpipe-clip-full"
SAMPLES = ["cat", "coffee", "astronaut", "rocket"]
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
LABELS = [
    "a photo of a cat.",
    "a photo of a cup of coffee.",
    "a photo of an astronaut.",
    "a photo of a rocket.",
    "a photo of a dog.",
    "a photo of a café 🍰 &amp; “friends”",
    "a very long caption " + " ".join(f"word{i} and more" for i in range(40)),   # > 77 tokens: truncated
]

torch.set_num_threads(2)


def load_tokenizer_module():
    import site
    candidates = []
    for d in site.getsitepackages() + [site.getusersitepackages()]:
        candidates.append(os.path.join(d, "open_clip", "tokenizer.py"))
    path = next((c for c in candidates if os.path.exists(c)), None)
    if path is None:
        sys.exit("open_clip/tokenizer.py not found: pip install --no-deps open_clip_torch==3.3.0 (see the module doc)")
    spec = importlib.util.spec_from_file_location("open_clip_tokenizer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOKENIZER_CASES = [
    "a photo of a cat.",
    "",
    "   ",
    "Hello, World!!! How're you?",
    "Café naïve résumé",
    "Cafe\u0301 nai\u0308ve",                      # decomposed: ftfy's NFC composes it
    "I ❤️ 🐱 and 👩‍👩‍👧 🇫🇷 👍🏽",
    "東京タワーの写真 and 北京",
    "안녕하세요 세계",
    "Call 555-1234 at 3:30pm; version 1.5.3, 2024, 1,000,000 and 3.14159",
    "don't won't I'm we've they'll she'd it's O'Neil's",
    "DON'T SHOUT IT'S",
    "Don’t “quote” me ‘on’ that",
    "Tom &amp; Jerry &lt;3 &quot;hi&quot; &#39;x&#39; &eacute;t&eacute; &#x1F600; &#128512;",
    "&amp;amp;amp;amp; &copy 2024 &notit; &AMP; &EACUTE; &ntilde;&NTILDE;",
    "a < b &amp;amp;amp; c &gt; d",
    "multi\nline &amp;amp;\n<b>tag</b> &amp;amp; after",
    "&#0; &#x80; &#150; &#xD800; &#1114112; &#65535; &#xZZ; &# &#x; &;",
    "  lots   of\t\tspaces\n\n and\u00a0nbsp\u3000ideographic  ",
    "ＬＯＵＤ　ＮＯＩＳＥＳ ｶﾀｶﾅ",
    "ﬂubberiﬁc ĳssel Ǆ",
    "<start_of_text> hi <end_of_text> there",
    "<START_OF_TEXT>upper<End_Of_Text>",
    "ΟΔΟΣ Σίσυφος ΣΑΣ",
    "İstanbul Straße ẞ ǅ",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "a\u0000b\u0007c\u200bd\ufeffe\u206af",
    "\u001b[31mred\u001b[0m text \u001b[1;32;40mgreen",
    "\u0080 \u0093quoted\u0094 \u0085 ellipsis",
    "٣ ½ ² Ⅻ ①",
    "x'ſ 'S 'T ''s '' ' s",
    "\r\nline1\rline2\u2028line3\u2029end\u0085",
    "$100 @user #hashtag e-mail@example.com https://example.com/path?q=1",
    "!!!???...,,,;;;::: --- ___ *** ((()))",
    "emoji-only 🎉🎉🎉",
    "mixedCASE CamelCase snake_case kebab-case",
    "a" * 300,
    " ".join(["the quick brown fox jumps over the lazy dog"] * 12),   # > 77 tokens
]

# Known gaps: ftfy's mojibake repair (fix_encoding) is not reimplemented.
GAP_CASES = [
    "cafÃ© naÃ¯ve",
    "âœ” No problems",
]


def tokenizer_fixtures(tk):
    tok = tk.SimpleTokenizer()
    clean = tk._clean_lower

    def case(text):
        ids = tok.encode(text)
        n = min(77, len(ids) + 2)
        row = tok([text])[0][:n].tolist()
        return {"text": text, "clean": clean(text), "ids": ids, "context": row}

    out = {"vocab_size": len(tok.encoder), "sot": tok.sot_token_id, "eot": tok.eot_token_id,
           "cases": [case(t) for t in TOKENIZER_CASES], "gaps": [case(t) for t in GAP_CASES]}
    with open(os.path.join(OUT, "tokenizer.json"), "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=True)
    return tok


# ---------------------------------------------------------------- weights

def token_table(vocab, width):
    """The token embedding both sides compute: k / 4096 with k in [-2048, 2048) from an
    integer hash of (id, dim) -- exact in float32."""
    i = np.arange(vocab, dtype=np.uint64)[:, None]
    j = np.arange(width, dtype=np.uint64)[None, :]
    m = np.uint64(0xFFFFFFFF)
    h = (i * np.uint64(2654435761) + j * np.uint64(2246822519) + np.uint64(374761393)) & m
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(2246822519)) & m
    h ^= h >> np.uint64(13)
    k = (h >> np.uint64(20)).astype(np.int64) - 2048
    return torch.from_numpy((k.astype(np.float32) / np.float32(4096)))


def randomise(model, seed, logit_scale):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
            elif isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.5 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
        v = model.vision_model.embeddings
        v.class_embedding.copy_(torch.randn(v.class_embedding.shape, generator=g) * 0.5)
        v.position_embedding.weight.copy_(torch.randn(v.position_embedding.weight.shape, generator=g) * 0.5)
        t = model.text_model.embeddings
        t.position_embedding.weight.copy_(torch.randn(t.position_embedding.weight.shape, generator=g) * 0.5)
        t.token_embedding.weight.copy_(token_table(*t.token_embedding.weight.shape))
        model.logit_scale.fill_(logit_scale)
    return model.eval()


def round_to_half(model):
    """Weights rounded to float16 (as stored), kept in float32 for the reference run."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "token_embedding" not in name:
                p.copy_(p.half().float())
    return model


def openai_state_dict(hf, vision_layers, text_layers):
    """transformers CLIPModel state dict -> OpenAI CLIP / open_clip names."""
    sd = {}
    p = "vision_model."
    sd["visual.conv1.weight"] = hf[p + "embeddings.patch_embedding.weight"]
    sd["visual.class_embedding"] = hf[p + "embeddings.class_embedding"]
    sd["visual.positional_embedding"] = hf[p + "embeddings.position_embedding.weight"]
    for k in ("weight", "bias"):
        sd[f"visual.ln_pre.{k}"] = hf[p + f"pre_layrnorm.{k}"]
        sd[f"visual.ln_post.{k}"] = hf[p + f"post_layernorm.{k}"]
        sd[f"ln_final.{k}"] = hf[f"text_model.final_layer_norm.{k}"]
    sd["visual.proj"] = hf["visual_projection.weight"].t()
    sd["token_embedding.weight"] = hf["text_model.embeddings.token_embedding.weight"]
    sd["positional_embedding"] = hf["text_model.embeddings.position_embedding.weight"]
    sd["text_projection"] = hf["text_projection.weight"].t()
    sd["logit_scale"] = hf["logit_scale"]
    for src, dst, n in (("vision_model.encoder.layers.", "visual.transformer.resblocks.", vision_layers),
                        ("text_model.encoder.layers.", "transformer.resblocks.", text_layers)):
        for i in range(n):
            a, b = f"{src}{i}.", f"{dst}{i}."
            sd[b + "attn.in_proj_weight"] = torch.cat([hf[a + f"self_attn.{x}_proj.weight"] for x in "qkv"], 0)
            sd[b + "attn.in_proj_bias"] = torch.cat([hf[a + f"self_attn.{x}_proj.bias"] for x in "qkv"], 0)
            for k in ("weight", "bias"):
                sd[b + f"attn.out_proj.{k}"] = hf[a + f"self_attn.out_proj.{k}"]
                sd[b + f"ln_1.{k}"] = hf[a + f"layer_norm1.{k}"]
                sd[b + f"ln_2.{k}"] = hf[a + f"layer_norm2.{k}"]
                sd[b + f"mlp.c_fc.{k}"] = hf[a + f"mlp.fc1.{k}"]
                sd[b + f"mlp.c_proj.{k}"] = hf[a + f"mlp.fc2.{k}"]
    return sd


def open_clip_config(cfg, quick_gelu=True):
    v, t = cfg.vision_config, cfg.text_config
    return {
        "model_cfg": {
            "embed_dim": cfg.projection_dim, "quick_gelu": quick_gelu,
            "vision_cfg": {"image_size": v.image_size, "layers": v.num_hidden_layers, "width": v.hidden_size,
                           "patch_size": v.patch_size, "head_width": v.hidden_size // v.num_attention_heads,
                           "mlp_ratio": v.intermediate_size / v.hidden_size},
            "text_cfg": {"context_length": t.max_position_embeddings, "vocab_size": t.vocab_size, "width": t.hidden_size,
                         "heads": t.num_attention_heads, "layers": t.num_hidden_layers,
                         "mlp_ratio": t.intermediate_size / t.hidden_size},
        },
        "preprocess_cfg": {"mean": MEAN, "std": STD, "interpolation": "bicubic", "resize_mode": "shortest"},
    }


def contiguous(sd, dtype=None, drop_tokens=False):
    out = {}
    for k, v in sd.items():
        if drop_tokens and k in ("token_embedding.weight", "text_model.embeddings.token_embedding.weight"):
            continue
        v = v.detach().contiguous()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v
    return out


# ---------------------------------------------------------------- preprocessing

def photos():
    return [Image.open(os.path.join(REPO, "Samples", f"{s}.jpg")).convert("RGB") for s in SAMPLES]


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))


def hf_processor(size):
    from transformers import CLIPImageProcessor
    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                              resample=3, image_mean=MEAN, image_std=STD)


def hf_pixels(size, images):
    return hf_processor(size)(images=images, return_tensors="pt")["pixel_values"]


def openai_pixels(size, images):
    t = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size), T.ToTensor(),
                   T.Normalize(MEAN, STD)])
    return torch.stack([t(im) for im in images])


# ---------------------------------------------------------------- model fixtures

def reference_outputs(model, pixels, rows):
    with torch.no_grad():
        image = model.get_image_features(pixel_values=pixels)
        text = model.get_text_features(input_ids=rows)
        scale = model.logit_scale.exp()
        ni = image / image.norm(dim=-1, keepdim=True)
        nt = text / text.norm(dim=-1, keepdim=True)
        probs = (scale * ni @ nt.t()).softmax(dim=1)
    return image, text, probs


def write_model(folder, model, tok, pixels, dtype, drop_tokens, position_ids=False):
    cfg = model.config
    hf_dir, oa_dir = os.path.join(folder, "hf"), os.path.join(folder, "openai")
    os.makedirs(hf_dir, exist_ok=True)
    os.makedirs(oa_dir, exist_ok=True)
    sd = model.state_dict()
    hf_sd = contiguous(sd, dtype, drop_tokens)
    if position_ids:   # older transformers saved these buffers
        hf_sd["text_model.embeddings.position_ids"] = torch.arange(cfg.text_config.max_position_embeddings).unsqueeze(0)
        hf_sd["vision_model.embeddings.position_ids"] = torch.arange(model.vision_model.embeddings.num_positions).unsqueeze(0)
    save_file(hf_sd, os.path.join(hf_dir, "model.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(hf_dir, "model.safetensors"), 0o644)
    cfg.to_json_file(os.path.join(hf_dir, "config.json"))
    hf_processor(cfg.vision_config.image_size).save_pretrained(hf_dir)
    oa = openai_state_dict(sd, cfg.vision_config.num_hidden_layers, cfg.text_config.num_hidden_layers)
    save_file(contiguous(oa, dtype, drop_tokens), os.path.join(oa_dir, "weights.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(oa_dir, "weights.safetensors"), 0o644)
    with open(os.path.join(oa_dir, "open_clip_config.json"), "w") as f:
        json.dump(open_clip_config(cfg), f, indent=1)

    rows = tok(LABELS)   # [L, 77], zero padded (open_clip)
    image, text, probs = reference_outputs(model, pixels, rows)
    save_npy(os.path.join(folder, "image.npy"), image.numpy())
    save_npy(os.path.join(folder, "text.npy"), text.numpy())
    save_npy(os.path.join(folder, "probs.npy"), probs.numpy())
    lengths = [min(77, len(tok.encode(t)) + 2) for t in LABELS]
    labels = {"labels": LABELS, "tokens": [rows[i][:n].tolist() for i, n in enumerate(lengths)],
              "logit_scale": float(model.logit_scale.item()), "samples": SAMPLES}
    with open(os.path.join(folder, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1, ensure_ascii=True)
    for i, s in enumerate(SAMPLES):
        best = probs[i].argmax().item()
        print(f"  {s}: top label '{LABELS[best][:40]}' p={probs[i, best]:.4f}")


def small(tok, images):
    from transformers import CLIPConfig, CLIPModel
    x_hf = hf_pixels(32, images)
    x_oa = openai_pixels(32, images)
    save_npy(os.path.join(OUT, "input-hf-32.npy"), x_hf.numpy())
    save_npy(os.path.join(OUT, "input-openai-32.npy"), x_oa.numpy())
    for name, t in (("openai", openai_pixels(224, images)), ("hf", hf_pixels(224, images))):
        save_npy(os.path.join(OUT, f"preprocess-{name}-224-sampled.npy"), t[:, :, ::14, ::14].numpy())
        save_npy(os.path.join(OUT, f"preprocess-{name}-224-rowmean.npy"), t.mean(dim=3).numpy())
        save_npy(os.path.join(OUT, f"preprocess-{name}-224-colmean.npy"), t.mean(dim=2).numpy())

    cfg = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu"),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8, hidden_act="quick_gelu"),
        projection_dim=32)
    torch.manual_seed(0)
    model = round_to_half(randomise(CLIPModel(cfg), 0, logit_scale=3.0))
    print("small CLIP:")
    write_model(OUT, model, tok, x_hf, torch.float16, drop_tokens=True, position_ids=True)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {os.path.relpath(OUT, REPO)}: {total / 1e6:.2f} MB")


def full(tok, images):
    """ViT-B/32 at full size (transformers' CLIPConfig defaults), random weights, float32."""
    from transformers import CLIPConfig, CLIPModel
    os.makedirs(FULL, exist_ok=True)
    x = hf_pixels(224, images)
    save_npy(os.path.join(FULL, "input-hf-224.npy"), x.numpy())
    cfg = CLIPConfig()   # ViT-B/32: vision 768 x 12 (patch 32), text 512 x 12, embedding 512
    torch.manual_seed(1)
    model = randomise(CLIPModel(cfg), 1, logit_scale=3.0)
    print("full ViT-B/32:")
    write_model(FULL, model, tok, x, None, drop_tokens=False)
    print(f"wrote {FULL} (run: MMPIPE_CLIP_FULL={FULL} swift test --filter CLIPFull)")


def fuzz(tk, count, path="/tmp/mmpipe-clip-tokenizer-fuzz.json"):
    """Random strings from tricky pieces (not committed): for
    MMPIPE_CLIP_TOKENIZER_FUZZ=/tmp/mmpipe-clip-tokenizer-fuzz.json swift test --filter CLIPTokenizer.
    Strings that ftfy's mojibake repair changes are marked (a known gap)."""
    import random
    import ftfy
    rng = random.Random(1234)
    pieces = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-_()[]{}<>/\\@#$%^*+=~`|")
              + ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;", "&", "#", ";", "&nbsp;", "&eacute", "&copy", "&AMP;",
                 "'s", "'t", "'re", "'ll", "\u2019", "\u201c", "\u201d", "\u00a0", "\u3000", "\t", "\n", "\r", "  ",
                 "é", "ü", "ß", "ñ", "ø", "Å", "e\u0301", "\u0308", "Σ", "ΑΣ", "σ", "İ", "ǅ", "ﬁ", "ﬀ", "Ａ", "ｶ", "１",
                 "東", "京", "タ", "한", "글", "ا", "ل", "न", "\u094d", "🐱", "❤️", "👍🏽", "👩\u200d👩", "🇫🇷", "\u200b",
                 "½", "²", "٣", "Ⅻ", "\u0000", "\u0007", "\u001b[31m", "\u0080", "\u0093", "\u0085", "\ufeff",
                 "<start_of_text>", "<end_of_text>", "hello", "world", "photo", "the", "of"])
    cases = []
    tok = tk.SimpleTokenizer()
    for _ in range(count):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        ids = tok.encode(text)
        mojibake = ftfy.fix_encoding(text) != text
        cases.append({"text": text, "clean": tk._clean_lower(text), "ids": ids,
                      "context": tok([text])[0][:min(77, len(ids) + 2)].tolist(), "mojibake": mojibake})
    with open(path, "w") as f:
        json.dump({"cases": cases}, f, ensure_ascii=True)
    print(f"wrote {path}: {count} random strings ({sum(c['mojibake'] for c in cases)} changed by ftfy's mojibake repair)")


def main():
    os.makedirs(OUT, exist_ok=True)
    tk = load_tokenizer_module()
    if "--fuzz" in sys.argv:
        fuzz(tk, int(sys.argv[sys.argv.index("--fuzz") + 1]))
        return
    tok = tokenizer_fixtures(tk)
    images = photos()
    small(tok, images)
    if "--full" in sys.argv:
        full(tok, images)


if __name__ == "__main__":
    main()
