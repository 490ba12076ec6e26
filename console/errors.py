"""The console's errors: each is one line for the operator, never a traceback.

`ConsoleError` ends a command with exit status 1 (`UsageError`: 2, bad input caught before any
work); `one_line` words the errors of boto3 and botocore the same way, naming the AWS call and
its error code.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)


class ConsoleError(Exception):
    """What went wrong, in one line; exit status 1."""

    status = 1


class UsageError(ConsoleError):
    """Bad input, found before any work; exit status 2."""

    status = 2


NO_CREDENTIALS = (
    "no AWS credentials found: run `aws configure` or `aws sso login`, "
    "set AWS_PROFILE or the AWS_ACCESS_KEY_ID variables, or pass --profile"
)


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def client_error(error: ClientError) -> str:
    """`DescribeStacks: AccessDenied (User ... is not authorized ...)`."""
    details = error.response.get("Error", {})
    code = details.get("Code") or str(
        error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    )
    message = first_line(str(details.get("Message") or ""))
    return f"{error.operation_name}: {code}" + (f" ({message})" if message else "")


def one_line(error: BaseException) -> str:
    """An AWS SDK error as the operator reads it."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return NO_CREDENTIALS
    if isinstance(error, ProfileNotFound):
        profile = error.kwargs.get("profile")
        return f"no AWS profile named {profile!r} (see `aws configure list-profiles`)"
    if isinstance(error, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION (or a region in your profile)"
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach {error.kwargs.get('endpoint_url')} (network, or a wrong --region?)"
    if isinstance(error, ClientError):
        return client_error(error)
    if isinstance(error, BotoCoreError):
        return first_line(str(error)) or type(error).__name__
    return first_line(f"{type(error).__name__}: {error}")
