"""Source recipes: one module per source, each registering itself in ``duplexgen.recipes.base.RECIPES``.

alpaca, ms_marco, ultrachat, topic (LLM-written dialogs), asr_qa (real speech + LLM answers),
real_conversations (your own recordings). Text of every source goes through ``recipes.normalize``.
"""

from duplexgen.recipes import alpaca, asr_qa, ms_marco, real_conversations, topic, ultrachat  # noqa: F401  (register)
from duplexgen.recipes.base import RECIPES, Recipe, SourceRow, get_recipe

__all__ = ["RECIPES", "Recipe", "SourceRow", "get_recipe"]
