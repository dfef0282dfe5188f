# SPDX-License-Identifier: MIT
"""pytest set-up for the integration tests: a `node` fixture that always ends
what it started, and the plain `N passed, M failed` closing line."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from certs import make_server_certs  # noqa: E402
from rxmpp_node import Node  # noqa: E402
from summary import pytest_terminal_summary  # noqa: E402,F401


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return make_server_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def node_factory(tmp_path, certs):
    nodes = []

    def make(**kwargs):
        directory = tmp_path / f"node{len(nodes)}"
        directory.mkdir()
        node = Node(directory, certs, **kwargs)
        nodes.append(node)
        return node

    yield make
    reports = []
    for node in nodes:
        node.cleanup()
        reports += node.sanitizer_reports()
    # A sanitizer build reports memory errors and leaks on stderr of the
    # process concerned, which every child shares with rxmppd.
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


@pytest.fixture
def node(node_factory):
    return node_factory().start()
