import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { agentOptionsFromFlags } from "../agent/options.js";
import { formatHelp, parseFlags } from "../runtime/flags.js";
import { parseHostPort } from "../runtime/flags.js";
import { mergeFlags } from "./flags.js";
import { COMMANDS } from "./registry-commands.js";
import { ROLES } from "./roles.js";

test("parseHostPort accepts host:port, :port and [v6]:port and refuses the rest", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:9464"), { host: "127.0.0.1", port: 9464 });
  assert.deepEqual(parseHostPort(":0"), { host: "0.0.0.0", port: 0 });
  assert.deepEqual(parseHostPort("[::1]:80"), { host: "::1", port: 80 });
  assert.equal(parseHostPort("127.0.0.1"), undefined);
  assert.equal(parseHostPort("127.0.0.1:70000"), undefined);
  assert.equal(parseHostPort("host:port"), undefined);
});

test("mergeFlags refuses two different flags under one key or one name under two keys", () => {
  const a = { x: { name: "x", type: "string", default: "", help: "" } } as const;
  const b = { x: { name: "y", type: "string", default: "", help: "" } } as const;
  const c = { z: { name: "x", type: "string", default: "", help: "" } } as const;
  assert.throws(() => mergeFlags(a, b), /flag key x is both --x and --y/);
  assert.throws(() => mergeFlags(a, c), /--x is declared under two keys/);
  assert.deepEqual(Object.keys(mergeFlags(a, a)), ["x"]);
});

test("every role's --help lists every flag with its environment variable and default", () => {
  for (const [role, { flags }] of Object.entries(ROLES)) {
    const help = formatHelp(flags, `berth ${role}`);
    for (const spec of Object.values(flags)) {
      assert.match(help, new RegExp(`--${spec.name} <`), `${role}: --${spec.name} missing from --help`);
      if (spec.env) assert.ok(help.includes(`env ${spec.env}, default`), `${role}: ${spec.env} missing`);
    }
  }
});

test("the configuration reference documents every flag and its environment variable", () => {
  const doc = readFileSync(new URL("../../../docs/configuration.md", import.meta.url), "utf8");
  for (const [role, { flags }] of Object.entries(ROLES)) {
    for (const spec of Object.values(flags)) {
      assert.ok(doc.includes(`\`--${spec.name}\``), `docs/configuration.md lacks --${spec.name} (${role})`);
      if (spec.env)
        assert.ok(doc.includes(`\`${spec.env}\``), `docs/configuration.md lacks ${spec.env} (${role})`);
    }
  }
});

test("--watch-namespace scopes every role, from the flag or BERTH_WATCH_NAMESPACE", () => {
  for (const [role, { flags }] of Object.entries(ROLES)) {
    assert.equal(parseFlags(flags, [], {}).values.watchNamespace, "", `${role}: every namespace by default`);
    assert.equal(parseFlags(flags, ["--watch-namespace", "team-a"], {}).values.watchNamespace, "team-a");
    assert.equal(parseFlags(flags, [], { BERTH_WATCH_NAMESPACE: "team-b" }).values.watchNamespace, "team-b");
    assert.throws(
      () => parseFlags(flags, ["--watch-namespace=Team_A"], {}),
      /must be empty .* or a namespace/,
    );
  }
  const values = parseFlags(ROLES.agent.flags, ["--watch-namespace=team-a", "--node-name=n1"], {}).values;
  assert.equal(agentOptionsFromFlags(values as never, {}).watchNamespace, "team-a");
});

test("--context is read from the flag or BERTH_KUBE_CONTEXT", () => {
  for (const { flags } of Object.values(ROLES)) {
    assert.equal(parseFlags(flags, [], {}).values.context, "");
    assert.equal(parseFlags(flags, ["--context", "staging"], {}).values.context, "staging");
    assert.equal(parseFlags(flags, [], { BERTH_KUBE_CONTEXT: "prod" }).values.context, "prod");
  }
});

test("berth lookup and berth register: every flag in --help and in the configuration reference", () => {
  const doc = readFileSync(new URL("../../../docs/configuration.md", import.meta.url), "utf8");
  for (const [name, command] of Object.entries(COMMANDS)) {
    const help = formatHelp(command.flags, command.usage);
    assert.ok(doc.includes(`berth ${name}`), `docs/configuration.md lacks berth ${name}`);
    for (const spec of Object.values(command.flags)) {
      assert.match(help, new RegExp(`--${spec.name} <`));
      assert.ok(doc.includes(`\`--${spec.name}\``), `docs/configuration.md lacks --${spec.name} (${name})`);
      if (spec.env)
        assert.ok(doc.includes(`\`${spec.env}\``), `docs/configuration.md lacks ${spec.env} (${name})`);
    }
  }
});
