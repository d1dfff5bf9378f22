"""Image decoding: reduced-DCT JPEG decoding, its use by the datasets, EXIF handling, batching."""

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch.utils.data import default_collate

from softfer.data.datasets import ClipDataset, ImageDataset, collate_items
from softfer.data.records import Record, frame_index
from softfer.io.images import MediaError, decode_frames, decode_image, jpeg_reduction, read_bytes


def _face_like(size: int, seed: int = 0) -> np.ndarray:
    """Smooth shapes plus mild texture: JPEG-friendly content like face frames."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 90, np.uint8)
    for _ in range(6):
        c = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.circle(
            img,
            c,
            int(rng.integers(size // 10, size // 3)),
            tuple(int(v) for v in rng.integers(0, 255, 3)),
            -1,
        )
    img = cv2.GaussianBlur(img, (0, 0), size / 100)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def test_jpeg_reduction_keeps_the_decoded_side_at_least_the_target(tmp_path):
    assert jpeg_reduction(224, 112) == 2
    assert jpeg_reduction(223, 112) == 2  # libjpeg decodes 223 px at 1/2 to ceil(111.5) = 112 px
    assert jpeg_reduction(221, 111) == 2 and jpeg_reduction(221, 112) == 1
    assert jpeg_reduction(224, 224) == 1
    assert jpeg_reduction(900, 224) == 4
    assert jpeg_reduction(2000, 224) == 8
    assert jpeg_reduction(50, 112) == 1
    path = tmp_path / "odd.jpg"
    Image.fromarray(_face_like(223)).save(path)
    assert decode_image(read_bytes(path), path, reduction=2).shape == (112, 112, 3)


def test_reduced_decode_matches_area_downscaling(tmp_path):
    path = tmp_path / "f.jpg"
    Image.fromarray(_face_like(224)).save(path, quality=92)
    full = decode_image(read_bytes(path), path)
    half = decode_image(read_bytes(path), path, reduction=2)
    quarter = decode_image(read_bytes(path), path, reduction=4)
    assert full.shape == (224, 224, 3) and half.shape == (112, 112, 3) and quarter.shape == (56, 56, 3)
    area = cv2.resize(full, (112, 112), interpolation=cv2.INTER_AREA)
    assert np.abs(half.astype(int) - area).mean() < 1.5  # libjpeg's scaled IDCT is a proper downscale
    # and the channels are RGB, like the full decode (a BGR mix-up would swap the red and blue means)
    np.testing.assert_allclose(half.reshape(-1, 3).mean(0), full.reshape(-1, 3).mean(0), atol=1.0)
    # PNGs are never reduced
    png = tmp_path / "f.png"
    Image.fromarray(full).save(png)
    assert decode_image(read_bytes(png), png, reduction=2).shape == (224, 224, 3)


def test_exif_orientation_is_applied_and_boxes_stay_in_stored_pixels(tmp_path):
    """One rule (issue 21): the pixels are shown upright; a face box is in stored pixels, so the
    dataset crops the stored image and turns the crop."""
    img = np.zeros((24, 48, 3), np.uint8)
    img[:, :24] = 255  # stored: white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rot.jpg"
    Image.fromarray(img).save(path, exif=exif, quality=95)
    out = decode_image(read_bytes(path), path)
    assert out.shape == (48, 24, 3) and out[:24].mean() > 240 and out[24:].mean() < 15  # white on top
    stored = decode_image(read_bytes(path), path, oriented=False)
    assert stored.shape == (24, 48, 3) and stored[:, :24].mean() > 240
    # box x=16..32 (stored) straddles the edge: its left half white; upright, the top half is white
    rec = Record(id="r", path=path, label=0, box=(16, 0, 16, 24))
    crop = ImageDataset([rec], num_classes=2, train=False, size=16, reduced_decode=False)[0]["images"]
    assert crop.shape == (3, 16, 16)
    assert crop[:, :8].float().mean() > 240 and crop[:, 8:].float().mean() < 15


@pytest.mark.parametrize("payload", [b"", b"\xff\xd8\xff\xe0 truncated", b"not an image at all"])
def test_unreadable_bytes_raise_media_error_naming_the_file(tmp_path, payload):
    path = tmp_path / "bad_frame.jpg"
    path.write_bytes(payload)
    with pytest.raises(MediaError, match=r"bad_frame\.jpg"):
        decode_frames([path])
    with pytest.raises(MediaError, match=r"missing\.jpg"):
        decode_frames([tmp_path / "missing.jpg"])


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(9, 260),
    width=st.integers(9, 260),
    min_side=st.integers(4, 120),
    guess=st.sampled_from([1, 2, 4, 8]),
)
def test_guessed_reduction_is_always_corrected_to_the_header_one(
    tmp_path_factory, height, width, min_side, guess
):
    path = tmp_path_factory.mktemp("g") / "f.jpg"
    Image.fromarray(np.full((height, width, 3), 120, np.uint8)).save(path)
    frames, reduction = decode_frames([path, path], min_side=min_side, guess=guess)
    assert reduction == jpeg_reduction(min(height, width), min_side)
    expected = (-(-height // reduction), -(-width // reduction), 3)  # libjpeg rounds sizes up
    assert frames[0].shape == frames[1].shape == expected
    # never smaller than asked for, and no finer than needed
    assert reduction == 1 or min(expected[:2]) >= min_side
    assert reduction == 8 or -(-min(height, width) // (2 * reduction)) < min_side


def test_frames_of_another_size_are_resized_to_the_first(tmp_path):
    for i, size in enumerate((32, 32, 48)):
        Image.fromarray(_face_like(size, i)).save(tmp_path / f"{i}.jpg")
    out, _ = decode_frames(sorted(tmp_path.glob("*.jpg")))
    assert [f.shape for f in out] == [(32, 32, 3)] * 3 and out[2].dtype == np.uint8


def _clip(folder, size, n=6):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(_face_like(size, i)).save(folder / f"{i:03d}.jpg", quality=92)
    return Record(id=folder.name, path=folder, label=0, frames=frame_index(folder))


def test_clip_dataset_reduces_only_while_frames_stay_at_least_the_model_size(tmp_path):
    recs = [_clip(tmp_path / "big", 96), _clip(tmp_path / "small", 40)]
    reduced = ClipDataset(recs, num_classes=2, train=False, size=32, segments=4)
    full = ClipDataset(recs, num_classes=2, train=False, size=32, segments=4, reduced_decode=False)
    a, b = reduced[0]["clips"], full[0]["clips"]
    assert reduced._reduction == 2  # 96 / 2 = 48 >= 32, 96 / 4 = 24 < 32
    assert a.shape == b.shape == (4, 3, 32, 32)
    assert (a.float() - b.float()).abs().mean() < 3  # same pictures, slightly different low-pass
    reduced[1]
    assert reduced._reduction == 1  # 40 / 2 = 20 < 32: decoded in full, although 2 was guessed
    assert reduced[1]["clips"].shape == (4, 3, 32, 32)


def test_image_dataset_reduction_follows_the_face_box_not_the_photo(tmp_path):
    photo = _face_like(400, 3)
    path = tmp_path / "p.jpg"
    Image.fromarray(photo).save(path, quality=95)
    box = (100, 60, 200, 200)  # 200 px face in a 400 px photo
    rec = Record(id="p", path=path, label=1, box=box)
    reduced = ImageDataset([rec], num_classes=2, train=False, size=48)[0]["images"]  # 200/4 = 50 >= 48
    full = ImageDataset([rec], num_classes=2, train=False, size=48, reduced_decode=False)[0]["images"]
    assert reduced.shape == full.shape == (3, 48, 48)
    assert (reduced.float() - full.float()).abs().mean() < 3
    expected = cv2.resize(photo[60:260, 100:300], (48, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(reduced.permute(1, 2, 0).numpy().astype(int) - expected).mean() < 4


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 5),
    classes=st.integers(2, 9),
    channels_last=st.booleans(),
)
def test_collate_items_equals_default_collate(batch, classes, channels_last):
    gen = torch.Generator().manual_seed(batch * 10 + classes)
    items = []
    for i in range(batch):
        clip = torch.randint(0, 255, (4, 3, 20, 20), dtype=torch.uint8, generator=gen)
        if channels_last:
            clip = clip.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
        items.append(
            {
                "clips": clip,
                "label": torch.tensor(i % classes),
                "soft": torch.rand(classes, generator=gen),
                "va": torch.tensor([float("nan"), 0.25 * i]),
                "index": torch.tensor(100 + i),
            }
        )
    ours, ref = collate_items(items), default_collate(items)
    assert list(ours) == list(ref)
    assert ours["clips"].is_contiguous()  # whatever the items' layout
    for key in ref:
        assert ours[key].dtype == ref[key].dtype and ours[key].shape == ref[key].shape
        torch.testing.assert_close(ours[key], ref[key], equal_nan=True, rtol=0, atol=0)


class _Items(torch.utils.data.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return {
            "clips": torch.full((2, 3, 8, 8), i, dtype=torch.uint8),
            "label": torch.tensor(i),
            "soft": torch.full((5,), i / 10),
            "keep": torch.tensor(i % 2 == 0),
        }


def test_collate_items_in_a_worker_sends_one_shared_buffer_with_the_default_values():
    ours = list(torch.utils.data.DataLoader(_Items(), batch_size=4, num_workers=1, collate_fn=collate_items))
    ref = list(torch.utils.data.DataLoader(_Items(), batch_size=4, num_workers=0))
    assert len(ours) == len(ref) == 2
    for a, b in zip(ours, ref, strict=True):
        assert list(a) == list(b)
        for key in b:
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]) and a[key].is_contiguous()
        # every field is a view of one storage: one shared-memory handle per batch
        assert len({v.untyped_storage().data_ptr() for v in a.values()}) == 1
