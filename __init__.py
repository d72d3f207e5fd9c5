"""duplexgen: full-duplex speech conversation generator and SALM-Duplex trainer.

The repository's top-level folders are the subpackages: ``duplexgen.pipeline`` (Ray stages,
orchestration, writers, CLI), ``duplexgen.recipes`` (one module per source + mixture configs),
``duplexgen.tts`` (backends), ``duplexgen.augment`` (layout, barge-in, user-stream augmentation),
``duplexgen.training`` (model, data loading, Ray Train, eval).
"""

__version__ = "0.1.0"
