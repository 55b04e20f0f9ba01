#!/usr/bin/env bash
# Regenerate the audio / video / image fixtures in Tests/MediaTests/Fixtures/av/ that the
# Audio, Video and FFmpegImage tests read. Needs Debian's ffmpeg, sox and espeak-ng
# (scripts/bootstrap installs them). Deterministic for the same package versions: the
# sources are synthetic (espeak-ng speech, lavfi colours and sines, printf'd pixels) and
# every ffmpeg output is written with -bitexact and without metadata.
#
# Usage: scripts/gen-av-fixtures.sh [OUT_DIR]   (default: Tests/MediaTests/Fixtures/av)
#
# Files (the tests hard-code what they contain):
#   speech.wav          espeak-ng sentence, 16 kHz mono s16 (the reference)
#   speech.flac .ogg    the same samples, FLAC / Vorbis (16 kHz)
#   speech.mp3          MP3 at 22.05 kHz, speech.m4a AAC at 44.1 kHz, speech.opus (48 kHz)
#   speech-head.aiff    the first 4000 samples of speech.wav as AIFF (big-endian s16)
#   colors.mp4          64x48 H.264, 3 s at 10 fps: 1 s red, 1 s lime, 1 s blue; GOP 15
#                       (keyframes at 0 s and 1.5 s); AAC 440 Hz sine track, 3 s, 16 kHz
#   pattern.{bmp,tiff}  the 4x3 RGB pattern below, lossless
#   pattern.gif         2 frames: the RGB pattern, then solid grey (first frame is tested)
#   alpha.png alpha.webp  the 4x3 RGBA pattern below, lossless (WebP with -lossless 1)
#   solid.jpg           16x16 (200,100,50) baseline JPEG
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/Tests/MediaTests/Fixtures/av}"
mkdir -p "$out"
for tool in ffmpeg sox espeak-ng; do
  command -v "$tool" >/dev/null || { echo "gen-av-fixtures: $tool not found (run scripts/bootstrap)" >&2; exit 1; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
bitexact=(-fflags +bitexact -flags +bitexact -map_metadata -1)

# --- speech ------------------------------------------------------------------------------
espeak-ng -v en-us -s 210 -w "$tmp/espeak.wav" "Hello from em em pipe, one two three."
# espeak-ng writes 22.05 kHz; sox's high-quality resampler makes the 16 kHz reference.
sox -D "$tmp/espeak.wav" -r 16000 -c 1 -b 16 "$tmp/speech16.wav" rate -v
ff -i "$tmp/speech16.wav" "${bitexact[@]}" -c:a pcm_s16le "$out/speech.wav"
ff -i "$out/speech.wav" "${bitexact[@]}" -c:a flac -compression_level 8 "$out/speech.flac"
ff -i "$out/speech.wav" "${bitexact[@]}" -c:a libvorbis -q:a 4 "$out/speech.ogg"
ff -i "$out/speech.wav" "${bitexact[@]}" -ar 22050 -c:a libmp3lame -b:a 48k "$out/speech.mp3"
ff -i "$out/speech.wav" "${bitexact[@]}" -ar 44100 -c:a aac -b:a 48k "$out/speech.m4a"
ff -i "$out/speech.wav" "${bitexact[@]}" -c:a libopus -b:a 32k "$out/speech.opus"
ff -i "$out/speech.wav" "${bitexact[@]}" -af atrim=end_sample=4000 -c:a pcm_s16be "$out/speech-head.aiff"

# --- video -------------------------------------------------------------------------------
ff -f lavfi -i "color=c=0xFF0000:s=64x48:r=10:d=1" \
   -f lavfi -i "color=c=0x00FF00:s=64x48:r=10:d=1" \
   -f lavfi -i "color=c=0x0000FF:s=64x48:r=10:d=1" \
   -f lavfi -i "sine=frequency=440:sample_rate=16000:duration=3" \
   -filter_complex "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]" \
   -map "[v]" -map 3:a "${bitexact[@]}" \
   -c:v libx264 -preset medium -pix_fmt yuv420p -g 15 -keyint_min 15 -sc_threshold 0 -threads 1 \
   -c:a aac -b:a 24k -ac 1 -movflags +faststart "$out/colors.mp4"

# --- still images ------------------------------------------------------------------------
# RGB pattern, rows top to bottom:
#   (255,0,0)   (0,255,0)     (0,0,255)   (255,255,255)
#   (0,0,0)     (128,128,128) (255,255,0) (0,255,255)
#   (255,0,255) (10,20,30)    (200,100,50) (1,2,3)
rgb='\xff\x00\x00\x00\xff\x00\x00\x00\xff\xff\xff\xff'
rgb+='\x00\x00\x00\x80\x80\x80\xff\xff\x00\x00\xff\xff'
rgb+='\xff\x00\xff\x0a\x14\x1e\xc8\x64\x32\x01\x02\x03'
printf "P6\n4 3\n255\n$rgb" > "$tmp/pattern.ppm"
# RGBA pattern: the same first two rows opaque; last row
#   (255,0,255,255) (10,20,30,255) (0,0,0,0) transparent  (255,0,0,128) half-transparent red
rgba='\xff\x00\x00\xff\x00\xff\x00\xff\x00\x00\xff\xff\xff\xff\xff\xff'
rgba+='\x00\x00\x00\xff\x80\x80\x80\xff\xff\xff\x00\xff\x00\xff\xff\xff'
rgba+='\xff\x00\xff\xff\x0a\x14\x1e\xff\x00\x00\x00\x00\xff\x00\x00\x80'
printf "P7\nWIDTH 4\nHEIGHT 3\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n$rgba" > "$tmp/alpha.pam"
printf "P6\n4 3\n255\n" > "$tmp/grey.ppm"
for _ in $(seq 12); do printf '\x40\x40\x40' >> "$tmp/grey.ppm"; done

ff -i "$tmp/pattern.ppm" "${bitexact[@]}" -pix_fmt bgr24 "$out/pattern.bmp"
ff -i "$tmp/pattern.ppm" "${bitexact[@]}" -pix_fmt rgb24 -compression_algo deflate "$out/pattern.tiff"
cp "$tmp/pattern.ppm" "$tmp/frame1.ppm"; cp "$tmp/grey.ppm" "$tmp/frame2.ppm"
ff -framerate 2 -i "$tmp/frame%d.ppm" "${bitexact[@]}" \
   -filter_complex "split[a][b];[a]palettegen=reserve_transparent=0:stats_mode=full[p];[b][p]paletteuse=dither=none" \
   -loop 0 "$out/pattern.gif"
ff -i "$tmp/alpha.pam" "${bitexact[@]}" -pix_fmt rgba "$out/alpha.png"
ff -i "$tmp/alpha.pam" "${bitexact[@]}" -c:v libwebp -lossless 1 -pix_fmt bgra "$out/alpha.webp"
ff -f lavfi -i "color=c=0xC86432:s=16x16:d=1" -frames:v 1 "${bitexact[@]}" -q:v 2 "$out/solid.jpg"

ls -l "$out"
du -sh "$out"
