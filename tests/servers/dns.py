"""A small authoritative DNS server on 127.0.0.1 (dnslib, UDP, random port) answering TXT queries from a
dict, for `newsletter doctor`'s SPF/DKIM/DMARC checks. A name not in the dict (nor above one) is
NXDOMAIN; a name that only exists above another answers with no records. Every query is recorded.

    with DNSServer({"news.test": ["v=spf1 -all"]}) as dns:
        resolver = dns.resolver()       # a dnspython resolver asking only this server
"""

from __future__ import annotations

import threading

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger
from dnslib.server import DNSServer as _Server


class _Records(BaseResolver):
    def __init__(self, records: dict[str, list[str]]):
        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.queries: list[str] = []
        self.lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        with self.lock:
            self.queries.append(name)
        if name in self.records:
            if request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
                for value in self.records[name]:
                    chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
                    reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        elif not any(k.endswith("." + name) for k in self.records):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class DNSServer:
    def __init__(self, records: dict[str, list[str]]):
        self.records = _Records(records)
        self.server = _Server(self.records, port=0, address="127.0.0.1", logger=DNSLogger(logf=lambda s: None))
        self.port = 0

    @property
    def queries(self) -> list[str]:
        with self.records.lock:
            return list(self.records.queries)

    def __enter__(self) -> DNSServer:
        self.server.start_thread()
        self.port = self.server.server.server_address[1]
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()
        self.server.server.server_close()

    def resolver(self):
        import dns.resolver

        r = dns.resolver.Resolver(configure=False)
        r.nameservers = ["127.0.0.1"]
        r.port = self.port
        r.lifetime = 5.0
        return r
