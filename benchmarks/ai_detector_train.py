"""Train and cross-validate the head of the ``ai_detector`` analyzer.

Reproduces ``src/vericlaim/models/ai_detector_head.npz`` and the figures in
``src/vericlaim/models/ai_detector_metrics.json`` (quoted in MODEL_CARD.md)::

    pip install -e '.[ai]'
    python -m benchmarks.ai_detector_train --data ../shared/data

The training set is ``aigc/real`` and ``aigc/ai`` (25 + 25). Those folders are biased: the
real photos are large camera JPEGs, the generated images 559 px. So every image, whatever
its class, goes through one normalisation chain before the backbone sees it, and the
resolution, file size and JPEG settings of the source carry no label:

1. decoded as the analyzer decodes it (``vericlaim.evidence.load_bytes``);
2. brought to the generated images' own format: short side at most 559 px (area
   resampling), one JPEG encode at quality 75 (the generated images' tables);
3. a platform re-save drawn per crop: scale 0.6-1.0, JPEG quality 60-95;
4. the analyzer's view with jitter: short side 224-352 px (the analyzer uses 288), a
   random 224 px crop, a random mirror.

Evaluation is grouped by source image (no crops of one photo on both sides) and, to ask
whether the head generalises to an unseen generator, leave-one-family-out: each AI family
(``gan``, ``diffusion1`` ... ``diffusion4``) is held out with one real category at a time.
Nothing else from ``../shared/data`` is used for training: the other honest sets stay
unseen, for the false-alarm calibration of the analyzer.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vericlaim.analyzers import _ai_model
from vericlaim.evidence import load_bytes

CANON_SIDE = 559
CANON_QUALITY = 75
CROPS_PER_IMAGE = 8
EXTRA_CROPS = 4
# Honest photos from other sets, as extra "real" examples (every n-th file, sorted): without
# them the only real photos are 25 large camera JPEGs, and every other kind of honest photo
# (a 348 px phone photo, a grey industrial part) looks "not real" to the head.
# Only sets whose licence allows shipping a model trained on them (grocery: MIT); the
# non-commercial sets (NoSo, tiles) serve as unseen honest photos for the false-alarm check.
EXTRA_REAL = {
    "grocery": ("grocery/natural", "*/*.jpg", 12),
}
SEED = 20240611
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1)


@dataclass(frozen=True)
class Source:
    path: Path
    label: int  # 1 = AI-generated
    family: str  # AI family or real category, from the file name


def sources(data: Path, *, extras: bool = True) -> list[Source]:
    """The aigc sets first (family from the file name), then the extra honest photos
    (family = their set)."""
    out = []
    for label, folder in ((0, "real"), (1, "ai")):
        for path in sorted((data / "aigc" / folder).iterdir()):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                out.append(Source(path, label, path.stem.rsplit("_", 1)[0]))
    if extras:
        for family, (folder, pattern, every) in EXTRA_REAL.items():
            files = sorted((data / folder).glob(pattern))
            out += [Source(path, 0, family) for path in files[::every]]
    return out


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def resize_short(pixels: np.ndarray, side: float) -> np.ndarray:
    h, w = pixels.shape[:2]
    f = side / min(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def canonical(pixels: np.ndarray) -> np.ndarray:
    """Step 2: the generated images' format, for every image."""
    if min(pixels.shape[:2]) > CANON_SIDE:
        pixels = resize_short(pixels, CANON_SIDE)
    return jpeg(pixels, CANON_QUALITY)


def chained_crop(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Steps 3 and 4: one platform re-save and one jittered analyzer view."""
    h, w = pixels.shape[:2]
    scale = rng.uniform(0.6, 1.0)
    resaved = cv2.resize(
        pixels, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    resaved = jpeg(resaved, int(rng.integers(60, 96)))
    seen = resize_short(resaved, rng.uniform(_ai_model.CROP, 352))
    sh, sw = seen.shape[:2]
    y = int(rng.integers(0, sh - _ai_model.CROP + 1))
    x = int(rng.integers(0, sw - _ai_model.CROP + 1))
    crop = seen[y : y + _ai_model.CROP, x : x + _ai_model.CROP]
    return np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)


def frame_pixels(path: Path) -> np.ndarray:
    evidence = load_bytes(path.read_bytes(), role="claim", media_id=path.name)
    return np.asarray(evidence.frames[0].pixels)


def extract(items: list[Source], cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chained-crop features (sum of K, D), their source index, and the analyzer-view
    features of each untouched source (N, 3, D), cached per source in ``cache``."""
    cache.mkdir(parents=True, exist_ok=True)
    chained, group, plain = [], [], []
    for index, source in enumerate(items):
        file = cache / f"{index:04d}_{source.family}_{source.path.stem}.npz"
        if not file.exists():
            started = time.perf_counter()
            pixels = frame_pixels(source.path)
            rng = np.random.default_rng([SEED, index])
            base = canonical(pixels)
            count = CROPS_PER_IMAGE if source.path.parent.parent.name == "aigc" else EXTRA_CROPS
            crops = np.stack([chained_crop(base, rng) for _ in range(count)])
            view_crops, _ = _ai_model.crops_for_view(_ai_model.view(pixels))
            np.savez(
                file,
                chained=_ai_model.features(crops),
                plain=_ai_model.features(view_crops),
            )
            print(f"{source.path.name}: {time.perf_counter() - started:.1f} s", flush=True)
        with np.load(file) as data:
            chained.append(data["chained"])
            plain.append(data["plain"])
        group += [index] * len(chained[-1])
    return np.concatenate(chained), np.array(group), np.stack(plain)


# --- the head -------------------------------------------------------------------------
def fit(x: np.ndarray, y: np.ndarray, c: float) -> _ai_model.Head:
    """L2-regularised logistic regression (classes weighted equally), fitted with L-BFGS."""
    import torch

    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-3
    z = torch.from_numpy(((x - mean) / std).astype(np.float64))
    t = torch.from_numpy(y.astype(np.float64))
    weights = torch.where(t > 0, 0.5 / max(1, int(y.sum())), 0.5 / max(1, int((1 - y).sum())))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = z @ w + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, t, weight=weights, reduction="sum"
        )
        loss = loss + 0.5 / (c * len(y)) * (w * w).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return _ai_model.Head(
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
        weight=w.detach().numpy().astype(np.float32),
        bias=float(b.item()),
    )


def image_logits(head: _ai_model.Head, feats: np.ndarray, group: np.ndarray) -> dict[int, float]:
    logits = head.logit(feats)
    return {int(g): float(logits[group == g].mean()) for g in np.unique(group)}


def auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half)."""
    n, p = np.asarray(negatives)[:, None], np.asarray(positives)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (n.size * p.size))


def bootstrap_auc(neg: np.ndarray, pos: np.ndarray, rounds: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(SEED)
    values = [auc(rng.choice(neg, neg.size), rng.choice(pos, pos.size)) for _ in range(rounds)]
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def grouped_cv(
    items: list[Source], x: np.ndarray, group: np.ndarray, c: float, repeats: int = 5
) -> np.ndarray:
    """Out-of-fold image logits, 5 folds stratified by class, grouped by source; averaged
    over ``repeats`` shuffles."""
    labels = np.array([s.label for s in items])
    y = labels[group]
    scores = np.zeros((repeats, len(items)))
    for r in range(repeats):
        rng = np.random.default_rng([SEED, r])
        fold = np.empty(len(items), dtype=int)
        for label in (0, 1):
            idx = rng.permutation(np.flatnonzero(labels == label))
            fold[idx] = np.arange(idx.size) % 5
        for k in range(5):
            train = fold[group] != k
            head = fit(x[train], y[train], c)
            for g, value in image_logits(head, x[~train], group[~train]).items():
                scores[r, g] = value
    return np.asarray(scores.mean(axis=0))


def leave_family_out(
    items: list[Source], x: np.ndarray, group: np.ndarray, c: float
) -> dict[str, dict[str, float]]:
    """Each AI family held out together with each real category in turn: the AUC of the
    unseen family against the unseen real photos."""
    labels = np.array([s.label for s in items])
    families = np.array([s.family for s in items])
    y = labels[group]
    ai_families = sorted({s.family for s in items if s.label == 1})
    real_groups = sorted({s.family for s in items if s.label == 0})
    out: dict[str, dict[str, float]] = {}
    for family in ai_families:
        pos: dict[int, list[float]] = {}
        neg: dict[int, float] = {}
        for real in real_groups:
            held = np.isin(families, [family, real])
            train = ~held[group]
            head = fit(x[train], y[train], c)
            for g, value in image_logits(head, x[~train], group[~train]).items():
                if labels[g] == 1:
                    pos.setdefault(g, []).append(value)
                else:
                    neg[g] = value
        p = np.array([np.mean(v) for v in pos.values()])
        n = np.array(list(neg.values()))
        out[family] = {"auc": round(auc(n, p), 3), "n_ai": int(p.size), "n_real": int(n.size)}
    return out


def leave_set_out(
    items: list[Source], x: np.ndarray, group: np.ndarray, c: float
) -> dict[str, list[float]]:
    """Each extra honest set held out whole: its image probabilities under a head that
    never saw that kind of photo (the false-alarm risk on an unseen kind of honest photo)."""
    labels = np.array([s.label for s in items])
    families = np.array([s.family for s in items])
    out = {}
    for family in EXTRA_REAL:
        held = (families == family)[group]
        head = fit(x[~held], labels[group][~held], c)
        logits = image_logits(head, x[held], group[held])
        out[family] = sorted(round(float(1 / (1 + np.exp(-v))), 4) for v in logits.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ai_detector_features"))
    parser.add_argument("--out", type=Path, default=Path("src/vericlaim/models"))
    args = parser.parse_args()

    items = sources(args.data)
    labels = np.array([s.label for s in items])
    x, group, plain = extract(items, args.cache)
    y = labels[group]

    by_c = {}
    for c in C_GRID:
        oof = grouped_cv(items, x, group, c)
        by_c[c] = auc(oof[labels == 0], oof[labels == 1])
        print(f"C={c}: grouped 5-fold AUC {by_c[c]:.3f}", flush=True)
    c = max(by_c, key=lambda k: (round(by_c[k], 3), -k))  # ties: the stronger regulariser
    oof = grouped_cv(items, x, group, c)
    neg, pos = oof[labels == 0], oof[labels == 1]
    lo, hi = bootstrap_auc(neg, pos)
    families = leave_family_out(items, x, group, c)
    aigc_real = np.array([s.label == 0 and s.path.parent.name == "real" for s in items])
    unseen_sets = leave_set_out(items, x, group, c)
    head = fit(x, y, c)

    # The analyzer's own view of the untouched files: biased (resolution differs by class),
    # reported only to show how much of the bias survives the view.
    plain_logits = head.logit(plain.reshape(-1, plain.shape[-1])).reshape(plain.shape[:2])
    plain_scores = plain_logits.mean(axis=1)

    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out / _ai_model.HEAD_FILE,
        mean=head.mean,
        std=head.std,
        weight=head.weight,
        bias=np.float32(head.bias),
    )
    metrics = {
        "training_images": {
            "ai": int(labels.sum()),
            "real": {f: sum(s.family == f for s in items) for f in EXTRA_REAL}
            | {"aigc_real": int(aigc_real.sum())},
        },
        "crops_per_image": CROPS_PER_IMAGE,
        "feature_dim": int(x.shape[1]),
        "c_grid_auc": {str(k): round(v, 3) for k, v in by_c.items()},
        "c": c,
        "grouped_cv_auc": round(auc(neg, pos), 3),
        "grouped_cv_auc_95ci": [round(lo, 3), round(hi, 3)],
        "oof_logits": {s.path.name: round(float(v), 3) for s, v in zip(items, oof, strict=True)},
        "grouped_cv_auc_vs_aigc_real": round(auc(oof[aigc_real], pos), 3),
        "leave_one_family_out": families,
        "leave_one_set_out_probabilities": unseen_sets,
        "in_sample_plain_view_auc": round(
            auc(plain_scores[labels == 0], plain_scores[labels == 1]), 3
        ),
    }
    (args.out / "ai_detector_metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if k != "oof_logits"}))


if __name__ == "__main__":
    main()
