"""Upload one object to S3 (``publish``); the only module besides the KMS client that imports boto3.

Credentials, region and endpoint come from the usual AWS chain, as for
sops's ``publish`` (aws-sdk-go-v2's default config): ``AWS_PROFILE``,
``AWS_ACCESS_KEY_ID``…, ``AWS_REGION``/``AWS_DEFAULT_REGION``, and
``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) for an S3-compatible
server.  boto3 is imported only when an upload happens.
"""
from __future__ import annotations

from .errors import SecretsctlError

__all__ = ["put_object", "TIMEOUT"]

#: Seconds per connection attempt and per read (an upload of a secrets file is small).
TIMEOUT = 30.0


def put_object(bucket: str, key: str, body: bytes) -> None:
    """``PutObject`` of ``body`` at ``s3://bucket/key``; failures are one-line errors."""
    import boto3  # deferred: only publish needs it
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"s3://{bucket}/{key}"
    try:
        client = boto3.Session().client("s3", config=Config(connect_timeout=TIMEOUT, read_timeout=TIMEOUT,
                                                    retries={"mode": "standard", "max_attempts": 3},
                                                    user_agent_extra="secretsctl"))
        client.put_object(Bucket=bucket, Key=key, Body=body)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        raise SecretsctlError(f"cannot upload to {where}: {code}" + (f": {message}" if message else "")) \
            from None
    except BotoCoreError as exc:
        # Their messages name the endpoint or the missing setting, never the body.
        raise SecretsctlError(f"cannot upload to {where}: {exc}") from None
