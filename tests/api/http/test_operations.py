"""/healthz, /readyz, /metrics and the OpenAPI document."""

from api.settings import Settings
from tests.conftest import Env, start_env


async def test_health_and_readiness(env: Env) -> None:
    assert (await env.client.get("/healthz")).json() == {"status": "ok"}
    ready = await env.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_not_ready_when_the_database_is_unreachable(tmp_path) -> None:
    bad = f"sqlite:///{tmp_path}/missing-dir/nope.db"
    env, lifespan = None, None
    import httpx

    from api.http.app import build_services, create_app

    services = build_services(
        Settings(database_url=bad, secret_key=__import__("tests.conftest").conftest.TEST_SECRET_KEY)
    )
    app = create_app(services=services, migrate=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    del env, lifespan


async def test_metrics_count_requests_by_route(env: Env) -> None:
    await env.create()
    await env.client.get("/v1/escalations/esc_missing", headers=env.auth)
    text = (await env.client.get("/metrics")).text
    assert (
        'baton_http_requests_total{method="POST",route="/v1/escalations",status="201"} 1.0' in text
    )
    assert (
        'baton_http_requests_total{method="GET",route="/v1/escalations/{escalation_id}",'
        'status="404"} 1.0'
    ) in text
    assert "baton_escalations_created_total 1.0" in text


async def test_openapi_documents_every_route(env: Env) -> None:
    spec = (await env.client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in [
        "/v1/escalations",
        "/v1/escalations/{escalation_id}",
        "/v1/escalations/{escalation_id}/messages",
        "/v1/escalations/{escalation_id}/take",
        "/v1/escalations/{escalation_id}/reply",
        "/v1/escalations/{escalation_id}/notes",
        "/v1/escalations/{escalation_id}/return",
        "/v1/escalations/{escalation_id}/close",
        "/healthz",
        "/readyz",
        "/metrics",
    ]:
        assert path in paths, path
    assert "409" in paths["/v1/escalations/{escalation_id}/take"]["post"]["responses"]
    assert (await env.client.get("/docs")).status_code == 200


async def test_start_env_helper_is_isolated(database_url: str) -> None:
    env, lifespan = await start_env(database_url)
    try:
        assert (await env.counts())["escalations"] == 0
    finally:
        await env.client.aclose()
        await lifespan.__aexit__(None, None, None)
