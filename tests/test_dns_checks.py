"""`newsletter doctor`'s SPF, DKIM and DMARC checks against a real DNS server on 127.0.0.1 (dnslib):
good records pass, missing and wrong ones are one warning line each with the record to publish,
`--offline` asks nothing, and no other code of the newsletter can make a DNS lookup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.config import load_config
from newsletter.deliver.dkim import dns_record
from newsletter.ops.deliverability import dns_checks
from newsletter.ops.doctor import doctor
from tests.conftest import ROOT
from tests.servers.dns import DNSServer
from tests.test_dkim import make_key
from tests.test_mailbox_loop import set_section

DOMAIN = "news.example.org"
GOOD_SPF = "v=spf1 ip4:192.0.2.1 include:_spf.relay.example.net ~all"
GOOD_DMARC = f"v=DMARC1; p=none; rua=mailto:dmarc@{DOMAIN}"


@pytest.fixture
def cfg(project, tmp_path):
    set_section(project, "smtp", host="smtp.relay.example.net", **{"from": f"arXiv Daily <newsletter@{DOMAIN}>"})
    set_section(project, "dkim", domain=DOMAIN, selector="s1", private_key_file=str(make_key(tmp_path)))
    return load_config(project.config)


def run(cfg, records: dict[str, list[str]]) -> dict:
    with DNSServer(records) as dns:
        checks = dns_checks(cfg, dns.resolver())
    return {c.name: c for c in checks}


def good(cfg) -> dict[str, list[str]]:
    name, value = dns_record(cfg)
    return {DOMAIN: [GOOD_SPF, "google-site-verification=abc"],
            "_spf.relay.example.net": ["v=spf1 ip4:198.51.100.0/24 -all"], name: [value], f"_dmarc.{DOMAIN}": [GOOD_DMARC]}


def test_good_records_pass(cfg):
    got = run(cfg, good(cfg))
    assert {n: c.state for n, c in got.items()} == {"spf": "ok", "dkim": "ok", "dmarc": "ok"}, \
        [c.line() for c in got.values()]
    assert "(1 lookup)" in got["spf"].detail
    assert got["dkim"].detail == f"s1._domainkey.{DOMAIN} publishes the configured key; signing From {DOMAIN}"
    assert got["dmarc"].detail == f"_dmarc.{DOMAIN}: p=none (monitoring only)"


def test_missing_records_are_one_warning_each_with_the_record_to_publish(cfg):
    got = run(cfg, {})
    assert {n: c.state for n, c in got.items()} == {"spf": "warn", "dkim": "warn", "dmarc": "warn"}
    assert "has no SPF record" in got["spf"].detail and '"v=spf1 include:' in got["spf"].fix
    name, value = dns_record(cfg)
    assert "has no DKIM key" in got["dkim"].detail and got["dkim"].fix == f'publish a TXT record at {name}: "{value}"'
    assert "has no DMARC record" in got["dmarc"].detail and f"_dmarc.{DOMAIN}: \"v=DMARC1; p=none" in got["dmarc"].fix
    for c in got.values():
        assert "\n" not in c.line() and c.line().startswith(f"warn  {c.name}")


def test_wrong_records_say_what_is_wrong(cfg):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    name, _ = dns_record(cfg)
    records = {DOMAIN: ["v=spf1 +all"], name: [f"v=DKIM1; k=rsa; p={base64.b64encode(other).decode()}"],
               f"_dmarc.{DOMAIN}": ["v=DMARC1; p=maybe"]}
    got = run(cfg, records)
    assert {n: c.state for n, c in got.items()} == {"spf": "warn", "dkim": "warn", "dmarc": "warn"}
    assert "lets any server send" in got["spf"].detail and "~all" in got["spf"].fix
    assert "publishes another key, not the public key of the configured private key" in got["dkim"].detail
    assert "has no valid p= policy" in got["dmarc"].detail
    twice = run(cfg, {**good(cfg), DOMAIN: [GOOD_SPF, "v=spf1 -all"]})
    assert twice["spf"].state == "warn" and "2 SPF records" in twice["spf"].detail
    revoked = run(cfg, {**good(cfg), name: ["v=DKIM1; k=rsa; p="]})
    assert "an empty (revoked) key" in revoked["dkim"].detail


def test_no_dkim_configured_and_an_unaligned_domain_are_warnings(project, cfg):
    set_section(project, "dkim", domain="", selector="", private_key_file="")
    got = run(load_config(project.config), good(cfg))
    assert got["dkim"].state == "warn" and "not DKIM-signed" in got["dkim"].detail
    assert "openssl genrsa" in got["dkim"].fix
    set_section(project, "dkim", domain="elsewhere.example.net", selector="s1",
                private_key_file=cfg.dkim.private_key_file)
    other = load_config(project.config)
    name, value = dns_record(other)
    got = run(other, {**good(cfg), name: [value]})
    assert got["dkim"].state == "warn" and "is not the From domain" in got["dkim"].detail


def test_doctor_offline_asks_no_dns_and_says_so(project, cfg, cli):
    with DNSServer(good(cfg)) as dns:
        checks = {c.name: c for c in doctor(project.config, offline=True, resolver=dns.resolver())}
        assert dns.queries == []
        online = {c.name: c for c in doctor(project.config, resolver=dns.resolver())}
        assert dns.queries
    for n in ("spf", "dkim", "dmarc"):
        assert checks[n].state == "skip" and "--offline" in checks[n].detail
        assert online[n].state == "ok", online[n].line()
    r = cli("doctor", "--offline")
    assert re.search(r"^skip  spf +skip: --offline \(no DNS lookups\)", r.out, re.M), r.out


def test_only_the_doctor_checks_can_look_up_dns():
    users = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "newsletter").rglob("*.py")
                   if re.search(r"^\s*(import dns|from dns\b)", p.read_text(), re.M))
    assert users == ["newsletter/ops/deliverability.py"]
    assert not any(Path(ROOT / "newsletter").rglob("dnsplug*"))
