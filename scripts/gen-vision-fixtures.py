#!/usr/bin/python3
"""Generate the vision parity fixtures in Tests/ModelsTests/Fixtures/vision/.

Run with Debian's python3 (python3-torch 1.13, python3-torchvision 0.14) plus
  /usr/bin/python3 -m pip install --break-system-packages "transformers==4.36.2" safetensors \
      "tokenizers<0.16" efficientnet-lite-pytorch==0.1.0
  /usr/bin/python3 -m pip install --break-system-packages --no-deps timm==0.9.16

Usage:
  scripts/gen-vision-fixtures.py          small fixtures (committed, well under 2 MB)
  scripts/gen-vision-fixtures.py --full   also full-size ResNet-50 and ViT-B/16 (random
                                          weights) into /tmp/mmpipe-vision-full/, for
                                          MMPIPE_VISION_FULL=/tmp/mmpipe-vision-full swift test ...

What is written (seed 0, weights random but with non-trivial BatchNorm statistics and
O(1) activations; N = the four Samples/ photos cat, coffee, astronaut, rocket):

- <model>/ : weights in the layout people download (torchvision state dict as one
  .safetensors file; Hugging Face save_pretrained folder with config.json and
  preprocessor_config.json; timm state dict + hub-style config.json), plus
  pooled.npy [N, D] and logits.npy [N, C] of the reference model on the input named in
  models.json.
- input-*.npy : [N, 3, S, S] the reference preprocessing of the photos at the small size
  the models take (torchvision transforms on PIL images; Hugging Face image processors;
  timm's create_transform), the models' input (so model parity does not depend on ours).
- preprocess-<recipe>.npz-like .npy trio at 224: the reference pipeline's tensor sampled
  every 14th row and column ([N, 3, 16, 16]) and its per-row and per-column means
  ([N, 3, 224] each), to check our decode + resize + crop + normalise at full size.
- efficientnet-lite0.json + lite0-logits.npy / lite0-pooled.npy: the reference package
  (efficientnet_lite_pytorch, EfficientNet.from_pretrained on the real Lite0 weights)
  on the photos with the Lite preprocessing: top-5 indices and probabilities, logits.
- models.json: which model reads which input, its --model name and expected labels.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as T
from PIL import Image
from safetensors.torch import save_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Tests", "ModelsTests", "Fixtures", "vision")
FULL = "/tmp/mmpipe-vision-full"
SAMPLES = ["cat", "coffee", "astronaut", "rocket"]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
LITE_MEAN, LITE_STD = [127.0 / 255] * 3, [128.0 / 255] * 3

torch.set_num_threads(2)


def photos():
    return [Image.open(os.path.join(REPO, "Samples", f"{s}.jpg")).convert("RGB") for s in SAMPLES]


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))


def randomise(model, seed, linear_scale=True):
    """Random weights with O(1) activations and non-identity BatchNorm statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d,)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
            elif isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.5 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
        for name, p in model.named_parameters():
            if name.endswith(("cls_token", "pos_embed", "position_embeddings")) or "ls1" in name or "ls2" in name:
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 if "ls" not in name else 0.3))
    return model.eval()


class SmallTorchvisionResNet(torchvision.models.resnet.ResNet):
    """torchvision's ResNet (its BasicBlock / Bottleneck, _make_layer and forward) with the
    stem and stage widths as parameters, so the weights stay small. Same key names."""

    def __init__(self, block, layers, planes, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = planes[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)


def fc_input(model, fc, x):
    """(pooled features = input of the classifier layer `fc`, logits)."""
    got = {}
    h = fc.register_forward_hook(lambda m, i, o: got.__setitem__("x", i[0].detach().clone()))
    with torch.no_grad():
        logits = model(x)
    h.remove()
    return got["x"].reshape(x.shape[0], -1), logits


# ---------------------------------------------------------------- preprocessing

def tv_transform(resize, crop, interp, mean, std):
    return T.Compose([T.Resize(resize, interpolation=interp), T.CenterCrop(crop), T.ToTensor(), T.Normalize(mean, std)])


def batch(transform, images):
    return torch.stack([transform(im) for im in images])


def hf_vit_processor(size):
    from transformers import ViTImageProcessor
    return ViTImageProcessor(size={"height": size, "width": size})


def hf_resnet_processor(size):
    from transformers import ConvNextImageProcessor
    return ConvNextImageProcessor(size={"shortest_edge": size}, crop_pct=0.875, resample=3,
                                  image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)


def hf_batch(processor, images):
    return processor(images=images, return_tensors="pt")["pixel_values"]


def timm_cfg(size):
    return {"input_size": [3, size, size], "interpolation": "bicubic", "crop_pct": 0.9, "crop_mode": "center",
            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def timm_transform(size):
    from timm.data import create_transform, resolve_data_config
    return create_transform(**resolve_data_config(pretrained_cfg=timm_cfg(size)))


def preprocess_fixtures(images, manifest):
    """Reference tensors at 224 for each recipe, stored sampled (see module doc)."""
    recipes = {
        "torchvision-imagenet": batch(tv_transform(256, 224, T.InterpolationMode.BILINEAR, IMAGENET_MEAN, IMAGENET_STD), images),
        "hf-vit": hf_batch(hf_vit_processor(224), images),
        "hf-resnet": hf_batch(hf_resnet_processor(224), images),
        "timm-vit": batch(timm_transform(224), images),
        "efficientnet-lite": batch(tv_transform(256, 224, T.InterpolationMode.BICUBIC, LITE_MEAN, LITE_STD), images),
    }
    manifest["preprocess"] = {}
    for name, t in recipes.items():
        assert t.shape == (len(images), 3, 224, 224), (name, t.shape)
        save_npy(os.path.join(OUT, f"preprocess-{name}-sampled.npy"), t[:, :, ::14, ::14].numpy())
        save_npy(os.path.join(OUT, f"preprocess-{name}-rowmean.npy"), t.mean(dim=3).numpy())
        save_npy(os.path.join(OUT, f"preprocess-{name}-colmean.npy"), t.mean(dim=2).numpy())
        manifest["preprocess"][name] = {"stride": 14, "size": 224}


# ---------------------------------------------------------------- models

def write_outputs(folder, pooled, logits):
    save_npy(os.path.join(folder, "pooled.npy"), pooled.numpy())
    if logits is not None:
        save_npy(os.path.join(folder, "logits.npy"), logits.numpy())


def torchvision_resnet(name, block, layers, planes, x, seed, out_dir):
    model = randomise(SmallTorchvisionResNet(block, layers, planes, num_classes=10), seed)
    pooled, logits = fc_input(model, model.fc, x)
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(folder, "weights.safetensors"))
    write_outputs(folder, pooled, logits)


def hf_resnet(name, config_kwargs, x, seed, out_dir, processor_size):
    from transformers import ResNetConfig, ResNetForImageClassification
    torch.manual_seed(seed)
    model = randomise(ResNetForImageClassification(ResNetConfig(num_labels=10, **config_kwargs)), seed)
    with torch.no_grad():
        out = model.resnet(x)
        pooled = out.pooler_output.reshape(x.shape[0], -1)
        logits = model(x).logits
    folder = os.path.join(out_dir, name)
    model.save_pretrained(folder, safe_serialization=True)
    hf_resnet_processor(processor_size).save_pretrained(folder)
    write_outputs(folder, pooled, logits)


def hf_vit(name, config_kwargs, x, seed, out_dir, with_head=True):
    from transformers import ViTConfig, ViTForImageClassification, ViTModel
    torch.manual_seed(seed)
    if with_head:
        model = randomise(ViTForImageClassification(ViTConfig(num_labels=10, **config_kwargs)), seed)
        with torch.no_grad():
            pooled = model.vit(x).last_hidden_state[:, 0]
            logits = model(x).logits
    else:
        model = randomise(ViTModel(ViTConfig(**config_kwargs)), seed)   # with the tanh pooler
        with torch.no_grad():
            pooled = model(x).pooler_output
            logits = None
    folder = os.path.join(out_dir, name)
    model.save_pretrained(folder, safe_serialization=True)
    hf_vit_processor(config_kwargs["image_size"]).save_pretrained(folder)
    write_outputs(folder, pooled, logits)


def timm_vit(name, kwargs, x, seed, out_dir, size):
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(seed)
    model = randomise(VisionTransformer(**kwargs), seed)
    with torch.no_grad():
        feats = model.forward_features(x)
        pooled = model.forward_head(feats, pre_logits=True)
        logits = model.forward_head(feats) if kwargs.get("num_classes", 1000) > 0 else None
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(folder, "model.safetensors"))
    config = {"architecture": "vit_custom", "num_classes": kwargs.get("num_classes", 1000),
              "num_features": kwargs["embed_dim"], "global_pool": kwargs.get("global_pool", "token"),
              "model_args": {"num_heads": kwargs["num_heads"]}, "pretrained_cfg": timm_cfg(size)}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_outputs(folder, pooled, logits)


def lite0_reference(images, manifest):
    from efficientnet_lite_pytorch import EfficientNet
    weights = os.path.join(REPO, "Models", "efficientnet-lite0", "efficientnet-lite0-57934424.pth")
    if not os.path.exists(weights):
        sys.exit(f"{weights} missing: run scripts/fetch-models efficientnet-lite0")
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()
    x = batch(tv_transform(256, 224, T.InterpolationMode.BICUBIC, LITE_MEAN, LITE_STD), images)
    pooled, logits = fc_input(model, model._fc, x)
    probs = logits.softmax(dim=1)
    top = probs.topk(5, dim=1)
    from torchvision.models._meta import _IMAGENET_CATEGORIES as names
    ref = {"preprocessing": "Resize(256, BICUBIC) + CenterCrop(224), (x - 127) / 128",
           "samples": {}}
    for i, s in enumerate(SAMPLES):
        ref["samples"][s] = {"top5": top.indices[i].tolist(), "probs": [round(p, 6) for p in top.values[i].tolist()],
                             "labels": [names[j] for j in top.indices[i].tolist()]}
    with open(os.path.join(OUT, "efficientnet-lite0.json"), "w") as f:
        json.dump(ref, f, indent=1)
    save_npy(os.path.join(OUT, "lite0-logits.npy"), logits.numpy())
    save_npy(os.path.join(OUT, "lite0-pooled.npy"), pooled.numpy())
    # Other normalisations on the same crops, to justify the choice (printed, not stored).
    for label, mean, std in [("imagenet mean/std", IMAGENET_MEAN, IMAGENET_STD), ("(x-127)/128", LITE_MEAN, LITE_STD)]:
        xx = batch(tv_transform(256, 224, T.InterpolationMode.BICUBIC, mean, std), images)
        with torch.no_grad():
            p = model(xx).softmax(dim=1).max(dim=1)
        print(f"lite0 with {label}: top-1 " + ", ".join(f"{s}={names[i]} {v:.3f}" for s, i, v in
                                                     zip(SAMPLES, p.indices.tolist(), p.values.tolist())))
    for s in SAMPLES:
        print(f"lite0 {s}: {ref['samples'][s]['labels']} {ref['samples'][s]['probs']}")


def small(images):
    os.makedirs(OUT, exist_ok=True)
    manifest = {"samples": SAMPLES, "models": {}}
    preprocess_fixtures(images, manifest)

    inputs = {
        # name: (reference tensor, recipe as VisionPreprocessing fields)
        "input-torchvision-48": (batch(tv_transform(54, 48, T.InterpolationMode.BILINEAR, IMAGENET_MEAN, IMAGENET_STD), images),
                                 {"resizeShorterSide": 54, "filter": "bilinear", "cropWidth": 48, "cropHeight": 48,
                                  "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "resizeExact": False}),
        "input-hf-resnet-48": (hf_batch(hf_resnet_processor(48), images), None),
        "input-hf-vit-32": (hf_batch(hf_vit_processor(32), images), None),
        "input-timm-32": (batch(timm_transform(32), images), None),
    }
    manifest["inputs"] = {}
    for name, (t, recipe) in inputs.items():
        save_npy(os.path.join(OUT, f"{name}.npy"), t.numpy())
        manifest["inputs"][name] = {"recipe": recipe} if recipe else {"recipe": "from the model's preprocessing"}
    x = {k: v[0] for k, v in inputs.items()}

    B, BN = torchvision.models.resnet.BasicBlock, torchvision.models.resnet.Bottleneck
    torchvision_resnet("tv-resnet-basic", B, [1, 2, 1, 1], [8, 12, 16, 24], x["input-torchvision-48"], 1, OUT)
    torchvision_resnet("tv-resnet-bottleneck", BN, [1, 2, 1, 1], [4, 8, 8, 16], x["input-torchvision-48"], 2, OUT)
    hf_resnet("hf-resnet-bottleneck", dict(embedding_size=8, hidden_sizes=[16, 32, 32, 64], depths=[1, 2, 1, 1],
                                           layer_type="bottleneck", downsample_in_bottleneck=True),
              x["input-hf-resnet-48"], 3, OUT, 48)
    hf_resnet("hf-resnet-basic", dict(embedding_size=8, hidden_sizes=[8, 16, 24], depths=[2, 1, 1],
                                      layer_type="basic", downsample_in_first_stage=True),
              x["input-hf-resnet-48"], 4, OUT, 48)
    vit_cfg = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                   image_size=32, patch_size=8)
    hf_vit("hf-vit-classifier", vit_cfg, x["input-hf-vit-32"], 5, OUT)
    hf_vit("hf-vit-pooler", vit_cfg, x["input-hf-vit-32"], 6, OUT, with_head=False)
    timm_vit("timm-vit-avg", dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4, mlp_ratio=2.0,
                                  num_classes=10, global_pool="avg"), x["input-timm-32"], 7, OUT, 32)
    timm_vit("timm-vit-token-ls", dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0,
                                       num_classes=10, global_pool="token", init_values=0.1),
             x["input-timm-32"], 8, OUT, 32)
    manifest["models"] = {
        "tv-resnet-basic": {"weights": "tv-resnet-basic/weights.safetensors", "name": "resnet", "input": "input-torchvision-48"},
        "tv-resnet-bottleneck": {"weights": "tv-resnet-bottleneck/weights.safetensors", "name": "resnet", "input": "input-torchvision-48"},
        "hf-resnet-bottleneck": {"weights": "hf-resnet-bottleneck", "name": "resnet", "input": "input-hf-resnet-48"},
        "hf-resnet-basic": {"weights": "hf-resnet-basic", "name": "resnet", "input": "input-hf-resnet-48"},
        "hf-vit-classifier": {"weights": "hf-vit-classifier", "name": "vit", "input": "input-hf-vit-32"},
        "hf-vit-pooler": {"weights": "hf-vit-pooler", "name": "vit", "input": "input-hf-vit-32"},
        "timm-vit-avg": {"weights": "timm-vit-avg", "name": "vit", "input": "input-timm-32"},
        "timm-vit-token-ls": {"weights": "timm-vit-token-ls", "name": "vit", "input": "input-timm-32"},
    }
    lite0_reference(images, manifest)
    with open(os.path.join(OUT, "models.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    total = sum(os.path.getsize(os.path.join(d, fn)) for d, _, fs in os.walk(OUT) for fn in fs)
    print(f"wrote {os.path.relpath(OUT, REPO)}: {total / 1e6:.2f} MB")


def full(images):
    """Full-size ResNet-50 (torchvision) and ViT-B/16 (Hugging Face and timm), random weights."""
    os.makedirs(FULL, exist_ok=True)
    manifest = {"models": {}}
    x_tv = batch(tv_transform(256, 224, T.InterpolationMode.BILINEAR, IMAGENET_MEAN, IMAGENET_STD), images)
    x_vit = hf_batch(hf_vit_processor(224), images)
    x_timm = batch(timm_transform(224), images)
    for name, t in [("input-tv", x_tv), ("input-hf-vit", x_vit), ("input-timm", x_timm)]:
        save_npy(os.path.join(FULL, f"{name}.npy"), t.numpy())
    torch.manual_seed(10)
    r50 = randomise(torchvision.models.resnet50(), 10)
    pooled, logits = fc_input(r50, r50.fc, x_tv)
    os.makedirs(os.path.join(FULL, "resnet50"), exist_ok=True)
    save_file({k: v.contiguous() for k, v in r50.state_dict().items()}, os.path.join(FULL, "resnet50", "weights.safetensors"))
    write_outputs(os.path.join(FULL, "resnet50"), pooled, logits)
    hf_vit("vit-b-16-hf", dict(image_size=224), x_vit, 11, FULL)  # transformers defaults: ViT-B/16
    timm_vit("vit-b-16-timm", dict(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                                   num_classes=1000), x_timm, 12, FULL, 224)
    manifest["models"] = {
        "resnet50": {"weights": "resnet50/weights.safetensors", "name": "resnet50", "input": "input-tv"},
        "vit-b-16-hf": {"weights": "vit-b-16-hf", "name": "vit-b-16", "input": "input-hf-vit"},
        "vit-b-16-timm": {"weights": "vit-b-16-timm", "name": "vit-b-16", "input": "input-timm"},
    }
    with open(os.path.join(FULL, "models.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {FULL} (run: MMPIPE_VISION_FULL={FULL} swift test --filter VisionFull)")


def main():
    images = photos()
    small(images)
    if "--full" in sys.argv:
        full(images)


if __name__ == "__main__":
    main()
