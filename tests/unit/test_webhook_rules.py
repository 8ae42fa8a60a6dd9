"""Webhook rules without servers: the retry schedule, which events a hook takes, what a hook's URL
may be, the allow-list and the addresses refused without it, delivery ids, what is retried."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tasktracker.domain.errors import InvalidInput
from tasktracker.domain.webhooks import (
    MAX_URL_LENGTH,
    SUBSCRIBABLE,
    AllowList,
    check_events,
    check_url,
    delivery_id,
    parse_schedule,
    refused_address,
    retriable,
)

NONE = AllowList()

# --- the retry schedule ----------------------------------------------------------------------


def test_the_default_schedule_parses_in_order():
    assert parse_schedule("10s,1m,5m,30m,2h,8h") == (
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=8),
    )


def test_a_schedule_takes_spaces_and_fractions():
    assert parse_schedule(" 1.5m , 0.5s,1h ") == (
        timedelta(seconds=90),
        timedelta(milliseconds=500),
        timedelta(hours=1),
    )


@pytest.mark.parametrize("text", ["", "10", "5d", "10s,,1m", "s", "1m,x", "-1s", "1 0s", "10S"])
def test_a_bad_schedule_is_refused(text):
    with pytest.raises(ValueError, match="is not a delay"):
        parse_schedule(text)


def test_a_zero_delay_is_refused():
    with pytest.raises(ValueError, match="longer than 0"):
        parse_schedule("10s,0m")


# --- events ----------------------------------------------------------------------------------


def test_events_are_kept_in_order_once():
    assert check_events(["task.updated", "task.created", "task.updated"]) == [
        "task.updated",
        "task.created",
    ]


def test_every_subscribable_event_is_taken():
    assert sorted(check_events(sorted(SUBSCRIBABLE))) == sorted(SUBSCRIBABLE)
    assert "task.created" in SUBSCRIBABLE and "project.member_removed" in SUBSCRIBABLE


def test_star_alone_means_every_event():
    assert check_events(["*"]) == ["*"]
    assert check_events(["*", "*"]) == ["*"]


def test_star_with_others_is_refused():
    with pytest.raises(InvalidInput, match="alone"):
        check_events(["*", "task.created"])


def test_no_events_is_refused():
    with pytest.raises(InvalidInput, match="at least one"):
        check_events([])


def test_unknown_events_are_named():
    with pytest.raises(InvalidInput, match=r"unknown event types: task\.exploded, user\.created"):
        check_events(["task.created", "task.exploded", "user.created"])


# --- the url ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in",
        "http://hooks.example.com:8080/in?team=a&x=1",
        "https://[2001:db8::1]:8443/",
        "HTTPS://Hooks.Example.com",
    ],
)
def test_a_good_url_is_kept(url):
    assert check_url(url) == url


def test_a_url_is_stripped():
    assert check_url("  https://hooks.example.com/in \n") == "https://hooks.example.com/in"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.example.com/in", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://127.0.0.1:11211/", "http:// or https://"),
        ("hooks.example.com/in", "http:// or https://"),
        ("http://", "must name a host"),
        ("https:///path", "must name a host"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://token@hooks.example.com/", "credentials"),
        ("https://hooks.example.com/in#part", "fragment"),
        ("https://hooks.example.com:0/", "port"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com:http/", "not a valid URL"),
        ("http://[::1/", "not a valid URL"),
    ],
)
def test_a_bad_url_is_refused(url, says):
    with pytest.raises(InvalidInput, match=says):
        check_url(url)


def test_a_long_url_is_refused():
    url = "https://hooks.example.com/" + "a" * MAX_URL_LENGTH
    with pytest.raises(InvalidInput, match="longer than"):
        check_url(url)


# --- the allow-list --------------------------------------------------------------------------


def test_an_allow_list_parses_hosts_addresses_and_networks():
    allow = AllowList.parse(" 127.0.0.1, Hooks.Internal. ,10.0.0.0/8,, ::1, fd00::/8 ")
    assert allow.hosts == frozenset({"hooks.internal"})
    assert [str(n) for n in allow.networks] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00::/8"]
    assert allow.allows_host("HOOKS.internal.")
    assert not allow.allows_host("other.internal")
    assert allow.allows_address("10.200.3.4")
    assert allow.allows_address("fd12::1")
    assert not allow.allows_address("127.0.0.2")


def test_an_empty_allow_list_allows_nothing():
    allow = AllowList.parse("")
    assert allow == AllowList()
    assert not allow.allows_address("127.0.0.1")
    assert not allow.allows_host("localhost")


def test_a_loose_cidr_is_taken_as_its_network():
    assert [str(n) for n in AllowList.parse("192.168.1.7/24").networks] == ["192.168.1.0/24"]


@pytest.mark.parametrize("item", ["hooks internal", "http://x", "a_b", "host/path"])
def test_an_allow_list_refuses_what_is_neither_host_nor_network(item):
    with pytest.raises(ValueError, match="not a host name or an address/CIDR"):
        AllowList.parse(item)


# --- refused addresses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "127.255.0.9",
        "10.1.2.3",  # private
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # link-local: cloud metadata
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "198.18.0.1",  # benchmarking
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "ff0e::1",  # global-scope multicast
        "2001:db8::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    ],
)
def test_internal_addresses_are_refused(address):
    why = refused_address(address, NONE)
    assert why is not None
    assert "loopback, private, link-local, multicast or reserved" in why


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address):
    assert refused_address(address, NONE) is None


def test_the_reason_names_the_address_reached():
    assert refused_address("::ffff:127.0.0.1", NONE) == (
        "127.0.0.1 is a loopback, private, link-local, multicast or reserved address"
    )


def test_an_allowed_address_or_network_passes():
    allow = AllowList.parse("127.0.0.1,10.0.0.0/8,fd00::/8")
    assert refused_address("127.0.0.1", allow) is None
    assert refused_address("10.9.8.7", allow) is None
    assert refused_address("fd00::5", allow) is None
    assert refused_address("127.0.0.2", allow) is not None
    assert refused_address("192.168.0.1", allow) is not None


def test_a_mapped_address_is_allowed_as_its_ipv4_address():
    allow = AllowList.parse("127.0.0.1")
    assert refused_address("::ffff:127.0.0.1", allow) is None
    assert refused_address("64:ff9b::7f00:1", allow) is None


def test_an_allowed_host_name_does_not_allow_its_address():
    assert refused_address("127.0.0.1", AllowList.parse("localhost")) is not None


def test_a_non_address_is_an_error():
    with pytest.raises(ValueError):
        refused_address("localhost", NONE)


# --- delivery ids ----------------------------------------------------------------------------


def test_a_delivery_id_is_stable_per_event_and_hook():
    assert delivery_id("e1", "w1") == delivery_id("e1", "w1")
    assert isinstance(delivery_id("e1", "w1"), str) and delivery_id("e1", "w1")


def test_delivery_ids_differ_by_event_and_by_hook():
    ids = {delivery_id(e, w) for e in ("e1", "e2", "e3") for w in ("w1", "w2", "w3")}
    assert len(ids) == 9


def test_a_delivery_id_keeps_event_and_hook_apart():
    assert delivery_id("ab", "c") != delivery_id("a", "bc")
    assert delivery_id("e1", "w1") != delivery_id("w1", "e1")


# --- what is tried again ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [None, 429, 500, 502, 503, 504, 599])
def test_timeouts_429_and_5xx_are_retried(status):
    assert retriable(status)


@pytest.mark.parametrize("status", [200, 201, 204, 301, 302, 400, 401, 403, 404, 410, 422])
def test_other_answers_are_not_retried(status):
    assert not retriable(status)
