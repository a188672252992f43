"""Importing marsaurora holds numpy's BLAS to one thread unless the user chose otherwise."""

import os
import subprocess
import sys

import pytest

READ_BACK = "import marsaurora, os; print(os.environ['OPENBLAS_NUM_THREADS'])"


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("4", "4")])
def test_openblas_threads_default_to_one_and_a_user_choice_stands(given, expected):
    env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    out = subprocess.run([sys.executable, "-c", READ_BACK], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == expected
