"""Objects in an S3-compatible bucket, through boto3, with errors that say what to do.

The chain treats storage faults in two kinds, because the broker must know
whether to retry: :class:`StorageUnavailable` (endpoint down, timeouts,
throttling, 5xx: retry later) and :class:`ObjectMissing` (the key is not
there: retrying will not help).
"""

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from marsaurora.config import Settings

_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class StorageUnavailable(RuntimeError):
    """The bucket cannot be reached or answered with a server-side error; retry later."""


class ObjectMissing(LookupError):
    """The object named by an event is not in the bucket."""


class ObjectTooLarge(ValueError):
    """The object is larger than the caller allows; it was not downloaded."""

    def __init__(self, key: str, size: int, limit: int) -> None:
        super().__init__(f"{key} is {size} bytes, above the {limit}-byte limit")
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class ObjectRef:
    """Where an object is: what events carry instead of the object's bytes."""

    bucket: str
    key: str
    etag: str = ""

    def to_json(self) -> dict[str, str]:
        """The ``{bucket, key, etag}`` form used in event data."""
        return {"bucket": self.bucket, "key": self.key, "etag": self.etag}

    @classmethod
    def from_json(cls, data: Any, what: str) -> "ObjectRef":
        """Parse ``{bucket, key, etag}``; ``what`` names the field in error messages.

        Raises
        ------
        ValueError
            When ``data`` is not an object with string ``bucket`` and ``key``.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{what} must be an object {{bucket, key, etag}}, got "
                             f"{type(data).__name__}")
        bucket, key, etag = data.get("bucket"), data.get("key"), data.get("etag", "")
        if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
            raise ValueError(f"{what} needs non-empty string 'bucket' and 'key'")
        return cls(bucket=bucket, key=key, etag=etag if isinstance(etag, str) else "")


class Storage:
    """One bucket on one S3-compatible endpoint."""

    def __init__(self, client: Any, bucket: str, secret_key: str | None = None) -> None:
        self._client = client
        self.bucket = bucket
        self.secret_key = secret_key
        """The credentials' secret key, when known: the stages derive their event seal from it."""

    @classmethod
    def from_settings(cls, settings: Settings, credentials: tuple[str, str] | None = None,
                      *, checksums: bool = True) -> "Storage":
        """A client for ``AURORA_S3_ENDPOINT`` / ``AURORA_S3_BUCKET``.

        ``credentials`` (key id, secret) override boto3's usual lookup
        (environment, profile, instance role), for the local stack's server.
        ``checksums=False`` leaves out the SDK's optional CRC32 of each body,
        for the local stack on loopback only; otherwise botocore decides, so
        ``AWS_REQUEST_CHECKSUM_CALCULATION`` still applies.

        Retries inside boto3 are kept short on purpose: a stage that cannot
        reach the bucket answers 503 quickly, and the broker's backoff does
        the long waiting without holding a request open.
        """
        optional = {} if checksums else {"request_checksum_calculation": "when_required",
                                         "response_checksum_validation": "when_required"}
        config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2,
                        read_timeout=30, s3={"addressing_style": "path"},
                        max_pool_connections=16, **optional)
        key_id, secret = credentials or (None, None)
        session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret)
        client = session.client(
            "s3", endpoint_url=settings.s3_endpoint or None, region_name=settings.s3_region,
            config=config)
        found = session.get_credentials()
        return cls(client, settings.s3_bucket, found.secret_key if found else None)

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in _MISSING_CODES | {"NoSuchBucket"}:
                raise _unavailable(exc, f"bucket {self.bucket}") from None
        except BotoCoreError as exc:
            raise _unavailable(exc, f"bucket {self.bucket}") from None
        self._call("create_bucket", f"bucket {self.bucket}", Bucket=self.bucket)

    def reachable(self) -> tuple[bool, str]:
        """``(ok, reason)``: whether the bucket answers, for readiness probes; never raises."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            return False, f"bucket {self.bucket} answered {_code(exc) or 'an error'}"
        except BotoCoreError as exc:
            return False, (f"S3 endpoint unreachable ({type(exc).__name__}); "
                           "check AURORA_S3_ENDPOINT")
        return True, f"bucket {self.bucket} reachable"

    def notify_on_create(self, queue_arn: str, prefix: str) -> None:
        """Ask the bucket to notify ``queue_arn`` of every object created under ``prefix``.

        MinIO names its webhook targets ``arn:minio:sqs::<ID>:webhook``; AWS
        takes an SQS queue ARN. Replaces the bucket's notification settings.
        """
        rule = {"Name": "prefix", "Value": prefix}
        self._call("put_bucket_notification_configuration", f"bucket {self.bucket}",
                   Bucket=self.bucket, NotificationConfiguration={"QueueConfigurations": [{
                       "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
                       "Filter": {"Key": {"FilterRules": [rule]}}}]})

    def put(self, key: str, body: bytes, content_type: str) -> ObjectRef:
        """Store ``body`` at ``key`` (overwriting) and return its reference."""
        reply = self._call("put_object", key, Bucket=self.bucket, Key=key, Body=body,
                           ContentType=content_type)
        return ObjectRef(self.bucket, key, reply.get("ETag", "").strip('"'))

    def get(self, key: str, max_bytes: int | None = None) -> tuple[bytes, ObjectRef]:
        """The bytes at ``key`` and its reference; refuse before download above ``max_bytes``.

        Raises
        ------
        ObjectMissing, ObjectTooLarge, StorageUnavailable
        """
        reply = self._call("get_object", key, Bucket=self.bucket, Key=key)
        body = reply["Body"]
        try:
            size = int(reply.get("ContentLength", 0))
            if max_bytes is not None and size > max_bytes:
                raise ObjectTooLarge(key, size, max_bytes)
            data = body.read() if max_bytes is None else body.read(max_bytes + 1)
        except (BotoCoreError, OSError) as exc:
            raise _unavailable(exc, key) from None
        finally:
            body.close()
        if max_bytes is not None and len(data) > max_bytes:
            raise ObjectTooLarge(key, len(data), max_bytes)
        return data, ObjectRef(self.bucket, key, reply.get("ETag", "").strip('"'))

    def etag(self, key: str) -> str:
        """The current ETag of the object at ``key`` (quotes stripped).

        Raises
        ------
        ObjectMissing, StorageUnavailable
        """
        return str(self._call("head_object", key, Bucket=self.bucket, Key=key)
                   .get("ETag", "")).strip('"')

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""
        try:
            self._call("head_object", key, Bucket=self.bucket, Key=key)
        except ObjectMissing:
            return False
        return True

    def describe(self, key: str) -> tuple[int, str]:
        """Size (bytes) and ETag of the object at ``key``.

        Raises
        ------
        ObjectMissing, StorageUnavailable
        """
        reply = self._call("head_object", key, Bucket=self.bucket, Key=key)
        return int(reply.get("ContentLength", 0)), str(reply.get("ETag", "")).strip('"')

    def delete(self, key: str) -> None:
        """Remove the object at ``key`` (nothing happens when there is none)."""
        self._call("delete_object", key, Bucket=self.bucket, Key=key)

    def listing(self, prefix: str) -> dict[str, tuple[int, str]]:
        """Every key under ``prefix`` with its size and ETag."""
        found: dict[str, tuple[int, str]] = {}
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found[item["Key"]] = (int(item.get("Size", 0)),
                                          str(item.get("ETag", "")).strip('"'))
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(exc, prefix) from None
        return found

    def keys(self, prefix: str) -> set[str]:
        """Every key under ``prefix``."""
        return set(self.listing(prefix))

    def _call(self, operation: str, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                raise ObjectMissing(f"s3://{self.bucket}/{what} does not exist") from None
            raise _unavailable(exc, what) from None
        except BotoCoreError as exc:
            raise _unavailable(exc, what) from None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(exc: Exception, what: str) -> StorageUnavailable:
    return StorageUnavailable(f"storage failed on {what}: {type(exc).__name__}: {exc}. "
                              "Check AURORA_S3_ENDPOINT, the bucket and the credentials.")
