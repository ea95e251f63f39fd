"""What a release of a dataset holds for others' tools: the official VALOR layout, COCO references, the
dataset card."""
