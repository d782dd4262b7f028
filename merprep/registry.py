"""One registry mechanism for every named choice: datasets, landmark backends, commands,
models, protocols, tasks, executors.

An entry is registered either eagerly (an object, or a decorator on a class or function) or
lazily as ``"module:attribute"``, imported the first time it is asked for, so looking names up
(``--help``, listing choices) never imports OpenCV, MediaPipe or TensorFlow. A renamed entry
keeps its old name as a deprecation alias: old run directories and scripts still resolve, and
the user is told the new name once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Generic, TypeVar, overload

log = logging.getLogger(__name__)

T = TypeVar("T")


class UnknownName(ValueError):
    """A name no entry (or alias) of the registry has."""


@dataclass(frozen=True)
class Alias:
    """An old name kept for ``new``; ``since`` says which release renamed it."""

    new: str
    since: str


class Registry(Generic[T]):
    """Named entries of one ``kind`` (used in messages: "unknown dataset 'x'; choose one of ...")."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._aliases: dict[str, Alias] = {}
        self._warned: set[str] = set()
        self._order: list[str] = []

    # -- registering ---------------------------------------------------------------------------
    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: Any = None) -> Any:
        """``registry.register(name, obj)``, or ``@registry.register(name)`` on a definition."""
        if obj is None:

            def deco(target: T) -> T:
                self._add(name, target)
                return target

            return deco
        self._add(name, obj)
        return obj

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"module:attribute"``, imported on first :meth:`get`."""
        module, sep, attr = target.partition(":")
        if not sep or not module or not attr:
            raise ValueError(
                f"{self.kind} {name!r}: lazy target must be 'module:attribute', got {target!r}"
            )
        self._check_new(name)
        self._lazy[name] = target
        self._order.append(name)

    def alias(self, old: str, new: str, *, since: str) -> None:
        """Keep ``old`` resolving to ``new`` (renamed in release ``since``)."""
        if new not in self:
            raise ValueError(f"{self.kind} alias {old!r} -> {new!r}: no such {self.kind}")
        self._check_new(old)
        self._aliases[old] = Alias(new, since)

    def _check_new(self, name: str) -> None:
        if name in self._entries or name in self._lazy or name in self._aliases:
            raise ValueError(f"{self.kind} {name!r} is already registered")

    def _add(self, name: str, obj: T) -> None:
        self._check_new(name)
        self._entries[name] = obj
        self._order.append(name)

    # -- looking up ----------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """The current name for ``name`` (an alias is reported once per process)."""
        alias = self._aliases.get(name)
        if alias is not None:
            if name not in self._warned:
                self._warned.add(name)
                log.warning(
                    "%s %r was renamed %r in %s; the old name still works",
                    self.kind,
                    name,
                    alias.new,
                    alias.since,
                )
            return alias.new
        if name in self._entries or name in self._lazy:
            return name
        raise UnknownName(f"unknown {self.kind} {name!r}; choose one of {', '.join(self)}")

    def get(self, name: str) -> T:
        """The entry for ``name`` (or an alias of it), importing a lazy one now."""
        name = self.canonical(name)
        if name not in self._entries:
            module, _, attr = self._lazy[name].partition(":")
            self._entries[name] = getattr(import_module(module), attr)
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def names(self) -> list[str]:
        """Current names in registration order (aliases left out)."""
        return list(self._order)

    def aliases(self) -> dict[str, Alias]:
        return dict(self._aliases)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy or name in self._aliases

    def __len__(self) -> int:
        return len(self.names())
