"""A node joins a running vidray cluster and gets its upload edge from the scheduler.

Run as a program (`python -m tests.support.multinode DATA_DIR PORT`) by the test, so
that its `ray.cluster_utils.Cluster` is the only Ray cluster of that process (the
integration tests share one local cluster per session, which this would replace).
Prints one JSON line: the head's and the new node's ids, and the scheduler's last
reconcile, node id -> "ok" or what is wrong.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path


def main(data_dir: Path, upload_port: int) -> dict[str, object]:
    import ray
    from ray.cluster_utils import Cluster

    from actors import scheduler
    from cluster import db
    from cluster.config import load_settings
    from serve.app import periodic_work
    from serve.uploads.edge import edge_name
    from tests.support.waiting import eventually

    namespace = f"edges-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        data_dir=data_dir, upload_port=upload_port, upload_edge_check_s=1, ray_namespace=namespace
    )
    db.migrate(db.make_engine(settings.resolved_database_url))
    cluster = Cluster(
        initialize_head=True,
        head_node_args={  # the agent on a free port (see cluster.runtime.init_local)
            "num_cpus": 1,
            "include_dashboard": False,
            "dashboard_agent_listen_port": None,
        },
    )
    try:
        ray.init(address=cluster.address, namespace=namespace, log_to_driver=False)
        head = ray.get_runtime_context().get_node_id()
        client = scheduler.start(settings, periodic_work(settings))

        def edge_on(node_id: str) -> bool:
            try:
                ray.get_actor(edge_name(node_id), namespace=namespace)
            except ValueError:
                return False
            return True

        eventually(lambda: edge_on(head), timeout=120, what="the head's upload edge")
        node = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        eventually(lambda: edge_on(node.node_id), timeout=120, what="the new node's edge")

        def reconciled() -> dict[str, str] | None:
            result = client.status("upload-edges").result
            return result if isinstance(result, dict) and node.node_id in result else None

        states = eventually(reconciled, timeout=120, what="a reconcile that saw the new node")
        return {"head": head, "new": node.node_id, "states": states}
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]))))
