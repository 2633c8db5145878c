"""Traces, metrics and logs: what an operator sees of a payment."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from core_fixtures import OPEN
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from payments_platform.access import key_hash, new_key
from payments_plugin_json_gateway.signing import signed_headers
from prometheus_client.parser import text_string_to_metric_families

from .conftest import AppFactory, Vendor, json_vendor
from .server_process import payments_serve, write_config


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    matches = [span for span in finished if span.name == name]
    assert matches, f"no span {name!r} among {sorted({s.name for s in finished})}"
    return matches[-1]


def parent_of(finished: tuple[ReadableSpan, ...], span: ReadableSpan) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next((s for s in finished if s.context.span_id == span.parent.span_id), None)


def ancestors(finished: tuple[ReadableSpan, ...], span: ReadableSpan) -> list[str]:
    names = []
    current = parent_of(finished, span)
    while current is not None:
        names.append(current.name)
        current = parent_of(finished, current)
    return names


async def test_the_span_trees_of_an_init_a_webhook_and_a_refund(
    platform: AppFactory, vendor: Vendor, spans: InMemorySpanExporter
) -> None:
    gateways = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    async with platform(gateways) as client:
        spans.clear()  # the set-up's migration is not part of the story
        payment_id = str(uuid.uuid4())
        created = await client.post(
            "/init-payment", json={"id": payment_id, "currency": "AED", "amount_fractions": 700}
        )
        finished = spans.get_finished_spans()
        server = by_name(finished, "POST /init-payment")
        initiate = by_name(finished, "payments.initiate")
        route = by_name(finished, "payments.route")
        call = by_name(finished, "payments.gateway.initiate")
        vendor_call = by_name(finished, "json gateway initiate")
        assert ancestors(finished, initiate)[0] == "POST /init-payment"
        assert ancestors(finished, route)[0] == "payments.initiate"
        assert ancestors(finished, call)[0] == "payments.initiate"
        assert ancestors(finished, vendor_call)[0] == "payments.gateway.initiate"
        [http_call] = [s for s in finished if parent_of(finished, s) is vendor_call]
        assert http_call.kind is SpanKind.CLIENT
        assert dict(http_call.attributes or {}).get("http.status_code") == 201
        assert dict(route.attributes or {})["routing.candidates"] == ("json",)
        assert dict(route.attributes or {})["routing.breakers"] == ("closed",)
        assert dict(call.attributes or {})["gateway.outcome"] == "accepted"
        inserts = [s for s in finished if s.name.startswith("INSERT")]
        assert inserts
        assert all("payments.initiate" in ancestors(finished, s) for s in inserts)
        assert {s.context.trace_id for s in [server, initiate, route, call, *inserts]} == {
            server.context.trace_id
        }

        spans.clear()
        external_id = created.json()["external_id"]
        await vendor.payer_acts(external_id)
        await client.post(
            "/external/json-webhook", json={"external_id": external_id, "status": "paid"}
        )
        finished = spans.get_finished_spans()
        webhook = by_name(finished, "payments.webhook")
        assert ancestors(finished, webhook)[0] == "POST /external/{hook}"
        assert dict(webhook.attributes or {})["webhook.status"] == "paid"

        spans.clear()
        await client.post("/refund", json={"id": payment_id})
        finished = spans.get_finished_spans()
        refund_call = by_name(finished, "payments.gateway.refund")
        assert ancestors(finished, refund_call)[:2] == ["payments.refund", "POST /refund"]
        assert dict(refund_call.attributes or {})["gateway.outcome"] == "accepted"


async def test_a_job_span_links_to_the_request_that_enqueued_it(
    platform: AppFactory, vendor: Vendor, spans: InMemorySpanExporter
) -> None:
    gateways = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    async with platform(gateways, payments={"dispatch": "queue"}) as client:
        payment_id = str(uuid.uuid4())
        queued = await client.post(
            "/init-payment", json={"id": payment_id, "currency": "AED", "amount_fractions": 710}
        )
        assert queued.status_code == 202
        request_span = by_name(spans.get_finished_spans(), "payments.initiate")
        runtime = client.app.state["runtime"]
        await runtime.worker().run_once()
        job_span = by_name(spans.get_finished_spans(), "payments.job.initiate")
        assert [link.context.span_id for link in job_span.links] == [request_span.context.span_id]


async def test_server_spans_are_named_by_route_template_not_by_path(
    platform: AppFactory, vendor: Vendor, spans: InMemorySpanExporter
) -> None:
    gateways = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    async with platform(gateways) as client:
        payment_id = str(uuid.uuid4())
        await client.post(
            "/init-payment", json={"id": payment_id, "currency": "AED", "amount_fractions": 720}
        )
        spans.clear()
        assert (await client.get(f"/payments/{payment_id}")).status_code == 200
        assert (await client.get(f"/no-such-page/{payment_id}")).status_code == 404
        servers = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
        names = [s.name for s in servers]
        assert names == ["GET /payments/{payment_id}", "GET"]
        assert not any(payment_id in name for name in names)
        read = dict(servers[0].attributes or {})
        assert read["http.route"] == "/payments/{payment_id}"
        assert payment_id in str(read.get("http.target", read.get("url.path")))


async def test_an_idle_worker_makes_no_traces_and_a_job_is_one(
    platform: AppFactory, vendor: Vendor, spans: InMemorySpanExporter
) -> None:
    gateways = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    async with platform(gateways, payments={"dispatch": "queue"}) as client:
        runtime = client.app.state["runtime"]
        spans.clear()
        assert not await runtime.worker().run_once()
        assert spans.get_finished_spans() == ()

        queued = await client.post(
            "/init-payment",
            json={"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 730},
        )
        assert queued.status_code == 202
        spans.clear()
        assert await runtime.worker().run_once()
        finished = spans.get_finished_spans()
        job = by_name(finished, "payments.job.initiate")
        assert job.parent is None
        assert {s.context.trace_id for s in finished} == {job.context.trace_id}


async def test_metrics_count_payments_gateway_calls_breakers_and_jobs(
    platform: AppFactory, vendor: Vendor
) -> None:
    gateways = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    async with platform(gateways) as client:
        await client.post(
            "/init-payment",
            json={"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 720},
        )
        scraped = await client.get("/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        text = scraped.text
        assert 'payments_outcomes_total{currency="AED",gateway="json",outcome="initiated"}' in text
        assert (
            'payments_gateway_call_seconds_count{gateway="json",operation="initiate",'
            'outcome="accepted"}' in text
        )
        assert 'payments_breaker_state{gateway="json"} 0.0' in text
        assert 'payments_jobs{kind="expire",status="pending"}' in text
        assert "payments_http_requests_total" in text


async def test_every_status_change_is_logged_with_its_reason_and_counted(
    platform: AppFactory, vendor: Vendor, caplog: pytest.LogCaptureFixture
) -> None:
    gateways = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    payment_id = str(uuid.uuid4())
    async with platform(gateways) as client:
        created = await client.post(
            "/init-payment", json={"id": payment_id, "currency": "AED", "amount_fractions": 830}
        )
        external_id = created.json()["external_id"]
        await vendor.payer_acts(external_id)
        with caplog.at_level(logging.INFO, logger="payments_platform"):
            await client.post(
                "/external/json-webhook", json={"external_id": external_id, "status": "paid"}
            )
            part, rest = str(uuid.uuid4()), str(uuid.uuid4())
            await client.post(
                "/refund", json={"id": payment_id, "amount_fractions": 30, "refund_id": part}
            )
            await client.post("/refund", json={"id": payment_id, "refund_id": rest})
        text = (await client.get("/metrics")).text
    changes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("payment ")]
    assert changes == [
        f"payment {payment_id}: initiated -> paid (json reports paid)",
        f"payment {payment_id}: paid -> partially_refunded (refund {part} of 0.30 AED: succeeded)",
        f"payment {payment_id}: partially_refunded -> refunded (refund {rest} of 8.00 AED:"
        " succeeded)",
    ]
    for outcome in ("paid", "partially_refunded", "refunded"):
        assert f'gateway="json",outcome="{outcome}"' in text


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"


def strict_media_type(header: str) -> tuple[str, dict[str, str]]:
    """Parse a Content-Type as strictly as Go's mime.ParseMediaType (and so Prometheus)."""
    media_type, *parameters = header.split(";")
    assert re.fullmatch(f"{_TOKEN}/{_TOKEN}", media_type.strip()), header
    found: dict[str, str] = {}
    for parameter in parameters:
        name, equals, value = parameter.strip().partition("=")
        assert equals, header
        assert re.fullmatch(_TOKEN, name), header
        assert re.fullmatch(f'{_TOKEN}|"[^"]*"', value), header
        assert name.lower() not in found, f"{name} given twice in {header!r}"
        found[name.lower()] = value.strip('"')
    return media_type.strip().lower(), found


async def test_metrics_are_served_in_one_exposition_format_every_prometheus_parses(
    platform: AppFactory, vendor: Vendor
) -> None:
    gateways = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    async with platform(gateways) as client:
        await client.post(
            "/init-payment",
            json={"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 720},
        )
        scraped = await client.get("/metrics")
        documented = (await client.get("/schema/openapi.json")).json()
    media_type, parameters = strict_media_type(scraped.headers["content-type"])
    assert (media_type, parameters) == ("text/plain", {"version": "0.0.4", "charset": "utf-8"})
    families = {family.name for family in text_string_to_metric_families(scraped.text)}
    assert {"payments_outcomes", "payments_gateway_call_seconds"} <= families
    content = documented["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == [scraped.headers["content-type"]]


def test_a_full_flow_logs_no_secret_anywhere(tmp_path: Path, database_url: str) -> None:
    secret = "whsec_" + uuid.uuid4().hex
    key = new_key()
    with json_vendor() as vendor:
        config = write_config(
            tmp_path / "payments.toml",
            {
                "database": {"url": database_url},
                "security": {"merchants": {"shop": {"key_hashes": [key_hash(key)]}}},
                "worker": {"poll_seconds": 0.1},
                "gateways": {
                    "json": {
                        "type": "json",
                        "settings": {"base_url": vendor.base_url, "webhook_secret": secret},
                    }
                },
            },
        )
        subprocess.run(
            [sys.executable, "-m", "payments_platform.cli", "migrate", "--config", str(config)],
            check=True,
            capture_output=True,
        )
        environment = {"OTEL_TRACES_EXPORTER": "console"}
        with payments_serve(tmp_path, config=config, env=environment) as server:
            auth = {"Authorization": f"Bearer {key}"}
            payment_id = str(uuid.uuid4())
            created = httpx.post(
                f"{server.base_url}/init-payment",
                json={"id": payment_id, "currency": "AED", "amount_fractions": 1234},
                headers=auth,
            )
            assert created.status_code == 201, created.text
            external_id = created.json()["external_id"]
            httpx.post(
                f"{vendor.base_url}/_simulator/payments/{external_id}/status",
                json={"status": "paid"},
            ).raise_for_status()
            body = json.dumps({"external_id": external_id, "status": "paid"}).encode()
            forged = signed_headers("wrong-secret", body, timestamp=int(time.time()))
            assert (
                httpx.post(
                    f"{server.base_url}/external/json-webhook", content=body, headers=forged
                ).status_code
                == 400
            )
            genuine = signed_headers(secret, body, timestamp=int(time.time()))
            assert (
                httpx.post(
                    f"{server.base_url}/external/json-webhook", content=body, headers=genuine
                ).status_code
                == 200
            )
            refund = httpx.post(f"{server.base_url}/refund", json={"id": payment_id}, headers=auth)
            assert refund.status_code == 200, refund.text
            bad_key = httpx.get(
                f"{server.base_url}/payments/{payment_id}",
                headers={"Authorization": f"Bearer {key}x"},
            )
            assert bad_key.status_code == 401
        output = server.output()
    assert payment_id in output  # the log carries the payment...
    assert '"trace_id"' in output  # ...and its trace
    for leaked in (secret, key, key_hash(key).removeprefix("sha256:")):
        assert leaked not in output


def test_untraced_log_lines_carry_the_callers_trace_and_metrics_still_count(
    tmp_path: Path, database_url: str
) -> None:
    config = write_config(
        tmp_path / "payments.toml",
        {"database": {"url": database_url, "migrate_on_start": True}, "security": OPEN},
    )
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    # No OTEL_TRACES_EXPORTER: no spans are recorded, and no OpenTelemetry middleware runs.
    with payments_serve(tmp_path, config=config, env={"OTEL_TRACES_EXPORTER": "none"}) as server:
        answer = httpx.get(
            f"{server.base_url}/payments/{uuid.uuid4()}",
            headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
        )
        assert answer.status_code == 404
        untraced = httpx.get(f"{server.base_url}/health")
        assert untraced.status_code == 200
        scraped = httpx.get(f"{server.base_url}/metrics").text
        output = server.output()
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [event for event in events if event["logger"] == "uvicorn.access"]
    [read] = [event for event in access if "/payments/" in event["message"]]
    assert (read["trace_id"], read["span_id"]) == (trace_id, parent_id)
    health = [event for event in access if "/health" in event["message"]]
    assert health
    assert all("trace_id" not in event for event in health)
    assert (
        'payments_http_requests_total{app_name="payments",method="GET",'
        'path="/payments/{payment_id}",status_code="404"} 1.0' in scraped
    )
    assert (
        'payments_http_request_duration_seconds_count{app_name="payments",method="GET",'
        'path="/payments/{payment_id}",status_code="404"} 1.0' in scraped
    )


async def test_metrics_say_the_success_rate_each_gateway_is_routed_by(
    platform: AppFactory, vendor: Vendor
) -> None:
    gateways = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    scores = {"refresh_seconds": 0.05, "refresh_lag_seconds": 0, "prior_strength": 0}
    async with platform(gateways, routing={"strategy": "adaptive", "scores": scores}) as client:
        await client.post(
            "/init-payment",
            json={"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 740},
        )
        for _ in range(100):
            text = (await client.get("/metrics")).text
            if "payments_gateway_score{" in text:
                break
            await asyncio.sleep(0.05)
        assert 'payments_gateway_score{currency="AED",gateway="json"} 1.0' in text
