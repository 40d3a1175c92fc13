"""The OpenAPI description of the handoff service: published, served, and in step with the routes."""

import dataclasses
import json

from aiohttp import web
from aiohttp.test_utils import TestClient
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from handoff.app import create_app
from handoff.core.settings import Settings
from handoff.openapi import OPENAPI_FILE, PATH, document
from handoff.shared.payload_contract import SCHEMA
from handoff.shared.schema_file import render

# aiohttp answers HEAD for every GET route; the description lists the GET.
IMPLIED = {"HEAD"}


def routed(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route of the app, static files as ``{filename}``."""
    operations = set()
    for route in app.router.routes():
        if route.method in IMPLIED or route.resource is None:
            continue
        path = route.resource.canonical
        if isinstance(route.resource, web.StaticResource):
            path += "/{filename}"
        operations.add((route.method, path))
    return operations


def described() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document()["paths"].items() for method in item}


def test_every_route_is_described_and_every_description_is_routed(settings: Settings) -> None:
    app = create_app(settings)

    assert sorted(routed(app) - described()) == [], "routes missing from handoff/openapi.py"
    assert sorted(described() - routed(app)) == [], "described operations the app does not route"


def test_the_published_description_is_the_one_in_code() -> None:
    assert OPENAPI_FILE.read_text() == render(document()), (
        "run `python -m handoff schema` and commit the file"
    )


def test_the_description_is_valid_openapi_3_1() -> None:
    OPENAPI_31_VALIDATOR.validate(document())


def test_the_payload_in_the_description_is_the_contract() -> None:
    components = document()["components"]["schemas"]
    payload = components["HandoffPayload"]

    assert payload["required"] == SCHEMA["required"]
    assert sorted(payload["properties"]) == sorted(SCHEMA["properties"])
    assert {f"Payload_{name}" for name in SCHEMA["$defs"]} <= set(components)
    assert "#/$defs/" not in json.dumps(document())


async def test_the_description_is_served_at_a_stable_path_without_a_token(
    aiohttp_client, settings: Settings
) -> None:
    client: TestClient = await aiohttp_client(create_app(dataclasses.replace(settings, api_token="t" * 20)))

    response = await client.get(PATH)

    assert PATH == "/api/v1/openapi.json" and response.status == 200
    assert await response.json() == document()
