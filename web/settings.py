"""The server's settings (ApiSettings): who may embed the widget and call the API, the rate limit, the queue and
session sizes. Kept apart from web.api so app.py can check its options without importing FastAPI (half a second at
start, imported in the background while the model loads)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: Questions per minute per client address when nothing is configured (loopback clients are exempt by default).
DEFAULT_RATE_LIMIT = 30
#: Questions answered at once through the API; more wait (up to API_QUEUE, or $ASK_MAX_QUEUE), then get a 503.
#: One per core (at most 4): each answer is CPU-bound (the model uses every core), so more at once only adds
#: contention (bench/PERF.md, HTTP rows).
API_CONCURRENCY = max(1, min(4, os.cpu_count() or 1))
API_QUEUE = 64

ENV_ORIGINS = "ASK_ALLOW_ORIGINS"
ENV_RATE_LIMIT = "ASK_RATE_LIMIT"
ENV_MAX_QUEUE = "ASK_MAX_QUEUE"
ENV_CHAT_SESSIONS = "ASK_CHAT_SESSIONS"
#: Chat sessions whose per-session UI state Gradio keeps (oldest dropped first). Each costs ~48 KB (a copy of every
#: component's config) and every gradio_client call opens one; dropping one loses nothing a user sees: the history,
#: the question and the chosen article travel with each request (the picker accepts any article id).
CHAT_SESSIONS = 256


# ---- settings: allowed origins and rate limit ------------------------------------------------------------------
def normalize_origin(value: str) -> str:
    """'https://Example.com:443/' -> 'https://example.com'; '*' stays '*'; ValueError with a sentence otherwise."""
    v = value.strip()
    if v == "*":
        return "*"
    try:
        parts = urlsplit(v)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an origin; write it as scheme://host[:port], e.g. https://www.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} is not an origin: an origin has no path, query or user name "
                         f"(write {parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]})")
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def _env_count(env: Mapping[str, str], name: str, default: int, unit: str, meaning: str, minimum: int = 1) -> int:
    """A whole number >= minimum from the environment (default when unset); ValueError naming the variable if not."""
    raw = env.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number of {unit}") from None
    if value < minimum:
        raise ValueError(f"{name} is {meaning}: {minimum} or more")
    return value


@dataclass
class ApiSettings:
    """Who may embed the widget and call the API from a browser, and how many questions a client may ask.

    allow_origins: origins (scheme://host[:port]) of pages allowed to frame /widget and to read API responses
    (CORS); '*' allows every origin. The server's own origin is always allowed. Empty (the default): only
    the server's own pages. rate_limit: questions per minute per client address on /api/ask (0 = no limit);
    loopback clients (this machine) are exempt unless rate_limit_loopback. local_only: the server listens on a
    loopback address only, so requests must be addressed to localhost or an IP address (a Host header naming
    any other domain is a DNS-rebinding attempt: a web page whose domain now resolves to 127.0.0.1).
    """

    allow_origins: list[str] = field(default_factory=list)
    rate_limit: int = DEFAULT_RATE_LIMIT
    rate_limit_loopback: bool = False
    local_only: bool = False
    #: Questions that may wait for their turn, on the API and in the chat's queue each (ASK_MAX_QUEUE); past that
    #: the API answers 503 "busy" with Retry-After and Gradio's queue answers "Queue is full".
    max_queue: int = API_QUEUE
    #: Chat sessions kept in memory (ASK_CHAT_SESSIONS), see CHAT_SESSIONS.
    chat_sessions: int = CHAT_SESSIONS

    @property
    def any_origin(self) -> bool:
        return "*" in self.allow_origins

    def allows(self, origin: str) -> bool:
        if self.any_origin:
            return True
        try:
            return normalize_origin(origin) in self.allow_origins
        except ValueError:
            return False

    @classmethod
    def resolve(cls, allow_origins: list[str] | None = None, rate_limit: int | None = None,
                rate_limit_loopback: bool = False, env: dict[str, str] | None = None,
                bind_host: str | None = None) -> "ApiSettings":
        """Settings from the command line, falling back to ASK_ALLOW_ORIGINS / ASK_RATE_LIMIT; ValueError if bad.

        bind_host: the address the server listens on; a loopback one (the default 127.0.0.1) turns on local_only."""
        env = os.environ if env is None else env
        if allow_origins is None:
            allow_origins = [o for o in env.get(ENV_ORIGINS, "").replace(",", " ").split() if o]
        origins: list[str] = []
        for o in allow_origins:
            n = normalize_origin(o)
            if n not in origins:
                origins.append(n)
        if rate_limit is None:
            rate_limit = _env_count(env, ENV_RATE_LIMIT, DEFAULT_RATE_LIMIT, "questions per minute",
                                    "a number of questions per minute (0: no limit)", minimum=0)
        if rate_limit < 0:  # from the command line
            raise ValueError("the rate limit is a number of questions per minute: 0 (no limit) or more")
        max_queue = _env_count(env, ENV_MAX_QUEUE, API_QUEUE, "waiting questions", "the number of questions that may wait")
        sessions = _env_count(env, ENV_CHAT_SESSIONS, CHAT_SESSIONS, "chat sessions",
                              "the number of chat sessions kept in memory")
        return cls(origins, rate_limit, rate_limit_loopback,
                   local_only=bind_host is not None and is_local_name(bind_host), max_queue=max_queue,
                   chat_sessions=sessions)

    def host_allowed(self, host_header: str) -> bool:
        """Whether a request's Host header may be answered (always, unless local_only)."""
        if not self.local_only:
            return True
        name = host_header.strip().lower()
        if name.startswith("["):
            name = name[1:].split("]", 1)[0]
        elif name.count(":") == 1:
            name = name.split(":", 1)[0]
        try:
            ipaddress.ip_address(name)
            return True  # an address, not a name an attacker's DNS could point here
        except ValueError:
            return name == "localhost" or name.endswith(".localhost")


def is_local_name(host: str) -> bool:
    """localhost, *.localhost or a loopback address."""
    h = host.strip().lower().strip("[]")
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False
