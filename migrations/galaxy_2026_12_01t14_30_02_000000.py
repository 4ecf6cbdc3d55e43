"""Store existing emails in the form lookups now use (NFKC, case-folded), so accounts made before
that rule can still sign in and be invited. An email whose new form another account already
holds is left as it was (and reported), rather than merging two accounts."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-12-01T14:30:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "normalise stored emails (NFKC, case-folded)"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="galaxy", description=DESCRIPTION)
    manager.add_raw(_normalise)
    return manager


async def _normalise() -> None:
    from server.text import normalize_email

    engine = engine_finder()
    rows = await engine.run_querystring(QueryString("SELECT id, email FROM users"))
    taken = {row["email"] for row in rows}
    for row in rows:
        normal = normalize_email(row["email"])
        if normal == row["email"]:
            continue
        if normal in taken:
            print(f"  email {row['email']!r} left as it is: another account uses {normal!r}")
            continue
        await engine.run_querystring(QueryString("UPDATE users SET email = {} WHERE id = {}", normal, row["id"]))
        taken.add(normal)
