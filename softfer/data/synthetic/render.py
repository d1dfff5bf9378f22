"""A fast 2-D face renderer driven by the action-unit-like controls of ``model.CONTROLS``.

Faces are drawn with OpenCV primitives (anti-aliased, sub-pixel coordinates) in a normalised face frame
(x right, y down, face half-width 1) that is then posed (yaw, roll, translation, scale) into pixels.
Identity (face shape, skin, hair, feature sizes), background, lighting, sensor noise and occluders vary
per clip; the expression varies per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from softfer.data.synthetic.model import C

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Identity:
    """Per-clip appearance: colours are BGR floats 0..255."""

    skin: np.ndarray
    hair: np.ndarray
    lips: np.ndarray
    iris: np.ndarray
    aspect: float  # face height / width
    eye_spacing: float
    eye_size: float
    mouth_width: float
    brow_thickness: float
    hair_height: float


@dataclass(frozen=True)
class Scene:
    """Per-clip nuisances: background, pose trajectory, lighting, noise, occlusion, JPEG quality."""

    background: np.ndarray  # (S, S, 3) float32
    light: np.ndarray  # (S, S, 1) float32 directional shading map
    pose_start: np.ndarray  # (dx, dy, roll_deg, yaw, scale)
    pose_end: np.ndarray
    gain_start: float
    gain_end: float
    noise_sigma: float
    occluder: tuple[float, float, float, float, float, float] | None  # x, y, rx, ry, t_start, t_end (norm.)
    occluder_color: np.ndarray
    jpeg_quality: int


def sample_identity(rng: np.random.Generator) -> Identity:
    """A random face identity."""
    tone = rng.uniform(0.0, 1.0)
    skin = np.array([60 + 150 * tone, 85 + 120 * tone, 120 + 110 * tone]) * rng.uniform(0.92, 1.05, 3)
    hair = np.array(
        rng.choice([[20, 20, 25], [30, 50, 90], [40, 80, 150], [160, 160, 170], [15, 30, 60]]), float
    )
    lips = skin * np.array([0.65, 0.6, 0.95])
    iris = np.array(rng.choice([[40, 60, 90], [120, 90, 40], [60, 110, 70], [30, 30, 40]]), float)
    return Identity(
        skin=np.clip(skin, 0, 255),
        hair=hair * rng.uniform(0.8, 1.2),
        lips=np.clip(lips, 0, 255),
        iris=iris,
        aspect=rng.uniform(1.2, 1.45),
        eye_spacing=rng.uniform(0.34, 0.42),
        eye_size=rng.uniform(0.17, 0.23),
        mouth_width=rng.uniform(0.28, 0.38),
        brow_thickness=rng.uniform(0.05, 0.09),
        hair_height=rng.uniform(0.2, 0.55),
    )


def sample_scene(
    size: int, rng: np.random.Generator, *, occlusion_rate: float, jpeg: tuple[int, int]
) -> Scene:
    """Random background, pose drift, lighting change, noise level and (sometimes) an occluder."""
    top, bottom = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    background = (top * (1 - ramp) + bottom * ramp) * np.ones((1, size, 1), np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    strength = rng.uniform(0.0, 0.5)
    light = (1.0 + strength * (np.cos(angle) * xx + np.sin(angle) * yy))[..., None]
    pose0 = np.array(
        [
            rng.normal(0, 0.03),
            rng.normal(0, 0.03),
            rng.normal(0, 5),
            rng.normal(0, 0.15),
            rng.uniform(0.9, 1.05),
        ]
    )
    drift = np.array(
        [rng.normal(0, 0.02), rng.normal(0, 0.02), rng.normal(0, 3), rng.normal(0, 0.1), rng.normal(0, 0.03)]
    )
    occluder = None
    if rng.random() < occlusion_rate:
        t0 = rng.uniform(0, 0.7)
        occluder = (
            rng.uniform(-0.6, 0.6),
            rng.uniform(-0.2, 0.9),
            rng.uniform(0.2, 0.45),
            rng.uniform(0.15, 0.35),
            t0,
            t0 + rng.uniform(0.15, 0.5),
        )
    return Scene(
        background=background.astype(np.float32),
        light=light.astype(np.float32),
        pose_start=pose0,
        pose_end=pose0 + drift,
        gain_start=float(rng.uniform(0.75, 1.2)),
        gain_end=float(rng.uniform(0.75, 1.2)),
        noise_sigma=float(rng.uniform(1.0, 6.0)),
        occluder=occluder,
        occluder_color=rng.uniform(30, 220, 3),
        jpeg_quality=int(rng.integers(jpeg[0], jpeg[1] + 1)),
    )


def face_points(ctrl: np.ndarray, ident: Identity) -> dict[str, np.ndarray]:
    """Landmark geometry (normalised face frame) for one set of controls."""
    g = {name: float(ctrl[i]) for name, i in C.items()}
    pts: dict[str, np.ndarray] = {}
    es, ew = ident.eye_spacing, ident.eye_size
    eh = max(0.018, ew * 0.45 * (1 + 0.8 * g["eye_open"]) - 0.025 * max(g["cheek_raise"], 0))
    for side, sx in (("l", -1), ("r", 1)):
        cx, cy = sx * es, -0.15
        pts[f"eye_{side}"] = np.array([cx, cy, ew, eh])
        inner_y = -0.38 - 0.2 * g["brow_raise"] + 0.18 * g["brow_lower"] - 0.2 * g["brow_inner"]
        outer_y = -0.40 - 0.2 * g["brow_raise"] + 0.05 * g["brow_lower"] + 0.05 * g["brow_inner"]
        inner_x = sx * (0.13 - 0.04 * max(g["brow_lower"], 0))
        pts[f"brow_{side}"] = np.array(
            [[inner_x, inner_y], [sx * 0.38, (inner_y + outer_y) / 2 - 0.04], [sx * 0.62, outer_y]]
        )
    mw = ident.mouth_width * (1 + 0.35 * g["mouth_stretch"] + 0.12 * g["lip_corner"] - 0.15 * g["lip_press"])
    my = 0.6
    lift = 0.22 * g["lip_corner"]
    pts["mouth_corners"] = np.array(
        [[-mw, my - lift - 0.12 * g["lip_asym"]], [mw, my - lift + 0.02 * g["lip_asym"]]]
    )
    opening = max(g["mouth_open"], 0)
    pts["upper_lip"] = np.array(
        [0.0, my - 0.035 - 0.07 * g["upper_lip"] - 0.06 * opening + 0.01 * g["lip_press"]]
    )
    pts["lower_lip"] = np.array(
        [0.0, my + 0.035 + 0.36 * opening - 0.02 * g["lip_press"] + 0.04 * max(-g["lip_corner"], 0)]
    )
    pts["nose"] = np.array([0.0, 0.27 - 0.03 * max(g["nose_wrinkle"], 0)])
    return pts


def _pose_matrix(pose: np.ndarray, size: int) -> np.ndarray:
    dx, dy, roll, _, scale = pose
    s = 0.38 * size * scale
    th = np.deg2rad(roll)
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]) * s
    centre = np.array([size * (0.5 + dx), size * (0.52 + dy)])
    return np.hstack([rot, centre[:, None]])


def _to_px(p: np.ndarray, m: np.ndarray, yaw: float, depth: float = 1.0) -> np.ndarray:
    p = np.atleast_2d(p).astype(np.float64)
    x = p[:, 0] * (1 - 0.12 * abs(yaw)) + yaw * 0.3 * depth
    q = np.stack([x, p[:, 1], np.ones_like(x)], axis=1) @ m.T
    return q


def _i(p: np.ndarray) -> np.ndarray:
    return np.round(p * _ONE).astype(np.int32)


def _curve(a: np.ndarray, mid: np.ndarray, b: np.ndarray, n: int = 9) -> np.ndarray:
    """Quadratic curve from a to b whose midpoint passes through ``mid``."""
    ctrl = 2 * mid - (a + b) / 2
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * ctrl + t**2 * b


@dataclass(frozen=True)
class _Posed:
    """The face-frame -> pixel mapping of one pose, as the drawing helpers need it."""

    matrix: np.ndarray  # (2, 3) rotation * scale and centre
    yaw: float
    roll: float  # degrees
    scale_px: float  # pixels per face half-width


def _ellipse(
    img: np.ndarray, posed: _Posed, centre, axes, color, *, depth: float = 1.0, thickness: int = -1
) -> None:
    """An ellipse (filled unless ``thickness`` > 0) with centre and axes in the face frame."""
    c = _to_px(np.asarray(centre), posed.matrix, posed.yaw, depth)[0]
    ax = (max(1, int(axes[0] * posed.scale_px * _ONE)), max(1, int(axes[1] * posed.scale_px * _ONE)))
    color = tuple(float(v) for v in color)
    cv2.ellipse(img, tuple(_i(c)), ax, posed.roll, 0, 360, color, thickness, cv2.LINE_AA, _SHIFT)


def _line(img: np.ndarray, posed: _Posed, points: np.ndarray, color, width: float) -> None:
    """An open polyline through face-frame ``points``, ``width`` in face half-widths."""
    px = _i(_to_px(points, posed.matrix, posed.yaw))
    thickness = max(1, int(width * posed.scale_px))
    cv2.polylines(img, [px], False, tuple(float(v) for v in color), thickness, cv2.LINE_AA, _SHIFT)


def _draw_head(img: np.ndarray, posed: _Posed, ident: Identity, cheek_raise: float) -> None:
    """Hair, face, ears and (when the cheeks are raised) blush."""
    skin = ident.skin
    hair_axes = (1.12, ident.aspect * 0.75 + ident.hair_height * 0.3)
    _ellipse(img, posed, (0.0, -0.35), hair_axes, ident.hair, depth=0.3)
    _ellipse(img, posed, (0.0, 0.0), (1.0, ident.aspect), skin, depth=0.3)
    _ellipse(img, posed, (-1.0, 0.0), (0.12, 0.25), skin * 0.9, depth=0.2)
    _ellipse(img, posed, (1.0, 0.0), (0.12, 0.25), skin * 0.9, depth=0.2)
    if cheek_raise > 0.05:
        blush = skin * (1 - 0.25 * cheek_raise) + np.array([60, 60, 200]) * 0.25 * cheek_raise
        for sx in (-1, 1):
            _ellipse(img, posed, (sx * 0.48, 0.18), (0.2, 0.12), np.clip(blush, 0, 255))


def _draw_eyes(
    img: np.ndarray, posed: _Posed, ident: Identity, pts: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Eyes (white, iris, outline) and brows; returns the eye centres in pixels."""
    centres: dict[str, np.ndarray] = {}
    for side in ("l", "r"):
        cx, cy, ew, eh = pts[f"eye_{side}"]
        _ellipse(img, posed, (cx, cy), (ew, eh), (235, 235, 240))
        _ellipse(img, posed, (cx, cy), (min(0.075, eh * 1.1), min(0.075, eh)), ident.iris)
        _ellipse(img, posed, (cx, cy), (ew, eh), ident.skin * 0.55, thickness=max(1, img.shape[0] // 112))
        _line(img, posed, pts[f"brow_{side}"], ident.hair * 0.8, ident.brow_thickness)
        centres[f"eye_{side}"] = _to_px(np.array([cx, cy]), posed.matrix, posed.yaw)[0]
    return centres


def _draw_nose(
    img: np.ndarray, posed: _Posed, ident: Identity, nose: np.ndarray, wrinkle: float
) -> np.ndarray:
    """Nose bridge, tip and (when wrinkled) creases; returns the tip in pixels."""
    dark = ident.skin * 0.55
    _line(img, posed, np.array([[0.0, -0.12], [0.02, 0.12], nose + [0.0, -0.02]]), dark, 0.03)
    _ellipse(img, posed, nose, (0.14, 0.06), ident.skin * 0.8)
    if wrinkle > 0.1:
        for k in range(3):
            y = -0.04 + 0.05 * k
            _line(img, posed, np.array([[-0.1, y], [0.0, y - 0.02], [0.1, y]]), dark, 0.012 + 0.02 * wrinkle)
    return _to_px(nose, posed.matrix, posed.yaw)[0]


def _draw_mouth(
    img: np.ndarray, posed: _Posed, ident: Identity, pts: dict[str, np.ndarray], g: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Smile folds, mouth opening, teeth and lips; returns the mouth corners in pixels."""
    left, right = pts["mouth_corners"]
    up, low = np.array([0.0, pts["upper_lip"][1]]), np.array([0.0, pts["lower_lip"][1]])
    if g["lip_corner"] > 0.2:  # nasolabial folds deepen with a smile
        for sx, corner in ((-1, left), (1, right)):
            fold = np.array([[sx * 0.2, 0.3], [sx * 0.3, 0.45], corner + [sx * 0.06, 0.0]])
            _line(img, posed, fold, ident.skin * 0.75, 0.015 + 0.02 * g["lip_corner"])
    upper = _curve(left, up, right)
    lower = _curve(right, low, left)
    mouth = _i(_to_px(np.vstack([upper, lower]), posed.matrix, posed.yaw))
    cv2.fillPoly(img, [mouth], (40, 30, 60), cv2.LINE_AA, _SHIFT)
    if g["mouth_open"] > 0.3:
        teeth = _curve(left * [0.8, 1] + [0, 0.01], up + [0, 0.035], right * [0.8, 1] + [0, 0.01])
        _line(img, posed, teeth, (230, 235, 240), 0.04)
    lip_w = max(0.02, 0.06 - 0.035 * max(g["lip_press"], 0))
    _line(img, posed, upper, ident.lips, lip_w)
    _line(img, posed, lower, ident.lips, lip_w * 1.3)
    return _to_px(left, posed.matrix, posed.yaw)[0], _to_px(right, posed.matrix, posed.yaw)[0]


def draw_face(img: np.ndarray, ctrl: np.ndarray, ident: Identity, pose: np.ndarray) -> dict[str, np.ndarray]:
    """Draw a face into ``img`` (uint8 BGR, modified in place); returns landmark pixels for alignment."""
    size = img.shape[0]
    posed = _Posed(_pose_matrix(pose, size), float(pose[3]), float(pose[2]), 0.38 * size * pose[4])
    g = {name: float(ctrl[i]) for name, i in C.items()}
    pts = face_points(ctrl, ident)
    _draw_head(img, posed, ident, g["cheek_raise"])
    out = _draw_eyes(img, posed, ident, pts)
    out["nose"] = _draw_nose(img, posed, ident, pts["nose"], g["nose_wrinkle"])
    out["mouth_l"], out["mouth_r"] = _draw_mouth(img, posed, ident, pts, g)
    return out


def render_frame(
    ctrl: np.ndarray, ident: Identity, scene: Scene, progress: float, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One frame at clip position ``progress`` in [0, 1]: (uint8 BGR image, landmark pixels)."""
    pose = scene.pose_start + (scene.pose_end - scene.pose_start) * progress
    img = scene.background.astype(np.uint8)
    marks = draw_face(img, ctrl, ident, pose)
    if scene.occluder is not None:
        x, y, rx, ry, t0, t1 = scene.occluder
        if t0 <= progress <= t1:
            m = _pose_matrix(pose, img.shape[0])
            centre = _i(_to_px(np.array([x, y]), m, 0.0)[0])
            axes = (int(rx * 0.3 * img.shape[0] * _ONE), int(ry * 0.3 * img.shape[0] * _ONE))
            cv2.ellipse(
                img,
                tuple(centre),
                axes,
                20.0,
                0,
                360,
                tuple(float(v) for v in scene.occluder_color),
                -1,
                cv2.LINE_AA,
                _SHIFT,
            )
    gain = scene.gain_start + (scene.gain_end - scene.gain_start) * progress
    noisy = img.astype(np.float32) * (scene.light * gain)
    noisy += rng.normal(0.0, scene.noise_sigma, img.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8), marks


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of a BGR image (deterministic for the same input and quality)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
