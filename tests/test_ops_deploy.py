"""The deployment files say what the README says: the unit and the image run `newsletter schedule`
and stop it with SIGTERM (which finishes the message in flight); the serve unit and the proxy
examples put `newsletter serve` behind TLS. No docker engine here: static checks."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_systemd_unit_runs_the_scheduler_and_stops_it_gracefully():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(ROOT / "deploy" / "newsletter.service")
    svc = unit["Service"]
    assert svc["ExecStart"].endswith("/bin/newsletter schedule")
    assert svc["KillSignal"] == "SIGTERM" and int(svc["TimeoutStopSec"]) >= 60
    assert svc["User"] != "root" and "var" in svc["ReadWritePaths"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_dockerfile_runs_the_scheduler_as_a_user():
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.strip() and ln[0] != "#"]
    assert lines[0].startswith("FROM python:3.11")
    assert 'CMD ["newsletter", "schedule"]' in lines and "STOPSIGNAL SIGTERM" in lines
    assert any(ln.startswith("USER ") and "root" not in ln for ln in lines)
    assert any(ln.startswith("COPY newsletter ") for ln in lines)  # templates are package data inside it
    assert not any("-e ." in ln for ln in lines)  # a real install, as pipx would do


def test_serve_unit_runs_the_public_site_and_stops_it_gracefully():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(ROOT / "deploy" / "newsletter-serve.service")
    svc = unit["Service"]
    assert svc["ExecStart"].endswith("/bin/newsletter serve")
    assert svc["KillSignal"] == "SIGTERM" and svc["User"] != "root" and "var" in svc["ReadWritePaths"]
    assert "EnvironmentFile" in svc  # the unsubscribe secret, the same the sends sign with


def test_proxy_examples_forward_the_client_and_the_scheme_to_serve():
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_pass http://newsletter_serve" in nginx and "server 127.0.0.1:8765" in nginx
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in nginx and "X-Forwarded-Proto $scheme" in nginx
    assert "keepalive" in nginx and "access_log off" in nginx
    assert "reverse_proxy 127.0.0.1:8765" in (ROOT / "deploy" / "Caddyfile").read_text()
