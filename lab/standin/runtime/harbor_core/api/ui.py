"""The UI's sign-in (src/core/controllers/base.go ``Login``, route ``/c/login``): the
form's ``principal`` and ``password`` checked as any login, a session cookie (``sid``)
on success, 401 otherwise. It lies outside the paths the CSRF check skips
(``harbor_core.csrf``): the browser sends the token it was given. The session itself
is not modelled."""

import base64
import secrets
from urllib.parse import parse_qs

from harbor_core.errors import unauthorized
from harbor_core.http import Response, Route, first


def login(app, request):
    length = int(request.headers.get("Content-Length") or 0)
    form = parse_qs(request.rfile.read(length).decode(errors="replace") if length else "")
    pair = f"{first(form, 'principal')}:{first(form, 'password')}".encode()
    principal = app.authenticate("Basic " + base64.b64encode(pair).decode())
    if principal.user is None:
        raise unauthorized()
    cookie = f"sid={secrets.token_hex(16)}; Path=/; HttpOnly; Secure"
    return Response(200, headers={"Set-Cookie": cookie})


ROUTES = [Route("POST", r"/c/login", login, authenticate=False)]
