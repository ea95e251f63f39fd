"""One module per `valor-data` sub-command; each is imported only when used."""
