"""The inbox, preferences and campaigns over GraphQL, and `notificationAdded` over a
websocket (graphql-transport-ws): the gateway's app on SQLite; the notifier writes
the inbox as it does in the cluster (`Notifier.handle`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from starlette.testclient import TestClient

from actors.notifier import Notifier
from cluster import db
from cluster.config import Settings, load_settings
from cluster.db.models import Role, User
from cluster.messaging import OutboxSender
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from tests.support.accounts import latest_code
from tests.support.clock import FakeClock
from tests.support.notifications import add_video, event

VERIFY = """mutation($email: String!, $code: String!) {
  verifyOtp(email: $email, code: $code) { accessToken user { id } }
}"""
INBOX = """query($first: Int!, $after: String, $unread: Boolean!) {
  notifications(first: $first, after: $after, unreadOnly: $unread) {
    edges { cursor node { id kind title link read } } hasNextPage endCursor unreadCount
  }
}"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path, public_url="https://videos.example.org")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    app = create_app(Gateway(Platform(settings, engine=engine)))
    with TestClient(app) as client:
        yield client


def gql(client: TestClient, query: str, token: str | None = None, **variables: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def sign_in(client: TestClient, settings: Settings, email: str) -> tuple[str, str]:
    gql(client, "mutation($e: String) { requestOtp(email: $e) }", e=email)
    body = gql(client, VERIFY, email=email, code=latest_code(settings.outbox_dir, email))
    payload = body["data"]["verifyOtp"]
    return payload["accessToken"], payload["user"]["id"]


def notifier(settings: Settings, engine: Engine) -> Notifier:
    return Notifier(
        settings=settings,
        sessions=db.session_factory(engine),
        sender=OutboxSender(settings.outbox_dir),
        clock=FakeClock(),
    )


def test_inbox_pages_marks_read_and_preferences_change(
    client: TestClient, settings: Settings, engine: Engine
) -> None:
    token, me = sign_in(client, settings, "ana@example.com")
    sessions = db.session_factory(engine)
    videos = [add_video(sessions, me, f"Clip {i}") for i in range(3)]
    notifier(settings, engine).handle([event("video.ready", v, owner_id=me) for v in videos])

    first = gql(client, INBOX, token, first=2, after=None, unread=False)["data"]["notifications"]
    assert [e["node"]["title"] for e in first["edges"]] == [
        "“Clip 2” finished processing and can be watched.",
        "“Clip 1” finished processing and can be watched.",
    ]
    assert first["hasNextPage"] and first["unreadCount"] == 3
    assert first["edges"][0]["node"]["link"] == f"https://videos.example.org/watch/{videos[2]}"
    rest = gql(client, INBOX, token, first=2, after=first["endCursor"], unread=False)
    assert [e["node"]["title"][:7] for e in rest["data"]["notifications"]["edges"]] == ["“Clip 0"]

    newest = first["edges"][0]["node"]["id"]
    marked = gql(
        client, "mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }", token, ids=[newest]
    )
    assert marked["data"]["markNotificationsRead"] == 1
    unread = gql(client, INBOX, token, first=10, after=None, unread=True)["data"]["notifications"]
    assert len(unread["edges"]) == 2 and unread["unreadCount"] == 2
    assert (
        gql(client, "mutation { markNotificationsRead }", token)["data"]["markNotificationsRead"]
        == 2
    )

    prefs = gql(client, "{ notificationPreferences { kind inApp email sms } }", token)
    by_kind = {p["kind"]: p for p in prefs["data"]["notificationPreferences"]}
    assert by_kind["video_ready"] == {
        "kind": "video_ready",
        "inApp": True,
        "email": True,
        "sms": False,
    }
    assert by_kind["newsletter"]["email"] is False  # marketing waits for an opt-in
    changed = gql(
        client,
        """mutation($p: [NotificationPreferenceInput!]!) {
          setNotificationPreferences(preferences: $p) { kind email }
        }""",
        token,
        p=[{"kind": "newsletter", "inApp": False, "email": True}],
    )
    assert {"kind": "newsletter", "email": True} in changed["data"]["setNotificationPreferences"]
    bad = gql(
        client,
        """mutation($p: [NotificationPreferenceInput!]!) {
          setNotificationPreferences(preferences: $p) { kind }
        }""",
        token,
        p=[{"kind": "nope", "inApp": True, "email": True}],
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (
        gql(client, INBOX, None, first=1, after=None, unread=False)["errors"][0]["extensions"][
            "code"
        ]
        == "UNAUTHENTICATED"
    )


def test_campaigns_are_for_admins(client: TestClient, settings: Settings, engine: Engine) -> None:
    token, _ = sign_in(client, settings, "first@example.com")  # the first account: admin
    other, _ = sign_in(client, settings, "second@example.com")
    create = """mutation { createCampaign(subject: "Hello", html: "<p>Hi</p>", text: "Hi")
      { id state total } }"""
    refused = gql(client, create, other)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    made = gql(client, create, token)["data"]["createCampaign"]
    assert made["state"] == "draft"
    preview = gql(
        client, "query($id: ID!) { campaignPreview(id: $id) { html } }", token, id=made["id"]
    )
    assert "<p>Hi</p>" in preview["data"]["campaignPreview"]["html"]
    sent = gql(client, "mutation($id: ID!) { sendTestCampaign(id: $id) }", token, id=made["id"])
    assert sent["data"]["sendTestCampaign"] == "first@example.com"
    missing = gql(client, 'mutation { sendCampaign(id: "nope") { id } }', token)
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    with db.session_factory(engine).begin() as session:
        session.execute(update(User).values(role=Role.USER))
    listed = gql(client, "{ campaigns { id } }", token)
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_notification_added_arrives_over_a_websocket(
    client: TestClient, settings: Settings, engine: Engine
) -> None:
    token, me = sign_in(client, settings, "live@example.com")
    video = add_video(db.session_factory(engine), me, "Live one")
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_text(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert json.loads(ws.receive_text())["type"] == "connection_ack"
        ws.send_text(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "subscription { notificationAdded { kind title } }"},
                }
            )
        )
        notifier(settings, engine).handle([event("video.ready", video, owner_id=me)])
        message = json.loads(ws.receive_text())
        assert message["type"] == "next", message
        assert message["payload"]["data"]["notificationAdded"] == {
            "kind": "video_ready",
            "title": "“Live one” finished processing and can be watched.",
        }
        ws.send_text(json.dumps({"id": "1", "type": "complete"}))
