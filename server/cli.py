"""`galaxy` command: dev, web, worker, migrate, createuser."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from server.settings import PROJECT_ROOT, Settings, SettingsError, load_settings


def _settings_or_exit(environ: dict[str, str] | None = None) -> Settings:
    try:
        return load_settings(environ)
    except SettingsError as err:
        print(f"galaxy: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_migrate(_: argparse.Namespace) -> None:
    from server.migrations import apply_migrations

    settings = _settings_or_exit()
    asyncio.run(apply_migrations(settings.database_url))


def cmd_web(_: argparse.Namespace) -> None:
    import uvicorn

    from server.websocket_protocol import uvicorn_options

    settings = _settings_or_exit()
    uvicorn.run(
        "server.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        timeout_graceful_shutdown=10,
        **uvicorn_options(settings),
    )


def cmd_worker(_: argparse.Namespace) -> None:
    from server import worker

    worker.run(_settings_or_exit())


def cmd_reencrypt_secrets(_: argparse.Namespace) -> None:
    import asyncpg

    from server.hooks.secret import SecretBox

    settings = _settings_or_exit()
    box = SecretBox.of(settings)

    async def reencrypt() -> int:
        connection = await asyncpg.connect(settings.database_url)
        try:
            async with connection.transaction():
                rows = await connection.fetch(
                    "SELECT id, secret_encrypted, previous_secret_encrypted FROM webhooks "
                    "WHERE secret_encrypted <> '' OR previous_secret_encrypted <> '' FOR UPDATE"
                )
                for row in rows:
                    await connection.execute(
                        "UPDATE webhooks SET secret_encrypted = $2, previous_secret_encrypted = $3 WHERE id = $1",
                        row["id"],
                        *(box.reencrypt(sealed) if sealed else "" for sealed in row[1:]),
                    )
            return len(rows)
        finally:
            await connection.close()

    try:
        count = asyncio.run(reencrypt())
    except ValueError as err:
        raise SystemExit(f"galaxy: {err}; set SECRET_KEY_PREVIOUS to the key it was encrypted with") from None
    print(f"re-encrypted the secrets of {count} webhooks with the current SECRET_KEY")


def cmd_createuser(args: argparse.Namespace) -> None:
    from piccolo.engine.postgres import PostgresEngine

    from server.accounts import service
    from server.tables import bind_engine

    settings = _settings_or_exit()
    email = args.email or input("Email: ")
    name = args.name or input("Name: ")
    password = os.environ.get("GALAXY_PASSWORD") or getpass.getpass("Password: ")

    async def create() -> dict[str, Any]:
        engine = PostgresEngine(config={"dsn": settings.database_url})
        bind_engine(engine)
        return await service.create_user(email, password, name)

    user = asyncio.run(create())
    print(f"created user {user['email']} ({user['id']})")


def _secret_key(data_dir: Path) -> str:
    """A SECRET_KEY kept in the data folder, so sessions and secrets survive restarts."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _procfile() -> dict[str, str]:
    entries = {}
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            entries[name.strip()] = command.strip()
    return entries


def _wait_healthy(url: str, processes: dict[str, subprocess.Popen[bytes]], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes.values()):
            return False
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def cmd_dev(args: argparse.Namespace) -> None:
    """Start Galaxy (web + worker from the Procfile) on embedded services when none are configured."""
    from server.embedded import embedded_services
    from server.migrations import apply_migrations

    data_dir = Path(os.environ.get("GALAXY_DATA_DIR", PROJECT_ROOT / ".galaxy")).resolve()
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", _secret_key(data_dir))
    env.setdefault("MEDIA_DIR", str(data_dir / "media"))
    env.setdefault("LOG_JSON", "false")
    env["PORT"] = str(args.port or env.get("PORT") or 8000)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    need_pg, need_redis = not env.get("DATABASE_URL"), not env.get("REDIS_URL")
    with embedded_services(data_dir, need_postgres=need_pg, need_redis=need_redis) as urls:
        env.update(urls)
        for variable in urls:
            print(f"galaxy: {variable} not set; using the embedded server in {data_dir}")
        settings = _settings_or_exit(env)
        asyncio.run(apply_migrations(settings.database_url))
        processes = {
            name: subprocess.Popen(shlex.split(command), env=env, start_new_session=True)
            for name, command in _procfile().items()
        }
        url = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            if _wait_healthy(url, processes):
                print(
                    f"\n  Galaxy is running: open {url}\n  (Ctrl-C stops web, worker and embedded services)\n",
                    flush=True,
                )
            while not stopping and all(p.poll() is None for p in processes.values()):
                time.sleep(0.2)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for name, process in processes.items():
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    print(f"galaxy: {name} did not stop in 15 s; killing it", file=sys.stderr)
                    process.kill()
    failed = [n for n, p in processes.items() if p.returncode not in (0, -signal.SIGTERM, None)]
    if failed and not stopping:
        raise SystemExit(f"galaxy: {', '.join(failed)} exited unexpectedly")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="galaxy", description="Galaxy: collaborative AI workflow editor")
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="start web + worker (embedded Postgres/Redis when not configured)")
    dev.add_argument("--port", type=int, default=None)
    dev.set_defaults(func=cmd_dev)
    commands.add_parser("web", help="serve the editor, API and WebSockets").set_defaults(func=cmd_web)
    commands.add_parser("worker", help="run workflow jobs (arq)").set_defaults(func=cmd_worker)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    create = commands.add_parser("createuser", help="create an account")
    create.add_argument("--email")
    create.add_argument("--name")
    create.set_defaults(func=cmd_createuser)
    commands.add_parser(
        "reencrypt-secrets", help="re-encrypt stored webhook secrets with SECRET_KEY (after rotating it)"
    ).set_defaults(func=cmd_reencrypt_secrets)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
