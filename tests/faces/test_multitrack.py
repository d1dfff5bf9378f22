"""Tracking every face: stable ids through a crossing, appearance deciding where boxes coincide."""

import numpy as np
from PIL import Image

from softfer.faces.detect import Face, FaceDetector
from softfer.faces.multitrack import _Live, _match, track_faces


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


def test_appearance_decides_where_two_tracks_share_a_box():
    box = np.array([10.0, 10.0, 50.0, 60.0])
    look_a, look_b = _unit([1, 0, 0, 1]), _unit([0, 1, 1, 0])
    live = [_Live(0, box, look_a, 0), _Live(1, box, look_b, 0)]
    faces = [Face(box + 1, 0.99, np.zeros((5, 2))), Face(box - 1, 0.99, np.zeros((5, 2)))]
    # the detections come in the other order: by overlap alone the match is a coin toss
    pairs = _match(live, faces, [look_b, look_a], min_iou=0.1)
    assert pairs == {0: 1, 1: 0}


def test_two_faces_crossing_keep_their_ids(media):
    photo = np.asarray(Image.open(media / "multi_face.jpg").convert("RGB"))
    detector = FaceDetector(max_side=None, min_face=20)
    crops = []
    for f in detector.detect([photo])[0][:2]:
        cx, cy = int((f.box[0] + f.box[2]) / 2), int((f.box[1] + f.box[3]) / 2)
        crops.append(photo[cy - 70 : cy + 70, cx - 55 : cx + 55])
    frames = []
    for i in range(40):  # A moves right in front, B moves left behind, half a face lower
        img = np.full((240, 640, 3), 128, np.uint8)
        xa, xb = int(40 + i * 450 / 39), int(490 - i * 450 / 39)
        img[10:150, xb : xb + 110] = crops[1]
        img[90:230, xa : xa + 110] = crops[0]
        frames.append(img)
    tracking = track_faces(((i / 10, f) for i, f in enumerate(frames)), detector, every=2)
    assert len(tracking.tracks) == 2
    directions = []
    for t in tracking.tracks:
        assert t.present.all()  # both faces in every frame, under one id each
        centre = (t.boxes[:, 0] + t.boxes[:, 2]) / 2
        step = np.diff(centre)
        assert np.all(step > -5) or np.all(step < 5)  # never jumps to the other face
        directions.append(np.sign(step.mean()))
    assert sorted(directions) == [-1, 1]
