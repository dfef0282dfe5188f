# SPDX-License-Identifier: MIT
"""Certificates for tests, made at test time with the openssl command (no
private key is ever committed): a CA and a server certificate for the test
domain, its call-bridge subdomains and 127.0.0.1."""

import os
import subprocess


def run(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_server_certs(directory, domain="test.example"):
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    ca_key, ca_crt = f"{directory}/ca.key", f"{directory}/ca.crt"
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=rxmpp test CA")
    key, crt = issue_server_cert(directory, ca_crt, ca_key, "server", domain)
    return {"ca": ca_crt, "key": key, "cert": crt, "ca_key": ca_key, "dir": directory}


def issue_server_cert(directory, ca_crt, ca_key, name, domain="test.example"):
    """A fresh key and server certificate NAME.key/NAME.crt signed by the CA."""
    key, csr, crt = f"{directory}/{name}.key", f"{directory}/{name}.csr", f"{directory}/{name}.crt"
    ext = f"{directory}/{name}.ext"
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/CN={domain}")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{domain},DNS:*.{domain},IP:127.0.0.1\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    os.chmod(key, 0o600)
    return key, crt


def serial_of(cert):
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial"], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return out.strip().split("=", 1)[1].upper()
