"""The module's own Test class (what Slicer's "Reload and Test" runs), under slicer-core."""

from __future__ import annotations

import unittest

import pytest
from slicer_harness import slicer_module

with slicer_module() as _module:
    TEST_NAMES = sorted(name for name in dir(_module.UnsupervisedSegmentTest) if name.startswith("test_"))


def test_run_test_calls_every_test_method():
    """``runTest`` (what Slicer calls) runs every ``test_*`` method of the Test class."""
    with slicer_module() as module:
        source = module.UnsupervisedSegmentTest.runTest.__code__.co_names
    assert set(TEST_NAMES) <= set(source)


@pytest.mark.parametrize("name", TEST_NAMES)
def test_self_test(name: str):
    with slicer_module() as module:
        result = unittest.TestResult()
        case = module.UnsupervisedSegmentTest(name)
        case.run(result)
    problems = [text for _, text in result.errors + result.failures]
    assert not problems, "\n".join(problems)
    if result.skipped:
        pytest.skip(result.skipped[0][1])


def test_parameter_node_annotations_resolve():
    """What Slicer's parameterNodeWrapper reads: resolvable type hints, defaults of the right type."""
    import typing

    with slicer_module() as module:
        cls = module.UnsupervisedSegmentParameterNode
        hints = typing.get_type_hints(cls, include_extras=True)
        assert set(hints) >= {"inputVolumes", "maskSource", "method", "numberOfClusters", "outputSegmentation", "outputTable"}
        for name, hint in hints.items():
            if hasattr(cls, name):
                base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
                assert isinstance(getattr(cls, name), base), name
        for enum_type in (module.Method, module.MaskSource, module.Scaling, module.CovarianceType):
            assert all(isinstance(member.label(), str) for member in enum_type)


def test_choices_are_the_engines():
    """Every value the GUI offers is one the engine accepts."""
    from UnsupervisedSegmentLib import clustering, features, masking

    with slicer_module() as module:
        assert {m.value for m in module.Method} == set(clustering.METHODS)
        assert {s.value for s in module.Scaling} == set(features.SCALINGS)
        assert {c.value for c in module.CovarianceType} == set(clustering.COVARIANCE_TYPES)
        assert {m.value for m in module.MaskSource} == {*masking.MASK_RULES, "segment"}
