"""docker-compose.yml cannot be run here (no Docker engine): these check what it wires together
against the code: the secrets step makes every password file a container reads, each service runs
as its own users, and RabbitMQ loads the committed definitions and settings."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from stoppoc.services.registry import SERVICES

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
