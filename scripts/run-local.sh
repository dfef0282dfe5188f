#!/bin/bash
# SPDX-License-Identifier: MIT
# `make run`: a three-node rxmpp cluster on loopback, everything under ./run/
# in the checkout (certificates, configurations, state, control sockets,
# logs); nothing outside it is touched.  What it generates the first time (a
# certificate authority and the nodes' certificate, the configurations, two
# demo accounts, a demo call bridge) is kept, so edits under run/ survive the
# next `make run`.  Ctrl-C stops the three nodes cleanly.
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
cluster:
  enabled: true
  port: $((base + 2))
  trust_bundle: ../ca.crt
  # The bundle is a CA: only its certificates naming $domain may join.
  peer_names: [$domain]
YAML
	fi
	if [ ! -f "$dir/state/accounts" ]; then
		# Accounts are per node: every node gets the demo accounts.
		for user in alice bob; do
			awk -v u="$user@$domain" '$1 == u {print $2}' "$run/demo-credentials" |
				"$bin/rxmppctl" --config "$dir/rxmpp.yaml" user add "$user" --stdin >/dev/null
		done
	fi
	"$bin/rxmppd" --check --config "$dir/rxmpp.yaml" 2>/dev/null
done

pids=()
# Ctrl-C, or a step below that failed (set -e): the nodes started here go
# with the script, never left running behind it.
stop() {
	local status=${1:-0}
	trap - INT TERM EXIT
	echo
	echo "stopping the three nodes"
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	exit "$status"
}
trap stop INT TERM
trap 'stop $?' EXIT

for n in "${nodes[@]}"; do
	"$bin/rxmppd" --foreground --config "$run/node$n/rxmpp.yaml" 2>>"$run/node$n/rxmppd.log" &
	pids+=($!)
done

ctl() {
	"$bin/rxmppctl" --config "$run/node$1/rxmpp.yaml" "${@:2}"
}

# Wait (bounded) for every node to answer, then form the cluster once.
for n in "${nodes[@]}"; do
	for _ in $(seq 100); do
		ctl "$n" status >/dev/null 2>&1 && break
		sleep 0.1
	done
done
if ctl 1 cluster status | grep -q "none (cluster initialize or join)"; then
	ctl 1 cluster initialize
	ctl 2 cluster join 127.0.0.1:5224
	ctl 3 cluster join 127.0.0.1:5224
fi
sleep 1
ctl 1 cluster status

ctl_help="$build/bin/rxmppctl --config run/nodeN/rxmpp.yaml"
cat <<EOF2

Three nodes of domain $domain run on 127.0.0.1 (logs: run/node*/rxmppd.log):
  node 1: clients 5222, call bridges 5223, cluster 5224
  node 2: clients 5322, call bridges 5323, cluster 5324
  node 3: clients 5422, call bridges 5423, cluster 5424
  trust run/ca.crt; demo logins (also in run/demo-credentials):
$(sed 's/^/    /' "$run/demo-credentials")
  status:    $ctl_help cluster status      (or: status, user ...)
  failover:  kill -9 \$(pgrep -f 'rxmppd.*run/node1/') ; sleep 1 ; $build/bin/rxmppctl --config run/node2/rxmpp.yaml cluster status
  stop:      Ctrl-C

EOF2
wait
