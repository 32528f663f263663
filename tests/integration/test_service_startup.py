"""A service started on an empty server brings up its own database and schema."""

import asyncpg
import pytest

from tests.infrastructure import running, unique, with_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def fresh_database_url(postgres_url):
    name = unique("stoppoc_fresh_")
    yield with_database(postgres_url, name)
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_services_starting_together_on_a_missing_database_create_and_migrate_it(
    settings, fresh_database_url, client
):
    fresh = settings.model_copy(update={"database_url": fresh_database_url})
    async with running(fresh, "inventory", "checkout", "payment", "notifier"):
        await client.send("payment.wallet.credit", {"customer_id": "c", "amount": 5, "reference": "r"})
        await client.wait_for("wallet.credited")

    conn = await asyncpg.connect(fresh_database_url)
    try:
        applied = {
            r["name"]
            for r in await conn.fetch(
                "SELECT name FROM payment.schema_migrations UNION SELECT name FROM checkout.schema_migrations"
            )
        }
    finally:
        await conn.close()
    assert {"payment/0001_wallets.sql", "checkout/0004_coupons.sql", "shared/0001_messaging.sql"} <= applied
