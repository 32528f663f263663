"""The public messaging contract as pydantic models: one model per routing key.

Consumers ignore fields they do not know (the contract may add optional fields);
producers always fill every required field.
"""

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from stoppoc.contract import commands, events, replies
from stoppoc.contract.errors import InvalidData

COMMANDS: dict[str, type[BaseModel]] = {**commands.BY_ROUTING_KEY, **replies.COMMANDS}
EVENTS: dict[str, type[BaseModel]] = {**events.BY_ROUTING_KEY}
REPLIES: dict[str, type[BaseModel]] = {**replies.REPLIES}

M = TypeVar("M", bound=BaseModel)


def validate_data(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in error.errors())
        raise InvalidData(problems) from error
