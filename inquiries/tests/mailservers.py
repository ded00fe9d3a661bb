"""Real mail servers for the e-mail channel's tests: a private Dovecot IMAP server (Debian's
dovecot-imapd, installed by `make test`) and an aiosmtpd SMTP server that keeps what it receives.

Each Dovecot instance has its own configuration, sockets, state, log and Maildirs in a temporary
directory and listens on a free port of 127.0.0.1 without TLS; it never touches the system's
/etc/dovecot set-up. Users live in passwd-files with plain passwords (test accounts only)."""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
INSTALL_HINT = "dovecot is not installed: `make test` installs it (apt-get install dovecot-imapd)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot")
    if found:
        return found
    return next((p for p in DOVECOT_CANDIDATES if os.access(p, os.X_OK)), None)


def _version(binary: str) -> tuple[int, ...]:
    out = subprocess.run(  # noqa: S603 - our own binary path, no shell
        [binary, "--version"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    match = re.match(r"(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else (2, 3)


class Dovecot:
    """A private Dovecot instance; use `dovecot_server()` to start and stop one."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="ruwang-dovecot-"))
        self.conf = self.root / "dovecot.conf"
        self.users_dir = self.root / "users"
        self.log = self.root / "dovecot.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.passwords: dict[str, str] = {}
        if os.geteuid() == 0:
            # Dovecot refuses to open mail as root; the Maildirs belong to `nobody`.
            account = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = account.pw_uid, account.pw_gid
            self.service_user: str | None = None  # the packaged dovecot/dovenull users
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
            self.service_user = pwd.getpwuid(os.getuid()).pw_name
        self.version = _version(binary)

    # --- configuration -------------------------------------------------------------------------

    def _config(self) -> str:
        root = self.root
        unprivileged = ""
        if self.service_user is not None:
            group = grp.getgrgid(os.getgid()).gr_name
            unprivileged = (
                f"default_login_user = {self.service_user}\n"
                f"default_internal_user = {self.service_user}\n"
                f"default_internal_group = {group}\n"
            )
        services = f"""
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
        if self.version >= (2, 4):
            # 2.4 renamed the settings (dovecot_config_version must come first).
            return f"""dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = no
auth_allow_cleartext = yes
auth_mechanisms = plain login
auth_failure_delay = 0
{unprivileged}first_valid_uid = {self.mail_uid}
first_valid_gid = {self.mail_gid}
passdb passwd-file {{
  passwd_file_path = {self.users_dir}/%{{user}}
}}
userdb static {{
  fields {{
    uid = {self.mail_uid}
    gid = {self.mail_gid}
    home = {root}/mail/%{{user}}
  }}
}}
mail_driver = maildir
mail_path = {root}/mail/%{{user}}/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
{services}"""
        return f"""base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
{unprivileged}first_valid_uid = {self.mail_uid}
first_valid_gid = {self.mail_gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_dir}/%u
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={root}/mail/%u
}}
mail_location = maildir:{root}/mail/%u/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
{services}"""

    # --- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        mail = self.root / "mail"
        mail.mkdir()
        # The login and auth processes run as other users when we are root: they must reach
        # the passwd-file and the sockets.
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            os.chown(mail, self.mail_uid, self.mail_gid)
        self.users_dir.mkdir()
        self.users_dir.chmod(0o755)
        self.conf.write_text(self._config())
        # The master daemonises; its children would hold a captured pipe open forever, so
        # its start-up complaints go to a file.
        with (self.root / "start.err").open("wb") as errors:
            started = subprocess.run(  # noqa: S603 - our own binary and config, no shell
                [self.binary, "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=errors,
                stderr=errors,
                timeout=30,
            )
        if started.returncode != 0:
            message = (self.root / "start.err").read_text(errors="replace")
            shutil.rmtree(self.root, ignore_errors=True)
            raise RuntimeError(f"dovecot did not start: {message}")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not start on port {self.port}:\n{self.log_text()}")

    def stop(self) -> None:
        pid_file = self.root / "run" / "master.pid"
        pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
        subprocess.run(  # noqa: S603 - our own binary and config, no shell
            [self.binary, "-c", str(self.conf), "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        deadline = time.monotonic() + 10
        while pid is not None and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)  # still there?
            except ProcessLookupError:
                break
            time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"

    # --- users and messages --------------------------------------------------------------------

    def add_user(self, user: str, password: str) -> None:
        """A mail account. Each has its own passwd-file: Dovecot looks at a changed file at most
        once a second, so a user added to a shared one could be refused for a moment."""
        assert re.fullmatch(r"[\w.@+-]+", user), user
        self.passwords[user] = password
        entry = self.users_dir / user
        entry.write_text(f"{user}:{{PLAIN}}{password}\n")
        entry.chmod(0o644)

    @contextlib.contextmanager
    def imap(self, user: str) -> Iterator[imaplib.IMAP4]:
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        conn.login(user, self.passwords[user])
        try:
            yield conn
        finally:
            conn.logout()

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX") -> int:
        """Put a message into the user's folder (IMAP APPEND, unseen); returns its UID."""
        with self.imap(user) as conn:
            # typeshed's IMAP4.append says (str, str, str) -> str; it takes a None date and
            # returns (status, data) like every other command.
            response: Any = conn.append(_quoted(folder), "", None, raw)  # type: ignore[arg-type]
        status, data = response
        assert status == "OK", data
        match = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
        return int(match.group(1)) if match else 0

    def create_folder(self, user: str, folder: str) -> None:
        with self.imap(user) as conn:
            status, data = conn.create(_quoted(folder))
        assert status == "OK", data

    def recreate_folder(self, user: str, folder: str) -> None:
        """Delete and create the folder again: the server gives it a new UIDVALIDITY and
        numbers its messages from 1 again."""
        with self.imap(user) as conn:
            for command in (conn.delete, conn.create):
                status, data = command(_quoted(folder))
                assert status == "OK", data

    def uid_validity(self, user: str, folder: str = "INBOX") -> int:
        with self.imap(user) as conn:
            status, data = conn.status(_quoted(folder), "(UIDVALIDITY)")
        assert status == "OK", data
        match = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"")
        assert match, data
        return int(match.group(1))

    def message_count(self, user: str, folder: str = "INBOX") -> int:
        with self.imap(user) as conn:
            status, data = conn.status(_quoted(folder), "(MESSAGES)")
        assert status == "OK", data
        match = re.search(rb"MESSAGES (\d+)", data[0] or b"")
        assert match, data
        return int(match.group(1))


def _quoted(folder: str) -> str:
    from inquiries.mail import imap_folder_name

    return imap_folder_name(folder)


@contextlib.contextmanager
def dovecot_server() -> Iterator[Dovecot]:
    """A running private Dovecot; raises LookupError when dovecot is not installed."""
    binary = dovecot_binary()
    if binary is None:
        raise LookupError(INSTALL_HINT)
    server = Dovecot(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpInbox:
    """An aiosmtpd handler keeping every message it receives, parsed."""

    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    """A running aiosmtpd server on a free port of 127.0.0.1: (its inbox, its port)."""
    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
