"""`stoppoc access`: what it prints and how it refuses (run in this process, for speed)."""

import json

import pytest
from click.testing import CliRunner, Result

from stoppoc.cli.main import main
from stoppoc.shared import broker_access
from stoppoc.shared.settings import get_settings


@pytest.fixture(autouse=True)
def namespace(monkeypatch):
    monkeypatch.setenv("STOPPOC_NAMESPACE", "prod")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def stoppoc(*arguments: str) -> Result:
    return CliRunner().invoke(main, ["access", *arguments])


def test_show_lists_every_user_of_the_namespace_with_what_it_may_publish():
    done = stoppoc("show", "--json")
    assert done.exit_code == 0, done.output
    rows = {row["user"]: row for row in json.loads(done.stdout)}
    assert set(rows) == {f"prod-{principal}" for principal in broker_access.PRINCIPALS}
    assert rows["prod-notifier"]["publishes"] == ""
    assert "payment.wallet.credit" not in rows["prod-portal"]["publishes"]
    assert rows["prod-operator"]["publishes"] == "any routing key"
    assert rows["prod-payment"]["reads"] == "prod.payment"
    assert rows["prod-notifier"]["dead-letters"] == "prod.notifier"  # into its own dead-letter queue only
    assert rows["prod-operator"]["dead-letters"] == ""


def test_broker_users_without_a_password_file_says_which_and_exits_2(tmp_path):
    (tmp_path / "rabbitmq-inventory").write_text("pw")
    done = stoppoc("broker-users", "--passwords-from", str(tmp_path))
    assert done.exit_code == 2
    assert done.stderr.startswith(f"stoppoc: cannot read the secret {tmp_path}/rabbitmq-")
    assert "pw" not in done.stdout


def test_secrets_keeps_what_is_there_and_makes_what_is_missing(tmp_path):
    (tmp_path / "rabbitmq-admin").write_text("chosen-by-hand")
    first = stoppoc("secrets", str(tmp_path))
    again = stoppoc("secrets", str(tmp_path))
    assert first.exit_code == again.exit_code == 0
    assert "rabbitmq-admin" not in first.stdout and again.stdout == ""
    assert (tmp_path / "rabbitmq-admin").read_text() == "chosen-by-hand"
    users = stoppoc("broker-users", "--passwords-from", str(tmp_path))
    document = json.loads(users.stdout)
    admin = next(u for u in document["users"] if u["name"] == "prod-admin")
    assert admin == {"name": "prod-admin", "password": "chosen-by-hand", "tags": ["administrator"]}
