// The nnc extension: starts `nnc lsp` (or the command in the nnc.server.command setting) for .nn files.
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function settings() {
  const c = vscode.workspace.getConfiguration("nnc");
  return { nnc: { inlayHints: { stages: c.get("inlayHints.stages"), bindings: c.get("inlayHints.bindings") } } };
}

async function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("nnc").get("server.command") || ["nnc", "lsp"];
  client = new LanguageClient(
    "nnc",
    "nnc language server",
    { run: { command, args }, debug: { command, args } },
    {
      documentSelector: [{ scheme: "file", language: "nnc" }, { scheme: "untitled", language: "nnc" }],
      initializationOptions: settings(),
      synchronize: { configurationSection: "nnc" },
    }
  );
  await client.start();
  context.subscriptions.push(client);
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
