"""One mechanism for the names users type: a ``Registry`` maps a name to a builder (and facts about it).

Datasets, transforms, activations, adapters, norms, filter banks, models and figures each keep one
``Registry``, filled by literal ``add`` lines (or ``@REG.register(name)``) in the module that owns
them, so a reader can go from a config value to the code that builds it by searching for the name.
An unknown name is one line listing the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable
    meta: dict = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:  # entry.reads, entry.kind, ... from meta
        try:
            return self.__dict__["meta"][key]
        except KeyError:
            raise AttributeError(key) from None


class Registry:
    def __init__(self, kind: str, key: str | None = None):
        """``kind`` names the things in error messages ("activation"); ``key`` is the config key
        that chooses one (``activation=NAME``), shown in the fix."""
        self.kind, self.key = kind, key or kind
        self._entries: dict[str, Entry] = {}

    def add(self, name: str, build: Callable, **meta) -> Callable:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, build, meta)
        return build

    def register(self, name: str, **meta) -> Callable[[Callable], Callable]:
        return lambda build: self.add(name, build, **meta)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())} "
                             f"({self.key}=NAME)") from None

    def build(self, name: str, *args, **kwargs):
        return self.entry(name).build(*args, **kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:  # the names, sorted, like a dict's keys
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
