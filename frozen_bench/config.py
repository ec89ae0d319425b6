"""The config layer between Hydra and the plain code: where the configs live, the pre-check of
command-line overrides, the points of a sweep, and lookups in a resolved config. It imports no
wing: ``models.prune`` (the groups a model does not read) and ``train.check_config`` (the values)
read configs with it from above."""

from __future__ import annotations

from pathlib import Path

from frozen_bench.errors import UserError


def conf_dir() -> str:
    """The installed wheel carries the configs as ``frozen_bench/conf``; a source checkout keeps
    them in the top-level ``conf/``."""
    here = Path(__file__).resolve().parent
    shipped = here / "conf"
    return str(shipped if (shipped / "config.yaml").exists() else here.parent / "conf")


_MISSING = object()


def lookup(cfg: dict, dotted: str, default=None):
    """``cfg["a"]["b"]`` for ``"a.b"``, or ``default`` where a part is missing."""
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def has(cfg: dict, dotted: str) -> bool:
    """Whether ``cfg`` holds the dotted key (with any value, None included)."""
    return lookup(cfg, dotted, _MISSING) is not _MISSING


def config_words(argv: list[str]) -> list[str]:
    """The words of a command line that compose a config: key=value overrides, without Hydra's
    flags (-m, --cfg job ...) and its own ``hydra.*`` / ``hydra/...`` overrides (the launcher, the
    sweep dir), which change how a run is launched, not what it computes."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    words = [a for a in argv if "=" in a and not a.startswith("-")]
    return [w for w, o in zip(words, OverridesParser.create().parse_overrides(words)) if not o.is_hydra_override()]


def check_overrides(overrides: list[str], conf: str | Path | None = None) -> None:
    """Unknown config-group options (``transform=foo``, ``+exp=bar``, also inside a sweep
    ``transform=wht,foo``) as one ``UserError`` line listing the valid options, before Hydra
    composes (its own message spans a dozen lines); a sweep value (``transform=wht,dct``) without
    ``-m``; unknown keys, with the near miss (``trainer.epoch`` -> ``trainer.epochs``)."""
    import difflib

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    conf = Path(conf or conf_dir())
    if any(a.split("=")[0] in ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd") for a in overrides):
        return  # another config source: Hydra checks it
    check_stray_words(overrides, conf)
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
    check_repeated_keys(parsed)
    for o in parsed:
        group = o.key_or_group
        if o.is_delete() or "." in group or o.package is not None:
            continue
        if o.is_hydra_override():
            if not group.startswith("hydra/"):
                continue
            options = _hydra_group_options(group, conf)  # hydra/launcher=joblib, hydra/sweeper=optuna
        else:
            folder = conf / group
            if not folder.is_dir():
                continue
            options = sorted(f.stem for f in folder.glob("*.yaml"))
        if not options:
            continue
        if o.is_sweep_override():
            if not o.is_discrete_sweep() or o.value_type.name == "GLOB_CHOICE_SWEEP":
                continue
            values = list(o.sweep_string_iterator())
        else:
            values = [str(o.value())]
        for v in values:
            if v not in options:
                key = f"+{group}" if group in APPENDED else group
                close = difflib.get_close_matches(v, options, n=1, cutoff=0.6)
                fixed = ",".join(close[0] if w == v else w for w in values) if close else None
                raise UserError(f"unknown {key} option {v!r}; " + (f"did you mean {key}={fixed}? " if fixed else "")
                                + f"choose one of {', '.join(options)} "
                                + ("(frozen-bench run --hydra-help)" if group.startswith("hydra/") else "(frozen-bench list)"))
    if not is_multirun(overrides):
        for o in parsed:
            if o.is_sweep_override() and not o.is_hydra_override():
                word = o.input_line or f"{o.get_key_element()}=..."
                raise UserError(f"{word} lists several values, which is a sweep: add -m to run one job per value "
                                f"(frozen-bench run -m {word}), or quote the value to pass one string")
    _compose_check(parsed, conf)


# Hydra's command-line flags that take the next word as their value (``--cfg job``, ``-cn NAME``)
_FLAG_VALUES = ("-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir",
                "--experimental-rerun")
_INFO = ("-i", "--info")  # takes an optional value among these
_INFO_VALUES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")


def check_stray_words(argv: list[str], conf: str | Path | None = None) -> None:
    """A word that is neither an override (key=value) nor one of Hydra's flags or their values
    (``frozen-bench run foo``, ``seed=1 fast``): one line naming it, where Hydra printed a
    five-line parse error, and a run line of ``run-lines`` dropped it silently."""
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word.startswith("-"):
            skip = word in _FLAG_VALUES or (word in _INFO and i + 1 < len(argv) and argv[i + 1] in _INFO_VALUES)
            continue
        if "=" in word:
            continue
        root = Path(conf or conf_dir())
        groups = sorted(g.name for g in root.iterdir() if g.is_dir() and (g / f"{word}.yaml").is_file())
        hint = f"did you mean {' or '.join(('+' if g in APPENDED else '') + f'{g}={word}' for g in groups)}? " if groups else ""
        raise UserError(f"{word!r} is not an override; {hint}write key=value (e.g. seed=1 or +exp=digits_wht), "
                        f"and quote a value with spaces ('key=a b')")


def check_repeated_keys(parsed: list) -> None:
    """The same key given twice with different values (``seed=1 ... seed=2``): Hydra takes the
    last one silently; one line instead. The same value twice (a script joining two lists) is fine."""
    seen: dict[str, str] = {}
    for o in parsed:
        if o.is_hydra_override():
            continue
        key = ("+" if o.is_add() else "") + o.key_or_group + (f"@{o.package}" if o.package else "")
        value = o.input_line or ""
        bare = key.lstrip("+")
        text = value.split("=", 1)[1] if "=" in value else value
        if bare in seen and seen[bare] != text:
            raise UserError(f"{bare} is given twice ({bare}={seen[bare]} and {bare}={text}); Hydra would take the last "
                            f"without a word: give it once")
        seen[bare] = text


def _hydra_group_options(group: str, conf: Path) -> list[str]:
    """The options of one of Hydra's own groups (``hydra/launcher``: basic, joblib, the installed
    plugins' launchers), as Hydra's config search path sees them."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
            return sorted(GlobalHydra.instance().config_loader().get_group_options(group))
    except Exception:  # not a group Hydra knows: composing reports it
        return []


def is_multirun(argv: list[str]) -> bool:
    """``-m``/``--multirun`` (also as ``hydra.mode=MULTIRUN``) among the command-line words."""
    return any(a in ("-m", "--multirun") or a.replace(" ", "") == "hydra.mode=MULTIRUN" for a in argv)


def _near_miss(key: str, cfg) -> str | None:
    """The existing dotted key closest to ``key`` (``trainer.epoch`` -> ``trainer.epochs``), if any."""
    import difflib

    from omegaconf import OmegaConf

    def leaves(node, prefix=""):
        for k, v in node.items():
            full = f"{prefix}{k}"
            yield full
            if isinstance(v, dict):
                yield from leaves(v, full + ".")

    keys = list(leaves(OmegaConf.to_container(cfg, resolve=False)))
    if key in keys:
        return None
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.8)
    return close[0] if close else None


def _suggestion(key: str, value: str, cfg, conf: Path) -> str | None:
    """The word the user probably meant for ``key=value``: the nearest existing key
    (``trainer.epoch`` -> ``trainer.epochs=3``, ``sed`` -> ``seed=1``), or a group
    (``transfrom=dct`` -> ``transform=dct``; ``+famliy=linear`` -> ``+family=linear``, an appended
    group, when ``linear`` is one of its options)."""
    import difflib

    if "." not in key:
        groups = [p.name for p in conf.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))]
        close = difflib.get_close_matches(key, groups, n=1, cutoff=0.8)
        if close and all((conf / close[0] / f"{v}.yaml").exists() for v in value.split(",")):
            return f"{'+' if close[0] in APPENDED else ''}{close[0]}={value}"
    close = _near_miss(key, cfg)
    return f"{close}={value}" if close else None


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
                _explain_unknown_key(parsed, overrides, compose, conf)
                msg = " ".join(ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith(("full_key", "object_type")))
                cause = e.__cause__
                if cause is not None and str(cause).strip():
                    msg += f" ({str(cause).strip().splitlines()[0]})"
                raise UserError(f"{msg}; `frozen-bench run --cfg job` prints the valid keys") from None
            _check_added_keys(parsed, overrides, compose, conf)


def _check_added_keys(parsed: list, overrides: list[str], compose, conf: Path) -> None:
    """``+trainer.epoch=3`` composes (it adds a key), but nothing reads it: a near miss of an
    existing key is a typo, one line."""
    for o in parsed:
        key = o.key_or_group
        if not o.is_add() or o.is_hydra_override() or (conf / key).is_dir() or key in OPT_IN_KEYS:  # +exp=NAME chooses a group
            continue
        others = [w for w in overrides if w.split("=")[0].lstrip("+") != key]
        try:
            base = compose("config", overrides=others)
        except Exception:
            continue
        close = _suggestion(key, o.get_value_element_as_str(), base, conf)
        if close:
            raise UserError(f"+{key} adds a key that frozen-bench does not read; did you mean "
                            f"{close}? (`frozen-bench run --cfg job` prints the valid keys)")


def _explain_unknown_key(parsed: list, overrides: list[str], compose, conf: Path) -> None:
    """When an override names a key the config lacks and a near miss exists, raise that as one
    line (Hydra's own message suggests ``+key=...``, which adds a key nothing reads)."""
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    groups = [w for w in overrides if (conf / w.split("=")[0].lstrip("+~")).is_dir()]  # the group choices only
    try:
        base = compose("config", overrides=groups)
    except (HydraException, OmegaConfBaseException):
        return
    for o in parsed:
        key = o.key_or_group
        if o.is_hydra_override() or o.is_add() or o.is_delete() or OmegaConf.select(base, key, default=KeyError) is not KeyError:
            continue
        value = o.get_value_element_as_str() if not o.is_sweep_override() else ",".join(o.sweep_string_iterator())
        close = _suggestion(key, value, base, conf)
        if close:
            raise UserError(f"Could not override '{key}': there is no such key; did you mean {close}? "
                            f"(`frozen-bench run --cfg job` prints the valid keys)")



def _sweep_plan(overrides: list[str], conf: Path):
    """(the composed hydra config, the sweep config's ``hydra.sweeper.params`` and the command
    line, both parsed) of a ``-m`` command line; None for another config source."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    if any(a.split("=")[0] in ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd") for a in overrides):
        return None
    words = [a for a in overrides if "=" in a and not a.startswith("-")]
    parser = OverridesParser.create()
    cli = parser.parse_overrides(words)
    # compose each sweep at its first value (a range or glob sweep is left out: only the hydra
    # node, which says which sweeper runs and its params, is read here)
    firsts = []
    for w, o in zip(words, cli):
        if not o.is_sweep_override():
            firsts.append(w)
        elif o.is_discrete_sweep() and o.value_type.name != "GLOB_CHOICE_SWEEP":
            firsts.append(f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()), '')}")
    with initialize_config_dir(version_base="1.3", config_dir=str(conf)):
        hc = compose("config", overrides=firsts, return_hydra_config=True).hydra
    params = OmegaConf.select(hc, "sweeper.params", default=None)
    params = OmegaConf.to_container(params, resolve=False) if params is not None else {}
    conf_words = [f"{k}={v}" for k, v in (params or {}).items()]
    return hc, parser.parse_overrides(conf_words), cli


def sweep_keys(overrides: list[str], conf: str | Path | None = None) -> list[str] | None:
    """The keys a ``-m`` sweep varies (``seed=0,1 transform=wht,dct`` -> seed, transform; the
    sweep config's own params too, e.g. optuna's ``optim.lr``): what tells one of its jobs from
    another in a parallel worker's lines. None where the command line cannot be read here."""
    plan = _sweep_plan(overrides, Path(conf or conf_dir()))
    if plan is None:
        return None
    _, params, cli = plan
    varied: dict[str, bool] = {}
    for o in params + cli:  # a later value of a key replaces an earlier one, as in the sweeper
        if not o.is_hydra_override():
            varied[o.get_key_element().lstrip("+~")] = o.is_sweep_override()
    return [k for k, v in varied.items() if v]


def sweep_points(overrides: list[str], conf: str | Path | None = None, limit: int = 2000) -> list[list[str]] | None:
    """The override list of every job a ``-m`` sweep will run, as Hydra's basic sweeper builds
    them (the sweep config's ``hydra.sweeper.params`` first, then the command line; a later
    value of a key replaces an earlier one), so that each point can be validated before the
    first job starts. None where the points cannot be listed here (another sweeper, e.g. optuna;
    a range sweep; another config source; more than ``limit`` points)."""
    import itertools

    from omegaconf import OmegaConf

    plan = _sweep_plan(overrides, Path(conf or conf_dir()))
    if plan is None:
        return None
    hc, params, cli = plan
    if any(o.is_sweep_override() and (not o.is_discrete_sweep() or o.value_type.name == "GLOB_CHOICE_SWEEP")
           for o in cli if not o.is_hydra_override()):
        return None
    if not str(OmegaConf.select(hc, "sweeper._target_", default="")).endswith("BasicSweeper"):
        return None
    final: dict[str, list[str]] = {}
    for o in params + cli:
        if o.is_hydra_override():
            continue
        key = o.get_key_element()
        if o.is_sweep_override():
            if not o.is_discrete_sweep():
                return None
            final[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            final[key] = [f"{key}={o.get_value_element_as_str()}"]
    size = 1
    for v in final.values():
        size *= max(len(v), 1)
    if size > limit:
        return None
    return [list(p) for p in itertools.product(*final.values())]


# The one results folder every command uses by default: `run` writes its records there
# (conf/config.yaml's results_dir, the same value), and collect, summary, figures, predict and
# evaluate read them there. The paper's scripts name results/ explicitly.
RESULTS_DIR = "outputs"

# opt-in keys read with .get() and absent from conf/ (so that runs without them keep their
# signatures), whose names are near misses of existing keys: `+KEY=...` is not a typo for them
OPT_IN_KEYS = ("activation.init_from", "dataset.keep_classes")

# groups not in the root defaults list: chosen with a leading + (`+exp=NAME`, `+family=NAME`)
APPENDED = ("exp", "sweep", "profile", "family")

# groups that only some models read; the model table (frozen_bench.models) says which
COMPONENT_GROUPS = ("transform", "activation", "adapter")


def component_words(overrides: list[str]) -> list[tuple[str, str]]:
    """The command-line words that set a component group or one of its keys (``transform=dct``,
    ``adapter.rank=8``, also inside a sweep), as (word, key): what ``models.prune`` may drop."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser, out = OverridesParser.create(), []
    for word in (a for a in overrides if "=" in a and not a.startswith("-")):
        try:
            o = parser.parse_overrides([word])[0]
        except HydraException:
            continue
        key = o.key_or_group
        if o.is_hydra_override() or o.is_delete() or key.split(".")[0] not in COMPONENT_GROUPS:
            continue
        if key == "adapter" and not o.is_sweep_override() and str(o.value()) == "none":
            continue  # "no adapter" agrees with any model
        out.append((word, key))
    return out

