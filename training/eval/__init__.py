"""duplexgen.training.eval: score any duplex model on Full-Duplex-Bench-style cases, and our checkpoints the same way.

- ``fdbench``: ``duplexgen score OUT_DIR``: take-over rates, turn-taking / interruption latencies, v1.5 stop and
  response latencies, backchannel frequency and JSD, from each case's output.wav (pure metric functions +
  folder scoring).
- ``run``: ``duplexgen eval CHECKPOINT SHARDS``: cases from the shards (``duplexgen.core.evalset``), our model's
  output.wav per case, then the same scorer; ``--reference`` scores the shards' own agent stream.
- ``report``: HTML with per-task tables, latency histograms and playable example cases.
- ``metrics``: BLEU / WER of text.

Example::

    from duplexgen.training.eval import ScoreConfig, score_dir
    result = score_dir("out/fdb", ScoreConfig())
    result["turn_taking"]["tor"]
"""

from duplexgen.training.eval.fdbench import ScoreConfig, format_scores, score_dir
from duplexgen.training.eval.metrics import bleu, wer
from duplexgen.training.eval.run import EvalConfig, format_result, run_eval

__all__ = ["ScoreConfig", "score_dir", "format_scores", "EvalConfig", "run_eval", "format_result", "bleu", "wer"]
