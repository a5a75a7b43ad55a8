/**
 * The repository URLs Berth clones from: https, ssh (also written user@host:path) and file,
 * nothing else. Checked before git ever runs; git enforces the same list again through
 * GIT_ALLOW_PROTOCOL. Credentials have no place in a URL: Berth shows URLs in statuses,
 * Events, logs and image labels, so a URL holding a user, password or token is refused, and
 * every URL shown is redacted anyway (for Instances made before the refusal, and for git's
 * own messages).
 */
import { SourceError } from "./errors.js";

export type RepositoryScheme = "https" | "ssh" | "file";

export interface CheckedRepositoryUrl {
  url: string;
  scheme: RepositoryScheme;
  /** The URL with any credentials replaced, safe for messages and logs. */
  display: string;
  /** For a file:// URL: the local path it names. */
  path?: string;
}

const SCP_LIKE = /^([A-Za-z0-9_.-]+)@([A-Za-z0-9.-]+):(.+)$/;
/**
 * scheme://userinfo@ at the start of a URL. The authority ends at the first / ? or #, and
 * the greedy userinfo reaches its last @, as URL parsers read it: a password holding an @
 * is redacted whole.
 */
const USERINFO = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#\s]*)@/;
const USERINFO_IN_TEXT = /([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#\s'"`]*)@/g;
const ALLOWED_FORMS = "Use an https://, ssh:// (or user@host:path) or file:// URL.";
const CREDENTIALS_REFUSED =
  "it holds a user, password or token, and Berth shows repository URLs in statuses, Events, logs and image labels";
const CREDENTIALS_ADVICE =
  "Remove the credentials: use an ssh:// URL with a key the agents hold, or git credentials configured for the host on the machines Berth runs on.";

/** Checks a repository URL against the allow-list; throws RepositoryURLRefused otherwise. */
export function checkRepositoryUrl(url: string): CheckedRepositoryUrl {
  const refuse = (why: string, advice = ALLOWED_FORMS): never => {
    throw new SourceError(
      "RepositoryURLRefused",
      `repository URL ${redactUrl(url)} is refused: ${why}. ${advice}`,
    );
  };
  // Whitespace and control characters have no place in a URL and could smuggle options.
  if (url.length === 0 || /\s/.test(url) || hasControlCharacter(url)) {
    refuse("it is empty or holds whitespace or control characters");
  }
  if (url.startsWith("-")) refuse("it starts with a dash");

  const scp = SCP_LIKE.exec(url);
  if (scp && !url.includes("://")) {
    const [, user = "", host = "", path = ""] = scp;
    if (user.startsWith("-") || host.startsWith("-") || path.startsWith("-"))
      refuse("a part of it starts with a dash");
    return { url, scheme: "ssh", display: url };
  }

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return refuse("it is not a URL");
  }
  const scheme = parsed.protocol.replace(/:$/, "");
  if (scheme === "https" || scheme === "ssh") {
    // URL parsers read a backslash as a slash, curl and ssh do not: they must not disagree on the host.
    if (url.includes("\\")) refuse("it holds a backslash");
    if (!parsed.hostname) refuse("it has no host");
    if (parsed.hostname.startsWith("-") || decodeURIComponent(parsed.username).startsWith("-")) {
      refuse("its host or user starts with a dash");
    }
    // ssh logs in as the user (git@...) with a key: a user name is no secret there, a password is.
    const userinfo = USERINFO.exec(url)?.[2];
    if (userinfo !== undefined && (scheme === "https" || userinfo.includes(":")))
      refuse(CREDENTIALS_REFUSED, CREDENTIALS_ADVICE);
    return { url, scheme, display: redactUrl(url) };
  }
  if (scheme === "file") {
    if (parsed.hostname && parsed.hostname !== "localhost")
      refuse("a file:// URL names a local path, not a host");
    const path = url.replace(/^file:\/\/(localhost)?/i, "");
    // git reads the path as written; it must mean the same to git, to the kernel and to the
    // allow-list check (file-repositories.ts), so only a plain absolute path is taken.
    if (!path.startsWith("/") || /[%?#\\]|\/\/|(^|\/)\.\.?(\/|$)/.test(path)) {
      refuse(
        "a file:// URL must be a plain absolute path (no %-escapes, '.' or '..' parts, query or fragment)",
      );
    }
    if (path === "/") refuse("it has no path");
    return { url, scheme, display: url, path };
  }
  return refuse(`the scheme "${scheme}" is not allowed`);
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** ssh:// keeps a bare user name (the login, git@...); every other user part becomes ***. */
function redactUserinfo(scheme: string, userinfo: string): string {
  return scheme.toLowerCase() === "ssh://" && !userinfo.includes(":") ? userinfo : "***";
}

/** The URL with any user, password or token before its host replaced by ***. */
export function redactUrl(url: string): string {
  return url.replace(
    USERINFO,
    (_all, scheme: string, userinfo: string) => `${scheme}${redactUserinfo(scheme, userinfo)}@`,
  );
}

/** Every URL in a text, with credentials redacted. */
export function redactUrlsIn(text: string): string {
  return text.replace(
    USERINFO_IN_TEXT,
    (_all, scheme: string, userinfo: string) => `${scheme}${redactUserinfo(scheme, userinfo)}@`,
  );
}
