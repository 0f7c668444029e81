"""The job board over GraphQL: admins list, retry and cancel jobs; others are refused.

The gateway's ASGI app runs in the test's process with a real job actor on the test
cluster, on SQLite and on PostgreSQL; the job is an upload that is not a video, so it
fails at once, without an encode."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray

from actors.jobs import Jobs, JobsClient
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import Base
from cluster.kv import EmbeddedKV
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from tests.support.accounts import latest_code
from tests.support.clock import FakeClock
from tests.support.graphql import graphql_async
from tests.support.jobs import completed_upload
from tests.support.waiting import eventually

pytestmark = pytest.mark.usefixtures("ray_cluster")

REQUEST = "mutation($email: String) { requestOtp(email: $email) }"
VERIFY = """mutation($email: String, $code: String!) {
  verifyOtp(email: $email, code: $code) { accessToken }
}"""
JOBS = """query($filter: JobFilter, $first: Int!, $after: String) {
  jobs(filter: $filter, first: $first, after: $after) {
    nodes { id videoId ownerId state stage percent etaSeconds error runs
            attempts { task retry outcome nodeId error startedAt finishedAt } }
    endCursor hasNextPage
  }
}"""
RETRY = "mutation($id: ID!) { retryJob(id: $id) { id state error } }"
CANCEL = "mutation($id: ID!) { cancelJob(id: $id) { id state } }"
RETRY_FAILED = "mutation($owner: ID) { retryFailedJobs(owner: $owner) }"


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client, self.settings = client, settings

    async def gql(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        return await graphql_async(self.client, query, token, **variables)

    async def sign_in(self, email: str) -> str:
        await self.gql(REQUEST, email=email)
        code = latest_code(self.settings.outbox_dir, email)
        body = await self.gql(VERIFY, email=email, code=code)
        token: str = body["data"]["verifyOtp"]["accessToken"]
        return token


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def _empty(url: str) -> None:
    """No tables at all: the first account to sign up must be the instance's admin."""
    engine = db.make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield load_settings(data_dir=tmp_path)
        return
    url = request.getfixturevalue("postgres_url")
    _empty(url)
    yield load_settings(data_dir=tmp_path, database_url=url)
    _empty(url)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[tuple[Api, JobsClient]]:
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    clock = FakeClock()
    kv = EmbeddedKV(settings.data_dir / "kv.sqlite3", clock=clock)
    jobs = JobsClient(ray.remote(Jobs).options(max_concurrency=16, num_cpus=0).remote(settings))
    platform = Platform(settings, engine=engine, kv=kv, clock=clock, jobs=jobs)
    transport = httpx.ASGITransport(app=create_app(Gateway(platform)))
    async with httpx.AsyncClient(transport=transport, base_url="http://vidray") as client:
        yield Api(client, settings), jobs
    ray.kill(jobs.actor)
    engine.dispose()


async def test_admins_list_retry_and_cancel_jobs(api: tuple[Api, JobsClient]) -> None:
    gql, jobs = api
    admin = await gql.sign_in("admin@example.com")  # the instance's first account
    member = await gql.sign_in("ana@example.com")
    handover = completed_upload(gql.settings, b"\x00\x01not a video" * 100)
    job_id = jobs.submit_upload(**handover, params={})
    assert jobs.wait_idle(timeout=120)

    assert codes(await gql.gql(JOBS, member, first=10)) == ["FORBIDDEN"]
    assert codes(await gql.gql(JOBS, first=10)) == ["UNAUTHENTICATED"]
    failed = {"status": "failed", "owner": handover["owner_id"]}
    body = await gql.gql(JOBS, admin, filter=failed, first=10)
    [job] = body["data"]["jobs"]["nodes"]
    assert (job["id"], job["state"], job["runs"]) == (job_id, "failed", 1), job["attempts"]
    assert job["error"].startswith("unsupported_format")
    assert job["etaSeconds"] is None
    assert [(a["task"], a["outcome"]) for a in job["attempts"]] == [("job", "unsupported_format")]
    assert job["attempts"][0]["nodeId"] and job["attempts"][0]["finishedAt"]
    page = body["data"]["jobs"]
    assert (page["endCursor"], page["hasNextPage"]) == (job_id, False)
    body = await gql.gql(JOBS, admin, filter={"status": "lost"}, first=10)
    assert codes(body) == ["BAD_USER_INPUT"]

    assert codes(await gql.gql(CANCEL, admin, id=job_id)) == ["BAD_USER_INPUT"]
    assert codes(await gql.gql(RETRY, member, id=job_id)) == ["FORBIDDEN"]
    retried = (await gql.gql(RETRY, admin, id=job_id))["data"]["retryJob"]
    assert retried["state"] in {"queued", "running", "failed"}
    # The refused upload's bytes are gone: the retry fails again, with its own reason.
    assert jobs.wait_idle(timeout=120)
    eventually(lambda: jobs.board(video_id=handover["video_id"])[0].runs == 2)
    body = await gql.gql(RETRY_FAILED, admin, owner=handover["owner_id"])
    assert body["data"]["retryFailedJobs"] == [job_id]
    assert codes(await gql.gql(RETRY, admin, id="nosuchjob")) == ["BAD_USER_INPUT"]
