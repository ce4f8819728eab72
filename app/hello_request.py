"""What `POST /hello` accepts: a name, a duration, a greeting, fail_times and poison, from JSON or a form."""

from typing import Any

from flask import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from app.errors import InvalidInput

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class HelloRequest(BaseModel):
    """A validated request for one greeting.

    Attributes:
        name: who to greet, 1 to 100 characters.
        duration: how long the slow work takes, in seconds, from 0 to 30.
        greeting: the word to greet with, 1 to 30 characters.
        fail_times: how many first attempts of the task fail and are retried, 0 to 5.
        poison: whether the task kills its own pool process on every attempt
            (step 9): JSON true or false, or a form's checkbox ("on" when ticked).
    """

    # A misspelt field ("nmae") is an error, not a silent default.
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="world", min_length=1, max_length=100)
    duration: float = Field(default=3.0, ge=0, le=30, allow_inf_nan=False)
    greeting: str = Field(default="Hello", min_length=1, max_length=30)
    fail_times: int = Field(default=0, ge=0, le=5)
    poison: bool = False

    @field_validator("duration", "fail_times", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        # pydantic would read JSON `true` as 1.0 seconds, or as 1 time.
        if isinstance(value, bool):
            raise ValueError("Input should be a number, not true or false")
        return value


def parse_hello_request(request: Request) -> HelloRequest:
    """Read and validate the body of a `POST /hello`.

    Args:
        request: the Flask request. A JSON object, a form, or an empty body
            (all defaults) are accepted; a form sends numbers as strings.

    Returns:
        The validated `HelloRequest`.

    Raises:
        InvalidInput: malformed JSON, JSON nested too deeply to parse, JSON that is
            not an object, or a field out of range; answered as HTTP 400 naming the field.
        UnsupportedMediaType: any other content type (HTTP 415).
    """
    if request.is_json:
        try:
            data = request.get_json()
        except BadRequest:
            raise InvalidInput("body", "the body is not valid JSON") from None
        except RecursionError:
            # Python's json module recurses once per nested `[` or `{`: about a
            # thousand levels ("[[[[...", 2 KB) exhaust the interpreter's
            # recursion limit (sys.getrecursionlimit()). Flask turns only
            # ValueError into a 400, so this was a 500.
            raise InvalidInput("body", "the JSON body is nested too deeply") from None
        if not isinstance(data, dict):
            raise InvalidInput("body", "the JSON body must be an object")
    elif request.mimetype in FORM_TYPES:
        data = request.form.to_dict()
    elif not request.get_data():
        data = {}
    else:
        raise UnsupportedMediaType("send JSON or a form")
    try:
        return HelloRequest.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidInput(field, first["msg"]) from None
