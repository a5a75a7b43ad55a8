/**
 * Where published container ports are bound. A published port is open to whoever can
 * reach the address it is bound to, so the agent binds to its own address, never to every
 * interface unless an operator says so with --bind-address 0.0.0.0 (or ::).
 *
 * --bind-address given: that IP. Otherwise the Node address when it is an IP; when it is a
 * host name, the IP it resolves to (IPv4 first, as clients most often use it); when it does
 * not resolve, loopback: nothing outside the machine reaches the ports until an operator
 * sets --bind-address.
 */
import { lookup } from "node:dns/promises";
import net from "node:net";
import type { Logger } from "../runtime/log.js";
import { errorFields } from "../runtime/log.js";

/** Resolves a host name to its IP addresses. */
export type HostLookup = (host: string) => Promise<string[]>;

export const LOOPBACK_BIND_ADDRESS = "127.0.0.1";

const systemLookup: HostLookup = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/** Whether an address binds every interface. */
export function bindsEveryInterface(bindAddress: string): boolean {
  return bindAddress === "0.0.0.0" || bindAddress === "::";
}

/** The IP published ports are bound to, as the module comment says. */
export async function resolveBindAddress(
  options: { address: string; bindAddress: string },
  logger: Logger,
  resolve: HostLookup = systemLookup,
): Promise<string> {
  if (options.bindAddress) return options.bindAddress;
  if (net.isIP(options.address)) return options.address;
  try {
    const addresses = await resolve(options.address);
    const chosen = addresses.find((ip) => net.isIPv4(ip)) ?? addresses[0];
    if (chosen) return chosen;
  } catch (err) {
    logger.warn("the node address does not resolve; published ports are bound to loopback", {
      address: options.address,
      ...errorFields(err),
    });
    return LOOPBACK_BIND_ADDRESS;
  }
  logger.warn("the node address resolves to nothing; published ports are bound to loopback", {
    address: options.address,
  });
  return LOOPBACK_BIND_ADDRESS;
}
