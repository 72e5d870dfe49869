"""Signs in to a Gatehouse MCP URL with the official Python SDK's OAuthClientProvider, headless.

The SDK discovers the authorization server from the gateway's 401, registers itself, and sends
the person to the authorization URL. Here the "person" is an HTTP client that does what a
browser would: signs in with email and password, answers the consent page, and hands the
redirect's code back to the SDK. Then the SDK lists and calls tools. Prints what it saw as JSON.
"""

import argparse
import asyncio
import json
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Person:
    """Does in a browser what a person would: sign in, read the consent page, allow."""

    def __init__(self, email: str, password: str, redirect_uri: str) -> None:
        self.email = email
        self.password = password
        self.redirect_uri = redirect_uri
        self.result: AuthorizationCodeResult | None = None
        self.seen: dict = {}

    async def authorize(self, url: str) -> None:
        origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
        async with httpx2.AsyncClient(follow_redirects=False, timeout=30.0) as browser:
            response = await browser.get(url, headers={"Accept": "text/html"})
            if response.status_code in (302, 303) and "/login" in response.headers["location"]:
                login = urljoin(url, response.headers["location"])
                next_path = parse_qs(urlparse(login).query)["next"][0]
                self.seen["sent_to_sign_in"] = True
                response = await browser.post(
                    urljoin(url, "/_fn/sign_in"),
                    data={"email": self.email, "password": self.password, "next": next_path},
                    headers={"Accept": "text/html", "Origin": origin},
                )
                assert response.status_code in (302, 303), f"sign-in answered {response.status_code}"
                response = await browser.get(urljoin(url, response.headers["location"]))
            assert response.status_code in (302, 303), f"authorize answered {response.status_code}: {response.text[:300]}"
            consent_url = urljoin(url, response.headers["location"])
            page = await browser.get(consent_url, headers={"Accept": "text/html"})
            heading = re.search(r"<h1>(.*?)</h1>", page.text)
            self.seen["consent_heading"] = heading.group(1) if heading else page.text[:200]
            request_id = parse_qs(urlparse(consent_url).query)["request"][0]
            answer = await browser.post(
                urljoin(url, "/oauth/decision"),
                data={"request": request_id, "decision": "allow"},
                headers={"Accept": "text/html", "Origin": origin},
            )
            assert answer.status_code in (302, 303), f"decision answered {answer.status_code}"
            back = urlparse(answer.headers["location"])
            query = parse_qs(back.query)
            self.seen["returned_to"] = f"{back.scheme}://{back.netloc}{back.path}"
            self.result = AuthorizationCodeResult(
                code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
            )

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None, "the authorization step did not finish"
        return self.result


async def run(args: argparse.Namespace) -> dict:
    redirect_uri = "http://127.0.0.1:33418/callback"
    person = Person(args.email, args.password, redirect_uri)
    storage = MemoryStorage()
    auth = OAuthClientProvider(
        server_url=args.url,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK probe",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method=args.auth_method,
        ),
        storage=storage,
        redirect_handler=person.authorize,
        callback_handler=person.callback,
    )
    out: dict = {}
    http = httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30.0, read=120.0))
    async with Client(streamable_http_client(args.url, http_client=http)) as client:
        tools = await client.list_tools()
        out["tools"] = sorted(tool.name for tool in tools.tools)
        for call in args.call or []:
            name, _, raw = call.partition("=")
            result = await client.call_tool(name, json.loads(raw) if raw else {})
            out.setdefault("calls", []).append(result.model_dump(mode="json", by_alias=True, exclude_none=True))
    out["person"] = person.seen
    out["client_id"] = storage.client.client_id if storage.client else None
    if storage.tokens:
        out["access_token"] = storage.tokens.access_token
        out["refresh_token"] = storage.tokens.refresh_token
        out["expires_in"] = storage.tokens.expires_in
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--auth-method", default="none")
    parser.add_argument("--call", action="append", help="tool=JSON arguments; repeatable")
    args = parser.parse_args()
    try:
        out = asyncio.run(run(args))
    except BaseException as err:  # noqa: BLE001 - report any failure as data for the test
        while isinstance(err, BaseExceptionGroup) and err.exceptions:
            err = err.exceptions[0]
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        sys.exit(1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
