"""The papers' experiments as named, parameterised configurations (torchvision-references style).

>>> from growth.recipes import RECIPES
>>> recipe = RECIPES["autogrow"]
>>> config = recipe.make_config("smoke", variant="p")         # or "bench", "paper"
>>> run = recipe.run(config, history_path="autogrow.json")   # doctest: +SKIP

Each recipe (:class:`~growth.recipes.base.Recipe`) is a module with a configuration dataclass whose
defaults are the paper's setting, profiles ``smoke`` / ``bench`` / ``paper``, a ``run`` function and
its command line (``python -m growth run NAME``).  A new paper adds a module and one entry here.
"""
from __future__ import annotations

from .autogrow import AUTOGROW, AutoGrowConfig, autogrow_config, run_autogrow
from .base import Recipe
from .fragrow import FRAGROW, FRAGrowConfig, fragrow_config, run_fragrow
from .mixturegrowth import MIXTUREGROWTH, MixtureGrowthConfig, mixturegrowth_config, run_mixturegrowth
from .vt import VT, VTConfig, run_vt, vt_config
from .vt_transformer import VT_TRANSFORMER, VTTransformerConfig, run_vt_transformer, vt_transformer_config

#: Recipes by name; ``python -m growth run NAME`` runs ``RECIPES[NAME]``.
RECIPES: dict[str, Recipe] = {AUTOGROW.name: AUTOGROW, FRAGROW.name: FRAGROW, MIXTUREGROWTH.name: MIXTUREGROWTH,
                              VT.name: VT, VT_TRANSFORMER.name: VT_TRANSFORMER}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ``ValueError`` listing the recipes otherwise."""
    if not isinstance(name, str) or name not in RECIPES:
        raise ValueError(f"recipe={name!r} is unknown: choose one of {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


__all__ = ["AutoGrowConfig", "FRAGrowConfig", "MixtureGrowthConfig", "RECIPES", "Recipe", "VTConfig", "autogrow_config",
           "fragrow_config", "get_recipe", "mixturegrowth_config", "run_autogrow", "run_fragrow", "run_mixturegrowth",
           "run_vt", "run_vt_transformer", "vt_config", "vt_transformer_config", "VTTransformerConfig"]
