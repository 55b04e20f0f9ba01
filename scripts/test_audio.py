"""Test recordings built from recipes, so no audio is committed: the fixture scripts and the
Swift tests (Tests/Support/TestAudio/Recipe.swift) build the same 16-bit samples from the
same recipe, and the fixtures record a hash of them (FNV-1a 64 of the int16 little-endian
bytes) that the tests check before comparing anything.

A recipe is a list of parts, each a one-key dict, joined in order (16 kHz mono int16):
  {"silence": seconds}                          zeros, round(seconds * 16000) samples
  {"clip": "0870"}                              LibriVox clip from Debian's pocketsphinx-testdata
                                                (sense_and_sensibility_01_austen_64kb-NNNN.wav)
  {"wav": "Samples/speech.wav"}                 a 16 kHz mono 16-bit WAV of the repository
  {"pink": {"seconds", "seed", "amplitude"}}    pink noise: xorshift64* white noise through
                                                Paul Kellet's filter, in float64
  {"melody": {"seconds", "amplitude"}}          a tune of 0.3 s notes, three harmonics each
  {"take": samples}                             keeps the first `samples` of what came before
Floats become int16 as floor(x * 32767 + 0.5), clamped; both sides compute in IEEE doubles
in the same order, and sin() is glibc's on both.
"""
import math
import pathlib
import struct
import wave

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIBRIVOX = pathlib.Path("/usr/share/pocketsphinx/test/data/librivox")
RATE = 16000
MASK = (1 << 64) - 1


def read_wav(path):
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == RATE, path
        data = w.readframes(w.getnframes())
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def to_int16(x):
    return max(-32768, min(32767, math.floor(x * 32767 + 0.5)))


def pink(seconds, seed, amplitude):
    n = int(round(seconds * RATE))
    state = seed & MASK or 1
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = 0.0
    out = []
    for _ in range(n):
        state ^= state >> 12
        state ^= (state << 25) & MASK
        state ^= state >> 27
        r = (state * 0x2545F4914F6CDD1D) & MASK
        w = (r >> 11) * (2.0 ** -53) * 2.0 - 1.0
        b0 = 0.99886 * b0 + w * 0.0555179
        b1 = 0.99332 * b1 + w * 0.0750759
        b2 = 0.96900 * b2 + w * 0.1538520
        b3 = 0.86650 * b3 + w * 0.3104856
        b4 = 0.55000 * b4 + w * 0.5329522
        b5 = -0.7616 * b5 - w * 0.0168980
        p = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362
        b6 = w * 0.115926
        out.append(to_int16(p * 0.11 * amplitude))
    return out


NOTES = [220.0, 261.63, 293.66, 329.63, 392.0, 440.0, 523.25, 587.33]
NOTE = 4800  # 0.3 s


def melody(seconds, amplitude):
    n = int(round(seconds * RATE))
    out = []
    for i in range(n):
        k, j = divmod(i, NOTE)
        f = NOTES[(k * 5 + 3) % len(NOTES)]
        env = min(1.0, j / 160.0) * min(1.0, (NOTE - j) / 160.0)
        t = i / 16000.0
        s = math.sin(2.0 * math.pi * f * t) + 0.5 * math.sin(4.0 * math.pi * f * t) + 0.25 * math.sin(6.0 * math.pi * f * t)
        out.append(to_int16(amplitude * env * s / 1.75))
    return out


def build(recipe):
    """The int16 samples of a recipe."""
    pcm = []
    for part in recipe:
        (kind, value), = part.items()
        if kind == "silence":
            pcm += [0] * int(round(value * RATE))
        elif kind == "clip":
            pcm += read_wav(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{value}.wav")
        elif kind == "wav":
            pcm += read_wav(ROOT / value)
        elif kind == "pink":
            pcm += pink(value["seconds"], value["seed"], value["amplitude"])
        elif kind == "melody":
            pcm += melody(value["seconds"], value["amplitude"])
        elif kind == "take":
            pcm = pcm[:value]
        else:
            raise ValueError(f"unknown recipe part {kind}")
    return pcm


def fnv1a64(pcm):
    h = 0xCBF29CE484222325
    for b in struct.pack(f"<{len(pcm)}h", *pcm):
        h = ((h ^ b) * 0x100000001B3) & MASK
    return f"{h:016x}"


def floats(pcm):
    """What mmpipe decodes from a 16-bit WAV: int16 / 32768 as float32 (numpy)."""
    import numpy as np
    return np.asarray(pcm, dtype=np.int16).astype(np.float32) / np.float32(32768.0)


def write_wav(path, pcm):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(struct.pack(f"<{len(pcm)}h", *pcm))
