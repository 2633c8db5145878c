"""Signing in to the console and out of it (``web/console/sign_in``): the form's own token, a
refusal that does not say which part was wrong, a name held back, a session ended."""

from __future__ import annotations

from console_app import OPERATORS, PASSWORD, ConsoleFactory, csrf_of


async def test_the_sign_in_form_needs_its_own_token(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        form = await console.get("/console/sign-in")
        token = csrf_of(form.text)
        fields = {"name": "alice", "password": PASSWORD}

        # As a form posted from another site: the cookie is not sent, or the field is not there.
        console.http.cookies.clear()
        assert (
            await console.post("/console/sign-in", {**fields, "csrf_token": token})
        ).status_code == 403
        await console.get("/console/sign-in")
        assert (await console.post("/console/sign-in", fields)).status_code == 403
        assert (await console.sign_in()).status_code == 303


async def test_a_sign_in_posted_from_another_site_without_either_token_is_refused(
    open_console: ConsoleFactory,
) -> None:
    """Guards against login CSRF through two missing tokens: another site's page posts the
    attacker's name and password to the sign-in form; SameSite=Strict keeps the form's cookie
    out of that request and the page sends no token field. Were the two empty copies taken to
    match, the victim's browser would come back signed in to the attacker's account (303 and a
    session cookie)."""
    async with open_console() as console:
        answer = await console.post("/console/sign-in", {"name": "alice", "password": PASSWORD})

        assert answer.status_code == 403
        assert "came from elsewhere" in answer.text
        assert not [
            cookie
            for cookie in answer.headers.get_list("set-cookie")
            if cookie.startswith("payments_console=")
        ]
        assert (await console.get("/console/")).status_code == 303  # still signed out


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    open_console: ConsoleFactory,
) -> None:
    async with open_console() as console:
        wrong_password = await console.sign_in(password="not it")
        wrong_name = await console.sign_in(name="mallory")

    assert wrong_password.status_code == wrong_name.status_code == 401
    assert "Unknown operator or wrong password." in wrong_password.text
    assert "Unknown operator or wrong password." in wrong_name.text
    assert "payments_console=" not in str(wrong_password.headers.get_list("set-cookie"))


async def test_a_sign_in_held_back_says_when_to_try_again(open_console: ConsoleFactory) -> None:
    """Issue 19, lock-outs: a name delayed from an address is told how long to wait, in the
    page and in ``Retry-After``."""
    policy = {"operators": OPERATORS, "max_failures": 2, "delay_seconds": 90}
    async with open_console(console=policy) as console:
        for _ in range(2):
            assert (await console.sign_in(password="guess")).status_code == 401

        locked = await console.sign_in()

    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "90"
    assert "Too many failed sign-ins as alice from your address: try again in 2 minutes" in (
        locked.text
    )


async def test_signing_out_ends_the_session(open_console: ConsoleFactory) -> None:
    async with open_console() as console:
        await console.sign_in()
        cookie = console.http.cookies.get("payments_console")
        assert (await console.get("/console/")).status_code == 200

        answer = await console.act("/console/sign-out")

        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/sign-in?signed_out=true"
        # The old cookie no longer opens anything, even if a browser kept it.
        console.http.cookies.set(
            "payments_console", cookie or "", domain="console.test", path="/console"
        )
        assert (await console.get("/console/")).status_code == 303
