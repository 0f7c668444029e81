"""What each notification says, rendered from Jinja2 templates for email (HTML and
text), the in-app inbox and SMS.

HTML is autoescaped: a video titled `<script>alert(1)</script>` reaches the HTML part as
text (`&lt;script&gt;`), never as markup. The text part and the in-app line carry the
title as it is (plain text is not markup; the web page escapes what it shows). A
subject is one line: whitespace in a title, line breaks included, collapses to spaces
before it reaches a header.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from cluster.config import Settings
from cluster.notifications.unsubscribe import unsubscribe_url

TEMPLATES = Path(__file__).parent / "templates"
SITE = "vidray"


@dataclass(frozen=True)
class Wording:
    """Jinja2 snippets for one type; `action` names the page the button opens."""

    subject: str
    headline: str
    body: str = ""
    action: str | None = None  # "video" | "studio"
    action_label: str = ""


WORDING: dict[str, Wording] = {
    "video_ready": Wording(
        "Your video “{{ title }}” is ready",
        "“{{ title }}” finished processing and can be watched.",
        action="video",
        action_label="Watch it",
    ),
    "video_failed": Wording(
        "Your video “{{ title }}” could not be processed",
        "“{{ title }}” could not be processed.",
        "{{ reason }}",
        action="studio",
        action_label="Open your studio",
    ),
    "upload_failed": Wording(
        "Your upload “{{ title }}” failed",
        "Your upload “{{ title }}” failed.",
        "{{ reason }}",
        action="studio",
        action_label="Open your studio",
    ),
    "new_video": Wording(
        "{{ actor }} published “{{ title }}”",
        "{{ actor }}, whom you follow, published “{{ title }}”.",
        action="video",
        action_label="Watch it",
    ),
    "comment_on_my_video": Wording(
        "{{ actor }} commented on “{{ title }}”",
        "{{ actor }} commented on “{{ title }}”.",
        "{{ excerpt }}",
        action="video",
        action_label="Read the comment",
    ),
    "reply_to_my_comment": Wording(
        "{{ actor }} replied to your comment",
        "{{ actor }} replied to your comment on “{{ title }}”.",
        "{{ excerpt }}",
        action="video",
        action_label="Read the reply",
    ),
    "new_follower": Wording(
        "{{ actor }} follows you", "{{ actor }} started following you.", action="studio"
    ),
    "webhook_disabled": Wording(
        "Your webhook endpoint was disabled",
        "Your webhook endpoint {{ url }} was disabled.",
        "{{ reason }}",
        action="studio",
        action_label="Review your webhooks",
    ),
}


@dataclass(frozen=True)
class Letter:
    """One notification, rendered: the email's parts, and the in-app line."""

    subject: str
    text: str
    html: str
    headline: str
    body: str
    link: str


def _environment(*, html: bool) -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        # The text env renders text/plain parts and subjects, which are no markup.
        autoescape=html,  # noqa: S701 - autoescaped where the output is HTML
        undefined=StrictUndefined,  # a missing field is a bug, not an empty string
        keep_trailing_newline=True,
    )


class Letters:
    """Renders notifications and campaigns for one instance (`settings.public_url`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.text_env = _environment(html=False)
        self.html_env = _environment(html=True)

    def link(self, action: str | None, context: dict[str, Any]) -> str:
        base = self.settings.public_url
        if action == "video" and context.get("video_id"):
            return f"{base}/watch/{context['video_id']}"
        if action == "studio":
            return f"{base}/studio"
        return base

    def notification(
        self, kind: str, *, context: dict[str, Any], recipient_id: str, recipient_name: str
    ) -> Letter:
        wording = WORDING[kind]
        values = {"title": "", "reason": "", "actor": "", "excerpt": "", "url": "", **context}

        def text(snippet: str) -> str:
            return self.text_env.from_string(snippet).render(values)

        def html(snippet: str) -> Markup:
            # Rendered by the autoescaping env: the values in it are escaped already.
            return Markup(self.html_env.from_string(snippet).render(values))  # noqa: S704

        subject = " ".join(text(wording.subject).split())
        page = {
            "subject": subject,
            "name": recipient_name,
            "site": SITE,
            "action_url": self.link(wording.action, context) if wording.action else "",
            "action_label": wording.action_label or "Open",
            "unsubscribe_url": unsubscribe_url(self.settings, user_id=recipient_id, kind=kind),
        }
        return Letter(
            subject=subject,
            text=self.text_env.get_template("notification.txt").render(
                **page, headline=text(wording.headline), body=text(wording.body)
            ),
            html=self.html_env.get_template("notification.html").render(
                **page, headline=html(wording.headline), body=html(wording.body)
            ),
            headline=" ".join(text(wording.headline).split()),
            body=text(wording.body),
            link=self.link(wording.action, context),
        )

    def campaign(
        self, *, subject: str, body_html: str, body_text: str, recipient_id: str
    ) -> tuple[str, str, str]:
        """(text, html, unsubscribe URL) of one campaign email for one recipient."""
        url = unsubscribe_url(self.settings, user_id=recipient_id, kind="newsletter")
        page = {"subject": subject, "site": SITE, "unsubscribe_url": url}
        text = self.text_env.get_template("campaign.txt").render(**page, body_text=body_text)
        html = self.html_env.get_template("campaign.html").render(**page, body_html=body_html)
        return text, html, url
