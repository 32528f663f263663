"""The price list file ``stoppoc catalog load`` takes, read without infrastructure."""

import json

import pytest

from stoppoc.contract.errors import InvalidData
from stoppoc.services.checkout.price_list import PriceList, ServerPrice, VolumePrice, read_price_list

SERVER = {"flavor": "general-2c4g", "vcpu": 2, "ram_gib": 4, "monthly_price": 600_000}
VOLUME = {"volume_type": "ssd-standard", "price_per_gib_month": 3_000}


def text(**price_list) -> str:
    return json.dumps(price_list)


def test_a_file_may_price_servers_or_volumes_alone():
    assert read_price_list(text(volumes=[VOLUME])) == PriceList(volumes=[VolumePrice(**VOLUME)])
    assert read_price_list(text(servers=[SERVER])).servers == [ServerPrice(**SERVER)]


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a price list"),
        (text(), "prices nothing"),
        (text(servers=[{**SERVER, "monthly_price": 0}]), "servers.0.monthly_price: Input should be greater than 0"),
        (text(servers=[{**SERVER, "monthly_price": -5}]), "servers.0.monthly_price"),
        (text(servers=[{**SERVER, "monthly_price": 600_000.5}]), "servers.0.monthly_price"),
        (text(servers=[{**SERVER, "monthly_price": "600000"}]), "servers.0.monthly_price"),
        (text(servers=[{**SERVER, "monthly_price": True}]), "servers.0.monthly_price"),
        (text(servers=[{**SERVER, "monthly_price": 2**63}]), "servers.0.monthly_price"),
        (text(volumes=[{"volume_type": "ssd-standard"}]), "volumes.0.price_per_gib_month: Field required"),
        (text(volumes=[{**VOLUME, "price_per_gb": 1}]), "volumes.0.price_per_gb: Extra inputs"),
        (text(servers=[{**SERVER, "vcpu": 0}]), "servers.0.vcpu"),
        (text(servers=[{**SERVER, "flavor": ""}]), "servers.0.flavor"),
        (text(servers=[SERVER, SERVER]), "flavor 'general-2c4g' is priced more than once"),
        (text(volumes=[VOLUME, {**VOLUME, "price_per_gib_month": 1}]), "volume_type 'ssd-standard' is priced more"),
        (text(server=[SERVER]), "server: Extra inputs"),
    ],
)
def test_a_bad_price_list_says_what_is_wrong(content, complaint):
    with pytest.raises(InvalidData) as raised:
        read_price_list(content)

    assert complaint in str(raised.value)


def test_every_problem_is_reported_at_once():
    content = text(servers=[{**SERVER, "monthly_price": 0}], volumes=[{**VOLUME, "price_per_gib_month": 1.5}])

    with pytest.raises(InvalidData, match=r"servers\.0\.monthly_price.*; volumes\.0\.price_per_gib_month"):
        read_price_list(content)
