"""Certificates for the local control plane: a CA, the API server's serving certificate and
an admin client certificate (O=system:masters), plus the service-account signing key."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _write_ca(directory: Path) -> None:
    """ca.crt and ca.key: a self-signed CA valid for 30 days (from 5 minutes ago: clocks)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=30)

    ca_key = _key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("nodewave-local-ca"))
        .issuer_name(_name("nodewave-local-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(directory / "ca.key", ca_key)


def write_pki(directory: Path, service_ip: str = "10.0.0.1") -> None:
    """ca.crt, apiserver.{crt,key}, admin.{crt,key}, sa.key and sa.pub in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    _write_ca(directory)

    issue_certificate(
        directory,
        "apiserver",
        "kube-apiserver",
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[
            _ip("127.0.0.1"),
            _ip(service_ip),
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
        ],
    )
    issue_certificate(
        directory, "admin", "nodewave-admin", ExtendedKeyUsageOID.CLIENT_AUTH, org="system:masters"
    )
    # The API server's identity towards kubelets (logs, exec, port-forward): a kubelet allows
    # it by a SubjectAccessReview, which system:masters passes.
    issue_certificate(
        directory,
        "apiserver-kubelet-client",
        "kube-apiserver-kubelet-client",
        ExtendedKeyUsageOID.CLIENT_AUTH,
        org="system:masters",
    )

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(directory / "sa.key", sa_key)
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _ip(address: str) -> x509.GeneralName:
    return x509.IPAddress(ipaddress.ip_address(address))


def issue_certificate(
    directory: Path,
    stem: str,
    cn: str,
    usage: x509.ObjectIdentifier,
    org: str | None = None,
    ips: tuple[str, ...] = (),
    sans: list[x509.GeneralName] | None = None,
    ca_dir: Path | None = None,
) -> None:
    """`stem`.crt and `stem`.key in `directory`, signed by the CA that write_pki wrote in
    `ca_dir` (default: `directory`)."""
    ca_dir = ca_dir or directory
    ca = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    names = [*(sans or []), *(_ip(ip) for ip in ips)]
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn, org))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(ca.not_valid_before_utc)
        .not_valid_after(ca.not_valid_after_utc)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(directory / f"{stem}.key", key)
