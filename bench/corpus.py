"""A seeded, realistic corpus of canonical events, shaped like what analytics.js sends.

Mostly track, page and identify (about 50/25/18 %), with some screen, group and
alias; about a fifth of track/page/screen events anonymous; one page in ten with
a long tracking URL. Properties run from a few keys to orders with several line
items, and some carry ISO dates (which `convert_timestamps` rewrites). Every event
has the context analytics.js attaches (library, ip, user agent, page), because
that is what the mapper has to read past in real traffic.

`size="small"` and `size="large"` make the two extremes of the cost curve: a
track with three properties and a bare context, and an order with 25 line items.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

Size = Literal["mixed", "small", "large"]

_START = datetime(2025, 3, 1, tzinfo=UTC)
_PEOPLE = 2_000
_TRACK_NAMES = [
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
    "feature.used",
    "Signed In",
    "Report Exported",
    "Invite Sent",
    "trial.expired",
    "Subscription Renewed",
]
_PATHS = ["/", "/pricing", "/docs/getting-started", "/blog/launch-week", "/app/dashboard",
          "/app/settings/billing", "/features/segments", "/customers"]  # fmt: skip
_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
]
_PLANS = ["free", "trial", "team", "business", "enterprise"]
# fmt: off
_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
          "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
          "sierra", "tango", "uniform", "victor", "whiskey"]
# fmt: on


class _Maker:
    def __init__(self, seed: int, size: Size) -> None:
        self.rng = random.Random(seed)
        self.size = size
        self.serial = 0

    # -- small pieces ---------------------------------------------------------------

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def uuid(self) -> str:
        return f"{self.hex(8)}-{self.hex(4)}-4{self.hex(3)}-a{self.hex(3)}-{self.hex(12)}"

    def words(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(_WORDS, k=self.rng.randint(low, high)))

    def iso(self, m: datetime) -> str:  # what analytics.js sends: milliseconds and `Z`
        return (
            f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
            f".{m.microsecond // 1000:03d}Z"
        )

    def person(self) -> int:
        # A few busy people and a long tail: the busiest sends about 2% of events.
        return int(_PEOPLE * self.rng.random() ** 2)

    def url(self, path: str, long: bool) -> str:
        url = f"https://www.example.com{path}"
        if long:  # ad-click URLs: utm tags, click ids and an encoded redirect
            params = {
                "utm_source": "google",
                "utm_medium": "cpc",
                "utm_campaign": "spring_launch_" + self.hex(6),
                "gclid": "".join(self.rng.choices(string.ascii_letters, k=90)),
                "fbclid": self.hex(60),
                "redirect": "https%3A%2F%2Fapp.example.com%2F"
                + self.hex(self.rng.randint(200, 1500)),
            }
            url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
        return url

    def context(self, moment: datetime, path: str, long_url: bool) -> dict[str, Any]:
        if self.size == "small":
            return {"library": {"name": "analytics-python", "version": "2.3.2"}}
        url = self.url(path, long_url)
        agent = self.rng.randrange(len(_AGENTS))
        context: dict[str, Any] = {
            "library": {"name": "analytics.js", "version": "npm:next-1.70.0"},
            "ip": f"203.0.113.{self.rng.randrange(255)}",
            "locale": self.rng.choice(["en-US", "en-GB", "de-DE", "fr-FR"]),
            "timezone": self.rng.choice(["America/New_York", "Europe/Berlin", "Asia/Tokyo"]),
            "userAgent": _AGENTS[agent],
            "page": {
                "path": path,
                "referrer": self.rng.choice(["", "https://www.google.com/", "https://news.ycombinator.com/"]),
                "search": url.partition("?")[2] and "?" + url.partition("?")[2],
                "title": self.words(2, 5).title(),
                "url": url,
            },
        }  # fmt: skip
        if agent == 0:  # Chromium sends client hints, which analytics.js passes on
            context["userAgentData"] = {
                "brands": [{"brand": "Chromium", "version": "124"},
                           {"brand": "Google Chrome", "version": "124"},
                           {"brand": "Not-A.Brand", "version": "99"}],
                "mobile": False,
                "platform": "macOS",
            }  # fmt: skip
        if long_url:
            context["campaign"] = {"source": "google", "medium": "cpc", "name": "spring_launch"}
        return context

    # -- per type -----------------------------------------------------------------------

    def properties(self, name: str, moment: datetime) -> dict[str, Any]:
        rng = self.rng
        if self.size == "small":
            return {"plan": rng.choice(_PLANS), "count": rng.randrange(50), "ok": True}
        if name == "Order Completed" or self.size == "large":
            items = 25 if self.size == "large" else rng.randint(1, 6)
            products = [
                {
                    "product_id": self.hex(12),
                    "sku": f"SKU-{rng.randrange(10**6):06d}",
                    "name": self.words(2, 4).title(),
                    "category": rng.choice(["Books", "Games", "Garden", "Tools"]),
                    "price": round(rng.uniform(3, 300), 2),
                    "quantity": rng.randint(1, 3),
                    "url": f"https://www.example.com/p/{self.hex(10)}",
                    "image_url": f"https://cdn.example.com/img/{self.hex(24)}.jpg",
                }
                for _ in range(items)
            ]
            return {
                "order_id": self.hex(16),
                "total": round(sum(p["price"] * p["quantity"] for p in products), 2),  # type: ignore[operator]
                "revenue": round(rng.uniform(5, 900), 2),
                "currency": "USD",
                "coupon": rng.choice([None, "SPRING10"]),
                "products": products,
                "placed_at": self.iso(moment),
            }
        props: dict[str, Any] = {
            "plan": rng.choice(_PLANS),
            "source": rng.choice(["web", "ios", "android", "api"]),
            "feature": rng.choice(["dashboards", "segments", "exports", "journeys"]),
            "duration_ms": rng.randrange(100_000),
            "count": rng.randrange(100),
            "experiment": {"id": f"exp_{rng.randrange(40)}", "variant": rng.choice("AB")},
        }
        for _ in range(rng.randint(0, 8)):
            props[f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}"] = self.words(1, 8)
        if rng.random() < 0.3:
            props["trial_ends_at"] = self.iso(moment + timedelta(days=14))
        return props

    def traits(self, who: int, moment: datetime) -> dict[str, Any]:
        traits: dict[str, Any] = {
            "email": f"person{who}@example.com",
            "name": self.words(2, 2).title(),
            "plan": self.rng.choice(_PLANS),
            "createdAt": self.iso(_START - timedelta(days=who % 700)),
        }
        if self.size != "small":
            traits.update(
                first_name=self.rng.choice(_WORDS).title(),
                logins=self.rng.randrange(500),
                company={"id": f"org_{who % 300}", "name": self.words(1, 3).title(),
                         "employees": self.rng.randrange(5, 5000)},
                address={"city": self.words(1, 2).title(), "country": "US",
                         "postal_code": f"{self.rng.randrange(10**5):05d}"},
                last_seen_at=self.iso(moment),
            )  # fmt: skip
        return traits

    def event(self) -> dict[str, Any]:
        rng = self.rng
        self.serial += 1
        moment = _START + timedelta(milliseconds=self.serial * 1_713 + rng.randrange(1000))
        who = self.person()
        roll = rng.random()
        if self.size != "mixed":
            roll = 0.0  # the cost curve's extremes are all track events
        kind = (
            "track" if roll < 0.50 else "page" if roll < 0.75 else "identify" if roll < 0.93
            else "screen" if roll < 0.97 else "group" if roll < 0.99 else "alias"
        )  # fmt: skip
        path = rng.choice(_PATHS)
        long_url = kind == "page" and rng.random() < 0.1
        event: dict[str, Any] = {
            "type": kind,
            "messageId": f"ajs-next-{self.hex(32)}",
            "anonymousId": self.uuid(),
            "timestamp": self.iso(moment),
            "originalTimestamp": self.iso(moment - timedelta(milliseconds=120)),
            "sentAt": self.iso(moment + timedelta(milliseconds=40)),
            "receivedAt": self.iso(moment + timedelta(milliseconds=95)),
            "channel": "client",
            "version": 2,
            "context": self.context(moment, path, long_url),
            "integrations": {},
            "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
        }  # fmt: skip
        if self.size == "small":  # a server library's event: the envelope and little else
            for key in ("sentAt", "receivedAt", "originalTimestamp", "channel", "_metadata"):
                del event[key]
        anonymous = kind in ("track", "page", "screen") and rng.random() < 0.2
        if not anonymous:
            event["userId"] = f"usr_{who:06d}"
        if kind == "track":
            event["event"] = rng.choice(_TRACK_NAMES)
            event["properties"] = self.properties(event["event"], moment)
        elif kind == "page":
            page = event["context"]["page"]
            event["name"] = page["title"]
            event["properties"] = {**page, "category": rng.choice(["marketing", "docs", "app"])}
        elif kind == "screen":
            event["name"] = rng.choice(["Home", "Settings", "Checkout", "Search Results"])
            event["properties"] = {"from": rng.choice(["push", "deeplink", "tab"])}
        elif kind == "identify":
            event["traits"] = self.traits(who, moment)
        elif kind == "group":
            event["groupId"] = f"org_{who % 300}"
            event["traits"] = {"name": self.words(1, 3).title(), "plan": rng.choice(_PLANS),
                               "employees": rng.randrange(5, 5000)}  # fmt: skip
        else:
            event["previousId"] = event.pop("anonymousId")
        return event


def events(count: int, seed: int = 7, size: Size = "mixed") -> Iterator[dict[str, Any]]:
    """`count` events, the same ones for the same seed."""
    maker = _Maker(seed, size)
    for _ in range(count):
        yield maker.event()


def lines(count: int, seed: int = 7, size: Size = "mixed") -> list[str]:
    """The corpus as canonical JSON text, one event per string (what a host hands over)."""
    return [json.dumps(event) for event in events(count, seed, size)]


def write_jsonl(path: Path, count: int, seed: int = 7, distinct: int = 20_000) -> int:
    """Stream `count` events to a JSON Lines file without holding them; returns its bytes.

    Past `distinct` events the same ones come round again under new messageIds
    (so each still gets its own dedup id): making a million from scratch would
    take longer than delivering them.
    """
    pool = lines(min(count, distinct), seed)
    with path.open("w") as out:
        for index in range(count):
            line = pool[index % len(pool)]
            if index >= len(pool):
                start = line.index('"messageId": "') + len('"messageId": "')
                end = line.index('"', start)
                line = f"{line[:start]}ajs-next-{index:032x}{line[end:]}"
            out.write(line)
            out.write("\n")
    return path.stat().st_size
