"""`vidray monitoring`: Prometheus and Grafana configuration for a vidray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cluster.cli.console import console
from cluster.monitoring import DEFAULT_DISCOVERY_FILE


def monitoring(
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")] = Path("monitoring"),
    discovery_file: Annotated[
        Path,
        typer.Option(help="Ray's service-discovery file on the head node (in Ray's temp dir)."),
    ] = DEFAULT_DISCOVERY_FILE,
    scrape_interval: Annotated[
        float, typer.Option(help="Seconds between scrapes.", min=0.5)
    ] = 10.0,
    prometheus_url: Annotated[
        str, typer.Option(help="Where Grafana reaches Prometheus.")
    ] = "http://127.0.0.1:9090",
) -> None:
    """Write a Prometheus config that scrapes every Ray node (through Ray's service
    discovery) and Grafana dashboards: vidray's, beside Ray's own for this session."""
    from cluster.monitoring import write_monitoring

    # The discovery file is a link into the current session's folder, where Ray wrote
    # its own dashboards; on another machine it may not exist yet, and that is fine.
    resolved = discovery_file.resolve()
    session_dir = resolved.parent if resolved.exists() else None
    written = write_monitoring(
        out,
        discovery_file=discovery_file,
        scrape_interval_s=scrape_interval,
        prometheus_url=prometheus_url,
        session_dir=session_dir,
    )
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print(
        f"prometheus --config.file={out / 'prometheus.yml'}; Grafana: "
        f"GF_PATHS_PROVISIONING={out / 'grafana' / 'provisioning'}; then set "
        "RAY_PROMETHEUS_HOST and RAY_GRAFANA_HOST before starting Ray",
        highlight=False,
    )
