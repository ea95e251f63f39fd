"""The campaign in the browser (``valor-data annotate serve``): server-rendered pages for annotators,
reviewers and hosts, the JSON API the scripts and benchmarks use, and the clips' media, on the web kit
(``valor_data.web``). ``app.create_app(campaign)`` assembles it."""
