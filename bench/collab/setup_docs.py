"""Create a bench user, an API token and N blank workflows on a running Galaxy; print the token and
write the workflow ids (one per line) for collab_bench.py --doc-ids."""

from __future__ import annotations

import argparse
import secrets

import httpx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--docs", type=int, required=True)
    parser.add_argument("--ids-out", required=True)
    parser.add_argument("--nodes", type=int, default=0, help="text nodes per workflow (memory probe)")
    args = parser.parse_args()
    with httpx.Client(base_url=args.base, timeout=30) as http:
        email = f"bench-{secrets.token_hex(4)}@example.com"
        me = http.post("/api/auth/signup", json={"email": email, "password": "benchmark password", "name": "Bench"})
        me.raise_for_status()
        http.headers["x-csrf-token"] = me.json()["csrf_token"]
        token = http.post("/api/tokens", json={"name": "bench"}).json()["token"]
        ids = []
        for i in range(args.docs):
            if args.nodes:
                nodes = [
                    {
                        "id": f"n{j}",
                        "type": "text",
                        "position": {"x": j * 10, "y": j},
                        "data": {"text": f"node {j} " * 8},
                    }
                    for j in range(args.nodes)
                ]
                body = {"format": "galaxy.workflow", "version": 1, "name": f"bench {i}", "nodes": nodes, "edges": []}
                response = http.post("/api/workflows/import", json=body)
            else:
                response = http.post("/api/workflows", json={"name": f"bench {i}"})
            response.raise_for_status()
            ids.append(response.json()["id"])
    with open(args.ids_out, "w") as out:
        out.write("\n".join(ids) + "\n")
    print(token)


if __name__ == "__main__":
    main()
