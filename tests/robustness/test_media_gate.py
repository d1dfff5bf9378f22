"""Issue 21, inputs: one media gate for files, PIL images, numpy arrays and torch tensors, and the
integrity checks of `data inspect` in train and eval.

Every media kind is walked through the gate and compared with what numpy computes independently: EXIF
orientations 1-8, 8/16-bit grey and RGB PNGs, alpha, palettes, float and uint16 arrays of every rank,
bad dtypes, ranges and channel counts. Then one regression test per case the issue found.
"""

import io
import json
import os
import shutil
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from softfer.config import load_config, packaged_configs
from softfer.data.formats.ferv39k import read_ferv39k
from softfer.data.formats.manifest import read_manifest
from softfer.data.records import frame_index
from softfer.engine.data import build_data, read_records
from softfer.engine.outputs import evaluate_and_write
from softfer.engine.train import fit
from softfer.io import images
from softfer.io.images import MediaError, decode_image, read_bytes
from softfer.io.media_gate import pil_rgb8
from softfer.models import create_model
from softfer.predict.api import frames_of
from tests.engine.conftest import tiny_config

DEMO_BASE = packaged_configs() / "demo" / "base.yaml"

# ---------------------------------------------------------------------------------------------- references


def _blocks() -> np.ndarray:
    """An asymmetric 32 x 48 image of six 16-px blocks of distinct colours: any flip or turn shows."""
    colours = [[(230, 20, 20), (20, 230, 20), (20, 20, 230)], [(230, 230, 20), (20, 230, 230), (120, 60, 0)]]
    return np.kron(np.array(colours, np.uint8), np.ones((16, 16, 1), np.uint8))


# What each EXIF orientation means (EXIF 2.32, tag 0x0112), written with numpy: the stored pixels ->
# the displayed ones.
DISPLAYED = {
    1: lambda x: x,
    2: lambda x: x[:, ::-1],
    3: lambda x: x[::-1, ::-1],
    4: lambda x: x[::-1],
    5: lambda x: x.swapaxes(0, 1),
    6: lambda x: np.rot90(x, -1),  # rotate 90 degrees clockwise
    7: lambda x: x[::-1, ::-1].swapaxes(0, 1),
    8: lambda x: np.rot90(x, 1),
}


def _jpeg(pixels: np.ndarray, orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    extra = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        extra["exif"] = exif
    Image.fromarray(pixels).save(buf, "JPEG", quality=98, subsampling=0, **extra)
    return buf.getvalue()


def _png(pil: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, "PNG", **options)
    return buf.getvalue()


def _over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(float)[..., None] / 255
    return np.rint(rgb * a + 255 * (1 - a)).astype(np.uint8)


def _grey_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=-1)


def _through_predict(source, fps=None) -> np.ndarray:
    """The pixels `Predictor.predict` would detect faces on (one image, or stacked frames)."""
    frames, photo, _ = frames_of(source, fps)
    got = [f for _, f in frames()]
    return got[0] if photo else np.stack(got)


RNG = np.random.default_rng(0)
G8 = RNG.integers(0, 256, (6, 5), dtype=np.uint8)
G16 = RNG.integers(0, 65536, (6, 5), dtype=np.uint16)
RGB8 = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (6, 5, 3), dtype=np.uint16)
ALPHA = RNG.integers(0, 256, (6, 5), dtype=np.uint8)
F16 = (G8 / 255).astype(np.float16)


def _by257(x: np.ndarray) -> np.ndarray:
    return np.rint(x / 257).astype(np.uint8)


# ------------------------------------------------------------------------------------------ the walking tests


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("entry", ["decode_image", "predict"])
def test_every_exif_orientation_is_shown_as_displayed(tmp_path, orientation, entry):
    stored = _blocks()
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg(stored, orientation))
    got = decode_image(read_bytes(path), path) if entry == "decode_image" else _through_predict(path)
    want = DISPLAYED[orientation](stored)
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want).mean() < 3  # JPEG error only; a wrong turn is ~100


def _cv2_png(bgr_or_grey: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", bgr_or_grey)
    assert ok
    return buf.tobytes()


def _palette() -> Image.Image:
    img = Image.fromarray((G8 % 3).astype(np.uint8), "P")
    img.putpalette([250, 10, 10, 10, 250, 10, 10, 10, 250])
    return img


PALETTE_RGB = np.array([[250, 10, 10], [10, 250, 10], [10, 10, 250]], np.uint8)[G8 % 3]

FILES = {  # name: (encoded bytes, the RGB uint8 a person sees, computed with numpy)
    "png grey 8-bit": (_png(Image.fromarray(G8)), _grey_rgb(G8)),
    "png grey 16-bit": (_cv2_png(G16), _grey_rgb(_by257(G16))),
    "png RGB 8-bit": (_png(Image.fromarray(RGB8)), RGB8),
    "png RGB 16-bit": (_cv2_png(RGB16[..., ::-1]), _by257(RGB16)),
    "png RGBA": (_png(Image.fromarray(np.dstack([RGB8, ALPHA]))), _over_white(RGB8, ALPHA)),
    "png grey + alpha": (
        _png(Image.merge("LA", [Image.fromarray(G8), Image.fromarray(ALPHA)])),
        _over_white(_grey_rgb(G8), ALPHA),
    ),
    "png palette": (_png(_palette()), PALETTE_RGB),
    "png palette, one entry transparent": (
        _png(_palette(), transparency=1),
        np.where((G8 % 3 == 1)[..., None], 255, PALETTE_RGB).astype(np.uint8),
    ),
    "bmp RGB": (cv2.imencode(".bmp", RGB8[..., ::-1])[1].tobytes(), RGB8),
}


@pytest.mark.parametrize("kind", list(FILES))
@pytest.mark.parametrize("entry", ["decode_image", "predict"])
def test_every_file_kind_is_read_as_a_person_sees_it(tmp_path, kind, entry):
    data, want = FILES[kind]
    path = tmp_path / ("image.bmp" if kind.startswith("bmp") else "image.png")
    path.write_bytes(data)
    got = decode_image(data, path) if entry == "decode_image" else _through_predict(path)
    assert got.dtype == np.uint8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


PIL_IMAGES = {  # name: (PIL image, expected RGB uint8)
    "L": (Image.fromarray(G8), _grey_rgb(G8)),
    "1": (Image.fromarray(G8 > 127), _grey_rgb(np.where(G8 > 127, 255, 0).astype(np.uint8))),
    "RGB": (Image.fromarray(RGB8), RGB8),
    "RGBA": (Image.fromarray(np.dstack([RGB8, ALPHA])), _over_white(RGB8, ALPHA)),
    "LA": (
        Image.merge("LA", [Image.fromarray(G8), Image.fromarray(ALPHA)]),
        _over_white(_grey_rgb(G8), ALPHA),
    ),
    "P": (_palette(), PALETTE_RGB),
    "I;16": (Image.fromarray(G16), _grey_rgb(_by257(G16))),
    "I": (Image.fromarray(G16.astype(np.int32)), _grey_rgb(_by257(G16))),
    "F in [0, 1]": (Image.fromarray((G8 / 255).astype(np.float32)), _grey_rgb(G8)),
    "F in [0, 255]": (Image.fromarray(G8.astype(np.float32)), _grey_rgb(G8)),
}


@pytest.mark.parametrize("mode", list(PIL_IMAGES))
def test_every_pil_mode_is_read_as_a_person_sees_it(mode):
    img, want = PIL_IMAGES[mode]
    np.testing.assert_array_equal(_through_predict(img), want)


ARRAYS = {  # name: (array, expected RGB uint8)
    "uint8 (H, W)": (G8, _grey_rgb(G8)),
    "uint8 (H, W, 1)": (G8[..., None], _grey_rgb(G8)),
    "uint8 (H, W, 3)": (RGB8, RGB8),
    "uint8 (H, W, 4)": (np.dstack([RGB8, ALPHA]), _over_white(RGB8, ALPHA)),
    "uint16 (H, W)": (G16, _grey_rgb(_by257(G16))),
    "uint16 (H, W, 3)": (RGB16, _by257(RGB16)),
    "float64 in [0, 1]": (RGB8 / 255, RGB8),
    "float32 in [0, 1]": ((RGB8 / 255).astype(np.float32), RGB8),
    # float16 cannot hold every k / 255: the expectation is computed from the float16 values themselves
    "float16 in [0, 1]": (F16, _grey_rgb(np.rint(F16.astype(np.float64) * 255).astype(np.uint8))),
    "float32 in [0, 255]": (RGB8.astype(np.float32), RGB8),
    "uint8 frames (N, H, W, 3)": (np.stack([RGB8, RGB8[::-1]]), np.stack([RGB8, RGB8[::-1]])),
    "float frames (N, H, W, 3) in [0, 1]": (np.stack([RGB8, RGB8]) / 255, np.stack([RGB8, RGB8])),
    "uint16 frames (N, H, W, 1)": (np.stack([G16, G16])[..., None], np.stack([_grey_rgb(_by257(G16))] * 2)),
}


@pytest.mark.parametrize("kind", list(ARRAYS))
def test_every_array_kind_is_scaled_to_rgb_uint8(kind):
    array, want = ARRAYS[kind]
    got = _through_predict(array, fps=25)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


REFUSED = {  # name: (array, what the message must name)
    "int64": (RGB8.astype(np.int64), r"int64 pixels"),
    "bool": (G8 > 3, r"bool pixels"),
    "float above 255": (np.linspace(0, 510, 48).reshape(4, 4, 3), r"float pixels in \[0, 510\]"),
    "negative float": (RGB8 / 255 - 0.5, r"float pixels in \[-0\.5"),
    "NaN": (np.full((4, 4, 3), np.nan), r"NaN"),
    "2 channels": (np.zeros((4, 4, 2), np.uint8), r"2 channels"),
    "5 channels": (np.zeros((4, 4, 5), np.uint8), r"5 channels"),
    "channels first": (np.zeros((3, 32, 32), np.uint8), r"channels come last"),
    "greyscale frames without a channel axis": (np.zeros((8, 32, 32), np.uint8), r"\(N, H, W, 1\)"),
    "1-D": (np.zeros(12, np.uint8), r"1-D array"),
    "5-D": (np.zeros((1, 2, 4, 4, 3), np.uint8), r"5-D array"),
    "empty": (np.zeros((0, 4, 3), np.uint8), r"empty"),
}


@pytest.mark.parametrize("kind", list(REFUSED))
def test_other_arrays_are_refused_naming_what_was_given_and_what_is_expected(kind):
    array, named = REFUSED[kind]
    with pytest.raises(ValueError, match=named) as err:
        frames_of(array, 25)
    assert "expected uint8 (0-255), uint16" in str(err.value)


def test_torch_tensors_are_channels_first_like_torchvision():
    chw = torch.from_numpy(RGB8).permute(2, 0, 1)
    np.testing.assert_array_equal(_through_predict(chw.float() / 255), RGB8)
    frames = torch.stack([chw, chw.flip(1)])
    np.testing.assert_array_equal(_through_predict(frames, fps=10), np.stack([RGB8, RGB8[::-1]]))
    with pytest.raises(ValueError, match=r"channels first .*\(C, H, W\)"):
        frames_of(torch.zeros(32, 32, 3))
    with pytest.raises(ValueError, match=r"int64 pixels"):
        frames_of(torch.zeros(3, 8, 8, dtype=torch.int64))


def test_a_harmless_libjpeg_warning_is_not_damage_but_lost_pixels_are(tmp_path, capfd):
    data = _jpeg(_blocks())
    path = tmp_path / "f.jpg"
    # bytes after the last scan, before the end marker: every pixel is there
    tail = data[:-2] + b"\x00\x00" + data[-2:]
    np.testing.assert_array_equal(decode_image(tail, path), decode_image(data, path))
    assert "extraneous bytes before marker 0xd9" in capfd.readouterr().err  # passed on, not swallowed
    with pytest.raises(MediaError, match=r"f\.jpg: damaged JPEG \(Corrupt JPEG data: premature end of data"):
        decode_image(_entropy_damaged(data), path)


class _Preempted(Exception):
    pass


def test_a_signal_during_a_decode_keeps_its_message_and_stderr(tmp_path, capfd, monkeypatch):
    """Found: a CI run lost submitit's "this job is preempted" line. The signal came while a training frame
    decoded with fd 2 redirected to catch libjpeg's warnings; the handler's message went into that capture,
    and its exit (the requeue) took the message with it."""
    path = tmp_path / "f.jpg"
    path.write_bytes(_jpeg(_blocks()))
    real = images._imdecode

    def signalled(data, flags):  # the signal arrives while the frame decodes
        os.kill(os.getpid(), signal.SIGUSR1)
        return real(data, flags)

    def handler(signum, frame):
        os.write(2, b"handler: this job is preempted\n")
        if raising:
            raise _Preempted

    monkeypatch.setattr(images, "_imdecode", signalled)
    old = signal.signal(signal.SIGUSR1, handler)
    try:
        raising = True
        with pytest.raises(_Preempted):
            decode_image(path.read_bytes(), path)
        os.write(2, b"after\n")  # fd 2 is the stream again
        assert capfd.readouterr().err == "handler: this job is preempted\nafter\n"
        raising = False  # a handler that returns: its line is passed on, the frame decoded
        assert decode_image(path.read_bytes(), path).shape == (32, 48, 3)
        assert capfd.readouterr().err == "handler: this job is preempted\n"
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_lines_left_by_an_interrupted_capture_are_not_the_next_frames(tmp_path, capfd):
    """Found (review): a signal that cut a capture short after a damaged frame left libjpeg's line in the
    capture file; the next, clean frame was refused as "damaged JPEG" with it."""
    path = tmp_path / "f.jpg"
    data = _jpeg(_blocks())
    decode_image(data, path)  # the process's capture file exists
    os.write(images._sinks[os.getpid()].fileno(), b"Corrupt JPEG data: premature end of data segment\n")
    np.testing.assert_array_equal(decode_image(data, path), decode_image(data, path))
    assert capfd.readouterr().err == "Corrupt JPEG data: premature end of data segment\n"  # passed on


# ------------------------------------------------------------------------ regression tests of issue 21, 3


def test_a_phone_photo_stored_sideways_is_upright(tmp_path):
    """Found: a photo stored sideways with EXIF orientation 6 was classified sideways."""
    upright = _blocks()
    path = tmp_path / "phone.jpg"
    path.write_bytes(_jpeg(np.rot90(upright, 1).copy(), orientation=6))  # how a phone held upright stores it
    for got in (_through_predict(path), decode_image(read_bytes(path), path), pil_rgb8(Image.open(path))):
        assert got.shape == upright.shape and np.abs(got.astype(int) - upright).mean() < 3


def test_a_16_bit_png_and_a_pil_i16_image_are_not_white(tmp_path):
    """Found: a 16-bit PNG or PIL I;16 image became white (0 faces, no error)."""
    face = (np.linspace(0, 40000, 64 * 48).reshape(64, 48)).astype(np.uint16)  # nothing above 255 / 65535
    path = tmp_path / "scan.png"
    Image.fromarray(face).save(path)
    assert Image.open(path).mode == "I;16"
    want = _grey_rgb(_by257(face))
    np.testing.assert_array_equal(_through_predict(path), want)
    np.testing.assert_array_equal(_through_predict(Image.open(path)), want)
    assert _through_predict(path).max() == 156  # 40000 / 257, not 255


def test_a_float_image_in_0_1_reaches_the_detector_as_uint8_0_255():
    """Found: a float image in [0, 1] given to Predictor.predict found 0 faces, no error."""
    got = _through_predict(RGB8 / 255.0)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, RGB8)


def _entropy_damaged(encoded: bytes) -> bytes:
    """Bytes in the middle of the entropy-coded scan overwritten: markers intact, OpenCV still decodes it."""
    data = bytearray(encoded)
    sos = data.find(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    mid = (start + len(data) - 2) // 2
    data[mid : mid + 8] = b"\xff" * 8
    return bytes(data)


def _damage_clip(folder: Path) -> None:
    for name in frame_index(folder):
        (folder / name).write_bytes(_entropy_damaged((folder / name).read_bytes()))


def _swap_happy_and_sad(root: Path) -> None:
    from openpyxl import load_workbook

    path = root / "Annotation" / "annotation.xlsx"
    wb = load_workbook(path)
    header = {c.value: c for c in wb.active[1]}
    header["happy"].value, header["sad"].value = "sad", "happy"
    wb.save(path)


def test_train_refuses_a_damaged_jpeg_and_records_swapped_vote_headers(tiny_dfew, tmp_path):
    """Found: a damaged JPEG and swapped vote headers were reported by `data inspect` but used silently by
    `train`: the damaged clip is now an unreadable item (replaced, counted, recorded) and the label-vs-vote
    disagreement is in metrics.json `data_reading`."""
    root = tmp_path / "dfew"
    shutil.copytree(tiny_dfew, root)
    cfg = load_config(
        DEMO_BASE,
        tiny_config(
            root, tmp_path / "run", **{"optim.epochs": 1, "optim.batch_size": 5, "data.max_skip": 0.03}
        ),
    )
    victim = read_records(cfg.data, "train")[7]
    _damage_clip(victim.path)
    assert cv2.imread(str(victim.path / victim.frames[0])) is not None  # OpenCV alone would use it
    _swap_happy_and_sad(root)
    fit(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["history"][0]["replaced"] == {"count": 1, "ids": [victim.id]}
    assert (
        "(happy: 6 of 6 point to sad; sad: 6 of 6 point to happy)"
        in (metrics["data_reading"]["train"]["label_vote"]["warning"])
    )
    for split in ("train", "test"):
        reading = metrics["data_reading"][split]
        vote = reading["label_vote"]
        assert vote["voted"] > 0 and vote["rate"] > 0.10 and vote["threshold"] == 0.10
        assert "class columns swapped" in vote["warning"]
        assert any("JPEG damage" in c for c in reading["checks"])
        assert any("vote argmax" in c for c in reading["checks"])


def test_eval_leaves_a_damaged_jpeg_clip_out_and_records_it(tiny_dfew, tmp_path):
    root = tmp_path / "dfew"
    shutil.copytree(tiny_dfew, root)
    cfg = load_config(DEMO_BASE, tiny_config(root, tmp_path / "run", **{"data.max_skip": 0.2}))
    victim = read_records(cfg.data, "test", test=True)[2]
    _damage_clip(victim.path)
    data = build_data(cfg, with_train=False)
    assert (
        data.reading["test"]["label_vote"]["rate"] == 0.0
        and data.reading["test"]["label_vote"]["warning"] is None
    )
    torch.manual_seed(0)
    model = create_model(cfg.model.name, num_classes=7, **cfg.model.options).eval()
    evaluate_and_write(model, data, cfg, tmp_path / "run", torch.device("cpu"), save_model=False)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["skipped"] == {"count": 1, "ids": [victim.id]}


def test_one_manifest_clip_spelt_two_ways_is_refused_naming_both_rows(tmp_path):
    """Found: `frames/00001` and `frames/../frames/00001` were trained on twice."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "path,label,split\nframes/00001,0,train\nframes/00002,1,train\nframes/../frames/00001,2,train\n"
    )
    with pytest.raises(ValueError) as err:
        read_manifest(manifest, split="train")
    message = str(err.value)
    where = f"{tmp_path.name}/manifest.csv"
    assert message.startswith(f"{where}:line 4: path 'frames/../frames/00001'"), message
    assert f"'frames/00001' at {where}:line 2" in message
    # the same media in two folds' splits of one manifest is how cross-validation manifests look
    manifest.write_text("path,label,split,id\nframes/00001,0,set_1_train,a\nframes/./00001,0,set_2_train,b\n")
    (tmp_path / "frames" / "00001").mkdir(parents=True)
    Image.fromarray(RGB8).save(tmp_path / "frames" / "00001" / "f.jpg")
    assert [r.id for r in read_manifest(manifest, split="set_2_train")] == ["b"]


def test_one_ferv39k_clip_spelt_two_ways_is_a_duplicate(tmp_path):
    lists = tmp_path / "4_setups" / "All_scenes"
    lists.mkdir(parents=True)
    (lists / "train_All.csv").write_text("Action/Happy/0001 1\nAction/../Action/Happy/0001 1\n")
    with pytest.raises(ValueError, match=r"duplicate id 'Action/Happy/0001'"):
        read_ferv39k(tmp_path, split="train")


def test_8_bit_pixels_in_a_16_bit_container_are_refused_saying_how_to_convert():
    """Found: a uint16 array holding 8-bit values, or a PIL image from img.convert('I'), was divided by 257:
    a black image, 0 faces, no word."""
    hint = r"look like 8-bit pixels in a 16-bit container.*astype\(np\.uint8\)"
    for source in (
        RGB8.astype(np.uint16),
        np.stack([G8, G8]).astype(np.uint16)[..., None],
        Image.fromarray(RGB8).convert("I"),
        Image.fromarray(G8).convert("I"),
        torch.from_numpy(RGB8.astype(np.int32)).permute(2, 0, 1).to(torch.uint16),
    ):
        with pytest.raises(ValueError, match=hint):
            _through_predict(source, fps=25)
    # the documented conversion gives the 8-bit image back
    np.testing.assert_array_equal(_through_predict(RGB8.astype(np.uint16).astype(np.uint8)), RGB8)
