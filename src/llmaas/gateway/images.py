"""A chat's images, checked before anything else reads them: how many, how large, and where from.

Images reach an engine inline only (a `data:image/...;base64` URL): the engine never fetches anything.
An `http(s)` URL is refused, unless its host is one the operator allows (`remote_image_hosts`): then
the gateway fetches it itself, bounded in bytes and time, follows redirects only within the allowed
hosts, takes only an image content type, and passes it on as a data URL. Each refusal is a 400 naming
the image as the client sent it: `messages[3].content[1].image_url` in a chat, `input[2].content[0].image_url`
in a response.

What needs no network is checked first (`check`); the fetches wait until the client is admitted
(`fetch`, after its limits and budget: pipeline.py), so a client refused there costs no fetch.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp

from llmaas.errors import InvalidRequest
from llmaas.settings import Settings
from llmaas.wire.requests import ChatCompletionRequest, ImagePart, ImageURL

_IMAGE_TYPE = re.compile(r"image/[a-z0-9.+-]{1,64}")  # it goes into the data URL the engine reads
_MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class RemoteImages:
    """A request's images still to fetch, each with the parameter that names it, and the bytes of
    its inline images (they count towards the request's total)."""

    images: tuple[tuple[str, ImageURL], ...] = ()
    inline_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    max_images: int = 16
    max_image_bytes: int = 10 * 1024 * 1024  # decoded
    max_total_bytes: int = 20 * 1024 * 1024
    remote_hosts: frozenset[str] = frozenset()
    fetch_timeout_s: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> ImagePolicy:
        return cls(
            max_images=settings.max_images_per_request, max_image_bytes=settings.max_image_bytes,
            max_total_bytes=settings.max_image_bytes_per_request,
            remote_hosts=frozenset(settings.remote_image_hosts),
            fetch_timeout_s=settings.remote_image_timeout_s,
        )

    def check(self, images: Sequence[tuple[str, ImageURL]]) -> RemoteImages:
        """Check every image of a request, each with its parameter, without the network (how many;
        each inline one's bytes; each remote one's host): the remote images still to fetch, once the
        client is admitted."""
        if len(images) > self.max_images:
            raise InvalidRequest(f"A request may carry at most {self.max_images} images.",
                                 param=images[self.max_images][0])
        total, remote = 0, []
        for param, image in images:
            if image.url[:8].lower().startswith(("http://", "https://")):
                self._check_remote(image.url, param)
                remote.append((param, image))
                continue
            total += self._inline_size(image, param)
            self._check_total(total, param)
        return RemoteImages(tuple(remote), total)

    async def fetch(self, remote: RemoteImages) -> None:
        """Fetch the remote images and leave each one a data URL."""
        total = remote.inline_bytes
        for param, image in remote.images:
            content_type, data = await self._fetch(image.url, param)
            image.url = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
            total += len(data)
            self._check_total(total, param)

    @property
    def max_data_url_bytes(self) -> int:
        """The longest data URL a fetched image becomes (its type at most 70 characters)."""
        return len("data:;base64,") + 70 + (self.max_image_bytes + 2) // 3 * 4

    def _check_total(self, total: int, param: str) -> None:
        if total > self.max_total_bytes:
            raise InvalidRequest(
                f"The request's images exceed {self.max_total_bytes} bytes together.", param=param)

    def _inline_size(self, image: ImageURL, param: str) -> int:
        """A data URL image's size in bytes, once checked."""
        header, comma, encoded = image.url.partition(",")
        if not (header.startswith("data:image/") and header.endswith(";base64") and comma):
            raise InvalidRequest("Images must be sent inline as data:image/...;base64 URLs.", param=param)
        if len(encoded) > (self.max_image_bytes + 2) // 3 * 4 + 4:  # before decoding it
            raise self._too_large(param)
        try:
            size = len(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            raise InvalidRequest("An image's data URL is not valid base64.", param=param) from None
        if size > self.max_image_bytes:
            raise self._too_large(param)
        return size

    def _check_remote(self, url: str, param: str) -> None:
        if not self.remote_hosts:
            raise InvalidRequest(
                "Remote image URLs are not fetched on this platform: send images inline as "
                "data:image/...;base64 URLs.", param=param)
        self._check_host(url, param)

    async def _fetch(self, url: str, param: str) -> tuple[str, bytes]:
        # aiohttp, not httpx: httpx logs every request's URL at INFO, and this one is the client's.
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.fetch_timeout_s),
                                             trust_env=False) as session:
                for _ in range(_MAX_REDIRECTS + 1):
                    self._check_host(url, param)
                    fetching = session.get(url, allow_redirects=False, headers={"accept": "image/*"})
                    async with fetching as response:
                        if response.status in _REDIRECTS and "location" in response.headers:
                            url = urljoin(url, response.headers["location"])
                            continue
                        return await self._read(response, param)
                raise InvalidRequest("The image URL redirects too many times.", param=param)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            raise InvalidRequest("The image URL could not be fetched.", param=param) from None

    def _check_host(self, url: str, param: str) -> None:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if parts.scheme not in ("http", "https") or host not in self.remote_hosts:
            raise InvalidRequest(
                "Image URLs are fetched from the operator's allowed hosts only (remote_image_hosts); "
                "send other images inline as data:image/...;base64 URLs.", param=param)

    async def _read(self, response: aiohttp.ClientResponse, param: str) -> tuple[str, bytes]:
        if response.status != 200:
            raise InvalidRequest(f"The image URL answered {response.status}.", param=param)
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not _IMAGE_TYPE.fullmatch(content_type):
            raise InvalidRequest("The image URL did not answer with an image content type.", param=param)
        if (response.content_length or 0) > self.max_image_bytes:
            raise self._too_large(param)
        data = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > self.max_image_bytes:
                raise self._too_large(param)
        return content_type, bytes(data)

    def _too_large(self, param: str) -> InvalidRequest:
        return InvalidRequest(f"An image may be at most {self.max_image_bytes} bytes.", param=param)


def chat_images(request: ChatCompletionRequest,
                name: Callable[[int, int], str] = lambda m, p: f"messages[{m}].content[{p}]",
                ) -> tuple[tuple[str, ImageURL], ...]:
    """A chat's images, each named by `name(message, part)` and `.image_url`."""
    return tuple((f"{name(m, p)}.image_url", part.image_url)
                 for m, message in enumerate(request.messages) if isinstance(message.content, list)
                 for p, part in enumerate(message.content) if isinstance(part, ImagePart))
