"""68-point landmarks (iBUG/300-W order, as in AffectNet's CSV) of a rendered synthetic face."""

from __future__ import annotations

import numpy as np

from softfer.data.synthetic.render import Identity, _curve, _pose_matrix, _to_px, face_points


def _resample(poly: np.ndarray, n: int) -> np.ndarray:
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, poly[:, 0]), np.interp(t, s, poly[:, 1])], axis=1)


def _ellipse(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int) -> np.ndarray:
    a = np.linspace(a0, a1, n)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], axis=1)


def landmarks68(ctrl: np.ndarray, ident: Identity, pose: np.ndarray, size: int) -> np.ndarray:
    """(68, 2) pixel coordinates matching ``render.draw_face`` for the same controls and pose."""
    pts = face_points(ctrl, ident)
    m = _pose_matrix(pose, size)
    yaw = float(pose[3])
    parts = []
    # 0-16 jaw: lower half of the face outline, from the left temple to the right one.
    parts.append(_to_px(_ellipse(0.0, 0.0, 1.0, ident.aspect, np.pi, 0.0, 17), m, yaw, 0.3))
    # 17-26 brows (left brow outer -> inner, right brow inner -> outer).
    parts.append(_to_px(_resample(pts["brow_l"][::-1], 5), m, yaw))
    parts.append(_to_px(_resample(pts["brow_r"], 5), m, yaw))
    # 27-30 nose bridge, 31-35 nostrils.
    nose = pts["nose"]
    parts.append(_to_px(np.stack([np.zeros(4), np.linspace(-0.12, nose[1] - 0.02, 4)], 1), m, yaw))
    parts.append(_to_px(np.stack([np.linspace(-0.14, 0.14, 5), np.full(5, nose[1] + 0.03)], 1), m, yaw))
    # 36-47 eyes, six points each, starting at the outer (left eye) / inner (right eye) corner.
    for side in ("l", "r"):
        cx, cy, ew, eh = pts[f"eye_{side}"]
        ring = _ellipse(cx, cy, ew, eh, np.pi, 3 * np.pi, 7)[:6]
        parts.append(_to_px(ring, m, yaw))
    # 48-59 outer lips, 60-67 inner lips.
    left, right = pts["mouth_corners"]
    up, low = np.array([0.0, pts["upper_lip"][1]]), np.array([0.0, pts["lower_lip"][1]])
    upper = _curve(left, up - [0, 0.02], right, 7)
    lower = _curve(right, low + [0, 0.02], left, 7)
    parts.append(_to_px(np.vstack([upper, lower[1:-1]]), m, yaw))
    inner_up = _curve(left, up, right, 5)
    inner_low = _curve(right, low, left, 5)
    parts.append(_to_px(np.vstack([inner_up[:4], inner_low[:4]]), m, yaw))
    out = np.vstack(parts)
    assert out.shape == (68, 2), out.shape
    return out
