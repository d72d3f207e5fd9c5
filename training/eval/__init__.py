"""duplexgen.training.eval: behavioural evaluation of duplex models (the data audit is ``duplexgen.pipeline.audit``).

- ``metrics``: turn-taking, barge-in and false-alarm scoring over speech intervals (pure functions),
  BLEU/WER (the scripted events of a cut are ``duplexgen.core.events``).
- ``run``: ``duplexgen eval`` (model inference over the user stream, VAD, metrics, report) and its
  reference mode (scores the data's own agent stream).
- ``report``: HTML + PNG timelines and latency histograms.

Example::

    from duplexgen.training.eval import EvalConfig, run_eval
    result = run_eval(None, "out/eval/shards", "out/eval/reference", EvalConfig(vad="energy"), reference=True)
    result["barge_in"]["rate"]   # ~1.0 on duplexgen data
"""

from duplexgen.training.eval.metrics import barge_in, bleu, false_alarms, summarize, turn_taking
from duplexgen.training.eval.run import EvalConfig, format_result, run_eval

__all__ = [
    "EvalConfig",
    "run_eval",
    "format_result",
    "turn_taking",
    "barge_in",
    "false_alarms",
    "summarize",
    "bleu",
]
