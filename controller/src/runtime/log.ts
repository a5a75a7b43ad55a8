import winston from "winston";

export const LOG_LEVELS = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Record<string, unknown>;

/**
 * Structured logging: a fixed message ("reconcile failed") and key-value fields
 * ({controller, namespace, name, reconcileID, error}), never values baked into the message.
 */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Fields on every line, such as {component: "controller"}. */
  fields?: LogFields;
  /** Where lines go; stderr by default. Tests pass a stream to read them back. */
  stream?: NodeJS.WritableStream;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export function isLogFormat(value: string): value is LogFormat {
  return (LOG_FORMATS as readonly string[]).includes(value);
}

/**
 * winston runs a line's format (timestamp, JSON) before its transport drops a level that is
 * off, so each method asks first: a debug line per reconcile pass and per request costs
 * nothing at the default level.
 */
class WinstonLogger implements Logger {
  constructor(private readonly inner: winston.Logger) {}
  error(message: string, fields?: LogFields): void {
    this.write("error", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.write("warn", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.write("info", message, fields);
  }
  debug(message: string, fields?: LogFields): void {
    this.write("debug", message, fields);
  }
  child(fields: LogFields): Logger {
    return new WinstonLogger(this.inner.child(fields));
  }
  private write(level: LogLevel, message: string, fields: LogFields | undefined): void {
    if (this.inner.isLevelEnabled(level)) this.inner.log(level, message, fields ?? {});
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  if (!isLogLevel(level))
    throw new Error(`invalid log level "${String(level)}"; use one of ${LOG_LEVELS.join(", ")}`);
  const format = options.format ?? "json";
  if (!isLogFormat(format)) {
    throw new Error(`invalid log format "${String(format)}"; use one of ${LOG_FORMATS.join(", ")}`);
  }
  const lineFormat =
    format === "json"
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level: lineLevel, message, ...fields }) => {
            const pairs = Object.entries(fields)
              .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
              .join(" ");
            return `${String(timestamp)} ${lineLevel.toUpperCase()} ${String(message)}${pairs ? ` ${pairs}` : ""}`;
          }),
        );
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] });
  const inner = winston.createLogger({
    level,
    format: lineFormat,
    defaultMeta: options.fields ?? {},
    transports: [transport],
  });
  return new WinstonLogger(inner);
}

/** A logger that drops everything, for unit tests that don't read logs. */
export const nullLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  child: () => nullLogger,
};

/** A logger that keeps lines in memory, for tests that assert on what was logged. */
export class MemoryLogger implements Logger {
  readonly lines: Array<{ level: LogLevel; message: string; fields: LogFields }>;

  constructor(
    private readonly base: LogFields = {},
    lines?: Array<{ level: LogLevel; message: string; fields: LogFields }>,
  ) {
    this.lines = lines ?? [];
  }
  private push(level: LogLevel, message: string, fields?: LogFields): void {
    this.lines.push({ level, message, fields: { ...this.base, ...(fields ?? {}) } });
  }
  error(message: string, fields?: LogFields): void {
    this.push("error", message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.push("warn", message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.push("info", message, fields);
  }
  debug(message: string, fields?: LogFields): void {
    this.push("debug", message, fields);
  }
  child(fields: LogFields): Logger {
    return new MemoryLogger({ ...this.base, ...fields }, this.lines);
  }
}

/** Log fields for an error: its message, and the API status code when there is one. */
export function errorFields(err: unknown): LogFields {
  if (err instanceof Error) {
    const code = (err as { statusCode?: unknown }).statusCode;
    return typeof code === "number" ? { error: err.message, statusCode: code } : { error: err.message };
  }
  return { error: String(err) };
}
