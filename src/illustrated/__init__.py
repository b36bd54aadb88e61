"""Helpers for the illustrated Transformer book: every step of the model, its figures and its views.

Modules: ``reference`` (NumPy), ``model`` (PyTorch), ``data``, ``train``, ``decode``, ``plots``,
``views``, ``widgets`` and ``exercises``. Import them by name; only ``set_seed`` lives here.
"""

from illustrated.seeding import set_seed

__version__ = "0.1.0"
__all__ = ["set_seed", "__version__"]
