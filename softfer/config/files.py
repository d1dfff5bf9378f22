"""Config files: packaged configs, YAML ``base`` chains, ``--set`` overrides, validation, loading.

A YAML file may name a ``base`` file whose values it overrides: a path relative to the file itself or,
when no such file exists, the name of a config shipped with softfer (``base: midas/base_dfew.yaml``).
``--set a.b=value`` overrides are applied last (values parsed as YAML, so ``--set optim.lr=0.01`` gives a
float; a mapping value merges into the section as a ``base`` does). YAML is read by ``yaml_rules``: YAML
1.2 plain values, no key twice, no leading-zero integer.
"""

from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path

import yaml
from pydantic import ValidationError

from softfer.config.schema import ExperimentConfig
from softfer.config.strict import error_lines
from softfer.config.yaml_rules import YamlRuleError, dump_yaml, load_yaml, yaml_error_place
from softfer.io.files import write_text_atomic

log = logging.getLogger(__name__)

# Keys that were removed from the schema. Nothing ever read them, so dropping one changes no result; they
# are dropped (with a warning) rather than refused so that old runs' config.yaml and checkpoints still load.
RETIRED_KEYS = {("run", "log_every"): "it never had an effect"}


def packaged_configs() -> Path:
    """The folder of the configs shipped with softfer: demo/, midas/, dual_domain/."""
    path = Path(str(importlib.resources.files("softfer") / "configs"))
    if not path.is_dir():
        raise ValueError(f"softfer's packaged configs are missing ({path}); reinstall softfer")
    return path


def resolve_config_path(path: str | Path, relative_to: Path | None = None) -> Path:
    """A config file: ``path`` (relative to ``relative_to`` if given) or else the packaged config so named.

    Raises:
        ValueError: when neither exists.
    """
    given = Path(path)
    local = relative_to / given if relative_to is not None else given
    if local.is_file():
        return local
    if local.is_dir():
        inside = local / "config.yaml"
        hint = f": did you mean {inside} (a run's config)?" if inside.is_file() else ": give a YAML file"
        raise ValueError(f"{local} is a folder, not a config file{hint}")
    packaged = packaged_configs() / given
    if not given.is_absolute() and packaged.is_file():
        # the documented way to name a packaged config (or base): nothing is wrong, so nothing to say
        log.debug("%s is not a file; using the packaged config %s", local, packaged)
        return packaged
    raise ValueError(
        f"config file not found: {local} (nor a packaged config of that name; the packaged configs are "
        f"in {packaged_configs()}, `softfer reproduce --list` names them)"
    )


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    if path.resolve() in seen:
        raise ValueError(f"{path}: circular 'base' chain")
    try:  # UTF-8 whatever the locale says: a config reads the same on every machine
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:  # named here: a base deep in a chain is otherwise hard to find
        raise ValueError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None
    except YamlRuleError as exc:
        raise ValueError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML{yaml_error_place(exc)}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a mapping")
    base = data.pop("base", None)
    if base is not None:
        if not isinstance(base, str) or not base.strip():
            raise ValueError(
                f"{path}: base must name one config file (e.g. base: midas/base_dfew.yaml), got {base!r}; "
                "for several, let each base name the next"
            )
        try:
            base_path = resolve_config_path(base, relative_to=path.parent)
        except ValueError as exc:
            raise ValueError(f"{path}: base: {exc}") from None
        return _merge(_read_yaml(base_path, (*seen, path.resolve())), data)
    return data


def _override_value(item: str) -> tuple[list[str], object]:
    """The dotted key and the YAML value of one ``key.sub=value`` override."""
    key, eq, raw = item.partition("=")
    parts = key.strip().split(".")
    if not eq or not all(p.strip() for p in parts):
        raise ValueError(f"override {item!r} must look like key.sub=value")
    try:
        return [p.strip() for p in parts], load_yaml(raw)
    except YamlRuleError as exc:
        raise ValueError(f"override {item!r}: {exc}") from None
    except yaml.YAMLError as exc:  # a Python tag among them: refused, never constructed
        reason = " ".join(str(exc).split())
        raise ValueError(f"override {item!r}: invalid YAML value ({reason})") from None


def config_files(path: str | Path) -> list[Path]:
    """The files a config is read from: ``path`` (as ``load_config`` resolves it) and its ``base`` chain,
    in order. A command that writes passes them to the output rule as inputs: a run's config.yaml must
    never replace a base file that happens to lie in run.out_dir under that name."""
    files = [resolve_config_path(path)]
    while True:
        base = _base_of(files[-1])
        if base is None or base.resolve() in {f.resolve() for f in files}:
            return files  # the end of the chain (a circle is refused by load_config, which ran first)
        files.append(base)


def _base_of(path: Path) -> Path | None:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None  # load_config reads the same file and says what is wrong with it
    base = data.get("base") if isinstance(data, dict) else None
    return (
        resolve_config_path(base, relative_to=path.parent) if isinstance(base, str) and base.strip() else None
    )


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a config dict; a mapping given for a
    section merges into it as a ``base`` does (``--set 'data={root: X}'`` changes data.root only).

    Raises:
        ValueError: naming the override, for a malformed item, a key below a value that is no section, or
            an empty mapping for a section that has keys (merging it would change nothing).
    """
    data = dict(data)
    for item in overrides or []:
        parts, value = _override_value(item)
        node = data
        for at, p in enumerate(parts[:-1]):
            inner = node.get(p)
            if inner is not None and not isinstance(inner, dict):
                above = ".".join(parts[: at + 1])
                raise ValueError(
                    f"override {item!r}: {above} is a value ({inner!r}), not a section with keys: "
                    f"set {above}=VALUE"
                )
            node[p] = dict(inner or {})
            node = node[p]
        old = node.get(parts[-1])
        if isinstance(value, dict) and isinstance(old, dict):
            if not value and old:
                raise ValueError(
                    f"override {item!r}: a mapping merges into {'.'.join(parts)} as a base file's does, "
                    "so {} would change nothing; set its keys one by one"
                )
            value = _merge(old, value)
        node[parts[-1]] = value
    return data


def _drop_retired(data: dict, source: str) -> dict:
    """``data`` without the keys of ``RETIRED_KEYS``, each one found logged."""
    data = dict(data)
    for (section, key), why in RETIRED_KEYS.items():
        node = data.get(section)
        if isinstance(node, dict) and key in node:
            data[section] = {k: v for k, v in node.items() if k != key}
            log.warning("%s: %s.%s is no longer a setting (%s); ignored", source, section, key, why)
    return data


def validate_config(data: dict, source: str = "config") -> ExperimentConfig:
    """Validate a config dict; errors list every bad or unknown key."""
    try:
        return ExperimentConfig.model_validate(_drop_retired(data, source))
    except ValidationError as exc:
        raise ValueError(f"{source}: invalid configuration:\n  " + "\n  ".join(error_lines(exc))) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load a YAML experiment config (with its ``base`` chain) and apply overrides.

    ``path`` is a file, or, when no such file exists, the name of a packaged config such as
    ``midas/dfew_tsm_midas.yaml``.
    """
    resolved = resolve_config_path(path)
    cfg = validate_config(apply_overrides(_read_yaml(resolved), overrides), str(resolved))
    cfg._source_files = tuple(config_files(resolved))
    return cfg


def dump_config(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    write_text_atomic(path, dump_yaml(cfg.model_dump(mode="json")))
