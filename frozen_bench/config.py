"""The config layer between Hydra and the plain code: where the configs live, the pre-check of
command-line overrides, and ``prune``, which drops the groups a model does not read."""

from __future__ import annotations

from pathlib import Path

from frozen_bench.errors import UserError


def conf_dir() -> str:
    """The installed wheel carries the configs as ``frozen_bench/conf``; a source checkout keeps
    them in the top-level ``conf/``."""
    here = Path(__file__).resolve().parent
    shipped = here / "conf"
    return str(shipped if (shipped / "config.yaml").exists() else here.parent / "conf")


def check_overrides(overrides: list[str], conf: str | Path | None = None) -> None:
    """Unknown config-group options (``transform=foo``, ``+exp=bar``, also inside a sweep
    ``transform=wht,foo``) as one ``UserError`` line listing the valid options, before Hydra
    composes (its own message spans a dozen lines)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    conf = Path(conf or conf_dir())
    if any(a.split("=")[0] in ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd") for a in overrides):
        return  # another config source: Hydra checks it
    # overrides are key=value words; flags (-m, --cfg job, --info ...) and their values are Hydra's
    words = [a for a in overrides if "=" in a and not a.startswith("-")]
    parser, parsed = OverridesParser.create(), []
    for word in words:
        try:
            parsed += parser.parse_overrides([word])
        except HydraException as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"cannot parse the override {word!r} ({first}); write key=value, e.g. "
                            f"trainer.epochs=5 or a sweep seed=0,1,2 (Hydra's override grammar)") from None
    for o in parsed:
        group = o.key_or_group
        if o.is_hydra_override() or o.is_delete() or "." in group or o.package is not None:
            continue
        folder = conf / group
        if not folder.is_dir():
            continue
        options = sorted(f.stem for f in folder.glob("*.yaml"))
        if o.is_sweep_override():
            if not o.is_discrete_sweep() or o.value_type.name == "GLOB_CHOICE_SWEEP":
                continue
            values = list(o.sweep_string_iterator())
        else:
            values = [str(o.value())]
        for v in values:
            if v not in options:
                key = f"+{group}" if group == "exp" else group
                raise UserError(f"unknown {key} option {v!r}; choose one of {', '.join(options)} (frozen-bench list)")
    _compose_check(parsed, conf)


def _compose_check(parsed: list, conf: Path, limit: int = 64) -> None:
    """Compose the config as Hydra will (each sweep value once, the others at their first value)
    so that an unknown key or a bad type is one line before the first job starts, not a
    multi-line report after some jobs of a sweep already ran."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    choices = []
    for o in parsed:
        if o.is_hydra_override() or (o.is_sweep_override() and (not o.is_discrete_sweep() or o.value_type.name == "GLOB_CHOICE_SWEEP")):
            continue
        values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        choices.append((o.get_key_element(), values or [""]))
    first = [f"{k}={v[0]}" for k, v in choices]
    variants = [first] + [first[:i] + [f"{k}={v}"] + first[i + 1:] for i, (k, vals) in enumerate(choices) for v in vals[1:]]
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        for overrides in variants[:limit]:
            try:
                compose("config", overrides=overrides)
            except (HydraException, OmegaConfBaseException) as e:
                msg = " ".join(ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith(("full_key", "object_type")))
                cause = e.__cause__
                if cause is not None and str(cause).strip():
                    msg += f" ({str(cause).strip().splitlines()[0]})"
                raise UserError(f"{msg}; `frozen-bench run --cfg job` prints the valid keys") from None



# groups that only some models read; the model table (frozen_bench.models) says which
COMPONENT_GROUPS = ("transform", "activation", "adapter")


def prune(cfg: dict) -> dict:
    """The resolved config without the component groups its model does not read (and without
    ``adapter.rank`` when there is no adapter), so that equal networks get one signature and a
    record names only what was trained: ``model=dense_mlp transform=dct`` is ``model=dense_mlp``."""
    from frozen_bench.models import MODELS, reads

    model = cfg.get("model") or {}
    if model.get("name") not in MODELS:
        return cfg  # composing already rejects an unknown model; a plain dict caller gets the builder's error
    keep = set(reads(model))
    out = {k: v for k, v in cfg.items() if k not in COMPONENT_GROUPS or k in keep}
    if isinstance(out.get("adapter"), dict) and out["adapter"].get("name") == "none":
        out["adapter"] = {"name": "none"}
    if isinstance(out.get("augment"), dict) and out["augment"].get("name") == "none":
        del out["augment"]  # no augmentation: the signature of a run from before the group existed
    return out
