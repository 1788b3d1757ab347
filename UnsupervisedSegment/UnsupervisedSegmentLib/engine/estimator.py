"""scikit-learn's estimator protocol without importing scikit-learn (about 1.5 s of start-up).

The fast engine and :class:`clustering.ClusterModel` follow scikit-learn's API (constructor
parameters as attributes, ``get_params``/``set_params``, so ``sklearn.base.clone`` works) but
import scikit-learn only when its own estimators are asked for (``engine="sklearn"``).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped before its convergence rule was met."""


class Estimator:
    """``get_params``/``set_params`` from the constructor's keyword parameters, as scikit-learn's
    ``BaseEstimator`` provides them."""

    @classmethod
    def _parameter_names(cls) -> list[str]:
        """Names of the constructor's parameters."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        return {name: getattr(self, name) for name in self._parameter_names()}

    def set_params(self, **params: Any) -> Estimator:
        """Set constructor parameters; refuses unknown names."""
        valid = self._parameter_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; valid: {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = [f"{name}={value!r}" for name, value in self.get_params().items() if not _same(value, defaults.get(name))]
        return f"{type(self).__name__}({', '.join(changed)})"


def _same(value: Any, default: Any) -> bool:
    """Whether a parameter value is its default (identity or plain equality)."""
    try:
        return value is default or bool(value == default)
    except Exception:  # e.g. arrays
        return False


def check_random_state(seed: Any) -> np.random.RandomState:
    """A RandomState from None (numpy's global one), an int or a RandomState, as scikit-learn's."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")
