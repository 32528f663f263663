"""docker-compose.yml cannot be run here (no Docker engine): these check what it wires together
against the code: the secrets step makes every password file a container reads, each service runs
as its own users, RabbitMQ loads the committed definitions and settings, each service is probed
and given time to stop, and the monitoring profile scrapes them all."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from stoppoc.services.registry import SERVICES
from stoppoc.shared.outbox import FLUSH_SECONDS
from stoppoc.shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_every_password_file_a_container_reads_is_one_the_secrets_step_writes(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "stoppoc.cli", "access", "secrets", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    written = {path.name for path in tmp_path.iterdir()}
    assert len(done.stdout.splitlines()) == len(written)
    read = set(re.findall(r"/run/stoppoc/secrets/([\w-]+)", (ROOT / "docker-compose.yml").read_text()))
    assert read and read <= written
    assert all(path.stat().st_mode & 0o077 == 0 for path in tmp_path.iterdir())  # owner only


def test_each_service_runs_as_its_own_broker_user_and_database_role_without_migrating():
    for service in SERVICES:
        spec = COMPOSE[service]
        env = spec["environment"]
        assert spec["command"] == ["run", service, "--no-migrate"]
        assert env["STOPPOC_AMQP_URL"] == f"amqp://stoppoc-{service}@rabbitmq:5672/"
        assert env["STOPPOC_DATABASE_URL"] == f"postgresql://stoppoc_{service}@postgres:5432/stoppoc"
        assert env["STOPPOC_AMQP_PASSWORD_FILE"].endswith(f"/rabbitmq-{service}")
        assert env["STOPPOC_DATABASE_PASSWORD_FILE"].endswith(f"/postgres-{service}")
        assert spec["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_rabbitmq_loads_the_committed_settings_and_definitions_after_the_users():
    rabbitmq = COMPOSE["rabbitmq"]
    assert "./deploy/rabbitmq/rabbitmq.conf:/etc/rabbitmq/conf.d/20-stoppoc.conf:ro" in rabbitmq["volumes"]
    assert "rabbitmq-definitions:/etc/rabbitmq/definitions:ro" in rabbitmq["volumes"]
    [step] = COMPOSE["secrets"]["command"]
    assert "/deploy/definitions.json /run/stoppoc/rabbitmq/02-definitions.json" in step
    assert "--output /run/stoppoc/rabbitmq/01-users.json" in step
    assert "./deploy/rabbitmq/definitions.json:/deploy/definitions.json:ro" in COMPOSE["secrets"]["volumes"]


def _seconds(duration: str) -> float:
    value, unit = re.fullmatch(r"(\d+)(s|m)", duration).groups()  # type: ignore[union-attr]
    return float(value) * (60 if unit == "m" else 1)


def test_each_service_is_probed_for_readiness_and_given_longer_to_stop_than_its_shutdown_takes():
    shutdown = Settings.model_fields["graceful_timeout_seconds"].default + FLUSH_SECONDS
    port = COMPOSE[SERVICES[0]]["environment"]["STOPPOC_HTTP_PORT"]
    for service in SERVICES:
        definition = COMPOSE[service]
        probe = " ".join(definition["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/health/ready" in probe, service
        assert not definition["healthcheck"].get("disable"), service
        assert _seconds(definition["stop_grace_period"]) > shutdown, service


def test_the_monitoring_profile_scrapes_every_service_and_provisions_the_dashboard():
    monitoring = {name for name, service in COMPOSE.items() if "monitoring" in service.get("profiles", [])}
    assert monitoring == {"prometheus", "grafana", "jaeger"}
    scrape = yaml.safe_load((ROOT / "deploy" / "monitoring" / "prometheus.yml").read_text())["scrape_configs"]
    targets = {target for job in scrape for config in job["static_configs"] for target in config["targets"]}
    port = COMPOSE[SERVICES[0]]["environment"]["STOPPOC_HTTP_PORT"]
    assert targets == {f"{service}:{port}" for service in SERVICES}
    assert all(job["metrics_path"] == "/metrics" for job in scrape)
    for volume in COMPOSE["grafana"]["volumes"]:
        assert (ROOT / volume.split(":")[0]).is_dir(), volume
    home = COMPOSE["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "deploy" / "monitoring" / "grafana" / "dashboards" / Path(home).name).is_file()
