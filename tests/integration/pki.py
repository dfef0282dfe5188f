# SPDX-License-Identifier: MIT
"""Certificate fixtures made at test time with python3-cryptography, a
library independent of the code under test: a root, two intermediates,
leaves (one expired, one not yet valid, one for clients only), a stranger's
CA and a wrong key.  No private key is ever committed."""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


class Issued:
    def __init__(self, cert, key):
        self.cert = cert
        self.key = key

    def cert_pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def fingerprint(self):
        return ":".join(f"{b:02X}" for b in self.cert.fingerprint(hashes.SHA256()))

    def serial_hex(self):
        return f"{self.cert.serial_number:X}".lstrip("0")


def issue(cn, issuer=None, names=(), ca=False, not_before=None, not_after=None,
          usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer = issuer or Issued(None, key)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or NOW - DAY)
               .not_valid_after(not_after or NOW + 30 * DAY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if names:
        alt = [x509.DNSName(n) for n in names]
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(signer.key, hashes.SHA256())
    return Issued(cert, key)


class Pki:
    """The whole set, written to `directory` as PEM files on request."""

    def __init__(self, directory, domain="test.example"):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        names = (domain, f"*.{domain}")
        self.root = issue("Test Root", ca=True, not_after=NOW + 60 * DAY)
        self.int1 = issue("Int One", self.root, ca=True)
        self.int2 = issue("Int Two", self.int1, ca=True)
        self.leaf = issue(domain, self.int2, names)
        self.renewed = issue(domain, self.int2, names)
        self.expired = issue(domain, self.int2, names, not_before=NOW - 10 * DAY,
                             not_after=NOW - DAY)
        self.future = issue(domain, self.int2, names, not_before=NOW + 5 * DAY)
        self.client_only = issue(domain, self.int2, names,
                                 usages=(ExtendedKeyUsageOID.CLIENT_AUTH,))
        self.stranger = issue("Stranger CA", ca=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, *parts, mode=0o644):
        """Writes the concatenation of `parts` (bytes) to `name`, atomically."""
        path = self.path(name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"".join(parts))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        return path

    def write_key(self, name, issued):
        return self.write(name, issued.key_pem(), mode=0o600)

    def write_chain(self, name, *issued):
        return self.write(name, *(i.cert_pem() for i in issued))
