"""A real mail system for tests: Debian's Postfix and Dovecot, run as private instances on 127.0.0.1.

    with MailServer(users={"ada@news.test": "pw1"}) as mail:
        ...send to mail.submission_port (STARTTLS + AUTH), trusting mail.ca...
        msgs = mail.wait_for("ada@news.test", 2)      # raw bytes, read back over IMAP

What runs (every file under one folder of its own, removed by stop()):
- a test CA made with `cryptography` (`ca`), a server certificate for 127.0.0.1/localhost signed
  by it, and a second, unrelated CA (`wrong_ca`) for "untrusted certificate" tests;
- Postfix (`postfix -c DIR start`): an SMTP port (`smtp_port`: mail from outside, no AUTH,
  STARTTLS offered), the submission port (`submission_port`: STARTTLS required, AUTH through
  Dovecot SASL, only authenticated clients) and SMTPS (`smtps_port`: implicit TLS, AUTH);
  virtual mailboxes in Maildirs under `mail/` (no system users), nothing delivered anywhere
  else: mail for another domain is refused at RCPT unless it is routed (`relay={"far.test":
  port}` -> `transport_maps`) to another SMTP server on 127.0.0.1;
- Dovecot (`dovecot -F -c FILE`): the SASL service for Postfix and IMAP (`imap_port`,
  STARTTLS) and IMAPS (`imaps_port`) on the same Maildirs, with the same users and passwords;
  `fetch()` / `wait_for()` read mailboxes over IMAP as a mail client does, verifying the CA.

Every user is a mailbox; `mailboxes=[...]` adds mailboxes without a login (e.g. a bounce address is
a user too: pass it in `users` to read it). Ports are random free ones. Both servers log into the
folder (there is no syslog here): `log()` returns them, and every failure message includes their
tail. stop() is bounded and leaves no process behind (`postfix -c DIR stop`, then SIGKILL by pid
if the master lingers; Dovecot is our child process).

Needs root (Postfix's master and Dovecot start as root and drop privileges) and the Debian
packages `postfix` and `dovecot-imapd` (`make mailserver` installs them). The system's own mail
setup is not touched: no file outside the folder is written (`postfix -c` as root needs no
`alternate_config_directories` in /etc/postfix/main.cf, checked with Postfix 3.7).
"""

from __future__ import annotations

import datetime as dt
import grp
import imaplib
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

POSTFIX = "/usr/sbin/postfix"
DOVECOT = "/usr/sbin/dovecot"
DOVECOT_IMAP = "/usr/lib/dovecot/imap"  # from dovecot-imapd (dovecot-core alone has no IMAP)
HOST = "127.0.0.1"


class MailServerError(RuntimeError):
    """The mail servers could not be set up or did not do what was asked (message includes the logs)."""


def missing() -> str:
    """Why a MailServer cannot run on this machine ("" when it can): for a test to FAIL with it."""
    why = []
    if not os.path.exists(POSTFIX):
        why.append("Postfix (Debian package postfix)")
    if not (os.path.exists(DOVECOT) and os.path.exists(DOVECOT_IMAP)):
        why.append("Dovecot (Debian package dovecot-imapd)")
    if why:
        return " and ".join(why) + " not installed: run `make mailserver` (apt-get, as root)"
    if os.geteuid() != 0:
        return "a private Postfix and Dovecot need root (their masters start as root and drop privileges)"
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return "the test CA needs the `cryptography` package: pip install -e '.[dev]'"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# -- test certificates -------------------------------------------------------------------------


@dataclass
class TestCA:
    ca: Path  # the CA certificate to trust ([smtp] ca_file)
    cert: Path  # the server's certificate (127.0.0.1 and localhost)
    key: Path
    wrong_ca: Path  # another CA: valid, but it signed nothing here


def make_ca(folder: Path, hosts: tuple[str, ...] = (HOST, "localhost")) -> TestCA:
    """A CA and a server certificate that pass Python's strict verification (VERIFY_X509_STRICT):
    CA with basicConstraints CA:TRUE, keyCertSign and a subjectKeyIdentifier; the server's with
    subjectAltName, serverAuth and an authorityKeyIdentifier. EC P-256, valid for two days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    later = now + dt.timedelta(days=2)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def authority(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(later)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = authority("newsletter mail-loop test CA")
    _, wrong_cert = authority("newsletter unrelated test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (
        x509.CertificateBuilder().subject_name(name(hosts[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    out = TestCA(ca=folder / "ca.pem", cert=folder / "server.pem", key=folder / "server.key",
                 wrong_ca=folder / "wrong-ca.pem")
    out.ca.write_bytes(ca_cert.public_bytes(pem))
    out.wrong_ca.write_bytes(wrong_cert.public_bytes(pem))
    out.cert.write_bytes(cert.public_bytes(pem))
    out.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    out.key.chmod(0o600)
    return out


# -- the servers -------------------------------------------------------------------------------


@dataclass
class MailServer:
    """Postfix + Dovecot under a folder of their own; use as a context manager (or start()/stop())."""

    users: dict[str, str] = field(default_factory=dict)  # address -> password (a mailbox and a login)
    mailboxes: list[str] = field(default_factory=list)  # more mailboxes without a login
    relay: dict[str, int] = field(default_factory=dict)  # domain -> port of an SMTP server on 127.0.0.1
    postfix_params: dict[str, str] = field(default_factory=dict)  # extra main.cf settings (they win)
    base: Path = Path("/tmp")  # where the folder is made: every folder above it must be world-traversable
    timeout: float = 30.0  # bound of every wait (start, stop, delivery)

    def __post_init__(self) -> None:
        self.root: Path | None = None
        self.tls: TestCA | None = None
        self.smtp_port = self.submission_port = self.smtps_port = self.imap_port = self.imaps_port = 0
        self._dovecot: subprocess.Popen | None = None
        self._postfix_started = False

    # paths (valid once started)
    @property
    def ca(self) -> Path:
        assert self.tls is not None
        return self.tls.ca

    @property
    def wrong_ca(self) -> Path:
        assert self.tls is not None
        return self.tls.wrong_ca

    @property
    def domains(self) -> list[str]:
        return sorted({a.rsplit("@", 1)[1].lower() for a in [*self.users, *self.mailboxes]})

    @property
    def sasl_socket(self) -> Path:
        """Dovecot's authentication socket for Postfix (smtpd_sasl_path)."""
        assert self.root is not None
        return self.root / "dovecot" / "sasl"

    def maildir(self, address: str) -> Path:
        assert self.root is not None
        local, domain = address.lower().rsplit("@", 1)
        return self.root / "mail" / domain / local / "Maildir"

    # -- lifecycle --

    def __enter__(self) -> MailServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        why = missing()
        if why:
            raise MailServerError(why)
        if not self.users and not self.mailboxes:
            raise MailServerError("MailServer needs at least one user or mailbox")
        for attempt in (1, 2):  # a free port can be taken by someone else before we bind it: once more
            try:
                self._start_once()
                return
            except MailServerError as e:
                self.stop()
                if attempt == 2 or "Address already in use" not in str(e):
                    raise
            except BaseException:
                self.stop()
                raise

    def _start_once(self) -> None:
        # short and outside pytest's 0700 tmp tree: Postfix and Dovecot's workers (uids postfix,
        # dovecot, dovenull) must reach their sockets and the Maildirs, and socket paths are limited
        self.root = Path(tempfile.mkdtemp(prefix="nl-mail-", dir=str(self.base)))
        self.root.chmod(0o755)
        self.tls = make_ca(self.root / "tls")
        (self.smtp_port, self.submission_port, self.smtps_port,
         self.imap_port, self.imaps_port) = (free_port() for _ in range(5))
        self._start_dovecot()
        self._start_postfix()

    def stop(self) -> None:
        """Stop both servers (bounded) and remove the folder; safe to call twice."""
        if self.root is None:
            return
        errors = []
        if self._postfix_started:
            self._postfix_started = False
            pid = self._master_pid()
            children = _children(pid) if pid else []
            try:
                subprocess.run([POSTFIX, "-c", str(self.root / "postfix"), "stop"], capture_output=True,
                               timeout=self.timeout)
            except subprocess.TimeoutExpired:
                errors.append("postfix stop timed out")
            if pid and not _wait_gone(pid, self.timeout):
                _kill(pid)
                errors.append(f"postfix master {pid} had to be killed")
            for child in children:  # the master does not wait for its workers: bounded wait, then kill
                if not _wait_gone(child, 5):
                    _kill(child)
        if self._dovecot is not None:
            proc, self._dovecot = self._dovecot, None
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(self.timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
                    errors.append("dovecot had to be killed")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None
        if errors:
            raise MailServerError("; ".join(errors))

    # -- reading mail --

    def imap(self, address: str, *, implicit_tls: bool = False) -> imaplib.IMAP4:
        """A logged-in IMAP session for a user (STARTTLS, or IMAPS), verifying the test CA."""
        context = ssl.create_default_context(cafile=str(self.ca))
        if implicit_tls:
            m: imaplib.IMAP4 = imaplib.IMAP4_SSL(HOST, self.imaps_port, ssl_context=context, timeout=self.timeout)
        else:
            m = imaplib.IMAP4(HOST, self.imap_port, timeout=self.timeout)
            m.starttls(ssl_context=context)
        m.login(address, self.users[address])
        return m

    def fetch(self, address: str, *, implicit_tls: bool = False, mailbox: str = "INBOX") -> list[bytes]:
        """Every message of the user's mailbox as raw bytes (read-only, in arrival order)."""
        m = self.imap(address, implicit_tls=implicit_tls)
        try:
            typ, _ = m.select(mailbox, readonly=True)
            if typ != "OK":
                raise MailServerError(f"IMAP SELECT {mailbox} failed for {address}")
            typ, data = m.uid("SEARCH", None, "ALL")
            out = []
            for uid in data[0].split():
                typ, parts = m.uid("FETCH", uid, "(BODY.PEEK[])")
                out.extend(p[1] for p in parts if isinstance(p, tuple))
            return out
        finally:
            try:
                m.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def count(self, address: str) -> int:
        """Messages in the mailbox's Maildir now (no IMAP round trip)."""
        md = self.maildir(address)
        return sum(1 for sub in ("new", "cur") if (md / sub).is_dir() for _ in (md / sub).iterdir())

    def queued(self) -> int:
        """Messages Postfix still holds (incoming, active, deferred, hold)."""
        assert self.root is not None
        q = self.root / "postfix-queue"
        return sum(1 for d in ("incoming", "active", "deferred", "hold") if (q / d).is_dir()
                   for _, _, files in os.walk(q / d) for _ in files)

    def settle(self, timeout: float | None = None) -> None:
        """Wait until Postfix has nothing left in incoming/active (deferred mail stays deferred)."""
        assert self.root is not None
        q = self.root / "postfix-queue"
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            busy = sum(1 for d in ("incoming", "active") if (q / d).is_dir() for _, _, f in os.walk(q / d) for _ in f)
            if not busy:
                return
            time.sleep(0.1)
        raise MailServerError(f"Postfix still has mail in flight after {timeout or self.timeout:.0f} s\n{self.log()}")

    def wait_for(self, address: str, n: int, timeout: float | None = None, *, implicit_tls: bool = False) -> list[bytes]:
        """Wait until the mailbox holds at least n messages and the queue has settled, then read
        them all over IMAP. Fails (with the logs) after `timeout` seconds."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.count(address) < n:
            if time.monotonic() > deadline:
                raise MailServerError(f"{address}: {self.count(address)} of {n} messages after "
                                      f"{timeout or self.timeout:.0f} s\n{self.log()}")
            time.sleep(0.1)
        self.settle(max(1.0, deadline - time.monotonic()))
        return self.fetch(address, implicit_tls=implicit_tls)

    def log(self, tail: int = 40) -> str:
        """The last lines of Postfix's and Dovecot's logs (for failure messages)."""
        if self.root is None:
            return ""
        out = []
        for name in ("postfix.log", "dovecot.log"):
            p = self.root / name
            lines = p.read_text(errors="replace").splitlines()[-tail:] if p.exists() else []
            out.append(f"--- {name} (last {len(lines)} lines)\n" + "\n".join(lines))
        return "\n".join(out)

    # -- setup --

    def _ids(self) -> tuple[int, int]:
        return pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postfix").gr_gid

    def _start_dovecot(self) -> None:
        assert self.root is not None and self.tls is not None
        uid, gid = self._ids()
        d = self.root / "dovecot"
        for sub in ("run", "state"):
            (d / sub).mkdir(parents=True)
        mail = self.root / "mail"
        mail.mkdir()
        os.chown(mail, uid, gid)
        users = d / "users"
        users.write_text("".join(f"{a}:{{PLAIN}}{p}::::::\n" for a, p in self.users.items()))
        users.chmod(0o640)
        os.chown(users, 0, grp.getgrnam("dovecot").gr_gid)  # read by the auth process (user dovecot)
        dh = Path("/usr/share/dovecot/dh.pem")
        conf = f"""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
listen = {HOST}
protocols = imap
ssl = required
ssl_cert = <{self.tls.cert}
ssl_key = <{self.tls.key}
ssl_min_protocol = TLSv1.2
{f"ssl_dh = <{dh}" if dh.exists() else ""}
disable_plaintext_auth = yes
auth_mechanisms = plain
auth_failure_delay = 0
# (and no anvil auth penalty below: a wrong password is tested, and must not slow the next login)
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{mail}/%d/%n/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {users}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%Ld/%Ln
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  unix_listener {self.sasl_socket} {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
"""
        (d / "dovecot.conf").write_text(conf)
        self._dovecot = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(d / "dovecot.conf")], stdin=subprocess.DEVNULL,
            stdout=open(self.root / "dovecot.out", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        deadline = time.monotonic() + self.timeout
        while not (_listening(self.imap_port) and _listening(self.imaps_port) and self.sasl_socket.exists()):
            if self._dovecot.poll() is not None or time.monotonic() > deadline:
                out = (self.root / "dovecot.out").read_text(errors="replace")[-2000:]
                raise MailServerError(f"dovecot did not start (exit {self._dovecot.poll()}):\n{out}\n{self.log()}")
            time.sleep(0.05)

    def _start_postfix(self) -> None:
        assert self.root is not None and self.tls is not None
        uid, gid = self._ids()
        conf = self.root / "postfix"
        conf.mkdir()
        data = self.root / "postfix-data"
        data.mkdir()
        os.chown(data, uid, gid)
        queue = self.root / "postfix-queue"
        queue.mkdir()  # Postfix makes its subfolders (owned by postfix) at start
        boxes = [*self.users, *self.mailboxes]
        mailbox_map = ", ".join(f"{a.lower()}={self.maildir(a).relative_to(self.root / 'mail')}/" for a in boxes)
        transport = ", ".join(f"{dom}=smtp:[{HOST}]:{port}" for dom, port in self.relay.items())
        params = {
            "compatibility_level": "3.6",
            "queue_directory": str(queue),
            "data_directory": str(data),
            "maillog_file": str(self.root / "postfix.log"),
            "maillog_file_prefixes": str(self.root),
            "inet_interfaces": HOST,
            "inet_protocols": "ipv4",
            "myhostname": "mail.test",
            "mydomain": "test",
            "myorigin": "mail.test",
            "mydestination": "",
            "mynetworks": f"{HOST}/32",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "local_transport": "error:no local delivery in tests",
            # nothing leaves this machine: other domains are refused, or routed by transport_maps
            "default_transport": "error:no delivery outside the test mail system",
            "relay_transport": "error:no delivery outside the test mail system",
            "relay_domains": ", ".join(self.relay) or "",
            "transport_maps": f"inline:{{ {transport} }}" if transport else "",
            "smtp_dns_support_level": "disabled",
            "smtp_tls_security_level": "none",
            "smtpd_peername_lookup": "no",
            "virtual_mailbox_domains": ", ".join(self.domains),
            "virtual_mailbox_base": str(self.root / "mail"),
            "virtual_mailbox_maps": f"inline:{{ {mailbox_map} }}",
            "virtual_uid_maps": f"static:{uid}",
            "virtual_gid_maps": f"static:{gid}",
            "virtual_minimum_uid": str(min(uid, 100)),
            "smtpd_relay_restrictions": "reject_unauth_destination",
            "smtpd_tls_cert_file": str(self.tls.cert),
            "smtpd_tls_key_file": str(self.tls.key),
            "smtpd_tls_security_level": "may",
            "smtpd_sasl_type": "dovecot",
            "smtpd_sasl_path": str(self.sasl_socket),
            "smtpd_sasl_auth_enable": "no",
            "message_size_limit": "20480000",
            "biff": "no",
            "smtpd_error_sleep_time": "0",
            # a retry of deferred mail comes within seconds (tests wait a bounded time)
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            **self.postfix_params,
        }
        (conf / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in params.items()))
        auth = ("  -o smtpd_sasl_auth_enable=yes\n  -o smtpd_tls_auth_only=yes\n"
                "  -o smtpd_client_restrictions=permit_sasl_authenticated,reject\n")
        (conf / "master.cf").write_text(
            f"{HOST}:{self.smtp_port} inet n - n - - smtpd\n"
            f"{HOST}:{self.submission_port} inet n - n - - smtpd\n  -o syslog_name=postfix/submission\n"
            f"  -o smtpd_tls_security_level=encrypt\n{auth}"
            f"{HOST}:{self.smtps_port} inet n - n - - smtpd\n  -o syslog_name=postfix/smtps\n"
            f"  -o smtpd_tls_wrappermode=yes\n{auth}"
            + "".join(f"{line}\n" for line in _MASTER_SERVICES)
        )
        check = subprocess.run([POSTFIX, "-c", str(conf), "check"], capture_output=True, text=True,
                               timeout=self.timeout)
        if check.returncode != 0:
            raise MailServerError(f"postfix check failed: {check.stderr.strip()}\n{self.log()}")
        self._postfix_started = True
        start = subprocess.run([POSTFIX, "-c", str(conf), "start"], capture_output=True, text=True,
                               timeout=self.timeout)
        if start.returncode != 0:
            raise MailServerError(f"postfix start failed: {start.stderr.strip()}\n{self.log()}")
        deadline = time.monotonic() + self.timeout
        while not all(_listening(p) for p in (self.smtp_port, self.submission_port, self.smtps_port)):
            if time.monotonic() > deadline:
                raise MailServerError(f"postfix is not listening after {self.timeout:.0f} s\n{self.log()}")
            time.sleep(0.05)

    def _master_pid(self) -> int | None:
        assert self.root is not None
        try:
            return int((self.root / "postfix-queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


# the internal services Postfix needs (Debian's master.cf, no chroot: the queue is our folder)
_MASTER_SERVICES = [
    "pickup unix n - n 60 1 pickup",
    "cleanup unix n - n - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "tlsmgr unix - - n 1000? 1 tlsmgr",
    "rewrite unix - - n - - trivial-rewrite",
    "bounce unix - - n - 0 bounce",
    "defer unix - - n - 0 bounce",
    "trace unix - - n - 0 bounce",
    "verify unix - - n - 1 verify",
    "flush unix n - n 1000? 0 flush",
    "proxymap unix - - n - - proxymap",
    "proxywrite unix - - n - 1 proxymap",
    "smtp unix - - n - - smtp",
    "relay unix - - n - - smtp",
    "showq unix n - n - - showq",
    "error unix - - n - - error",
    "retry unix - - n - - error",
    "discard unix - - n - - discard",
    "local unix - n n - - local",
    "virtual unix - n n - - virtual",
    "lmtp unix - - n - - lmtp",
    "anvil unix - - n - 1 anvil",
    "scache unix - - n - 1 scache",
    "postlog unix-dgram n - n - 1 postlogd",
]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int(p.joinpath("stat").read_text().rsplit(") ", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _wait_gone(pid, 5)
