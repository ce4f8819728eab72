"""The argument types of `say_hello`, checked by the worker before any work.

A message is data from outside: anyone who can publish to hello_queue can send
`{"duration": "abc"}`, and the task would fail deep inside with a cryptic
"'<' not supported between instances of 'float' and 'str'". The web app checks
its requests (app/hello_request.py), but the worker cannot assume every
producer does: it checks the types again and fails with an error that names
the task and the argument.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SayHelloArguments(BaseModel):
    """The types `say_hello` needs; each field's description is what the error says it must be."""

    # Strict: JSON's "3" is not the number 3, and true is not 1 (pydantic docs,
    # "Strict Mode"). An int is still a valid float: 2 seconds is 2.0 seconds.
    model_config = ConfigDict(strict=True)

    name: str = Field(description="a string")
    # Not infinite: a duration of Infinity (valid JSON for Python's json module)
    # would run until the worker's time limit kills it.
    duration: float = Field(allow_inf_nan=False, description="a finite number of seconds")
    greeting: str = Field(description="a string")
    fail_times: int = Field(description="a whole number of attempts")
    poison: bool = Field(description="true or false")


def check_say_hello_arguments(**arguments: Any) -> None:
    """Check the types of `say_hello`'s arguments.

    Args:
        **arguments: `name`, `duration` (seconds), `greeting`, `fail_times`
            (a count) and `poison` (a bool), as the task received them.

    Raises:
        TypeError: an argument has the wrong type, e.g. "say_hello: duration must
            be a finite number of seconds, got 'abc'". A plain TypeError, not
            pydantic's ValidationError: with the JSON serializer the result
            backend stores an exception as its class name and its `args`
            (celery.backends.base `prepare_exception`), and a ValidationError
            keeps its message elsewhere: the web app would read an empty error.
    """
    try:
        SayHelloArguments.model_validate(arguments)
    except ValidationError as error:
        first = error.errors()[0]
        field = first["loc"][0]
        expected = SayHelloArguments.model_fields[field].description
        raise TypeError(f"say_hello: {field} must be {expected}, got {first['input']!r}") from None
