"""The generative model of the synthetic benchmark: latent emotion mixtures, dynamics, annotators, VA.

Everything a clip needs is drawn from one ``numpy.random.Generator`` seeded by (seed, clip index), so a
clip is the same whichever worker makes it and in whatever order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from softfer.classes import DFEW_CLASSES

# Action-unit-like controls driving the renderer (all roughly in [-1, 1]).
CONTROLS = (
    "brow_raise",  # AU1+2: whole brow up
    "brow_lower",  # AU4: brows down and together
    "brow_inner",  # AU1: inner corners up (sadness, fear)
    "eye_open",  # AU5 (+) widen / AU7 (-) tighten
    "cheek_raise",  # AU6
    "lip_corner",  # AU12 (+) pull up / AU15 (-) depress
    "lip_asym",  # one-sided AU12/AU14 (contempt)
    "mouth_open",  # AU25/26/27
    "mouth_stretch",  # AU20: horizontal stretch
    "lip_press",  # AU23/24
    "nose_wrinkle",  # AU9
    "upper_lip",  # AU10: upper lip raise
)
C = {name: i for i, name in enumerate(CONTROLS)}

# Prototype control vectors of each class at full intensity.
PROTOTYPES: dict[str, dict[str, float]] = {
    "happy": {"lip_corner": 1.0, "cheek_raise": 0.9, "mouth_open": 0.35, "eye_open": -0.35},
    "sad": {"brow_inner": 1.0, "lip_corner": -0.9, "eye_open": -0.4, "brow_lower": 0.2},
    "neutral": {},
    "angry": {"brow_lower": 1.0, "lip_press": 0.9, "eye_open": 0.25, "nose_wrinkle": 0.2},
    "surprise": {"brow_raise": 1.0, "eye_open": 1.0, "mouth_open": 1.0},
    "disgust": {"nose_wrinkle": 1.0, "upper_lip": 0.9, "brow_lower": 0.5, "lip_corner": -0.35},
    "fear": {"brow_raise": 0.6, "brow_inner": 0.8, "eye_open": 0.9, "mouth_stretch": 1.0, "mouth_open": 0.45},
    "contempt": {"lip_asym": 1.0, "lip_press": 0.3, "eye_open": -0.15},
}

# Circumplex positions (valence, arousal) of the classes at full intensity.
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "happy": (0.8, 0.45),
    "sad": (-0.7, -0.45),
    "neutral": (0.0, 0.0),
    "angry": (-0.65, 0.65),
    "surprise": (0.25, 0.8),
    "disgust": (-0.75, 0.25),
    "fear": (-0.45, 0.8),
    "contempt": (-0.5, 0.15),
}

# DFEW-like class frequencies of the primary emotion (neutral and happy frequent, disgust ~1.5 %).
DFEW_PRIORS = np.array([0.23, 0.18, 0.26, 0.16, 0.10, 0.015, 0.055])
AFFECTNET_PRIORS = np.array([0.22, 0.30, 0.09, 0.07, 0.06, 0.05, 0.13, 0.08])

# Which emotions blend with which (MIDAS Fig. 5): neutral with every class; angry with disgust; sad,
# surprise and fear with each other; happy mostly clear. Rows: primary; columns: partner weights.
_COEXIST = {
    "happy": {"neutral": 1.0, "surprise": 0.3},
    "sad": {"neutral": 1.0, "fear": 0.6, "surprise": 0.3, "angry": 0.2},
    "neutral": {"sad": 0.5, "happy": 0.4, "angry": 0.4, "surprise": 0.3, "fear": 0.2, "disgust": 0.2},
    "angry": {"disgust": 1.0, "neutral": 0.8, "sad": 0.2},
    "surprise": {"fear": 0.9, "neutral": 0.7, "happy": 0.4, "sad": 0.2},
    "disgust": {"angry": 1.0, "neutral": 0.8, "sad": 0.3},
    "fear": {"surprise": 0.9, "sad": 0.7, "neutral": 0.6},
    "contempt": {"neutral": 1.0, "disgust": 0.5, "angry": 0.4},
}


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of the generative model (docs/SYNTHETIC.md explains each)."""

    classes: tuple[str, ...] = DFEW_CLASSES
    priors: tuple[float, ...] = tuple(DFEW_PRIORS)
    blend_rate: float = 0.55  # share of clips that blend 2-3 emotions
    happy_blend_factor: float = 0.4  # happy clips blend this much less often
    min_frames: int = 12
    max_frames: int = 60
    annotators: int = 10
    perception_temperature: float = 0.55  # < 1 sharpens what annotators see towards the dominant emotion
    confusion: float = 0.16  # share of perception mass leaked to coexisting classes
    neutral_lean: float = 0.35  # extra neutral perception for weak expressions
    annotator_spread: float = 12.0  # Dirichlet concentration of per-annotator perception (lower = noisier)
    single_label_share: float = 0.5  # single-labelled: one strict top class with >= this share of votes
    va_noise: float = 0.08
    occlusion_rate: float = 0.1
    size: int = 112
    jpeg_quality: tuple[int, int] = (70, 95)
    coexist: dict[str, dict[str, float]] = field(default_factory=lambda: _COEXIST)


@dataclass
class ClipSpec:
    """Everything sampled for one clip (latent truth, dynamics, annotation)."""

    mixture: np.ndarray  # (K,) latent emotion weights
    primary: int
    apex: float  # peak expression intensity
    intensity: np.ndarray  # (T,) expression intensity per frame
    votes: np.ndarray  # (K,) annotator vote counts
    va: np.ndarray  # (2,) clip valence/arousal annotation
    frame_va: np.ndarray  # (T, 2)
    controls: np.ndarray  # (T, len(CONTROLS)) renderer controls per frame


def prototype_matrix(classes: tuple[str, ...]) -> np.ndarray:
    """(K, len(CONTROLS)) control prototypes of the given classes."""
    m = np.zeros((len(classes), len(CONTROLS)))
    for k, name in enumerate(classes):
        for ctrl, v in PROTOTYPES[name].items():
            m[k, C[ctrl]] = v
    return m


def sample_mixture(cfg: SynthConfig, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Latent mixture over classes and its primary (largest) class."""
    k = len(cfg.classes)
    primary = int(rng.choice(k, p=np.asarray(cfg.priors) / np.sum(cfg.priors)))
    w = np.zeros(k)
    name = cfg.classes[primary]
    rate = cfg.blend_rate * (cfg.happy_blend_factor if name == "happy" else 1.0)
    if rng.random() >= rate:
        w[primary] = 1.0
        return w, primary
    partners = {cfg.classes.index(c): v for c, v in cfg.coexist[name].items() if c in cfg.classes}
    idx = np.array(list(partners))
    p = np.array(list(partners.values()))
    n_extra = 2 if rng.random() < 0.25 and len(idx) > 1 else 1
    chosen = rng.choice(idx, size=n_extra, replace=False, p=p / p.sum())
    main = rng.uniform(0.5, 0.85)
    rest = rng.dirichlet(np.full(n_extra, 2.0)) * (1.0 - main)
    w[primary] = main
    w[chosen] = rest
    return w, primary


def intensity_curve(length: int, apex: float, rng: np.random.Generator) -> np.ndarray:
    """Onset -> apex -> offset profile over ``length`` frames (piecewise linear, smooth enough)."""
    t = np.arange(length)
    onset_start = rng.uniform(0.0, 0.25) * length
    onset_end = onset_start + rng.uniform(0.15, 0.35) * length
    offset_start = onset_end + rng.uniform(0.2, 0.45) * length
    offset_end = offset_start + rng.uniform(0.1, 0.3) * length
    residual = rng.uniform(0.2, 0.6)  # expressions rarely vanish completely by the clip's end
    rise = np.clip((t - onset_start) / max(onset_end - onset_start, 1e-6), 0.0, 1.0)
    fall = np.clip((t - offset_start) / max(offset_end - offset_start, 1e-6), 0.0, 1.0)
    return apex * rise * (1.0 - (1.0 - residual) * fall)


def perceived_distribution(mixture: np.ndarray, apex: float, cfg: SynthConfig) -> np.ndarray:
    """What an average annotator sees: a sharpened mixture, leaks to coexisting classes, neutral lean."""
    k = len(cfg.classes)
    sharp = np.power(mixture + 1e-9, 1.0 / cfg.perception_temperature)
    sharp /= sharp.sum()
    leak = np.zeros(k)
    for i, name in enumerate(cfg.classes):
        for other, v in cfg.coexist[name].items():
            if other in cfg.classes:
                leak[cfg.classes.index(other)] += sharp[i] * v
    leak /= max(leak.sum(), 1e-12)
    p = (1.0 - cfg.confusion) * sharp + cfg.confusion * leak
    if "neutral" in cfg.classes:
        weak = cfg.neutral_lean * (1.0 - apex)
        p = (1.0 - weak) * p
        p[cfg.classes.index("neutral")] += weak
    return p / p.sum()


def annotate(mixture: np.ndarray, apex: float, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Vote counts of ``cfg.annotators`` annotators, each voting from a noisy copy of the perception."""
    p = perceived_distribution(mixture, apex, cfg)
    personal = rng.dirichlet(p * cfg.annotator_spread + 1e-3, size=cfg.annotators)
    picks = (personal.cumsum(axis=1) > rng.random((cfg.annotators, 1))).argmax(axis=1)
    return np.bincount(picks, minlength=len(cfg.classes))


def valence_arousal(
    mixture: np.ndarray, intensity: np.ndarray, apex: float, cfg: SynthConfig, rng: np.random.Generator
):
    """Clip VA (at the apex) and per-frame VA from circumplex class positions, plus annotator noise."""
    pos = np.array([CIRCUMPLEX[c] for c in cfg.classes])
    target = mixture @ pos
    clip = np.clip(target * apex + rng.normal(0, cfg.va_noise, 2), -1.0, 1.0)
    frames = np.clip(
        intensity[:, None] * target + rng.normal(0, cfg.va_noise / 2, (len(intensity), 2)), -1.0, 1.0
    )
    return clip, frames


def sample_clip(cfg: SynthConfig, rng: np.random.Generator, *, still: bool = False) -> ClipSpec:
    """Draw one clip (or, with ``still``, one apex image) from the generative model."""
    mixture, primary = sample_mixture(cfg, rng)
    apex = float(rng.uniform(0.45, 1.0))
    if still:
        intensity = np.array([apex])
    else:
        length = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
        intensity = intensity_curve(length, apex, rng)
    votes = annotate(mixture, apex, cfg, rng)
    va, frame_va = valence_arousal(mixture, intensity, apex, cfg, rng)
    idiosyncrasy = rng.normal(0.0, 0.08, len(CONTROLS))  # a person's own way of expressing
    controls = intensity[:, None] * (mixture @ prototype_matrix(cfg.classes))[None, :] + idiosyncrasy
    return ClipSpec(mixture, primary, apex, intensity, votes, va, frame_va, controls)


def is_single_labelled(votes: np.ndarray, cfg: SynthConfig) -> bool:
    """DFEW-like rule: one class strictly ahead of all others and holding >= ``single_label_share``."""
    top = np.sort(votes)[::-1]
    return bool(top[0] > top[1] and top[0] >= cfg.single_label_share * votes.sum())
