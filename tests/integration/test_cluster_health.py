# SPDX-License-Identifier: MIT
"""`cluster status` shows the cluster's health on a follower and on the
leader: each member reachable or not, as seen there and as the leader last
reported it, and a quorum line; a fellow follower looks healthy while it
is (followers do not hear each other: the leader's view comes with its
heartbeats).  Losing a member, the leader and the quorum are logged as
warnings, once; regaining them at info."""

import re
import time

from rxmpp_node import wait_until
from test_cluster import form_cluster, kill_node, leader_of, status

WARNING, INFO = r"<4>elector\[\d+\]: ", r"<6>elector\[\d+\]: "


def healthy(node):
    view = status(node)
    return (view["quorum"] == {"ok": True, "reachable": 3, "needed": 2}
            and all(m["reachable"] for m in view["members"]))


def member(view, node_id):
    return next(m for m in view["members"] if m["node"] == node_id)


def count_lines(node, pattern, start):
    with node.lock:
        return sum(1 for line in node.lines[start:] if re.search(pattern, line))


def test_status_and_log_as_members_and_the_quorum_go_and_come_back(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    one, two = [n for n in nodes if n is not leader]
    ids = {n: status(n)["node"] for n in nodes}
    wait_until(lambda: all(healthy(n) for n in nodes), what="every node to see all reachable")
    marks = {n: n.log_mark() for n in nodes}
    # Longer than an election timeout: a fellow follower that the leader
    # hears stays healthy on a follower that never hears it itself.
    time.sleep(1.5)
    view = status(one)
    other = member(view, ids[two])
    assert other["here"] == "link up" and other["reachable"]
    assert other["leader_heartbeat_ms"] is not None and other["leader_heartbeat_ms"] < 500
    assert view["leader_report_age_ms"] is not None and view["leader_report_age_ms"] < 500
    assert member(status(leader), ids[two])["here"] == "heard"
    for node in (one, leader):
        text = node.ctl("cluster", "status").stdout
        assert "Quorum: yes (3 of 3 reachable, 2 needed)\n" in text, text
        assert "UNREACHABLE" not in text
        assert text.count(" reachable ") == 3, text
    text = one.ctl("cluster", "status").stdout
    assert re.search(rf"{re.escape(two.cluster_address)} +{ids[two]} +reachable +here: link up"
                     r" +leader: heard 0\.\ds ago\n", text), text
    assert "Leader's view: from 0." in text
    # Nothing was logged about health while all was well.
    for node in nodes:
        assert count_lines(node, r"unreachable|quorum|lost the leader", marks[node]) == 0

    # A follower dies: unreachable on the other follower and on the leader;
    # the quorum holds.
    kill_node(two)
    for node in (one, leader):
        wait_until(lambda: not member(status(node), ids[two])["reachable"],
                   what="the dead follower to show unreachable")
        view = status(node)
        assert view["quorum"] == {"ok": True, "reachable": 2, "needed": 2}
        text = node.ctl("cluster", "status").stdout
        assert "Quorum: yes (2 of 3 reachable, 2 needed)\n" in text, text
        assert re.search(rf"{re.escape(two.cluster_address)} +{ids[two]} +UNREACHABLE ", text)
        node.wait_log(WARNING + rf"cluster member {ids[two]} at {re.escape(two.cluster_address)}"
                      r" is unreachable: ", start=marks[node])
    assert "link down" in member(status(one), ids[two])["here"]

    # Then the leader: the follower left alone has lost the leader and the
    # quorum.
    mark = one.log_mark()
    kill_node(leader)
    wait_until(lambda: status(one)["leader_report_age_ms"] is None,
               what="the leader's last view to be too old")
    view = status(one)
    assert view["quorum"] == {"ok": False, "reachable": 1, "needed": 2}
    assert not member(view, ids[leader])["reachable"]
    text = one.ctl("cluster", "status").stdout
    assert "Quorum: no (1 of 3 reachable, 2 needed)\n" in text, text
    assert "Leader's view: none lately" in text
    one.wait_log(WARNING + rf"lost the leader {ids[leader]} at "
                 rf"{re.escape(leader.cluster_address)}: no leader in term \d+", start=mark)
    one.wait_log(WARNING + r"cluster quorum lost: 1 of 3 members reachable, 2 needed",
                 start=mark)
    one.wait_log(WARNING + rf"cluster member {ids[leader]} at .* is unreachable: ", start=mark)

    # The follower comes back: a leader again, the quorum regained, at info.
    mark = one.log_mark()
    two.start()
    wait_until(lambda: status(one)["quorum"]["ok"] and status(one)["leader"] is not None,
               timeout=15, what="a quorum and a leader again")
    one.wait_log(INFO + r"cluster quorum regained: 2 of 3 members reachable, 2 needed",
                 start=mark)
    one.wait_log(INFO + rf"cluster member {ids[two]} at .* is reachable again", start=mark)
    one.wait_log(INFO + r"(leader is [0-9a-f]{16}|this node leads the cluster)", start=mark)
    # Edge-triggered: one line each, not one per heartbeat.
    time.sleep(1.0)
    assert count_lines(one, r"cluster quorum lost", 0) == 1
    assert count_lines(one, rf"cluster member {ids[two]} at .* is unreachable", 0) == 1
    assert count_lines(one, r"cluster quorum regained", 0) == 1


def test_a_failover_warns_about_the_dead_leader_only(node_factory, certs):
    """A new leader has heard no one yet, and its first heartbeats say so:
    that is not taken for members lost.  In a cluster of five, where each
    follower has fellow followers it knows only through the leader, only
    the dead leader is reported unreachable."""
    nodes = form_cluster(node_factory, certs, size=5)
    leader = leader_of(nodes)
    survivors = [n for n in nodes if n is not leader]
    ids = {n: status(n)["node"] for n in nodes}
    wait_until(lambda: all(status(n)["quorum"]["reachable"] == 5 for n in nodes),
               what="every node to see all reachable")
    marks = {n: n.log_mark() for n in survivors}
    kill_node(leader)
    new = wait_until(lambda: leader_of(survivors), what="a new leader")
    for node in survivors:
        node.wait_log(WARNING + rf"cluster member {ids[leader]} at .* is unreachable: ",
                      start=marks[node])
        wait_until(lambda: status(node)["quorum"] == {"ok": True, "reachable": 4, "needed": 3},
                   what="the quorum of the four survivors")
    time.sleep(1.0)  # more than an election timeout under the new leader
    for node in survivors:
        for other in survivors:
            assert count_lines(node, rf"cluster member {ids[other]} .* is unreachable",
                               marks[node]) == 0, "\n".join(node.lines[marks[node]:])
        assert count_lines(node, r"cluster quorum lost", marks[node]) == 0
    assert status(new)["state"] == "LEADER"
