"""The simulator against Erlang C: the statistical validation grid.

Each grid point runs 10 independent replications of 60,000 customers with the
first 10% discarded as warm-up. The simulated mean wait must have the Erlang C
value inside its 99% Student-t interval. With nine points and independent
seeds a correct simulator fails one point about 9% of the time for an
arbitrary seed; the seed is fixed, so the outcome is repeatable.
"""

import pytest

from devsim.validation import validate_mmc


@pytest.fixture(scope="module")
def grid():
    return validate_mmc()


def test_grid_covers_servers_and_loads(grid):
    assert sorted(grid["servers"].unique()) == [1, 4, 16]
    assert sorted(grid["utilization"].unique()) == [0.5, 0.8, 0.9]


@pytest.mark.parametrize("index", range(9))
def test_erlang_c_inside_interval(grid, index):
    row = grid.iloc[index]
    assert row["ci_low_s"] <= row["theory_wait_s"] <= row["ci_high_s"], row.to_dict()


def test_relative_errors_small(grid):
    # The interval test above is the real check; this one catches a biased
    # simulator whose wide interval could still cover theory.
    assert grid["relative_error"].abs().max() < 0.15


def test_validation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="replications"):
        validate_mmc(replications=1)
    with pytest.raises(ValueError, match="utilization"):
        validate_mmc(servers=(1,), utilizations=(1.2,), customers=1000, replications=2)
