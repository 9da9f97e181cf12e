"""Closed-form queueing references."""

import math

import pytest

from devsim import theory


def test_erlang_c_single_server_is_rho():
    for rho in (0.1, 0.5, 0.9):
        assert theory.erlang_c(1, rho) == pytest.approx(rho)


def test_erlang_c_textbook_value():
    # Two servers at one erlang: Erlang B is 1/5, so C = (1/5) / (1 - 0.5 * 4/5) = 1/3.
    assert theory.erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_erlang_c_matches_direct_formula():
    c, a = 16, 12.8
    rho = a / c
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) / (1 - rho)
    assert theory.erlang_c(c, a) == pytest.approx(tail / (head + tail), rel=1e-12)


def test_mm1_wait_closed_form():
    lam, mu = 0.8, 1.0
    assert theory.mmc_mean_wait(lam, mu, 1) == pytest.approx(lam / (mu * (mu - lam)))
    assert theory.mmc_mean_response(lam, mu, 1) == pytest.approx(1 / (mu - lam))


def test_unstable_queue_raises():
    with pytest.raises(ValueError, match="unstable"):
        theory.mmc_mean_wait(4.0, 1.0, 4)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="servers"):
        theory.mmc_mean_wait(1.0, 1.0, 0)
    with pytest.raises(ValueError, match="service rate"):
        theory.mmc_mean_wait(1.0, 0.0, 2)


def test_littles_law():
    assert theory.littles_law_l(2.0, 3.0) == 6.0


def test_erlang_c_many_matches_scalar():
    servers = [1, 4, 16, 16, 0, 4]
    offered = [0.5, 3.2, 14.4, 1.0, 1.0, 5.0]
    values = theory.erlang_c_many(servers, offered)
    for index in range(4):
        assert values[index] == pytest.approx(theory.erlang_c(servers[index], offered[index]), rel=1e-12)
    # No servers, or load above the servers, give 0 instead of an error.
    assert values[4] == 0.0
    assert values[5] == 0.0
