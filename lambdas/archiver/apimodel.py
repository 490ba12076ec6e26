"""The `ivs-realtime` model botocore parses IVS answers with, checked at cold start.

botocore drops, without a word, every member of an answer that its model does not declare. Run
with a botocore older than a member a column is read from, and that column would be null
forever. `check` fails the cold start instead, naming every member the model lacks.
"""

from __future__ import annotations

import boto3
import botocore
from botocore.model import NoShapeFoundError, ServiceModel

from archiver.rows import SOURCES

SERVICE = "ivs-realtime"


class ApiModelMismatch(RuntimeError):
    """The loaded botocore model lacks API members that table columns are read from."""


def loaded_model() -> ServiceModel:
    """The model this process's boto3 clients parse `ivs-realtime` answers with: the default
    session's (botocore's data files, plus any in ~/.aws/models or AWS_DATA_PATH). Its loader
    keeps the model, so the IVS clients built next do not load it again."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    model: ServiceModel = boto3.DEFAULT_SESSION._session.get_service_model(SERVICE)
    return model


def missing_members(model: ServiceModel) -> list[str]:
    """`Shape.member` for every member a column is read from that `model` does not declare."""
    missing: list[str] = []
    for source in SOURCES:
        try:
            declared = model.shape_for(source.shape).members
        except NoShapeFoundError:
            declared = {}
        missing += [f"{source.shape}.{m}" for m in source.members.values() if m not in declared]
    return missing


def check(model: ServiceModel | None = None) -> None:
    """Raises ApiModelMismatch, naming every missing member, unless the model has them all."""
    missing = missing_members(model if model is not None else loaded_model())
    if missing:
        raise ApiModelMismatch(
            f"the {SERVICE} model of botocore {botocore.__version__} lacks "
            f"{len(missing)} API member(s) that table columns are read from: "
            f"{', '.join(missing)}; their columns would be null forever. Bundle a botocore "
            "whose model has them (requirements.txt)."
        )
