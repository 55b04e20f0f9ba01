#!/usr/bin/env python3
"""PNG and JPEG decoder fixtures: small crops of real photos (scikit-image's data folder:
chelsea.png, coffee.png, astronaut.png), written by Pillow in every variant the decoders
must handle, with Pillow's own decoded pixels as the expected values.

    pip install numpy pillow scikit-image
    python3 scripts/gen-image-fixtures.py

Writes Tests/MediaTests/Fixtures/images/NAME.{png,jpg} and NAME.expected.npy (uint8,
height x width x 3). Expected values: Pillow decodes the file; images with alpha are
composited on white as round((c*a + 255*(255-a)) / 255); JPEGs go through
ImageOps.exif_transpose, as our decoder applies EXIF orientation.
"""
import io
import os
import pathlib

import numpy as np
import skimage
from PIL import Image, ImageOps

root = pathlib.Path(__file__).resolve().parent.parent
out = root / "Tests/MediaTests/Fixtures/images"
out.mkdir(parents=True, exist_ok=True)
data = pathlib.Path(os.path.dirname(skimage.__file__)) / "data"

cat = Image.open(data / "chelsea.png").convert("RGB").crop((120, 40, 120 + 61, 40 + 47))      # 61x47, odd
coffee = Image.open(data / "coffee.png").convert("RGB").crop((200, 100, 200 + 64, 100 + 40))
astro = Image.open(data / "astronaut.png").convert("RGB").crop((180, 60, 180 + 40, 60 + 52))


def composite_white(img):
    a = np.asarray(img.convert("RGBA"), dtype=np.uint32)
    rgb, alpha = a[..., :3], a[..., 3:4]
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def expected(path):
    img = Image.open(path)
    if path.suffix == ".jpg":
        img = ImageOps.exif_transpose(img)
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    if img.mode == "I;16" or img.mode == "I":        # 16-bit grey: high byte
        a = np.asarray(img, dtype=np.uint32) >> 8
        return np.repeat(a[..., None], 3, axis=2).astype(np.uint8)
    return composite_white(img)


def save(name, img, **kw):
    path = out / name
    img.save(path, **kw)
    np.save(out / (path.stem + ".expected.npy"), expected(path))


# PNG variants.
save("rgb.png", cat)
save("gray.png", cat.convert("L"))
save("palette.png", cat.quantize(64))
pal_t = coffee.quantize(16)
save("palette_trns.png", pal_t, transparency=3)                 # one palette entry transparent
rgba = cat.convert("RGBA")
alpha = np.tile(np.linspace(0, 255, cat.width, dtype=np.uint8), (cat.height, 1))
rgba.putalpha(Image.fromarray(alpha))
save("rgba.png", rgba)
la = cat.convert("LA")
la.putalpha(Image.fromarray(alpha))
save("gray_alpha.png", la)
# 16-bit RGB and grey, written by hand (Pillow cannot write 16-bit RGB PNGs).
import struct, zlib
def png_chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
def write_png(path, w, h, bit_depth, color_type, rows, interlace=0):
    raw = b"".join(b"\x00" + r for r in rows)
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, interlace)
    path.write_bytes(sig + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))
a16 = np.asarray(astro, dtype=np.uint16) * 257 + np.arange(astro.width, dtype=np.uint16)[None, :, None]   # low byte varies
write_png(out / "rgb16.png", astro.width, astro.height, 16, 2, [r.astype(">u2").tobytes() for r in a16])
np.save(out / "rgb16.expected.npy", (a16 >> 8).astype(np.uint8))

# Adam7 interlaced: pass images written by hand from the coffee crop (8-bit RGB).
def adam7_rows(arr):
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    chunks = []
    for x0, y0, dx, dy in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        chunks += [b"\x00" + row.tobytes() for row in sub]
    return chunks
c_arr = np.asarray(coffee, dtype=np.uint8)
raw = b"".join(adam7_rows(c_arr))
ihdr = struct.pack(">IIBBBBB", coffee.width, coffee.height, 8, 2, 0, 0, 1)
(out / "interlaced.png").write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))
assert (np.asarray(Image.open(out / "interlaced.png").convert("RGB")) == c_arr).all()
np.save(out / "interlaced.expected.npy", c_arr)

# JPEG variants.
save("baseline.jpg", cat, quality=90)
save("progressive.jpg", coffee, quality=85, progressive=True)
save("grayscale.jpg", cat.convert("L"), quality=90)
save("cmyk.jpg", astro.convert("CMYK"), quality=95)
save("subsampled_420.jpg", astro, quality=80, subsampling=2)
for orientation in (3, 6, 8):
    exif = Image.Exif()
    exif[0x0112] = orientation
    save(f"exif_orient{orientation}.jpg", astro, quality=90, exif=exif.tobytes())

print(sorted(p.name for p in out.iterdir()))
print("total bytes", sum(p.stat().st_size for p in out.iterdir()))
