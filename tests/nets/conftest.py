"""Shared fixtures of the nets tests."""

from __future__ import annotations

import pytest

from nets import data


@pytest.fixture(scope="session")
def digits() -> data.DataBundle:
    """scikit-learn's 8x8 digits, split once for the session."""
    return data.load("digits")
