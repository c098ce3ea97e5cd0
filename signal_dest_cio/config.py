"""The destination's config model (SPEC section 1), regions and their hosts."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from .mappings.schema import mappings_schema

if TYPE_CHECKING:
    from .mappings.engine import CompiledMappings


class Region(StrEnum):
    US = "us"
    EU = "eu"

    @property
    def track_url(self) -> str:
        return TRACK_URLS[self]

    @property
    def app_url(self) -> str:
        return APP_URLS[self]

    @property
    def pipelines_url(self) -> str:
        return PIPELINES_URLS[self]


TRACK_URLS = {Region.US: "https://track.customer.io", Region.EU: "https://track-eu.customer.io"}
APP_URLS = {Region.US: "https://api.customer.io", Region.EU: "https://api-eu.customer.io"}
PIPELINES_URLS = {
    Region.US: "https://cdp.customer.io/v1",
    Region.EU: "https://cdp-eu.customer.io/v1",
}
ApiMode = Literal["v1", "v2", "pipelines"]
TRACK_ONLY_FIELDS = ("site_id", "tracking_api_key", "api_key")
# What the JSON Schema says of the credentials each mode needs (the validators enforce it).
MODE_REQUIREMENTS: JsonDict = {
    "if": {"properties": {"api": {"const": "pipelines"}}, "required": ["api"]},
    "then": {"required": ["cdp_api_key"]},
    "else": {"required": list(TRACK_ONLY_FIELDS)},
}

# JSON Schema marker for secret fields; the catalog test and hosts read it.
SECRET: JsonDict = {"format": "password", "writeOnly": True, "x-secret": True}


ALLOWED_OVERRIDE_HOSTS_ENV = "SIGNAL_CIO_ALLOWED_OVERRIDE_HOSTS"
# Names that never lead to a public service (RFC 6761/6762, cloud metadata, intranets).
_INTERNAL_SUFFIXES = (
    ".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan", ".intranet",
    ".corp", ".private",
)  # fmt: skip


def allowed_override_hosts() -> frozenset[str]:
    """Hosts an operator has explicitly allowed for overrides (comma-separated, lowercase)."""
    listed = os.environ.get(ALLOWED_OVERRIDE_HOSTS_ENV, "")
    return frozenset(name.strip().lower().strip("[]") for name in listed.split(",") if name.strip())


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _host_problem(host: str, scheme: str) -> str | None:
    """Why an override may not point at `host`, or None.

    Allowed: http or https to a loopback address literal (127.0.0.0/8, ::1: the
    emulator); https to a public address or name; anything an operator listed in
    SIGNAL_CIO_ALLOWED_OVERRIDE_HOSTS. Refused: private, link-local (cloud metadata
    at 169.254.169.254), reserved and multicast addresses, and names that can only be
    internal (`localhost`, `*.localhost`, `*.internal`, `*.local`, single labels):
    a config must not turn the host into a way to reach its own network.
    """
    name = host.lower().rstrip(".")
    if name in allowed_override_hosts():
        return None
    address = _address(name)
    if address is not None:
        if address.is_loopback:
            return None
        if not address.is_global or address.is_multicast:
            return "must not point at a private, link-local or reserved address"
    elif name == "localhost" or name.endswith(_INTERNAL_SUFFIXES) or "." not in name:
        return "must not point at an internal host name (use 127.0.0.1 for a local emulator)"
    if scheme != "https":
        return "must use https unless the host is a loopback address (127.0.0.1, [::1])"
    return None


def _check_base_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    problem = _host_problem(parts.hostname, parts.scheme)
    if problem is not None:
        raise ValueError(problem)
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    return value.rstrip("/")


class TransactionalTrigger(BaseModel):
    """What a track event of this name sends: a transactional message (SPEC 10)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: int | str = Field(description="the transactional message's id or trigger name")


class CustomerIoConfig(BaseModel):
    """What a user configures for one Customer.io workspace."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        hide_input_in_errors=True,
        json_schema_extra={"allOf": [MODE_REQUIREMENTS]},
    )

    # `api` comes first: which credentials are required depends on it (SPEC 1 and 8).
    api: ApiMode = Field(
        default="v2",
        description="v2: Track API batches; v1: one Track API request per operation; "
        "pipelines: the Data Pipelines API with a CDP API key",
    )
    site_id: str | None = Field(
        default=None,
        min_length=1,
        validate_default=True,
        title="Site ID",
        description="Customer.io Site ID (Track API modes)",
    )
    tracking_api_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        title="Track API key",
        description="Track API key; Track calls use HTTP Basic site_id:tracking_api_key",
        json_schema_extra=SECRET,
    )
    api_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        title="App API key",
        description="App API key (Bearer), used for the App key connection check",
        json_schema_extra=SECRET,
    )
    cdp_api_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        title="CDP API key",
        description="Data Pipelines API key (HTTP Basic, the key as user name); api: pipelines",
        json_schema_extra=SECRET,
    )
    region: Region = Field(title="Region", description="Workspace data center: us or eu")
    reporting_webhook_signing_key: SecretStr | None = Field(
        default=None,
        title="Reporting webhook signing key",
        description="the signing key of this workspace's Reporting Webhooks (SPEC 9), so the "
        "host accepts the webhooks Customer.io sends back",
        json_schema_extra=SECRET,
    )

    convert_timestamps: bool = True
    page_name: Literal["url", "name"] = "url"
    identify_on_track: bool = False
    traits_from_properties: bool = False
    respect_consent: bool = True
    consent_category: str = Field(default="marketing", min_length=1)
    default_object_type_id: str = Field(default="1", min_length=1)
    max_requests_per_second: float = Field(default=100, gt=0, le=10_000)
    timeout_seconds: float = Field(default=10, gt=0, le=300)
    track_api_base_url: str | None = None
    app_api_base_url: str | None = None
    pipelines_api_base_url: str | None = None
    transactional: dict[str, TransactionalTrigger] = Field(
        default_factory=dict,
        description='track event name -> transactional message, e.g. {"Order Completed": '
        '{"message_id": 7}}: the event also sends that message to its person (needs api_key)',
    )

    mappings: Annotated[dict[str, Any] | None, WithJsonSchema(mappings_schema())] = Field(
        default=None,
        description="rules that choose which events go and how they map (SPEC 12): "
        '{"schema_version": 1, "fallback": "builtin", "rules": [{"id", "when", "actions"}]}',
    )
    _compiled: tuple[Any, CompiledMappings | None] = PrivateAttr(default=(None, None))

    @field_validator("mappings", mode="before")
    @classmethod
    def _mappings_as_json_text(cls, value: Any) -> Any:
        from .mappings.model import MappingsInvalid, read_mappings

        try:
            return read_mappings(value)
        except MappingsInvalid as error:
            raise ValueError(error.problems[0][1]) from None

    @model_validator(mode="after")
    def _compile_mappings(self) -> CustomerIoConfig:
        """Rules are compiled when the config is saved: a problem is a validation error
        naming the rule, the field and what is wrong (SPEC 12)."""
        if self.mappings is None:
            return self
        from .mappings.model import MappingsInvalid, compile_mappings

        try:
            compiled = compile_mappings(self.mappings)
            problems: list[tuple[tuple[str | int, ...], str]] = []
            if compiled.rules and self.pipelines:
                problems.append(((), "rules need a Track API mode (api v1 or v2)"))
            if compiled.uses("send_transactional_email") and self.api_key is None:
                problems.append(((), "send_transactional_email needs api_key (an App API key)"))
            if problems:
                raise MappingsInvalid(problems)
        except MappingsInvalid as error:
            raise error.validation_error() from None
        self._compiled = (self.mappings, compiled)
        return self

    @property
    def compiled_mappings(self) -> CompiledMappings | None:
        """The rules, compiled; None without rules (the built-in mapping, exactly)."""
        source, compiled = self._compiled
        if source is not self.mappings:  # a model_copy that changed them: compile again
            if self.mappings is None:
                return None
            from .mappings.model import compile_mappings

            compiled = compile_mappings(self.mappings)
            self._compiled = (self.mappings, compiled)
        return compiled if compiled is not None and compiled.rules else None

    @field_validator("transactional", mode="before")
    @classmethod
    def _map_as_json_text(cls, value: Any) -> Any:
        # A form posts text: the map may come as the JSON of the object.
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except ValueError:
                raise ValueError("must be a JSON object of event name -> {message_id}") from None
        return value

    @field_validator("region", mode="before")
    @classmethod
    def _lowercase_region(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("site_id", "tracking_api_key", "api_key", "cdp_api_key")
    @classmethod
    def _required_for_the_mode(cls, value: Any, info: ValidationInfo) -> Any:
        pipelines = info.data.get("api") == "pipelines"
        needed = info.field_name == "cdp_api_key" if pipelines else info.field_name != "cdp_api_key"
        if value is None:
            if needed:
                raise PydanticCustomError("missing", "Field required")
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("track_api_base_url", "app_api_base_url", "pipelines_api_base_url")
    @classmethod
    def _https_unless_loopback(cls, value: str | None) -> str | None:
        return _check_base_url(value)

    @property
    def pipelines(self) -> bool:
        return self.api == "pipelines"

    @property
    def pipelines_base_url(self) -> str:
        return self.pipelines_api_base_url or self.region.pipelines_url

    def track_credentials(self) -> tuple[str, str]:
        """(site_id, Track API key) for HTTP Basic; only in the Track API modes."""
        if self.site_id is None or self.tracking_api_key is None:
            raise ValueError("the Track API needs site_id and tracking_api_key")
        return self.site_id, self.tracking_api_key.get_secret_value()

    def secret_values(self) -> tuple[str, ...]:
        """Every key this config holds, in clear (to scrub them from anything shown)."""
        keys = (
            self.tracking_api_key,
            self.api_key,
            self.cdp_api_key,
            self.reporting_webhook_signing_key,
        )
        return tuple(key.get_secret_value() for key in keys if key is not None)

    @property
    def workspace(self) -> str:
        """What names the workspace in logs and pacing: the site id, or the CDP key's hash."""
        if self.site_id is not None:
            return self.site_id
        key = self.cdp_api_key.get_secret_value() if self.cdp_api_key else ""
        return "cdp-" + hashlib.sha256(key.encode()).hexdigest()[:12]

    @property
    def track_base_url(self) -> str:
        return self.track_api_base_url or self.region.track_url

    @property
    def app_base_url(self) -> str:
        return self.app_api_base_url or self.region.app_url


def config_schema() -> dict[str, Any]:
    """The config's JSON Schema; secret fields carry `x-secret: true`."""
    return CustomerIoConfig.model_json_schema()
