"""`valor-model`: train the reference VALOR model and write benchmark predictions (one module per verb in
``valor_model.commands``)."""

from valor_data.lazycli import lazy_group
from valor_model import __version__

main = lazy_group("valor-model", __version__, "valor_model", ["train", "predict"],
                  "Train the reference VALOR model and predict AVR / AVC submissions.")

if __name__ == "__main__":
    main(prog_name="valor-model")
