#!/usr/bin/env bash
# Writes the fuzzers' seed corpora in fuzz/corpus/ (committed; rerun after a format change) with
# the duel program in build/ and Python: small valid files of each kind, from which libFuzzer
# mutates.
set -euo pipefail
cd "$(dirname "$0")/.."
DUEL=./build/duel
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A run of each model: its config.json, and pictures from it (gray and RGB, PNG and JPEG).
$DUEL train --data synthetic --batch 8 --steps 1 --out "$tmp/a" > /dev/null
$DUEL train --data synthetic --batch 8 --steps 1 --model dcgan64 --loss wgan-gp --conditional --out "$tmp/b" > /dev/null
cp "$tmp/a/checkpoint/config.json" fuzz/corpus/run_config/dcgan28_ns.json
cp "$tmp/b/checkpoint/config.json" fuzz/corpus/run_config/dcgan64_wgan_gp_conditional.json
$DUEL sample --checkpoint "$tmp/a" --n 1 --out fuzz/corpus/picture/gray.png > /dev/null
$DUEL sample --checkpoint "$tmp/a" --n 1 --out fuzz/corpus/picture/gray.jpg > /dev/null
$DUEL sample --checkpoint "$tmp/b" --n 1 --out fuzz/corpus/picture/rgb.png > /dev/null
$DUEL sample --checkpoint "$tmp/b" --n 1 --out fuzz/corpus/picture/rgb.jpg > /dev/null
python3 - << 'PY'
import gzip, json, struct, zlib
c = "fuzz/corpus/"
# IDX: images [3, 4, 5] and labels [3], raw and gzip.
img = struct.pack(">BBBBIII", 0, 0, 8, 3, 3, 4, 5) + bytes(range(60))
lbl = struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([0, 1, 9])
open(c + "idx/images.idx", "wb").write(img)
open(c + "idx/labels.idx", "wb").write(lbl)
open(c + "idx/images.idx.gz", "wb").write(gzip.compress(img, mtime=0))
# safetensors: f32, f64 and i64 tensors, a scalar, metadata.
def st(tensors, meta=None):
    header, blob = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if meta: header["__metadata__"] = meta
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blob
open(c + "safetensors/small.safetensors", "wb").write(st({
    "0.weight": ("F32", [2, 3], struct.pack("<6f", *range(6))),
    "1.running_var": ("F64", [2], struct.pack("<2d", 1.0, 2.0)),
    "step": ("I64", [], struct.pack("<q", 7))}, {"format": "duel-checkpoint-1", "step": "7"}))
open(c + "safetensors/empty.safetensors", "wb").write(st({}))
# A PNG with an alpha channel and a palette PNG, by hand (zlib only).
def png(width, height, color_type, bit_depth, rows, extra=b""):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
open(c + "picture/rgba.png", "wb").write(png(3, 2, 6, 8, [bytes(range(12)), bytes(range(12, 24))]))
plte = struct.pack(">I", 6) + b"PLTE" + bytes([255, 0, 0, 0, 0, 255])
plte += struct.pack(">I", zlib.crc32(b"PLTE" + bytes([255, 0, 0, 0, 0, 255])))
open(c + "picture/palette.png", "wb").write(png(2, 2, 3, 8, [b"\0\1", b"\1\0"], plte))
open(c + "picture/gray16.png", "wb").write(png(2, 1, 0, 16, [b"\x12\x34\xff\xff"]))
PY
ls -la fuzz/corpus/*
