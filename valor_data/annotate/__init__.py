"""The VALOR caption campaign (``valor-data annotate``): people write audiovisual captions for clips and
other people review them, in the three steps of the VALOR paper (Sec. 3.2) — training on gold clips,
a first stage checked by the organisers with feedback, and a second stage where three other annotators
review each caption blind and more than one reject sends it back.

The core modules hold the campaign in a database through the web kit (``valor_data.web``): who may take
which clip or review (``assign``), what a caption must be (``rules``), what a save or a verdict does to a
clip's round (``work``), and how clips come in (``importing``) and captions go out (``export``). The
dashboard's figures are ``stats`` (with reviewer agreement in ``agreement``); ``simulate`` drives a server
with scripted people (the demo, the load benchmark, the durability tests) and ``invariants`` checks the
campaign's promises on its database afterwards. The browser app lives in ``valor_data.annotate.web``.
"""
