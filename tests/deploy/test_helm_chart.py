"""The Helm chart, rendered by Helm's own engine (helm-python-sdk binds Helm's Go SDK: what
`helm install` would apply) and validated against the Kubernetes schemas (kubernetes-validate,
strict: an unknown field fails). KEDA's resources are custom and have no schema there: their
fields are checked by hand below."""

import re
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from stoppoc.contract.base import MAX_MESSAGE_BYTES
from stoppoc.services.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "stoppoc"
KUBERNETES_VERSIONS = ("1.28", "1.33")  # the oldest and a recent one the chart is for
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication"}
SHUTDOWN_SECONDS = 30  # shutdown.md: 20 s for messages in hand, 10 s for the outbox (docs/reliability.md)


def render(values: dict | None = None) -> list[dict]:
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values or {}, name="stoppoc", namespace="stoppoc")
    return [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]


def by_kind(documents: list[dict], kind: str) -> list[dict]:
    return [doc for doc in documents if doc["kind"] == kind]


def env_of(container: dict) -> dict[str, str]:
    return {variable["name"]: variable.get("value") for variable in container["env"]}


@pytest.mark.parametrize("values", [{}, {"keda": {"enabled": True}}], ids=["plain", "keda"])
def test_every_rendered_manifest_validates_against_the_kubernetes_schemas(values):
    documents = render(values)
    assert {doc["kind"] for doc in documents} >= {"Deployment", "PodDisruptionBudget", "Job", "Service"}
    for doc in documents:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_a_broken_manifest_would_be_caught():
    deployment = by_kind(render(), "Deployment")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_helm_lints_the_chart_without_errors():
    assert helm.lint(str(CHART))["errors"] == []


def test_each_service_runs_with_probes_resources_a_budget_and_time_to_shut_down():
    documents = render()
    deployments = {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc for doc in by_kind(documents, "Deployment")
    }
    assert set(deployments) == set(SERVICES)
    budgets = {doc["metadata"]["name"]: doc for doc in by_kind(documents, "PodDisruptionBudget")}
    for service, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        [container] = pod["spec"]["containers"]
        env = env_of(container)
        assert container["args"] == ["run", service, "--no-migrate"]
        port = next(p for p in container["ports"] if p["name"] == "http")["containerPort"]
        assert env["STOPPOC_HTTP_PORT"] == str(port) and env["STOPPOC_HTTP_HOST"] == "0.0.0.0"
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert pod["spec"]["terminationGracePeriodSeconds"] > SHUTDOWN_SECONDS
        budget = budgets[deployment["metadata"]["name"]]
        assert budget["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_each_service_connects_as_its_own_users_with_only_its_own_passwords_mounted():
    for deployment in by_kind(render(), "Deployment"):
        service = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        pod = deployment["spec"]["template"]["spec"]
        env = env_of(pod["containers"][0])
        assert env["STOPPOC_AMQP_URL"] == f"amqp://stoppoc-{service}@stoppoc-rabbitmq:5672/"
        assert env["STOPPOC_DATABASE_URL"] == f"postgresql://stoppoc_{service}@stoppoc-postgres-rw:5432/stoppoc"
        assert env["STOPPOC_AMQP_PASSWORD_FILE"].endswith(f"/rabbitmq-{service}")
        assert env["STOPPOC_DATABASE_PASSWORD_FILE"].endswith(f"/postgres-{service}")
        [volume] = pod["volumes"]
        assert {item["key"] for item in volume["secret"]["items"]} == {f"rabbitmq-{service}", f"postgres-{service}"}


def test_the_notifier_alone_reads_the_smtp_password_from_its_secret_when_one_is_named():
    smtp = {"smtp": {"existingSecret": "stoppoc-smtp", "passwordKey": "smtp-password"}}
    for values, expected in (({}, False), (smtp, True)):
        documents = render(values)
        for deployment in by_kind(documents, "Deployment"):
            service = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
            pod = deployment["spec"]["template"]["spec"]
            [container] = pod["containers"]
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v["secret"] for v in pod["volumes"]}
            if not (expected and service == "notifier"):
                assert "STOPPOC_SMTP_PASSWORD_FILE" not in env_of(container) and "smtp-password" not in volumes
                continue
            assert env_of(container)["STOPPOC_SMTP_PASSWORD_FILE"] == f"{mounts['smtp-password']}/password"
            secret = volumes["smtp-password"]
            assert (secret["secretName"], secret["items"]) == (
                "stoppoc-smtp",
                [{"key": "smtp-password", "path": "password"}],
            )
        for doc in documents:
            if doc["kind"] not in CUSTOM_KINDS:
                kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)


def test_no_password_is_in_the_chart_or_what_it_renders():
    rendered = yaml.safe_dump_all(render({"keda": {"enabled": True}}))
    assert not by_kind(render(), "Secret")
    assert not re.search(r"(amqp|postgresql)://[^@\s\"]*:[^@\s\"]*@", rendered)  # no user:password@ in a URL


def test_the_migration_job_runs_before_the_services_as_the_administrator_then_the_migrator():
    [job] = by_kind(render(), "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    [roles] = pod["initContainers"]
    [migrate] = pod["containers"]
    assert roles["args"][:2] == ["access", "database-roles"]
    assert migrate["args"] == ["migrate"]
    assert env_of(migrate)["STOPPOC_DATABASE_URL"].startswith("postgresql://stoppoc_migrator@")
    assert env_of(migrate)["STOPPOC_AMQP_URL"].startswith("amqp://stoppoc-deployer@")


def test_keda_scales_each_service_on_the_depth_of_its_own_queue():
    documents = render({"keda": {"enabled": True}, "namespace": "prod"})
    assert all("replicas" not in d["spec"] for d in by_kind(documents, "Deployment"))  # KEDA owns the count
    [authentication] = by_kind(documents, "TriggerAuthentication")
    assert authentication["apiVersion"] == "keda.sh/v1alpha1"
    assert authentication["spec"]["secretTargetRef"] == [
        {"parameter": "host", "name": "stoppoc-keda-rabbitmq", "key": "host"}
    ]
    scaled = {doc["spec"]["scaleTargetRef"]["name"]: doc for doc in by_kind(documents, "ScaledObject")}
    assert set(scaled) == {d["metadata"]["name"] for d in by_kind(documents, "Deployment")}
    for target, doc in scaled.items():
        [trigger] = doc["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == f"prod.{target.removeprefix('stoppoc-')}"
        assert trigger["metadata"]["mode"] == "QueueLength" and trigger["metadata"]["protocol"] == "amqp"
        assert trigger["authenticationRef"]["name"] == authentication["metadata"]["name"]
        assert doc["spec"]["minReplicaCount"] <= doc["spec"]["maxReplicaCount"]


def test_the_broker_refuses_bodies_over_the_size_the_services_take():
    conf = (ROOT / "deploy" / "rabbitmq" / "rabbitmq.conf").read_text()
    cluster = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "rabbitmq-cluster.yaml").read_text())
    operator_conf = cluster["spec"]["rabbitmq"]["additionalConfig"]
    for text in (conf, operator_conf):
        assert re.search(r"^max_message_size = (\d+)$", text, re.MULTILINE)[1] == str(MAX_MESSAGE_BYTES)
        assert re.search(r"^load_definitions = (\S+)$", text, re.MULTILINE)[1] == "/etc/rabbitmq/definitions"
