"""The deprecation policy is active: a deprecated call fails instead of warning."""

from __future__ import annotations

import warnings

import pytest
import torchvision

import course_utils


def test_torchvision_deprecation_is_an_error() -> None:
    with pytest.warns(UserWarning, match="deprecated") as record:
        torchvision.models.resnet18(pretrained=False)  # what the warning says, when only recorded
    assert any("'pretrained' is deprecated" in str(w.message) for w in record)
    with pytest.raises(UserWarning, match="'pretrained' is deprecated"):
        torchvision.models.resnet18(pretrained=False)  # the active filter turns it into an error


@pytest.mark.parametrize("category", [DeprecationWarning, FutureWarning])
@pytest.mark.parametrize("module", ["torch.nn.modules", "course_utils.engine", "__main__"])
def test_checked_modules_raise(category, module) -> None:
    with pytest.raises(category):
        warnings.warn_explicit("old API", category, "x.py", 1, module=module)


def test_other_modules_only_warn() -> None:
    with pytest.warns(DeprecationWarning):
        warnings.warn_explicit("old API", DeprecationWarning, "x.py", 1, module="some_other_package")


def test_strict_warnings_in_a_kernel_uses_the_same_filters() -> None:
    with warnings.catch_warnings():
        warnings.resetwarnings()
        course_utils.strict_warnings()
        with pytest.raises(FutureWarning):
            warnings.warn_explicit("old", FutureWarning, "x.py", 1, module="torchvision.io")
