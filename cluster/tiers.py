"""Subscription tiers: what each allows (`VIDRAY_TIERS` overrides the defaults)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

GIB = 1024**3


class TierLimits(BaseModel):
    """What one subscription tier allows; uploads and transcoding enforce these."""

    model_config = ConfigDict(frozen=True)

    max_upload_bytes: int = Field(gt=0)
    max_output_height: int = Field(gt=0)
    storage_quota_bytes: int = Field(gt=0)
    upload_minutes_per_month: int = Field(ge=0)
    private_videos: bool


# A self-hosted instance takes nothing from its own people unless its operator says so
# (VIDRAY_TIERS): every default tier keeps private videos and the source's resolution up
# to 2160p; the tiers differ only in how much may be uploaded and stored.
DEFAULT_TIERS: dict[str, TierLimits] = {
    "free": TierLimits(
        max_upload_bytes=2 * GIB,
        max_output_height=2160,
        storage_quota_bytes=10 * GIB,
        upload_minutes_per_month=120,
        private_videos=True,
    ),
    "pro": TierLimits(
        max_upload_bytes=20 * GIB,
        max_output_height=2160,
        storage_quota_bytes=500 * GIB,
        upload_minutes_per_month=3000,
        private_videos=True,
    ),
    "business": TierLimits(
        max_upload_bytes=100 * GIB,
        max_output_height=2160,
        storage_quota_bytes=5000 * GIB,
        upload_minutes_per_month=30000,
        private_videos=True,
    ),
}
