"""The destination's config model (SPEC section 1), regions and their hosts."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.config import JsonDict


class Region(StrEnum):
    US = "us"
    EU = "eu"

    @property
    def track_url(self) -> str:
        return TRACK_URLS[self]

    @property
    def app_url(self) -> str:
        return APP_URLS[self]


TRACK_URLS = {Region.US: "https://track.customer.io", Region.EU: "https://track-eu.customer.io"}
APP_URLS = {Region.US: "https://api.customer.io", Region.EU: "https://api-eu.customer.io"}

# JSON Schema marker for secret fields; the catalog test and hosts read it.
SECRET: JsonDict = {"format": "password", "writeOnly": True, "x-secret": True}


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.scheme != "https" and not _is_loopback(parts.hostname):
        raise ValueError("must use https unless the host is loopback")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return value.rstrip("/")


class CustomerIoConfig(BaseModel):
    """What a user configures for one Customer.io workspace."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, hide_input_in_errors=True
    )

    site_id: str = Field(min_length=1, title="Site ID", description="Customer.io Site ID")
    tracking_api_key: SecretStr = Field(
        title="Track API key",
        description="Track API key; Track calls use HTTP Basic site_id:tracking_api_key",
        json_schema_extra=SECRET,
    )
    api_key: SecretStr = Field(
        title="App API key",
        description="App API key (Bearer), used for the App key connection check",
        json_schema_extra=SECRET,
    )
    region: Region = Field(title="Region", description="Workspace data center: us or eu")

    api: Literal["v1", "v2"] = "v2"
    convert_timestamps: bool = True
    page_name: Literal["url", "name"] = "url"
    identify_on_track: bool = False
    respect_consent: bool = True
    consent_category: str = Field(default="marketing", min_length=1)
    default_object_type_id: str = Field(default="1", min_length=1)
    max_requests_per_second: float = Field(default=100, gt=0, le=10_000)
    timeout_seconds: float = Field(default=10, gt=0, le=300)
    track_api_base_url: str | None = None
    app_api_base_url: str | None = None

    @field_validator("region", mode="before")
    @classmethod
    def _lowercase_region(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("tracking_api_key", "api_key")
    @classmethod
    def _secret_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("track_api_base_url", "app_api_base_url")
    @classmethod
    def _https_unless_loopback(cls, value: str | None) -> str | None:
        return _check_base_url(value)

    @property
    def track_base_url(self) -> str:
        return self.track_api_base_url or self.region.track_url

    @property
    def app_base_url(self) -> str:
        return self.app_api_base_url or self.region.app_url


def config_schema() -> dict[str, Any]:
    """The config's JSON Schema; secret fields carry `x-secret: true`."""
    return CustomerIoConfig.model_json_schema()
