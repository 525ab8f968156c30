"""The apiserver's HTTP application: health, version, discovery, OpenAPI and
the resource paths, with Kubernetes `Status` bodies for every error."""

from __future__ import annotations

import asyncio
import logging
import traceback
from dataclasses import dataclass

import orjson
from aiohttp import web

from .. import KUBE_GIT_VERSION, __version__
from ..storage.interface import Storage
from . import discovery, errors, openapi
from .auth import ANONYMOUS_PATHS, AllowAll, Authenticator, Authorizer
from .decoding import MAX_BODY_BYTES
from .handlers import APIHandlers
from .registry import RegistryConfig, build_stores
from .registry.namespaces import SYSTEM_NAMESPACES
from .watch import STOPPING_KEY

__all__ = ["APIServerConfig", "build_app", "ensure_system_namespaces"]

log = logging.getLogger(__name__)
STORAGE_KEY = web.AppKey("storage", Storage)
HANDLERS_KEY = web.AppKey("handlers", APIHandlers)
WARMUP_KEY = web.AppKey("openapi_warmup", asyncio.Task)


@dataclass(frozen=True, slots=True)
class APIServerConfig:
    registry: RegistryConfig = RegistryConfig()
    authenticator: Authenticator | None = None
    authorizer: Authorizer = AllowAll()
    # ``pods/log``: async (pod, request) -> StreamResponse, e.g. kubelet_proxy.KubeletLogProxy
    # (closed with the app when it has ``close()``). None answers 503 until kubelets serve logs.
    log_proxy: object | None = None


def _json(obj, status=200, content_type="application/json") -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, headers={"Content-Type": content_type})


def _error_response(e: errors.APIError) -> web.Response:
    return web.Response(body=e.body(), status=e.code, content_type="application/json")


def _serving_middleware(config: APIServerConfig):
    """Authentication and authorization, then the handler, with every error
    answered as a Kubernetes ``Status`` (one middleware layer, not two: it
    wraps every request)."""
    authenticator, authorizer = config.authenticator, config.authorizer

    @web.middleware
    async def middleware(request: web.Request, handler):
        try:
            # Health checks answer anonymous requests; credentials, when sent, must be valid.
            if authenticator is not None and not (
                    request.path in ANONYMOUS_PATHS and "Authorization" not in request.headers):
                user = authenticator.authenticate(request)
                if user is None:
                    return _error_response(errors.unauthorized())
                if not authorizer.authorize(user, request):
                    return _error_response(errors.APIError(
                        403, "Forbidden", f'forbidden: User "{user.name}" cannot {request.method.lower()} '
                        f'path "{request.path}"'))
                request["user"] = user
            return await handler(request)
        except errors.APIError as e:
            return _error_response(e)
        except web.HTTPRequestEntityTooLarge:
            return _error_response(errors.request_too_large(MAX_BODY_BYTES))
        except web.HTTPNotFound:
            return _error_response(errors.no_such_path())
        except web.HTTPMethodNotAllowed:
            return _error_response(errors.method_not_allowed())
        except web.HTTPException:
            raise
        except Exception as e:  # never a stack trace to the client; keep it in the log
            log.error("internal error serving %s %s:\n%s", request.method, request.path, traceback.format_exc())
            return _error_response(errors.internal_error(f"{type(e).__name__}: {e}"))
    return middleware


async def ensure_system_namespaces(handlers: APIHandlers) -> None:
    """`default`, `kube-system`, `kube-public`, `kube-node-lease` exist from the start."""
    store = handlers.stores[("", "namespaces")]
    for name in SYSTEM_NAMESPACES:
        try:
            await store.create(None, {"metadata": {"name": name}})
        except errors.APIError as e:
            if e.reason != "AlreadyExists":
                raise


def build_app(storage: Storage, config: APIServerConfig = APIServerConfig()) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1,
                          middlewares=[_serving_middleware(config)])
    handlers = APIHandlers(build_stores(storage, config.registry), log_proxy=config.log_proxy)
    app[STORAGE_KEY] = storage
    app[HANDLERS_KEY] = handlers
    app[STOPPING_KEY] = asyncio.Event()

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def version(request: web.Request) -> web.Response:
        major, minor = KUBE_GIT_VERSION.lstrip("v").split(".")[:2]
        return _json({"major": major, "minor": minor, "gitVersion": KUBE_GIT_VERSION,
                      "gitCommit": __version__, "gitTreeState": "clean",
                      "buildDate": "2026-11-26T00:00:00Z", "goVersion": "python",
                      "compiler": "cpython", "platform": "linux/amd64"})

    async def api_root(request: web.Request) -> web.Response:
        ct = discovery.negotiate_discovery(request.headers.get("Accept"))
        if ct:
            return _json(discovery.aggregated_discovery("api", ct), content_type=ct)
        return _json(discovery.api_versions())

    async def apis_root(request: web.Request) -> web.Response:
        ct = discovery.negotiate_discovery(request.headers.get("Accept"))
        if ct:
            return _json(discovery.aggregated_discovery("apis", ct), content_type=ct)
        return _json(discovery.api_group_list())

    async def api_group(request: web.Request) -> web.Response:
        doc = discovery.api_group(request.match_info["group"])
        if doc is None:
            raise errors.no_such_path()
        return _json(doc)

    async def resource_list(request: web.Request) -> web.Response:
        doc = discovery.api_resource_list(request.match_info.get("group", ""), request.match_info["version"])
        if doc is None:
            raise errors.no_such_path()
        return _json(doc)

    def _serve_document(request: web.Request, doc) -> web.Response:
        if doc is None:
            raise errors.no_such_path()
        if request.headers.get("If-None-Match") == doc.etag:
            return web.Response(status=304, headers={"ETag": doc.etag})
        return web.Response(body=doc.body, content_type="application/json", headers={"ETag": doc.etag})

    async def openapi_index(request: web.Request) -> web.Response:
        return _serve_document(request, await asyncio.to_thread(openapi.openapi_v3_index_document))

    async def openapi_doc(request: web.Request) -> web.Response:
        doc = await asyncio.to_thread(openapi.openapi_v3_serialized, request.match_info["path"])
        return _serve_document(request, doc)

    async def openapi_v2(request: web.Request) -> web.Response:
        # kubectl 1.27 asks for the v2 document as protobuf (explain, strict validation);
        # JSON is never served here.
        if "protobuf" not in request.headers.get("Accept", ""):
            raise errors.no_such_path()
        doc = await asyncio.to_thread(openapi.openapi_v2_protobuf)
        if request.headers.get("If-None-Match") == doc.etag:
            return web.Response(status=304, headers={"ETag": doc.etag})
        return web.Response(body=doc.body, headers={"Content-Type": doc.content_type, "ETag": doc.etag})

    async def resources(request: web.Request) -> web.StreamResponse:
        return await handlers.handle(request)

    r = app.router
    # Resource paths first: the router tries the routes sharing a path prefix in
    # registration order, and nearly every request is one of these.
    r.add_route("*", "/api/{version}/{tail:.+}", resources)
    r.add_route("*", "/apis/{group}/{version}/{tail:.+}", resources)
    for path in ("/healthz", "/livez", "/readyz"):
        r.add_get(path, health)
    r.add_get("/version", version)
    r.add_get("/api", api_root)
    r.add_get("/apis", apis_root)
    r.add_get("/api/{version}", resource_list)
    r.add_get("/apis/{group}", api_group)
    r.add_get("/apis/{group}/{version}", resource_list)
    r.add_get("/openapi/v2", openapi_v2)
    r.add_get("/openapi/v3", openapi_index)
    r.add_get("/openapi/v3/{path:.+}", openapi_doc)

    async def on_startup(app: web.Application) -> None:
        await ensure_system_namespaces(handlers)
        # Build the OpenAPI documents off the loop now, so kubectl's first call is fast.
        app[WARMUP_KEY] = asyncio.create_task(asyncio.to_thread(openapi.openapi_v3_index_document))

    async def on_cleanup(app: web.Application) -> None:
        await handlers.stores[("", "namespaces")].namespaces.close()
        close = getattr(handlers.log_proxy, "close", None)
        if close is not None:
            await close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app
