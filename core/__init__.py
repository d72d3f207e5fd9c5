"""duplexgen's ground floor: what every room needs, importing nothing else of duplexgen.

- ``records``: the typed records of the data flow (SourceRow, Conversation, Turn, RenderedTurn, Word,
  Segment, TwoStreamCut, Reject, ManifestEntry) and the item-level errors;
- ``timing``: the timing constants (GAP_S, BARGE_IN_KEEP_S, FRAME_S, sample rates) and NeMo's frame/EOS rule;
- ``words``: the words of a text (one definition for aligners, barge-in cuts, ``validate`` and exports);
- ``schema``: every field written into a cut, its type and meaning (the shard contract in code);
- ``config``: dataclass configs with field help -> ``--help``, YAML + ``key=value`` overrides;
- ``storage``: local folders and fsspec URLs, write-then-rename; ``shards``: shard naming and listing;
- ``audio`` (resample, quantise, in-memory recordings) and ``vad`` (energy and Silero VAD).
"""
