"""The config model (SPEC section 1)."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import SecretStr, ValidationError

from signal_dest_cio.config import CustomerIoConfig, Region, config_schema

TRACK_KEY = "trk-SECRET-123456"
APP_KEY = "app-SECRET-654321"


def make(**overrides: Any) -> CustomerIoConfig:
    values: dict[str, Any] = {
        "site_id": "site-1",
        "tracking_api_key": TRACK_KEY,
        "api_key": APP_KEY,
        "region": "us",
    }
    values.update(overrides)
    return CustomerIoConfig.model_validate(values)


def error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in detail["loc"]) for detail in error.errors()}


@pytest.mark.parametrize("field", ["site_id", "tracking_api_key", "api_key", "region"])
def test_each_required_field_is_required(field: str) -> None:
    values = {"site_id": "s", "tracking_api_key": TRACK_KEY, "api_key": APP_KEY, "region": "us"}
    del values[field]
    with pytest.raises(ValidationError) as caught:
        CustomerIoConfig.model_validate(values)
    assert error_fields(caught.value) == {field}
    assert caught.value.errors()[0]["type"] == "missing"


@pytest.mark.parametrize("missing", ["cdp_api_key", "region"])
def test_pipelines_mode_needs_a_cdp_key_and_a_region_and_nothing_else(missing: str) -> None:
    values = {"api": "pipelines", "cdp_api_key": "cdp-KEY-1", "region": "eu"}
    config = CustomerIoConfig.model_validate(values)
    assert config.pipelines_base_url == "https://cdp-eu.customer.io/v1"
    assert config.site_id is None and config.tracking_api_key is None
    del values[missing]
    with pytest.raises(ValidationError) as caught:
        CustomerIoConfig.model_validate(values)
    assert error_fields(caught.value) == {missing}
    assert "cdp-KEY-1" not in str(caught.value)


@pytest.mark.parametrize("field", ["site_id", "tracking_api_key", "api_key"])
def test_blank_site_id_and_keys_are_refused(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make(**{field: "   "})
    assert error_fields(caught.value) == {field}


@pytest.mark.parametrize("given", ["us", "US", "Us", " eu ", "EU", "eU"])
def test_region_is_accepted_in_any_case_and_comes_out_lowercase(given: str) -> None:
    config = make(region=given)
    assert config.region.value == given.strip().lower()
    assert config.model_dump()["region"] == given.strip().lower()
    assert config.model_dump(mode="json")["region"] == given.strip().lower()


@pytest.mark.parametrize("given", ["", "usa", "eu-west-1", "asia", 1])
def test_region_other_than_us_or_eu_is_refused(given: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        make(region=given)
    assert error_fields(caught.value) == {"region"}


def test_region_picks_the_track_and_app_hosts() -> None:
    us, eu = make(region="us"), make(region="EU")
    assert (us.track_base_url, us.app_base_url) == (
        "https://track.customer.io",
        "https://api.customer.io",
    )
    assert (eu.track_base_url, eu.app_base_url) == (
        "https://track-eu.customer.io",
        "https://api-eu.customer.io",
    )


def test_unknown_key_is_refused_and_named() -> None:
    with pytest.raises(ValidationError) as caught:
        make(tracking_key="oops", api="v2")
    assert error_fields(caught.value) == {"tracking_key"}
    assert caught.value.errors()[0]["type"] == "extra_forbidden"
    assert "tracking_key" in str(caught.value)


def test_secrets_are_secretstr_and_readable_only_on_purpose() -> None:
    config = make()
    assert isinstance(config.tracking_api_key, SecretStr)
    assert isinstance(config.api_key, SecretStr)
    assert config.tracking_api_key.get_secret_value() == TRACK_KEY
    assert config.api_key.get_secret_value() == APP_KEY


def test_secrets_never_show_in_repr_str_or_dumps() -> None:
    config = make()
    shown = [
        repr(config),
        str(config),
        config.model_dump_json(),
        str(config.model_dump()),
        str(config.model_dump(mode="json")),
        repr(config.tracking_api_key),
        str(config.api_key),
    ]
    for text in shown:
        assert TRACK_KEY not in text
        assert APP_KEY not in text
    assert "site-1" in repr(config)  # the repr is still useful


def test_config_is_frozen() -> None:
    config = make()
    with pytest.raises(ValidationError):
        config.region = Region.EU  # type: ignore[misc]


def test_json_schema_marks_secret_fields_and_only_them() -> None:
    properties = config_schema()["properties"]
    secret = {name for name, field in properties.items() if field.get("x-secret")}
    write_only = {name for name, field in properties.items() if field.get("writeOnly")}
    assert (
        secret
        == write_only
        == {"tracking_api_key", "api_key", "cdp_api_key", "reporting_webhook_signing_key"}
    )
    assert properties["api_key"]["format"] == "password"


def test_json_schema_lists_required_fields_and_forbids_others() -> None:
    schema = config_schema()
    validator = Draft202012Validator(schema)
    good = {"site_id": "s", "tracking_api_key": "t", "api_key": "a", "region": "eu"}
    assert set(schema["required"]) == {"region"}  # the rest depends on the api mode
    assert validator.is_valid(good)
    pipelines = {"api": "pipelines", "cdp_api_key": "c", "region": "us"}
    assert validator.is_valid(pipelines)
    assert not validator.is_valid({"api": "pipelines", "region": "us"})
    assert not validator.is_valid({"api": "v1", "cdp_api_key": "c", "region": "us"})
    assert not validator.is_valid({**good, "region": "mars"})
    assert not validator.is_valid({**good, "colour": "blue"})
    assert not validator.is_valid({key: good[key] for key in ("site_id", "region")})


def test_every_option_has_its_documented_default() -> None:
    config = make()
    assert config.api == "v2"
    assert config.convert_timestamps is True
    assert config.page_name == "url"
    assert config.identify_on_track is False
    assert config.respect_consent is True
    assert config.consent_category == "marketing"
    assert config.default_object_type_id == "1"
    assert config.max_requests_per_second == 100
    assert config.timeout_seconds == 10
    assert config.track_api_base_url is None
    assert config.app_api_base_url is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api", "v3"),
        ("page_name", "title"),
        ("max_requests_per_second", 0),
        ("timeout_seconds", -1),
        ("consent_category", ""),
        ("default_object_type_id", ""),
    ],
)
def test_out_of_range_options_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        make(**{field: value})
    assert error_fields(caught.value) == {field}


@pytest.mark.parametrize("field", ["track_api_base_url", "app_api_base_url"])
@pytest.mark.parametrize(
    "url",
    [
        "https://relay.example.com",
        "https://relay.example.com:8443/cio",
        "http://127.0.0.1:8010",
        "https://127.0.0.1:8443",
        "http://[::1]:8010",
        "http://127.0.0.2",
        "https://8.8.8.8",
    ],
)
def test_base_url_override_accepts_https_or_loopback_http(field: str, url: str) -> None:
    assert getattr(make(**{field: url}), field) == url


@pytest.mark.parametrize("field", ["track_api_base_url", "app_api_base_url"])
@pytest.mark.parametrize(
    "url",
    [
        "http://relay.example.com",
        "http://10.0.0.5:8010",
        "http://localhost.example.com",
        "ftp://127.0.0.1",
        "relay.example.com",
        "https://relay.example.com/?debug=1",
        # SSRF: private, link-local (cloud metadata), internal names, credentials in the URL
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1",
        "https://192.168.1.20:8443",
        "https://[fd00::1]",
        "https://[fe80::1]",
        "https://0.0.0.0",
        "https://metadata.google.internal",
        "https://api.localhost",
        "http://localhost:8010",
        "https://printer.local",
        "https://intranet",
        "https://user:hunter2@relay.example.com",
        "https://token@relay.example.com",
    ],
)
def test_base_url_override_refuses_plain_http_off_loopback_and_odd_urls(
    field: str, url: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        make(**{field: url})
    assert error_fields(caught.value) == {field}


def test_base_url_overrides_replace_the_region_hosts_without_a_trailing_slash() -> None:
    config = make(
        region="eu",
        track_api_base_url="http://127.0.0.1:8010/",
        app_api_base_url="https://relay.example.com/app/",
    )
    assert config.track_base_url == "http://127.0.0.1:8010"
    assert config.app_base_url == "https://relay.example.com/app"


def test_an_operator_can_allow_an_internal_relay_explicitly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "http://10.0.0.7:8080"
    with pytest.raises(ValidationError):
        make(track_api_base_url=url)
    monkeypatch.setenv("SIGNAL_CIO_ALLOWED_OVERRIDE_HOSTS", "relay.internal, 10.0.0.7")
    assert make(track_api_base_url=url).track_api_base_url == url
    assert make(app_api_base_url="https://relay.internal").app_api_base_url
    with pytest.raises(ValidationError):
        make(track_api_base_url="https://10.0.0.8")  # only what is listed


def test_a_refused_override_never_repeats_the_password_it_carried() -> None:
    with pytest.raises(ValidationError) as caught:
        make(track_api_base_url="https://user:hunter2@relay.example.com")
    assert "hunter2" not in str(caught.value)
    assert "user name or password" in str(caught.value)
