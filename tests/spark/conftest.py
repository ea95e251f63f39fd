import shutil

import pytest

pytestmark = pytest.mark.spark


@pytest.fixture(scope="session")
def spark_distributor():
    """One local[2] Spark session for all Spark tests (starting one costs ~10 s)."""
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17: apt-get install openjdk-17-jre-headless")
    pytest.importorskip("pyspark")
    from valor_data.spark_distributor import SparkDistributor

    dist = SparkDistributor(workers=2)
    _ = dist.spark
    yield dist
    dist.stop()
