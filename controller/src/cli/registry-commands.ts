/**
 * `berth lookup` and `berth register`: the registry API for people and scripts, through the
 * same client library services use.
 *
 *   berth lookup SLUG [-n NS] [--watch] [-o json|text]
 *   berth register SLUG --url URL [--ttl 30s] [-n NS]    heartbeats until Ctrl-C, then deregisters
 */
import { readFile } from "node:fs/promises";
import { RegistryClient, RegistryError, type ServiceInstances } from "../client/index.js";
import { defineFlags, FlagError, formatHelp, parseFlags, type FlagSpecs } from "../runtime/flags.js";

const connectionFlags = defineFlags({
  registryUrl: {
    name: "registry-url",
    env: "BERTH_REGISTRY_URL",
    type: "string",
    default: "http://127.0.0.1:9470",
    help: "The registry API's URL.",
    validate: (value) => (/^https?:\/\/[^/]+/.test(value) ? undefined : "must be an http:// or https:// URL"),
  },
  namespace: {
    name: "namespace",
    env: "BERTH_NAMESPACE",
    type: "string",
    default: "default",
    help: "The services' namespace (-n).",
    validate: (value) =>
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) ? undefined : "must be a namespace name",
  },
  token: {
    name: "token",
    env: "BERTH_REGISTRY_TOKEN",
    type: "string",
    default: "",
    help: "Bearer token for the registry (such as `kubectl create token NAME`). Empty: --token-file, else none.",
  },
  tokenFile: {
    name: "token-file",
    env: "BERTH_REGISTRY_TOKEN_FILE",
    type: "string",
    default: "",
    help: "File holding the bearer token, read for every request (a projected ServiceAccount token rotates).",
  },
});

export const COMMANDS = {
  lookup: {
    summary: "Print a service's ready instances from the registry API (--watch: every change).",
    usage: "berth lookup SLUG [-n NAMESPACE] [--watch] [-o json|text]",
    flags: {
      ...connectionFlags,
      ...defineFlags({
        watch: {
          name: "watch",
          env: "",
          type: "bool",
          default: false,
          help: "Keep printing the list after every change (blocking queries) until Ctrl-C.",
        },
        output: {
          name: "output",
          env: "",
          type: "string",
          default: "text",
          choices: ["text", "json"],
          help: "text (a table) or json (the API's answer, one object a line) (-o).",
        },
        all: {
          name: "all",
          env: "",
          type: "bool",
          default: false,
          help: "List not-ready instances too, with the reason.",
        },
      }),
    } as FlagSpecs,
  },
  register: {
    summary: "Register this machine's service in the registry and heartbeat until Ctrl-C, then deregister.",
    usage: "berth register SLUG --url URL [--ttl 30s] [-n NAMESPACE]",
    flags: {
      ...connectionFlags,
      ...defineFlags({
        url: {
          name: "url",
          env: "",
          type: "string",
          default: "",
          help: "The instance's address, http:// or https://.",
        },
        ttl: {
          name: "ttl",
          env: "",
          type: "duration",
          default: 30_000,
          help: "How long the instance stays ready without a heartbeat (whole seconds).",
          validate: (ms) =>
            ms >= 1000 && ms % 1000 === 0 ? undefined : "must be whole seconds, at least 1s",
        },
      }),
    } as FlagSpecs,
  },
} as const;

export type CommandName = keyof typeof COMMANDS;

/** -n and -o as kubectl users type them. */
function expandShortFlags(argv: readonly string[]): string[] {
  const short: Record<string, string> = { "-n": "--namespace", "-o": "--output", "-w": "--watch" };
  return argv.map((arg) => short[arg] ?? arg);
}

export async function runCommand(name: CommandName, argv: readonly string[]): Promise<number> {
  const command = COMMANDS[name];
  let parsed;
  try {
    parsed = parseFlags(command.flags, expandShortFlags(argv));
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`berth ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(formatHelp(command.flags, `${command.usage}\n\n${command.summary}`));
    return 0;
  }
  const [slug, ...extra] = parsed.positional;
  if (!slug || extra.length > 0) {
    process.stderr.write(`berth ${name}: expected one SLUG\nusage: ${command.usage}\n`);
    return 2;
  }
  const values = parsed.values as Record<string, unknown>;
  const tokenFile = values.tokenFile as string;
  const client = new RegistryClient({
    url: values.registryUrl as string,
    namespace: values.namespace as string,
    token:
      (values.token as string) || (tokenFile ? async () => (await readFile(tokenFile, "utf8")).trim() : ""),
  });
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    if (name === "lookup") return await lookup(client, slug, values, stop.signal);
    return await register(client, slug, values, stop.signal);
  } catch (err) {
    if (err instanceof RegistryError) {
      process.stderr.write(`berth ${name}: ${err.message} (HTTP ${err.status})\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function lookup(
  client: RegistryClient,
  slug: string,
  values: Record<string, unknown>,
  signal: AbortSignal,
): Promise<number> {
  const print = (answer: ServiceInstances): void => {
    if (values.output === "json") {
      const { found: _found, ...body } = answer;
      process.stdout.write(`${JSON.stringify(body)}\n`);
      return;
    }
    const rows = answer.instances.map((i) => [
      i.name,
      i.url ?? "<none>",
      i.ready ? "true" : "false",
      i.external ? "external" : (i.node ?? "<none>"),
      i.reason ?? "",
    ]);
    const table = [["NAME", "URL", "READY", "NODE", "REASON"], ...rows];
    const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
    process.stdout.write(`# ${answer.namespace}/${answer.slug} index ${answer.index}\n`);
    for (const row of table)
      process.stdout.write(
        `${row
          .map((cell, c) => cell.padEnd(widths[c]!))
          .join("  ")
          .trimEnd()}\n`,
      );
  };
  const options = { includeAll: values.all as boolean, signal };
  if (!values.watch) {
    const answer = await client.lookup(slug, options);
    if (!answer.found) {
      process.stderr.write(`berth lookup: service "${slug}" not found in namespace "${answer.namespace}"\n`);
      return 1;
    }
    print(answer);
    return 0;
  }
  for await (const answer of client.watch(slug, options)) print(answer);
  return 0;
}

async function register(
  client: RegistryClient,
  slug: string,
  values: Record<string, unknown>,
  signal: AbortSignal,
): Promise<number> {
  if (!values.url) throw new FlagError("--url is required");
  const handle = await client.register(slug, {
    url: values.url as string,
    ttlSeconds: (values.ttl as number) / 1000,
  });
  process.stdout.write(
    `registered ${handle.name} (${values.url as string}, TTL ${handle.ttlSeconds} s); heartbeating, Ctrl-C deregisters\n`,
  );
  // The heartbeat timer does not hold the process open (a library must not); this does, until Ctrl-C.
  const holdOpen = setInterval(() => undefined, 60_000);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
  clearInterval(holdOpen);
  await handle.close();
  process.stdout.write(`deregistered ${handle.name}\n`);
  return 0;
}
