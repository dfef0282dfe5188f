#!/bin/bash
# SPDX-License-Identifier: MIT
# `make run`: a three-node rxmpp cluster on loopback, everything under ./run/
# in the checkout (certificates, configurations, state, control sockets,
# logs); nothing outside it is touched.  What it generates the first time (a
# certificate authority and the nodes' certificate, the configurations, two
# demo accounts, a demo call bridge) is kept, so edits under run/ survive the
# next `make run`.  Ctrl-C stops the three nodes cleanly; a node that cannot
# start ends the run with its own error and stops the others.
set -euo pipefail

build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/$build/bin"
run="$top/run"
domain=localhost
nodes=(1 2 3)

umask 077
mkdir -p "$run"

if [ ! -f "$run/rxmpp.crt" ]; then
	echo "making a local certificate authority and the nodes' certificate for $domain"
	certtool="$bin/rxmpp-certtool"
	"$certtool" ca make "$run/ca" "CN:rxmpp make-run CA" --key-type p256 >/dev/null
	# One certificate for the three nodes; it names the domain, its
	# subdomains (call bridges) and the loopback address.
	"$certtool" csr "$run/rxmpp" "CN:$domain" "subjectAltName:$domain,*.$domain,127.0.0.1" \
		--key-type p256 >/dev/null
	"$certtool" ca sign "$run/ca" "$run/rxmpp.csr" >/dev/null
	rm -f "$run/rxmpp.csr"
fi

if [ ! -f "$run/ticket.key" ]; then
	# The cluster's TLS ticket key (tls.ticket_key, mode 0600 by the umask):
	# a client of one node resumes its TLS session on another.
	openssl rand -hex 32 >"$run/ticket.key"
fi

secret() {
	openssl rand -base64 18 | tr '+/' '-_'
}

if [ ! -f "$run/demo-credentials" ]; then
	printf 'alice@%s %s\nbob@%s %s\ncb1.%s %s\n' "$domain" "$(secret)" "$domain" "$(secret)" \
		"$domain" "$(secret)" >"$run/demo-credentials"
	printf '# call bridges of make run (rxmppctl callbridge add)\ncb1: "%s"\n' \
		"$(awk '/^cb1/{print $2}' "$run/demo-credentials")" >"$run/callbridges.yaml"
	chmod 0640 "$run/callbridges.yaml"
fi

for n in "${nodes[@]}"; do
	dir="$run/node$n"
	base=$((5122 + 100 * n))
	mkdir -p "$dir/state"
	if [ ! -f "$dir/rxmpp.yaml" ]; then
		cat >"$dir/rxmpp.yaml" <<YAML
# Node $n of \`make run\`; edit freely, it is kept.  Every key is documented
# in packaging/rxmpp.yaml.
domain: $domain
# Whoever runs make run owns run/; started as root, rxmppd stays root.
user: $(id -un)
state_directory: state
control_socket: control.sock
callbridges_file: ../callbridges.yaml
listen:
  addresses: [127.0.0.1]
  client_port: $base
  component_port: $((base + 1))
tls:
  key: ../rxmpp.key
  certificate: ../rxmpp.crt
  ticket_key: ../ticket.key
cluster:
  enabled: true
  port: $((base + 2))
  trust_bundle: ../ca.crt
  # The bundle is a CA: only its certificates naming $domain may join.
  peer_names: [$domain]
YAML
	elif ! grep -q '^user:' "$dir/rxmpp.yaml"; then
		# Made before rxmppd knew user: (whose default, rxmpp, a
		# started-as-root rxmppd would become and that cannot enter run/).
		printf '# Whoever runs make run owns run/; started as root, rxmppd stays root.\nuser: %s\n' \
			"$(id -un)" >>"$dir/rxmpp.yaml"
	fi
	if [ "$n" = 1 ] && [ ! -f "$dir/state/accounts" ]; then
		# Accounts are the cluster's: node 1's go into its state with
		# cluster initialize, and the others receive them when they join
		# (the same accounts added on each node would be made with other
		# salts, and a join refuses to merge keys that differ).
		for user in alice bob; do
			awk -v u="$user@$domain" '$1 == u {print $2}' "$run/demo-credentials" |
				"$bin/rxmppctl" --config "$dir/rxmpp.yaml" user add "$user" --stdin >/dev/null
		done
	fi
	"$bin/rxmppd" --check --config "$dir/rxmpp.yaml" 2>/dev/null
done

ctl() {
	"$bin/rxmppctl" --config "$run/node$1/rxmpp.yaml" "${@:2}"
}

# The pid of the rxmppd answering on node $1's control socket, if any.
node_pid() {
	# Nothing answering is no error here (set -e would end the caller).
	{ ctl "$1" status --json 2>/dev/null || true; } | sed -n 's/^{"pid": \([0-9]*\),.*/\1/p'
}

pids=()
# Ctrl-C, or a step below that failed (set -e): the nodes started here go
# with the script, never left running behind it; so does a node brought
# back by hand after a failover (found by its control socket under run/).
stop() {
	local status=${1:-0} n pid
	trap - INT TERM EXIT
	echo
	echo "stopping the three nodes"
	for n in "${nodes[@]}"; do
		pid=$(node_pid "$n")
		[ -n "$pid" ] && pids+=("$pid")
	done
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		# A node brought back by hand is no child of this shell: poll it
		# (30 s at most, then SIGKILL).
		wait "$pid" 2>/dev/null || true
		for _ in $(seq 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	exit "$status"
}
trap stop INT TERM
trap 'stop $?' EXIT

# Each node's log grows across runs; what this start wrote begins here.
declare -A log_from
for n in "${nodes[@]}"; do
	log="$run/node$n/rxmppd.log"
	log_from[$n]=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
	"$bin/rxmppd" --foreground --config "$run/node$n/rxmpp.yaml" 2>>"$log" &
	pids+=($!)
done

# A node that cannot start (a port taken, say) ends the whole run, with its
# own words: what it logged since this start.  Bounded: 10 s a node.
for i in "${!nodes[@]}"; do
	n=${nodes[$i]}
	answered=false
	for _ in $(seq 100); do
		if ctl "$n" status >/dev/null 2>&1; then
			answered=true
			break
		fi
		kill -0 "${pids[$i]}" 2>/dev/null || break
		sleep 0.1
	done
	if ! $answered; then
		if kill -0 "${pids[$i]}" 2>/dev/null; then
			why="did not answer within 10 s"
		else
			wait "${pids[$i]}" && code=0 || code=$?
			why="exited with status $code"
		fi
		{
			echo "make run: node $n (rxmppd --config run/node$n/rxmpp.yaml) $why; it logged:"
			tail -c "+${log_from[$n]}" "$run/node$n/rxmppd.log" | tail -n 20 | sed 's/^/  /'
			echo "make run: stopping the other nodes; nothing is left running"
		} >&2
		exit 1
	fi
done

# Form the cluster once.
if ctl 1 cluster status | grep -q "none (cluster initialize or join)"; then
	ctl 1 cluster initialize
	ctl 2 cluster join 127.0.0.1:5224
	ctl 3 cluster join 127.0.0.1:5224
fi
sleep 1
ctl 1 cluster status

ctl_help="$build/bin/rxmppctl -c run/nodeN/rxmpp.yaml"
bridge=$(awk '/^cb1/{print $2}' "$run/demo-credentials")
cat <<EOF2

Three nodes of domain $domain run on 127.0.0.1 (logs: run/node*/rxmppd.log):
  node 1: clients 5222, call bridges 5223, cluster 5224
  node 2: clients 5322, call bridges 5323, cluster 5324
  node 3: clients 5422, call bridges 5423, cluster 5424
  trust run/ca.crt; everything below is also in run/demo-credentials.
  client logins (XMPP clients, on the client ports):
$(grep -v '^cb1' "$run/demo-credentials" | sed 's/^/    /')
  call bridge (an XEP-0114 component on the call bridge ports, not a login):
    component cb1.$domain, secret $bridge

  status:    $ctl_help status      (or: cluster status, user ..., rxmppctl --help)
  failover:  the leader may be any node; find it (the node whose state is LEADER):
    \$ for n in 1 2 3; do $build/bin/rxmppctl -c run/node\$n/rxmpp.yaml cluster status --json | grep -q '"state": "LEADER"' && echo "node \$n leads"; done
  stop it hard (N: the leader's number), then ask another node (M) who leads now:
    \$ kill -9 \$($build/bin/rxmppctl -c run/nodeN/rxmpp.yaml status --json | sed 's/^{"pid": \([0-9]*\),.*/\1/')
    \$ $build/bin/rxmppctl -c run/nodeM/rxmpp.yaml cluster status
  bring node N back (it rejoins as a follower; Ctrl-C here stops it too):
    \$ $build/bin/rxmppd --foreground -c run/nodeN/rxmpp.yaml 2>>run/nodeN/rxmppd.log &
  stop:      Ctrl-C

EOF2
wait
