"""The viewer's country, without storing where they are.

In order: a CDN's country header when the operator says the CDN is in front
(`VIDRAY_ANALYTICS_TRUST_COUNTRY_HEADER`: otherwise any client could set it); an
operator's MaxMind or DB-IP country `.mmdb` (`VIDRAY_ANALYTICS_MMDB_PATH`, read with
`maxminddb`); else `iptocc`, an offline table of the regional internet registries'
delegations, updated on PyPI. Private and unknown addresses have no country.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

COUNTRY_HEADERS = ("cf-ipcountry", "cloudfront-viewer-country")
_CODE = re.compile(r"^[A-Z]{2}$")
# Cloudflare's "unknown" and "Tor" codes are not countries.
_NOT_COUNTRIES = frozenset({"XX", "T1"})


class Countries:
    def __init__(self, *, trust_header: bool, mmdb_path: Path | None) -> None:
        self.trust_header = trust_header
        self._mmdb: Any = None
        if mmdb_path is not None:
            import maxminddb

            self._mmdb = maxminddb.open_database(str(mmdb_path))

    def country(self, *, ip: str | None, headers: Mapping[str, str]) -> str | None:
        if self.trust_header:
            for name in COUNTRY_HEADERS:
                code = headers.get(name, "").strip().upper()
                if _CODE.match(code) and code not in _NOT_COUNTRIES:
                    return code
        if not ip:
            return None
        if self._mmdb is not None:
            try:
                record = self._mmdb.get(ip)
            except ValueError:  # not an IP address
                return None
            if isinstance(record, dict):
                country = record.get("country") or record.get("registered_country") or {}
                iso = country.get("iso_code") if isinstance(country, dict) else None
                return str(iso) if iso else None
            return None
        import iptocc

        try:
            found: str | None = iptocc.country_code(ip)
        except ValueError:
            return None
        return found
