"""Run the real handler modules in-process when moto's Step Functions interpreter invokes a Lambda.

moto without Docker only echoes a function's input. The offline run replaces
``LambdaSimpleBackend.invoke`` with a dispatcher that imports ``functions/<dir>/app.py`` and calls its
``handler``. An exception raised by the handler is answered like Lambda does (``X-Amz-Function-Error:
Unhandled`` and ``{"errorType": <class name>, "errorMessage": ...}``), so Retry/Catch match it by class
name exactly as Step Functions does. This touches a private moto API: moto is pinned (requirements/lock.txt) and the
behaviour is covered by tests/workflow.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, TextIO

_lock = threading.Lock()
_active = threading.local()


def in_function() -> bool:
    """True while a handler runs in this thread (so what it calls can be told from the runner's own calls)."""
    return getattr(_active, "depth", 0) > 0


class Dispatcher:
    def __init__(self, functions_dir: Path, routes: dict[str, str], log: TextIO | None = None,
                 on_invoke: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        """``routes`` maps a moto function name to its directory under ``functions_dir``."""
        self.functions_dir = functions_dir
        self.routes = routes
        self.log = log
        self.on_invoke = on_invoke
        self._modules: dict[str, ModuleType] = {}
        self._original: Any = None
        self.invocations: list[tuple[str, float]] = []  # (function name, measured duration in ms), in order

    def module(self, directory: str) -> ModuleType:
        with _lock:
            mod = self._modules.get(directory)
            if mod is None:
                path = self.functions_dir / directory / "app.py"
                spec = importlib.util.spec_from_file_location(f"opsloop_functions.{directory}.app", path)
                if spec is None or spec.loader is None:
                    raise FileNotFoundError(path)
                mod = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = mod
                spec.loader.exec_module(mod)
                self._modules[directory] = mod
            return mod

    def call(self, function_name: str, payload: Any) -> Any:
        name = function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:") else function_name
        directory = self.routes.get(name)
        if directory is None:
            raise KeyError(f"no handler for function {name!r}")
        if self.on_invoke:
            self.on_invoke(name, payload)
        redirect = contextlib.redirect_stdout(self.log) if self.log else contextlib.nullcontext()
        module = self.module(directory)  # importing is the cold start, not the invocation's duration
        _active.depth = getattr(_active, "depth", 0) + 1
        began = time.perf_counter()
        try:
            with redirect:
                return module.handler(payload, None)
        finally:
            self.invocations.append((name, (time.perf_counter() - began) * 1000))
            _active.depth -= 1

    def install(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        dispatcher = self
        self._original = LambdaSimpleBackend.invoke

        def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any,
                   response_headers: Any) -> bytes:
            payload = json.loads(body) if body else {}
            try:
                result = dispatcher.call(function_name, payload)
            except Exception as exc:  # noqa: BLE001 - becomes the function error, as in Lambda
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)[:2000]}).encode()
            return json.dumps(result).encode()

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._original is not None:
            from moto.awslambda_simple.models import LambdaSimpleBackend

            LambdaSimpleBackend.invoke = self._original  # type: ignore[method-assign]
            self._original = None
