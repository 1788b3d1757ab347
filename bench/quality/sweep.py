"""One parameter of a module changed at a time, the others at their defaults: what the benchmarks' parameter
tables walk through."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import ModuleType


def one_at_a_time(module: ModuleType, parameters: Sequence[tuple[str, Sequence[object]]]) -> Iterator[tuple[str, object, bool]]:
    """Set each ``(name, values)`` parameter of ``module`` to each of its values in turn and yield
    (name, value, whether it is the default); the default is put back after each parameter, also on an error."""
    for name, values in parameters:
        default = getattr(module, name)
        try:
            for value in values:
                setattr(module, name, value)
                yield name, value, value == default
        finally:
            setattr(module, name, default)
