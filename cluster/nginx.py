"""The nginx configuration behind `vidray nginx-config`: the fast byte path.

nginx answers segment requests from the store folder itself, checking vidray's signed
prefix tokens with its `secure_link` module (see "signed HLS URLs" in
`cluster/url_signing.py` for the token form), passes tus uploads at /files/ to the upload
edge, and proxies everything else (playlists, GraphQL, pages) to Ray Serve. Uploads made
with `createUpload` reach nginx too once `VIDRAY_UPLOAD_URL` names nginx's address.
nginx receives the derived URL-signing keys, never `VIDRAY_SIGNING_SECRET` itself;
regenerate the file after rotating the secret.

What nginx does not check: a token's not-before time (nginx cannot compare numbers), a
private video's session generation (nginx cannot read the KV store; it verifies the
binding only as signed text), and the expiry has no skew window there. Playlists still
come from Serve, which checks all of them, so a player cannot start on such a token; only
a bare segment fetch would pass.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

from cluster.config import Settings
from cluster.url_signing import NGINX_GRANT_PATTERN, UrlSigner

SEGMENT_TYPES = {
    "ts": "video/mp2t",
    "m4s": "video/iso.segment",
    "aac": "audio/aac",
    "mp4": "video/mp4",
}


@dataclass(frozen=True, slots=True)
class NginxOptions:
    listen: str = "8080"
    upstream: str = "127.0.0.1:8000"
    # The upload edge, which takes /files/ (serve/upload_edge.py); None: Serve takes it.
    uploads: str | None = "127.0.0.1:8001"
    # Standalone: a whole nginx.conf whose pid, logs and temp files live in `prefix`.
    standalone: bool = False
    prefix: Path | None = None
    workers: int | str = "auto"


def _refuse(reason: str) -> str:
    # `add_header` inside `if` replaces the location's headers, so CORS is repeated.
    return (
        f'add_header X-Vidray-Refused {reason} always; add_header Cache-Control "no-store" always;'
        " add_header Access-Control-Allow-Origin * always;"
        " add_header Access-Control-Expose-Headers X-Vidray-Refused always; return 403;"
    )


def _uploads_upstream(options: NginxOptions) -> str:
    if options.uploads is None:
        return ""
    return f"""upstream vidray_uploads {{
    server {options.uploads};
    keepalive 16;
}}
"""


def _uploads_location(options: NginxOptions) -> str:
    if options.uploads is None:
        return ""
    # $http_host keeps the port: the edge builds each upload's Location from it.
    return """
    # tus uploads: to the upload edge, streamed as they arrive (tus resumes a dropped one).
    location /files/ {
        proxy_pass http://vidray_uploads;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_request_buffering off;
        proxy_read_timeout 3600s;
    }
"""


def render(settings: Settings, options: NginxOptions) -> str:
    """The configuration text; `http`-context directives unless `standalone`."""
    signer = UrlSigner.from_settings(settings)
    objects = settings.objects_dir.resolve()
    keys = "\n".join(f'    {kid} "{key}";' for kid, key in sorted(signer.keys.items()))
    types = " ".join(f"{mime} {ext};" for ext, mime in SEGMENT_TYPES.items())
    extensions = "|".join(SEGMENT_TYPES)
    location = (
        rf'"^/hls/(?<vr_vid>[0-9a-z]{{1,32}})/{NGINX_GRANT_PATTERN}/'
        rf'(?<vr_rest>(?:[0-9A-Za-z_-]+/)?[0-9A-Za-z_-]+\.(?:{extensions}))$"'
    )
    http = f"""# Written by `vidray nginx-config` ({settings.mode} mode, stream path via nginx).
# Holds URL-signing keys: readable by root and nginx only. Regenerate after rotating
# VIDRAY_SIGNING_SECRET (old keys stay while VIDRAY_SIGNING_PREVIOUS_SECRETS lists them).

map $vr_kid $vr_key {{
    default "";
{keys}
}}
# Tokens bound to an address ("i...") sign the viewer's address; others sign "".
map $vr_bind $vr_ip {{
    "~^i" $remote_addr;
    default "";
}}
map $http_upgrade $vr_connection {{
    default upgrade;
    "" "";
}}

upstream vidray_serve {{
    server {options.upstream};
    keepalive 64;
}}
{_uploads_upstream(options)}
server {{
    listen {options.listen} reuseport;
    server_name _;
    client_max_body_size 0;

    # Segments: straight from the store folder once the token checks out.
    location ~ {location} {{
        secure_link $vr_sig,$vr_exp;
        secure_link_md5 "$secure_link_expires/hls/$vr_vid/ $vr_kid $vr_nbf $vr_bind $vr_ip $vr_key";
        if ($vr_key = "") {{ {_refuse("unknown-key")} }}
        if ($secure_link = "") {{ {_refuse("tampered")} }}
        if ($secure_link = "0") {{ {_refuse("expired")} }}
        alias {objects}/hls/$vr_vid/$vr_rest;
        types {{ {types} }}
        default_type application/octet-stream;
        etag on;
        add_header Cache-Control "public, max-age=31536000, immutable" always;
        add_header Access-Control-Allow-Origin * always;
        add_header Access-Control-Expose-Headers "content-length, content-range, etag" always;
        sendfile on;
        tcp_nopush on;
    }}

{_uploads_location(options)}
    # Everything else: Ray Serve (playlists, images, GraphQL, pages).
    location / {{
        proxy_pass http://vidray_serve;
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $vr_connection;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # Uploads stream through as they arrive; tus resumes if a connection drops.
        proxy_request_buffering off;
        proxy_read_timeout 3600s;
    }}
}}
"""
    if not options.standalone:
        return http
    prefix = (options.prefix or settings.data_dir / "nginx").resolve()
    user = "root" if getpass.getuser() == "root" else None
    indented = "\n".join(f"    {line}" if line else "" for line in http.splitlines())
    return f"""{f"user {user};" if user else ""}
worker_processes {options.workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests 100000;
{indented}
}}
"""
