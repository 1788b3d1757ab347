"""One plain thread pool for the whole package: numpy releases the GIL, so work dealt out over
the cores runs in parallel. BLAS is kept on one thread inside the engine's own parallel passes
when threadpoolctl is installed (it is not bundled with Slicer: without it BLAS keeps its own
threads, which is slower on a busy machine but gives the same results)."""

from __future__ import annotations

import functools
import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Optional, Sequence, TypeVar

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
_pool: Optional[ThreadPoolExecutor] = None
_blas_controller: Any = None


def n_workers() -> int:
    """Threads used for parallel passes (one per core)."""
    return max(1, os.cpu_count() or 1)


def _thread_pool() -> ThreadPoolExecutor:
    """The shared worker pool, created on first use."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=n_workers(), thread_name_prefix="unsupervised-segment")
    return _pool


def parallel(fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
    """``fn`` over ``items`` on the worker pool, results in order. ``fn`` must not itself use
    the pool (the pool's threads would wait for each other)."""
    if len(items) <= 1 or n_workers() == 1:
        return [fn(item) for item in items]
    return list(_thread_pool().map(fn, items))


def shares(items: Sequence[T]) -> list[Sequence[T]]:
    """``items`` dealt out round-robin into one share per core (fewer when there are fewer
    items), for :func:`parallel` over the shares."""
    cores = min(n_workers(), len(items))
    return [items[start::cores] for start in range(cores)]


def blas_on_one_thread() -> ContextManager[Any]:
    """A context in which BLAS runs on one thread (threadpoolctl), or does nothing without threadpoolctl."""
    global _blas_controller
    if _blas_controller is None:
        if importlib.util.find_spec("threadpoolctl") is None:
            _blas_controller = False
        else:
            from threadpoolctl import ThreadpoolController

            _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas") if _blas_controller else nullcontext()


def single_threaded_blas(method: F) -> F:
    """Run ``method`` with BLAS on one thread (see :func:`blas_on_one_thread`): the engine spreads
    chunks over the cores itself, and its products are too small for threaded BLAS."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with blas_on_one_thread():
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
