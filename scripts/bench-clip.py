#!/usr/bin/python3
"""Side-by-side CLIP ViT-B/32 benchmark, run by `scripts/bench clip`.

Ours: `mmpipe-bench clip` (release build). Reference: transformers 4.36.2 CLIPModel on
Debian's torch 1.13 (CPU), both on the same threads (MMPIPE_THREADS, default 2), the same
batch (8), the same weights (random ViT-B/32 from `scripts/gen-clip-fixtures.py --full`,
generated when missing) and the same input tensors, written here for both sides:
  images:        the four Samples/ photos twice, preprocessed by CLIPImageProcessor, [8, 3, 224, 224]
  texts-prompts: 8 short prompts ("a photo of a cat." ...), open_clip token ids
  texts-long:    8 captions of more than 77 tokens, cut to 77 (open_clip's truncation)
The reference gets open_clip's [8, 77] zero-padded rows (what open_clip and `padding=
"max_length"` feed); it is also timed on prompts padded only to the longest one
(`padding=True`), its fastest way to run them. Ours takes the unpadded ids (and runs the
positions up to the end token only; causal attention makes the result the same).

Prints embeddings per second (median of BENCH_REPEATS, default 7) and ours / reference
(above 1 means we are faster). Usage: scripts/bench-clip.py path/to/mmpipe-bench
"""
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

root = pathlib.Path(__file__).resolve().parent.parent
ours_bin = sys.argv[1] if len(sys.argv) > 1 else str(root / ".build" / "release" / "mmpipe-bench")
threads = int(os.environ.get("MMPIPE_THREADS", "2"))
repeats = int(os.environ.get("BENCH_REPEATS", "7"))
full = pathlib.Path("/tmp/mmpipe-clip-full")
work = root / ".build-bench" / "clip"
BATCH = 8
PROMPTS = ["a photo of a cat.", "a photo of a cup of coffee.", "a photo of an astronaut.", "a photo of a rocket.",
           "a photo of a dog.", "a photo of a horse.", "a photo of a motorcycle.", "a photo of a teapot."]

os.environ["OMP_NUM_THREADS"] = str(threads)
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(threads)


def main():
    if not (full / "hf" / "model.safetensors").exists():
        subprocess.run([sys.executable, str(root / "scripts" / "gen-clip-fixtures.py"), "--full"], check=True)
    sys.path.insert(0, str(root / "scripts"))
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen_clip_fixtures", root / "scripts" / "gen-clip-fixtures.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    torch.set_num_threads(threads)
    tok = gen.load_tokenizer_module().SimpleTokenizer()

    from PIL import Image
    from transformers import CLIPModel
    work.mkdir(parents=True, exist_ok=True)
    images = [Image.open(root / "Samples" / f"{s}.jpg").convert("RGB") for s in gen.SAMPLES] * 2
    pixels = gen.hf_pixels(224, images[:BATCH])
    np.save(work / "pixels.npy", pixels.numpy().astype(np.float32))
    long_texts = [" ".join(f"a photo of a long caption number {i}" for _ in range(12)) for i in range(BATCH)]
    rows_prompts, rows_long = tok(PROMPTS), tok(long_texts)   # [8, 77], zero padded

    def unpadded(rows, texts):
        return [rows[i][:min(77, len(tok.encode(t)) + 2)].tolist() for i, t in enumerate(texts)]
    tokens = {"prompts": unpadded(rows_prompts, PROMPTS), "long": unpadded(rows_long, long_texts)}
    with open(work / "tokens.json", "w") as f:
        json.dump(tokens, f)
    longest = max(len(t) for t in tokens["prompts"])

    model = CLIPModel.from_pretrained(str(full / "hf")).eval()

    def median(fn):
        with torch.inference_mode():
            fn()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)

    ref = {
        "images": median(lambda: model.get_image_features(pixel_values=pixels)),
        "texts-prompts": median(lambda: model.get_text_features(input_ids=rows_prompts)),
        "texts-long": median(lambda: model.get_text_features(input_ids=rows_long)),
    }
    ref_longest = median(lambda: model.get_text_features(input_ids=rows_prompts[:, :longest]))

    env = dict(os.environ, MMPIPE_THREADS=str(threads), BENCH_REPEATS=str(repeats))
    out = subprocess.run([ours_bin, "clip", "--weights", str(full / "hf"), "--pixels", str(work / "pixels.npy"),
                          "--tokens", str(work / "tokens.json"), "--batch", str(BATCH)],
                         env=env, check=True, capture_output=True, text=True).stdout
    print(out.strip())
    ours = {m.group(1): float(m.group(2)) for m in re.finditer(r"^clip (\S+) ([0-9.]+) per s", out, re.M)}

    print(f"\nCLIP ViT-B/32, batch {BATCH}, {threads} threads; embeddings per second (median of {repeats})")
    print(f"{'case':<16}{'ours':>10}{'transformers':>14}{'ours / ref':>12}")
    for case, seconds in ref.items():
        r = BATCH / seconds
        print(f"{case:<16}{ours[case]:>10.2f}{r:>14.2f}{ours[case] / r:>12.2f}")
    r = BATCH / ref_longest
    print(f"{'(prompts, reference padded to the longest, ' + str(longest) + ' tokens)':<16}")
    print(f"{'texts-prompts':<16}{ours['texts-prompts']:>10.2f}{r:>14.2f}{ours['texts-prompts'] / r:>12.2f}")


if __name__ == "__main__":
    main()
