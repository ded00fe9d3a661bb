"""The JSON API (django-ninja, OpenAPI at /api/docs), assembled from each app's `api.py`.

Authentication: `Authorization: Bearer <token>` with a personal token created on the account
page. Every read goes through the same selectors as the pages, so visibility is identical.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.security import HttpBearer

from accounts.services import api_token_user


class PersonalToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_user(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="Ruwang API",
    version="1",
    auth=PersonalToken(),
    urls_namespace="api",
    docs_url="/docs",
    docs_decorator=login_required,
)
api.add_router("/customers", "customers.api.router")
