"""The estimator contract every analytics model follows (scikit-learn's, plus JSON).

``fit`` validates its input, sets the fitted attributes (names ending in ``_``) and returns
``self``; predicting before fitting raises :class:`NotFitted`. A fitted model saves to JSON with
its class, format version and parameters, and loads back only into the same class and version,
so a stored scoring run can be replayed.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Self

from patron.core.errors import InvalidInput


class NotFitted(InvalidInput):
    code = "model_not_fitted"


class BadModelFile(InvalidInput):
    code = "bad_model_file"


class Estimator:
    """Base of the analytics models.

    Subclasses name their constructor parameters in ``params`` and their fitted attributes in
    ``fitted`` (each ending in ``_`` and JSON-serialisable: numbers, strings, lists, dicts).
    """

    version: ClassVar[int] = 1
    params: ClassVar[tuple[str, ...]] = ()
    fitted: ClassVar[tuple[str, ...]] = ()

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self.params}

    @property
    def is_fitted(self) -> bool:
        return all(hasattr(self, f) for f in self.fitted)

    def check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFitted(f"{type(self).__name__} is not fitted yet: call fit() first")

    def to_dict(self) -> dict[str, Any]:
        self.check_fitted()
        return {
            "model": type(self).__name__,
            "version": self.version,
            "params": self.get_params(),
            "fitted": {f: getattr(self, f) for f in self.fitted},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        if data.get("model") != cls.__name__:
            raise BadModelFile(f"not a {cls.__name__} model: {data.get('model')!r}")
        if data.get("version") != cls.version:
            raise BadModelFile(
                f"{cls.__name__} format version {data.get('version')!r} cannot be read "
                f"(this version reads {cls.version})"
            )
        model = cls(**data.get("params", {}))
        fitted = data.get("fitted", {})
        missing = [f for f in cls.fitted if f not in fitted]
        if missing:
            raise BadModelFile(f"{cls.__name__} file lacks {', '.join(missing)}")
        for f in cls.fitted:
            setattr(model, f, fitted[f])
        return model

    @classmethod
    def from_json(cls, text: str) -> Self:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadModelFile(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BadModelFile("a model file holds a JSON object")
        return cls.from_dict(data)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
