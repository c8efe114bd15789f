"""Tortoise models: client keys and the token audit (DESIGN.md §5)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ApiKey(Model):
    """A client key. Only the SHA-256 of the secret is stored; `prefix` is for display."""

    id = fields.IntField(primary_key=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=16)
    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    # policy (DESIGN.md §3); empty/None = unrestricted
    models = fields.TextField(default="")  # comma list of allowed models
    expires_at = fields.DatetimeField(null=True)
    rpm = fields.IntField(null=True)
    tokens_per_day = fields.IntField(null=True)
    max_streams = fields.IntField(null=True)
    cloud = fields.BooleanField(default=False)  # may use Ollama cloud models

    class Meta:
        table = "api_keys"


class UsageRecord(Model):
    """One proxied request: who, which model, how many tokens, how it ended."""

    id = fields.IntField(primary_key=True)
    key_id = fields.IntField(null=True, db_index=True)
    key_prefix = fields.CharField(max_length=16, default="")
    owner = fields.CharField(max_length=200, default="")
    model = fields.CharField(max_length=200, default="", db_index=True)
    route = fields.CharField(max_length=64)
    prompt_tokens = fields.IntField(default=0)
    completion_tokens = fields.IntField(default=0)
    status = fields.CharField(max_length=32)
    duration_ms = fields.FloatField(default=0)
    ttft_ms = fields.FloatField(null=True)
    client = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(db_index=True)
    #: no final counts arrived: the tokens were estimated from the request (DESIGN.md §5)
    estimated = fields.BooleanField(default=False)

    class Meta:
        table = "usage_records"
