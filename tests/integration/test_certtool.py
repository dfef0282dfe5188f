# SPDX-License-Identifier: MIT
"""rxmpp-certtool, each verb with good and bad input: its output, its exit
status (0 ok, 1 failure or a problem found, 2 usage), and what it writes,
read back with python3-cryptography."""

import json
import os
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki import Pki
from rxmpp_node import BIN


def certtool(*args, cwd=None):
    return subprocess.run([os.path.join(BIN, "rxmpp-certtool"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path / "pki")


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def load_certs(path):
    """Every certificate of a PEM file, in order."""
    text = open(path, "rb").read()
    end = b"-----END CERTIFICATE-----\n"
    return [x509.load_pem_x509_certificate(block + end)
            for block in text.split(end) if block.strip()]


def san_names(cert):
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v.value) for v in ext]


def test_every_verb_has_help_and_usage_errors_exit_2():
    for verb in ("csr", "selfsigned", "ca", "list", "inspect", "match", "verify", "bundle"):
        result = certtool(verb, "--help")
        assert result.returncode == 0 and f"usage: rxmpp-certtool {verb}" in result.stdout
    assert certtool().returncode == 2
    assert certtool("frobnicate").returncode == 2
    assert certtool("match", "one-file-only").returncode == 2
    assert certtool("csr", "x", "NOFIELD").returncode == 2
    assert "--days takes 1 to 36500" in certtool("selfsigned", "x", "CN:a", "--days", "0").stderr


def test_csr_writes_a_0600_key_and_a_request_with_the_names(tmp_path):
    result = certtool("csr", "node1", "CN:xmpp.example.com", "O:Example", "C:DE",
                      "subjectAltName:xmpp.example.com,node1.example.com,192.0.2.1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote node1.key (EC P-256, mode 0600)" in result.stdout
    assert stat.S_IMODE(os.stat(tmp_path / "node1.key").st_mode) == 0o600
    with open(tmp_path / "node1.csr", "rb") as f:
        csr = x509.load_pem_x509_csr(f.read())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "xmpp.example.com"
    assert csr.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    alt = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == ["xmpp.example.com", "node1.example.com"]
    assert [str(a) for a in alt.get_values_for_type(x509.IPAddress)] == ["192.0.2.1"]
    # ECDSA P-256 by default: the cheapest signature for every full handshake.
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert result.stderr == ""
    # The key is never printed.
    key_text = (tmp_path / "node1.key").read_text()
    assert key_text.splitlines()[1] not in result.stdout


def test_csr_key_types_warnings_and_an_existing_key(tmp_path):
    result = certtool("csr", "ec", "CN:xmpp.example.com", "subjectAltName:node1.example.com",
                      "--key-type", "p384", cwd=tmp_path)
    assert result.returncode == 0
    assert "warning: CN 'xmpp.example.com' is not among the subjectAltName names" in result.stderr
    with open(tmp_path / "ec.csr", "rb") as f:
        key = x509.load_pem_x509_csr(f.read()).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    before = (tmp_path / "ec.key").read_bytes()
    again = certtool("csr", "ec", "CN:xmpp.example.com", cwd=tmp_path)
    assert again.returncode == 1 and "ec.key exists" in again.stderr
    assert (tmp_path / "ec.key").read_bytes() == before
    nosan = certtool("csr", "nosan", "CN:xmpp.example.com", cwd=tmp_path)
    assert "warning: no subjectAltName" in nosan.stderr
    result = certtool("csr", "rsa", "CN:xmpp.example.com", "subjectAltName:xmpp.example.com",
                      "--key-type", "rsa2048", cwd=tmp_path)
    assert "wrote rsa.key (RSA 2048, mode 0600)" in result.stdout
    with open(tmp_path / "rsa.csr", "rb") as f:
        key = x509.load_pem_x509_csr(f.read()).public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    bad = certtool("csr", "bad", "CN:x.example", "--key-type", "dsa", cwd=tmp_path)
    assert bad.returncode == 1 and "--key-type 'dsa'" in bad.stderr


def test_ca_make_sign_and_selfsigned(tmp_path):
    assert certtool("ca", "make", "ca", "CN:Private CA", "--key-type", "p256",
                    cwd=tmp_path).returncode == 0
    assert certtool("csr", "node", "CN:xmpp.example.com", "subjectAltName:xmpp.example.com",
                    cwd=tmp_path).returncode == 0
    signed = certtool("ca", "sign", "ca", "node.csr", "--days", "30", cwd=tmp_path)
    assert signed.returncode == 0, signed.stderr
    assert "wrote node.crt: CN=xmpp.example.com, issued by CN=Private CA" in signed.stdout
    ca, node = load_cert(tmp_path / "ca.crt"), load_cert(tmp_path / "node.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca.public_key().verify(node.signature, node.tbs_certificate_bytes,
                           ec.ECDSA(node.signature_hash_algorithm))
    assert node.issuer == ca.subject
    assert san_names(node) == ["xmpp.example.com"]
    usages = node.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    days = (node.not_valid_after - node.not_valid_before).days
    assert days == 30
    again = certtool("ca", "sign", "ca", "node.csr", cwd=tmp_path)
    assert again.returncode == 1 and "node.crt exists" in again.stderr
    notca = certtool("ca", "sign", "node", "node.csr", "--out", "x.crt", cwd=tmp_path)
    assert notca.returncode == 1 and "node.crt is not a certificate authority" in notca.stderr
    selfsigned = certtool("selfsigned", "test", "CN:test.example",
                          "subjectAltName:test.example", cwd=tmp_path)
    assert selfsigned.returncode == 0
    cert = load_cert(tmp_path / "test.crt")
    assert cert.issuer == cert.subject


def test_list_pairs_keys_with_their_certificates(pki):
    pki.write_key("node.key", pki.leaf)
    pki.write_chain("node.crt", pki.leaf)
    pki.write_chain("chain.pem", pki.int2, pki.int1)
    pki.write_key("lonely.key", pki.stranger)
    pki.write_chain("old.crt", pki.expired)
    pki.write("README", b"not a certificate\n")
    result = certtool("list", pki.dir)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines()}
    assert set(lines) == {"node.key", "node.crt", "chain.pem", "lonely.key", "old.crt"}
    assert lines["node.key"].startswith("key") and "belongs to: node.crt" in lines["node.key"]
    assert lines["node.crt"].startswith("certificate") and "key: node.key" in lines["node.crt"]
    assert lines["chain.pem"].startswith("bundle") and "CN=Int Two and 1 more" in lines[
        "chain.pem"]
    assert "no partner here" in lines["lonely.key"]
    assert "EXPIRED on" in lines["old.crt"]
    listed = json.loads(certtool("list", pki.dir, "--json").stdout)
    by_file = {item["file"]: item for item in listed}
    assert by_file["old.crt"]["expired"] is True and by_file["node.crt"]["expired"] is False
    assert by_file["node.key"]["pairs_with"] == "node.crt"


def test_inspect_shows_each_certificate_in_order_and_never_the_key(pki):
    path = pki.write("both.pem", pki.leaf.cert_pem(), pki.int2.cert_pem(), pki.leaf.key_pem())
    result = certtool("inspect", path)
    assert result.returncode == 0
    out = result.stdout
    assert "2 certificates, a private key" in out
    assert out.index("certificate #1") < out.index("certificate #2")
    assert "subject:  CN=test.example" in out and "issuer:   CN=Int Two" in out
    assert "names:    DNS:test.example, DNS:*.test.example" in out
    assert f"SHA-256:  {pki.leaf.fingerprint()}" in out
    assert f"serial:   {pki.leaf.serial_hex()}" in out
    assert "key:      EC P-256" in out and "end entity, serverAuth, clientAuth" in out
    assert "PRIVATE KEY" not in out
    for line in pki.leaf.key_pem().decode().splitlines()[1:-1]:
        assert line not in out
    data = json.loads(certtool("inspect", path, "--json").stdout)
    assert [c["subject"] for c in data["certificates"]] == ["CN=test.example", "CN=Int Two"]
    assert data["certificates"][0]["sha256"] == pki.leaf.fingerprint()
    assert data["private_key"]["type"] == "EC P-256"
    empty = certtool("inspect", pki.write("empty.txt", b"hello\n"))
    assert empty.returncode == 1 and "no certificate, key or request" in empty.stderr


def test_match(pki):
    key = pki.write_key("node.key", pki.leaf)
    assert certtool("match", key, pki.write_chain("node.crt", pki.leaf)).returncode == 0
    wrong = certtool("match", key, pki.write_chain("other.crt", pki.renewed))
    assert wrong.returncode == 1
    assert "does not belong to" in wrong.stdout and "public key SHA-256" in wrong.stdout
    # The key of a certificate further down a file is found and named.
    inside = certtool("match", key, pki.write_chain("swapped.pem", pki.int2, pki.leaf))
    assert inside.returncode == 1
    assert "it is the key of certificate #2 (CN=test.example)" in inside.stdout


def test_verify_ok_and_each_reason(pki):
    root = pki.write_chain("root.crt", pki.root)
    chain = pki.write_chain("chain.pem", pki.int2, pki.int1)
    good = certtool("verify", pki.write_chain("leaf.crt", pki.leaf), chain, "--ca", root,
                    "--name", "test.example")
    assert good.returncode == 0, good.stdout
    assert "verified for TLS server use" in good.stdout and "depth 3: CN=Test Root" in good.stdout
    cases = [
        (("expired.crt", pki.expired), [], "certificate has expired (not after "),
        (("future.crt", pki.future), [], "certificate is not yet valid (not before "),
        (("client.crt", pki.client_only), [], "unsuitable certificate purpose"),
        (("leaf.crt", pki.leaf), ["--name", "chat.example.org"],
         "chat.example.org is not among its names (DNS:test.example, DNS:*.test.example)"),
    ]
    for (name, issued), extra, reason in cases:
        result = certtool("verify", pki.write_chain(name, issued), chain, "--ca", root, *extra)
        assert result.returncode == 1, name
        assert "verification failed: certificate at depth 0 (CN=test.example): " in result.stdout
        assert reason in result.stdout, result.stdout
    missing = certtool("verify", pki.path("leaf.crt"), pki.write_chain("int1.pem", pki.int1),
                       "--ca", root)
    assert missing.returncode == 1
    assert "its issuer 'CN=Int Two' is neither in the bundle nor trusted" in missing.stdout
    # Without --ca the system's CAs are asked, and they do not know this root.
    system = certtool("verify", pki.path("leaf.crt"), chain)
    assert system.returncode == 1 and "depth 2 (CN=Int One)" in system.stdout


def test_bundle_check_order_and_fix(pki):
    good = certtool("bundle", "check",
                    pki.write_chain("good.pem", pki.leaf, pki.int2, pki.int1, pki.root))
    assert good.returncode == 0 and "in order" in good.stdout
    bad_path = pki.write_chain("bad.pem", pki.leaf, pki.int1, pki.int2, pki.root)
    before = open(bad_path, "rb").read()
    bad = certtool("bundle", "check", bad_path)
    assert bad.returncode == 1
    assert ("certificate #2 (CN=Int One) is out of place: #1 (CN=test.example) is issued by "
            "#3 (CN=Int Two), which must come right after it") in bad.stdout
    assert "the right order: #1 #3 #2 #4" in bad.stdout
    assert open(bad_path, "rb").read() == before  # without --fix nothing is written
    fixed = certtool("bundle", "check", bad_path, "--fix")
    assert fixed.returncode == 0 and "rewrote" in fixed.stdout
    assert open(bad_path, "rb").read() == open(pki.path("good.pem"), "rb").read()
    assert certtool("bundle", "check", bad_path).returncode == 0


def test_bundle_check_missing_duplicate_expired_and_trusted_end(pki):
    missing = certtool("bundle", "check", pki.write_chain("m.pem", pki.leaf, pki.int1))
    assert missing.returncode == 1
    assert "missing issuer: #1 (CN=test.example) is issued by 'CN=Int Two'" in missing.stdout
    dup = certtool("bundle", "check", pki.write_chain("d.pem", pki.leaf, pki.int2, pki.int2,
                                                      pki.int1, pki.root))
    assert dup.returncode == 1 and "certificate #3 (CN=Int Two) repeats #2" in dup.stdout
    old = certtool("bundle", "check", pki.write_chain("e.pem", pki.expired, pki.int2, pki.int1,
                                                       pki.root))
    assert old.returncode == 1 and "certificate #1 (CN=test.example) expired on" in old.stdout
    # Without the root, the chain is complete when its issuer is trusted.
    trusted = certtool("bundle", "check", pki.write_chain("t.pem", pki.leaf, pki.int2, pki.int1),
                       "--ca", pki.write_chain("root.crt", pki.root))
    assert trusted.returncode == 0 and "ending at a trusted certificate" in trusted.stdout
    withkey = certtool("bundle", "check", pki.write("k.pem", pki.leaf.cert_pem(),
                                                     pki.leaf.key_pem()))
    assert withkey.returncode == 1 and "holds a private key" in withkey.stderr


def test_bundle_make_for_a_cluster_trust_bundle(pki):
    a = pki.write_chain("node1.crt", pki.leaf)
    b = pki.write_chain("node2.crt", pki.renewed)
    out = pki.path("trust.pem")
    made = certtool("bundle", "make", out, a, b, a)
    assert made.returncode == 0, made.stderr
    assert "is already in, once is enough" in made.stdout and "wrote" in made.stdout
    certs = load_certs(out)
    assert [c.serial_number for c in certs] == [pki.leaf.cert.serial_number,
                                                pki.renewed.cert.serial_number]
    again = certtool("bundle", "make", out, a)
    assert again.returncode == 1 and "--force replaces it" in again.stderr
    expired = certtool("bundle", "make", pki.path("x.pem"), pki.write_chain("old.crt",
                                                                            pki.expired))
    assert expired.returncode == 1 and "expired on" in expired.stderr
    assert not os.path.exists(pki.path("x.pem"))
    key = certtool("bundle", "make", pki.path("y.pem"), pki.write_key("node.key", pki.leaf))
    assert key.returncode == 1 and "holds a private key" in key.stderr
