"""One module per `valor-model` verb; each is imported only when used."""
