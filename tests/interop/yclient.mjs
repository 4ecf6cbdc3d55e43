// A stock Yjs client (yjs + y-websocket from npm) for the interop tests.
// usage: node yclient.mjs <server ws url> <room> <token> <name>
// Prints one JSON line per change: {"synced": bool, "nodes": [...], "peers": [...names]}.
// Reads commands from stdin, one per line: "add <node id>", "quit".
import { createRequire } from "node:module";
import readline from "node:readline";

const require = createRequire(new URL("../../static/package.json", import.meta.url));
const Y = require("yjs");
const { WebsocketProvider } = require("y-websocket");
const WebSocket = require("ws");

const [serverUrl, room, token, name] = process.argv.slice(2);
const doc = new Y.Doc();
const provider = new WebsocketProvider(serverUrl, room, doc, { WebSocketPolyfill: WebSocket, params: { token } });
const nodes = doc.getMap("nodes");

function report() {
  const peers = [];
  provider.awareness.getStates().forEach((state, clientId) => {
    if (clientId !== doc.clientID && state.user) peers.push(state.user.name);
  });
  process.stdout.write(
    JSON.stringify({ synced: provider.synced, nodes: [...nodes.keys()].sort(), peers: peers.sort() }) + "\n",
  );
}

provider.awareness.setLocalStateField("cursor", { x: 1, y: 2 });
provider.awareness.setLocalStateField("user", { name: "spoofed", color: "#123456" });
provider.on("sync", report);
provider.on("connection-close", (event) => {
  if (event) process.stdout.write(JSON.stringify({ closed: event.code }) + "\n");
});
nodes.observe(report);
provider.awareness.on("change", report);

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, argument] = line.trim().split(" ");
  if (command === "add") {
    const node = new Y.Map();
    node.set("type", "text");
    node.set("position", { x: 0, y: 0 });
    const data = new Y.Map();
    data.set("text", new Y.Text(`from ${name}`));
    node.set("data", data);
    nodes.set(argument, node);
  } else if (command === "quit") {
    provider.destroy();
    setTimeout(() => process.exit(0), 100);
  }
});
