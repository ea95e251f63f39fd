"""`valor-bench`: validate, evaluate and rank AVR / AVC submissions (one module per verb in
``valor_bench.commands``)."""

from valor_bench import __version__
from valor_data.lazycli import lazy_group

main = lazy_group("valor-bench", __version__, "valor_bench", ["validate", "evaluate", "submit", "leaderboard",
                                                          "availability", "export-refs", "challenge", "serve",
                                                          "worker"],
                  "Validate, evaluate and rank submissions to the AVR and AVC benchmarks; host a challenge.")

if __name__ == "__main__":
    main(prog_name="valor-bench")
