"""One module per `valor-bench` verb; each is imported only when used."""
