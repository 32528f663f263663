"""Least privilege on the broker: one RabbitMQ user per service and per client, each allowed
exactly what ``stoppoc.contract.publishers`` says it publishes, and reading only its own queue.

RabbitMQ checks three regular expressions per user and virtual host (configure, write, read:
on exchange and queue names), and per topic exchange two more on routing keys (write: what it
may publish; read: what it may bind). A user with no topic permission on an exchange may use
every routing key there, so every user gets one on each topic exchange: ``NS.commands``,
``NS.events`` and ``NS.dead-letters``. An empty expression allows nothing (for topic permissions:
only the empty routing key, which no queue of stoppoc binds and every service refuses).

Dead letters: a service publishes its own to ``NS.dead-letters`` with its queue's name as the
routing key, the only key its topic permission there allows, so it can fill no other service's
dead-letter queue. No service may write to ``NS.dlx`` (direct: topic permissions do not apply),
where only the broker dead-letters, which needs no permission.

User names are ``<namespace>-<principal>``, so environments sharing a broker (and tests) each
have their own.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stoppoc.contract import COMMANDS, EVENTS
from stoppoc.contract.publishers import (
    BILLING_FOLLOWS,
    CLIENT_SENDS,
    PORTAL_FOLLOWS,
    REQUESTS,
    SERVICE_PUBLISHES,
    SETTLEMENT_EVENTS,
)
from stoppoc.shared.topology import Names, Topology

VHOST = "/"
DEFAULT_EXCHANGE = "amq.default"  # how RabbitMQ names the default exchange in permissions
SERVER_NAMED_QUEUE = r"amq\.gen-.*"  # an exclusive queue the broker names, for replies and feeds
ANYTHING = ".*"
NOTHING = ""


@dataclass(frozen=True)
class Grant:
    """What one user may do. Names are regular expressions already (escaped where literal)."""

    principal: str
    purpose: str
    configure: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    publishes: frozenset[str] = frozenset()  # routing keys on NS.commands and NS.events
    binds_commands: frozenset[str] = frozenset()  # routing keys it may bind on NS.commands
    binds_events: frozenset[str] = frozenset()  # and on NS.events
    dead_letters: frozenset[str] = frozenset()  # routing keys it may publish on NS.dead-letters
    binds_dead_letters: frozenset[str] = frozenset()  # and bind there
    any_routing_key: bool = False  # publishes whatever it must (the operator replays anything)


def user_name(names: Names, principal: str) -> str:
    return f"{names.namespace}-{principal}"


def escape(name: str) -> str:
    """``name`` as a regular expression matching only itself (PCRE, as RabbitMQ reads them)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", name)


def _literal(*names: str) -> tuple[str, ...]:
    return tuple(escape(name) for name in names)


def _service_grant(names: Names, service: str) -> Grant:
    publishes = SERVICE_PUBLISHES[service]
    exchanges = [names.dead_letters]
    if publishes & COMMANDS.keys():
        exchanges.append(names.commands)
    if publishes & EVENTS.keys():
        exchanges.append(names.events)
    write = _literal(*sorted(exchanges))
    if any(request.split(".", 1)[0] == service for request in REQUESTS):
        write += _literal(DEFAULT_EXCHANGE)  # replies go to the caller's queue by its name
    return Grant(
        service,
        f"the {service} service: reads its queue, publishes what it emits",
        write=write,
        read=_literal(names.queue(service)),
        publishes=publishes,
        dead_letters=frozenset({names.queue(service)}),  # into its own dead-letter queue only
    )


def _follower(names: Names, principal: str, purpose: str, follows: frozenset[str], **kwargs: Any) -> Grant:
    """A client that keeps queues of its own (server-named, or ``extra_queues``) bound to events."""
    queues = (SERVER_NAMED_QUEUE, *kwargs.pop("extra_queues", ()))
    return Grant(
        principal,
        purpose,
        configure=queues,
        write=(*kwargs.pop("write", ()), *queues),  # binding needs write on the queue
        read=(*_literal(names.events), *queues),  # and read on the exchange
        binds_events=follows,
        **kwargs,
    )


def grants(names: Names, topology: Topology) -> list[Grant]:
    """Every user of the namespace. ``topology``: each service's queue bindings (the deployer's
    to make)."""
    queues = [name for service in topology for name in (names.queue(service), names.dead_letter_queue(service))]
    exchanges = [names.commands, names.events, names.dlx, names.dead_letters]
    commands = _literal(names.commands)
    return [
        *(_service_grant(names, service) for service in SERVICE_PUBLISHES),
        Grant(
            "platform",
            "the cloud platform: registers clusters and resources",
            write=commands,
            publishes=CLIENT_SENDS["platform"],
        ),
        _follower(
            names,
            "portal",
            "the portal: Stop POC, quotes, renewals, contacts; follows how they went",
            PORTAL_FOLLOWS,
            write=commands,
            publishes=CLIENT_SENDS["portal"],
        ),
        _follower(
            names,
            "billing",
            "billing: wallet credits and coupons; follows what became of the credits",
            BILLING_FOLLOWS,
            write=commands,
            publishes=CLIENT_SENDS["billing"],
        ),
        _follower(
            names,
            "analysts",
            "billing analysts: read-only on settlement events, in queues of their own",
            SETTLEMENT_EVENTS,
            extra_queues=(escape(f"{names.namespace}.analysts.") + ".+",),
        ),
        Grant(
            "operator",
            "operators: read the dead-letter queues and replay them (any routing key: guard it)",
            write=_literal(names.commands, names.events),
            read=_literal(*(names.dead_letter_queue(service) for service in topology)),
            any_routing_key=True,
        ),
        Grant(
            "deployer",
            "`stoppoc migrate`: declares the exchanges, queues and bindings; publishes nothing",
            configure=_literal(*exchanges, *queues),
            # Binding needs write on the queue and read on the exchange; declaring a queue with a
            # dead-letter exchange needs read on the queue and write on that exchange.
            write=_literal(*queues, names.dlx),
            read=_literal(*exchanges, *(names.queue(service) for service in topology)),
            binds_commands=frozenset(key for bindings in topology.values() for key in bindings.commands),
            binds_events=frozenset(key for bindings in topology.values() for key in bindings.events),
            binds_dead_letters=frozenset(names.queue(service) for service in topology),
        ),
    ]


def _exactly(alternatives: Iterable[str]) -> str:
    chosen = sorted(set(alternatives))
    return f"^({'|'.join(chosen)})$" if chosen else NOTHING


def _keys(routing_keys: Iterable[str]) -> str:
    return _exactly(escape(key) for key in routing_keys)


def permissions(names: Names, grant: Grant) -> dict[str, Any]:
    return {
        "user": user_name(names, grant.principal),
        "vhost": VHOST,
        "configure": _exactly(grant.configure),
        "write": _exactly(grant.write),
        "read": _exactly(grant.read),
    }


def topic_permissions(names: Names, grant: Grant) -> list[dict[str, Any]]:
    user = user_name(names, grant.principal)
    return [
        {"user": user, "vhost": VHOST, "exchange": exchange, "write": write, "read": _keys(binds)}
        for exchange, write, binds in (
            (names.commands, _publishes(grant, COMMANDS.keys()), grant.binds_commands),
            (names.events, _publishes(grant, EVENTS.keys()), grant.binds_events),
            (names.dead_letters, _keys(grant.dead_letters), grant.binds_dead_letters),
        )
    ]


def _publishes(grant: Grant, keys: Iterable[str]) -> str:
    return ANYTHING if grant.any_routing_key else _keys(grant.publishes & set(keys))


def definitions(names: Names, topology: Topology) -> dict[str, Any]:
    """RabbitMQ definitions (the format ``load_definitions`` and ``rabbitmqctl import_definitions``
    read): the virtual host and every user's permissions and topic permissions. No user and no
    password: those are in ``users`` (imported first, from a secret)."""
    every = grants(names, topology)
    return {
        "vhosts": [{"name": VHOST}],
        "permissions": [permissions(names, g) for g in every],
        "topic_permissions": [entry for g in every for entry in topic_permissions(names, g)],
    }


def users(names: Names, passwords: Mapping[str, str]) -> dict[str, Any]:
    """The users themselves, with their ``passwords`` by principal, and ``admin``, the
    administrator (a broker that loads definitions at boot creates no default user)."""
    missing = sorted(set(BROKER_USERS) - passwords.keys())
    if missing:
        raise KeyError(f"no password for {', '.join(missing)}")
    admin = user_name(names, "admin")
    return {
        "users": [
            {
                "name": user_name(names, principal),
                "password": passwords[principal],
                "tags": ["administrator"] if principal == "admin" else [],
            }
            for principal in BROKER_USERS
        ],
        "vhosts": [{"name": VHOST}],
        "permissions": [{"user": admin, "vhost": VHOST, "configure": ANYTHING, "write": ANYTHING, "read": ANYTHING}],
    }


PRINCIPALS = (*SERVICE_PUBLISHES, "platform", "portal", "billing", "analysts", "operator", "deployer")
BROKER_USERS = (*PRINCIPALS, "admin")
