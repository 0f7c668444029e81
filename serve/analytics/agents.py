"""Browser, OS and device from the User-Agent (`ua-parser`), and the bots to drop.

Bots are dropped before anything is stored, with the reason counted: crawlers
(ua-parser's "Spider" device, or a crawler word in the agent), headless browsers and
automation, and requests with no User-Agent at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_BOT_WORDS = re.compile(
    r"bot\b|crawl|spider|slurp|headless|phantomjs|puppeteer|playwright|selenium|"
    r"curl/|wget/|python-requests|python-httpx|go-http-client|okhttp|java/|libwww",
    re.IGNORECASE,
)
_TABLET = re.compile(r"ipad|tablet|kindle|silk", re.IGNORECASE)
_TV = re.compile(r"smart-?tv|hbbtv|appletv|crkey|roku|tizen|web0s", re.IGNORECASE)
_MOBILE_OS = frozenset({"Android", "iOS", "Windows Phone", "KaiOS"})


@dataclass(frozen=True, slots=True)
class Agent:
    browser: str
    os: str
    device: str  # desktop, mobile, tablet, tv
    bot: str | None  # why it is a bot, or None


@lru_cache(maxsize=8192)
def parse_agent(user_agent: str) -> Agent:
    """What the agent says about itself; cached: a player sends the same one all day."""
    if not user_agent.strip():
        return Agent(browser="Other", os="Other", device="desktop", bot="no user agent")
    from ua_parser import parse

    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else "Other"
    os_family = result.os.family if result.os else "Other"
    bot = None
    if result.device is not None and result.device.family == "Spider":
        bot = "crawler"
    elif match := _BOT_WORDS.search(user_agent):
        bot = "headless" if "headless" in match[0].lower() else "crawler"
    if _TV.search(user_agent):
        device = "tv"
    elif _TABLET.search(user_agent) or (os_family == "Android" and "Mobile" not in user_agent):
        device = "tablet"
    elif os_family in _MOBILE_OS:
        device = "mobile"
    else:
        device = "desktop"
    return Agent(browser=browser, os=os_family, device=device, bot=bot)
