"""catalog/customer_io.json agrees with the config model (SPEC section 6)."""

from __future__ import annotations

import json
import types
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import SecretStr, ValidationError

import signal_dest_cio
from signal_dest_cio.config import CustomerIoConfig, config_schema
from signal_dest_cio.destination import CustomerIoDestination, catalog_entry

REPO = Path(__file__).resolve().parents[1]
CATALOG_FILE = REPO / "catalog" / "customer_io.json"
PLACEHOLDER_CREDENTIALS = {
    "site_id": "placeholder-site",
    "tracking_api_key": "placeholder-track-key",
    "api_key": "placeholder-app-key",
}
FIELDS = CustomerIoConfig.model_fields


def load_catalog() -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    return entry


def catalog_fields() -> dict[str, dict[str, Any]]:
    return {field["key"]: field for field in load_catalog()["config_fields"]}


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def expected_type(annotation: Any) -> tuple[str, set[Any] | None]:
    """The catalog type a model field should have, and its select options."""
    annotation = _unwrap_optional(annotation)
    if annotation is SecretStr:
        return "secret", None
    if annotation is bool:
        return "select", {True, False}
    if get_origin(annotation) is Literal:
        return "select", set(get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "select", {member.value for member in annotation}
    if get_origin(annotation) is dict:
        return "string", None  # a JSON object, posted as its text
    assert annotation in (str, int, float), f"no catalog type for {annotation!r}"
    return "string", None


def with_credentials(**values: Any) -> dict[str, Any]:
    if values.get("api") == "pipelines":
        return {"cdp_api_key": "placeholder-cdp-key", "region": "us", **values}
    return {**PLACEHOLDER_CREDENTIALS, "region": "us", **values}


def test_vendor_object_has_the_catalog_shape() -> None:
    catalog = load_catalog()
    assert catalog["key"] == "customer_io" == CustomerIoDestination.key
    assert catalog["name"] == "Customer.io"
    assert catalog["category"] == "cdp"
    assert catalog["website"] == "https://customer.io"
    assert catalog["status"] in {"alpha", "beta", "stable", "deprecated"}
    assert isinstance(catalog["description"], str) and len(catalog["description"]) > 20
    for field in catalog["config_fields"]:
        assert {"key", "label", "type", "required", "placeholder", "help_text", "options"} <= set(
            field
        ), field["key"]
        assert field["label"] and field["help_text"], field["key"]
        assert isinstance(field["placeholder"], str), field["key"]


def test_catalog_lists_exactly_the_config_model_fields_once() -> None:
    keys = [field["key"] for field in load_catalog()["config_fields"]]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(FIELDS)


MODES = ("v2", "v1", "pipelines")
FULL_CONFIG = {**PLACEHOLDER_CREDENTIALS, "cdp_api_key": "placeholder-cdp-key", "region": "us"}


def required_in(key: str, api: str) -> bool:
    """Whether the model refuses a config of this mode without `key` (asked, not read)."""
    config = {**FULL_CONFIG, "api": api}
    config.pop(key, None)
    try:
        CustomerIoConfig.model_validate(config)
    except ValidationError as error:
        return any(e["loc"] == (key,) and e["type"] == "missing" for e in error.errors())
    return False


# Optional in every mode: what has a default a form may show.
OPTIONAL = sorted(k for k in FIELDS if not any(required_in(k, api) for api in MODES))


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_catalog_required_flags_match_the_model_in_every_api_mode(key: str) -> None:
    field = catalog_fields()[key]
    assert field["required"] is required_in(key, "v2")  # the default mode
    modes = {api for api in MODES if required_in(key, api)}
    if "required_when" in field:
        assert set(field["required_when"]["api"]) == modes
    else:
        assert modes in (set(), set(MODES)), f"{key}: say in which modes it is required"


def test_pipelines_mode_needs_the_cdp_key_and_none_of_the_track_credentials() -> None:
    assert {k for k in FIELDS if required_in(k, "pipelines")} == {"cdp_api_key", "region"}
    assert {k for k in FIELDS if required_in(k, "v1")} == {
        "site_id",
        "tracking_api_key",
        "api_key",
        "region",
    }


@pytest.mark.parametrize("key", sorted(FIELDS))
def test_catalog_type_and_options_match_the_model(key: str) -> None:
    field = catalog_fields()[key]
    kind, options = expected_type(FIELDS[key].annotation)
    assert field["type"] == kind
    if kind == "select":
        values = [option["value"] for option in field["options"]]
        assert len(values) == len(set(values))
        assert set(values) == options
        assert all(option["label"] for option in field["options"])
    else:
        assert field["options"] == []


def test_secret_fields_are_the_schema_secret_fields() -> None:
    schema_secrets = {
        name for name, prop in config_schema()["properties"].items() if prop.get("x-secret")
    }
    catalog_secrets = {key for key, field in catalog_fields().items() if field["type"] == "secret"}
    assert (
        catalog_secrets
        == schema_secrets
        == {"tracking_api_key", "api_key", "cdp_api_key", "reporting_webhook_signing_key"}
    )


def test_region_options_are_exactly_us_and_eu() -> None:
    field = catalog_fields()["region"]
    assert [option["value"] for option in field["options"]] == ["us", "eu"]
    assert field["required"] is True


@pytest.mark.parametrize("key", OPTIONAL)
def test_optional_field_default_is_the_model_default(key: str) -> None:
    field = catalog_fields()[key]
    default = FIELDS[key].get_default(call_default_factory=True)
    assert field["default"] == default
    assert type(field["default"]) in (type(default), int, float)


@pytest.mark.parametrize(
    ("key", "option"),
    [
        (key, option["value"])
        for key, field in catalog_fields().items()
        for option in field["options"]
    ],
)
def test_every_select_option_is_a_valid_config_value(key: str, option: Any) -> None:
    config = CustomerIoConfig.model_validate(with_credentials(**{key: option}))
    value = getattr(config, key)
    assert (value.value if isinstance(value, Enum) else value) == option


@pytest.mark.parametrize("key", OPTIONAL)
def test_optional_field_placeholder_is_a_valid_value(key: str) -> None:
    # A form posts text; what the user sees as an example must be accepted as typed.
    placeholder = catalog_fields()[key]["placeholder"]
    CustomerIoConfig.model_validate(with_credentials(**{key: placeholder}))


def test_a_value_outside_the_select_options_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError):
        CustomerIoConfig.model_validate(with_credentials(region="ap"))


def test_variants_have_unique_keys_and_include_us_and_eu() -> None:
    variants = load_catalog()["variants"]
    keys = [variant["key"] for variant in variants]
    assert len(keys) == len(set(keys))
    by_key = {variant["key"]: variant for variant in variants}
    assert by_key["us"]["default_config"]["region"] == "us"
    assert by_key["eu"]["default_config"]["region"] == "eu"
    assert "region" not in by_key["default"]["default_config"]  # the docs' install call's
    for variant in variants:
        assert variant["name"] and variant["description"], variant["key"]


@pytest.mark.parametrize("variant", load_catalog()["variants"], ids=lambda v: v["key"])
def test_variant_default_config_validates_with_placeholder_credentials(
    variant: dict[str, Any],
) -> None:
    default_config = variant["default_config"]
    assert set(default_config) <= set(FIELDS)
    secrets = {key for key, field in catalog_fields().items() if field["type"] == "secret"}
    assert not secrets & set(default_config), "variants never carry credentials"
    # A variant without a region (`default`) leaves it to the config the user gives.
    region = {} if "region" in default_config else {"region": "eu"}
    credentials = with_credentials(**default_config)
    given = {**credentials, **region, **default_config}
    config = CustomerIoConfig.model_validate(given)
    dumped = config.model_dump(mode="json")
    assert {key: dumped[key] for key in default_config} == default_config


def test_destination_catalog_entry_is_the_repo_file() -> None:
    assert catalog_entry() == load_catalog()
    assert CustomerIoDestination.catalog_entry() == load_catalog()


def test_package_catalog_is_a_relative_link_to_the_repo_file() -> None:
    packaged = Path(signal_dest_cio.__file__).parent / "catalog" / "customer_io.json"
    if not packaged.is_symlink():
        pytest.skip("installed from a wheel: the package holds a copy")
    assert not Path(packaged.readlink()).is_absolute()
    assert packaged.resolve() == CATALOG_FILE.resolve()
