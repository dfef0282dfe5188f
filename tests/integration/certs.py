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
    key, csr, crt = f"{directory}/server.key", f"{directory}/server.csr", f"{directory}/server.crt"
    ext = f"{directory}/server.ext"
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj", "/CN=rxmpp test CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", f"/CN={domain}")
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{domain},DNS:*.{domain},IP:127.0.0.1\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=serverAuth,clientAuth\n")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    os.chmod(key, 0o600)
    return {"ca": ca_crt, "key": key, "cert": crt, "ca_key": ca_key, "dir": directory}
