"""duplexgen.augment: duplex assembly (two streams, 0.64 s gaps) and augmentation (barge-in, backchannels,
user-stream realism).

Two pure steps around TTS: ``plan_conversation`` on text (decides barge-ins and backchannels, adds the
text turns they need, draws gaps), then ``assemble`` on the rendered audio (-> ``core.records.TwoStreamCut``).

Example::

    from duplexgen.augment import AugmentConfig, assemble, plan_conversation
    planned = plan_conversation(conv, AugmentConfig(), seed=conv.seed)
    out = assemble(planned, rendered_turns, AugmentConfig(), seed=conv.seed)
"""

from duplexgen.augment.assemble import assemble
from duplexgen.augment.config import AugmentConfig, BackchannelConfig, BargeInConfig, GapConfig, UserStreamConfig
from duplexgen.augment.plan import plan_conversation

__all__ = [
    "assemble",
    "plan_conversation",
    "AugmentConfig",
    "GapConfig",
    "BargeInConfig",
    "BackchannelConfig",
    "UserStreamConfig",
]
