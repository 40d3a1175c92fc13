"""The scale-out tests share one two-instance cluster (tests/support/cluster.py) per run."""

from collections.abc import Iterator

import pytest

from tests.support.cluster import Cluster, start_cluster


@pytest.fixture(scope="package")
def cluster() -> Iterator[Cluster]:
    with start_cluster() as running:
        yield running
