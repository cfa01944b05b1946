"""Optional dependencies: imported where they are needed, with the extra that installs them."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``importlib.import_module(module)``, or an :class:`ImportError` that says which
    extra of foldpitch installs it (``purpose``: what needs it, for the message).

    Example:
        >>> require("math", "plot", "a test").__name__
        'math'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs {module.split('.')[0]}, which is not installed: "
            f"pip install 'foldpitch[{extra}]'",
            name=module,
        ) from error
