"""Cluster DNS from what Debian has: dnsmasq answers from a hosts file that this loop keeps equal to the
API's Services (standing in for CoreDNS on the test cluster; the product only uses ordinary Service names).

``<svc>.<ns>.svc.cluster.local`` maps to the ClusterIP, or for a headless Service to its ready endpoint
addresses (and ``<hostname>.<svc>.<ns>.svc.cluster.local`` for StatefulSet pods). The file is written
beside the folder and renamed in, since dnsmasq also reads half-written files.

Run: ``python -m funflix.cluster.dns --server URL --ca FILE --token-file FILE --hosts-dir DIR``.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from funflix.cluster.configs import CLUSTER_DOMAIN


def hosts_lines(services: list[dict], endpoints: list[dict]) -> list[str]:
    """hosts-file lines for every Service (sorted, so an unchanged cluster gives an unchanged file)."""
    addresses = {}
    for item in endpoints:
        meta = item["metadata"]
        addresses[(meta["namespace"], meta["name"])] = [
            address for subset in item.get("subsets") or [] for address in subset.get("addresses") or []]
    lines = []
    for service in services:
        meta, spec = service["metadata"], service["spec"]
        fqdn = f"{meta['name']}.{meta['namespace']}.svc.{CLUSTER_DOMAIN}"
        cluster_ip = spec.get("clusterIP")
        if cluster_ip and cluster_ip != "None":
            lines.append(f"{cluster_ip} {fqdn}")
            continue
        for address in addresses.get((meta["namespace"], meta["name"]), []):
            lines.append(f"{address['ip']} {fqdn}")
            if address.get("hostname"):
                lines.append(f"{address['ip']} {address['hostname']}.{fqdn}")
    return sorted(set(lines))


class ApiReader:
    """GETs against the API server with a bearer token and its CA."""

    def __init__(self, server: str, ca_file: Path, token: str):
        self.server = server.rstrip("/")
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.token = token

    def items(self, path: str) -> list[dict]:
        request = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, context=self.context, timeout=5) as answer:
            return json.load(answer)["items"]


def write_hosts(hosts_dir: Path, lines: list[str]) -> None:
    partial = hosts_dir.parent / "services.hosts.partial"
    partial.write_text("".join(line + "\n" for line in lines))
    partial.chmod(0o644)
    partial.rename(hosts_dir / "services.hosts")


def run(reader: ApiReader, hosts_dir: Path, interval: float = 0.5) -> None:
    """Poll Services and Endpoints forever; rewrite the hosts file whenever they change."""
    written = None
    while True:
        try:
            lines = hosts_lines(reader.items("/api/v1/services"), reader.items("/api/v1/endpoints"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(f"dns: API not answering: {exc}", file=sys.stderr, flush=True)
        else:
            if lines != written:
                write_hosts(hosts_dir, lines)
                written = lines
                print(f"dns: {len(lines)} names", flush=True)
        time.sleep(interval)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True, type=Path)
    parser.add_argument("--token-file", required=True, type=Path)
    parser.add_argument("--hosts-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    run(ApiReader(args.server, args.ca, args.token_file.read_text().strip()), args.hosts_dir)


if __name__ == "__main__":
    main()
