"""Operator commands, run with the service's environment (DATABASE_URL, ...):

    python -m users.manage rotate-signing-key [--pem-file key.pem]
    python -m users.manage delete-app <client_id>

Rotation makes a new Ed25519 key the signing key on every replica within SIGNING_KEY_CACHE_SECONDS;
tokens signed by older keys stay valid (their public keys stay in the JWKS until those expire).
With TOKEN_SIGNING_KEY set, rotate by changing that variable instead (the next start imports it).

Deleting an app (Mastodon's Settings > Development > Delete; the API has no such method) revokes
every token it holds, through the revocation feed, so the gateway refuses them within seconds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microblog_common.db import Database
from users.oauth import service as oauth
from users.settings import Settings
from users.tokens.keys import rotate_signing_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m users.manage")
    commands = parser.add_subparsers(dest="command", required=True)
    rotate = commands.add_parser("rotate-signing-key", help="start signing tokens with a new key")
    rotate.add_argument(
        "--pem-file", type=Path, help="an Ed25519 PKCS#8 PEM to use instead of a generated key"
    )
    # Client ids are URL-safe base64 and may start with "-": this command takes no options, so
    # nothing it is given may be read as one.
    delete_app = commands.add_parser(
        "delete-app", help="delete an OAuth app and revoke all its tokens", prefix_chars="+", add_help=False
    )
    delete_app.add_argument("client_id")
    args = parser.parse_args(argv)

    settings = Settings()
    db = Database(settings.database_url)
    try:
        if args.command == "rotate-signing-key":
            pem = args.pem_file.read_text() if args.pem_file else None
            with db.unit_of_work() as session:
                kid = rotate_signing_key(session, pem)
            print(f"signing with key {kid}")
        elif args.command == "delete-app":
            with db.unit_of_work() as session:
                app = oauth.application_for_client_id(session, args.client_id)
                if app is None:
                    print(f"no app has the client_id {args.client_id}", file=sys.stderr)
                    return 1
                name = app.name
                revoked = oauth.delete_application(session, app)
            print(f"deleted app {name!r}; {revoked} tokens revoked")
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
