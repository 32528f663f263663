"""The public messaging contract as pydantic models: one model per routing key.

Consumers ignore fields they do not know (the contract may add optional fields);
producers always fill every required field.
"""

from pydantic import BaseModel, ValidationError

from shared.contract import commands, events, replies
from shared.errors import InvalidData

COMMANDS: dict[str, type[BaseModel]] = {**commands.BY_ROUTING_KEY, **replies.COMMANDS}
EVENTS: dict[str, type[BaseModel]] = events.BY_ROUTING_KEY
REPLIES: dict[str, type[BaseModel]] = replies.REPLIES


def validate_data(model: type[BaseModel], data: dict) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in error.errors()
        )
        raise InvalidData(problems) from error
