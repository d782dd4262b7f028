"""Action units as the sample generator plans and writes them.

The generator must not share parsing code with the adapters it tests (a shared mistake would
pass both), so it never parses an AU string: each annotation is planned as structured AUs
(:class:`AU`, alternatives with :func:`either`) and *written* to text here, the way each
dataset writes it (``4+7``, ``R12``, ``A1+A2``, ``4 or 7``, CAS(ME)^3 part C's ``R4,5``). The
adapters parse that text with :func:`merprep.datasets.base.parse_aus`; tests compare their
parse with :meth:`AUText.codes`, the programmed truth (also in the truth file's ``au_codes``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AU:
    """One action unit as annotated: ``R12`` is AU(12, side="R"); ``14C`` is
    AU(14, intensity="C"); SAMM's ``A1`` is AU(1, side="A")."""

    code: int
    side: str = ""  # "", "L", "R" (one side of the face), "A"/"B" (as SAMM prefixes)
    intensity: str = ""  # "" or a FACS intensity letter A-E

    def written(self) -> str:
        return f"{self.side}{self.code}{self.intensity}"


def R(code: int) -> AU:
    return AU(code, "R")


def L(code: int) -> AU:
    return AU(code, "L")


def A(code: int) -> AU:
    return AU(code, "A")


@dataclass(frozen=True)
class Either:
    """Alternatives the annotator could not decide between (``4 or 7``)."""

    options: tuple[AU, ...]

    def written(self) -> str:
        return " or ".join(au.written() for au in self.options)


def either(*options: AU) -> Either:
    return Either(tuple(options))


class AUText(str):
    """An AU annotation: the text a sheet holds (this *is* a ``str``) and the AUs it stands
    for (:meth:`codes`), built from the AUs, never parsed from the text."""

    terms: tuple[AU | Either, ...]

    def __new__(cls, terms: Iterable[AU | Either], sep: str = "+") -> AUText:
        terms = tuple(terms)
        text = super().__new__(cls, sep.join(t.written() for t in terms))
        text.terms = terms
        return text

    def aus(self) -> list[AU]:
        """Every AU written, alternatives included (what the sample animates)."""
        out: list[AU] = []
        for term in self.terms:
            out += list(term.options) if isinstance(term, Either) else [term]
        return out

    def codes(self) -> list[dict[str, Any]]:
        """The programmed AUs in the form a store record's ``au_codes`` has: code, side
        (None when not written), intensity (None), uncertain (alternatives)."""
        out = []
        for term in self.terms:
            uncertain = isinstance(term, Either)
            for au in term.options if isinstance(term, Either) else (term,):
                out.append(
                    {
                        "code": au.code,
                        "side": au.side or None,
                        "intensity": au.intensity or None,
                        "uncertain": uncertain,
                    }
                )
        return out


def aus(*terms: AU | Either | int, sep: str = "+") -> AUText:
    """An annotation from its terms in written order; a bare number is AU(number)."""
    return AUText((AU(t) if isinstance(t, int) else t for t in terms), sep)
