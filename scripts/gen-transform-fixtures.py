#!/usr/bin/env python3
"""Reference fixtures for Media's ImageTransforms (resize / shorter-side resize / center
crop / normalise), computed with Pillow on crops of real photos from scikit-image's data
folder (chelsea.png, rocket.jpg, coffee.png).

    pip install numpy pillow scikit-image          # made with Pillow 13.0.0, numpy 2.4
    python3 scripts/gen-transform-fixtures.py      # writes Tests/MediaTests/Fixtures/transforms/
    python3 scripts/gen-transform-fixtures.py --sweep /tmp/tf-sweep   # many more sizes, not committed
    MMPIPE_TRANSFORM_FIXTURES=/tmp/tf-sweep swift test --filter ImageTransform

Layout: `cases.json` (the manifest the Swift test reads), one `.npy` per input photo
(uint8, height x width x 3) and one `.npy` per expected output: uint8 HWC for every
resize / crop / recipe case (values before normalisation), float32 [3, H, W] for the
normalisation case.

torchvision is not needed: its two rules are reimplemented below from torchvision's
`transforms.functional` (0.14 .. 0.20, unchanged in that range):
  * `Resize(size)` with an int: `_compute_resized_output_size`: short, long = sides;
    new_long = int(size * long / short); with max_size, when new_long > max_size:
    new_short = int(max_size * new_short / new_long), new_long = max_size. Then PIL's
    `img.resize((w, h), filter)`.
  * `CenterCrop`: when the crop is larger than the image, pad with 0 by
    ((cw - w) // 2, (ch - h) // 2) on the left/top and ((cw - w + 1) // 2, ...) on the
    right/bottom; then top = int(round((h - ch) / 2.0)), left likewise (Python's round:
    halves go to the even integer).
  * `ToTensor` + `Normalize`: float32 x / 255, then (x - mean) / std in float32.
"""
import argparse
import json
import os
import pathlib
import random

import numpy as np
import PIL
import skimage
from PIL import Image

FILTERS = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
           "bicubic": Image.Resampling.BICUBIC}

RECIPES = {
    "clip": dict(resizeShorterSide=224, filter="bicubic", cropWidth=224, cropHeight=224,
                 mean=[0.48145466, 0.4578275, 0.40821073], std=[0.26862954, 0.26130258, 0.27577711]),
    "imagenet": dict(resizeShorterSide=256, filter="bilinear", cropWidth=224, cropHeight=224,
                     mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
}


def resized_size(w, h, size, max_size=None):
    """torchvision `_compute_resized_output_size` for an int size; returns (w, h)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None:
        if max_size <= size:
            raise ValueError("max_size must be greater than size")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_short, new_long) if w <= h else (new_long, new_short)


def resize_shorter_side(img, size, filt, max_size=None):
    w, h = resized_size(img.width, img.height, size, max_size)
    if (w, h) == img.size:
        return img
    return img.resize((w, h), FILTERS[filt])


def center_crop(img, cw, ch):
    """torchvision `center_crop` on a PIL image."""
    a = np.asarray(img)
    h, w = a.shape[:2]
    if cw > w or ch > h:
        left = (cw - w) // 2 if cw > w else 0
        top = (ch - h) // 2 if ch > h else 0
        right = (cw - w + 1) // 2 if cw > w else 0
        bottom = (ch - h + 1) // 2 if ch > h else 0
        a = np.pad(a, ((top, bottom), (left, right), (0, 0)))
        h, w = a.shape[:2]
    top = int(round((h - ch) / 2.0))
    left = int(round((w - cw) / 2.0))
    return Image.fromarray(np.ascontiguousarray(a[top:top + ch, left:left + cw]))


def normalise(a, mean, std):
    """ToTensor + Normalize in float32, HWC uint8 -> CHW float32."""
    x = a.astype(np.float32).transpose(2, 0, 1) / np.float32(255)
    m = np.asarray(mean, dtype=np.float32)[:, None, None]
    s = np.asarray(std, dtype=np.float32)[:, None, None]
    return ((x - m) / s).astype(np.float32)


def photos():
    data = pathlib.Path(os.path.dirname(skimage.__file__)) / "data"
    cat = Image.open(data / "chelsea.png").convert("RGB")                 # 451x300
    rocket = Image.open(data / "rocket.jpg").convert("RGB")               # 640x427
    coffee = Image.open(data / "coffee.png").convert("RGB")               # 600x400
    return {
        # landscape 320x240: the cat's face and fur, cropped (not rescaled: full detail)
        "cat": cat.crop((65, 30, 65 + 320, 30 + 240)),
        # portrait 232x290: the rocket, two towers and the pad lights
        "rocket": rocket.crop((204, 100, 204 + 232, 100 + 290)),
        # a whole scene at thumbnail size, 96x64: input for upscaling
        "coffee": coffee.reduce(6).crop((2, 1, 98, 65)),
        # degenerate sizes: one column, one row, one pixel of the same thumbnail
        "coffee_column": coffee.reduce(6).crop((40, 20, 41, 29)),
        "coffee_row": coffee.reduce(6).crop((40, 20, 49, 21)),
        "coffee_dot": coffee.reduce(6).crop((40, 20, 41, 21)),
    }


def committed_cases():
    r = lambda inp, w, h, f, name: dict(name=name, input=inp, op="resize", width=w, height=h, filter=f)
    return [
        r("cat", 97, 71, "bilinear", "cat_bilinear_down_97x71"),
        r("cat", 223, 97, "bicubic", "cat_bicubic_down_223x97"),       # odd sizes, x 1.43, y 2.47
        r("cat", 101, 73, "nearest", "cat_nearest_down_101x73"),
        r("cat", 37, 28, "bicubic", "cat_bicubic_down_37x28"),         # ~8.6x, like 3000 -> 336
        r("coffee", 145, 97, "bilinear", "coffee_bilinear_up_145x97"),
        r("coffee", 131, 89, "bicubic", "coffee_bicubic_up_131x89"),
        r("coffee", 127, 83, "nearest", "coffee_nearest_up_127x83"),
        r("coffee", 223, 41, "bicubic", "coffee_bicubic_mixed_223x41"), # up in x, down in y: Pillow 13 runs the vertical pass first
        r("coffee", 141, 64, "bilinear", "coffee_bilinear_width_only_141x64"),  # no vertical pass
        r("coffee", 96, 43, "bicubic", "coffee_bicubic_height_only_96x43"),     # no horizontal pass
        # both down, height much more: Pillow 13 runs the vertical pass first
        r("cat", 250, 30, "bilinear", "cat_bilinear_vertical_first_250x30"),
        r("coffee_column", 4, 13, "bilinear", "coffee_column_bilinear_4x13"),
        r("coffee_column", 3, 4, "nearest", "coffee_column_nearest_3x4"),
        r("coffee_row", 5, 4, "bicubic", "coffee_row_bicubic_5x4"),
        r("coffee_dot", 3, 2, "bicubic", "coffee_dot_bicubic_3x2"),
        dict(name="cat_shorter224_bicubic", input="cat", op="resizeShorterSide", size=224, filter="bicubic"),
        dict(name="rocket_shorter224_bilinear", input="rocket", op="resizeShorterSide", size=224, filter="bilinear"),
        dict(name="rocket_shorter64_max72_bicubic", input="rocket", op="resizeShorterSide", size=64,
             maxSize=72, filter="bicubic"),
        # 96x64 -> 131x47: pads 17 left / 18 right, crops rows from round(8.5) = 8 (half to even)
        dict(name="coffee_crop_131x47_pad_width", input="coffee", op="centerCrop", width=131, height=47),
        dict(name="coffee_crop_101x71_pad_both", input="coffee", op="centerCrop", width=101, height=71),
        dict(name="coffee_crop_41x33", input="coffee", op="centerCrop", width=41, height=33),
        dict(name="rocket_recipe_clip", input="rocket", op="preprocess", recipe="clip"),
        # cat 320x240 -> 341x256 -> left = round(58.5) = 58
        dict(name="cat_recipe_imagenet", input="cat", op="preprocess", recipe="imagenet"),
        dict(name="coffee_crop_32x32_normalised_clip", input="coffee", op="normalise", width=32, height=32,
             mean=RECIPES["clip"]["mean"], std=RECIPES["clip"]["std"]),
    ]


def sweep_cases(seed=7, n=400):
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        inp = rng.choice(["cat", "rocket", "coffee", "cat", "rocket", "coffee", "coffee_column", "coffee_row", "coffee_dot"])
        f = rng.choice(list(FILTERS))
        kind = rng.random()
        if kind < 0.7:
            w, h = rng.randint(1, 400), rng.randint(1, 400)
            cases.append(dict(name=f"sweep{i}_{inp}_{f}_{w}x{h}", input=inp, op="resize", width=w, height=h, filter=f))
        elif kind < 0.85:
            s = rng.randint(1, 300)
            cases.append(dict(name=f"sweep{i}_{inp}_{f}_short{s}", input=inp, op="resizeShorterSide", size=s, filter=f))
        else:
            w, h = rng.randint(1, 360), rng.randint(1, 360)
            cases.append(dict(name=f"sweep{i}_{inp}_crop{w}x{h}", input=inp, op="centerCrop", width=w, height=h))
    for name in RECIPES:
        for inp in ["cat", "rocket", "coffee"]:
            cases.append(dict(name=f"sweep_{inp}_recipe_{name}", input=inp, op="preprocess", recipe=name))
    return cases


def expected_output(case, img):
    op = case["op"]
    if op == "resize":
        return np.asarray(img.resize((case["width"], case["height"]), FILTERS[case["filter"]]))
    if op == "resizeShorterSide":
        return np.asarray(resize_shorter_side(img, case["size"], case["filter"], case.get("maxSize")))
    if op == "centerCrop":
        return np.asarray(center_crop(img, case["width"], case["height"]))
    if op == "preprocess":
        r = RECIPES[case["recipe"]]
        case.update({k: v for k, v in r.items()})
        out = resize_shorter_side(img, r["resizeShorterSide"], r["filter"])
        return np.asarray(center_crop(out, r["cropWidth"], r["cropHeight"]))
    if op == "normalise":
        crop = np.asarray(center_crop(img, case["width"], case["height"]))
        return normalise(crop, case["mean"], case["std"])
    raise ValueError(op)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", metavar="DIR", help="write a large random sweep to DIR instead")
    args = ap.parse_args()
    root = pathlib.Path(__file__).resolve().parent.parent
    out = pathlib.Path(args.sweep) if args.sweep else root / "Tests/MediaTests/Fixtures/transforms"
    out.mkdir(parents=True, exist_ok=True)
    for f in out.glob("*.npy"):
        f.unlink()

    imgs = photos()
    inputs = {}
    for name, img in imgs.items():
        np.save(out / f"{name}.npy", np.ascontiguousarray(np.asarray(img, dtype=np.uint8)))
        inputs[name] = f"{name}.npy"

    cases = sweep_cases() if args.sweep else committed_cases()
    for case in cases:
        a = expected_output(case, imgs[case["input"]])
        assert a.dtype in (np.uint8, np.float32), a.dtype
        case["expected"] = case["name"] + ".npy"
        np.save(out / case["expected"], np.ascontiguousarray(a))
    manifest = {"generator": "scripts/gen-transform-fixtures.py", "pillow": PIL.__version__,
                "numpy": np.__version__, "inputs": inputs, "cases": cases}
    (out / "cases.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"{len(cases)} cases, {total / 1e6:.2f} MB in {out}")


if __name__ == "__main__":
    main()
