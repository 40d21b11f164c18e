"""Model flavors: sklearn (skops), lightgbm and xgboost (native formats)."""

from __future__ import annotations

from assay.errors import FlavorError
from assay.training.flavors.base import FitRequest, FittedModel, Flavor, LoadedModel
from assay.training.flavors.lightgbm import LightgbmFlavor
from assay.training.flavors.sklearn import SklearnFlavor, project_on_path
from assay.training.flavors.xgboost import XgboostFlavor

FLAVORS: dict[str, type[SklearnFlavor] | type[LightgbmFlavor] | type[XgboostFlavor]] = {
    "sklearn": SklearnFlavor,
    "lightgbm": LightgbmFlavor,
    "xgboost": XgboostFlavor,
}


def get_flavor(name: str) -> Flavor:
    try:
        return FLAVORS[name]()
    except KeyError:
        raise FlavorError(f"unknown model flavor {name!r}", hint=f"choose one of {', '.join(FLAVORS)}") from None


__all__ = ["FLAVORS", "FitRequest", "FittedModel", "Flavor", "LoadedModel", "get_flavor", "project_on_path"]
