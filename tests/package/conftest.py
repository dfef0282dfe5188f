# SPDX-License-Identifier: MIT
"""pytest set-up for the package tests: the integration tests' helpers on
the path, and their closing line."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))

from summary import pytest_terminal_summary  # noqa: E402,F401
