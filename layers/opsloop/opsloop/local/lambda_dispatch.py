"""Run the real handler modules in-process when moto's Step Functions interpreter invokes a Lambda.

moto without Docker only echoes a function's input. The offline run replaces
``LambdaSimpleBackend.invoke`` with a dispatcher that imports ``functions/<dir>/app.py`` and calls its
``handler``. An exception raised by the handler is answered like Lambda does (``X-Amz-Function-Error:
Unhandled`` and ``{"errorType": <class name>, "errorMessage": ...}``), so Retry/Catch match it by class
name exactly as Step Functions does. This touches a private moto API: moto is pinned (requirements/lock.txt) and the
behaviour is covered by tests/workflow.

What a handler prints (its structured logs and metrics) goes to the run's log file, per thread: the state
machine's thread and the threads of ``opsloop local serve`` call handlers at the same time, so stdout is
routed by whether the writing thread is inside a handler call, not swapped for the whole process.

A fault plan (:mod:`opsloop.local.faults`) can make an invocation time out: the handler runs, then the
answer is Lambda's ``Sandbox.Timedout`` function error instead of its result, as when a function is
stopped at its timeout after its calls went out.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, TextIO

if TYPE_CHECKING:
    from .faults import FaultPlan

_lock = threading.Lock()
TIMED_OUT = "Sandbox.Timedout"  # the errorType Lambda reports for a function stopped at its timeout


class LambdaTimedOut(Exception):
    """An invocation the fault plan made time out (answered as ``Sandbox.Timedout``)."""


class _StdoutRouter:
    """sys.stdout while a dispatcher is installed: a thread inside a handler call writes to the run's log."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.log: TextIO | None = None
        self.local = threading.local()
        self.lock = threading.Lock()

    def _target(self) -> Any:
        return self.log if self.log is not None and getattr(self.local, "depth", 0) else self.original

    def write(self, text: str) -> int:
        target = self._target()
        if target is self.original:
            return self.original.write(text)
        with self.lock:
            return target.write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


_router: _StdoutRouter | None = None

_active = threading.local()


def in_function() -> bool:
    """True while a handler runs in this thread (so what it calls can be told from the runner's own calls)."""
    return getattr(_active, "depth", 0) > 0


class Dispatcher:
    def __init__(self, functions_dir: Path, routes: dict[str, str], log: TextIO | None = None,
                 on_invoke: Callable[[str, dict[str, Any]], None] | None = None,
                 faults: "FaultPlan | None" = None) -> None:
        """``routes`` maps a moto function name to its directory under ``functions_dir``."""
        self.functions_dir = functions_dir
        self.routes = routes
        self.log = log
        self.on_invoke = on_invoke
        self.faults = faults
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
        fault = self.faults.take(f"lambda.{name}") if self.faults is not None else None
        module = self.module(directory)  # importing is the cold start, not the invocation's duration
        router = _router
        if router is not None:
            router.local.depth = getattr(router.local, "depth", 0) + 1
        _active.depth = getattr(_active, "depth", 0) + 1
        began = time.perf_counter()
        try:
            result = module.handler(payload, None)
        finally:
            self.invocations.append((name, (time.perf_counter() - began) * 1000))
            _active.depth -= 1
            if router is not None:
                router.local.depth -= 1
        if fault is not None:
            raise LambdaTimedOut(f"Task timed out after {fault.seconds:.2f} seconds")
        return result

    def install(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        global _router
        dispatcher = self
        self._original = LambdaSimpleBackend.invoke
        if self.log is not None:
            if _router is None:
                _router = _StdoutRouter(sys.stdout)
            if sys.stdout is not _router:
                _router.original = sys.stdout
                sys.stdout = _router
            _router.log = self.log

        def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any,
                   response_headers: Any) -> bytes:
            payload = json.loads(body) if body else {}
            try:
                result = dispatcher.call(function_name, payload)
            except LambdaTimedOut as exc:
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": TIMED_OUT, "errorMessage": str(exc)}).encode()
            except Exception as exc:  # noqa: BLE001 - becomes the function error, as in Lambda
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)[:2000]}).encode()
            return json.dumps(result).encode()

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if _router is not None and _router.log is self.log:
            _router.log = None
            if sys.stdout is _router:
                sys.stdout = _router.original
        if self._original is not None:
            from moto.awslambda_simple.models import LambdaSimpleBackend

            LambdaSimpleBackend.invoke = self._original  # type: ignore[method-assign]
            self._original = None
