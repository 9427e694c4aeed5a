"""Registration, sign-in checks and profile changes. Flushes, never commits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from microblog_common.errors import (
    ERR_ACCEPTED,
    ERR_BLANK,
    ERR_INCLUSION,
    ERR_INVALID,
    ERR_TAKEN,
    ERR_TOO_LONG,
    ERR_TOO_SHORT,
    NotFound,
    ValidationErrors,
)
from microblog_common.ids import new_id
from microblog_common.text import acceptable
from microblog_common.urls import PublicUrls
from users import events
from users.accounts import repository
from users.accounts.rendering import note_html
from users.accounts.schemas import RegistrationForm, UpdateCredentialsForm
from users.media.images import (
    AVATAR_SIZE,
    HEADER_SIZE,
    MAX_IMAGE_BYTES,
    ImageRefused,
    ProcessedImage,
    process,
)
from users.models import Account, User
from users.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from users.runtime import Runtime

log = structlog.get_logger(__name__)

USERNAME = re.compile(r"^[A-Za-z0-9_]+$")
MAX_USERNAME_LENGTH = 30
LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
_TRUE = {"1", "true", "t", "yes", "y", "on"}


def _truthy(value: str | bool) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in _TRUE)


@dataclass(frozen=True)
class NewAccount:
    username: str
    email: str
    password: str
    locale: str


def check_registration(session: Session, form: RegistrationForm) -> NewAccount:
    """Every problem at once, in Mastodon's format (what Mastodon.py's
    `create_account(return_detailed_error=True)` reads)."""
    errors = ValidationErrors()
    username = form.username.strip()
    if not username:
        errors.add("username", ERR_BLANK)
    elif len(username) > MAX_USERNAME_LENGTH:
        errors.add("username", ERR_TOO_LONG, f"is too long (maximum is {MAX_USERNAME_LENGTH} characters)")
    elif not USERNAME.match(username):
        errors.add("username", ERR_INVALID, "must contain only letters, numbers and underscores")
    elif repository.username_taken(session, username):
        errors.add("username", ERR_TAKEN)

    email = form.email.strip()
    if not email:
        errors.add("email", ERR_BLANK)
    else:
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            errors.add("email", ERR_INVALID)
        else:
            if repository.email_taken(session, email):
                errors.add("email", ERR_TAKEN)

    if not form.password:
        errors.add("password", ERR_BLANK)
    elif len(form.password) < MIN_PASSWORD_LENGTH:
        errors.add("password", ERR_TOO_SHORT, f"is too short (minimum is {MIN_PASSWORD_LENGTH} characters)")
    elif len(form.password) > MAX_PASSWORD_LENGTH:
        errors.add("password", ERR_TOO_LONG, f"is too long (maximum is {MAX_PASSWORD_LENGTH} characters)")

    if not _truthy(form.agreement):
        errors.add("agreement", ERR_ACCEPTED)

    locale = form.locale.strip() or "en"
    if not LOCALE.match(locale):
        errors.add("locale", ERR_INCLUSION)

    errors.raise_if_any()
    return NewAccount(username=username, email=email, password=form.password, locale=locale)


def register(session: Session, runtime: Runtime, new: NewAccount) -> Account:
    """Creates the account (the caller issues its first token) and publishes `user.registered`."""
    now = datetime.now(UTC)
    password_hash = runtime.passwords.hash(new.password)
    account = Account(
        id=new_id(),
        username=new.username,
        display_name="",
        note="",
        note_html="",
        fields=[],
        locked=False,
        bot=False,
        discoverable=False,
        indexable=False,
        hide_collections=False,
        default_privacy="public",
        default_sensitive=False,
        default_language="",
        followers_count=0,
        following_count=0,
        statuses_count=0,
        version=1,
        created_at=now,
        updated_at=now,
    )
    user = User(
        account_id=account.id,
        email=new.email,
        password_hash=password_hash,
        locale=new.locale,
        created_at=now,
        password_changed_at=now,
    )
    try:
        repository.add(session, account, user)
    except IntegrityError as exc:
        # Lost a race with a concurrent registration of the same username or address; raising
        # rolls the whole unit of work back.
        errors = ValidationErrors()
        errors.add("email" if "email" in str(exc.orig).lower() else "username", ERR_TAKEN)
        errors.raise_if_any()
    urls = runtime.urls
    events.publish(
        session,
        events.USER_REGISTERED,
        events.UserRegistered(**events.account_snapshot(account, urls), email=new.email, locale=new.locale),
        subject=account.id,
        version=account.version,
    )
    log.info("account_registered", account_id=account.id)
    return account


def authenticate(session: Session, runtime: Runtime, identifier: str, password: str) -> Account | None:
    """The account whose email (or username) and password these are, or None. Unknown accounts
    and wrong passwords take the same time and give the same answer. Ends the caller's (read-only)
    transaction first: the check can wait its turn for a hashing slot, and must not hold a pooled
    connection meanwhile."""
    found = repository.credentials_for_login(session, identifier) if identifier else None
    user = found[1] if found else None
    session.commit()
    if not runtime.passwords.verify(user.password_hash if user else None, password) or found is None:
        return None
    account, user = found
    if runtime.passwords.needs_rehash(user.password_hash):
        user.password_hash = runtime.passwords.hash(password)
        session.flush()
    return account


def set_password(session: Session, runtime: Runtime, account_id: int, password: str) -> None:
    user = repository.get_user(session, account_id)
    if user is None:
        raise NotFound()
    user.password_hash = runtime.passwords.hash(password)
    user.password_changed_at = datetime.now(UTC)
    session.flush()


def get_account(session: Session, account_id: int | None) -> Account:
    account = repository.get(session, account_id) if account_id is not None else None
    if account is None:
        raise NotFound()
    return account


def lookup(session: Session, urls: PublicUrls, acct: str) -> Account:
    """`alice`, `@alice` or `alice@<this host>`; accounts elsewhere are not known here, and a name
    no account can have (a NUL in it) is not found either."""
    username, _, domain = acct.strip().lstrip("@").partition("@")
    if not acceptable(acct) or not username or (domain and domain.lower() != urls.host):
        raise NotFound()
    account = repository.by_username(session, username)
    if account is None:
        raise NotFound()
    return account


def update_credentials(
    session: Session, runtime: Runtime, account: Account, form: UpdateCredentialsForm
) -> Account:
    changes: dict[str, Any] = {}
    if form.display_name is not None:
        changes["display_name"] = form.display_name.strip()
    if form.note is not None:
        changes["note"] = form.note
        changes["note_html"] = note_html(form.note)
    for flag in ("locked", "bot", "discoverable", "indexable", "hide_collections"):
        value = getattr(form, flag)
        if value is not None:
            changes[flag] = value
    if form.fields_attributes is not None:
        changes["fields"] = [
            {"name": f.name.strip(), "value": f.value.strip()}
            for f in form.fields_attributes
            if f.name.strip() or f.value.strip()
        ]
    if form.source is not None:
        if form.source.privacy is not None:
            changes["default_privacy"] = form.source.privacy
        if form.source.sensitive is not None:
            changes["default_sensitive"] = form.source.sensitive
        if form.source.language is not None:
            changes["default_language"] = form.source.language
    changes |= _uploaded_pictures(runtime, form)
    return _apply(session, runtime, account, changes)


# field -> (size, storage folder)
PICTURES = {"avatar": (AVATAR_SIZE, "avatars"), "header": (HEADER_SIZE, "headers")}


def _uploaded_pictures(runtime: Runtime, form: UpdateCredentialsForm) -> dict[str, str]:
    """Processes every uploaded picture (all are checked before any is stored), stores them and
    returns their keys. A file that is not an acceptable image is a 422 of its field."""
    errors = ValidationErrors()
    processed: dict[str, ProcessedImage] = {}
    for field, (size, _) in PICTURES.items():
        upload = getattr(form, field)
        if upload is None:
            continue
        try:
            processed[field] = process(upload.file.read(MAX_IMAGE_BYTES + 1), size)
        except ImageRefused as exc:
            errors.add(field, ERR_INVALID, exc.description)
    errors.raise_if_any()
    keys: dict[str, str] = {}
    for field, image in processed.items():
        folder = PICTURES[field][1]
        for suffix, picture in (("", image.picture), ("_static", image.static)):
            key = f"accounts/{folder}/{picture.digest}.{picture.extension}"
            runtime.media.put(key, picture.data, picture.content_type)
            keys[f"{field}{suffix}_key"] = key
    return keys


def remove_picture(session: Session, runtime: Runtime, account: Account, field: str) -> Account:
    """Back to the default avatar or header (Mastodon 4.2's DELETE /api/v1/profile/avatar)."""
    return _apply(session, runtime, account, {f"{field}_key": None, f"{field}_static_key": None})


def _apply(session: Session, runtime: Runtime, account: Account, changes: dict[str, Any]) -> Account:
    """Changes the profile and publishes `user.updated` with the next version (nothing when
    nothing actually changed)."""
    changed = {k: v for k, v in changes.items() if getattr(account, k) != v}
    if not changed:
        return account
    for key, value in changed.items():
        setattr(account, key, value)
    # In SQL, so concurrent updates each get their own version.
    account.version = Account.version + 1
    account.updated_at = datetime.now(UTC)
    session.flush()
    session.refresh(account, ["version"])
    events.publish(
        session,
        events.USER_UPDATED,
        events.AccountSnapshot(**events.account_snapshot(account, runtime.urls)),
        subject=account.id,
        version=account.version,
    )
    return account


def instance_stats(session: Session) -> tuple[int, int, int]:
    """Accounts, their counted statuses, and accounts active (posting) in the last 30 days."""
    return repository.instance_stats(session, datetime.now(UTC) - timedelta(days=30))
