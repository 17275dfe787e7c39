"""What every `newsletter doctor` check returns (`Check`: one line, ok / warn / fail / skip, and the fix), and
the test for a From domain the internet cannot send to or verify."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass
class Check:
    name: str
    state: str  # ok | warn (works, but a receiver may junk it) | fail | skip
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix and self.state != "ok" else ""
        return f"{self.state:<4}  {self.name:<11} {self.detail}{fix}"


_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".invalid", ".internal", ".lan", ".home.arpa")


def local_domain(domain: str) -> bool:
    """A domain the internet cannot send to or verify (localhost, *.local, an IP literal, one label):
    mail From it through a real relay is rejected or junked, and replies never come back."""
    d = domain.lower().strip().rstrip(".")
    if d.startswith("[") or is_ip(d):
        return True
    return d == "localhost" or "." not in d or d.endswith(_LOCAL_SUFFIXES)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]").removeprefix("IPv6:"))
    except ValueError:
        return False
    return True
