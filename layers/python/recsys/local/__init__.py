"""The local stack: plays Lambda's, API Gateway's, SQS's and EventBridge's parts on one machine.

Everything it runs is read from template.yaml (functions, CodeUri + Handler, HTTP routes, SQS
event sources with their batch settings, S3 notifications, schedules), so what runs locally is
what deploys. Imported only by the CLI and the tests; the Lambda layer does not ship it.
"""

from __future__ import annotations

from recsys.core.errors import TemplateError
from recsys.local.template import (
    FunctionSpec,
    HttpRoute,
    LocalTemplate,
    S3Source,
    ScheduleSource,
    SqsSource,
    read_template,
)

__all__ = [
    "FunctionSpec",
    "HttpRoute",
    "LocalTemplate",
    "S3Source",
    "ScheduleSource",
    "SqsSource",
    "TemplateError",
    "read_template",
]
