"""Source recipes: one module per source, listed explicitly in :data:`RECIPES`.

alpaca, ms_marco, ultrachat, topic (LLM-written dialogs), asr_qa (real speech + LLM answers),
real_conversations (your own recordings). A new source is a module with a ``RECIPE`` (read_rows +
to_conversation, see :mod:`duplexgen.recipes.base`) added to the dict below.
"""

from duplexgen.recipes import alpaca, asr_qa, ms_marco, real_conversations, topic, ultrachat
from duplexgen.recipes.base import Recipe

#: Recipe name (``sources[].recipe``) -> recipe.
RECIPES: dict[str, Recipe] = {
    r.name: r for r in (alpaca.RECIPE, ms_marco.RECIPE, ultrachat.RECIPE, topic.RECIPE, asr_qa.RECIPE, real_conversations.RECIPE)
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}")
    return RECIPES[name]


__all__ = ["RECIPES", "Recipe", "get_recipe"]
