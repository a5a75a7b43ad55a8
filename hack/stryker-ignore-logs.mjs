// A Stryker ignorer: no mutants in log statements. What a log line says is for people, not
// behaviour the tests assert, so its mutants would only ever survive.
import { PluginKind, declareValuePlugin } from "@stryker-mutator/api/plugin";

const LEVELS = new Set(["debug", "info", "warn", "error"]);
const LOGGERS = new Set(["log", "logger"]);

/** `log.info(...)`, `this.log.warn(...)`, `ctx.log.debug(...)`, `logger.error(...)`. */
function isLogCall(node) {
  if (node?.type !== "CallExpression" || node.callee.type !== "MemberExpression") return false;
  const { object, property } = node.callee;
  if (property.type !== "Identifier" || !LEVELS.has(property.name)) return false;
  if (object.type === "Identifier") return LOGGERS.has(object.name);
  return (
    object.type === "MemberExpression" &&
    object.property.type === "Identifier" &&
    LOGGERS.has(object.property.name)
  );
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, "LogStatements", {
    shouldIgnore(path) {
      if (path.isExpressionStatement() && isLogCall(path.node.expression)) return "a log statement";
      return undefined;
    },
  }),
];
