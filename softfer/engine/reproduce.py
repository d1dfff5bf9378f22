"""`softfer reproduce TABLE`: run the configs behind a paper table and print ours beside the paper's."""

from __future__ import annotations

from pathlib import Path

from softfer.config import ExperimentConfig, load_config

PERCENT_PAPERS = {"midas"}  # MIDAS reports percentages, the dual-domain paper fractions


def configs_dir() -> Path:
    """configs/ of the source checkout."""
    path = Path(__file__).resolve().parents[2] / "configs"
    if not path.is_dir():
        raise ValueError(f"configs not found at {path}; run softfer from its source checkout")
    return path


def table_configs(overrides: list[str] | None = None) -> dict[str, list[tuple[Path, ExperimentConfig]]]:
    """Every experiment config grouped by "<paper>-table<N>"."""
    tables: dict[str, list[tuple[Path, ExperimentConfig]]] = {}
    for path in sorted(configs_dir().rglob("*.yaml")):
        if path.name.startswith("base") or "demo" in path.parts:
            continue
        cfg = load_config(path, overrides)
        if cfg.reference.table:
            tables.setdefault(f"{cfg.reference.paper}-table{cfg.reference.table}", []).append((path, cfg))
    return tables


def _fmt(v: float | None, percent: bool) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.2f}" if percent else f"{v:.4f}"


def reproduce(
    table: str,
    *,
    overrides: list[str] | None = None,
    folds: tuple[int, ...] = (1, 2, 3, 4, 5),
    list_only: bool = False,
) -> str:
    """Run (or, with ``list_only``, list) one table's experiments; returns a Markdown comparison."""
    from softfer.engine.crossval import cross_validate
    from softfer.engine.train import fit

    tables = table_configs(overrides)
    if list_only or table not in tables:
        lines = [f"unknown table {table!r}; available:" if not list_only else "tables and their configs:"]
        for name, items in tables.items():
            lines.append(f"  {name}: " + ", ".join(p.stem for p, _ in items))
        if not list_only:
            raise ValueError("\n".join(lines))
        return "\n".join(lines)
    rows = []
    for path, cfg in tables[table]:
        percent = cfg.reference.paper in PERCENT_PAPERS
        if cfg.data.format == "dfew" and not cfg.data.test_format:
            summary = cross_validate(cfg, folds=folds)
            ours = {k: v["mean"] for k, v in summary["metrics"].items()}
        else:
            run = Path(cfg.run.out_dir) / "metrics.json"
            resume = (
                str(Path(cfg.run.out_dir) / "last.pt")
                if (Path(cfg.run.out_dir) / "last.pt").exists()
                else None
            )
            ours = fit(cfg, resume=resume) if not run.exists() else __import__("json").loads(run.read_text())
        for key, paper_value in cfg.reference.metrics.items():
            value = ours.get(key)
            paper = paper_value / 100 if percent else paper_value
            rows.append(
                f"| {cfg.reference.row} | {key} | {_fmt(paper, percent)} | {_fmt(value, percent)} "
                f"| {path.stem} |"
            )
    unit = " (%)" if tables[table][0][1].reference.paper in PERCENT_PAPERS else ""
    head = [
        f"## {table}{unit}: paper vs. this run",
        "",
        "| row | metric | paper | ours | config |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(head + rows)
