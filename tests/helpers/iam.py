"""The AWS calls a console command makes, as IAM authorizes them, and whether a policy allows
them.

`Recorder` stands in front of moto (and of the IVS simulator, and of the discover function that
`LambdaFront` runs): every request signed with the operator's access key is recorded as the IAM
action it needs on the resources it names (an S3 GET of a key is s3:GetObject on that object, a
HEAD of a bucket s3:ListBucket on the bucket, an SQS SendMessageBatch sqs:SendMessage on the
queue, a Glue GetTable glue:GetTable on the catalog, the database and the table, ...). Requests
are recorded where they arrive, so the S3 calls pyarrow makes for pyiceberg (which no boto3
event hook sees) are recorded too. `allowed` evaluates a call against a policy's statements
(actions and resources with IAM's wildcards, and StringLike/StringEquals conditions).
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from urllib.request import Request, urlopen
from xml.etree import ElementTree

from tests.helpers.console import LambdaFront

ACCOUNT = "123456789012"  # moto's
REGION = "us-east-1"
PARTITION = "aws"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[0-9]{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_FUNCTION = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)(?P<rest>/.*)?$")
# Calls IAM authorizes for any signed request (no policy can deny them).
UNAUTHORIZED = {"sts:GetCallerIdentity"}


@dataclass(frozen=True)
class Call:
    """One request as IAM authorizes it: `action` on every one of `resources`."""

    action: str
    resources: tuple[str, ...]
    context: tuple[tuple[str, str], ...] = ()  # condition keys the request sets (s3:prefix)

    def __str__(self) -> str:
        where = ", ".join(self.resources)
        extra = "".join(f" [{k}={v!r}]" for k, v in self.context)
        return f"{self.action} on {where}{extra}"


def arn(service: str, region: str, resource: str, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


# --- classification ------------------------------------------------------------------------------
def _s3(
    method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
) -> list[Call]:
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    bucket_arn = f"arn:{PARTITION}:s3:::{bucket}"
    object_arn = f"{bucket_arn}/{key}"
    if not key:
        if method == "HEAD":
            return [Call("s3:ListBucket", (bucket_arn,))]
        if method == "GET" and "versions" in query:
            prefix = query.get("prefix", [""])[0]
            return [Call("s3:ListBucketVersions", (bucket_arn,), (("s3:prefix", prefix),))]
        if method == "GET" and "location" in query:
            return [Call("s3:GetBucketLocation", (bucket_arn,))]
        if method == "GET" and "uploads" in query:
            return [Call("s3:ListBucketMultipartUploads", (bucket_arn,))]
        if method == "GET":
            prefix = query.get("prefix", [""])[0]
            return [Call("s3:ListBucket", (bucket_arn,), (("s3:prefix", prefix),))]
        if method == "POST" and "delete" in query:
            calls = []
            for item in ElementTree.fromstring(body).iter():
                if not item.tag.endswith("Object"):
                    continue
                found = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in item}
                action = "s3:DeleteObjectVersion" if found.get("VersionId") else "s3:DeleteObject"
                calls.append(Call(action, (f"{bucket_arn}/{found['Key']}",)))
            return calls
        raise AssertionError(f"an S3 bucket request not classified: {method} {path} {query}")
    versioned = "versionId" in query
    if method in ("GET", "HEAD") and "tagging" in query:
        return [Call("s3:GetObjectTagging", (object_arn,))]
    if method == "GET" and "uploadId" in query:
        return [Call("s3:ListMultipartUploadParts", (object_arn,))]
    if method in ("GET", "HEAD"):
        return [Call("s3:GetObjectVersion" if versioned else "s3:GetObject", (object_arn,))]
    if method == "PUT" and "tagging" in query:
        return [Call("s3:PutObjectTagging", (object_arn,))]
    if method in ("PUT", "POST"):  # a put, a part, or the start or end of a multipart upload
        calls = [Call("s3:PutObject", (object_arn,))]
        if headers.get("x-amz-tagging"):
            calls.append(Call("s3:PutObjectTagging", (object_arn,)))
        if source := headers.get("x-amz-copy-source"):
            calls.append(Call("s3:GetObject", (f"arn:{PARTITION}:s3:::{unquote(source)}",)))
        return calls
    if method == "DELETE" and "uploadId" in query:
        return [Call("s3:AbortMultipartUpload", (object_arn,))]
    if method == "DELETE":
        return [Call("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", (object_arn,))]
    raise AssertionError(f"an S3 object request not classified: {method} {path} {query}")


def _glue(operation: str, region: str, request: dict[str, Any]) -> list[Call]:
    catalog = arn("glue", region, "catalog")
    if operation in ("GetDatabase",):
        name = request["Name"]
        return [Call(f"glue:{operation}", (catalog, arn("glue", region, f"database/{name}")))]
    database = request["DatabaseName"]
    table = (
        request.get("Name")
        or request.get("TableName")
        or request.get("TableInput", {}).get("Name")
        or "*"
    )
    resources = (
        catalog,
        arn("glue", region, f"database/{database}"),
        arn("glue", region, f"table/{database}/{table}"),
    )
    return [Call(f"glue:{operation}", resources)]


def _queue_arn(url: str) -> str:
    parsed = urlparse(url)
    account, name = parsed.path.strip("/").split("/")[-2:]
    region = "us-east-1"
    host = parsed.netloc.split(".")
    if len(host) > 2 and host[0] == "sqs":
        region = host[1]
    return arn("sqs", region, name, account)


# SQS's batch actions are authorized as the single ones.
_SQS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _json(service: str, target: str, region: str, request: dict[str, Any]) -> list[Call]:
    operation = target.rsplit(".", 1)[-1]
    if service == "dynamodb":
        table = arn("dynamodb", region, f"table/{request['TableName']}")
        return [Call(f"dynamodb:{operation}", (table,))]
    if service == "sqs":
        action = _SQS.get(operation, operation)
        return [Call(f"sqs:{action}", (_queue_arn(request["QueueUrl"]),))]
    if service == "glue":
        return _glue(operation, region, request)
    if service == "athena":
        if "WorkGroup" in request:
            resource = arn("athena", region, f"workgroup/{request['WorkGroup']}")
        elif "QueryExecutionId" in request:
            resource = f"execution:{request['QueryExecutionId']}"  # its workgroup: resolve()
        elif "NamedQueryId" in request:
            resource = f"named-query:{request['NamedQueryId']}"
        else:
            raise AssertionError(f"an Athena request naming no workgroup: {operation}")
        return [Call(f"athena:{operation}", (resource,))]
    if service == "kms":
        return [Call(f"kms:{operation}", (request.get("KeyId", "*"),))]
    raise AssertionError(f"a {service} request not classified: {target}")


def _query(service: str, region: str, form: dict[str, list[str]]) -> list[Call]:
    operation = form["Action"][0]
    if service == "cloudformation":
        name = form.get("StackName", ["*"])[0]
        resource = name if name.startswith("arn:") else f"stack-name:{name}"  # its id: calls()
        return [Call(f"cloudformation:{operation}", (resource,))]
    return [Call(f"{service}:{operation}", ("*",))]


def _lambda(method: str, path: str, region: str) -> list[Call]:
    match = _FUNCTION.match(path)
    if match is None:
        raise AssertionError(f"a Lambda request not classified: {method} {path}")
    function = arn("lambda", region, f"function:{unquote(match['name'])}")
    rest = match["rest"] or ""
    if method == "POST" and rest == "/invocations":
        return [Call("lambda:InvokeFunction", (function,))]
    if method == "GET" and rest == "/configuration":
        return [Call("lambda:GetFunctionConfiguration", (function,))]
    if method == "GET" and rest == "":
        return [Call("lambda:GetFunction", (function,))]
    raise AssertionError(f"a Lambda request not classified: {method} {path}")


def _ivs(path: str, region: str, request: dict[str, Any]) -> list[Call]:
    operation = path.strip("/")
    stage = request.get("stageArn") or request.get("arn")
    return [Call(f"ivs:{operation}", (stage or "*",))]


def classify(environ: dict[str, Any], body: bytes) -> tuple[str, list[Call]]:
    """(access key, the calls) of one signed request."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    found = _CREDENTIAL.search(authorization)
    if found is None:
        return "", []
    key, region, service = found.groups()
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    headers = {
        name[5:].replace("_", "-").lower(): value
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    if service == "s3":
        calls = _s3(method, path, query, headers, body)
    elif target := headers.get("x-amz-target"):
        calls = _json(service, target, region, json.loads(body or b"{}"))
    elif service in ("cloudformation", "sts"):
        calls = _query(service, region, parse_qs(body.decode()))
    elif service == "lambda":
        calls = _lambda(method, path, region)
    elif service == "ivs":
        calls = _ivs(path, region, json.loads(body or b"{}"))
    else:
        raise AssertionError(f"a {service} request not classified: {method} {path}")
    return key, [c for c in calls if c.action not in UNAUTHORIZED]


def _body(environ: dict[str, Any]) -> bytes:
    """The request's body, read once and put back for whoever answers it."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated") or environ.get("HTTP_TRANSFER_ENCODING"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


class Recorder(LambdaFront):
    """moto, the discover function (`handlers`, as LambdaFront runs it) and the IVS simulator
    (`ivs_url`) behind one endpoint, recording what `access_key` calls."""

    def __init__(
        self,
        handlers: dict[str, Callable[[Any], Any]],
        *,
        access_key: str,
        ivs_url: str | None = None,
    ) -> None:
        super().__init__(handlers)
        self.access_key = access_key
        self.ivs_url = ivs_url
        self.recorded: list[Call] = []

    def answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes] | None:
        body = _body(environ)
        key, calls = classify(environ, body)
        if key == self.access_key:
            self.recorded += calls
        if self.ivs_url and "/ivs/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
            return self._forward(environ, body, start_response)
        return super().answer(environ, start_response)

    def _forward(
        self, environ: dict[str, Any], body: bytes, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        assert self.ivs_url is not None
        headers = {
            name[5:].replace("_", "-").title(): value
            for name, value in environ.items()
            if name.startswith("HTTP_") and name != "HTTP_HOST"
        }
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "application/json")
        request = Request(
            self.ivs_url + environ.get("PATH_INFO", ""),
            data=body,
            method=environ["REQUEST_METHOD"],
            headers=headers,
        )
        try:
            with urlopen(request, timeout=30) as response:
                status, payload = response.status, response.read()
                reply = [
                    (k, v) for k, v in response.getheaders() if k.lower() != "transfer-encoding"
                ]
        except Exception as error:  # an HTTP error answer: pass it on as it is
            status = getattr(error, "code", 502)
            payload = error.read() if hasattr(error, "read") else b""
            reply = [(k, v) for k, v in getattr(error, "headers", {}).items()]
            reply = [(k, v) for k, v in reply if k.lower() != "transfer-encoding"]
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", reply)
        return [payload]

    def calls(self, client: Callable[[str], Any]) -> list[Call]:
        """What was recorded, with what a request names by name or id resolved to the ARN IAM
        authorizes (a stack's id, a query execution's or named query's workgroup), asked with
        `client(service)`, a client that is not the operator's."""
        resolved: list[Call] = []
        for call in self.recorded:
            resources = tuple(self._resolve(resource, client) for resource in call.resources)
            resolved.append(Call(call.action, resources, call.context))
        return resolved

    @staticmethod
    def _resolve(resource: str, client: Callable[[str], Any]) -> str:
        kind, _, name = resource.partition(":")
        if kind == "stack-name":
            stacks = client("cloudformation").describe_stacks(StackName=name)["Stacks"]
            return str(stacks[0]["StackId"])
        if kind == "execution":
            found = client("athena").get_query_execution(QueryExecutionId=name)
            return arn("athena", REGION, f"workgroup/{found['QueryExecution']['WorkGroup']}")
        if kind == "named-query":
            found = client("athena").get_named_query(NamedQueryId=name)
            return arn("athena", REGION, f"workgroup/{found['NamedQuery']['WorkGroup']}")
        return resource


# --- evaluation ----------------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    """IAM's wildcards: `*` any characters (slashes included), `?` one."""
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _conditions_hold(condition: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            if key not in context:
                return False
            value = context[key]
            if operator == "StringLike":
                if not any(_like(p, value) for p in _as_list(expected)):
                    return False
            elif operator == "StringEquals":
                if value not in _as_list(expected):
                    return False
            else:
                raise AssertionError(f"condition operator {operator} not evaluated here")
    return True


def allowed(call: Call, statements: list[dict[str, Any]]) -> bool:
    """Whether the statements (Allow only) allow `call` on each of its resources."""
    context = dict(call.context)
    for resource in call.resources:
        if not any(
            statement.get("Effect", "Allow") == "Allow"
            and any(_like(a.lower(), call.action.lower()) for a in _as_list(statement["Action"]))
            and any(_like(r, resource) for r in _as_list(statement["Resource"]))
            and _conditions_hold(statement.get("Condition", {}), context)
            for statement in statements
        ):
            return False
    return True


def denied(calls: Iterable[Call], statements: list[dict[str, Any]]) -> list[str]:
    """The calls the statements do not allow, once each."""
    return sorted({str(call) for call in calls if not allowed(call, statements)})
