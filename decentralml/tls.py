"""TLS material for the SuperLink: a coordinator's own CA and a server certificate it signs.

The coordinator creates them once in its federation directory (or is given its own files). The
CA certificate is public: a task's signed manifest carries it (`federation.ca_certificate`), so a
worker trusts exactly the SuperLink its task names, never a certificate it downloaded unchecked.
The private keys stay in the directory (mode 0600).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 825


def fingerprint(pem: str | bytes) -> str:
    """sha256 of the certificate's DER encoding, as `sha256:<hex>`."""
    certificate = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    return "sha256:" + hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def check_certificate(pem: str) -> None:
    """ValueError unless `pem` is one PEM X.509 certificate that may act as a CA."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as bad:
        raise ValueError(f"not a PEM X.509 certificate: {bad}") from bad
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValueError("the certificate is not a CA certificate (basicConstraints CA:TRUE)")


def write_private(path: Path, data: bytes) -> None:
    """`data` into `path`, readable by this user only (0600, also where the file was there)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    encoding, form = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    write_private(path, key.private_bytes(encoding, form, serialization.NoEncryption()))


@dataclass(frozen=True)
class SuperLinkCertificates:
    """Paths of the CA certificate, the server certificate and the server's private key."""

    ca_certificate: Path
    certificate: Path
    private_key: Path

    @classmethod
    def in_directory(cls, directory: Path) -> SuperLinkCertificates:
        return cls(directory / "ca.crt", directory / "server.pem", directory / "server.key")

    def exist(self) -> bool:
        return all(p.exists() for p in (self.ca_certificate, self.certificate, self.private_key))

    @classmethod
    def ensure(cls, directory: Path, hosts: list[str]) -> SuperLinkCertificates:
        """The certificates in `directory`, created if missing: a CA, and a server certificate it
        signs for `hosts` (names or IP addresses, the first as the common name)."""
        found = cls.in_directory(directory)
        if found.exist():
            return found
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP384R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DecentralML coordinator CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        server_key = ec.generate_private_key(ec.SECP384R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        server = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name)
            .public_key(server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(directory / "ca.key", ca_key)
        _write_private(found.private_key, server_key)
        found.ca_certificate.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        found.certificate.write_bytes(server.public_bytes(serialization.Encoding.PEM))
        return found
