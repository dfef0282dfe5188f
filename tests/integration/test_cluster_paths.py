# SPDX-License-Identifier: MIT
"""The paths the documentation promises for joining and leaving a cluster:
`cluster join` through a follower follows the redirect to the leader and
says so; a join to an address where nothing listens, or where TLS is
refused, fails with the cause instead of waiting; a node removed through a
follower or through the leader knows it, so `reset` needs no --force."""

import re

from certs import issue_server_cert, make_server_certs
from rxmpp_node import free_port
from test_cluster import cluster_node, form_cluster, leader_of, status


def test_join_through_a_follower_follows_the_redirect(node_factory, certs):
    nodes = form_cluster(node_factory, certs, size=2)
    leader = leader_of(nodes)
    follower = next(n for n in nodes if n is not leader)
    newcomer = cluster_node(node_factory, certs).start()
    result = newcomer.ctl("cluster", "join", follower.cluster_address, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"contacting {follower.cluster_address} ..." in out
    assert f"redirected to the leader at {leader.cluster_address} ..." in out
    assert f"contacting {leader.cluster_address} ..." in out
    assert "waiting for the membership change to commit ..." in out
    assert re.search(rf"^joined; the leader is at {re.escape(leader.cluster_address)}$", out,
                     re.M), out
    assert len(status(newcomer)["members"]) == 3
    assert status(newcomer)["leader"] == status(leader)["node"]


def test_join_where_nothing_listens_says_why(node_factory, certs):
    node = cluster_node(node_factory, certs).start()
    nowhere = f"127.0.0.1:{free_port()}"
    result = node.ctl("cluster", "join", nowhere, check=False)
    assert result.returncode == 1
    assert f"contacting {nowhere} ..." in result.stdout
    assert f"cannot reach {nowhere}: Connection refused" in result.stderr
    assert status(node)["members"] == []


def test_join_to_a_port_that_is_not_a_cluster_port_says_so(node_factory, certs):
    node = cluster_node(node_factory, certs).start()
    client_port = f"127.0.0.1:{node.client_port}"  # XMPP clients, not TLS from the first byte
    result = node.ctl("cluster", "join", client_port, check=False)
    assert result.returncode == 1
    assert (f"{client_port} refused the link: what answers there does not speak the cluster's "
            "TLS: is it that node's cluster port?") in result.stderr, result.stderr


def test_join_refused_by_tls_says_which_side_distrusts(node_factory, certs, tmp_path):
    nodes = form_cluster(node_factory, certs, size=1)
    stranger_certs = make_server_certs(tmp_path / "stranger")
    # A node that trusts only a CA of its own: it distrusts the member.
    wary = cluster_node(node_factory, certs, trust=stranger_certs["ca"]).start()
    result = wary.ctl("cluster", "join", nodes[0].cluster_address, check=False)
    assert result.returncode == 1
    assert (f"{nodes[0].cluster_address} refused the link: this node does not trust that "
            "node's certificate") in result.stderr
    assert "certificate verify failed (self-signed certificate in certificate chain)" \
        in result.stderr  # the check that failed, in OpenSSL's words
    # A node with a certificate of another CA: the member distrusts it.
    stranger = cluster_node(node_factory, stranger_certs, trust=certs["ca"])
    with open(stranger.config) as f:
        text = f.read()
    stranger.write_config(text=text.replace(certs["key"], stranger_certs["key"])
                          .replace(certs["cert"], stranger_certs["cert"]))
    stranger.start()
    result = stranger.ctl("cluster", "join", nodes[0].cluster_address, check=False)
    assert result.returncode == 1
    assert (f"{nodes[0].cluster_address} refused the link: that node does not trust this "
            "node's certificate") in result.stderr
    assert len(status(nodes[0])["members"]) == 1


def test_join_refused_by_name_says_which_side(node_factory, certs, tmp_path):
    """Both sides trust the CA, but one certificate lacks the name the
    other's cluster.peer_names asks for."""
    nodes = form_cluster(node_factory, certs, size=1)
    # This node wants peers named other.example: the member is not one.
    port = free_port(span=2)
    picky = node_factory(extra=f"cluster:\n  enabled: true\n  port: {port}\n"
                               f"  trust_bundle: {certs['ca']}\n"
                               "  peer_names: [other.example]\n").start()
    result = picky.ctl("cluster", "join", nodes[0].cluster_address, check=False)
    assert result.returncode == 1
    assert (f"{nodes[0].cluster_address} is not a node this one may trust: its certificate "
            "carries none of cluster.peer_names") in result.stderr, result.stderr
    # The other way round: a member that wants peers named other.example
    # refuses a node whose certificate (its own, of the same CA) is for
    # test.example.
    assert "initialized" in picky.ctl("cluster", "initialize").stdout
    (tmp_path / "own").mkdir()
    key, cert = issue_server_cert(str(tmp_path / "own"), certs["ca"], certs["ca_key"], "own")
    newcomer = cluster_node(node_factory, certs)
    with open(newcomer.config) as f:
        text = f.read()
    newcomer.write_config(text=text.replace(certs["key"], key).replace(certs["cert"], cert))
    newcomer.start()
    result = newcomer.ctl("cluster", "join", f"127.0.0.1:{port}", check=False)
    assert result.returncode == 1
    assert (f"refused by 127.0.0.1:{port}: the joining node's certificate is not accepted: "
            "its certificate carries none of cluster.peer_names") in result.stderr, \
        result.stderr
    assert len(status(picky)["members"]) == 1


def removed_node_resets_without_force(node):
    view = status(node)
    assert view["state"] == "REMOVED", view
    assert "This node was removed from the cluster" in node.ctl("cluster", "status").stdout
    refused = node.ctl("cluster", "join", "127.0.0.1:1", check=False)
    assert refused.returncode == 1 and "was removed from its cluster" in refused.stderr
    assert node.stop() == 0
    result = node.ctl("reset", "--yes", check=False)
    assert result.returncode == 0, result.stderr
    assert "this node was removed from its cluster" in result.stdout
    assert "node id and cluster state removed" in result.stdout


def test_removed_nodes_know_it_through_a_follower_and_the_leader(node_factory, certs):
    nodes = form_cluster(node_factory, certs)
    leader = leader_of(nodes)
    one, two = [n for n in nodes if n is not leader]
    # Asked on a follower: the leader does it and tells the node removed.
    result = two.ctl("cluster", "remove", one.cluster_address)
    assert "removed; the leader is at" in result.stdout
    assert "the node knows it was removed" in result.stdout
    assert f"redirected to the leader at {leader.cluster_address}" not in result.stdout
    assert len(status(leader)["members"]) == 2
    removed_node_resets_without_force(one)
    # Asked on the leader.
    result = leader.ctl("cluster", "remove", status(two)["node"])
    assert "the node knows it was removed" in result.stdout
    assert len(status(leader)["members"]) == 1
    removed_node_resets_without_force(two)
    # The one left still leads its cluster of one.
    assert status(leader)["state"] == "LEADER"
