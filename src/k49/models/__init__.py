"""The model zoo: the seed study's 12 models, the K49 paper's baselines and a small ResNet.

`list_models()` names them, `create_model(name)` builds one, `get_entry(name)` gives its
defaults (optimizer, lr, optimizer_kwargs, loss), `model_info(name)` its size and cost.
"""

from k49.models.info import count_flops, count_params, model_info
from k49.models.registry import (
    ModelEntry,
    create_model,
    get_entry,
    list_models,
    register_model,
)

__all__ = [
    "ModelEntry",
    "count_flops",
    "count_params",
    "create_model",
    "get_entry",
    "list_models",
    "model_info",
    "register_model",
]
