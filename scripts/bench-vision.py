#!/usr/bin/env python3
"""Vision throughput, ours against PyTorch, side by side in one run (scripts/bench vision).

For EfficientNet-Lite0 (the real fetched weights), ResNet-50 and ViT-B/16 (random weights
written by scripts/gen-vision-fixtures.py --full; timing does not depend on the values),
batch 8, the same thread count on both sides (MMPIPE_THREADS, default all cores):

  end to end  decode JPEG + resize/crop/normalise + forward, over the same image files
              (ours: the stage graph of `mmpipe embed`, decode workers beside the encoder;
              PyTorch: PIL + torchvision transforms, then the model, one process);
  forward     the forward pass alone on one fixed batch of 8 preprocessed images.

Printed: images/s of each, the ratio ours / PyTorch, and the share of the machine's raw
sgemm rate our forward pass reaches (model GFLOP per image counted with PyTorch hooks:
2 x multiply-adds of convolutions and linear layers, plus attention's two products).
Runs with the system /usr/bin/python3 (Debian python3-torch 1.13); usage:
  scripts/bench-vision.py OURS_BENCH_BINARY IMAGE...
"""
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torchvision
from PIL import Image
from safetensors.torch import load_file
from torchvision import transforms as T

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL = os.environ.get("MMPIPE_VISION_FULL", "/tmp/mmpipe-vision-full")
MODELS = os.environ.get("MMPIPE_MODELS_DIR", os.path.join(REPO, "Models"))
THREADS = int(os.environ.get("MMPIPE_THREADS", str(os.cpu_count() or 1)))
REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))
BATCH = 8


def lite0():
    from efficientnet_lite_pytorch import EfficientNet
    m = EfficientNet.from_name("efficientnet-lite0")
    sd = load_file(os.path.join(MODELS, "efficientnet-lite0", "model.safetensors"))
    m.load_state_dict(sd)
    tf = T.Compose([T.Resize(256, T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize([127 / 255] * 3, [128 / 255] * 3)])
    return m, tf, os.path.join(MODELS, "efficientnet-lite0", "model.safetensors")


def resnet50():
    m = torchvision.models.resnet50()
    w = os.path.join(FULL, "resnet50", "weights.safetensors")
    m.load_state_dict(load_file(w))
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return m, tf, w


def vit_b16():
    from transformers import ViTForImageClassification
    folder = os.path.join(FULL, "vit-b-16-hf")
    m = ViTForImageClassification.from_pretrained(folder)
    tf = T.Compose([T.Resize((224, 224), T.InterpolationMode.BILINEAR), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    return m, tf, folder


def gflop_per_image(model, x):
    """2 x multiply-adds of Conv2d and Linear, plus attention products (ViT), per image."""
    total = [0]

    def conv(mod, inp, out):
        total[0] += 2 * out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]

    def lin(mod, inp, out):
        total[0] += 2 * out.numel() * mod.in_features

    hooks = []
    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv))
        elif isinstance(mod, torch.nn.Linear):
            hooks.append(mod.register_forward_hook(lin))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "num_hidden_layers"):       # ViT: QK^T and AV
        tokens = (cfg.image_size // cfg.patch_size) ** 2 + 1
        total[0] += x.shape[0] * cfg.num_hidden_layers * 2 * 2 * tokens * tokens * cfg.hidden_size
    return total[0] / x.shape[0] / 1e9


def torch_bench(model, tf, images):
    model.eval()
    torch.set_num_threads(THREADS)
    batch = torch.stack([tf(Image.open(images[i % len(images)]).convert("RGB")) for i in range(BATCH)])
    with torch.no_grad():
        model(batch)
        fwd = []
        for _ in range(REPEATS):
            t = time.perf_counter()
            model(batch)
            fwd.append(time.perf_counter() - t)
        e2e = []
        for _ in range(max(3, REPEATS // 2)):
            t = time.perf_counter()
            for s in range(0, len(images), BATCH):
                x = torch.stack([tf(Image.open(p).convert("RGB")) for p in images[s:s + BATCH]])
                model(x)
            e2e.append(time.perf_counter() - t)
    return BATCH / statistics.median(fwd), len(images) / statistics.median(e2e), gflop_per_image(model, batch[:1])


def main():
    ours_bin, images = sys.argv[1], sys.argv[2:]
    env = {**os.environ, "MMPIPE_THREADS": str(THREADS), "BENCH_REPEATS": str(REPEATS)}
    print(f"{len(images)} JPEG images, batch {BATCH}, {THREADS} threads, median of {REPEATS}; "
          f"torch {torch.__version__}")
    print(f"{'model':20}{'GFLOP/img':>10}{'ours e2e':>10}{'torch e2e':>10}{'ratio':>7}"
          f"{'ours fwd':>10}{'torch fwd':>10}{'ratio':>7}{'fwd/sgemm':>10}")
    for name, make in [("efficientnet-lite0", lite0), ("resnet50", resnet50), ("vit-b-16", vit_b16)]:
        model, tf, weights = make()
        r = subprocess.run([ours_bin, "vision", name, weights, *images], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name}: ours failed: {r.stderr.strip()}")
            continue
        ours = json.loads(r.stdout.strip().splitlines()[-1])
        t_fwd, t_e2e, gflop = torch_bench(model, tf, images)
        share = ours["forward_images_per_s"] * gflop / ours["sgemm_gflops"]
        print(f"{name:20}{gflop:10.2f}{ours['e2e_images_per_s']:10.1f}{t_e2e:10.1f}{ours['e2e_images_per_s'] / t_e2e:7.2f}"
              f"{ours['forward_images_per_s']:10.1f}{t_fwd:10.1f}{ours['forward_images_per_s'] / t_fwd:7.2f}{share:10.2f}")
        del model
    print(f"(sgemm rate of this machine in the last run: {ours['sgemm_gflops']:.0f} GFLOPS)")


if __name__ == "__main__":
    main()
