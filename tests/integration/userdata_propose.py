# SPDX-License-Identifier: MIT
"""Run from gdb by test_userdata_merge.py while rxmppctl is stopped at a
breakpoint: one PROPOSE on a node's control socket (argv: the node's
directory, the command in hex), as a client's write through rxmpp-im would
arrive at that moment."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cluster_log import propose  # noqa: E402


class _Node:  # what propose() needs of a node
    def __init__(self, directory):
        self.dir = directory


answer = propose(_Node(sys.argv[1]), bytes.fromhex(sys.argv[2]))
print("userdata_propose:", answer, flush=True)
