"""Which input shows what: a channel's role (FLAIR, T2, T1, T1c, DWI, ADC) read from its name, and
whether a set of named inputs can show a lesion of a given type.

Light on purpose (no numpy): the Slicer module checks its inputs with it on every parameter change.
Step 1 of the lesion rule (:mod:`.rule`) documents how names are matched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .options import LESION_TYPES

#: Channel roles and the name fragments that give them, in matching order.
ROLE_ALIASES: dict[str, tuple[str, ...]] = {
    "flair": ("flair",),
    "adc": ("adc",),
    "dwi": ("dwi", "diffusion", "trace", "b1000"),
    "t1c": ("t1c", "t1gd", "t1+c", "t1+gd", "t1wce", "t1post", "ct1", "postcontrast", "gad"),
    "t2": ("t2",),
    "t1": ("t1",),
}
#: Roles that show a lesion (T2 only together with T1, which tells CSF; T1c is clustered, not evidence).
EVIDENCE_ROLES = ("flair", "t2", "dwi", "adc")


def channel_role(name: str) -> str | None:
    """The role (flair, adc, dwi, t1c, t2, t1) of a channel name, or None.

    The name is lower-cased and its separators (spaces, ``_``, ``-``, ``.``) dropped; an alias counts where it
    starts a word of the name or follows a character that is not a letter: ``visit2 T1`` is T1, not the
    ``t2`` that ``visi[t2]`` would give; ``sub-01_T2w`` is T2."""
    words = [word for word in re.split(r"[\s_.\-]+", name.lower()) if word]
    key = "".join(words)
    starts = {sum(len(word) for word in words[:index]) for index in range(len(words))}

    def found(alias: str) -> bool:
        return any(at in starts or not key[at - 1].isalpha()
                   for at in (match.start() for match in re.finditer(re.escape(alias), key)))

    return next((role for role, aliases in ROLE_ALIASES.items() if any(found(a) for a in aliases)), None)


def check_lesion_inputs(names: Sequence[str], lesion_type: str = "auto") -> None:
    """Raise ValueError (one line, what to do) unless the named channels can show a lesion of that type."""
    if lesion_type not in LESION_TYPES:
        raise ValueError(f"unknown lesion type {lesion_type!r}; use one of {', '.join(LESION_TYPES)}")
    roles = {channel_role(name) for name in names}
    hyperintense = "flair" in roles or {"t2", "t1"} <= roles
    diffusion = bool(roles & {"dwi", "adc"})
    needs = {
        "tumour": (hyperintense, "a FLAIR channel (or T2 with T1)"),
        "ms": (hyperintense, "a FLAIR channel (or T2 with T1)"),
        "stroke": (diffusion, "a DWI or ADC channel"),
        "auto": (hyperintense or diffusion, "a FLAIR (or T2 with T1), DWI or ADC channel"),
    }
    ok, what = needs[lesion_type]
    if not ok:
        raise ValueError(
            f"lesion type {lesion_type!r} needs {what}, named e.g. 'flair', 't2', 't1', 'dwi' or 'adc' "
            f"(use --names); got {', '.join(names)}"
        )
