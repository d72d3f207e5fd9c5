"""Source recipes: one module per source, each registering itself in ``duplexgen.recipes.base.RECIPES``."""

from duplexgen.recipes import alpaca  # noqa: F401  (registers the recipe)
from duplexgen.recipes.base import RECIPES, Recipe, SourceRow, get_recipe

__all__ = ["RECIPES", "Recipe", "SourceRow", "get_recipe"]
