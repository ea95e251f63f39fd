"""`valor-data`: the dataset toolkit's command line (one module per verb in ``valor_data.commands``)."""

from valor_data import __version__
from valor_data.lazycli import lazy_group

main = lazy_group("valor-data", __version__, "valor_data",
                  ["fetch", "shard", "verify", "acd", "split", "stats", "demo", "doctor", "annotate"],
                  "Build VALOR-1M / VALOR-32K style datasets and measure their captions.")

if __name__ == "__main__":
    main(prog_name="valor-data")
